//! The process table for process promises: every field `core::procs` selects on, read from
//! `/proc/<pid>/{stat,status,cmdline}`, owners named from `/etc/passwd` once per reading.
//!
//! - `command`: `cmdline` with each NUL as a single space (trailing NULs dropped); an empty
//!   command line (kernel threads, zombies) is `[comm]`. Invalid UTF-8 is replaced.
//! - owner: the effective uid (`Uid:` in status, as `ps` and the learner's counts).
//! - `vsize` and `rss` in KiB, `ttime` = utime + stime in whole seconds, `stime` = boot time
//!   (`btime` in `/proc/stat`) + start ticks, in epoch seconds; `priority` is the nice value.
//! - `tty`: `pts/N`, `ttyN`, `ttySN`, `?` for none, `MAJOR:MINOR` for anything else.

use crate::monitor::procs::{parse_passwd_raw, parse_status_raw};
use homeostat_core::procs::ProcessInfo;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One process, owned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcRecord {
    /// Process id.
    pub pid: u32,
    /// Parent pid.
    pub ppid: u32,
    /// Process group.
    pub pgid: u32,
    /// Effective uid.
    pub uid: u32,
    /// User name of `uid`, empty if none.
    pub owner: String,
    /// Command line, NULs as spaces, `[comm]` when empty.
    pub command: String,
    /// Virtual size, KiB.
    pub vsize: u64,
    /// Resident size, KiB.
    pub rss: u64,
    /// CPU seconds, user + system.
    pub ttime: u64,
    /// Start, epoch seconds.
    pub stime: u64,
    /// State letter.
    pub status: String,
    /// Terminal name.
    pub tty: String,
    /// Nice value.
    pub priority: i64,
    /// Threads.
    pub threads: u64,
}

impl ProcRecord {
    /// The record as `core::procs` selects on it.
    pub fn info(&self) -> ProcessInfo<'_> {
        ProcessInfo {
            pid: self.pid,
            ppid: self.ppid,
            pgid: self.pgid,
            uid: self.uid,
            owner: &self.owner,
            command: &self.command,
            vsize: self.vsize,
            rss: self.rss,
            ttime: self.ttime,
            stime: self.stime,
            status: &self.status,
            tty: &self.tty,
            priority: self.priority,
            threads: self.threads,
        }
    }
}

/// Units to turn `stat` fields into seconds and KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Units {
    /// Clock ticks per second (`_SC_CLK_TCK`).
    pub hz: u64,
    /// Page size in bytes.
    pub page: u64,
    /// Boot time, epoch seconds.
    pub btime: u64,
}

/// What `/proc/<pid>/stat` gives (all but the uid and the command line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// The command name between the parentheses.
    pub comm: String,
    /// The record, with `uid`, `owner` and `command` left empty.
    pub record: ProcRecord,
}

/// Parses `/proc/<pid>/stat`; `None` if it is malformed. The name may hold `)` and spaces:
/// it runs from the first `(` to the last `)`.
pub fn parse_stat(bytes: &[u8], units: Units) -> Option<Stat> {
    let open = bytes.iter().position(|&b| b == b'(')?;
    let close = bytes.iter().rposition(|&b| b == b')')?;
    if close < open {
        return None;
    }
    let pid: u32 = std::str::from_utf8(&bytes[..open])
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let comm = String::from_utf8_lossy(&bytes[open + 1..close]).into_owned();
    let rest = std::str::from_utf8(&bytes[close + 1..]).ok()?;
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    if f.len() < 22 {
        return None;
    }
    let num = |i: usize| f[i].parse::<u64>().ok();
    let tty_nr: i64 = f[4].parse().ok()?;
    let hz = units.hz.max(1);
    Some(Stat {
        comm,
        record: ProcRecord {
            pid,
            status: f[0].to_string(),
            ppid: f[1].parse().ok()?,
            pgid: f[2].parse().ok()?,
            tty: tty_name(tty_nr as u32),
            // Saturating: a corrupt or hostile field near u64::MAX must not panic.
            ttime: num(11)?.saturating_add(num(12)?) / hz,
            priority: f[16].parse().ok()?,
            threads: num(17)?,
            stime: units.btime.saturating_add(num(19)? / hz),
            vsize: num(20)? / 1024,
            rss: num(21)?.saturating_mul(units.page) / 1024,
            ..ProcRecord::default()
        },
    })
}

/// The terminal of a `tty_nr`.
pub fn tty_name(tty_nr: u32) -> String {
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    match major {
        0 => "?".to_string(),
        4 if minor < 64 => format!("tty{minor}"),
        4 => format!("ttyS{}", minor - 64),
        136..=143 => format!("pts/{}", (major - 136) * 256 + minor),
        _ => format!("{major}:{minor}"),
    }
}

/// The command line: NULs as single spaces, trailing NULs dropped, `[comm]` when empty.
pub fn command_line(cmdline: &[u8], comm: &str) -> String {
    let end = cmdline.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    if end == 0 {
        return format!("[{comm}]");
    }
    let joined: Vec<u8> = cmdline[..end]
        .iter()
        .map(|&b| if b == 0 { b' ' } else { b })
        .collect();
    String::from_utf8_lossy(&joined).into_owned()
}

/// `btime` of `/proc/stat`.
pub fn parse_btime(bytes: &[u8]) -> Option<u64> {
    std::str::from_utf8(bytes)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// Reads the process table under a `/proc` root with names from a passwd file.
#[derive(Debug, Clone)]
pub struct ProcTable {
    proc_root: PathBuf,
    passwd: PathBuf,
    units: Option<Units>,
}

impl ProcTable {
    /// The table of `proc_root` (`/proc`), names from `passwd` (`/etc/passwd`), units of
    /// this machine.
    pub fn new(proc_root: impl Into<PathBuf>, passwd: impl Into<PathBuf>) -> ProcTable {
        ProcTable {
            proc_root: proc_root.into(),
            passwd: passwd.into(),
            units: None,
        }
    }

    /// The same with fixed units (for fixtures captured elsewhere).
    pub fn with_units(mut self, units: Units) -> ProcTable {
        self.units = Some(units);
        self
    }

    fn units(&self) -> Units {
        self.units.unwrap_or_else(|| {
            // SAFETY: sysconf has no preconditions.
            #[allow(unsafe_code)]
            let (hz, page) = unsafe {
                (
                    libc::sysconf(libc::_SC_CLK_TCK),
                    libc::sysconf(libc::_SC_PAGESIZE),
                )
            };
            Units {
                hz: if hz > 0 { hz as u64 } else { 100 },
                page: if page > 0 { page as u64 } else { 4096 },
                btime: crate::bounded::read(
                    &self.proc_root.join("stat"),
                    crate::bounded::limits::PROC_SMALL,
                )
                .ok()
                .and_then(|b| parse_btime(&b))
                .unwrap_or(0),
            }
        })
    }

    /// Every process readable now, ascending by pid. Processes that vanish or cannot be
    /// read while listing are skipped (counted in the second value). An unreadable passwd
    /// leaves owners without names; an unreadable `/proc` root is an error.
    pub fn read(&self) -> std::io::Result<(Vec<ProcRecord>, usize)> {
        let units = self.units();
        let passwd =
            crate::bounded::read(&self.passwd, crate::bounded::limits::PASSWD).unwrap_or_default();
        let users: HashMap<u32, &[u8]> = parse_passwd_raw(&passwd);
        let mut names: HashMap<u32, String> = HashMap::new();
        let mut out = Vec::new();
        let mut failed = 0;
        let mut buf = Vec::with_capacity(4096);
        for entry in std::fs::read_dir(&self.proc_root)? {
            let Ok(entry) = entry else { continue };
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            match read_one(&self.proc_root.join(pid.to_string()), units, &mut buf) {
                Some(mut r) => {
                    r.owner = names
                        .entry(r.uid)
                        .or_insert_with(|| {
                            users
                                .get(&r.uid)
                                .map(|n| String::from_utf8_lossy(n).into_owned())
                                .unwrap_or_default()
                        })
                        .clone();
                    out.push(r);
                }
                None => failed += 1,
            }
        }
        out.sort_unstable_by_key(|r| r.pid);
        Ok((out, failed))
    }
}

fn read_one(dir: &Path, units: Units, buf: &mut Vec<u8>) -> Option<ProcRecord> {
    let mut path = dir.join("stat");
    slurp(&path, buf).ok()?;
    let stat = parse_stat(buf, units)?;
    path.set_file_name("status");
    slurp(&path, buf).ok()?;
    let (_, uid) = parse_status_raw(buf).ok()?;
    path.set_file_name("cmdline");
    if slurp(&path, buf).is_err() {
        buf.clear();
    }
    Some(ProcRecord {
        uid,
        command: command_line(buf, &stat.comm),
        ..stat.record
    })
}

/// Reads a whole file into `buf` (reused: no allocation, no size query per file).
fn slurp(path: &Path, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let f = std::fs::File::open(path)?;
    crate::bounded::read_into(f, path, crate::bounded::limits::PROC_SMALL, buf)
}
