//! Reading a whole file with a size limit, so that no input (a `/proc` file, the passwd
//! database, dpkg's data, a state file, a config pointed at `/dev/zero`) can make memory
//! grow without bound. Every whole-file read of the agent and this crate goes through here
//! with a limit stated next to the input it bounds (see `limits` for the Linux inputs).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// The limits of the Linux inputs read whole. Each is far above what a sane system holds
/// and far below what would hurt the host; past it the input is refused, never cut.
pub mod limits {
    /// `/etc/passwd`, `/etc/group`: a million accounts of ~64 bytes.
    pub const PASSWD: u64 = 64 << 20;
    /// A small `/proc` file (`loadavg`, `stat`, a process's `stat`/`status`/`cmdline`, a
    /// sysctl): the kernel writes a few KiB at most; `/proc/stat` grows with CPUs.
    pub const PROC_SMALL: u64 = 1 << 20;
    /// A `/proc/net` table or `mountinfo`: one line (~150 bytes) per socket, route or
    /// mount; 256 MiB holds a full Internet routing table's `fib_trie` several times.
    pub const PROC_TABLE: u64 = 256 << 20;
    /// `utmp`: 384-byte records; 64 MiB is ~170,000 sessions.
    pub const UTMP: u64 = 64 << 20;
    /// A dpkg info file (`.list`, `.md5sums`, `diversions`): one line per file of a
    /// package; the largest packages list ~100,000 files (~10 MiB).
    pub const DPKG_FILE: u64 = 256 << 20;
    /// dpkg's `status`, `dpkg.log` (a rotation, decompressed) and apt's `Packages` lists
    /// (decompressed): ~1 KiB per package or transaction; Debian's largest list is ~100 MiB.
    pub const DPKG_DATA: u64 = 1 << 30;
}

/// A reader that fails with [`too_big`] once more than `limit` bytes came: for inputs
/// read line by line, whose total (and so every line) is bounded by it.
pub struct Limited<'a, R> {
    inner: R,
    path: &'a Path,
    left: u64,
    limit: u64,
}

impl<'a, R: Read> Limited<'a, R> {
    pub fn new(inner: R, path: &'a Path, limit: u64) -> Self {
        Limited {
            inner,
            path,
            left: limit.saturating_add(1),
            limit,
        }
    }
}

impl<R: Read> Read for Limited<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(too_big(self.path, self.limit));
        }
        let want = (buf.len() as u64).min(self.left) as usize;
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        if self.left == 0 {
            return Err(too_big(self.path, self.limit));
        }
        Ok(n)
    }
}

/// The error of an input over its limit (`FileTooLarge`): names the file and the limit.
pub fn too_big(path: &Path, limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!(
            "{} is larger than its limit of {limit} bytes",
            path.display()
        ),
    )
}

/// Reads all of `r` into `buf` (cleared first), or fails with [`too_big`] naming `path`
/// once more than `limit` bytes come (one byte over is enough to know).
pub fn read_into(r: impl Read, path: &Path, limit: u64, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    let n = r.take(limit.saturating_add(1)).read_to_end(buf)?;
    if n as u64 > limit {
        buf.clear();
        return Err(too_big(path, limit));
    }
    Ok(())
}

/// The whole of the file at `path`, at most `limit` bytes (else [`too_big`]).
pub fn read(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    read_into(File::open(path)?, path, limit, &mut buf)?;
    Ok(buf)
}

/// [`read`] as text: invalid UTF-8 is an error naming the file.
pub fn read_to_string(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read(path, limit)?).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not UTF-8 text: {e}", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_at_the_limit_is_read_and_one_byte_over_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, vec![b'x'; 100]).unwrap();
        assert_eq!(read(&p, 100).unwrap().len(), 100);
        let e = read(&p, 99).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
        assert!(e.to_string().contains("limit of 99 bytes"), "{e}");
        assert!(e.to_string().contains(&p.display().to_string()), "{e}");
        std::fs::write(&p, b"\xff").unwrap();
        assert!(read_to_string(&p, 10).is_err());
    }

    #[test]
    fn a_limited_reader_gives_the_limit_and_refuses_one_byte_more() {
        use std::io::BufRead;
        let p = Path::new("in");
        let mut out = Vec::new();
        Limited::new(&b"abcd"[..], p, 4)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"abcd");
        let e = Limited::new(&b"abcde"[..], p, 4)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("in is larger than its limit of 4 bytes"),
            "{e}"
        );
        let zero = File::open("/dev/zero").unwrap();
        let mut lines =
            io::BufReader::new(Limited::new(zero, Path::new("/dev/zero"), 1 << 16)).split(b'\n');
        assert!(lines.next().unwrap().is_err());
    }

    #[test]
    fn an_endless_input_stops_one_byte_past_the_limit() {
        let p = Path::new("/dev/zero");
        let e = read(p, 1 << 20).unwrap_err();
        assert!(e.to_string().contains("/dev/zero"), "{e}");
    }
}
