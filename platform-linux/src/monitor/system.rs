//! Free disk space on `/` (statvfs) and the 1-minute load average (`/proc/loadavg`); with
//! the utmp sessions ([`super::utmp`]) they are the Linux [`SystemSource`], [`System`].

use crate::monitor::utmp::Utmp;
use crate::monitor::Unreadable;
use homeostat_core::feed::{DiskSpace, Notes, SystemSource};
use std::fmt;
use std::path::{Path, PathBuf};

/// CFEngine's `diskfree`: avail / (avail + used) × 100, truncated to an integer, with
/// avail = `f_bavail` and used = `f_blocks − f_bfree` (all in the same block unit, so the
/// unit cancels). `None` when the file system reports no blocks at all.
pub fn percent_free(bavail: u64, blocks: u64, bfree: u64) -> Option<u64> {
    let space = DiskSpace {
        blocks,
        free: bfree,
        available: bavail,
    };
    space.percent_free().map(u64::from)
}

/// Why `/proc/loadavg` could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadavgError(pub String);

impl fmt::Display for LoadavgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/proc/loadavg: {}", self.0)
    }
}

impl std::error::Error for LoadavgError {}

/// The first field of `/proc/loadavg` ("0.96 1.28 0.64 1/94 19340"): the 1-minute load.
pub fn parse_loadavg(bytes: &[u8]) -> Result<f64, LoadavgError> {
    let first = bytes
        .split(|b| b.is_ascii_whitespace())
        .find(|f| !f.is_empty())
        .ok_or_else(|| LoadavgError("empty".into()))?;
    // Only digits and one dot: refuses "inf", "nan", "-1", "1e9" that f64 would take.
    let plain = first.len() <= 16
        && first.iter().all(|b| b.is_ascii_digit() || *b == b'.')
        && first.iter().filter(|b| **b == b'.').count() <= 1
        && first.iter().any(u8::is_ascii_digit);
    let text = std::str::from_utf8(first).ok().filter(|_| plain);
    text.and_then(|t| t.parse::<f64>().ok()).ok_or_else(|| {
        LoadavgError(format!(
            "first field {:?} is not a load",
            super::printable(first)
        ))
    })
}

/// The Linux [`SystemSource`]: `/proc/loadavg`, `statvfs` of one file system, and the
/// sessions of the utmp file ([`Utmp`]).
#[derive(Debug, Clone)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))] // read only on Linux
pub struct System {
    loadavg: PathBuf,
    disk: PathBuf,
    utmp: Utmp,
}

impl System {
    /// The load from `proc_root` (`/proc`), the free space of the file system holding
    /// `disk` (`/`), the users of the utmp file `utmp` (`/var/run/utmp`).
    pub fn new(proc_root: &Path, disk: impl Into<PathBuf>, utmp: impl Into<PathBuf>) -> System {
        System {
            loadavg: proc_root.join("loadavg"),
            disk: disk.into(),
            utmp: Utmp::new(utmp),
        }
    }
}

impl SystemSource for System {
    type Error = Unreadable;

    fn load(&mut self) -> Result<f32, Unreadable> {
        if !cfg!(target_os = "linux") {
            return Err(Unreadable::not_linux());
        }
        let bytes = crate::bounded::read(&self.loadavg, crate::bounded::limits::PROC_SMALL)
            .map_err(|e| Unreadable(format!("{}: {e}", self.loadavg.display())))?;
        // The load as the kernel prints it, rounded once, to the core's f32.
        parse_loadavg(&bytes)
            .map(|v| v as f32)
            .map_err(|e| Unreadable(e.to_string()))
    }

    fn disk(&mut self) -> Result<DiskSpace, Unreadable> {
        #[cfg(not(target_os = "linux"))]
        {
            Err(Unreadable::not_linux())
        }
        #[cfg(target_os = "linux")]
        {
            let (available, blocks, free) = live::statvfs(&self.disk)
                .map_err(|e| Unreadable(format!("statvfs {}: {e}", self.disk.display())))?;
            Ok(DiskSpace {
                blocks,
                free,
                available,
            })
        }
    }

    fn users(
        &mut self,
        each: &mut dyn FnMut(&[u8]),
        notes: &mut Notes<'_>,
    ) -> Result<(), Unreadable> {
        self.utmp.sessions(each, notes)
    }
}

/// The live statvfs shim.
#[cfg(target_os = "linux")]
pub(crate) mod live {
    use std::ffi::CString;
    use std::io;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    /// `(f_bavail, f_blocks, f_bfree)` of the file system holding `path`.
    #[allow(unsafe_code)]
    pub fn statvfs(path: &Path) -> io::Result<(u64, u64, u64)> {
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: `statvfs` is plain data (integers), for which all zeros is a value.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is NUL-terminated and outlives the call; `st` is a plain-data out
        // parameter that the kernel fills completely when the call returns 0, and is
        // read only in that case.
        let r = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        #[allow(clippy::useless_conversion)] // fsblkcnt_t is u64 on most, not all, targets
        Ok((st.f_bavail.into(), st.f_blocks.into(), st.f_bfree.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diskfree_as_cfengine() {
        // 50 available, 100 used (reserved blocks are neither): 33.3 % → 33.
        assert_eq!(percent_free(50, 160, 60), Some(33));
        assert_eq!(percent_free(0, 100, 0), Some(0));
        assert_eq!(percent_free(100, 100, 100), Some(100));
        assert_eq!(percent_free(0, 0, 0), None);
        // Nonsense from a broken file system never panics or overflows.
        assert_eq!(percent_free(u64::MAX, u64::MAX, 0), Some(50));
        assert_eq!(percent_free(10, 5, 50), Some(100));
        // 99.99 % truncates to 99.
        assert_eq!(percent_free(9999, 10000, 9999), Some(99));
    }

    #[test]
    fn loadavg_captured_and_hostile() {
        let captured = include_bytes!("../../tests/fixtures/proc-loadavg.txt");
        let v = parse_loadavg(captured).unwrap();
        assert!((0.0..1000.0).contains(&v));
        assert_eq!(parse_loadavg(b"0.96 1.28 0.64 1/94 19340\n"), Ok(0.96));
        assert_eq!(parse_loadavg(b"12 1 1"), Ok(12.0));
        for bad in [
            &b""[..],
            b"   \n",
            b"nan 1 1",
            b"inf",
            b"-1.0",
            b"1e9",
            b"1.2.3",
            b".",
            b"\xff\xfe",
        ] {
            assert!(parse_loadavg(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_loadavg(b"x").unwrap_err().to_string(),
            "/proc/loadavg: first field \"x\" is not a load"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn live_system_source() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut s = System::new(Path::new("/proc"), "/", fixtures.join("utmp-sessions.bin"));
        assert!(s.load().unwrap() >= 0.0);
        assert!(s.disk().unwrap().percent_free().is_some());
        let (mut names, mut said) = (Vec::new(), Vec::new());
        s.users(&mut |n| names.push(n.to_vec()), &mut |n| {
            said.push(n.to_string())
        })
        .unwrap();
        assert_eq!(names.len(), 4, "alice twice, bob, root");
        assert!(said.is_empty(), "{said:?}");
        let mut s = System::new(Path::new("/no/proc"), "/no/such/dir", "/no/utmp");
        assert_eq!(
            s.load().unwrap_err().to_string(),
            "/no/proc/loadavg: No such file or directory (os error 2)"
        );
        assert!(s
            .disk()
            .unwrap_err()
            .0
            .starts_with("statvfs /no/such/dir: "));
        s.users(&mut |_| panic!("no sessions"), &mut |n| {
            said.push(n.to_string())
        })
        .unwrap();
        assert_eq!(
            said,
            vec!["/no/utmp: no such file, so no one is logged in: users = 0"]
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn live_statvfs_root() {
        let (bavail, blocks, bfree) = live::statvfs(std::path::Path::new("/")).unwrap();
        assert!(bavail <= bfree && bfree <= blocks);
        assert!(live::statvfs(std::path::Path::new("/no/such/dir")).is_err());
    }
}
