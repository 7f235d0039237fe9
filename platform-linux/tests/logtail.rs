//! `logtail::Tail` through `core::feed::LineSource`: every line once, in order, across a
//! rename-and-create, a rename-then-gzip and a missing log; an unreadable `.gz` is a note.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use homeostat_core::feed::{Followed, LineSink, LineSource, Note};
use homeostat_core::logscan::{Event, Saved};
use homeostat_linux::logtail::Tail;

/// Collects lines; `rollback` drops the ones since the checkpoint.
#[derive(Default)]
struct Lines {
    got: Vec<Vec<u8>>,
    mark: usize,
}

impl LineSink for Lines {
    fn region(&mut self, bytes: &[u8]) {
        for l in bytes[..bytes.len() - 1].split(|b| *b == b'\n') {
            self.got.push(l.to_vec());
        }
    }
    fn line(&mut self, line: &[u8]) {
        self.got.push(line.to_vec());
    }
    fn checkpoint(&mut self) {
        self.mark = self.got.len();
    }
    fn rollback(&mut self) {
        self.got.truncate(self.mark);
    }
}

fn follow(tail: &mut Tail, log: &Path, from: &Saved) -> (Followed, Vec<String>, Vec<String>) {
    let mut lines = Lines::default();
    let mut notes = Vec::new();
    let f = tail
        .follow(
            log.as_os_str().as_bytes(),
            from,
            &mut lines,
            &mut |n: Note<'_>| notes.push(format!("{n:?}")),
        )
        .unwrap();
    let got = lines
        .got
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    (f, got, notes)
}

fn append(path: &Path, lines: &[&str]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

#[test]
fn every_line_once_through_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let mut tail = Tail::new(0);

    let (f, got, _) = follow(&mut tail, &log, &Saved::default());
    assert_eq!(f.event, Event::Missing);
    assert!(got.is_empty());

    append(&log, &["a", "b"]);
    let (f, got, _) = follow(&mut tail, &log, &f.saved);
    assert_eq!(f.event, Event::First);
    assert_eq!(got, ["a", "b"]);

    // Rename and create: the rest of the old file, then the new one.
    append(&log, &["c"]);
    std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    append(&log, &["d"]);
    let (f, got, notes) = follow(&mut tail, &log, &f.saved);
    assert_eq!(got, ["c", "d"]);
    assert!(notes.is_empty());
    assert_eq!(f.cut, 0);

    // Rename then gzip at once: the rest comes from the `.gz` at the saved offset.
    append(&log, &["e"]);
    let rotated = std::fs::read(&log).unwrap();
    std::fs::remove_file(dir.path().join("app.log.1")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(dir.path().join("app.log.1.gz")).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(&rotated).unwrap();
    gz.finish().unwrap();
    std::fs::remove_file(&log).unwrap();
    append(&log, &["f"]);
    let (f, got, _) = follow(&mut tail, &log, &f.saved);
    assert_eq!(got, ["e", "f"]);

    // Nothing new: nothing given, the position stays.
    let (g, got, _) = follow(&mut tail, &log, &f.saved);
    assert!(got.is_empty());
    assert_eq!(g.saved, f.saved);
}

#[test]
fn a_gz_cut_short_is_a_note_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let mut tail = Tail::new(0);
    append(&log, &["a"]);
    let (f, _, _) = follow(&mut tail, &log, &Saved::default());
    // The followed generation is compressed at once, and its `.gz` is cut short.
    let rest: Vec<String> = (0..20_000)
        .map(|i| format!("b {i} {}", i * 7919 % 10007))
        .collect();
    append(&log, &rest.iter().map(String::as_str).collect::<Vec<_>>());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&std::fs::read(&log).unwrap()).unwrap();
    let gz = gz.finish().unwrap();
    let cut = dir.path().join("app.log.1.gz");
    std::fs::write(&cut, &gz[..gz.len() / 2]).unwrap();
    std::fs::remove_file(&log).unwrap();
    append(&log, &["c"]);
    let mut notes = Vec::new();
    let mut lines = Lines::default();
    tail.follow(log.as_os_str().as_bytes(), &f.saved, &mut lines, &mut |n| {
        let Note::Undecompressable { file, at, why } = n;
        notes.push((file.to_vec(), at, why.to_string()));
    })
    .unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    let (file, at, _) = &notes[0];
    assert_eq!(file, cut.as_os_str().as_bytes());
    // The lines before the damage were given, then the new log.
    assert!(*at > 2 && lines.got.len() > 1, "{at} {}", lines.got.len());
    assert_eq!(lines.got.first().unwrap(), b"b 0 0");
    assert_eq!(lines.got.last().unwrap(), b"c");
}
