//! `[[measure]]`: log and command measurements, run once per `homeostat scan`.
//!
//! Each configured log is read once per scan: the measurements of one log whose saved
//! positions agree share one read, and each has its own multi-pattern matcher, compiled
//! once. Positions (and the last values of `last` and `string` measurements) live in
//! `<state_dir>/logscan.state`, written atomically after the values are printed: a crash
//! between the two makes the next scan count those lines again rather than lose them.
//! A lock file, `logscan.lock`, keeps two scans of one state directory from reading the
//! same lines twice.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use homeostat_core::digest::Hex;
use homeostat_core::logscan::{Aggregate, Event, Kind, Saved, TailPos, Tally, LINE_MAX};
use regex_automata::util::captures::Captures;
use regex_automata::{meta, Anchored, Input};

use crate::config::{Config, History, Measure, MeasureSource};
use crate::escape::escape_with;
use crate::output::Output;
use homeostat_core::event::{self as finding, KeyCount, Measured, Value, Warning};
use homeostat_core::feed::{LineSink, LineSource, Note, Sink};
use homeostat_linux::command;
use homeostat_linux::logtail::{self, FollowError, Tail};

/// Positions and last values, in the state directory.
pub const STATE_FILE: &str = "logscan.state";
/// Held while logs are read.
pub const LOCK_FILE: &str = "logscan.lock";
const STATE_MAGIC: &str = "homeostat-logscan 1";
/// Distinct keys counted per measurement and scan; more are counted as overflow.
const MAX_KEYS: usize = 10_000;
/// A key (an extracted group) is cut to this many bytes.
const MAX_KEY_LEN: usize = 256;
/// A `string` value is cut to this many bytes.
const MAX_STRING: usize = 1024;
/// Reading a log that keeps being truncated under the read is tried this often per scan.
const ATTEMPTS: usize = 3;

/// Why the measurements stopped.
#[derive(Debug)]
pub enum Error {
    /// `logscan.state` cannot be used (exit 17).
    State(String),
    /// The state cannot be written or locked, or the report not written (exit 18).
    Io(String),
}

/// What the matching lines of one measurement gave.
#[derive(Clone, Debug, Default)]
struct Acc {
    tally: Tally,
    keys: HashMap<Vec<u8>, u64>,
    keys_overflow: u64,
    last_string: Option<Vec<u8>>,
}

impl Acc {
    /// Adds what the lines after these gave.
    fn merge(&mut self, later: Acc) {
        self.tally.merge(&later.tally);
        for (k, n) in later.keys {
            if let Some(m) = self.keys.get_mut(&k) {
                *m += n;
            } else if self.keys.len() < MAX_KEYS {
                self.keys.insert(k, n);
            } else {
                self.keys_overflow += n;
            }
        }
        self.keys_overflow += later.keys_overflow;
        if later.last_string.is_some() {
            self.last_string = later.last_string;
        }
    }

    fn key(&mut self, k: &[u8]) {
        let k = &k[..k.len().min(MAX_KEY_LEN)];
        if let Some(n) = self.keys.get_mut(k) {
            *n += 1;
        } else if self.keys.len() < MAX_KEYS {
            self.keys.insert(k.to_vec(), 1);
        } else {
            self.keys_overflow += 1;
        }
    }
}

/// One measurement's matcher with its scratch space.
struct Matcher<'a> {
    m: &'a Measure,
    cache: meta::Cache,
    caps: Captures,
    /// The kind or `extract` needs capture groups (else a match is enough).
    groups: bool,
    acc: Acc,
    /// `acc` at the last checkpoint.
    mark: Acc,
    bt: regex_automata::nfa::thompson::backtrack::Cache,
    /// The backtracker's groups are laid out as the matcher's (one `Captures` serves both).
    bt_ok: bool,
}

impl<'a> Matcher<'a> {
    fn new(m: &'a Measure) -> Matcher<'a> {
        Matcher {
            m,
            cache: m.regex.create_cache(),
            caps: m.regex.create_captures(),
            groups: m.kind != Kind::Counter || m.extract.is_some(),
            acc: Acc::default(),
            mark: Acc::default(),
            bt: m.groups.create_cache(),
            bt_ok: {
                let (a, b) = (m.regex.group_info(), m.groups.get_nfa().group_info());
                a.pattern_len() == b.pattern_len()
                    && a.slot_len() == b.slot_len()
                    && a.all_group_len() == b.all_group_len()
            },
        }
    }
}

impl Matcher<'_> {
    /// Folds one matching line; `input` searches it (the whole line, or exactly a match
    /// already found, anchored to its pattern, which is faster to take groups from).
    fn groups(&mut self, line: &[u8], input: &Input<'_>, found: bool) {
        if found && self.bt_ok {
            // The span is exactly a match: only the groups are wanted, and the backtracker
            // takes them without the matcher's search for the match again.
            let r = self
                .m
                .groups
                .try_search(&mut self.bt, input, &mut self.caps);
            if r.is_err() {
                // Longer than the backtracker's memory bound: the general way.
                let whole = Input::new(line);
                self.m
                    .regex
                    .search_captures_with(&mut self.cache, &whole, &mut self.caps);
            }
        } else {
            self.m
                .regex
                .search_captures_with(&mut self.cache, input, &mut self.caps);
        }
        if !self.caps.is_match() {
            return;
        }
        let g1 = self.caps.get_group(1).map(|s| &line[s.range()]);
        self.acc.tally.add(self.m.kind, g1);
        if let Some(n) = self.m.extract {
            if let Some(s) = self.caps.get_group(n) {
                self.acc.key(&line[s.range()]);
            }
        }
        if self.m.kind == Kind::Str {
            let v = g1.unwrap_or(line);
            self.acc.last_string = Some(v[..v.len().min(MAX_STRING)].to_vec());
        }
    }
}

impl LineSink for Matcher<'_> {
    fn line(&mut self, line: &[u8]) {
        if !self.groups {
            if self
                .m
                .regex
                .search_half_with(&mut self.cache, &Input::new(line))
                .is_some()
            {
                self.acc.tally.lines += 1;
            }
            return;
        }
        self.groups(line, &Input::new(line), false);
    }

    fn checkpoint(&mut self) {
        self.mark = self.acc.clone();
    }

    fn rollback(&mut self) {
        self.acc = self.mark.clone();
    }

    /// Searches the whole region at once (no pattern matches a newline, so a match lies
    /// within its line), so that text without a match costs one pass of the matcher's
    /// prefilter and DFA; lines are split only where something matched.
    fn region(&mut self, r: &[u8]) {
        if !self.m.buffer_search {
            for l in r[..r.len().saturating_sub(1)].split(|b| *b == b'\n') {
                self.line(l);
            }
            return;
        }
        let mut at = 0;
        while at < r.len() && !self.groups {
            // A count needs no start: the forward search alone.
            let input = Input::new(r).span(at..r.len());
            let Some(h) = self.m.regex.search_half_with(&mut self.cache, &input) else {
                return;
            };
            let e = h.offset();
            let le = memchr::memchr(b'\n', &r[e..]).map_or(r.len(), |i| e + i);
            self.acc.tally.lines += 1;
            at = le + 1;
        }
        while at < r.len() {
            let input = Input::new(r).span(at..r.len());
            let Some(m) = self.m.regex.search_with(&mut self.cache, &input) else {
                break;
            };
            let s = m.start();
            let ls = memchr::memrchr(b'\n', &r[at..s]).map_or(at, |i| at + i + 1);
            let le = memchr::memchr(b'\n', &r[s..]).map_or(r.len(), |i| s + i);
            if m.end() > le {
                // The match ran past its line: the line alone decides.
                self.line(&r[ls..le]);
            } else if !self.groups {
                self.acc.tally.lines += 1;
            } else {
                let line = &r[ls..le];
                let input = Input::new(line)
                    .range(s - ls..m.end() - ls)
                    .anchored(Anchored::Pattern(m.pattern()));
                self.groups(line, &input, true);
            }
            at = le + 1;
        }
    }
}

/// Regions at least this long are matched by two threads, when there are two cores.
const PARALLEL_REGION: usize = 256 * 1024;

/// The matchers of the measurements that share one read of a log, each with a twin that
/// takes the second half of large regions on another core.
struct Group<'a> {
    matchers: Vec<Matcher<'a>>,
    twins: Vec<Matcher<'a>>,
    parallel: bool,
}

impl<'a> Group<'a> {
    fn new(measures: impl Iterator<Item = &'a Measure> + Clone) -> Group<'a> {
        Group {
            matchers: measures.clone().map(Matcher::new).collect(),
            twins: measures.map(Matcher::new).collect(),
            parallel: std::thread::available_parallelism().is_ok_and(|n| n.get() > 1),
        }
    }

    fn into_accs(self) -> Vec<Acc> {
        self.matchers.into_iter().map(|m| m.acc).collect()
    }
}

impl LineSink for Group<'_> {
    fn region(&mut self, bytes: &[u8]) {
        let split = (self.parallel && bytes.len() >= PARALLEL_REGION)
            .then(|| memchr::memchr(b'\n', &bytes[bytes.len() / 2..]))
            .flatten()
            .map(|i| bytes.len() / 2 + i + 1)
            .filter(|&at| at < bytes.len());
        let Some(at) = split else {
            for m in &mut self.matchers {
                m.region(bytes);
            }
            return;
        };
        let (first, second) = bytes.split_at(at);
        let twins = &mut self.twins;
        std::thread::scope(|s| {
            s.spawn(|| {
                for t in twins.iter_mut() {
                    t.region(second);
                }
            });
            for m in &mut self.matchers {
                m.region(first);
            }
        });
        for (m, t) in self.matchers.iter_mut().zip(&mut self.twins) {
            m.acc.merge(std::mem::take(&mut t.acc));
        }
    }
    fn line(&mut self, line: &[u8]) {
        for m in &mut self.matchers {
            m.line(line);
        }
    }
    /// The twins' accumulators are emptied into the matchers' after every region: the
    /// matchers' hold everything.
    fn checkpoint(&mut self) {
        for m in &mut self.matchers {
            m.checkpoint();
        }
    }
    fn rollback(&mut self) {
        for m in &mut self.matchers {
            m.rollback();
        }
    }
}

/// A value kept from one scan to the next.
#[derive(Clone, Debug, PartialEq)]
enum Last {
    Int(i64),
    Real(f64),
    Str(Vec<u8>),
}

/// `logscan.state`.
#[derive(Debug, Default, PartialEq)]
struct State {
    /// By measurement name and log path.
    pos: HashMap<(String, Vec<u8>), Saved>,
    last: HashMap<String, Last>,
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Inverse of `escape_with(…, b" ")`.
fn unescape(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if b.get(i + 1) != Some(&b'x') {
                return None;
            }
            out.push(u8::from_str_radix(s.get(i + 2..i + 4)?, 16).ok()?);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

fn pos_text(p: &Option<TailPos>) -> String {
    match p {
        None => "-".to_string(),
        Some(p) => Hex(&p.encode()).to_string(),
    }
}

fn pos_parse(s: &str) -> Result<Option<TailPos>, String> {
    if s == "-" {
        return Ok(None);
    }
    let b = hex_decode(s).ok_or("a position is not hex")?;
    TailPos::decode(&b)
        .map(Some)
        .map_err(|e| format!("position: {e}"))
}

impl State {
    fn load(path: &Path) -> Result<State, Error> {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(State::default()),
            Err(e) => return Err(Error::State(format!("cannot read {}: {e}", path.display()))),
        };
        State::parse(&text).map_err(|(line, what)| {
            Error::State(format!(
                "{} line {line}: {what}; remove it to start over (every log is then read again from its start)",
                path.display()
            ))
        })
    }

    fn parse(text: &[u8]) -> Result<State, (usize, String)> {
        let text = std::str::from_utf8(text).map_err(|e| (0, format!("not text: {e}")))?;
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, l)) if l == STATE_MAGIC => {}
            _ => return Err((1, format!("expected {STATE_MAGIC:?}"))),
        }
        let mut st = State::default();
        for (i, line) in lines {
            let n = i + 1;
            let f: Vec<&str> = line.split(' ').collect();
            match f.as_slice() {
                ["pos", name, path, cur, prev] => {
                    let path = unescape(path).ok_or((n, "bad path escape".to_string()))?;
                    let saved = Saved {
                        cur: pos_parse(cur).map_err(|e| (n, e))?,
                        prev: pos_parse(prev).map_err(|e| (n, e))?,
                    };
                    st.pos.insert((name.to_string(), path), saved);
                }
                ["last", name, "int", v] => {
                    let v = v.parse().map_err(|_| (n, "bad integer".to_string()))?;
                    st.last.insert(name.to_string(), Last::Int(v));
                }
                ["last", name, "real", v] => {
                    let v: f64 = v.parse().map_err(|_| (n, "bad number".to_string()))?;
                    st.last.insert(name.to_string(), Last::Real(v));
                }
                ["last", name, "string", v] => {
                    let v = unescape(v).ok_or((n, "bad string escape".to_string()))?;
                    st.last.insert(name.to_string(), Last::Str(v));
                }
                _ => {
                    return Err((
                        n,
                        "expected `pos NAME PATH CUR PREV` or `last NAME TYPE VALUE`".to_string(),
                    ))
                }
            }
        }
        Ok(st)
    }

    fn text(&self) -> String {
        let mut out = format!("{STATE_MAGIC}\n");
        let mut pos: Vec<_> = self.pos.iter().collect();
        pos.sort_by(|a, b| a.0.cmp(b.0));
        for ((name, path), s) in pos {
            out.push_str(&format!(
                "pos {name} {} {} {}\n",
                escape_with(path, b" "),
                pos_text(&s.cur),
                pos_text(&s.prev)
            ));
        }
        let mut last: Vec<_> = self.last.iter().collect();
        last.sort_by(|a, b| a.0.cmp(b.0));
        for (name, v) in last {
            out.push_str(&match v {
                Last::Int(i) => format!("last {name} int {i}\n"),
                Last::Real(r) => format!("last {name} real {r:?}\n"),
                Last::Str(s) => format!("last {name} string {}\n", escape_with(s, b" ")),
            });
        }
        out
    }

    /// Temporary file, fsync, rename, directory fsync: the old state or the new one.
    fn save(&self, path: &Path) -> io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let tmp = dir.join(format!("{STATE_FILE}.tmp.{}", std::process::id()));
        let res = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(self.text().as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
            File::open(dir)?.sync_all()
        })();
        if res.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        res
    }
}

/// Holds `logscan.lock` (waiting up to two minutes for another scan to finish).
fn lock(dir: &Path) -> Result<File, Error> {
    let p = dir.join(LOCK_FILE);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(|e| Error::Io(format!("cannot open {}: {e}", p.display())))?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        // SAFETY: flock on a descriptor this function owns; no memory is passed.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(f);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(Error::Io(format!("cannot lock {}: {e}", p.display())));
        }
        if Instant::now() >= deadline {
            return Err(Error::Io(format!(
                "{} has been locked by another homeostat for two minutes",
                p.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
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

/// Runs every measurement once, prints them, and saves positions. Returns the values of
/// the numeric measurements with `history = "weekly"`, for the learner.
pub fn run(cfg: &Config, state_dir: &Path, rep: &mut Output) -> Result<Vec<(String, f64)>, Error> {
    let mut weekly = Vec::new();
    if cfg.measures.is_empty() {
        return Ok(weekly);
    }
    let _lock = lock(state_dir)?;
    let state_path = state_dir.join(STATE_FILE);
    let old = State::load(&state_path)?;
    let mut new = State::default();
    let n = cfg.measures.len();
    let mut accs = vec![Acc::default(); n];
    let mut warns: Vec<Vec<(Vec<u8>, String)>> = vec![Vec::new(); n];
    let mut measured = vec![true; n];
    let mut buf = Vec::new();
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
        let mut outcome = Err((path.clone(), String::new()));
        for attempt in 1..=ATTEMPTS {
            let mut group = Group::new(idx.iter().map(|&i| &cfg.measures[i]));
            let mut notes = Vec::new();
            let mut note = |n: Note<'_>| notes.push(note_message(n));
            match tail.follow(src, saved, &mut group, &mut note) {
                Ok(f) => {
                    outcome = Ok((f, group, notes));
                    break;
                }
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
                    outcome = Err((p, format!("cannot read it: {e}; its position is kept")));
                    break;
                }
            }
        }
        let keep = |new: &mut State, s: Saved| {
            if s != Saved::default() {
                for &i in idx {
                    let key = (cfg.measures[i].name.clone(), src.to_vec());
                    new.pos.insert(key, s);
                }
            }
        };
        match outcome {
            Ok((f, group, notes)) => {
                for (&i, acc) in idx.iter().zip(group.into_accs()) {
                    accs[i] = acc;
                    let w = &mut warns[i];
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
                keep(&mut new, f.saved);
            }
            Err((p, msg)) => {
                for &i in idx {
                    warns[i].push((p.as_os_str().as_bytes().to_vec(), msg.clone()));
                }
                keep(&mut new, *saved);
            }
        }
    }

    for (i, m) in cfg.measures.iter().enumerate() {
        let MeasureSource::Command { argv, timeout } = &m.source else {
            continue;
        };
        let src = argv.join(" ").into_bytes();
        match command::run(argv, *timeout) {
            Ok(ran) => {
                let mut matcher = Matcher::new(m);
                let out = &ran.output[..];
                match logtail::read_lines(&mut &out[..], 0, false, true, &mut buf, &mut matcher) {
                    Ok(r) if r.cut > 0 => warns[i].push((
                        src.clone(),
                        format!("{} output line(s) longer than {LINE_MAX} bytes: matched on their first {LINE_MAX} bytes", r.cut),
                    )),
                    _ => {}
                }
                accs[i] = matcher.acc;
                for note in ran.notes() {
                    warns[i].push((src.clone(), note));
                }
            }
            Err(e) => {
                measured[i] = false;
                warns[i].push((src.clone(), e.to_string()));
            }
        }
    }

    let out_err = |e: io::Error| Error::Io(format!("cannot write report: {e}"));
    for (i, m) in cfg.measures.iter().enumerate() {
        let acc = &accs[i];
        let src = match &m.source {
            MeasureSource::File(p) => p.as_os_str().as_bytes().to_vec(),
            MeasureSource::Command { argv, .. } => argv.join(" ").into_bytes(),
        };
        if acc.tally.unparsed > 0 {
            warns[i].push((
                src.clone(),
                format!(
                    "{} matching line(s) with no number in capture group 1: left out of the value",
                    acc.tally.unparsed
                ),
            ));
        }
        if acc.keys_overflow > 0 {
            warns[i].push((
                src.clone(),
                format!(
                    "more than {MAX_KEYS} distinct keys: {} matching line(s) not counted per key",
                    acc.keys_overflow
                ),
            ));
        }
        for (s, msg) in &warns[i] {
            let w = Warning {
                t: rep.now(),
                source: s,
                measurement: Some(&m.name),
                message: msg,
            };
            rep.emit(&finding::Event::Warning(w)).map_err(out_err)?;
        }
        let old_last = old.last.get(&m.name);
        if !measured[i] {
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
    new.save(&state_path)
        .map_err(|e| Error::Io(format!("cannot write {}: {e}", state_path.display())))?;
    Ok(weekly)
}

#[cfg(test)]
mod tests {
    use super::*;
    use homeostat_core::logscan::{Anchor, Mtime};

    #[test]
    fn state_round_trips_and_names_bad_lines() {
        let mut st = State::default();
        let p = TailPos {
            dev: 1,
            ino: 2,
            offset: 30,
            mtime: Mtime { sec: 5, nsec: 6 },
            head: Anchor::of(b"a\n"),
            head_done: true,
            tail: Anchor::of(b"b\n"),
            skipping: false,
        };
        st.pos.insert(
            ("ssh".into(), b"/var/log/a b\\\xff".to_vec()),
            Saved {
                cur: Some(p),
                prev: None,
            },
        );
        st.last.insert("x".into(), Last::Real(0.1));
        st.last.insert("y".into(), Last::Int(-3));
        st.last.insert("z".into(), Last::Str(b"a b\n\xfe".to_vec()));
        let text = st.text();
        assert!(text.is_ascii());
        assert_eq!(State::parse(text.as_bytes()).unwrap(), st);
        assert_eq!(State::parse(b"nope\n").unwrap_err().0, 1);
        let bad = format!("{STATE_MAGIC}\npos a /x 00 -\n");
        assert_eq!(State::parse(bad.as_bytes()).unwrap_err().0, 2);
        let bad = format!("{STATE_MAGIC}\nlast a int x\n");
        assert_eq!(State::parse(bad.as_bytes()).unwrap_err().0, 2);
    }

    #[test]
    fn region_search_counts_each_line_once_and_never_across_lines() {
        let cfg = crate::config::Config::parse(
            r#"
[[measure]]
name = "a"
file = "/x"
match = ["b[^ ]*c", "^z", "q$"]
[[measure]]
name = "k"
file = "/x"
match = ['from ([^ ]+)']
extract = 1
"#,
            "t",
        )
        .unwrap();
        let text = b"xb\nc\nbc bc\nz\nq\nqq q\nab c\nzz\nfrom 1 from 2\nfrom\n3\n";
        let mut by_region = Matcher::new(&cfg.measures[0]);
        by_region.region(text);
        let mut by_line = Matcher::new(&cfg.measures[0]);
        for l in text[..text.len() - 1].split(|b| *b == b'\n') {
            by_line.line(l);
        }
        // "bc bc", "z", "q", "qq q", "zz"; "xb" + "c" spans two lines and does not count.
        assert_eq!(by_region.acc.tally.lines, 5);
        assert_eq!(by_line.acc.tally.lines, 5);
        let mut k = Matcher::new(&cfg.measures[1]);
        k.region(text);
        assert_eq!(k.acc.tally.lines, 1);
        assert_eq!(k.acc.keys.get(&b"1"[..]), Some(&1));
    }

    #[test]
    fn groups_from_a_region_equal_groups_from_lines() {
        let cfg = crate::config::Config::parse(
            r#"
[[measure]]
use = "ssh"
file = "/x"
[[measure]]
name = "n"
file = "/x"
match = ['port ([0-9]+)', '^#([0-9]+)$']
kind = "int"
extract = 1
"#,
            "t",
        )
        .unwrap();
        let mut text = Vec::new();
        for i in 0..2000u32 {
            let line = match i % 5 {
                0 => format!("Jan  1 h sshd[{i}]: Failed password for invalid user a from b from 10.0.{}.{} port {i} ssh2", i % 7, i % 3),
                1 => format!("Jan  1 h sshd-session[{i}]: Invalid user x y from 2001:db8::{} port {i}", i % 9),
                2 => format!("#{i}"),
                3 => format!("Jan  1 h sshd[{i}]: Connection closed by 10.1.1.{} port {i} [preauth]", i % 4),
                _ => format!("noise {} {}", "z".repeat((i % 300) as usize * 1000), i),
            };
            text.extend_from_slice(line.as_bytes());
            text.push(b'\n');
        }
        for m in &cfg.measures {
            let mut a = Matcher::new(m);
            a.region(&text);
            let mut b = Matcher::new(m);
            for l in text[..text.len() - 1].split(|c| *c == b'\n') {
                b.line(l);
            }
            assert_eq!(a.acc.tally, b.acc.tally, "{}", m.name);
            assert_eq!(a.acc.keys, b.acc.keys, "{}", m.name);
            assert!(a.acc.tally.lines > 0);
        }
    }
}
