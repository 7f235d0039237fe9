//! The process behind a fanotify event, read from `/proc` at the event.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;

/// What `/proc` says of a writer; `None`s when it has gone.
#[derive(Clone, Debug, Default)]
pub struct Proc {
    pub exe: Option<Vec<u8>>,
    pub uid: Option<u32>,
}

/// The processes of one read of the queue (a pid is read once per read).
#[derive(Default)]
pub struct Procs {
    seen: HashMap<u32, Proc>,
}

impl Procs {
    /// Forgets the processes of the previous read (their pids may be reused).
    pub fn clear(&mut self) {
        self.seen.clear();
    }

    /// The process `pid`.
    pub fn get(&mut self, pid: u32) -> &Proc {
        self.seen.entry(pid).or_insert_with(|| read(pid))
    }
}

fn read(pid: u32) -> Proc {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .map(|p| p.as_os_str().as_bytes().to_vec());
    let status = std::path::PathBuf::from(format!("/proc/{pid}/status"));
    let uid = crate::bounded::read_to_string(&status, crate::bounded::limits::PROC_SMALL)
        .ok()
        .and_then(|s| real_uid(&s));
    Proc { exe, uid }
}

/// The real uid: the first number of the `Uid:` line.
fn real_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line["Uid:".len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn real_uid_is_the_first_of_four() {
        let s = "Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t5\t5\t5\t5\n";
        assert_eq!(super::real_uid(s), Some(1000));
        assert_eq!(super::real_uid("Name: x\n"), None);
    }

    #[test]
    fn this_process_is_read() {
        use std::os::unix::ffi::OsStrExt;
        let me = super::read(std::process::id());
        let exe = std::env::current_exe().unwrap();
        assert_eq!(me.exe.as_deref(), Some(exe.as_os_str().as_bytes()));
        assert!(me.uid.is_some());
        let gone = super::read(u32::MAX);
        assert!(gone.exe.is_none() && gone.uid.is_none());
    }
}
