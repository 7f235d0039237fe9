//! The oracle: what the file system says about an entry ([`Obj`], [`stat_obj`]) and
//! how two snapshots differ ([`diff`], [`Delta`]).

use std::collections::BTreeMap;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::OnceLock;

use crate::content::sha256_hex;
use crate::fs::list_xattrs;

/// The attributes of the contract, in report order.
pub const ATTRS: [&str; 12] = [
    "type", "mode", "uid", "gid", "size", "mtime", "ctime", "inode", "nlink", "target", "xattrs",
    "content",
];

/// One entry as the test sees it with `lstat`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Obj {
    pub kind: &'static str,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
    pub inode: u64,
    pub nlink: u64,
    pub target: Option<Vec<u8>>,
    pub xattrs: Option<Vec<(Vec<u8>, Vec<u8>)>>,
    /// `sha256:<hex>` for regular files.
    pub content: Option<String>,
}

/// Absolute path bytes → entry.
pub type Snapshot = BTreeMap<Vec<u8>, Obj>;

fn kind_name(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_symlink() {
        "symlink"
    } else if ft.is_dir() {
        "directory"
    } else if ft.is_file() {
        "file"
    } else if ft.is_fifo() {
        "fifo"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_char_device() {
        "char-device"
    } else {
        "block-device"
    }
}

/// `lstat` (and hash) one path. `prev` lets an unchanged file keep its digest.
pub fn stat_obj(path: &Path, prev: Option<&Obj>) -> Obj {
    stat_obj_inner(path, prev, prev.is_some())
}

fn hash_file(path: &Path) -> Option<String> {
    Some(format!(
        "sha256:{}",
        sha256_hex(&std::fs::read(path).expect("read"))
    ))
}

/// Digest of a file seen by a baseline snapshot (no previous one). The trees are
/// deterministic, so the same name, size and nanosecond mtime mean the same content
/// in every fixture of this process: hash it once (the test crate's SHA-256 is
/// unoptimised). Never used once a tampering may have happened: those snapshots have
/// a previous one and hash whatever is not provably unchanged.
fn baseline_digest(path: &Path, o: &Obj) -> Option<String> {
    type Key = (Vec<u8>, u64, (i64, i64));
    static MEMO: OnceLock<std::sync::Mutex<BTreeMap<Key, Option<String>>>> = OnceLock::new();
    let key = (
        path.file_name()
            .map(|n| n.as_bytes().to_vec())
            .unwrap_or_default(),
        o.size,
        o.mtime,
    );
    let memo = MEMO.get_or_init(Default::default);
    if let Some(d) = memo.lock().expect("memo").get(&key) {
        return d.clone();
    }
    let d = hash_file(path);
    memo.lock().expect("memo").insert(key, d.clone());
    d
}

pub(crate) fn stat_obj_inner(path: &Path, prev: Option<&Obj>, prev_given: bool) -> Obj {
    let md =
        std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("lstat {}: {e}", path.display()));
    let kind = kind_name(md.file_type());
    let mut o = Obj {
        kind,
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        size: md.size(),
        mtime: (md.mtime(), md.mtime_nsec()),
        ctime: (md.ctime(), md.ctime_nsec()),
        inode: md.ino(),
        nlink: md.nlink(),
        target: None,
        xattrs: list_xattrs(path),
        content: None,
    };
    if kind == "symlink" {
        o.target = Some(
            std::fs::read_link(path)
                .expect("readlink")
                .into_os_string()
                .into_vec(),
        );
    }
    if kind == "file" {
        let reuse = prev.filter(|p| {
            p.kind == "file"
                && p.inode == o.inode
                && p.size == o.size
                && p.mtime == o.mtime
                && p.ctime == o.ctime
        });
        o.content = match reuse {
            Some(p) => p.content.clone(),
            None if prev_given => hash_file(path),
            None => baseline_digest(path, &o),
        };
    }
    o
}

/// Per path: added, removed, or the attributes that differ (in report order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delta {
    Added,
    Removed,
    Changed(Vec<&'static str>),
}

/// The attributes in which two records of one path differ, as the contract defines them.
pub fn differing(o: &Obj, n: &Obj) -> Vec<&'static str> {
    let content = match (&o.content, &n.content) {
        (Some(a), Some(b)) => a != b,
        (None, None) => false,
        _ => true,
    };
    let d = [
        o.kind != n.kind,
        o.mode != n.mode,
        o.uid != n.uid,
        o.gid != n.gid,
        o.size != n.size,
        o.mtime != n.mtime,
        o.ctime != n.ctime,
        o.inode != n.inode,
        o.nlink != n.nlink,
        o.target != n.target,
        o.xattrs != n.xattrs,
        content,
    ];
    ATTRS
        .iter()
        .zip(d)
        .filter(|(_, x)| *x)
        .map(|(a, _)| *a)
        .collect()
}

pub fn diff(before: &Snapshot, after: &Snapshot) -> BTreeMap<Vec<u8>, Delta> {
    let mut out = BTreeMap::new();
    for (p, o) in before {
        match after.get(p) {
            None => {
                out.insert(p.clone(), Delta::Removed);
            }
            Some(n) => {
                let d = differing(o, n);
                if !d.is_empty() {
                    out.insert(p.clone(), Delta::Changed(d));
                }
            }
        }
    }
    for p in after.keys() {
        if !before.contains_key(p) {
            out.insert(p.clone(), Delta::Added);
        }
    }
    out
}
