//! Login sessions from FreeBSD's `utx.active` (`/var/run/utx.active`), the file
//! `getutxent(3)` reads: a sequence of `struct futx` records (`lib/libc/gen/utxdb.c`,
//! FreeBSD 9 onwards, unchanged in 13 and 14), packed, integers big-endian:
//!
//! | field | bytes |
//! |---|---|
//! | `fu_type` | 1 |
//! | `fu_tv` (µs since the epoch) | 8 |
//! | `fu_id` | 8 |
//! | `fu_pid` | 2 |
//! | `fu_user` | 32 |
//! | `fu_line` | 16 |
//! | `fu_host` | 128 |
//!
//! 195 bytes a record. A session is a `USER_PROCESS` (4) record with a user name.

/// The file `getutxent` reads for active sessions.
pub const ACTIVE: &str = "/var/run/utx.active";

/// The size of one `struct futx`.
pub const RECORD: usize = 195;

/// `fu_type` of a login session.
pub const USER_PROCESS: u8 = 4;

/// One session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session<'a> {
    /// The user name, raw bytes up to the first NUL (never empty).
    pub user: &'a [u8],
    /// The terminal (`pts/0`, `ttyv0`).
    pub line: &'a [u8],
    /// Where from (empty for a console login).
    pub host: &'a [u8],
    /// The session's process.
    pub pid: u16,
    /// Microseconds since the epoch.
    pub tv: u64,
}

fn cstr(b: &[u8]) -> &[u8] {
    &b[..b.iter().position(|c| *c == 0).unwrap_or(b.len())]
}

/// The sessions in `file`, and how many bytes at its end were not a whole record.
pub fn parse(file: &[u8]) -> (Vec<Session<'_>>, usize) {
    let mut all = Vec::new();
    let chunks = file.chunks_exact(RECORD);
    let tail = chunks.remainder().len();
    for r in chunks {
        if r[0] != USER_PROCESS {
            continue;
        }
        let user = cstr(&r[19..51]);
        if user.is_empty() {
            continue;
        }
        let mut tv = [0u8; 8];
        tv.copy_from_slice(&r[1..9]);
        all.push(Session {
            user,
            line: cstr(&r[51..67]),
            host: cstr(&r[67..195]),
            pid: u16::from_be_bytes([r[17], r[18]]),
            tv: u64::from_be_bytes(tv),
        });
    }
    (all, tail)
}

/// One record, as `pututxline` writes it (for tests and fixtures).
pub fn record(kind: u8, tv: u64, pid: u16, user: &[u8], line: &[u8], host: &[u8]) -> [u8; RECORD] {
    let mut r = [0u8; RECORD];
    r[0] = kind;
    r[1..9].copy_from_slice(&tv.to_be_bytes());
    r[17..19].copy_from_slice(&pid.to_be_bytes());
    let put = |r: &mut [u8], at: usize, len: usize, b: &[u8]| {
        let n = b.len().min(len);
        r[at..at + n].copy_from_slice(&b[..n]);
    };
    put(&mut r, 19, 32, user);
    put(&mut r, 51, 16, line);
    put(&mut r, 67, 128, host);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_of_freebsd_records() {
        let mut file = Vec::new();
        // BOOT_TIME, two logins (one over ssh), a DEAD_PROCESS, an empty user, a torn tail.
        file.extend(record(1, 1_700_000_000_000_000, 0, b"", b"", b""));
        file.extend(record(
            4,
            1_700_000_100_000_000,
            1203,
            b"alice",
            b"pts/0",
            b"192.0.2.7",
        ));
        file.extend(record(
            4,
            1_700_000_200_000_000,
            901,
            b"root",
            b"ttyv0",
            b"",
        ));
        file.extend(record(
            7,
            1_700_000_300_000_000,
            1500,
            b"bob",
            b"pts/1",
            b"",
        ));
        file.extend(record(4, 1_700_000_300_000_000, 1501, b"", b"pts/2", b""));
        let long = [b'u'; 40];
        file.extend(record(4, 0, 1, &long, b"pts/3", b"h\n\x1b[2J"));
        file.extend([4u8, 0, 0]);
        let (s, tail) = parse(&file);
        assert_eq!(tail, 3);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].user, b"alice");
        assert_eq!(s[0].line, b"pts/0");
        assert_eq!(s[0].host, b"192.0.2.7");
        assert_eq!(s[0].pid, 1203);
        assert_eq!(s[0].tv, 1_700_000_100_000_000);
        assert_eq!(s[1].user, b"root");
        // A full 32-byte name has no NUL; the host stays raw.
        assert_eq!(s[2].user.len(), 32);
        assert_eq!(s[2].host, b"h\n\x1b[2J");
    }

    #[test]
    fn empty_and_short() {
        assert_eq!(parse(b""), (vec![], 0));
        assert_eq!(parse(&[4u8; 194]).0.len(), 0);
    }
}
