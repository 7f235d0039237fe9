//! A depth-first walk whose output is in the core's record order (`fim::path_cmp`):
//! each directory's entries are read whole and sorted by their name bytes.
//!
//! Memory is bounded by the largest directory times the depth, not by the tree.

use std::ffi::OsStr;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;

use homeostat_core::fim::entry::FLAG_UNREADABLE;
use homeostat_core::fim::{Attr, Entry, Kind, Meta, Timestamp};

use crate::tree::TreeSpec;
use crate::xattr;

/// Why an item carries a path but no record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unseen {
    /// The tree's root does not exist: everything below it is gone.
    Missing,
    /// It exists but could not be examined (too long a path, I/O error): what the
    /// baseline says of it and below it is unknown, not changed.
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
    /// Something went wrong reading it (its directory could not be listed, its xattrs
    /// could not be read); the entry is still recorded.
    pub problem: Option<String>,
}

struct Frame {
    path: Vec<u8>,
    /// Entry names with their lstat, taken relative to the open directory (cheaper than
    /// resolving every full path again).
    names: Vec<(Vec<u8>, io::Result<Metadata>)>,
    next: usize,
    /// Depth of this directory's entries (the root's entries are at 1).
    depth: u32,
}

/// Iterator over a tree's entries in record order.
pub struct Walker<'a> {
    spec: &'a TreeSpec,
    stack: Vec<Frame>,
    root_dev: Option<u64>,
    root_pending: bool,
}

impl<'a> Walker<'a> {
    pub fn new(spec: &'a TreeSpec) -> Walker<'a> {
        Walker {
            spec,
            stack: Vec::new(),
            root_dev: None,
            root_pending: true,
        }
    }

    fn descend(&self, depth: u32, meta: &Meta) -> bool {
        meta.kind == Kind::Dir
            && self.spec.depth.is_none_or(|max| depth < max)
            && (!self.spec.xdev || self.root_dev.is_none_or(|d| d == meta.dev))
    }

    /// Builds the item for `path`, pushing a frame for a directory to enter.
    fn visit(
        &mut self,
        path: Vec<u8>,
        depth: u32,
        md: Option<io::Result<Metadata>>,
    ) -> Option<WalkItem> {
        let md = match md.unwrap_or_else(|| fs::symlink_metadata(OsStr::from_bytes(&path))) {
            Ok(md) => md,
            // Vanished between listing and stat: it simply is not there any more.
            Err(e) if e.kind() == io::ErrorKind::NotFound && depth > 0 => return None,
            Err(e) => {
                let (unseen, problem) = if e.kind() == io::ErrorKind::NotFound {
                    (Unseen::Missing, String::from("does not exist"))
                } else {
                    (Unseen::Unknown, format!("cannot stat: {e}"))
                };
                return Some(WalkItem {
                    entry: Entry {
                        path,
                        target: None,
                        meta: Meta::empty(Kind::File),
                    },
                    unseen: Some(unseen),
                    hash: false,
                    problem: Some(problem),
                });
            }
        };
        let mut item = item_from(
            path,
            &md,
            self.spec.attrs.contains(Attr::Xattrs),
            self.spec.attrs.contains(Attr::Content),
        );
        if depth == 0 {
            self.root_dev = Some(item.entry.meta.dev);
        }
        if self.descend(depth, &item.entry.meta) {
            match list(&item.entry.path) {
                Ok(names) => self.stack.push(Frame {
                    path: item.entry.path.clone(),
                    names,
                    next: 0,
                    depth: depth + 1,
                }),
                Err(e) => {
                    item.entry.meta.flags |= FLAG_UNREADABLE;
                    item.problem = Some(format!("cannot list directory: {e}"));
                }
            }
        }
        Some(item)
    }
}

impl Iterator for Walker<'_> {
    type Item = WalkItem;

    fn next(&mut self) -> Option<WalkItem> {
        if self.root_pending {
            self.root_pending = false;
            return self.visit(self.spec.root.clone(), 0, None);
        }
        loop {
            let frame = self.stack.last_mut()?;
            if frame.next == frame.names.len() {
                self.stack.pop();
                continue;
            }
            let (name, md) = std::mem::replace(
                &mut frame.names[frame.next],
                (Vec::new(), Err(io::Error::from(io::ErrorKind::NotFound))),
            );
            frame.next += 1;
            let mut path = Vec::with_capacity(frame.path.len() + 1 + name.len());
            path.extend_from_slice(&frame.path);
            if path.last() != Some(&b'/') {
                path.push(b'/');
            }
            path.extend_from_slice(&name);
            let depth = frame.depth;
            if self.spec.exclude.matches(&path, &name) {
                continue;
            }
            if let Some(item) = self.visit(path, depth, Some(md)) {
                return Some(item);
            }
        }
    }
}

fn list(dir: &[u8]) -> io::Result<Vec<(Vec<u8>, io::Result<Metadata>)>> {
    let mut names = Vec::new();
    for de in fs::read_dir(OsStr::from_bytes(dir))? {
        let de = de?;
        // DirEntry::metadata is an lstat relative to the directory (never follows links).
        names.push((de.file_name().as_bytes().to_vec(), de.metadata()));
    }
    names.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(names)
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

fn item_from(path: Vec<u8>, md: &Metadata, want_xattrs: bool, want_content: bool) -> WalkItem {
    let meta = meta_from(md);
    let mut problem = None;
    let target = if meta.kind == Kind::Symlink {
        match fs::read_link(OsStr::from_bytes(&path)) {
            Ok(t) => Some(t.as_os_str().as_bytes().to_vec()),
            Err(e) => {
                problem = Some(format!("cannot read link: {e}"));
                None
            }
        }
    } else {
        None
    };
    let mut entry = Entry { path, target, meta };
    if want_xattrs {
        match xattr::digest(&entry.path) {
            Ok(d) => entry.meta.xattrs = d,
            Err(e) => problem = Some(format!("cannot read extended attributes: {e}")),
        }
    }
    WalkItem {
        unseen: None,
        hash: want_content && entry.meta.kind == Kind::File,
        entry,
        problem,
    }
}
