//! Hashing on all cores by a bounded worker pool, with results handed back in walk order.
//!
//! One thread walks and stats; `workers` threads open and hash regular files; the caller
//! consumes [`Scanned`] items in record order. Every queue is bounded, so memory does
//! not grow with the tree, and the caller dropping the iterator stops the threads.

use std::collections::HashMap;
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
/// Files queued for hashing at most; bounds memory and the reorder window.
const JOB_QUEUE: usize = 512;
/// Entries queued for the consumer at most.
const ORDER_QUEUE: usize = 2048;

enum Slot {
    Ready(WalkItem),
    Pending(u64, WalkItem),
}

struct Job {
    seq: u64,
    path: Vec<u8>,
    dev: u64,
    inode: u64,
}

struct Done {
    seq: u64,
    result: HashResult,
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
    let (order_tx, order_rx) = bounded::<Slot>(ORDER_QUEUE);
    let (job_tx, job_rx) = bounded::<Job>(JOB_QUEUE);
    let (done_tx, done_rx) = unbounded::<Done>();
    let alg = spec.algorithm;
    for _ in 0..workers.max(1) {
        let (jobs, done) = (job_rx.clone(), done_tx.clone());
        thread::spawn(move || worker(alg, jobs, done));
    }
    drop(done_tx);
    thread::spawn(move || {
        let mut seq = 0u64;
        for item in Walker::new(&spec) {
            let slot = if item.hash {
                let job = Job {
                    seq,
                    path: item.entry.path.clone(),
                    dev: item.entry.meta.dev,
                    inode: item.entry.meta.inode,
                };
                if job_tx.send(job).is_err() {
                    return;
                }
                seq += 1;
                Slot::Pending(seq - 1, item)
            } else {
                Slot::Ready(item)
            };
            if order_tx.send(slot).is_err() {
                return;
            }
        }
    });
    Ordered {
        order_rx,
        done_rx,
        stash: HashMap::new(),
    }
}

struct Ordered {
    order_rx: Receiver<Slot>,
    done_rx: Receiver<Done>,
    stash: HashMap<u64, HashResult>,
}

impl Iterator for Ordered {
    type Item = Scanned;

    fn next(&mut self) -> Option<Scanned> {
        match self.order_rx.recv().ok()? {
            Slot::Ready(item) => Some(Scanned {
                entry: item.entry,
                unseen: item.unseen,
                problem: item.problem,
            }),
            Slot::Pending(seq, item) => {
                let result = loop {
                    if let Some(r) = self.stash.remove(&seq) {
                        break r;
                    }
                    let done = self.done_rx.recv().ok()?;
                    self.stash.insert(done.seq, done.result);
                };
                Some(finish(item, result))
            }
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

fn worker(alg: Algorithm, jobs: Receiver<Job>, done: Sender<Done>) {
    let mut buf = vec![0u8; READ_BUF];
    for job in jobs {
        let result = hash_file(alg, &job, &mut buf);
        if done
            .send(Done {
                seq: job.seq,
                result,
            })
            .is_err()
        {
            return;
        }
    }
}

fn hash_file(alg: Algorithm, job: &Job, buf: &mut [u8]) -> HashResult {
    // O_NOFOLLOW: a file swapped for a symlink is not followed. O_NONBLOCK: a file
    // swapped for a FIFO does not hang the open.
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(OsStr::from_bytes(&job.path))
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
        || before.ino() != job.inode
        || before.dev() != job.dev
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
