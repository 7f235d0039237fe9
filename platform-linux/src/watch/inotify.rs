//! inotify: one watch per directory of the trees, added as directories appear. Names
//! the path, never the writer. Running out of watches is reported, never silent.

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use homeostat_core::feed::Watched;

use super::filter::Trees;
use super::{join, read_some, readable};

const MASK: u32 = libc::IN_MODIFY
    | libc::IN_ATTRIB
    | libc::IN_CLOSE_WRITE
    | libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_DONT_FOLLOW
    | libc::IN_EXCL_UNLINK;
const NAMING: u32 = libc::IN_CREATE | libc::IN_DELETE | libc::IN_MOVED_FROM | libc::IN_MOVED_TO;

/// An inotify instance watching every directory of the trees.
pub struct Inotify {
    fd: OwnedFd,
    trees: Trees,
    /// Watch descriptor → the directory's path.
    dirs: HashMap<i32, Vec<u8>>,
    /// Directories that could not be watched, said once each through `wait`.
    blind: Vec<String>,
    /// Directories left unwatched by the watch limit, and the first of them.
    unwatched: u64,
    first_unwatched: Option<Vec<u8>>,
    /// The limit has been reported (once per watch: a full tree is one warning, never
    /// one per directory).
    limit_said: bool,
    buf: Vec<u8>,
}

impl Inotify {
    pub fn open(trees: Trees) -> io::Result<Inotify> {
        let fd = init()?;
        let mut me = Inotify {
            fd,
            trees,
            dirs: HashMap::new(),
            blind: Vec::new(),
            unwatched: 0,
            first_unwatched: None,
            limit_said: false,
            buf: vec![0; 64 * 1024],
        };
        for root in me
            .trees
            .specs()
            .iter()
            .map(|t| t.root.clone())
            .collect::<Vec<_>>()
        {
            me.watch_below(&root);
        }
        Ok(me)
    }

    pub fn watches(&self) -> u64 {
        self.dirs.len() as u64
    }

    /// Watches `dir` and every directory below it that the trees record (on the tree's
    /// own file system when it has `xdev`, as its walk stays).
    fn watch_below(&mut self, dir: &[u8]) {
        let Some(tree) = self.trees.tree_of(dir) else {
            return;
        };
        let dev = |p: &[u8]| {
            std::fs::symlink_metadata(OsStr::from_bytes(p))
                .ok()
                .map(|m| std::os::unix::fs::MetadataExt::dev(&m))
        };
        let root_dev = tree.xdev.then(|| dev(&tree.root)).flatten();
        let mut todo = vec![dir.to_vec()];
        while let Some(d) = todo.pop() {
            if !self.trees.records(&d) || root_dev.is_some_and(|r| dev(&d) != Some(r)) {
                continue;
            }
            match add_watch(&self.fd, &d) {
                Ok(wd) => {
                    self.dirs.insert(wd, d.clone());
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                // Out of watches: counted, and the walk goes on below (each directory
                // is tried, as a watch may have been freed meanwhile), so the warning
                // says how many directories only scheduled checks see.
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                    self.unwatched += 1;
                    self.first_unwatched.get_or_insert_with(|| d.clone());
                }
                Err(e) => {
                    self.blind.push(format!(
                        "{}: cannot watch: {e}",
                        String::from_utf8_lossy(&d)
                    ));
                    continue;
                }
            }
            let Ok(rd) = std::fs::read_dir(OsStr::from_bytes(&d)) else {
                continue;
            };
            for de in rd.flatten() {
                if de.file_type().is_ok_and(|t| t.is_dir()) {
                    todo.push(join(&d, de.file_name().as_bytes()));
                }
            }
        }
        if self.unwatched > 0 && !self.limit_said {
            self.limit_said = true;
            let first = self.first_unwatched.as_deref().unwrap_or_default();
            self.blind
                .push(limit_message(self.unwatched, first, &limits()));
        }
    }

    pub fn wait(&mut self, timeout: Duration, each: &mut dyn FnMut(Watched<'_>)) -> io::Result<()> {
        for b in std::mem::take(&mut self.blind) {
            each(Watched::Blind(&b));
        }
        if !readable(self.fd.as_fd(), timeout)? {
            return Ok(());
        }
        let mut buf = std::mem::take(&mut self.buf);
        let result = self.drain(&mut buf, each);
        self.buf = buf;
        for b in std::mem::take(&mut self.blind) {
            each(Watched::Blind(&b));
        }
        result
    }

    fn drain(&mut self, buf: &mut [u8], each: &mut dyn FnMut(Watched<'_>)) -> io::Result<()> {
        // Bounded: under a steady stream the caller still gets to hand over its batch.
        for _ in 0..super::READS_PER_WAIT {
            let n = read_some(self.fd.as_fd(), buf)?;
            if n == 0 {
                return Ok(());
            }
            let mut at = 0;
            // struct inotify_event: wd i32, mask u32, cookie u32, len u32, name[len].
            while at + 16 <= n {
                let word = |i: usize| {
                    u32::from_ne_bytes(buf[at + i..at + i + 4].try_into().unwrap_or([0; 4]))
                };
                let (wd, mask, len) = (word(0) as i32, word(4), word(12) as usize);
                let end = (at + 16 + len).min(n);
                let raw = &buf[at + 16..end];
                let name = &raw[..raw.iter().position(|&c| c == 0).unwrap_or(raw.len())];
                at = end;
                self.event(wd, mask, name, each);
            }
        }
        Ok(())
    }

    fn event(&mut self, wd: i32, mask: u32, name: &[u8], each: &mut dyn FnMut(Watched<'_>)) {
        if mask & libc::IN_Q_OVERFLOW != 0 {
            each(Watched::Overflow);
            return;
        }
        if mask & libc::IN_IGNORED != 0 {
            self.dirs.remove(&wd);
            return;
        }
        let Some(dir) = self.dirs.get(&wd).cloned() else {
            return;
        };
        let path = join(&dir, name);
        let naming = mask & NAMING != 0 && !name.is_empty();
        if mask & libc::IN_ISDIR != 0 && mask & (libc::IN_MOVED_FROM | libc::IN_DELETE) != 0 {
            // Its watches name paths that are gone; a move back in watches it again.
            self.dirs
                .retain(|_, p| !(p == &path || homeostat_core::fim::join::is_under(p, &path)));
        }
        if mask & libc::IN_ISDIR != 0 && mask & (libc::IN_CREATE | libc::IN_MOVED_TO) != 0 {
            self.watch_below(&path);
        }
        if self.trees.records(&path) {
            each(Watched::Touched {
                path: &path,
                below: naming,
                writer: None,
            });
        }
        if naming && self.trees.records(&dir) {
            each(Watched::Touched {
                path: &dir,
                below: false,
                writer: None,
            });
        }
    }
}

/// The warning when the watch limit is reached: which limit, how many directories it
/// leaves unwatched and the first of them.
fn limit_message(unwatched: u64, first: &[u8], limits: &str) -> String {
    let dirs = if unwatched == 1 {
        "directory is"
    } else {
        "directories are"
    };
    format!(
        "inotify watch limit reached ({limits}): {unwatched} {dirs} not watched (the first: {}); \
         changes there are seen only by scheduled checks",
        String::from_utf8_lossy(first)
    )
}

/// The limits on inotify watches: the system's, and this user namespace's when it is
/// lower (Linux 5.11+: a container may have its own).
fn limits() -> String {
    let read = |p: &str| {
        crate::bounded::read_to_string(std::path::Path::new(p), crate::bounded::limits::PROC_SMALL)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
    };
    let system = read("/proc/sys/fs/inotify/max_user_watches");
    let ns = read("/proc/sys/user/max_inotify_watches");
    let fs = format!(
        "fs.inotify.max_user_watches = {}",
        system.map_or_else(|| "unknown".to_owned(), |n| n.to_string())
    );
    match ns {
        Some(n) if system.is_none_or(|s| n < s) => {
            format!("user.max_inotify_watches = {n} in this user namespace, {fs}")
        }
        _ => fs,
    }
}

#[allow(unsafe_code)]
fn init() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with flag arguments.
    let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[allow(unsafe_code)]
fn add_watch(fd: &OwnedFd, dir: &[u8]) -> io::Result<i32> {
    let c = CString::new(dir).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a NUL-terminated path alive through the call.
    let wd =
        unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), MASK | libc::IN_ONLYDIR) };
    if wd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(wd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_message_names_the_limit_and_the_unwatched() {
        let m = limit_message(61, b"/t/d07", "fs.inotify.max_user_watches = 8192");
        assert_eq!(
            m,
            "inotify watch limit reached (fs.inotify.max_user_watches = 8192): 61 directories \
             are not watched (the first: /t/d07); changes there are seen only by scheduled checks"
        );
        assert!(limit_message(1, b"/t", "x").contains(": 1 directory is not watched"));
    }

    #[test]
    fn the_limits_name_the_system_one() {
        assert!(
            limits().contains("fs.inotify.max_user_watches = "),
            "{}",
            limits()
        );
    }
}
