//! Hashing on all cores by a bounded worker pool, with results handed back in walk order.
//!
//! One thread walks and stats; `workers` threads open and hash regular files; the caller
//! consumes [`Scanned`] items in record order. The entries between the walk and the
//! caller are bounded by a window, so memory does not grow with the tree, and the caller
//! dropping the iterator stops the threads. With SHA-256 each worker hashes several files
//! in step where the CPU has a kernel for it (module `lanes`: sixteen with AVX-512, two
//! with SHA-NI, eight with AVX2 alone).
//!
//! [`Pool`] is this walk behind [`homeostat_core::feed::FileSource`].

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

use crossbeam_channel::{unbounded, Receiver, Sender};
use homeostat_core::digest::lanes::{self as kernels, Kernel};
use homeostat_core::digest::{Algorithm, Digest, Hasher};
use homeostat_core::feed::{FileSource, Found};
use homeostat_core::fim::entry::{FLAG_UNREADABLE, FLAG_UNSTABLE};
use homeostat_core::fim::join::Live;
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

impl Found for Scanned {
    type Path = Vec<u8>;

    fn live(&self) -> Live<'_, Vec<u8>> {
        match self.unseen {
            None => Live::Seen(&self.entry),
            Some(u) => Live::Unseen {
                path: &self.entry.path,
                gone: u == Unseen::Missing,
            },
        }
    }

    fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }
}

/// The host's [`FileSource`]: each tree walked by one thread and hashed by a pool of
/// `workers` threads, handed back in record order ([`scan_with`]).
#[derive(Clone, Copy, Debug)]
pub struct Pool {
    workers: usize,
    engine: Engine,
}

impl Pool {
    /// A pool of `workers` hashing threads (at least 1) per walk, with the best engine.
    pub fn new(workers: usize) -> Pool {
        Pool::with_engine(workers, Engine::Best)
    }

    /// A pool of `workers` threads hashing with `engine`.
    pub fn with_engine(workers: usize, engine: Engine) -> Pool {
        Pool { workers, engine }
    }

    /// One worker per CPU this process may use (2 when that cannot be told).
    pub fn per_cpu() -> Pool {
        Pool::new(thread::available_parallelism().map_or(2, |n| n.get()))
    }
}

impl FileSource for Pool {
    type Tree = TreeSpec;
    type Item = Scanned;
    type Walk<'s> = Scan;

    fn walk(&mut self, tree: &TreeSpec) -> Scan {
        scan_with(tree.clone(), self.workers, self.engine)
    }
}

const READ_BUF: usize = 256 * 1024;
/// A batch is cut at this many entries or [`BATCH_BYTES`] of file content, whichever
/// comes first: few channel operations per file, yet big files spread over the workers.
const BATCH_ENTRIES: usize = 128;
const BATCH_BYTES: u64 = 4 << 20;
/// Entries walked but not yet consumed, at most: bounds memory and the reorder window.
/// An entry counts [`cost`] units: one, plus one per [`COST_BYTES`] of its path and link
/// target, so that entries deep in a tree (paths of tens of KiB) do not multiply it.
const WINDOW: usize = 2048;
/// Path and target bytes that one window unit stands for.
const COST_BYTES: usize = 512;

/// Window units of an entry in flight.
fn cost(e: &Entry<Vec<u8>>) -> usize {
    1 + (e.path.len() + e.target.as_ref().map_or(0, Vec::len)) / COST_BYTES
}
/// The window for sixteen- and eight-lane workers: it must hold many big files at once for
/// their lanes to be busy (a big file is about one entry in a hundred in a system tree); at
/// a few hundred bytes an entry it costs some 8 MiB more, on hosts big enough for AVX-512.
/// Two interleaved SHA-NI lanes keep the small window.
const WINDOW_LANES: usize = 16384;

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
        digest: Digest,
        stat: Box<Metadata>,
        unstable: bool,
    },
    Failed(io::Error),
    Replaced,
}

mod lanes;

/// How workers hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// Several files in step where the CPU and algorithm allow it (SHA-256 with the
    /// fastest kernel of [`kernels::best_kernel`]), else one at a time.
    Best,
    /// SHA-256 with this kernel where the CPU runs it (for benches and tests), else one at
    /// a time.
    Kernel(Kernel),
    /// One file at a time.
    OneAtATime,
}

/// The SHA-256 kernel of [`Engine::Best`]: [`kernels::best_kernel`], unless the
/// environment variable `HOMEOSTAT_SHA256_KERNEL` names another (`avx512x16`, `shanix2`,
/// `avx2x8`, or `one` for one file at a time) so that benches can compare them in one
/// run; a kernel this CPU cannot run falls back to one at a time. All give the same digests.
fn chosen_kernel() -> Option<Kernel> {
    let Some(name) = std::env::var_os("HOMEOSTAT_SHA256_KERNEL") else {
        return kernels::best_kernel();
    };
    Kernel::ALL
        .into_iter()
        .find(|k| name.as_bytes() == k.name().as_bytes())
        .filter(|&k| kernels::with(k).is_some())
}

/// Walks `spec` and hashes its files with `workers` threads (at least 1).
pub fn scan(spec: TreeSpec, workers: usize) -> Scan {
    scan_with(spec, workers, Engine::Best)
}

/// [`scan`] with a choice of hashing [`Engine`].
pub fn scan_with(spec: TreeSpec, workers: usize, engine: Engine) -> Scan {
    // Bounded by the window, not by the channels: the walker takes room for a batch's
    // entries before sending it, the consumer gives it back when the batch is used up.
    // Workers never block on sending.
    let (job_tx, job_rx) = unbounded::<Batch>();
    let (done_tx, done_rx) = unbounded::<Done>();
    let alg = spec.algorithm;
    let kernel = match (engine, alg) {
        (Engine::Best, Algorithm::Sha256) => chosen_kernel(),
        (Engine::Kernel(k), Algorithm::Sha256) => kernels::with(k).map(|_| k),
        _ => None,
    };
    let wide = matches!(kernel, Some(Kernel::Avx512x16 | Kernel::Avx2x8));
    let window = Arc::new(Window::new(if wide { WINDOW_LANES } else { WINDOW }));
    for _ in 0..workers.max(1) {
        let (jobs, done) = (job_rx.clone(), done_tx.clone());
        match kernel.and_then(kernels::with) {
            Some(x) => thread::spawn(move || lanes::worker(x, jobs, done)),
            None => thread::spawn(move || worker(alg, jobs, done)),
        };
    }
    drop(done_tx);
    let room = Arc::clone(&window);
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
            room.take(batch.items.iter().map(|i| cost(&i.entry)).sum())
                && job_tx.send(batch).is_ok()
        };
        let mut buf = Vec::new();
        for mut item in Walker::new(&spec) {
            if let Some(opened) = item.opened.take() {
                // Too long a path for a worker to open: hashed here, relative to its
                // directory, so that one such descriptor is open at a time.
                buf.resize(READ_BUF, 0);
                item = hashed_here(alg, item, opened, &mut buf);
            }
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
    Scan {
        done_rx,
        window,
        next: 0,
        stash: BTreeMap::new(),
        current: Vec::new().into_iter(),
    }
}

/// The object at `spec.root` alone, hashed on this thread: what a real-time check of
/// one path needs, without a walk's threads. `spec.depth` is ignored.
pub fn scan_one(spec: &TreeSpec) -> Option<Scanned> {
    let one = TreeSpec {
        depth: Some(0),
        ..spec.clone()
    };
    let mut item = Walker::new(&one).next()?;
    if let Some(opened) = item.opened.take() {
        let mut buf = vec![0u8; 64 * 1024];
        item = hashed_here(spec.algorithm, item, opened, &mut buf);
    }
    if !item.hash {
        return Some(Scanned {
            entry: item.entry,
            unseen: item.unseen,
            problem: item.problem,
        });
    }
    let mut buf = vec![0u8; 64 * 1024];
    let result = hash_file(spec.algorithm, &item.entry, &mut buf);
    Some(finish(item, result))
}

/// Room for entries in flight, shared by the walker (takes) and the consumer (gives).
struct Window {
    state: Mutex<WindowState>,
    freed: Condvar,
    cap: usize,
}

struct WindowState {
    used: usize,
    /// The consumer is gone: the walker stops.
    closed: bool,
}

impl Window {
    fn new(cap: usize) -> Window {
        Window {
            state: Mutex::new(WindowState {
                used: 0,
                closed: false,
            }),
            freed: Condvar::new(),
            cap,
        }
    }

    /// Waits for room for `n` entries (a batch larger than the window goes when it is
    /// empty); false when the consumer has gone.
    fn take(&self, n: usize) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while !s.closed && s.used > 0 && s.used + n > self.cap {
            s = self.freed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        s.used += n;
        !s.closed
    }

    fn give(&self, n: usize) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.used = s.used.saturating_sub(n);
        self.freed.notify_one();
    }

    fn close(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.closed = true;
        self.freed.notify_one();
    }
}

/// A walk in progress: its entries in record order. Dropping it stops the walk and its
/// workers.
pub struct Scan {
    done_rx: Receiver<Done>,
    window: Arc<Window>,
    next: u64,
    stash: BTreeMap<u64, Vec<Scanned>>,
    current: std::vec::IntoIter<Scanned>,
}

impl Iterator for Scan {
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
            self.window.give(batch.iter().map(|s| cost(&s.entry)).sum());
            self.current = batch.into_iter();
        }
    }
}

impl Drop for Scan {
    fn drop(&mut self) {
        self.window.close();
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
    match open_file(entry) {
        Ok((file, before)) => hash_opened(alg, file, before, buf),
        Err(result) => result,
    }
}

/// An item whose file the walk opened (relative to its directory), hashed now and handed
/// on as needing no more hashing.
fn hashed_here(
    alg: Algorithm,
    item: WalkItem,
    opened: io::Result<File>,
    buf: &mut [u8],
) -> WalkItem {
    let result = match opened
        .map_err(opening_failed)
        .and_then(|file| checked(file, &item.entry))
    {
        Ok((file, before)) => hash_opened(alg, file, before, buf),
        Err(result) => result,
    };
    let Scanned {
        entry,
        unseen,
        problem,
    } = finish(item, result);
    WalkItem {
        entry,
        unseen,
        hash: false,
        opened: None,
        problem,
    }
}

/// Hashes an open file checked to be the one the walk saw; `before` is its fstat.
fn hash_opened(alg: Algorithm, file: File, before: Metadata, buf: &mut [u8]) -> HashResult {
    let mut hasher = Hasher::new(alg);
    let total = match read_all(&file, before.size(), &mut hasher, buf) {
        Ok(n) => n,
        Err(e) => return HashResult::Failed(e),
    };
    settle(&file, before, total, hasher.finalize())
}

/// Opens the regular file the walk saw at `entry.path`, with its fstat; anything else
/// there now (a symlink, a FIFO, another inode) is an outcome, not a file to read.
fn open_file(entry: &Entry<Vec<u8>>) -> Result<(File, Metadata), HashResult> {
    // O_NOFOLLOW: a file swapped for a symlink is not followed. O_NONBLOCK: a file
    // swapped for a FIFO does not hang the open.
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(OsStr::from_bytes(&entry.path))
    {
        Ok(f) => f,
        Err(e) => return Err(opening_failed(e)),
    };
    checked(file, entry)
}

/// A failed open: a symlink where the file was (`O_NOFOLLOW`) is a replaced file.
fn opening_failed(e: io::Error) -> HashResult {
    if e.raw_os_error() == Some(libc::ELOOP) {
        HashResult::Replaced
    } else {
        HashResult::Failed(e)
    }
}

/// `file` with its fstat, when it is still the regular file (device, inode) that the walk
/// saw as `entry`; anything else is an outcome.
fn checked(file: File, entry: &Entry<Vec<u8>>) -> Result<(File, Metadata), HashResult> {
    let before = match file.metadata() {
        Ok(m) => m,
        Err(e) => return Err(HashResult::Failed(e)),
    };
    if Kind::from_mode(before.mode()) != Some(Kind::File)
        || before.ino() != entry.meta.inode
        || before.dev() != entry.meta.dev
    {
        return Err(HashResult::Replaced);
    }
    read_ahead(&file, before.size());
    Ok((file, before))
}

/// Above this size a file is declared sequential at open (the kernel doubles its read-ahead
/// window for it); a smaller file is one read already (the buffers are 64 KiB and more).
/// `POSIX_FADV_WILLNEED` of the first 8 MiB was tried too: cold, it cost 10 % more CPU and
/// 15 % more wall time on a virtio disk, so it is not asked.
const AHEAD_MIN: u64 = 128 * 1024;

/// Tells the kernel that `file` will be read from start to end (a hint: its failure changes
/// nothing).
fn read_ahead(file: &File, size: u64) {
    use std::os::fd::AsRawFd;
    if size < AHEAD_MIN {
        return;
    }
    // SAFETY: posix_fadvise only reads its integer arguments; `file` is open.
    #[allow(unsafe_code)]
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_SEQUENTIAL);
    }
}

/// The outcome of a file read to its end: `total` bytes that hash to `digest`, unstable
/// when the byte count or a second fstat disagrees with the first.
fn settle(file: &File, before: Metadata, total: u64, digest: Digest) -> HashResult {
    let after = match file.metadata() {
        Ok(m) => m,
        Err(e) => return HashResult::Failed(e),
    };
    let unstable = total != before.size()
        || after.size() != before.size()
        || (after.mtime(), after.mtime_nsec()) != (before.mtime(), before.mtime_nsec())
        || (after.ctime(), after.ctime_nsec()) != (before.ctime(), before.ctime_nsec());
    HashResult::Ok {
        digest,
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

    /// Every engine, and every kernel this CPU runs.
    fn engines() -> Vec<Engine> {
        let mut e = vec![Engine::Best, Engine::OneAtATime];
        for k in Kernel::ALL {
            if kernels::with(k).is_some() {
                e.push(Engine::Kernel(k));
            } else {
                eprintln!("{}: not on this CPU, not tested", k.name());
            }
        }
        e
    }

    #[test]
    fn scan_is_ordered_and_hashes_match() {
        for engine in engines() {
            ordered_and_hashes_match(engine);
        }
    }

    fn ordered_and_hashes_match(engine: Engine) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for i in 0..300u32 {
            let sub = root.join(format!("d{}", i % 7));
            std::fs::create_dir_all(&sub).unwrap();
            // Mostly small files; every 37th spans several lane buffers and ends
            // mid-block, so lanes start and finish at different steps.
            let len = if i % 37 == 5 { 200_000 + i * 13 } else { i * 4 };
            let data: Vec<u8> = (0..len).map(|b| (b * 7 + i) as u8).collect();
            std::fs::write(sub.join(format!("f-{i}")), data).unwrap();
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
        let items: Vec<Scanned> = scan_with(spec, 2, engine).collect();
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
    fn a_file_written_while_being_read_is_flagged() {
        for engine in engines() {
            let dir = tempfile::tempdir().unwrap();
            // Enough other files that sixteen-lane workers hash in step.
            for i in 0..20 {
                std::fs::write(dir.path().join(format!("f{i:02}")), vec![i as u8; 1 << 20])
                    .unwrap();
            }
            let growing = dir.path().join("growing");
            std::fs::write(&growing, vec![7u8; 4 << 20]).unwrap();
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let writer = {
                let (stop, path) = (stop.clone(), growing.clone());
                std::thread::spawn(move || {
                    use std::io::Write;
                    let mut f = OpenOptions::new().append(true).open(path).unwrap();
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        f.write_all(b"x").unwrap();
                    }
                })
            };
            let spec = TreeSpec {
                root: dir.path().as_os_str().as_bytes().to_vec(),
                algorithm: Algorithm::Sha256,
                attrs: Attrs::ALL,
                depth: None,
                xdev: false,
                exclude: Exclude::default(),
            };
            let items: Vec<Scanned> = scan_with(spec, 2, engine).collect();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            writer.join().unwrap();
            for s in &items {
                let unstable = s.entry.meta.flags & FLAG_UNSTABLE != 0;
                if s.entry.path.ends_with(b"/growing") {
                    assert!(unstable, "{engine:?}: growing file not flagged");
                    assert_eq!(s.problem.as_deref(), Some("changed while being read"));
                } else {
                    assert!(!unstable && s.problem.is_none(), "{engine:?}: {s:?}");
                }
            }
        }
    }

    /// The defect class: a file renamed over while it is hashed must never give the
    /// digest of one file with the attributes of the other. The hash reads the file the
    /// open returned and records that file's own fstat; a file renamed over before the
    /// open is another inode than the walk saw and is flagged, not hashed.
    #[test]
    fn a_file_replaced_while_being_hashed_keeps_digest_and_metadata_together() {
        let dir = tempfile::tempdir().unwrap();
        let (path, staged) = (dir.path().join("f"), dir.path().join("staged"));
        let old: Vec<u8> = (0..3 << 20).map(|i: u32| (i * 7) as u8).collect();
        let new = b"replacement".to_vec();
        std::fs::write(&path, &old).unwrap();
        let spec = TreeSpec {
            root: path.as_os_str().as_bytes().to_vec(),
            algorithm: Algorithm::Sha256,
            attrs: Attrs::ALL,
            depth: None,
            xdev: true,
            exclude: Exclude::default(),
        };
        let walked = Walker::new(&spec).next().unwrap();
        let old_ino = walked.entry.meta.inode;

        // Renamed over between the open and the reads: the old file's bytes and stat.
        let (file, before) = open_file(&walked.entry).map_err(|_| ()).unwrap();
        std::fs::write(&staged, &new).unwrap();
        std::fs::rename(&staged, &path).unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mid = finish(
            WalkItem {
                opened: None,
                ..clone_item(&walked)
            },
            hash_opened(Algorithm::Sha256, file, before, &mut buf),
        );
        assert_eq!(
            mid.entry.meta.content,
            Some(digest(Algorithm::Sha256, &old))
        );
        assert_eq!(mid.entry.meta.inode, old_ino);
        assert_eq!(mid.entry.meta.size, old.len() as u64);
        // The rename unlinks the old file (its ctime moves): flagged as it is read.
        assert_eq!(mid.problem.as_deref(), Some("changed while being read"));

        // Renamed over between the walk's stat and the open: flagged, no digest.
        std::fs::write(&staged, &old).unwrap();
        std::fs::rename(&staged, &path).unwrap();
        let walked = Walker::new(&spec).next().unwrap();
        std::fs::write(&staged, &new).unwrap();
        std::fs::rename(&staged, &path).unwrap();
        let result = hash_file(Algorithm::Sha256, &walked.entry, &mut buf);
        let flagged = finish(walked, result);
        assert_eq!(flagged.entry.meta.content, None);
        assert_ne!(flagged.entry.meta.flags & FLAG_UNSTABLE, 0);
        assert_eq!(
            flagged.problem.as_deref(),
            Some("replaced while being read")
        );

        // And through the pool, with the rename racing the workers: whatever the
        // timing, digest, size and inode always belong to one and the same file.
        for round in 0..20u32 {
            std::fs::write(&staged, &old).unwrap();
            std::fs::rename(&staged, &path).unwrap();
            let old_ino = std::fs::metadata(&path).unwrap().ino();
            std::fs::write(&staged, &new).unwrap();
            let swap = {
                let (staged, path) = (staged.clone(), path.clone());
                std::thread::spawn(move || std::fs::rename(staged, path).unwrap())
            };
            let s = scan_one(&spec).unwrap();
            swap.join().unwrap();
            let m = &s.entry.meta;
            match m.content {
                Some(d) if d == digest(Algorithm::Sha256, &old) => {
                    assert_eq!((m.inode, m.size), (old_ino, old.len() as u64), "{round}")
                }
                Some(d) => {
                    assert_eq!(d, digest(Algorithm::Sha256, &new), "{round}");
                    assert_eq!(m.size, new.len() as u64, "{round}");
                    assert_ne!(m.inode, old_ino, "{round}");
                }
                None => assert_eq!(
                    s.problem.as_deref(),
                    Some("replaced while being read"),
                    "{round}"
                ),
            }
        }
    }

    fn clone_item(w: &WalkItem) -> WalkItem {
        WalkItem {
            entry: w.entry.clone(),
            unseen: w.unseen,
            hash: w.hash,
            opened: None,
            problem: w.problem.clone(),
        }
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
        // The same walk behind core::feed::FileSource.
        let mut pool = Pool::new(1);
        let all: Vec<Scanned> = pool.walk(&spec(None)).collect();
        assert_eq!(all.len(), 4);
        assert!(all.iter().all(|s| s.problem().is_none()));
        assert!(matches!(all[0].live(), Live::Seen(e) if e.meta.kind == Kind::Dir));
        let gone = TreeSpec {
            root: dir.path().join("nowhere").as_os_str().as_bytes().to_vec(),
            ..spec(None)
        };
        let missing: Vec<Scanned> = pool.walk(&gone).collect();
        assert_eq!(missing.len(), 1);
        assert!(matches!(missing[0].live(), Live::Unseen { gone: true, .. }));
    }
}
