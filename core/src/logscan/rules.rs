//! Which file of a log to read from which offset, decided from what the caller observed.
//!
//! The caller gives the saved [`Saved`] positions (the file being followed and the previous
//! generation, still drained while a writer may hold it open), a `stat` of the log's path
//! ([`Node`]), and the rotated files found beside it ([`Candidate`]s, oldest first). When
//! the rules need to look at content they ask the caller's [`Probe`] for the digest of a
//! byte range. [`decide`] returns a [`Plan`]; the caller reads what it says, and
//! [`Plan::next`] turns the positions where the reads ended into the state to save.
//!
//! The rules, in order:
//! 0. The newest rotated files that hold a prefix of the log's current file (copytruncate
//!    caught copying, or between its copy and its truncation) are not rotated generations:
//!    their lines are the current file's and are read there; they are left out.
//! 1. The previous generation, if one is saved, is looked for (by inode, else by content)
//!    and read on from its offset: a daemon may write to a renamed log until it reopens.
//!    One nothing was read from that now begins with the first line of the file followed
//!    was a copy caught just begun: it is that file's generation, not drained.
//! 2. No saved position: a regular file is read from its start (the first scan of a log
//!    reads all of it); a missing one is reported, and a marker position
//!    ([`TailPos::marker`]) remembers since when it has been watched, so that rotated files
//!    made after that (the log created and rotated between two scans) are read whole
//!    before the log itself.
//! 3. The path is a FIFO, directory, device or socket: nothing is read, the position is
//!    kept, and the caller reports it.
//! 4. Same device and inode, at least `offset` bytes long, first line and last line read
//!    unchanged: the log grew; it is read on from `offset`.
//! 5. Otherwise the file followed is looked for among the rotated files: first by inode
//!    (renamed), then by content (compressed, or copied by copytruncate): the newest one whose
//!    first line and last line read match the saved digests. Its rest is read from
//!    `offset`, then every rotated file newer than it in full (several rotations between
//!    two scans), then the log from 0.
//! 6. Not found: rotated files modified since the position was saved are read whole
//!    (oldest first), then the log from 0, and the caller reports what may be lost: the
//!    bytes written after `offset` before the file was truncated ([`Event::Truncated`]:
//!    the log or a rotated file has its inode but not its content) or replaced
//!    ([`Event::Lost`]). A missing log with nothing rotated since keeps its position
//!    ([`Event::Missing`]).
//!
//! A position that saw an empty file identifies nothing by content (its digests are
//! empty): for it, step 5's content search takes the oldest rotated file modified after
//! the position was saved (and step 4 gives way to step 5 when there is one), so that a log
//! that was empty at one scan and rotated before the next loses nothing.

use core::ops::Range;

use super::position::{Mtime, TailPos};
use super::{HEAD_MAX, TAIL_MAX};
use crate::fim::Kind;

/// What a `stat` of a file said.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stat {
    /// Device (`st_dev`).
    pub dev: u64,
    /// Inode (`st_ino`).
    pub ino: u64,
    /// Bytes (for a compressed file: compressed bytes, not used by the rules).
    pub size: u64,
    /// Modification time.
    pub mtime: Mtime,
}

/// The log's path as observed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Node {
    /// Nothing at the path.
    Missing,
    /// A regular file.
    Regular(Stat),
    /// Anything but a regular file: never read.
    Special(Kind),
}

/// A rotated file beside the log (`LOG.1`, `LOG.2.gz`, `LOG-20240101`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Candidate {
    /// What a `stat` of it said.
    pub stat: Stat,
    /// Its content is compressed: offsets count decompressed bytes, it is final (nothing
    /// will be appended), and it can be found by content only.
    pub compressed: bool,
}

/// What a [`Probe`] is asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Target {
    /// The file at the log's path.
    Current,
    /// `candidates[i]`.
    Candidate(usize),
}

/// Reads content on the rules' request.
pub trait Probe {
    /// SHA-256 of the `len` bytes at `start` of `target`'s content (decompressed for a
    /// compressed candidate); `None` when the content is shorter or cannot be read.
    fn digest(&mut self, target: Target, start: u64, len: u16) -> Option<[u8; 32]>;
}

/// The positions saved for one log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Saved {
    /// The file being followed.
    pub cur: Option<TailPos>,
    /// The previous generation (a rotated, uncompressed file), drained until it is gone.
    pub prev: Option<TailPos>,
}

/// What the caller reports besides the reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Event {
    /// Nothing to report (growth, or a rotation followed without loss).
    #[default]
    Quiet,
    /// The first scan of this log: it is read from its start.
    First,
    /// The log does not exist (yet); nothing is read and a saved position is kept.
    Missing,
    /// The path is not a regular file; nothing is read and the position is kept.
    Special(Kind),
    /// The log is shorter than the saved offset, or its content before it changed, and no
    /// copy of the old content was found: it is read from 0, and whatever was written
    /// after `offset` before the truncation is lost.
    Truncated {
        /// The saved offset: bytes read before the truncation.
        offset: u64,
        /// The size of the file that has the followed inode now (the log, or the rotated
        /// file holding it; 0 if neither is there).
        size: u64,
    },
    /// The log was replaced and the file it was is not among the rotated files: the new one
    /// is read from 0; lines appended to the old one after `offset` are lost.
    Lost {
        /// The saved offset: bytes read from the old file.
        offset: u64,
    },
}

/// What to read, in this order: `prev`, `old`, `between` (skipping `prev`'s index), the
/// current file.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Plan {
    /// Drain the previous generation: candidate index and offset.
    pub prev: Option<(usize, u64)>,
    /// The rest of the file followed, found rotated: candidate index and offset.
    pub old: Option<(usize, u64)>,
    /// Rotated files newer than `old`, read whole.
    pub between: Range<usize>,
    /// Read the log's current file from this offset.
    pub current: Option<u64>,
    /// What to report besides the reads.
    pub event: Event,
    /// The log was never seen and does not exist: save a marker position with this time.
    pub mark: Option<Mtime>,
}

/// Where each read of a [`Plan`] ended: `None` for a read of a compressed file (final:
/// there is nothing to come back to) and for a read that was not planned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Ends {
    /// Where the read of the previous generation ([`Plan::prev`]) ended.
    pub prev: Option<TailPos>,
    /// Where the read of the rest of the file followed ([`Plan::old`]) ended.
    pub old: Option<TailPos>,
    /// The end of the last file of `between`.
    pub between: Option<TailPos>,
    /// Where the read of the log's current file ([`Plan::current`]) ended.
    pub current: Option<TailPos>,
}

impl Plan {
    /// The candidates to read whole, in order.
    pub fn between(&self) -> impl Iterator<Item = usize> + '_ {
        let skip = self.prev.map(|(i, _)| i);
        self.between.clone().filter(move |i| Some(*i) != skip)
    }

    /// The positions to save once the reads are done.
    pub fn next(&self, saved: &Saved, ends: &Ends) -> Saved {
        let rotated = self.old.is_some();
        let newest_rotated = if self.between().next().is_some() {
            ends.between
        } else {
            ends.old
        };
        match (self.current, rotated) {
            // Read the log itself: it is followed now; the newest rotated file read (if
            // any) is drained from here on, else the one that was.
            (Some(_), true) => Saved {
                cur: ends.current.or(saved.cur),
                prev: newest_rotated,
            },
            (Some(_), false) => Saved {
                cur: ends.current.or(saved.cur),
                prev: ends.prev,
            },
            // The log is missing but the file followed was found renamed: follow it there
            // (a compressed one is finished: start afresh when the log appears).
            (None, true) => Saved {
                cur: newest_rotated,
                prev: ends.prev,
            },
            (None, false) => Saved {
                cur: saved.cur.or(self.mark.map(TailPos::marker)),
                prev: ends.prev,
            },
        }
    }
}

/// Decides what to read. `candidates` are the rotated files, oldest first; `now` is the
/// time of the observation (kept by a marker position when the log does not exist).
pub fn decide(
    saved: &Saved,
    current: &Node,
    candidates: &[Candidate],
    now: Mtime,
    probe: &mut impl Probe,
) -> Plan {
    let mut plan = Plan::default();
    let candidates = &candidates[..not_copies_of_current(saved, current, candidates, probe)];
    if let Some(p) = &saved.prev {
        plan.prev = locate(p, candidates, None, false, probe)
            .filter(|&i| !copy_of_followed(p, saved.cur.as_ref(), i, probe))
            .map(|i| (i, p.offset));
    }
    let skip = plan.prev.map(|(i, _)| i);
    let Some(c) = &saved.cur else {
        match *current {
            Node::Missing => {
                plan.event = Event::Missing;
                plan.mark = Some(now);
            }
            Node::Special(k) => plan.event = Event::Special(k),
            Node::Regular(_) => {
                plan.current = Some(0);
                plan.event = Event::First;
            }
        }
        return plan;
    };
    if let Node::Special(k) = *current {
        plan.event = Event::Special(k);
        return plan;
    }
    if c.is_marker() {
        // Never seen yet: whatever was rotated since watching began, then the log.
        match *current {
            Node::Regular(_) => {
                if let Some(i) = newer_rotated(c, candidates, skip) {
                    plan.old = Some((i, 0));
                    plan.between = i + 1..candidates.len();
                }
                plan.current = Some(0);
                plan.event = Event::First;
            }
            _ => plan.event = Event::Missing,
        }
        return plan;
    }
    let blind = c.head.len == 0;
    if let Node::Regular(s) = current {
        let same = s.dev == c.dev && s.ino == c.ino;
        if same
            && s.size >= c.offset
            && anchors_ok(c, Target::Current, probe)
            && !(blind && newer_rotated(c, candidates, skip).is_some())
        {
            plan.current = Some(c.offset);
            return plan;
        }
    }
    match locate(c, candidates, skip, true, probe) {
        Some(i) => {
            plan.old = Some((i, c.offset));
            plan.between = i + 1..candidates.len();
            if let Node::Regular(_) = current {
                plan.current = Some(0);
            }
        }
        None => {
            // The file followed is gone, or was truncated (in place, or then rotated).
            // Rotated files modified since the position was saved came after it: read
            // them whole.
            if let Some(i) = newer_rotated(c, candidates, skip) {
                plan.old = Some((i, 0));
                plan.between = i + 1..candidates.len();
            }
            let truncated = match *current {
                Node::Regular(s) => s.dev == c.dev && s.ino == c.ino,
                _ => false,
            } || candidates.iter().any(|k| same_inode(c, k));
            let size = match *current {
                Node::Regular(s) if s.dev == c.dev && s.ino == c.ino => s.size,
                _ => candidates
                    .iter()
                    .find(|k| same_inode(c, k))
                    .map_or(0, |k| k.stat.size),
            };
            if let Node::Regular(_) = current {
                plan.current = Some(0);
            }
            plan.event = if truncated {
                Event::Truncated {
                    offset: c.offset,
                    size,
                }
            } else if plan.current.is_some() || plan.old.is_some() {
                Event::Lost { offset: c.offset }
            } else {
                Event::Missing
            };
        }
    }
    plan
}

/// How many of the candidates (oldest first) are rotated generations: the newest ones that
/// are the current file being copied (copytruncate caught while it copies, or between its
/// copy and its truncation) are left out, as their lines are the current file's and are
/// read there. Such a copy is uncompressed, is not a file a saved position followed, and
/// holds a prefix of the current file (its first and last bytes are the current file's at
/// the same offsets).
fn not_copies_of_current(
    saved: &Saved,
    current: &Node,
    candidates: &[Candidate],
    probe: &mut impl Probe,
) -> usize {
    let Node::Regular(s) = *current else {
        return candidates.len();
    };
    let followed = |c: &Candidate| {
        [saved.cur, saved.prev]
            .iter()
            .flatten()
            .any(|p| same_inode(p, c))
    };
    let mut n = candidates.len();
    while let Some(c) = n.checked_sub(1).map(|i| &candidates[i]) {
        if c.compressed
            || (c.stat.dev == s.dev && c.stat.ino == s.ino)
            || followed(c)
            || !prefix_of_current(n - 1, c.stat.size, probe)
        {
            break;
        }
        n -= 1;
    }
    n
}

/// The previous generation `prev`, a rotated file nothing was read from (it was empty,
/// or its first line incomplete), now begins with the first line of the file followed
/// (`cur`): it was a copy caught just begun (copytruncate) of the generation `cur` follows,
/// whose lines are read as that one's; it is not drained, and `cur` may be found in it.
fn copy_of_followed(
    prev: &TailPos,
    cur: Option<&TailPos>,
    i: usize,
    probe: &mut impl Probe,
) -> bool {
    prev.offset == 0
        && cur.is_some_and(|c| {
            c.head.len > 0
                && c.head_done
                && c.head
                    .matches(probe.digest(Target::Candidate(i), 0, c.head.len))
        })
}

/// The first `size` bytes of candidate `i` seem to be the current file's first `size` bytes:
/// its head and its last bytes are.
fn prefix_of_current(i: usize, size: u64, probe: &mut impl Probe) -> bool {
    if size == 0 {
        // A copy just begun, or a renamed log still empty that its writer may still
        // append to: told apart later (see `copy_of_followed`).
        return false;
    }
    let mut same = |start: u64, len: u64| {
        let len = len as u16;
        let a = probe.digest(Target::Candidate(i), start, len);
        a.is_some() && a == probe.digest(Target::Current, start, len)
    };
    let head = size.min(HEAD_MAX as u64);
    let tail = size.min(TAIL_MAX as u64);
    same(0, head) && same(size - tail, tail)
}

/// Both anchors of `p` hold on `target`.
fn anchors_ok(p: &TailPos, target: Target, probe: &mut impl Probe) -> bool {
    let head = p.head.len == 0 || p.head.matches(probe.digest(target, 0, p.head.len));
    head && (p.tail.len == 0
        || p.tail.matches(probe.digest(
            target,
            p.offset - u64::from(p.tail.len).min(p.offset),
            p.tail.len,
        )))
}

/// The oldest candidate (not `skip`) modified after `p` was saved: for a position that
/// saw an empty file, the first generation that may hold lines it has not read.
fn newer_rotated(p: &TailPos, candidates: &[Candidate], skip: Option<usize>) -> Option<usize> {
    (0..candidates.len()).find(|&i| Some(i) != skip && candidates[i].stat.mtime > p.mtime)
}

/// Finds the file `p` was read from among the candidates, to be read on from its offset:
/// by inode (an uncompressed file, long enough, anchors holding), else by content, newest
/// first.
///
/// A position with empty anchors (it saw an empty file) identifies nothing by content nor,
/// trusted alone, by inode (the file may have been copied and truncated, then renamed):
/// with `blind_ok` it is the oldest file modified after the position was saved, else the
/// file with its inode; without, only the file with its inode.
fn locate(
    p: &TailPos,
    candidates: &[Candidate],
    skip: Option<usize>,
    blind_ok: bool,
    probe: &mut impl Probe,
) -> Option<usize> {
    let usable = |i: usize| Some(i) != skip;
    if p.head.len == 0 && blind_ok {
        if let Some(i) = newer_rotated(p, candidates, skip) {
            return Some(i);
        }
    }
    let by_inode = (0..candidates.len()).rev().find(|&i| {
        let c = &candidates[i];
        usable(i)
            && same_inode(p, c)
            && c.stat.size >= p.offset
            && anchors_ok(p, Target::Candidate(i), probe)
    });
    if by_inode.is_some() || p.head.len == 0 {
        return by_inode;
    }
    (0..candidates.len()).rev().find(|&i| {
        let c = &candidates[i];
        usable(i)
            && !same_inode(p, c)
            && (c.compressed || c.stat.size >= p.offset)
            && anchors_ok(p, Target::Candidate(i), probe)
    })
}

/// `c` is the uncompressed file `p` was read from, or one that reuses its inode number.
fn same_inode(p: &TailPos, c: &Candidate) -> bool {
    !c.compressed && c.stat.dev == p.dev && c.stat.ino == p.ino
}

#[cfg(test)]
mod tests;
