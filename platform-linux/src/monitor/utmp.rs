//! Logged-in users from the utmp file (`/var/run/utmp`).
//!
//! The file is an array of glibc `struct utmp` records, 384 bytes each on x86-64 (and on
//! every 64-bit glibc target, which keeps the 32-bit `ut_tv` for compatibility). The
//! fields read here, at explicit offsets so nothing depends on this build's libc:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 2 | `ut_type` (i16, little-endian; 2 bytes padding follow) |
//! | 4 | 4 | `ut_pid` |
//! | 8 | 32 | `ut_line` (tty, NUL-padded, not necessarily NUL-terminated) |
//! | 40 | 4 | `ut_id` |
//! | 44 | 32 | `ut_user` (NUL-padded, not necessarily NUL-terminated) |
//! | 76 | 256 | `ut_host` |
//! | 332.. | | exit status, session, time, address, reserved |

use super::printable;

/// Size of one record.
pub const RECORD: usize = 384;
/// `ut_type` of a login session.
pub const USER_PROCESS: i16 = 7;
const OFF_TYPE: usize = 0;
const OFF_LINE: usize = 8;
const OFF_USER: usize = 44;
const NAME_LEN: usize = 32;

/// What a utmp file says about the users logged in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Logins {
    /// Distinct user names of `USER_PROCESS` records with the number of their sessions,
    /// sorted by name. Bytes outside printable ASCII are written `\xNN`.
    pub users: Vec<(String, u32)>,
    /// Complete records read.
    pub records: usize,
    /// Bytes after the last complete record (a torn write or not a utmp file), ignored.
    pub trailing: usize,
}

/// Parse a utmp file. Never fails: records that are not login sessions, or have an empty
/// user name, are skipped; a trailing partial record is counted in `trailing`.
pub fn parse_utmp(bytes: &[u8]) -> Logins {
    let mut users: Vec<(String, u32)> = Vec::new();
    let (records, trailing) = sessions(bytes, &mut |name| {
        let name = printable(name);
        match users.binary_search_by(|(n, _)| n.as_str().cmp(&name)) {
            Ok(i) => users[i].1 += 1,
            Err(i) => users.insert(i, (name, 1)),
        }
    });
    Logins {
        users,
        records,
        trailing,
    }
}

/// Calls `each` with the user name (raw, never empty) of every `USER_PROCESS` record, in
/// file order; returns the complete records read and the bytes after the last one.
pub fn sessions(bytes: &[u8], each: &mut dyn FnMut(&[u8])) -> (usize, usize) {
    let chunks = bytes.chunks_exact(RECORD);
    let trailing = chunks.remainder().len();
    let mut records = 0;
    for rec in chunks {
        records += 1;
        let ty = i16::from_le_bytes([rec[OFF_TYPE], rec[OFF_TYPE + 1]]);
        if ty != USER_PROCESS {
            continue;
        }
        let name = field(&rec[OFF_USER..OFF_USER + NAME_LEN]);
        if !name.is_empty() {
            each(name);
        }
    }
    (records, trailing)
}

/// The login sessions of a utmp file: the users half of the Linux
/// [`homeostat_core::feed::SystemSource`] ([`super::system::System`]).
#[derive(Debug, Clone)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))] // read only on Linux
pub struct Utmp {
    path: std::path::PathBuf,
}

impl Utmp {
    /// Sessions of the utmp file at `path` (`/var/run/utmp`).
    pub fn new(path: impl Into<std::path::PathBuf>) -> Utmp {
        Utmp { path: path.into() }
    }

    /// Calls `each` with the user name of every session. No file means no one is logged
    /// in (a note, not an error); a torn last record is a note.
    pub fn sessions(
        &self,
        each: &mut dyn FnMut(&[u8]),
        notes: &mut homeostat_core::feed::Notes<'_>,
    ) -> Result<(), super::Unreadable> {
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (each, notes);
            Err(super::Unreadable::not_linux())
        }
        #[cfg(target_os = "linux")]
        match crate::bounded::read(&self.path, crate::bounded::limits::UTMP) {
            Ok(bytes) => {
                let (_, trailing) = sessions(&bytes, each);
                if trailing != 0 {
                    notes(&format_args!(
                        "{}: {trailing} bytes after the last record ignored",
                        self.path.display()
                    ));
                }
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                notes(&format_args!(
                    "{}: no such file, so no one is logged in: users = 0",
                    self.path.display()
                ));
                Ok(())
            }
            Err(e) => Err(super::Unreadable(format!("{}: {e}", self.path.display()))),
        }
    }
}

/// The tty of a record (for diagnostics and tests).
pub fn line_of(record: &[u8]) -> Option<String> {
    record
        .get(OFF_LINE..OFF_LINE + NAME_LEN)
        .map(|f| printable(field(f)))
}

/// A fixed-size C char field: the bytes before the first NUL, or all of them.
fn field(f: &[u8]) -> &[u8] {
    match f.iter().position(|b| *b == 0) {
        Some(n) => &f[..n],
        None => f,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSIONS: &[u8] = include_bytes!("../../tests/fixtures/utmp-sessions.bin");
    const HOSTILE: &[u8] = include_bytes!("../../tests/fixtures/utmp-hostile.bin");

    #[test]
    fn sessions_fixture_made_by_utmpdump() {
        let l = parse_utmp(SESSIONS);
        assert_eq!(l.records, 8);
        assert_eq!(l.trailing, 0);
        // BOOT, INIT, LOGIN and DEAD records do not count; alice has two sessions.
        assert_eq!(
            l.users,
            vec![
                ("alice".to_string(), 2),
                ("bob".to_string(), 1),
                ("root".to_string(), 1)
            ]
        );
        assert_eq!(line_of(&SESSIONS[3 * RECORD..]).as_deref(), Some("pts/0"));
    }

    #[test]
    fn hostile_records() {
        let l = parse_utmp(HOSTILE);
        assert_eq!(l.records, 6);
        assert_eq!(l.trailing, 104);
        let names: Vec<&str> = l.users.iter().map(|(n, _)| n.as_str()).collect();
        // A 32-byte name with no NUL is taken whole; control and non-UTF-8 bytes are
        // escaped; empty names, negative and odd types are skipped.
        assert_eq!(
            names,
            vec![
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                "carol",
                "evil\\x1b[31m\\xff"
            ]
        );
    }

    #[test]
    fn empty_and_short_inputs() {
        assert_eq!(parse_utmp(&[]), Logins::default());
        let l = parse_utmp(&SESSIONS[..RECORD - 1]);
        assert_eq!((l.records, l.trailing, l.users.len()), (0, RECORD - 1, 0));
        assert_eq!(line_of(&[0u8; 10]), None);
    }
}
