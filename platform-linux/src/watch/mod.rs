//! The real-time watch ([`homeostat_core::feed::WatchSource`]): fanotify with filesystem
//! marks where the process may (root, Linux 5.9+ for names), naming the writer; inotify
//! otherwise, one watch per directory. Both are filtered here to the watched trees, their
//! depth and excludes, so the caller sees only paths it records.

use std::io;
use std::time::Duration;

use homeostat_core::feed::{WatchSource, Watched};

use crate::tree::TreeSpec;

mod fanotify;
mod filter;
mod inotify;
mod writer;

pub use filter::Trees;

/// The watch of a set of trees, by the best mechanism this process may use.
pub enum Watcher {
    /// One fanotify mark per file system.
    Fanotify(fanotify::Fanotify),
    /// One inotify watch per directory.
    Inotify(inotify::Inotify),
}

/// Which mechanism to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    /// fanotify when permitted, else inotify.
    Best,
    /// inotify only (tests of the fallback, hosts that forbid fanotify).
    Inotify,
}

impl Watcher {
    /// Watches `trees`. With [`Mechanism::Best`], fanotify's refusal (not root, an old
    /// kernel, a file system without file handles) falls back to inotify; its reason is
    /// handed to `fallback` for the log.
    pub fn open(
        trees: &[TreeSpec],
        mechanism: Mechanism,
        fallback: &mut dyn FnMut(&str),
    ) -> io::Result<Watcher> {
        let trees = Trees::new(trees);
        if mechanism == Mechanism::Best {
            match fanotify::Fanotify::open(trees.clone()) {
                Ok(f) => return Ok(Watcher::Fanotify(f)),
                Err(e) => fallback(&format!("fanotify unavailable ({e}); using inotify")),
            }
        }
        inotify::Inotify::open(trees).map(Watcher::Inotify)
    }
}

impl Watcher {
    /// Reports this process's own changes too (fanotify leaves them out, so that the
    /// agent's database writes never come back as events; inotify cannot tell).
    pub fn hear_self(&mut self) {
        if let Watcher::Fanotify(f) = self {
            f.hear_self();
        }
    }
}

impl WatchSource for Watcher {
    type Error = io::Error;

    fn wait(&mut self, timeout: Duration, each: &mut dyn FnMut(Watched<'_>)) -> io::Result<()> {
        match self {
            Watcher::Fanotify(f) => f.wait(timeout, each),
            Watcher::Inotify(i) => i.wait(timeout, each),
        }
    }

    fn watches(&self) -> u64 {
        match self {
            Watcher::Fanotify(f) => f.marks(),
            Watcher::Inotify(i) => i.watches(),
        }
    }

    fn mechanism(&self) -> &'static str {
        match self {
            Watcher::Fanotify(_) => "fanotify",
            Watcher::Inotify(_) => "inotify",
        }
    }
}

/// Reads of the queue in one `wait` at most (64 KiB each: some thousand events).
const READS_PER_WAIT: usize = 16;

/// Waits until `fd` is readable or `timeout` passes; `false` on timeout.
#[allow(unsafe_code)]
fn readable(fd: std::os::fd::BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `p` is one valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut p, 1, ms) };
    match n {
        -1 => {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            }
        }
        0 => Ok(false),
        _ => Ok(true),
    }
}

/// Reads what `fd` holds into `buf` (non-blocking); 0 when nothing is there.
#[allow(unsafe_code)]
fn read_some(fd: std::os::fd::BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    // SAFETY: `buf` is writable for `buf.len()` bytes.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
            _ => Err(e),
        };
    }
    Ok(n as usize)
}

/// `dir` joined with `name` (`dir` alone for `.` or an empty name).
fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if name.is_empty() || name == b"." {
        return dir.to_vec();
    }
    let mut p = Vec::with_capacity(dir.len() + 1 + name.len());
    p.extend_from_slice(dir);
    if p.last() != Some(&b'/') {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

#[cfg(test)]
mod tests;
