//! Processes: `/proc/<pid>/status` (command name and effective uid) and user names from
//! `/etc/passwd`.
//!
//! A process is owned by its *effective* uid, as in the `user` column of `ps`, which is
//! what cf-monitord counted: a setuid-root program run by alice is a root process.

use crate::monitor::Unreadable;
use homeostat_core::feed::{Notes, Process, ProcessSource};
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use super::printable;

/// One process of the snapshot kept for the peak view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessEntry {
    pub pid: u32,
    /// Effective uid.
    pub uid: u32,
    /// The user name of `uid` in `/etc/passwd`, if there is one.
    pub user: Option<String>,
    /// The command name (`Name:` in status, at most 15 bytes, as the kernel escapes it).
    pub command: String,
}

/// What one status file gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub name: String,
    pub euid: u32,
}

/// Why a status file could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusError {
    /// No `Name:` line.
    NoName,
    /// No `Uid:` line.
    NoUid,
    /// A `Uid:` line without a numeric effective uid (its line number, 1-based).
    BadUid(usize),
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusError::NoName => write!(f, "no Name: line"),
            StatusError::NoUid => write!(f, "no Uid: line"),
            StatusError::BadUid(l) => write!(f, "line {l}: Uid: without a numeric effective uid"),
        }
    }
}

impl std::error::Error for StatusError {}

/// Parse `/proc/<pid>/status`. Stops at the `Uid:` line (which follows `Name:`).
pub fn parse_status(bytes: &[u8]) -> Result<Status, StatusError> {
    parse_status_raw(bytes).map(|(name, euid)| Status {
        name: printable(name),
        euid,
    })
}

/// [`parse_status`] without the copy: the `Name:` bytes as the file has them (trimmed)
/// and the effective uid.
pub fn parse_status_raw(bytes: &[u8]) -> Result<(&[u8], u32), StatusError> {
    let mut name: Option<&[u8]> = None;
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if let Some(v) = line.strip_prefix(b"Name:") {
            name = Some(trim(v));
        } else if let Some(v) = line.strip_prefix(b"Uid:") {
            // real, effective, saved, fs; a lone value is taken as both.
            let mut ids = v
                .split(|b| *b == b'\t' || *b == b' ')
                .filter(|f| !f.is_empty());
            let real = ids.next().and_then(parse_u32);
            let eff = match ids.next() {
                Some(f) => parse_u32(f),
                None => real,
            };
            let euid = real.and(eff).ok_or(StatusError::BadUid(i + 1))?;
            let name = name.ok_or(StatusError::NoName)?;
            return Ok((name, euid));
        }
    }
    Err(if name.is_none() {
        StatusError::NoName
    } else {
        StatusError::NoUid
    })
}

/// Parse `/etc/passwd` into uid → name. Lines that are comments, blank, or lack a name
/// or a numeric uid are skipped; the first name of a uid wins (as `getpwuid` does).
pub fn parse_passwd(bytes: &[u8]) -> HashMap<u32, String> {
    parse_passwd_raw(bytes)
        .into_iter()
        .map(|(uid, name)| (uid, printable(name)))
        .collect()
}

/// [`parse_passwd`] with the names as the file has them.
pub fn parse_passwd_raw(bytes: &[u8]) -> HashMap<u32, &[u8]> {
    let mut map = HashMap::new();
    for line in bytes.split(|b| *b == b'\n') {
        if line.first() == Some(&b'#') {
            continue;
        }
        let mut f = line.split(|b| *b == b':');
        let (Some(name), Some(_pw), Some(uid)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        if let Some(uid) = parse_u32(uid) {
            map.entry(uid).or_insert(name);
        }
    }
    map
}

/// The Linux [`ProcessSource`]: every `/proc/<pid>/status`, owners named from the user
/// database (read again at each listing, so a new account is named at once).
#[derive(Debug, Clone)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))] // read only on Linux
pub struct Processes {
    proc_root: PathBuf,
    passwd: PathBuf,
}

impl Processes {
    /// Processes under `proc_root` (`/proc`), names from `passwd` (`/etc/passwd`).
    pub fn new(proc_root: impl Into<PathBuf>, passwd: impl Into<PathBuf>) -> Processes {
        Processes {
            proc_root: proc_root.into(),
            passwd: passwd.into(),
        }
    }
}

impl ProcessSource for Processes {
    type Error = Unreadable;

    /// An unreadable user database is a note (processes keep no names); processes that
    /// could not be read are counted in one note at the end.
    fn processes(
        &mut self,
        each: &mut dyn FnMut(&Process<'_>),
        notes: &mut Notes<'_>,
    ) -> Result<(), Unreadable> {
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (each, notes);
            Err(Unreadable::not_linux())
        }
        #[cfg(target_os = "linux")]
        {
            let passwd_limit = crate::bounded::limits::PASSWD;
            let bytes = crate::bounded::read(&self.passwd, passwd_limit).unwrap_or_else(|e| {
                notes(&format_args!(
                    "{}: {e}; no user names",
                    self.passwd.display()
                ));
                Vec::new()
            });
            let users = parse_passwd_raw(&bytes);
            let failed = live::each_process(&self.proc_root, &users, each)
                .map_err(|e| Unreadable(format!("{}: {e}", self.proc_root.display())))?;
            if failed > 0 {
                notes(&format_args!("{failed} processes could not be read"));
            }
            Ok(())
        }
    }
}

/// Per-command counts of a set of processes, sorted by command.
pub fn command_counts<'a>(procs: impl Iterator<Item = &'a ProcessEntry>) -> Vec<(String, u32)> {
    let mut counts: HashMap<&str, u32> = HashMap::new();
    for p in procs {
        *counts.entry(p.command.as_str()).or_insert(0) += 1;
    }
    let mut v: Vec<(String, u32)> = counts
        .into_iter()
        .map(|(k, n)| (k.to_string(), n))
        .collect();
    v.sort_unstable();
    v
}

pub(crate) fn parse_u32(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 10 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    b.iter().try_fold(0u32, |n, d| {
        n.checked_mul(10)?.checked_add(u32::from(d - b'0'))
    })
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

/// Reading the live `/proc`.
#[cfg(target_os = "linux")]
pub(crate) mod live {
    use super::*;
    use std::fs::File;
    use std::io;
    use std::path::Path;

    use homeostat_core::feed::Process;

    /// Calls `each` for every process under `proc_root` whose status can be read, in
    /// directory order; returns how many could not be read. A process that exits between
    /// the listing and the read is skipped silently.
    pub fn each_process(
        proc_root: &Path,
        users: &HashMap<u32, &[u8]>,
        each: &mut dyn FnMut(&Process<'_>),
    ) -> io::Result<usize> {
        let mut failed = 0;
        let mut buf = Vec::with_capacity(2048);
        let mut path = proc_root.to_path_buf();
        for ent in std::fs::read_dir(proc_root)? {
            let Ok(ent) = ent else {
                failed += 1;
                continue;
            };
            let name = ent.file_name();
            let Some(pid) = name.to_str().and_then(|s| parse_u32(s.as_bytes())) else {
                continue;
            };
            path.push(&name);
            path.push("status");
            buf.clear();
            let small = crate::bounded::limits::PROC_SMALL;
            let read = File::open(&path)
                .and_then(|f| crate::bounded::read_into(f, &path, small, &mut buf));
            path.pop();
            path.pop();
            match read {
                Ok(_) => match parse_status_raw(&buf) {
                    Ok((command, uid)) => each(&Process {
                        pid,
                        uid,
                        user: users.get(&uid).copied(),
                        command,
                    }),
                    Err(_) => failed += 1,
                },
                // Gone since the listing (ENOENT), or a zombie being reaped (ESRCH).
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                Err(_) => failed += 1,
            }
        }
        Ok(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let p = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(p).unwrap()
    }

    #[test]
    fn captured_status_files() {
        let s = parse_status(&fixture("proc-status-sleep.txt")).unwrap();
        assert_eq!(
            s,
            Status {
                name: "sleep".into(),
                euid: 0
            }
        );
        let s = parse_status(&fixture("proc-status-self.txt")).unwrap();
        assert_eq!(s.name, "python3");
    }

    #[test]
    fn effective_uid_and_kernel_escapes() {
        // Real uid 1000, effective 0: a setuid-root program counts as root's.
        let s = parse_status(&fixture("proc-status-setuid.txt")).unwrap();
        assert_eq!(s.euid, 0);
        // The kernel writes the newline in the name as `\n`; its `\` is escaped in turn.
        assert_eq!(s.name, "evil\\x5cnname");
    }

    #[test]
    fn hostile_status() {
        assert_eq!(
            parse_status(&fixture("proc-status-hostile.txt")),
            Err(StatusError::BadUid(3))
        );
        assert_eq!(parse_status(b""), Err(StatusError::NoName));
        assert_eq!(parse_status(b"Name:\tx\n"), Err(StatusError::NoUid));
        assert_eq!(parse_status(b"Uid:\t0\t0\n"), Err(StatusError::NoName));
        assert_eq!(
            parse_status(b"Name:\tx\nUid:\t1\t99999999999\n"),
            Err(StatusError::BadUid(2))
        );
        assert_eq!(
            parse_status(b"Name:\tx\nUid:\t7\n"),
            Ok(Status {
                name: "x".into(),
                euid: 7
            })
        );
        assert_eq!(
            StatusError::BadUid(3).to_string(),
            "line 3: Uid: without a numeric effective uid"
        );
    }

    #[test]
    fn passwd_captured_and_hostile() {
        let m = parse_passwd(&fixture("etc-passwd.txt"));
        assert_eq!(m.get(&0).map(String::as_str), Some("root"));
        assert_eq!(m.get(&65534).map(String::as_str), Some("nobody"));
        let m = parse_passwd(&fixture("etc-passwd-hostile.txt"));
        assert_eq!(
            m.get(&0).map(String::as_str),
            Some("root"),
            "first name wins"
        );
        assert_eq!(m.get(&1000).map(String::as_str), Some("alice"));
        assert_eq!(m.get(&1001).map(String::as_str), Some("bob"));
        assert!(!m.contains_key(&5), "empty names are skipped");
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn counts_by_command() {
        let p = |pid, c: &str| ProcessEntry {
            pid,
            uid: 0,
            user: None,
            command: c.into(),
        };
        let v = [p(1, "sh"), p(2, "cron"), p(3, "sh")];
        assert_eq!(
            command_counts(v.iter()),
            vec![("cron".to_string(), 1), ("sh".to_string(), 2)]
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn live_proc_has_this_process() {
        let me = std::process::id();
        let (mut found, mut said) = (false, Vec::new());
        Processes::new("/proc", "/etc/passwd")
            .processes(&mut |p| found |= p.pid == me, &mut |n| {
                said.push(n.to_string())
            })
            .unwrap();
        assert!(found, "{said:?}");
        let e = Processes::new("/no/such/proc", "/no/such/passwd")
            .processes(&mut |_| {}, &mut |n| said.push(n.to_string()))
            .unwrap_err();
        assert!(e.0.starts_with("/no/such/proc: "), "{e}");
        assert!(said.last().is_some_and(|n| n.ends_with("; no user names")));
    }
}
