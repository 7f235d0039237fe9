//! fanotify with filesystem marks: one mark per file system holding a tree, every
//! change on it reported with the directory's file handle, the entry's name and the
//! writer's pid; filtered here to the trees.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use homeostat_core::event::Writer;
use homeostat_core::feed::Watched;
use homeostat_core::fim::join::is_under;

use super::filter::{mounts_below, Trees};
use super::writer::Procs;
use super::{join, read_some, readable};

/// Changes to names, contents and attributes, of files and directories alike.
const MASK: u64 = libc::FAN_MODIFY
    | libc::FAN_ATTRIB
    | libc::FAN_CLOSE_WRITE
    | libc::FAN_CREATE
    | libc::FAN_DELETE
    | libc::FAN_MOVED_FROM
    | libc::FAN_MOVED_TO
    | libc::FAN_ONDIR;
/// Events that change a directory's entries: the named entry, and what lies below it,
/// came or went.
const NAMING: u64 = libc::FAN_CREATE | libc::FAN_DELETE | libc::FAN_MOVED_FROM | libc::FAN_MOVED_TO;
/// Directory handles resolved to paths, at most (then forgotten all at once).
const CACHE: usize = 16 * 1024;

/// An fanotify group with a filesystem mark for each file system holding a tree.
pub struct Fanotify {
    fd: OwnedFd,
    trees: Trees,
    /// Per file system marked: its fsid and a descriptor on it for `open_by_handle_at`.
    mounts: Vec<([i32; 2], OwnedFd)>,
    /// Directory handle (fsid, handle type, handle bytes) → its path, or `None` when it
    /// could not be resolved or lies outside every tree (most events of a busy file
    /// system): each directory is resolved once, until a directory move says otherwise.
    dirs: HashMap<Vec<u8>, Option<Vec<u8>>>,
    procs: Procs,
    buf: Vec<u8>,
    /// File systems below a tree that could not be marked, said once through `wait`.
    blind: Vec<String>,
    /// This process, whose changes are not reported (0: none left out).
    me: u32,
}

impl Fanotify {
    /// Marks the file systems of `trees`; fails when fanotify, its names or filesystem
    /// marks are not permitted here.
    pub fn open(trees: Trees) -> io::Result<Fanotify> {
        let fd = init()?;
        let mut mounts: Vec<([i32; 2], OwnedFd)> = Vec::new();
        let mut blind = Vec::new();
        for t in trees.specs() {
            mark_fs(&fd, &t.root, &mut mounts)?;
            // A tree that crosses file systems needs each marked; one that cannot be (no
            // file handles, as on /proc) is said, and left to scheduled checks.
            let below = if t.xdev {
                Vec::new()
            } else {
                mounts_below(&t.root)
            };
            for m in below {
                if !trees.records(&m) {
                    continue;
                }
                if let Err(e) = mark_fs(&fd, &m, &mut mounts) {
                    blind.push(format!(
                        "{e}: changes there are seen only by scheduled checks"
                    ));
                }
            }
        }
        Ok(Fanotify {
            fd,
            trees,
            mounts,
            blind,
            dirs: HashMap::new(),
            procs: Procs::default(),
            buf: vec![0; 64 * 1024],
            me: std::process::id(),
        })
    }

    /// Reports this process's own changes too (tests; the agent never wants its
    /// database writes back as events).
    pub fn hear_self(&mut self) {
        self.me = 0;
    }

    /// Filesystem marks in use.
    pub fn marks(&self) -> u64 {
        self.mounts.len() as u64
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
        result
    }

    /// Reads the queue until it is empty, reporting each event.
    fn drain(&mut self, buf: &mut [u8], each: &mut dyn FnMut(Watched<'_>)) -> io::Result<()> {
        // Bounded: under a steady stream the caller still gets to hand over its batch.
        for _ in 0..super::READS_PER_WAIT {
            let n = read_some(self.fd.as_fd(), buf)?;
            if n == 0 {
                return Ok(());
            }
            self.procs.clear();
            let mut at = 0;
            while let Some(ev) = Event::parse(&buf[at..n]) {
                at += ev.len;
                self.event(&ev, each);
            }
        }
        Ok(())
    }

    fn event(&mut self, ev: &Event<'_>, each: &mut dyn FnMut(Watched<'_>)) {
        if ev.mask & libc::FAN_Q_OVERFLOW != 0 {
            each(Watched::Overflow);
            return;
        }
        // Our own writes (the database, when the state dir is watched) are not changes.
        if ev.pid == self.me {
            return;
        }
        let Some((key, handle, name)) = ev.dir_name else {
            return;
        };
        let Some(dir) = self.resolve(key, handle) else {
            return;
        };
        let path = join(&dir, name);
        if ev.mask & libc::FAN_ONDIR != 0 && ev.mask & NAMING != 0 && path != dir {
            self.moved_dir(&path, ev.mask & libc::FAN_MOVED_TO != 0);
        }
        let naming = ev.mask & NAMING != 0 && path != dir;
        let (at_path, at_dir) = (
            self.trees.records(&path),
            naming && self.trees.records(&dir),
        );
        // Most events of a busy file system end here, before /proc is read.
        if !at_path && !at_dir {
            return;
        }
        let proc = self.procs.get(ev.pid);
        let writer = Some(Writer {
            pid: ev.pid,
            exe: proc.exe.as_deref(),
            uid: proc.uid,
        });
        if at_path {
            each(Watched::Touched {
                path: &path,
                below: naming,
                writer,
            });
        }
        if at_dir {
            each(Watched::Touched {
                path: &dir,
                below: false,
                writer,
            });
        }
    }

    /// A directory at `path` in (or above) a tree came, went or moved: the handles
    /// cached at or below it name other paths now. One moved in may hold directories
    /// cached as outside every tree. (Directories moved about outside the trees, a busy
    /// build's, never reach here: their parents resolve to nothing.)
    fn moved_dir(&mut self, path: &[u8], arrived: bool) {
        self.dirs.retain(|_, cached| match cached {
            Some(p) => !(p.as_slice() == path || is_under(p, path)),
            None => !arrived,
        });
    }

    /// The path of a directory handle, when it lies in (or above) a tree.
    fn resolve(&mut self, key: &[u8], handle: &[u8]) -> Option<Vec<u8>> {
        if let Some(p) = self.dirs.get(key) {
            return p.clone();
        }
        let fsid = fsid_of(key);
        let mount = self
            .mounts
            .iter()
            .find(|(f, _)| *f == fsid)
            .or(self.mounts.first())?;
        let path = open_handle(mount.1.as_fd(), handle)
            .ok()
            .and_then(|fd| path_of(fd).ok())
            .filter(|p| self.trees.specs().iter().any(|t| related(&t.root, p)));
        if self.dirs.len() >= CACHE {
            self.dirs.clear();
        }
        self.dirs.insert(key.to_vec(), path.clone());
        path
    }
}

/// Marks the file system of `path` unless one in `mounts` is the same; keeps a
/// descriptor on it for `open_by_handle_at`.
fn mark_fs(fd: &OwnedFd, path: &[u8], mounts: &mut Vec<([i32; 2], OwnedFd)>) -> io::Result<()> {
    let at = File::open(OsStr::from_bytes(path)).map_err(|e| named(e, "cannot open", path))?;
    let fsid = fsid(&at).map_err(|e| named(e, "cannot statfs", path))?;
    if mounts.iter().any(|(f, _)| *f == fsid) {
        return Ok(());
    }
    mark(fd, path).map_err(|e| named(e, "cannot mark the file system of", path))?;
    mounts.push((fsid, OwnedFd::from(at)));
    Ok(())
}

/// `dir` is a tree's root, below it, or above it (the parent of a tree's root).
fn related(root: &[u8], dir: &[u8]) -> bool {
    let (long, short) = if dir.len() >= root.len() {
        (dir, root)
    } else {
        (root, dir)
    };
    long.starts_with(short)
        && (long.len() == short.len() || short == b"/" || long[short.len()] == b'/')
}

/// One event of the queue: its mask, pid, and the directory handle and name.
struct Event<'a> {
    len: usize,
    mask: u64,
    pid: u32,
    /// (cache key: fsid and handle, `struct file_handle` bytes, name).
    dir_name: Option<(&'a [u8], &'a [u8], &'a [u8])>,
}

impl<'a> Event<'a> {
    /// The event at the start of `b` (`struct fanotify_event_metadata`, then its info
    /// records); `None` at the end or on a truncated event.
    fn parse(b: &'a [u8]) -> Option<Event<'a>> {
        let u32_at =
            |b: &[u8], i: usize| Some(u32::from_ne_bytes(b.get(i..i + 4)?.try_into().ok()?));
        let len = u32_at(b, 0)? as usize;
        let meta_len = usize::from(u16::from_ne_bytes(b.get(6..8)?.try_into().ok()?));
        let mask = u64::from_ne_bytes(b.get(8..16)?.try_into().ok()?);
        let pid = u32_at(b, 20)?;
        // A whole `fanotify_event_metadata` at least (24 bytes), and no more than we hold.
        if len < 24 || len < meta_len || len > b.len() {
            return None;
        }
        let mut dir_name = None;
        let mut at = meta_len;
        // Info records: header (type u8, pad u8, len u16), fsid (8 bytes), file_handle
        // (bytes u32, type i32, handle), then for DFID_NAME the name, NUL-terminated.
        while at + 4 <= len {
            let kind = b[at];
            let rlen = usize::from(u16::from_ne_bytes([b[at + 2], b[at + 3]]));
            if rlen < 4 || at + rlen > len {
                break;
            }
            let rec = &b[at..at + rlen];
            if kind == libc::FAN_EVENT_INFO_TYPE_DFID_NAME || kind == libc::FAN_EVENT_INFO_TYPE_DFID
            {
                let hbytes = u32_at(rec, 12)? as usize;
                let hend = 20 + hbytes;
                let handle = rec.get(12..hend)?;
                let key = rec.get(4..hend)?;
                let name = match kind == libc::FAN_EVENT_INFO_TYPE_DFID_NAME {
                    true => {
                        let rest = rec.get(hend..)?;
                        &rest[..rest.iter().position(|&c| c == 0).unwrap_or(rest.len())]
                    }
                    false => &b""[..],
                };
                dir_name = Some((key, handle, name));
            }
            at += rlen;
        }
        // An fd is only given without FID reporting; none here, but close any all the same.
        let fd = i32::from_ne_bytes(b.get(16..20)?.try_into().ok()?);
        if fd >= 0 {
            close(fd);
        }
        Some(Event {
            len,
            mask,
            pid,
            dir_name,
        })
    }
}

fn fsid_of(key: &[u8]) -> [i32; 2] {
    let v = |i: usize| i32::from_ne_bytes(key[i..i + 4].try_into().unwrap_or([0; 4]));
    [v(0), v(4)]
}

fn named(e: io::Error, what: &str, path: &[u8]) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("{what} {}: {e}", String::from_utf8_lossy(path)),
    )
}

/// The path an `O_PATH` descriptor stands for, when it still has that path (not a
/// deleted directory's leftover name).
fn path_of(fd: OwnedFd) -> io::Result<Vec<u8>> {
    let p = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
    let held = File::from(fd).metadata()?;
    let now = std::fs::symlink_metadata(&p)?;
    if (held.dev(), held.ino()) != (now.dev(), now.ino()) {
        return Err(io::Error::new(io::ErrorKind::NotFound, "moved or deleted"));
    }
    Ok(p.as_os_str().as_bytes().to_vec())
}

#[allow(unsafe_code)]
fn init() -> io::Result<OwnedFd> {
    let flags =
        libc::FAN_CLASS_NOTIF | libc::FAN_CLOEXEC | libc::FAN_NONBLOCK | libc::FAN_REPORT_DFID_NAME;
    let ev = (libc::O_RDONLY | libc::O_LARGEFILE | libc::O_CLOEXEC) as libc::c_uint;
    // SAFETY: plain syscall with flag arguments.
    let fd = unsafe { libc::fanotify_init(flags, ev) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fanotify_init returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[allow(unsafe_code)]
fn mark(fd: &OwnedFd, path: &[u8]) -> io::Result<()> {
    let c =
        std::ffi::CString::new(path).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let flags = libc::FAN_MARK_ADD | libc::FAN_MARK_FILESYSTEM;
    // SAFETY: `c` is a NUL-terminated path that lives through the call.
    let r = unsafe { libc::fanotify_mark(fd.as_raw_fd(), flags, MASK, libc::AT_FDCWD, c.as_ptr()) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[allow(unsafe_code)]
fn fsid(f: &File) -> io::Result<[i32; 2]> {
    // SAFETY: statfs is plain old data; zeroes are a valid value.
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `s` is a valid statfs to fill; the descriptor is open.
    if unsafe { libc::fstatfs(f.as_raw_fd(), &mut s) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fsid_t is two i32 with no padding.
    Ok(unsafe { std::mem::transmute::<libc::fsid_t, [i32; 2]>(s.f_fsid) })
}

/// Opens the directory of a `struct file_handle` (as the event holds it) with `O_PATH`.
#[allow(unsafe_code)]
fn open_handle(mount: std::os::fd::BorrowedFd<'_>, handle: &[u8]) -> io::Result<OwnedFd> {
    // Aligned copy: the event's bytes are not aligned for `struct file_handle`.
    let mut words = vec![0u32; handle.len().div_ceil(4)];
    for (w, c) in words.iter_mut().zip(handle.chunks(4)) {
        let mut b = [0u8; 4];
        b[..c.len()].copy_from_slice(c);
        *w = u32::from_ne_bytes(b);
    }
    // SAFETY: `words` holds a whole file_handle (header and `handle_bytes` bytes, as the
    // kernel wrote them) in memory aligned for it, alive through the call.
    let fd = unsafe {
        libc::open_by_handle_at(
            mount.as_raw_fd(),
            words.as_mut_ptr().cast(),
            libc::O_PATH | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[allow(unsafe_code)]
fn close(fd: i32) {
    // SAFETY: the kernel gave this descriptor to us with the event; nothing else has it.
    drop(unsafe { OwnedFd::from_raw_fd(fd) });
}
