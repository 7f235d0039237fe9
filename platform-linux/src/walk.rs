//! A depth-first walk whose output is in the core's record order (`fim::path_cmp`):
//! each directory's entries are read whole and sorted by their name bytes.
//!
//! Every object below the root is reached relative to its directory's descriptor
//! (`openat`, `fstatat`, `readlinkat`; extended attributes through
//! `/proc/self/fd/N/name`), never by its full path, so a tree deeper than `PATH_MAX` is
//! walked to its bottom. Descriptors are bounded: the root's and those of the
//! [`KEEP_FDS`] deepest directories stay open; a shallower one needed again (to go on
//! with its next entry after a deep subtree) is reopened from the nearest open ancestor,
//! component by component, each checked to be the same directory (device and inode) the
//! walk entered. Going back up, a closed directory is reopened as `..` of its child
//! (checked the same way), so a deep walk costs one reopening a level; a `..` that is not
//! the directory entered (a subtree moved meanwhile) falls back to the walk down.
//!
//! Memory is one path buffer plus, per directory on the way down, its sorted names
//! ([`names::Names`]: name bytes plus five bytes an entry), not the tree.

use std::ffi::{CStr, CString};
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

use homeostat_core::fim::entry::FLAG_UNREADABLE;
use homeostat_core::fim::{Attr, Entry, Kind, Meta, Timestamp};
use rustix::fs::{AtFlags, Mode, OFlags, Stat, CWD};

use crate::tree::TreeSpec;
use crate::xattr;

pub mod names;
use names::Names;

/// Directory descriptors kept open below the root; deeper walks reopen.
pub const KEEP_FDS: usize = 16;
const _: () = assert!(KEEP_FDS > 1);

/// Paths this long or longer cannot be opened by name (Linux `PATH_MAX`, with its NUL):
/// a file below them is opened by the walk, relative to its directory, for hashing.
pub const OPEN_BY_PATH_MAX: usize = libc::PATH_MAX as usize;

/// Why an item carries a path but no record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unseen {
    /// The tree's root does not exist: everything below it is gone.
    Missing,
    /// It exists but could not be examined (an I/O error, its directory could not be
    /// reopened): what the baseline says of it and below it is unknown, not changed.
    Unknown,
}

/// One object found by the walk, before its content is hashed.
#[derive(Debug)]
pub struct WalkItem {
    pub entry: Entry<Vec<u8>>,
    /// Set when `entry` holds only the path: nothing could be recorded.
    pub unseen: Option<Unseen>,
    /// A regular file whose content must be hashed.
    pub hash: bool,
    /// The file to hash, opened relative to its directory, when its path is too long to
    /// open by name ([`OPEN_BY_PATH_MAX`]); the consumer hashes it at once (one such
    /// descriptor at a time). Not yet checked to be the object `entry` describes.
    pub opened: Option<Result<File, io::Error>>,
    /// Something went wrong reading it (its directory could not be listed, its xattrs
    /// could not be read); the entry is still recorded.
    pub problem: Option<String>,
}

struct Frame {
    /// Length of the walker's path buffer holding this directory's path.
    path_len: usize,
    /// `None` once closed to bound descriptors (reopened when needed again).
    dir: Option<OwnedFd>,
    dev: u64,
    ino: u64,
    names: Names,
    next: usize,
    /// Depth of this directory's entries (the root's entries are at 1).
    depth: u32,
    /// The directory could not be reopened: its remaining entries are unknown.
    lost: Option<String>,
}

/// Iterator over a tree's entries in record order.
pub struct Walker<'a> {
    spec: &'a TreeSpec,
    stack: Vec<Frame>,
    /// The path of the entry last visited; each frame's path is a prefix of it.
    path: Vec<u8>,
    root_dev: Option<u64>,
    root_pending: bool,
}

impl<'a> Walker<'a> {
    pub fn new(spec: &'a TreeSpec) -> Walker<'a> {
        Walker {
            spec,
            stack: Vec::new(),
            path: Vec::new(),
            root_dev: None,
            root_pending: true,
        }
    }

    /// Directory descriptors this walk holds now (for tests of the bound).
    pub fn open_dirs(&self) -> usize {
        self.stack.iter().filter(|f| f.dir.is_some()).count()
    }

    fn descend(&self, depth: u32, meta: &Meta) -> bool {
        meta.kind == Kind::Dir
            && self.spec.depth.is_none_or(|max| depth < max)
            && (!self.spec.xdev || self.root_dev.is_none_or(|d| d == meta.dev))
    }

    fn root(&mut self) -> Option<WalkItem> {
        self.path = self.spec.root.clone();
        let Ok(cpath) = CString::new(self.path.clone()) else {
            return Some(unseen(
                self.path.clone(),
                Unseen::Unknown,
                String::from("cannot stat: the path holds a NUL byte"),
            ));
        };
        if self.path.len() < OPEN_BY_PATH_MAX {
            return self.visit(CWD, &cpath, 0);
        }
        // Too long to name whole (a real-time check or a restore deep in a tree): its
        // parent is reached a few thousand bytes at a time.
        let (parent, name) = match split_parent(&self.path) {
            Some((parent, name)) => (open_long(parent), name),
            None => (Err(io::Error::from(io::ErrorKind::InvalidInput)), &b""[..]),
        };
        let name = CString::new(name).expect("no NUL: checked above");
        match parent {
            Ok(fd) => self.visit(fd.as_fd(), &name, 0),
            Err(e) => Some(unseen(
                self.path.clone(),
                Unseen::Unknown,
                format!("cannot open its directory: {e}"),
            )),
        }
    }

    /// Builds the item for the object `name` in `dir` (whose path is in the buffer),
    /// pushing a frame for a directory to enter.
    fn visit(&mut self, dir: BorrowedFd<'_>, name: &CStr, depth: u32) -> Option<WalkItem> {
        let st = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            // Vanished between listing and stat: it simply is not there any more.
            Err(rustix::io::Errno::NOENT) if depth > 0 => return None,
            Err(e) => {
                let e = io::Error::from(e);
                let (u, problem) = if e.kind() == io::ErrorKind::NotFound {
                    (Unseen::Missing, String::from("does not exist"))
                } else {
                    (Unseen::Unknown, format!("cannot stat: {e}"))
                };
                return Some(unseen(self.path.clone(), u, problem));
            }
        };
        let meta = meta_from_stat(&st);
        if depth == 0 {
            self.root_dev = Some(meta.dev);
        }
        let mut item = self.item(dir, name, meta);
        if self.descend(depth, &item.entry.meta) {
            let opened = open_dir(dir, name, st.st_dev as u64, st.st_ino as u64)
                .and_then(|fd| Ok((Names::read(&fd)?, fd)));
            match opened {
                Ok((names, fd)) => self.push(Frame {
                    path_len: self.path.len(),
                    dir: Some(fd),
                    dev: item.entry.meta.dev,
                    ino: item.entry.meta.inode,
                    names,
                    next: 0,
                    depth: depth + 1,
                    lost: None,
                }),
                Err(e) => {
                    item.entry.meta.flags |= FLAG_UNREADABLE;
                    item.problem = Some(format!("cannot list directory: {e}"));
                }
            }
        }
        Some(item)
    }

    /// The record of `name` in `dir` from its lstat: link target, xattrs, and the file
    /// opened for hashing when its path is too long to be opened by name.
    fn item(&self, dir: BorrowedFd<'_>, name: &CStr, meta: Meta) -> WalkItem {
        let mut problem = None;
        let target = if meta.kind == Kind::Symlink {
            match rustix::fs::readlinkat(dir, name, Vec::new()) {
                Ok(t) => Some(t.into_bytes()),
                Err(e) => {
                    problem = Some(format!("cannot read link: {}", io::Error::from(e)));
                    None
                }
            }
        } else {
            None
        };
        let path = self.path.clone();
        let mut entry = Entry { path, target, meta };
        if self.spec.attrs.contains(Attr::Xattrs) {
            match xattr::digest(&at_path(dir, name)) {
                Ok(d) => entry.meta.xattrs = d,
                Err(e) => problem = Some(format!("cannot read extended attributes: {e}")),
            }
        }
        let hash = self.spec.attrs.contains(Attr::Content) && entry.meta.kind == Kind::File;
        let opened = (hash && entry.path.len() >= OPEN_BY_PATH_MAX).then(|| {
            rustix::fs::openat(
                dir,
                name,
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map(File::from)
            .map_err(io::Error::from)
        });
        WalkItem {
            unseen: None,
            hash,
            opened,
            entry,
            problem,
        }
    }

    /// Pushes a frame and closes the descriptor that falls out of the kept window.
    fn push(&mut self, frame: Frame) {
        self.stack.push(frame);
        if let Some(i) = self.stack.len().checked_sub(KEEP_FDS + 1) {
            if i > 0 {
                self.stack[i].dir = None;
            }
        }
    }

    /// Reopens the top frame's directory from its nearest open ancestor, component by
    /// component, checking each is the directory the walk entered.
    fn reopen_top(&mut self) -> io::Result<()> {
        let top = self.stack.len() - 1;
        let base = (0..top)
            .rev()
            .find(|&i| self.stack[i].dir.is_some())
            .expect("the root's descriptor is kept");
        let mut cur: Option<OwnedFd> = None;
        for k in base + 1..=top {
            let mut start = self.stack[k - 1].path_len;
            if self.path.get(start) == Some(&b'/') {
                start += 1;
            }
            let comp = CString::new(&self.path[start..self.stack[k].path_len])
                .map_err(|_| io::Error::other("a path component holds a NUL byte"))?;
            let parent = match &cur {
                Some(fd) => fd.as_fd(),
                None => self.stack[base].dir.as_ref().expect("open").as_fd(),
            };
            cur = Some(open_dir(
                parent,
                &comp,
                self.stack[k].dev,
                self.stack[k].ino,
            )?);
        }
        self.stack[top].dir = cur;
        Ok(())
    }
}

impl Iterator for Walker<'_> {
    type Item = WalkItem;

    fn next(&mut self) -> Option<WalkItem> {
        if self.root_pending {
            self.root_pending = false;
            return self.root();
        }
        loop {
            let frame = self.stack.last()?;
            if frame.next == frame.names.len() {
                let done = self.stack.pop().expect("top");
                // Going up, a closed parent is reopened as `..` of the child (one call a
                // level, not a walk down from the root); checked like any reopening.
                if let (Some(parent), Some(fd)) = (self.stack.last_mut(), done.dir) {
                    if parent.dir.is_none() && parent.lost.is_none() {
                        parent.dir = open_dir(fd.as_fd(), c"..", parent.dev, parent.ino).ok();
                    }
                }
                continue;
            }
            if frame.dir.is_none() && frame.lost.is_none() {
                if let Err(e) = self.reopen_top() {
                    let frame = self.stack.last_mut().expect("top");
                    frame.lost = Some(format!("cannot reopen its directory: {e}"));
                }
            }
            let frame = self.stack.last_mut().expect("top");
            let i = frame.next;
            frame.next += 1;
            let (path_len, depth) = (frame.path_len, frame.depth);
            self.path.truncate(path_len);
            if self.path.last() != Some(&b'/') {
                self.path.push(b'/');
            }
            let frame = self.stack.last().expect("top");
            let name = frame.names.get(i);
            self.path.extend_from_slice(name.to_bytes());
            if self.spec.exclude.matches(&self.path, name.to_bytes()) {
                continue;
            }
            if let Some(lost) = &frame.lost {
                return Some(unseen(self.path.clone(), Unseen::Unknown, lost.clone()));
            }
            // The frame's names and descriptor are borrowed while `visit` may push a
            // frame: take them out for the call.
            let top = self.stack.len() - 1;
            let names = std::mem::take(&mut self.stack[top].names);
            let dir = self.stack[top].dir.take().expect("open or lost");
            let item = self.visit(dir.as_fd(), names.get(i), depth);
            // `visit` pushes at most one frame, which closes a descriptor KEEP_FDS (> 1)
            // frames down, never this one: it goes back.
            self.stack[top].names = names;
            self.stack[top].dir = Some(dir);
            if let Some(item) = item {
                return Some(item);
            }
        }
    }
}

/// Opens directory `name` in `dir` without following a link, and checks it is the object
/// (`dev`, `ino`) the walk saw there.
fn open_dir(dir: BorrowedFd<'_>, name: &CStr, dev: u64, ino: u64) -> io::Result<OwnedFd> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let st = rustix::fs::fstat(&fd)?;
    if st.st_dev as u64 != dev || st.st_ino as u64 != ino {
        return Err(io::Error::other("replaced while being walked"));
    }
    Ok(fd)
}

/// `path` split at its last `/` into its directory and its name (`None` for a path
/// without one, or ending in one).
fn split_parent(path: &[u8]) -> Option<(&[u8], &[u8])> {
    let slash = memchr::memrchr(b'/', path)?;
    let name = &path[slash + 1..];
    (!name.is_empty()).then(|| {
        (
            if slash == 0 {
                &b"/"[..]
            } else {
                &path[..slash]
            },
            name,
        )
    })
}

/// Opens the directory at `path`, however long: successive `openat`s of pieces shorter
/// than `PATH_MAX`, cut at a `/`. Symlinks on the way are followed, as resolving the
/// whole path would.
fn open_long(path: &[u8]) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let (first, mut rest) = if path.starts_with(b"/") {
        (&b"/"[..], &path[1..])
    } else {
        (&b"."[..], path)
    };
    let mut dir = rustix::fs::openat(CWD, first, flags, Mode::empty())?;
    while !rest.is_empty() {
        let cut = if rest.len() < OPEN_BY_PATH_MAX {
            rest.len()
        } else {
            memchr::memrchr(b'/', &rest[..OPEN_BY_PATH_MAX - 1])
                .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidFilename))?
        };
        dir = rustix::fs::openat(&dir, &rest[..cut], flags, Mode::empty())?;
        rest = rest[cut..].strip_prefix(b"/").unwrap_or(&rest[cut..]);
    }
    Ok(dir)
}

/// A short path naming `name` in `dir` for calls that have no `*at` form (xattrs): the
/// directory through its descriptor in `/proc/self/fd`, or `name` itself at the root.
fn at_path(dir: BorrowedFd<'_>, name: &CStr) -> Vec<u8> {
    use std::os::fd::AsRawFd;
    if dir.as_raw_fd() == CWD.as_raw_fd() {
        return name.to_bytes().to_vec();
    }
    let mut p = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    p.extend_from_slice(name.to_bytes());
    p
}

fn unseen(path: Vec<u8>, u: Unseen, problem: String) -> WalkItem {
    WalkItem {
        entry: Entry {
            path,
            target: None,
            meta: Meta::empty(Kind::File),
        },
        unseen: Some(u),
        hash: false,
        opened: None,
        problem: Some(problem),
    }
}

/// The record of one object from its lstat, without content.
pub fn meta_from(md: &Metadata) -> Meta {
    let kind = Kind::from_mode(md.mode()).unwrap_or(Kind::File);
    Meta {
        kind,
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        size: md.size(),
        mtime: Timestamp {
            sec: md.mtime(),
            nsec: md.mtime_nsec() as u32,
        },
        ctime: Timestamp {
            sec: md.ctime(),
            nsec: md.ctime_nsec() as u32,
        },
        inode: md.ino(),
        dev: md.dev(),
        nlink: md.nlink(),
        xattrs: None,
        content: None,
        flags: 0,
    }
}

/// [`meta_from`] of a raw `stat` (its field types differ by architecture, hence casts).
#[allow(clippy::unnecessary_cast)]
pub fn meta_from_stat(st: &Stat) -> Meta {
    let mode = st.st_mode as u32;
    Meta {
        kind: Kind::from_mode(mode).unwrap_or(Kind::File),
        mode: mode & 0o7777,
        uid: st.st_uid as u32,
        gid: st.st_gid as u32,
        size: st.st_size as u64,
        mtime: Timestamp {
            sec: st.st_mtime as i64,
            nsec: st.st_mtime_nsec as u32,
        },
        ctime: Timestamp {
            sec: st.st_ctime as i64,
            nsec: st.st_ctime_nsec as u32,
        },
        inode: st.st_ino as u64,
        dev: st.st_dev as u64,
        nlink: st.st_nlink as u64,
        xattrs: None,
        content: None,
        flags: 0,
    }
}

#[cfg(test)]
mod tests;
