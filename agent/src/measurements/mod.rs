//! `[[measure]]`: log and command measurements, run once per `homeostat scan`.
//!
//! Each configured log is read once per scan: the measurements of one log whose saved
//! positions agree share one read, and each has its own multi-pattern matcher, compiled
//! once. Positions (and the last values of `last` and `string` measurements) live in
//! `<state_dir>/logscan.state`, written atomically after the values are printed: a crash
//! between the two makes the next scan count those lines again rather than lose them.
//! A lock file, `logscan.lock`, keeps two scans of one state directory from reading the
//! same lines twice.

pub mod handles;
mod matcher;
mod state;

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::platform::command;
use crate::platform::logtail::{self, FollowError, Tail};
use crate::platform::StateDir;
use homeostat_core::event::{self as finding, KeyCount, Measured, Value, Warning};
use homeostat_core::feed::{Followed, LineSource, Note, Sink};
use homeostat_core::logscan::{Aggregate, Event, Kind, Saved, LINE_MAX};

use crate::config::{Config, History, Measure, MeasureSource};
use crate::output::Output;
use matcher::{Acc, Group, Matcher, MAX_KEYS};
use state::{lock, Last, State, STATE_FILE};

/// Reading a log that keeps being truncated under the read is tried this often per scan.
const ATTEMPTS: usize = 3;

/// Why the measurements stopped.
#[derive(Debug)]
pub enum Error {
    /// `logscan.state` cannot be used (exit 17).
    State(String),
    /// The state cannot be written or locked, or the report not written (exit 18).
    Io(String),
    /// The process is exiting (SIGTERM) and a command was killed or not started: nothing
    /// of this run is reported or saved, so the logs are read again from the positions
    /// of the last complete run.
    Stopped,
}

/// What a rule event says to the user, if anything.
fn event_message(e: Event, had_position: bool) -> Option<String> {
    Some(match e {
        Event::Quiet | Event::First => return None,
        Event::Missing if had_position => {
            "the log no longer exists; its position is kept until it comes back".to_string()
        }
        Event::Missing => {
            "the log does not exist (yet); it will be read from its start once it does"
                .to_string()
        }
        Event::Special(k) => format!(
            "the log is a {}, not a regular file: not read; its position is kept",
            k.name()
        ),
        Event::Truncated { offset, size } => format!(
            "the log was truncated or replaced (it was read to byte {offset}; it has {size} bytes now, or other content before that) and no rotated copy of its old content was found: read again from its start; lines written after byte {offset} before that, if any, are lost"
        ),
        Event::Lost { offset } => format!(
            "the log was replaced and the file it was is not among its rotated files: the new one is read from its start; lines appended to the old one after byte {offset}, if any, are lost"
        ),
    })
}

/// What a note of a follow says to the user, and about which file.
fn note_message(n: Note<'_>) -> (Vec<u8>, String) {
    match n {
        Note::Undecompressable { file, at, why } => (
            file.to_vec(),
            format!("cannot decompress it past byte {at}: {why}; lines after that are lost"),
        ),
    }
}

/// The last value to keep for a measurement: this run's, else the one kept before.
fn last_of(m: &Measure, acc: &Acc, old: Option<&Last>) -> Option<Last> {
    match m.kind {
        Kind::Counter => None,
        Kind::Int => acc.tally.last_int.map(Last::Int).or(old.cloned()),
        Kind::Real => acc.tally.last_real.map(Last::Real).or(old.cloned()),
        Kind::Str => acc.last_string.clone().map(Last::Str).or(old.cloned()),
    }
}

/// The value of a measurement this run, given its last value.
fn value_of<'a>(m: &Measure, acc: &Acc, last: Option<&'a Last>) -> Value<'a> {
    match (m.kind, m.aggregate, last) {
        (Kind::Counter, _, _) => Value::Count(acc.tally.lines),
        (Kind::Int, Aggregate::Sum, _) => Value::Int(acc.tally.int_sum),
        (Kind::Real, Aggregate::Sum, _) => Value::Real(acc.tally.real_sum),
        (Kind::Int, Aggregate::Last, Some(Last::Int(v))) => Value::Int(*v),
        (Kind::Real, Aggregate::Last, Some(Last::Real(v))) => Value::Real(*v),
        (Kind::Str, _, Some(Last::Str(s))) => Value::Text(s),
        _ => Value::Missing,
    }
}

/// Problems to report, each with the file or command it is about.
type Warnings = Vec<(Vec<u8>, String)>;

/// What a round found for each measurement, by its index in the config.
struct Found {
    accs: Vec<Acc>,
    warns: Vec<Warnings>,
    /// False for a command that gave nothing to measure (its last value is kept).
    measured: Vec<bool>,
}

/// What a measurement reads, as its warnings name it: the log's path or the command line.
fn source_of(m: &Measure) -> Vec<u8> {
    match &m.source {
        MeasureSource::File(p) => p.as_os_str().as_bytes().to_vec(),
        MeasureSource::Command { argv, .. } => argv.join(" ").into_bytes(),
    }
}

/// Follows one log for the measurements `idx` (whose saved positions agree), trying again
/// when it changed under the read; on failure, the file and why.
fn follow_log(
    tail: &mut Tail,
    cfg: &Config,
    log: &Path,
    saved: &Saved,
    idx: &[usize],
) -> Result<(Followed, Vec<Acc>, Warnings), (PathBuf, String)> {
    let mut outcome = Err((log.to_owned(), String::new()));
    for attempt in 1..=ATTEMPTS {
        let mut group = Group::new(idx.iter().map(|&i| &cfg.measures[i]));
        let mut notes = Vec::new();
        let mut note = |n: Note<'_>| notes.push(note_message(n));
        match tail.follow(log.as_os_str().as_bytes(), saved, &mut group, &mut note) {
            Ok(f) => return Ok((f, group.into_accs(), notes)),
            Err(FollowError::Unstable(p)) => {
                outcome = Err((
                    p,
                    format!("changed while being read (truncated or rewritten) {ATTEMPTS} times in a row: not counted now; read again at the next scan"),
                ));
                if attempt < ATTEMPTS {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            Err(FollowError::Io(p, e)) => {
                return Err((p, format!("cannot read it: {e}; its position is kept")));
            }
        }
    }
    outcome
}

/// Reads every configured log once and records the positions to save in `new`.
fn read_logs(cfg: &Config, old: &State, new: &mut State, found: &mut Found) {
    let mut tail = Tail::new(ATTEMPTS - 1);
    // Measurements of one log whose positions agree share one read.
    let mut groups: Vec<(PathBuf, Saved, Vec<usize>)> = Vec::new();
    for (i, m) in cfg.measures.iter().enumerate() {
        if let MeasureSource::File(p) = &m.source {
            let key = (m.name.clone(), p.as_os_str().as_bytes().to_vec());
            let saved = old.pos.get(&key).copied().unwrap_or_default();
            match groups.iter_mut().find(|g| g.0 == *p && g.1 == saved) {
                Some(g) => g.2.push(i),
                None => groups.push((p.clone(), saved, vec![i])),
            }
        }
    }
    for (path, saved, idx) in &groups {
        let src = path.as_os_str().as_bytes();
        let keep = |new: &mut State, s: Saved| {
            if s != Saved::default() {
                for &i in idx {
                    let key = (cfg.measures[i].name.clone(), src.to_vec());
                    new.pos.insert(key, s);
                }
            }
        };
        match follow_log(&mut tail, cfg, path, saved, idx) {
            Ok((f, accs, notes)) => {
                for (&i, acc) in idx.iter().zip(accs) {
                    found.accs[i] = acc;
                    let w = &mut found.warns[i];
                    let seen = saved.cur.is_some_and(|c| !c.is_marker());
                    if let Some(msg) = event_message(f.event, seen) {
                        w.push((src.to_vec(), msg));
                    }
                    w.extend(notes.iter().cloned());
                    if f.cut > 0 {
                        w.push((
                            src.to_vec(),
                            format!("{} line(s) longer than {LINE_MAX} bytes: matched on their first {LINE_MAX} bytes, each counted once", f.cut),
                        ));
                    }
                }
                keep(new, f.saved);
            }
            Err((p, msg)) => {
                for &i in idx {
                    found.warns[i].push((p.as_os_str().as_bytes().to_vec(), msg.clone()));
                }
                keep(new, *saved);
            }
        }
    }
}

/// Runs every configured command once and matches its output.
fn run_commands(cfg: &Config, found: &mut Found) {
    let mut buf = Vec::new();
    for (i, m) in cfg.measures.iter().enumerate() {
        let MeasureSource::Command { argv, timeout } = &m.source else {
            continue;
        };
        let src = source_of(m);
        let warns = &mut found.warns[i];
        match command::run(argv, *timeout) {
            Ok(ran) => {
                let mut matcher = Matcher::new(m);
                let out = &ran.output[..];
                match logtail::read_lines(&mut &out[..], 0, false, true, &mut buf, &mut matcher) {
                    Ok(r) if r.cut > 0 => warns.push((
                        src.clone(),
                        format!("{} output line(s) longer than {LINE_MAX} bytes: matched on their first {LINE_MAX} bytes", r.cut),
                    )),
                    _ => {}
                }
                found.accs[i] = matcher.acc;
                for note in ran.notes() {
                    warns.push((src.clone(), note));
                }
            }
            Err(e) => {
                found.measured[i] = false;
                warns.push((src, e.to_string()));
            }
        }
    }
}

/// Runs every measurement once, prints them, and saves positions. Returns the values of
/// the numeric measurements with `history = "weekly"`, for the learner.
pub fn run(cfg: &Config, state_dir: &Path, rep: &mut Output) -> Result<Vec<(String, f64)>, Error> {
    let mut weekly = Vec::new();
    if cfg.measures.is_empty() {
        return Ok(weekly);
    }
    let _lock = lock(state_dir)?;
    let mut store = StateDir::new(state_dir);
    let state_path = store.path(STATE_FILE);
    let old = State::load(&mut store)?;
    let mut new = State::default();
    let n = cfg.measures.len();
    let mut found = Found {
        accs: vec![Acc::default(); n],
        warns: vec![Vec::new(); n],
        measured: vec![true; n],
    };
    read_logs(cfg, &old, &mut new, &mut found);
    run_commands(cfg, &mut found);
    if command::stopping() {
        return Err(Error::Stopped);
    }

    let out_err = |e: io::Error| Error::Io(format!("cannot write report: {e}"));
    for (i, m) in cfg.measures.iter().enumerate() {
        let acc = &found.accs[i];
        let warns = &mut found.warns[i];
        let src = source_of(m);
        if acc.tally.unparsed > 0 {
            warns.push((
                src.clone(),
                format!(
                    "{} matching line(s) with no number in capture group 1: left out of the value",
                    acc.tally.unparsed
                ),
            ));
        }
        if acc.keys_overflow > 0 {
            warns.push((
                src.clone(),
                format!(
                    "more than {MAX_KEYS} distinct keys: {} matching line(s) not counted per key",
                    acc.keys_overflow
                ),
            ));
        }
        for (s, msg) in warns.iter() {
            let w = Warning {
                t: rep.now(),
                source: s,
                measurement: Some(&m.name),
                message: msg,
            };
            rep.emit(&finding::Event::Warning(w)).map_err(out_err)?;
        }
        let old_last = old.last.get(&m.name);
        if !found.measured[i] {
            if let Some(l) = old_last {
                new.last.insert(m.name.clone(), l.clone());
            }
            continue;
        }
        let last = last_of(m, acc, old_last);
        let value = value_of(m, acc, last.as_ref());
        let keys: Option<Vec<KeyCount<'_>>> = m.extract.map(|_| {
            let mut k: Vec<KeyCount<'_>> = acc
                .keys
                .iter()
                .map(|(key, &count)| KeyCount { key, count })
                .collect();
            k.sort_by(|a, b| a.key.cmp(b.key));
            k
        });
        let measured = Measured {
            t: rep.now(),
            name: &m.name,
            kind: m.kind,
            value,
            keys: keys.as_deref(),
        };
        rep.emit(&finding::Event::Measurement(measured))
            .map_err(out_err)?;
        if m.history == History::Weekly {
            if let Some(v) = value.number() {
                weekly.push((m.name.clone(), v));
            }
        }
        if let Some(l) = last {
            new.last.insert(m.name.clone(), l);
        }
    }
    // Reported before the positions move past what was reported.
    rep.commit().map_err(out_err)?;
    new.save(&mut store)
        .map_err(|e| Error::Io(format!("cannot write {}: {e}", state_path.display())))?;
    Ok(weekly)
}

#[cfg(test)]
mod prop_tests;
