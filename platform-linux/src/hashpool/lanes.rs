//! A hashing worker that keeps several files open and hashes them in step with a
//! multi-message SHA-256 kernel ([`Sha256Lanes`]: sixteen AVX-512 lanes, two interleaved
//! SHA-NI messages or eight AVX2 lanes, whichever this CPU runs fastest): SHA-256 only.
//!
//! Each lane holds one file and a buffer of its bytes. A step reads into every lane that
//! has less than a block buffered, then compresses the blocks all busy lanes have in
//! common. The lanes beat one SHA-NI stream only when enough of them are busy, so the
//! worker takes batches as its lanes empty, and with few busy lanes (the tail of a scan,
//! or a few big files) it hashes them one at a time instead.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use homeostat_core::digest::lanes::{pad, Sha256Lanes, BLOCK};

use super::{finish, open_file, settle, Batch, Done, HashResult, Scanned};
use crate::walk::WalkItem;

/// Bytes read into a lane at a time: sixteen of them stay in a core's L2 cache.
const LANE_BUF: usize = 64 * 1024;
/// The most lanes a kernel has.
const MAX_LANES: usize = 16;

/// A file in a lane.
struct Job {
    batch: u64,
    index: usize,
    item: WalkItem,
    file: File,
    before: Metadata,
    /// Bytes read so far.
    total: u64,
    /// No more reads: end of file, or the fstat's size reached.
    eof: bool,
    /// The final blocks are in the buffer; when they are used up the digest is ready.
    padded: bool,
}

struct Lane {
    job: Option<Job>,
    buf: Box<[u8]>,
    /// Unhashed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
}

/// A batch whose entries are not all hashed yet.
struct Open {
    items: Vec<Option<Scanned>>,
    left: usize,
}

struct Worker {
    x: Box<dyn Sha256Lanes>,
    lanes: Vec<Lane>,
    todo: VecDeque<(u64, usize, WalkItem)>,
    open: BTreeMap<u64, Open>,
    jobs: Receiver<Batch>,
    done: Sender<Done>,
    /// No more batches will come.
    closed: bool,
}

/// Runs until `jobs` is closed and drained, or the consumer hangs up.
pub(super) fn worker(x: Box<dyn Sha256Lanes>, jobs: Receiver<Batch>, done: Sender<Done>) {
    assert!(x.lanes() <= MAX_LANES, "at most {MAX_LANES} lanes");
    let lanes = (0..x.lanes())
        .map(|_| Lane {
            job: None,
            buf: vec![0u8; LANE_BUF].into_boxed_slice(),
            start: 0,
            end: 0,
        })
        .collect();
    let mut w = Worker {
        x,
        lanes,
        todo: VecDeque::new(),
        open: BTreeMap::new(),
        jobs,
        done,
        closed: false,
    };
    let _ = w.run();
}

/// The consumer is gone: stop.
struct HungUp;

impl Worker {
    fn run(&mut self) -> Result<(), HungUp> {
        loop {
            self.fill_lanes()?;
            let mut busy = 0;
            for lane in 0..self.lanes.len() {
                self.feed(lane)?;
                if self.lanes[lane].job.is_some() {
                    busy += 1;
                }
            }
            if busy == 0 {
                if self.closed && self.todo.is_empty() {
                    return Ok(());
                }
                continue;
            }
            self.compress(busy);
        }
    }

    /// Gives every idle lane a file, taking batches while lanes are idle: without waiting
    /// while some lane is busy, waiting when none is.
    fn fill_lanes(&mut self) -> Result<(), HungUp> {
        for lane in 0..self.lanes.len() {
            while self.lanes[lane].job.is_none() {
                let Some((batch, index, item)) = self.todo.pop_front() else {
                    if self.closed {
                        break;
                    }
                    let any_busy = self.lanes.iter().any(|l| l.job.is_some());
                    let got = if any_busy {
                        match self.jobs.try_recv() {
                            Ok(b) => Some(b),
                            Err(TryRecvError::Empty) => break,
                            Err(TryRecvError::Disconnected) => None,
                        }
                    } else {
                        self.jobs.recv().ok()
                    };
                    match got {
                        Some(b) => self.take(b)?,
                        None => self.closed = true,
                    }
                    continue;
                };
                match open_file(&item.entry) {
                    Ok((file, before)) => {
                        let l = &mut self.lanes[lane];
                        l.start = 0;
                        l.end = 0;
                        l.job = Some(Job {
                            batch,
                            index,
                            item,
                            file,
                            before,
                            total: 0,
                            eof: false,
                            padded: false,
                        });
                        self.x.reset(lane);
                    }
                    Err(result) => self.complete(batch, index, finish(item, result))?,
                }
            }
        }
        Ok(())
    }

    /// Files a new batch: entries that need no hashing are finished at once.
    fn take(&mut self, batch: Batch) -> Result<(), HungUp> {
        let mut items = Vec::with_capacity(batch.items.len());
        let mut left = 0;
        for (index, item) in batch.items.into_iter().enumerate() {
            if item.hash {
                left += 1;
                items.push(None);
                self.todo.push_back((batch.seq, index, item));
            } else {
                items.push(Some(Scanned {
                    entry: item.entry,
                    unseen: item.unseen,
                    problem: item.problem,
                }));
            }
        }
        self.open.insert(batch.seq, Open { items, left });
        self.send_if_done(batch.seq)
    }

    fn complete(&mut self, batch: u64, index: usize, scanned: Scanned) -> Result<(), HungUp> {
        let open = self.open.get_mut(&batch).expect("open batch");
        open.items[index] = Some(scanned);
        open.left -= 1;
        self.send_if_done(batch)
    }

    fn send_if_done(&mut self, batch: u64) -> Result<(), HungUp> {
        if self.open[&batch].left > 0 {
            return Ok(());
        }
        let open = self.open.remove(&batch).expect("open batch");
        let items = open.items.into_iter().map(|s| s.expect("hashed")).collect();
        self.done
            .send(Done { seq: batch, items })
            .map_err(|_| HungUp)
    }

    /// Leaves `lane` idle or holding at least one whole block: reads when it has less,
    /// appends the final blocks at the end of the file, and finishes a file whose final
    /// blocks are hashed.
    fn feed(&mut self, lane: usize) -> Result<(), HungUp> {
        let l = &mut self.lanes[lane];
        let Some(job) = l.job.as_mut() else {
            return Ok(());
        };
        let result = loop {
            if l.end - l.start >= BLOCK {
                return Ok(());
            }
            if job.padded {
                break Ok(self.x.digest(lane));
            }
            // Keep the partial block, then read after it.
            l.buf.copy_within(l.start..l.end, 0);
            l.end -= l.start;
            l.start = 0;
            if job.eof {
                let mut last = [0u8; 2 * BLOCK];
                let n = pad(&l.buf[..l.end], job.total, &mut last);
                l.buf[..n].copy_from_slice(&last[..n]);
                l.end = n;
                job.padded = true;
                continue;
            }
            match read_some(&job.file, &mut l.buf[l.end..]) {
                Ok(0) => job.eof = true,
                Ok(n) => {
                    l.end += n;
                    job.total += n as u64;
                    // As `read_all`: stop at the fstat's size; growth shows in the
                    // second fstat.
                    job.eof = job.total >= job.before.size();
                }
                Err(e) => break Err(e),
            }
        };
        let job = l.job.take().expect("busy lane");
        let result = match result {
            Ok(digest) => settle(&job.file, job.before, job.total, digest),
            Err(e) => HashResult::Failed(e),
        };
        self.complete(job.batch, job.index, finish(job.item, result))
    }

    /// Hashes the whole blocks the busy lanes hold: in step when enough lanes are busy,
    /// each alone otherwise.
    fn compress(&mut self, busy: usize) {
        if busy < self.x.min_busy() {
            for (lane, l) in self.lanes.iter_mut().enumerate() {
                if l.job.is_some() {
                    let whole = (l.end - l.start) / BLOCK * BLOCK;
                    self.x.compress_lane(lane, &l.buf[l.start..l.start + whole]);
                    l.start += whole;
                }
            }
            return;
        }
        let blocks = self
            .lanes
            .iter()
            .filter(|l| l.job.is_some())
            .map(|l| (l.end - l.start) / BLOCK)
            .min()
            .unwrap_or(0);
        let mut input: [&[u8]; MAX_LANES] = [&[]; MAX_LANES];
        for (i, l) in self.lanes.iter().enumerate() {
            if l.job.is_some() {
                input[i] = &l.buf[l.start..l.end];
            }
        }
        self.x.compress(&input[..self.lanes.len()], blocks);
        for l in self.lanes.iter_mut().filter(|l| l.job.is_some()) {
            l.start += blocks * BLOCK;
        }
    }
}

fn read_some(mut file: &File, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match file.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
