//! Hashing on all cores by a bounded worker pool, with results handed back in walk order.
//!
//! One thread walks and stats; `workers` threads open and hash regular files; the caller
//! consumes [`Scanned`] items in record order. Every queue is bounded, so memory does
//! not grow with the tree, and the caller dropping the iterator stops the threads.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::thread;

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use homeostat_core::digest::{Algorithm, Hasher};
use homeostat_core::fim::entry::{FLAG_UNREADABLE, FLAG_UNSTABLE};
use homeostat_core::fim::{Entry, Kind};

use crate::tree::TreeSpec;
pub use crate::walk::Unseen;
use crate::walk::{meta_from, WalkItem, Walker};

/// One entry of the tree, complete with its content digest, in record order.
#[derive(Debug)]
pub struct Scanned {
    pub entry: Entry<Vec<u8>>,
    /// Set when nothing could be recorded of `entry.path` (see [`Unseen`]).
    pub unseen: Option<Unseen>,
    /// What went wrong reading it, if anything (the entry is still valid, flagged).
    pub problem: Option<String>,
}

const READ_BUF: usize = 256 * 1024;
/// A batch is cut at this many entries or [`BATCH_BYTES`] of file content, whichever
/// comes first: few channel operations per file, yet big files spread over the workers.
const BATCH_ENTRIES: usize = 128;
const BATCH_BYTES: u64 = 4 << 20;
/// Batches walked but not yet consumed, at most: bounds memory and the reorder window.
const IN_FLIGHT: usize = 16;

struct Batch {
    seq: u64,
    items: Vec<WalkItem>,
}

struct Done {
    seq: u64,
    items: Vec<Scanned>,
}

enum HashResult {
    Ok {
        digest: homeostat_core::digest::Digest,
        stat: Box<Metadata>,
        unstable: bool,
    },
    Failed(io::Error),
    Replaced,
}

/// Walks `spec` and hashes its files with `workers` threads (at least 1).
pub fn scan(spec: TreeSpec, workers: usize) -> impl Iterator<Item = Scanned> {
    let (job_tx, job_rx) = bounded::<Batch>(IN_FLIGHT);
    let (done_tx, done_rx) = unbounded::<Done>();
    // One permit per batch in flight: the walker takes one before sending a batch, the
    // consumer returns it when the batch is used up. Workers never block.
    let (permit_tx, permit_rx) = bounded::<()>(IN_FLIGHT);
    let alg = spec.algorithm;
    for _ in 0..workers.max(1) {
        let (jobs, done) = (job_rx.clone(), done_tx.clone());
        thread::spawn(move || worker(alg, jobs, done));
    }
    drop(done_tx);
    thread::spawn(move || {
        let mut seq = 0u64;
        let mut items = Vec::with_capacity(BATCH_ENTRIES);
        let mut bytes = 0u64;
        let send = |seq: &mut u64, items: &mut Vec<WalkItem>| -> bool {
            let batch = Batch {
                seq: *seq,
                items: std::mem::replace(items, Vec::with_capacity(BATCH_ENTRIES)),
            };
            *seq += 1;
            permit_tx.send(()).is_ok() && job_tx.send(batch).is_ok()
        };
        for item in Walker::new(&spec) {
            if item.hash {
                bytes += item.entry.meta.size;
            }
            items.push(item);
            if items.len() >= BATCH_ENTRIES || bytes >= BATCH_BYTES {
                bytes = 0;
                if !send(&mut seq, &mut items) {
                    return;
                }
            }
        }
        if !items.is_empty() {
            send(&mut seq, &mut items);
        }
    });
    Ordered {
        done_rx,
        permit_rx,
        next: 0,
        stash: BTreeMap::new(),
        current: Vec::new().into_iter(),
    }
}

struct Ordered {
    done_rx: Receiver<Done>,
    permit_rx: Receiver<()>,
    next: u64,
    stash: BTreeMap<u64, Vec<Scanned>>,
    current: std::vec::IntoIter<Scanned>,
}

impl Iterator for Ordered {
    type Item = Scanned;

    fn next(&mut self) -> Option<Scanned> {
        loop {
            if let Some(s) = self.current.next() {
                return Some(s);
            }
            let batch = loop {
                if let Some(b) = self.stash.remove(&self.next) {
                    break b;
                }
                // Disconnected with nothing stashed: the walk is over.
                let done = self.done_rx.recv().ok()?;
                self.stash.insert(done.seq, done.items);
            };
            self.next += 1;
            let _ = self.permit_rx.try_recv();
            self.current = batch.into_iter();
        }
    }
}

fn worker(alg: Algorithm, jobs: Receiver<Batch>, done: Sender<Done>) {
    let mut buf = vec![0u8; READ_BUF];
    for batch in jobs {
        let items = batch
            .items
            .into_iter()
            .map(|item| {
                if item.hash {
                    let result = hash_file(alg, &item.entry, &mut buf);
                    finish(item, result)
                } else {
                    Scanned {
                        entry: item.entry,
                        unseen: item.unseen,
                        problem: item.problem,
                    }
                }
            })
            .collect();
        if done
            .send(Done {
                seq: batch.seq,
                items,
            })
            .is_err()
        {
            return;
        }
    }
}

fn finish(item: WalkItem, result: HashResult) -> Scanned {
    let WalkItem {
        mut entry,
        problem,
        unseen,
        ..
    } = item;
    let m = &mut entry.meta;
    let problem = match result {
        HashResult::Ok {
            digest,
            stat,
            unstable,
        } => {
            // The opened file's own stat, so that attributes and content describe the
            // same object even if it changed since the walk saw it.
            let fresh = meta_from(&stat);
            let xattrs = m.xattrs;
            *m = fresh;
            m.xattrs = xattrs;
            m.content = Some(digest);
            if unstable {
                m.flags |= FLAG_UNSTABLE;
                Some(String::from("changed while being read"))
            } else {
                problem
            }
        }
        HashResult::Failed(e) => {
            m.flags |= FLAG_UNREADABLE;
            Some(format!("cannot read: {e}"))
        }
        HashResult::Replaced => {
            m.flags |= FLAG_UNREADABLE | FLAG_UNSTABLE;
            Some(String::from("replaced while being read"))
        }
    };
    Scanned {
        entry,
        unseen,
        problem,
    }
}

fn hash_file(alg: Algorithm, entry: &Entry<Vec<u8>>, buf: &mut [u8]) -> HashResult {
    // O_NOFOLLOW: a file swapped for a symlink is not followed. O_NONBLOCK: a file
    // swapped for a FIFO does not hang the open.
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(OsStr::from_bytes(&entry.path))
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return HashResult::Replaced,
        Err(e) => return HashResult::Failed(e),
    };
    let before = match file.metadata() {
        Ok(m) => m,
        Err(e) => return HashResult::Failed(e),
    };
    if Kind::from_mode(before.mode()) != Some(Kind::File)
        || before.ino() != entry.meta.inode
        || before.dev() != entry.meta.dev
    {
        return HashResult::Replaced;
    }
    let mut hasher = Hasher::new(alg);
    let total = match read_all(&file, before.size(), &mut hasher, buf) {
        Ok(n) => n,
        Err(e) => return HashResult::Failed(e),
    };
    let after = match file.metadata() {
        Ok(m) => m,
        Err(e) => return HashResult::Failed(e),
    };
    let unstable = total != before.size()
        || after.size() != before.size()
        || (after.mtime(), after.mtime_nsec()) != (before.mtime(), before.mtime_nsec())
        || (after.ctime(), after.ctime_nsec()) != (before.ctime(), before.ctime_nsec());
    HashResult::Ok {
        digest: hasher.finalize(),
        stat: Box::new(before),
        unstable,
    }
}

/// Reads up to `size` bytes (the stat's size; a file that grows is caught by the
/// second stat), feeding the hasher. Returns the bytes read.
fn read_all(mut file: &File, size: u64, hasher: &mut Hasher, buf: &mut [u8]) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        let want = if total < size { buf.len() } else { 1 };
        let n = match file.read(&mut buf[..want]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(total);
        }
        hasher.update(&buf[..n]);
        total += n as u64;
        if total == size {
            // Common case: stop without a read that only confirms end of file; a file
            // that grew meanwhile shows in the second stat.
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Exclude;
    use homeostat_core::digest::digest;
    use homeostat_core::fim::{path_cmp, Attrs};
    use std::os::unix::fs::symlink;

    #[test]
    fn scan_is_ordered_and_hashes_match() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for i in 0..300u32 {
            let sub = root.join(format!("d{}", i % 7));
            std::fs::create_dir_all(&sub).unwrap();
            std::fs::write(
                sub.join(format!("f-{i}")),
                i.to_le_bytes().repeat(i as usize),
            )
            .unwrap();
        }
        std::fs::create_dir(root.join("d1-x")).unwrap();
        symlink("nowhere", root.join("dangling")).unwrap();
        std::fs::write(root.join("skip.swp"), b"x").unwrap();
        let spec = TreeSpec {
            root: root.as_os_str().as_bytes().to_vec(),
            algorithm: Algorithm::Sha256,
            attrs: Attrs::ALL,
            depth: None,
            xdev: false,
            exclude: Exclude::new(&["*.swp"]).unwrap(),
        };
        let items: Vec<Scanned> = scan(spec, 2).collect();
        assert_eq!(items.len(), 1 + 7 + 300 + 1 + 1);
        for w in items.windows(2) {
            assert!(path_cmp(&w[0].entry.path, &w[1].entry.path).is_lt());
        }
        for s in &items {
            assert!(s.problem.is_none(), "{:?}", s.problem);
            if s.entry.meta.kind == Kind::File {
                let data = std::fs::read(OsStr::from_bytes(&s.entry.path)).unwrap();
                assert_eq!(s.entry.meta.content, Some(digest(Algorithm::Sha256, &data)));
            }
        }
        let link = items
            .iter()
            .find(|s| s.entry.path.ends_with(b"/dangling"))
            .unwrap();
        assert_eq!(link.entry.target.as_deref(), Some(&b"nowhere"[..]));
    }

    #[test]
    fn depth_limits_descent() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/c"), b"").unwrap();
        let spec = |depth| TreeSpec {
            root: dir.path().as_os_str().as_bytes().to_vec(),
            algorithm: Algorithm::Sha256,
            attrs: Attrs::ALL,
            depth,
            xdev: true,
            exclude: Exclude::default(),
        };
        assert_eq!(scan(spec(Some(0)), 1).count(), 1);
        assert_eq!(scan(spec(Some(1)), 1).count(), 2);
        assert_eq!(scan(spec(None), 1).count(), 4);
    }
}
