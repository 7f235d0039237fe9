//! Unit tests of the log scanning rules: parsing, matching and the rule table.

//! A simulated file system: logs are written, rotated in every way, and scanned by a
//! reader that follows the plans; the lines counted over all scans must be exactly the
//! lines written.
extern crate std;

use super::super::position::{head, sha256, tail_start, Anchor};
use super::*;
use std::vec::Vec;

#[derive(Clone, Debug)]
struct File {
    ino: u64,
    data: Vec<u8>,
    mtime: Mtime,
    compressed: bool,
}

#[derive(Default)]
struct Fs {
    /// The log's path.
    log: Option<File>,
    special: Option<Kind>,
    /// Rotated files, oldest first.
    rotated: Vec<File>,
    next_ino: u64,
    clock: i64,
    written: u64,
    counted: u64,
    saved: Saved,
    events: Vec<Event>,
}

impl Fs {
    fn tick(&mut self) -> Mtime {
        self.clock += 1;
        Mtime {
            sec: self.clock,
            nsec: 0,
        }
    }
    fn new_file(&mut self) -> File {
        self.next_ino += 1;
        File {
            ino: self.next_ino,
            data: Vec::new(),
            mtime: self.tick(),
            compressed: false,
        }
    }
    fn create(&mut self) {
        let f = self.new_file();
        self.log = Some(f);
    }
    fn write_to(&mut self, which: Option<usize>, n: u64) {
        let t = self.tick();
        for _ in 0..n {
            self.written += 1;
            let line = std::format!("Jan  1 host sshd[1]: line {:03}\n", self.written);
            let f = match which {
                None => self.log.as_mut().unwrap(),
                Some(i) => &mut self.rotated[i],
            };
            f.data.extend_from_slice(line.as_bytes());
            f.mtime = t;
        }
    }
    fn write(&mut self, n: u64) {
        self.write_to(None, n);
    }
    /// Appends a line without its newline; `finish` adds the newline.
    fn write_partial(&mut self) {
        let t = self.tick();
        let f = self.log.as_mut().unwrap();
        f.data.extend_from_slice(b"Jan  1 host sshd[1]: partial");
        f.mtime = t;
    }
    fn finish_partial(&mut self) {
        self.written += 1;
        let f = self.log.as_mut().unwrap();
        f.data.extend_from_slice(b" done\n");
    }
    fn rename_create(&mut self) {
        if let Some(f) = self.log.take() {
            self.rotated.push(f);
        }
        self.create();
    }
    fn rename_gzip(&mut self) {
        if let Some(mut f) = self.log.take() {
            f.compressed = true;
            f.ino = 0;
            self.next_ino += 1;
            f.ino = self.next_ino;
            self.rotated.push(f);
        }
        self.create();
    }
    fn gzip_rotated(&mut self, i: usize) {
        let f = &mut self.rotated[i];
        f.compressed = true;
        self.next_ino += 1;
        f.ino = self.next_ino;
    }
    fn copytruncate(&mut self) {
        let mut copy = self.new_file();
        let log = self.log.as_mut().unwrap();
        copy.data = log.data.clone();
        copy.mtime = log.mtime;
        log.data.clear();
        let t = self.tick();
        self.log.as_mut().unwrap().mtime = t;
        self.rotated.push(copy);
    }
    /// copytruncate caught half-way: the copy holds the log's first `n` bytes (the
    /// log is truncated by [`Fs::finish_copy`]).
    fn begin_copy(&mut self, n: usize) {
        let mut copy = self.new_file();
        let log = self.log.as_ref().unwrap();
        copy.data = log.data[..n.min(log.data.len())].to_vec();
        self.rotated.push(copy);
    }
    fn finish_copy(&mut self) {
        let t = self.tick();
        let log = self.log.as_mut().unwrap();
        let copy = self.rotated.last_mut().unwrap();
        copy.data = log.data.clone();
        copy.mtime = t;
        log.data.clear();
        log.mtime = t;
    }
    fn truncate(&mut self) {
        let t = self.tick();
        let f = self.log.as_mut().unwrap();
        f.data.clear();
        f.mtime = t;
    }
    fn delete(&mut self) {
        self.log = None;
    }
    /// Deletes and re-creates the log with the same inode number.
    fn recreate_same_inode(&mut self) {
        let ino = self.log.as_ref().unwrap().ino;
        let mut f = self.new_file();
        f.ino = ino;
        self.log = Some(f);
    }

    fn file(&self, t: Target) -> &File {
        match t {
            Target::Current => self.log.as_ref().unwrap(),
            Target::Candidate(i) => &self.rotated[i],
        }
    }

    fn scan(&mut self) -> Plan {
        let node = match (&self.log, self.special) {
            (_, Some(k)) => Node::Special(k),
            (None, _) => Node::Missing,
            (Some(f), _) => Node::Regular(stat(f)),
        };
        let cands: Vec<Candidate> = self
            .rotated
            .iter()
            .map(|f| Candidate {
                stat: stat(f),
                compressed: f.compressed,
            })
            .collect();
        let saved = self.saved;
        let now = self.tick();
        let plan = decide(&saved, &node, &cands, now, &mut FsProbe(self));
        let mut ends = Ends::default();
        if let Some((i, from)) = plan.prev {
            ends.prev = self.read(Target::Candidate(i), from, saved.prev);
        }
        if let Some((i, from)) = plan.old {
            ends.old = self.read(Target::Candidate(i), from, saved.cur);
        }
        for i in plan.between().collect::<Vec<_>>() {
            ends.between = self.read(Target::Candidate(i), 0, None);
        }
        if let Some(from) = plan.current {
            let keep = saved.cur.filter(|c| c.offset == from);
            ends.current = self.read(Target::Current, from, keep);
        }
        self.saved = plan.next(&saved, &ends);
        self.events.push(plan.event);
        plan
    }

    /// Counts the lines of `t` from `from`; returns its end position (None when
    /// compressed). `before` is the position `from` came from, kept when nothing new
    /// was read.
    fn read(&mut self, t: Target, from: u64, before: Option<TailPos>) -> Option<TailPos> {
        let f = self.file(t).clone();
        let before = before.filter(|b| b.ino == f.ino && b.offset == from);
        let rest = &f.data[from as usize..];
        let mut end = from as usize;
        let mut last_start = None;
        let mut n = 0;
        for (i, b) in rest.iter().enumerate() {
            if *b == b'\n' {
                n += 1;
                last_start = Some(end);
                end = from as usize + i + 1;
            }
        }
        if f.compressed && end < f.data.len() {
            n += 1;
        }
        self.counted += n;
        if f.compressed {
            return None;
        }
        let (h, done) = head(&f.data);
        let tail = match (last_start, before) {
            (None, Some(b)) => b.tail,
            (ls, _) => {
                let s = tail_start(end as u64, ls.unwrap_or(0) as u64) as usize;
                Anchor::of(&f.data[s..end])
            }
        };
        Some(TailPos {
            dev: 1,
            ino: f.ino,
            offset: end as u64,
            mtime: f.mtime,
            head: Anchor::of(h),
            head_done: done,
            tail,
            skipping: false,
        })
    }
}

fn stat(f: &File) -> Stat {
    Stat {
        dev: 1,
        ino: f.ino,
        size: f.data.len() as u64,
        mtime: f.mtime,
    }
}

struct FsProbe<'a>(&'a Fs);

impl Probe for FsProbe<'_> {
    fn digest(&mut self, t: Target, start: u64, len: u16) -> Option<[u8; 32]> {
        let d = &self.0.file(t).data;
        let s = start as usize;
        d.get(s..s + len as usize).map(sha256)
    }
}

fn assert_exact(fs: &Fs) {
    assert_eq!(fs.counted, fs.written, "events {:?}", fs.events);
}

#[test]
fn growth_and_partial_lines() {
    let mut fs = Fs::default();
    fs.create();
    fs.write(3);
    assert_eq!(fs.scan().event, Event::First);
    fs.write(2);
    fs.write_partial();
    assert_eq!(fs.scan().current, Some(3 * 30));
    fs.finish_partial();
    fs.scan();
    fs.scan();
    assert_exact(&fs);
}

#[test]
fn missing_then_created() {
    let mut fs = Fs::default();
    assert_eq!(fs.scan().event, Event::Missing);
    assert!(fs.saved.cur.is_some_and(|c| c.is_marker()));
    let marker = fs.saved;
    assert_eq!(fs.scan().event, Event::Missing);
    assert_eq!(fs.saved, marker, "the marker keeps its first time");
    fs.create();
    fs.write(4);
    assert_eq!(fs.scan().event, Event::First);
    assert_exact(&fs);
}

#[test]
fn missing_then_created_and_rotated_before_the_next_scan() {
    let mut fs = Fs::default();
    // History from before watching began is not counted.
    fs.create();
    fs.write(3);
    fs.rename_gzip();
    fs.log = None;
    fs.written = 0;
    assert_eq!(fs.scan().event, Event::Missing);
    fs.create();
    fs.write(5);
    fs.rename_gzip();
    fs.write(2);
    fs.rename_create();
    fs.write(1);
    let p = fs.scan();
    assert_eq!(p.event, Event::First);
    assert_eq!(p.old.map(|(i, _)| i), Some(1));
    assert_exact(&fs);
}

#[test]
fn rename_and_create_with_writer_still_on_the_old_file() {
    let mut fs = Fs::default();
    fs.create();
    fs.write(5);
    fs.scan();
    fs.write(2);
    fs.rename_create();
    // The daemon has not reopened: it still writes to the renamed file.
    fs.write_to(Some(0), 3);
    let p = fs.scan();
    assert_eq!(p.old, Some((0, 5 * 30)));
    assert_eq!(p.current, Some(0));
    fs.write_to(Some(0), 2);
    fs.write(4);
    let p = fs.scan();
    assert_eq!(p.prev.map(|(i, _)| i), Some(0), "{p:?}");
    fs.write(1);
    fs.scan();
    assert_exact(&fs);
    assert!(fs
        .events
        .iter()
        .all(|e| matches!(e, Event::Quiet | Event::First)));
}

#[test]
fn several_rotations_between_scans() {
    let mut fs = Fs::default();
    fs.create();
    fs.write(2);
    fs.scan();
    fs.write(1);
    fs.rename_create();
    fs.write(3);
    fs.rename_gzip();
    fs.write(4);
    fs.rename_create();
    fs.write(5);
    let p = fs.scan();
    assert_eq!(p.old.map(|(i, _)| i), Some(0));
    assert_eq!(p.between, 1..3);
    assert_exact(&fs);
}

#[test]
fn rename_then_gzip_at_once() {
    let mut fs = Fs::default();
    fs.create();
    fs.write(3);
    fs.scan();
    fs.write(2);
    fs.rename_gzip();
    fs.write(1);
    let p = fs.scan();
    assert_eq!(p.old, Some((0, 3 * 30)));
    fs.write(1);
    fs.rename_gzip();
    fs.rename_gzip();
    fs.scan();
    assert_exact(&fs);
    assert!(fs.saved.prev.is_none());
}

#[test]
fn delaycompress_then_compress_later() {
    let mut fs = Fs::default();
    fs.create();
    fs.write(3);
    fs.scan();
    fs.rename_create();
    fs.write_to(Some(0), 2);
    fs.scan();
    fs.write_to(Some(0), 2);
    // The previous generation is compressed before the next scan.
    fs.gzip_rotated(0);
    fs.write(1);
    let p = fs.scan();
    assert!(p.prev.is_some(), "{p:?}");
    assert_exact(&fs);
}

#[test]
fn copytruncate_found_by_content() {
    let mut fs = Fs::default();
    fs.create();
    fs.write(3);
    fs.scan();
    fs.write(2);
    fs.copytruncate();
    let p = fs.scan();
    assert_eq!(p.old, Some((0, 3 * 30)));
    assert_eq!(p.current, Some(0));
    // Regrown past the old offset before the next scan.
    fs.write(3);
    fs.scan();
    fs.write(1);
    fs.copytruncate();
    fs.write(9);
    fs.scan();
    assert_exact(&fs);
    assert!(fs
        .events
        .iter()
        .all(|e| matches!(e, Event::Quiet | Event::First)));
}

#[test]
fn copytruncate_caught_between_its_copy_and_its_truncation() {
    for (n, copied) in [(0, 0), (1, 0), (50, 1), (120, 4)] {
        let mut fs = Fs::default();
        fs.create();
        fs.write(3);
        fs.scan();
        fs.write(2);
        fs.copytruncate();
        fs.write(4);
        // The live generation is being copied (`n` of its 120 bytes so far): the copy
        // is not an older generation, its lines are read from the log. An empty copy
        // cannot be told from a renamed log its writer has not written to yet: it is
        // read (nothing), and told apart at the next scan.
        fs.begin_copy(n);
        let p = fs.scan();
        assert_eq!(p.old, Some((0, 3 * 30)), "{n}");
        assert_eq!(p.between, if n == 0 { 1..2 } else { 1..1 }, "{n}");
        assert_eq!(p.current, Some(0), "{n}");
        assert_eq!(
            fs.counted, fs.written,
            "{n}: {copied} line(s) counted twice"
        );
        fs.write(1);
        fs.finish_copy();
        fs.write(2);
        let p = fs.scan();
        assert_eq!(p.old.map(|(i, _)| i), Some(1), "{n}");
        assert_exact(&fs);
        assert!(fs
            .events
            .iter()
            .all(|e| matches!(e, Event::Quiet | Event::First)));
    }
}

#[test]
fn truncation_and_inode_reuse_read_from_zero() {
    let mut fs = Fs::default();
    fs.create();
    fs.write(3);
    fs.scan();
    fs.truncate();
    fs.write(1);
    let p = fs.scan();
    assert_eq!(
        p.event,
        Event::Truncated {
            offset: 90,
            size: 30
        }
    );
    // Truncated and regrown past the old offset: the content says so.
    fs.truncate();
    fs.write(5);
    assert!(matches!(fs.scan().event, Event::Truncated { .. }));
    // Deleted and re-created with the same inode number, longer than the offset.
    fs.recreate_same_inode();
    fs.write(8);
    assert!(matches!(fs.scan().event, Event::Truncated { .. }));
    assert_exact(&fs);
}

#[test]
fn delete_and_recreate() {
    let mut fs = Fs::default();
    fs.create();
    fs.write(3);
    fs.scan();
    fs.delete();
    assert_eq!(fs.scan().event, Event::Missing);
    assert!(fs.saved.cur.is_some());
    fs.create();
    fs.write(2);
    assert_eq!(fs.scan().event, Event::Lost { offset: 90 });
    assert_exact(&fs);
}

#[test]
fn renamed_and_not_yet_created() {
    let mut fs = Fs::default();
    fs.create();
    fs.write(3);
    fs.scan();
    fs.write(1);
    let f = fs.log.take().unwrap();
    fs.rotated.push(f);
    fs.write_to(Some(0), 2);
    let p = fs.scan();
    assert_eq!(p.event, Event::Quiet);
    assert_eq!(p.old.map(|(i, _)| i), Some(0));
    fs.write_to(Some(0), 1);
    fs.create();
    fs.write(2);
    fs.scan();
    assert_exact(&fs);
}

#[test]
fn special_file_keeps_the_position() {
    let mut fs = Fs::default();
    fs.create();
    fs.write(3);
    fs.scan();
    let before = fs.saved;
    fs.special = Some(Kind::Fifo);
    let p = fs.scan();
    assert_eq!(p.event, Event::Special(Kind::Fifo));
    assert_eq!(p.current, None);
    assert_eq!(fs.saved, before);
    fs.special = None;
    fs.write(2);
    fs.scan();
    assert_exact(&fs);
}

#[test]
fn empty_log_rotated_before_the_next_scan() {
    let mut fs = Fs::default();
    fs.create();
    fs.write(2);
    fs.rename_gzip(); // history that predates the first scan
    fs.written = 0;
    fs.scan(); // sees an empty log
    fs.write(3);
    fs.rename_gzip();
    fs.write(1);
    fs.scan();
    assert_exact(&fs);
    // And an empty log copytruncated before the next scan.
    fs.rename_create();
    fs.scan();
    fs.write(4);
    fs.copytruncate();
    fs.write(1);
    fs.scan();
    assert_exact(&fs);
}

#[test]
fn older_generation_with_the_same_first_line_is_not_taken() {
    // Two generations whose first lines are equal: the last line read tells them apart.
    let mut fs = Fs::default();
    fs.create();
    fs.log.as_mut().unwrap().data.extend_from_slice(b"banner\n");
    fs.written += 1;
    fs.write(2);
    fs.rename_gzip();
    fs.log.as_mut().unwrap().data.extend_from_slice(b"banner\n");
    fs.written += 1;
    fs.write(3);
    fs.scan();
    fs.write(2);
    fs.rename_gzip();
    fs.written -= 3; // the first generation predates the first scan
    fs.scan();
    assert_eq!(fs.counted, fs.written);
}

/// Random interleavings of writes, rotations of every kind and scans; destructive
/// operations (truncation, deletion) come right after a scan, as nothing could
/// recover lines they destroy, and a daemon writes to a renamed log only until the next
/// rotation (logrotate's postrotate makes it reopen).
#[test]
fn random_interleavings_count_exactly() {
    random_interleavings(0x2545_f491_4f6c_dd1d, false);
}

/// The same, with scans that catch a copytruncate half done: its copy begun (empty or
/// partial) or complete, the log not yet truncated.
#[test]
fn random_interleavings_with_copytruncate_caught_half_way() {
    random_interleavings(0x9e37_79b9_7f4a_7c15, true);
}

fn random_interleavings(mut seed: u64, half_copies: bool) {
    let mut rnd = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for _round in 0..500 {
        let mut fs = Fs::default();
        let mut ops = Vec::new();
        let mut writer_old = None;
        fs.create();
        fs.scan();
        fs.scan();
        for _ in 0..40 {
            let op = rnd(10);
            ops.push(op);
            match op {
                0..=3 => {
                    let n = rnd(4);
                    fs.write(n);
                }
                4 => {
                    fs.scan();
                }
                5 => {
                    fs.rename_create();
                    // The daemon writes to the renamed file until it reopens, which it
                    // does before the next rotation.
                    writer_old = Some(fs.rotated.len() - 1);
                }
                6 => {
                    fs.rename_gzip();
                    writer_old = None;
                }
                // Not while a daemon still writes to a renamed log: one log is rotated
                // one way (a blind position's time cannot tell an older file written
                // late from a newer one, and only the newest is drained).
                7 if half_copies && writer_old.is_none() && rnd(2) == 0 => {
                    let len = fs.log.as_ref().map_or(0, |f| f.data.len() as u64);
                    if len > 0 || rnd(2) == 0 {
                        fs.begin_copy(rnd(len + 1) as usize);
                        fs.scan();
                        fs.finish_copy();
                    }
                    writer_old = None;
                }
                7 => {
                    fs.copytruncate();
                    writer_old = None;
                }
                8 => {
                    if let Some(i) = writer_old {
                        fs.write_to(Some(i), 1 + rnd(2));
                    }
                }
                _ => {
                    fs.scan();
                    if rnd(2) == 0 {
                        fs.truncate();
                    } else {
                        fs.delete();
                        fs.create();
                    }
                    writer_old = None;
                }
            }
        }
        fs.scan();
        fs.scan();
        assert_eq!(
            fs.counted, fs.written,
            "ops {:?} events {:?}",
            ops, fs.events
        );
    }
}
