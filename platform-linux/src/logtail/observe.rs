//! Observing a log: `stat` of its path, and the rotated files beside it (`LOG.1`,
//! `LOG.2.gz`, `LOG-20240101`), listed, opened and ordered oldest first, listed twice to
//! tell a settled observation from one made during a rotation.
//!
//! Files are opened `O_NONBLOCK` (so a FIFO swapped in after the `stat` cannot block)
//! and checked with `fstat` before a byte is read: a FIFO, directory, device or socket is
//! never read. Rotated files are opened when listed, so a rename while the rules decide
//! does not change what an index means.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use homeostat_core::fim::Kind as FileKind;
use homeostat_core::logscan::{Candidate, Mtime, Node, Stat};

use super::read::head_bytes;

/// At most this many rotated files of one log are considered (the newest).
pub const MAX_CANDIDATES: usize = 32;

/// A rotated file beside the log, opened.
pub struct Rotated {
    pub path: PathBuf,
    pub(super) file: File,
    pub cand: Candidate,
}

/// The log and its rotated files as found.
pub struct Observation {
    pub node: Node,
    pub(super) current: Option<File>,
    /// Oldest first.
    pub rotated: Vec<Rotated>,
    /// The current file's first line (see [`homeostat_core::logscan::position::head`]) once
    /// the rotated files were listed, and its modification time then: the generation of the
    /// log the listing leads to. Lines read from the current file are that generation's
    /// only while it still begins so.
    pub(super) live_head: Vec<u8>,
    pub(super) live_mtime: Mtime,
    /// No rotated file appeared, vanished or changed its name while the directory was
    /// listed and the current file looked at (a listing made during a rotation can miss a
    /// generation, or hold one twice), and the current file's head and size agreed.
    pub(super) settled: bool,
}

impl Observation {
    pub fn candidates(&self) -> Vec<Candidate> {
        self.rotated.iter().map(|r| r.cand).collect()
    }
}

fn stat_of(m: &std::fs::Metadata) -> Stat {
    Stat {
        dev: m.dev(),
        ino: m.ino(),
        size: m.size(),
        mtime: Mtime {
            sec: m.mtime(),
            nsec: m.mtime_nsec().clamp(0, 999_999_999) as u32,
        },
    }
}

fn special_kind(t: std::fs::FileType) -> FileKind {
    if t.is_dir() {
        FileKind::Dir
    } else if t.is_fifo() {
        FileKind::Fifo
    } else if t.is_socket() {
        FileKind::Socket
    } else if t.is_block_device() {
        FileKind::BlockDevice
    } else if t.is_char_device() {
        FileKind::CharDevice
    } else if t.is_symlink() {
        FileKind::Symlink
    } else {
        FileKind::File
    }
}

/// Opens a regular file without blocking and without a controlling terminal; `None` when
/// what was opened is not a regular file.
fn open_regular(path: &Path, nofollow: bool) -> io::Result<Option<(File, Stat)>> {
    let mut flags = libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
    if nofollow {
        flags |= libc::O_NOFOLLOW;
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)?;
    let m = f.metadata()?;
    Ok(m.is_file().then(|| (f, stat_of(&m))))
}

/// `stat`s the log (following a symlink: a log may be one) and opens it if it is a regular
/// file; lists and opens its rotated files; then takes the current file's head and time and
/// lists the rotated files again, to tell whether the observation is settled.
pub fn observe(path: &Path) -> io::Result<Observation> {
    let (node, current) = match std::fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => (Node::Missing, None),
        Err(e) => return Err(e),
        Ok(m) if !m.is_file() => (Node::Special(special_kind(m.file_type())), None),
        Ok(_) => match open_regular(path, false) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => (Node::Missing, None),
            Err(e) => return Err(e),
            Ok(None) => {
                let m = std::fs::metadata(path)?;
                (Node::Special(special_kind(m.file_type())), None)
            }
            Ok(Some((f, s))) => (Node::Regular(s), Some(f)),
        },
    };
    let (rotated, listed) = rotated(path)?;
    let (live_head, live_mtime, live_ok) = match &current {
        Some(f) => live(f)?,
        None => (Vec::new(), Mtime::default(), true),
    };
    let settled = live_ok && rotated_names(path)? == listed;
    Ok(Observation {
        node,
        current,
        rotated,
        live_head,
        live_mtime,
        settled,
    })
}

/// The head and modification time of the current file; false when they did not agree
/// (it was written, truncated or still had its first line written while being looked at).
fn live(f: &File) -> io::Result<(Vec<u8>, Mtime, bool)> {
    let h0 = head_bytes(f)?;
    let m = f.metadata()?;
    let h1 = head_bytes(f)?;
    let ok = h0 == h1 && h1.is_empty() == (m.size() == 0);
    Ok((h1, stat_of(&m).mtime, ok))
}

/// Every name beside the log that is a rotation of it, with the device and inode of the
/// regular file it names now (`None`: not a regular file, or gone), sorted by name.
type Listing = Vec<(Vec<u8>, Option<(u64, u64)>)>;

/// The directory and base name of a log (`.` for a bare name).
fn dir_and_base(log: &Path) -> Option<(&Path, &OsStr)> {
    let (dir, base) = (log.parent()?, log.file_name()?);
    Some(if dir.as_os_str().is_empty() {
        (Path::new("."), base)
    } else {
        (dir, base)
    })
}

/// The rotated names of `log` as they are now (see [`Listing`]).
fn rotated_names(log: &Path) -> io::Result<Listing> {
    let mut out: Listing = rotation_entries(log)?
        .into_iter()
        .map(|RotationEntry { name, path, .. }| {
            let what = std::fs::symlink_metadata(path)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| (m.dev(), m.ino()));
            (name, what)
        })
        .collect();
    out.sort();
    Ok(out)
}

/// An entry beside a log whose name is a rotation of it (see [`rotated_name`]).
struct RotationEntry {
    name: Vec<u8>,
    number: Option<u64>,
    gz: bool,
    path: PathBuf,
}

/// The entries beside `log` whose names are rotations of it. A directory that can be
/// searched but not listed, or is gone, has none.
fn rotation_entries(log: &Path) -> io::Result<Vec<RotationEntry>> {
    let Some((dir, base)) = dir_and_base(log) else {
        return Ok(Vec::new());
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
            ) =>
        {
            return Ok(Vec::new())
        }
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if let Some((number, gz)) = rotated_name(base.as_bytes(), name.as_bytes()) {
            out.push(RotationEntry {
                name: name.as_bytes().to_vec(),
                number,
                gz,
                path: dir.join(&name),
            });
        }
    }
    Ok(out)
}

/// What a rotated name says: its generation number (`LOG.3`, `LOG.3.gz`) if it has one,
/// and whether it is compressed. `None` for names that are not a rotation of `base`.
pub fn rotated_name(base: &[u8], name: &[u8]) -> Option<(Option<u64>, bool)> {
    let rest = name.strip_prefix(base)?;
    let (rest, gz) = match rest.strip_suffix(b".gz") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let (sep, tail) = rest.split_first()?;
    if !matches!(sep, b'.' | b'-')
        || !tail.first().is_some_and(u8::is_ascii_digit)
        || !tail
            .iter()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
    {
        return None;
    }
    let number = (*sep == b'.' && tail.iter().all(u8::is_ascii_digit))
        .then(|| std::str::from_utf8(tail).ok()?.parse().ok())
        .flatten();
    Some((number, gz))
}

/// The rotated files of `log`, oldest first: by generation number when every name has
/// one (`LOG.1` is newer than `LOG.2.gz`), else by modification time, then name; and the
/// listing they were found in (see [`Listing`]).
fn rotated(log: &Path) -> io::Result<(Vec<Rotated>, Listing)> {
    let mut found: Vec<(Option<u64>, Vec<u8>, Rotated)> = Vec::new();
    let mut listed: Listing = Vec::new();
    for RotationEntry {
        name,
        number,
        gz,
        path,
    } in rotation_entries(log)?
    {
        // Never followed: a rotated file is a regular file in this directory.
        let Ok(Some((file, stat))) = open_regular(&path, true) else {
            listed.push((name, None));
            continue;
        };
        listed.push((name.clone(), Some((stat.dev, stat.ino))));
        found.push((
            number,
            name,
            Rotated {
                path,
                file,
                cand: Candidate {
                    stat,
                    compressed: gz,
                },
            },
        ));
    }
    // `LOG.1` beside `LOG.1.gz`: gzip is still writing (or died): the plain file holds it.
    let plain: Vec<Vec<u8>> = found
        .iter()
        .filter(|f| !f.2.cand.compressed)
        .map(|f| f.1.clone())
        .collect();
    found.retain(|f| {
        !f.2.cand.compressed || !plain.iter().any(|p| f.1.strip_suffix(b".gz") == Some(p))
    });
    if found.iter().all(|(n, _, _)| n.is_some()) {
        found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    } else {
        found.sort_by(|a, b| {
            a.2.cand
                .stat
                .mtime
                .cmp(&b.2.cand.stat.mtime)
                .then_with(|| a.1.cmp(&b.1))
        });
    }
    let skip = found.len().saturating_sub(MAX_CANDIDATES);
    listed.sort();
    Ok((
        found.into_iter().skip(skip).map(|(_, _, r)| r).collect(),
        listed,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_names() {
        let b = b"auth.log";
        assert_eq!(rotated_name(b, b"auth.log.1"), Some((Some(1), false)));
        assert_eq!(rotated_name(b, b"auth.log.12.gz"), Some((Some(12), true)));
        assert_eq!(rotated_name(b, b"auth.log-20240101"), Some((None, false)));
        assert_eq!(rotated_name(b, b"auth.log-20240101.gz"), Some((None, true)));
        assert_eq!(rotated_name(b, b"auth.log.2024-01-01"), Some((None, false)));
        for no in [
            &b"auth.log"[..],
            b"auth.log.gz",
            b"auth.log.bak",
            b"auth.log.1.xz",
            b"auth.logx.1",
            b"auth.log.1.gz.tmp",
            b"xauth.log.1",
        ] {
            assert_eq!(rotated_name(b, no), None, "{}", String::from_utf8_lossy(no));
        }
    }
}
