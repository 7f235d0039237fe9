//! Processes: `/proc/<pid>/status` (command name and effective uid) and user names from
//! `/etc/passwd`.
//!
//! A process is owned by its *effective* uid, as in the `user` column of `ps`, which is
//! what cf-monitord counted: a setuid-root program run by alice is a root process.

use std::collections::HashMap;
use std::fmt;

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
    let mut name: Option<String> = None;
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if let Some(v) = line.strip_prefix(b"Name:") {
            name = Some(printable(trim(v)));
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
            return Ok(Status { name, euid });
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
            map.entry(uid).or_insert_with(|| printable(name));
        }
    }
    map
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
    use std::io::{self, Read};
    use std::path::Path;

    /// Every process under `proc_root` whose status can be read. A process that exits
    /// between the listing and the read is skipped silently; other failures are counted.
    pub fn read_processes(
        proc_root: &Path,
        users: &HashMap<u32, String>,
    ) -> io::Result<(Vec<ProcessEntry>, usize)> {
        let mut out = Vec::new();
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
            let read = File::open(&path).and_then(|mut f| f.read_to_end(&mut buf));
            path.pop();
            path.pop();
            match read {
                Ok(_) => match parse_status(&buf) {
                    Ok(st) => out.push(ProcessEntry {
                        pid,
                        uid: st.euid,
                        user: users.get(&st.euid).cloned(),
                        command: st.name,
                    }),
                    Err(_) => failed += 1,
                },
                // Gone since the listing (ENOENT), or a zombie being reaped (ESRCH).
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                Err(_) => failed += 1,
            }
        }
        out.sort_unstable_by_key(|p| p.pid);
        Ok((out, failed))
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
        let (procs, _) =
            live::read_processes(std::path::Path::new("/proc"), &HashMap::new()).unwrap();
        let me = std::process::id();
        assert!(procs.iter().any(|p| p.pid == me));
    }
}
