//! The follow loop: observe, let the core rules decide, read what they chose, check the
//! read was not overtaken by a rotation, and return the position to save.

use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use homeostat_core::feed::{Followed, LineSink, Note};
use homeostat_core::logscan::position::{sha256, tail_start};
use homeostat_core::logscan::rules::{self, Ends, Plan};
use homeostat_core::logscan::{Anchor, Event, Mtime, Node, Saved, Stat, TailPos, Target, HEAD_MAX};

use super::observe::{observe, Observation};
use super::read::{gz_at, head_bytes, read_at, read_full, read_lines, At, CountingSink};
use super::FollowError;

/// The digests the rules ask for.
struct Probe<'a>(&'a Observation);

impl rules::Probe for Probe<'_> {
    fn digest(&mut self, target: Target, start: u64, len: u16) -> Option<[u8; 32]> {
        let mut buf = vec![0u8; len as usize];
        let n = match target {
            Target::Current => read_at(self.0.current.as_ref()?, start, u64::MAX, &mut buf),
            Target::Candidate(i) => {
                let r = self.0.rotated.get(i)?;
                if r.cand.compressed {
                    gz_at(&r.file, start).and_then(|mut d| read_full(&mut d, &mut buf))
                } else {
                    read_at(&r.file, start, u64::MAX, &mut buf)
                }
            }
        };
        (n.ok()? == buf.len()).then(|| sha256(&buf))
    }
}

/// Where a read starts, and what it must find for its lines to be the ones the rules chose.
#[derive(Clone, Copy, Default)]
struct Start<'a> {
    /// The offset read from.
    from: u64,
    /// The line at `from` was cut: skip to its end.
    skipping: bool,
    expect: Expect<'a>,
}

impl<'a> Start<'a> {
    /// A read from `from` of the file that `saved` followed (`None`: one read from 0, or
    /// not followed before); `head` as in [`Expect::head`].
    fn at(from: u64, saved: Option<TailPos>, head: Option<&'a [u8]>) -> Start<'a> {
        Start {
            from,
            skipping: from != 0 && saved.is_some_and(|p| p.skipping),
            expect: Expect {
                from: saved.filter(|p| from != 0 && from == p.offset),
                head,
            },
        }
    }
}

/// What a read must find for its lines to be the ones the rules chose.
#[derive(Clone, Copy, Default)]
struct Expect<'a> {
    /// The position read on from: its head and tail anchors still hold after the read.
    from: Option<TailPos>,
    /// The file's first line when it was observed (a prefix of it while it was still being
    /// written): the file begins with it before and after the read, so no copytruncate
    /// came between the observation and the end of the read.
    head: Option<&'a [u8]>,
}

/// Reads an uncompressed file from `from` up to the size it had when observed, checks it
/// was not truncated or rewritten meanwhile (its head is still the one it had when the
/// read began, and what `start` expects holds) and returns the position where it ended.
fn read_plain(
    path: &Path,
    file: &File,
    stat: Stat,
    start: Start<'_>,
    buf: &mut Vec<u8>,
    sink: &mut dyn LineSink,
) -> Result<(TailPos, u64), FollowError> {
    let io = |e| FollowError::Io(path.to_owned(), e);
    let unstable = || Err(FollowError::Unstable(path.to_owned()));
    let Start {
        from,
        skipping,
        expect,
    } = start;
    let head0 = head_bytes(file).map_err(io)?;
    let mut src = At {
        file,
        pos: from,
        limit: stat.size.max(from),
    };
    let r = read_lines(&mut src, from, skipping, false, buf, sink).map_err(io)?;
    let head1 = head_bytes(file).map_err(io)?;
    let size = file.metadata().map_err(io)?.size();
    let observed = expect
        .head
        .is_none_or(|h| head0.starts_with(h) && head1.starts_with(h));
    let anchored = match expect.from {
        None => true,
        Some(p) => {
            let head = p.head.len == 0
                || head1
                    .get(..p.head.len as usize)
                    .is_some_and(|h| sha256(h) == p.head.digest);
            let mut tail = vec![0u8; p.tail.len as usize];
            let at = p.offset - u64::from(p.tail.len).min(p.offset);
            let got = read_at(file, at, p.offset, &mut tail).map_err(io)?;
            head && (p.tail.len == 0 || (got == tail.len() && sha256(&tail) == p.tail.digest))
        }
    };
    if !head1.starts_with(&head0) || !observed || !anchored || size < r.end {
        return unstable();
    }
    let ts = tail_start(r.end, r.last_line_start.unwrap_or(0));
    let mut tail = vec![0u8; (r.end - ts) as usize];
    let got = read_at(file, ts, r.end, &mut tail).map_err(io)?;
    if got != tail.len() {
        return unstable();
    }
    Ok((
        TailPos {
            dev: stat.dev,
            ino: stat.ino,
            offset: r.end,
            mtime: stat.mtime,
            head: anchor(&head1),
            head_done: head_done(&head1),
            tail: anchor(&tail),
            skipping: r.skipping,
        },
        r.cut,
    ))
}

/// The anchor of `bytes`, none when empty.
fn anchor(bytes: &[u8]) -> Anchor {
    if bytes.is_empty() {
        Anchor::NONE
    } else {
        Anchor::of(bytes)
    }
}

/// A head (see [`head`]) that cannot grow any more.
fn head_done(h: &[u8]) -> bool {
    h.ends_with(b"\n") || h.len() == HEAD_MAX
}

/// Reads rotated file `i` from `from`. A compressed one is read to its end (a last line
/// without a newline counts: nothing will follow it) and gives no position; one that
/// cannot be decompressed is noted and skipped.
fn read_rotated(
    obs: &Observation,
    i: usize,
    start: Start<'_>,
    buf: &mut Vec<u8>,
    sink: &mut dyn LineSink,
    out: &mut Followed,
    notes: &mut dyn FnMut(Note<'_>),
) -> Result<Option<TailPos>, FollowError> {
    let r = &obs.rotated[i];
    if !r.cand.compressed {
        let (pos, cut) = read_plain(&r.path, &r.file, r.cand.stat, start, buf, sink)?;
        out.cut += cut;
        return Ok(Some(pos));
    }
    let mut counted = CountingSink {
        inner: sink,
        bytes: 0,
    };
    let Start { from, skipping, .. } = start;
    let res = gz_at(&r.file, from)
        .and_then(|mut d| read_lines(&mut d, from, skipping, true, buf, &mut counted));
    match res {
        Ok(e) => out.cut += e.cut,
        Err(e) => notes(Note::Undecompressable {
            file: r.path.as_os_str().as_bytes(),
            at: from + counted.bytes,
            why: &e.to_string(),
        }),
    }
    Ok(None)
}

/// Observations of a log tried before giving up on one that keeps changing under them.
const SETTLE_TRIES: usize = 10;
/// Rounds of one follow: a round whose read of the current file was overtaken by a
/// rotation keeps what it read before and goes on from there in the next.
const ROUNDS: usize = 8;

/// Observes the log and decides what to read, until the observation is settled (see
/// [`Observation::settled`]) and the current file still begins as observed once the rules
/// have looked at it (the decision is about the generation observed). A decision that
/// would report a loss is taken again, up to `rechecks` times, 50 ms apart: a rotation
/// caught half done must not pass for one.
fn observe_and_decide(
    path: &Path,
    saved: &Saved,
    rechecks: usize,
) -> Result<(Observation, Plan), FollowError> {
    let io = |e| FollowError::Io(path.to_owned(), e);
    let mut left = rechecks;
    let mut tries = 0;
    loop {
        let obs = observe(path).map_err(io)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(Mtime::default(), |d| Mtime {
                sec: d.as_secs() as i64,
                nsec: d.subsec_nanos(),
            });
        let plan: Plan = rules::decide(saved, &obs.node, &obs.candidates(), now, &mut Probe(&obs));
        let settled = obs.settled
            && match &obs.current {
                Some(f) => head_bytes(f).map_err(io)?.starts_with(&obs.live_head),
                None => true,
            };
        if !settled {
            tries += 1;
            if tries == SETTLE_TRIES {
                return Err(FollowError::Unstable(path.to_owned()));
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            continue;
        }
        if left == 0 || !matches!(plan.event, Event::Truncated { .. } | Event::Lost { .. }) {
            return Ok((obs, plan));
        }
        left -= 1;
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Follows the log at `path` once from `saved`: observes it, lets the core rules decide,
/// reads, and returns the positions to save. Lines go to `sink`, notes to `notes`; on an
/// error nothing that was given to either may be kept.
///
/// The rotated files are read first, then the current file; a rotation (copytruncate)
/// that overtakes the read of the current file is seen by its head no longer being the
/// observed one: what that read gave is forgotten (`sink` rolls back), the position
/// becomes "that generation, not read past where the read began", and the next round
/// observes again and finds that generation where it was copied to.
pub(super) fn follow(
    path: &Path,
    saved: &Saved,
    rechecks: usize,
    buf: &mut Vec<u8>,
    sink: &mut dyn LineSink,
    notes: &mut dyn FnMut(Note<'_>),
) -> Result<Followed, FollowError> {
    let mut out = Followed {
        saved: *saved,
        event: Event::Quiet,
        cut: 0,
    };
    for round in 0..ROUNDS {
        let saved = out.saved;
        let (obs, plan) = observe_and_decide(path, &saved, rechecks)?;
        let loss = |e: Event| matches!(e, Event::Truncated { .. } | Event::Lost { .. });
        if round == 0 || out.event == Event::Quiet || (loss(plan.event) && !loss(out.event)) {
            out.event = plan.event;
        }
        let mut ends = Ends::default();
        if let Some((i, from)) = plan.prev {
            let start = Start::at(from, saved.prev, None);
            ends.prev = read_rotated(&obs, i, start, buf, sink, &mut out, notes)?;
        }
        if let Some((i, from)) = plan.old {
            let start = Start::at(from, saved.cur, None);
            ends.old = read_rotated(&obs, i, start, buf, sink, &mut out, notes)?;
        }
        for i in plan.between() {
            let start = Start::default();
            ends.between = read_rotated(&obs, i, start, buf, sink, &mut out, notes)?;
        }
        let mut overtaken = false;
        if let (Some(from), Node::Regular(stat), Some(file)) =
            (plan.current, obs.node, &obs.current)
        {
            // Not read past `from`: the position already saved there, or the start of the
            // generation observed (when it was empty, a position that saw an empty file,
            // from the time it had then).
            let start = Start::at(from, saved.cur, Some(&obs.live_head));
            let unread = start.expect.from.unwrap_or(TailPos {
                head: anchor(&obs.live_head),
                head_done: head_done(&obs.live_head),
                ..TailPos::start(stat.dev, stat.ino, obs.live_mtime)
            });
            if obs.live_head.is_empty() {
                // Empty when observed: whatever it holds now came later, maybe after a
                // rotation this observation did not see. Read at the next scan.
                overtaken = from != 0;
                ends.current = Some(unread);
            } else {
                sink.checkpoint();
                match read_plain(path, file, stat, start, buf, sink) {
                    Ok((pos, cut)) => {
                        out.cut += cut;
                        ends.current = Some(pos);
                    }
                    Err(FollowError::Unstable(_)) => {
                        sink.rollback();
                        overtaken = true;
                        ends.current = Some(unread);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        out.saved = plan.next(&saved, &ends);
        if !overtaken {
            break;
        }
    }
    Ok(out)
}
