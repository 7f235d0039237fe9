#![cfg(target_os = "linux")]
//! Fault loops: `kill -9` at pseudo-random points of `init`, `check`, `update`, a learner
//! state save (`replay`) and a log position save (`scan` with a `[[measure]]` on a
//! growing log), `HOMEOSTAT_FAULT_RUNS` times each (default [`DEFAULT_RUNS`]), the
//! delays drawn from a seeded xorshift whose seed each loop prints
//! (`HOMEOSTAT_FAULT_SEED` repeats it). The peer fetch has its own file,
//! `fault_loops_peers.rs`.
//!
//! No loop puts the state back between faults: each kill lands on what the kills before
//! it left, as on a host that keeps crashing. After each kill the loop checks:
//! - the next run never fails on a torn file (no exit 17, no "damaged" warning);
//! - each state file is the old one or the new one: byte for byte where the new one is
//!   known (the learner state: `replay` is deterministic), else by what it decodes to
//!   (the files database: the next check reports every pending change or none);
//! - no finding is lost (as `kill_points.rs` defines it: a complete line of the killed
//!   run's stdout or `file_changes.log`, or of the next run, reports it);
//! - log positions never pass a line not yet counted and never skip one: each matching
//!   line is counted once, or twice when the kill fell between the report and the save
//!   (at least once, never lost; the double counts are tallied);
//! - at most one temporary file per blob survives a kill (each writer clears dead
//!   writers' ones first), and none once a write completes.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use homeostat_tests::content::{rand_bytes, text_bytes};
use homeostat_tests::faults::{
    at_most_one_temp_each, complete_json, complete_len, copy_files, delay_in, kill_after, kill_now,
    left_temp, rng_for, runs, stale_temps, temp_files, Rng, Tally, TightPipe,
};
use homeostat_tests::filelog::parse_log;
use homeostat_tests::fixture::Fixture;
use homeostat_tests::fs::chmod;
use homeostat_tests::json::of_type;
use homeostat_tests::run::homeostat_bin;
use homeostat_tests::text::{esc, esc_log};

/// Faults per loop when `HOMEOSTAT_FAULT_RUNS` is not set: enough to cross every phase
/// of the command a few times, small enough for `ci/test.sh`.
const DEFAULT_RUNS: usize = 8;
/// Longest a victim may take to block or exit.
const STUCK: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------
// init, check, update

const DIRS: usize = 20;
const FILES_PER_DIR: usize = 60;

/// A tree of small files and one big one sized so that `init` takes about this long:
/// long enough for random delays to land in the walk, the hashing, the write and the
/// rename; short enough for a loop of hundreds.
const TARGET: Duration = Duration::from_millis(400);

/// The tree, what was changed since the database last accepted, and how long `init` took.
struct Tree {
    fx: Fixture,
    files: Vec<PathBuf>,
    /// Generation of each small file: every rewrite makes it longer (its size changes).
    generation: Vec<u64>,
    /// JSON path form of every file changed since the last accepted baseline.
    pending: BTreeSet<String>,
    /// `file_changes.log` path form → JSON form.
    log_form: BTreeMap<String, String>,
    took: Duration,
}

impl Tree {
    fn new() -> Tree {
        let fx = Fixture::bare();
        let mut files = Vec::new();
        for d in 0..DIRS {
            let dir = fx.tree.join(format!("d{d:02}"));
            std::fs::create_dir(&dir).unwrap();
            for f in 0..FILES_PER_DIR {
                let p = dir.join(format!("f{f:03}.conf"));
                let seed = files.len() as u64;
                std::fs::write(&p, text_bytes(seed, 200 + (seed as usize * 37) % 600)).unwrap();
                files.push(p);
            }
        }
        fx.write_config("update = true", "");
        let mut log_form = BTreeMap::new();
        for p in &files {
            let b = p.as_os_str().as_encoded_bytes();
            log_form.insert(esc_log(b), esc(b));
        }
        let generation = vec![0; files.len()];
        let mut t = Tree {
            fx,
            files,
            generation,
            pending: BTreeSet::new(),
            log_form,
            took: Duration::ZERO,
        };
        t.size_big_file();
        t
    }

    /// Grows `big.bin` until one `init` takes [`TARGET`] (at most 64 MiB).
    fn size_big_file(&mut self) {
        let big = self.fx.tree.join("big.bin");
        let mut mib = 2;
        loop {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&big)
                .unwrap();
            let have = f.metadata().unwrap().len() as usize >> 20;
            for i in have..mib {
                f.write_all(&rand_bytes(i as u64, 1 << 20)).unwrap();
            }
            drop(f);
            let start = Instant::now();
            self.fx.init();
            self.took = start.elapsed();
            if self.took >= TARGET / 2 || mib >= 64 {
                eprintln!(
                    "init of {} files + {mib} MiB: {:?}",
                    self.files.len(),
                    self.took
                );
                return;
            }
            mib = (mib * 2).min(64);
        }
    }

    /// Rewrites 1..=6 random small files (each longer than before) and sometimes changes a
    /// mode: the changes the next check must report.
    fn change(&mut self, rng: &mut Rng) {
        for _ in 0..rng.range(1, 6) {
            let i = rng.below(self.files.len() as u64) as usize;
            self.generation[i] += 1;
            let len = 200 + (i * 37) % 600 + self.generation[i] as usize * 11;
            let p = &self.files[i];
            std::fs::write(p, text_bytes(rng.next_u64(), len)).unwrap();
            self.pending.insert(esc(p.as_os_str().as_encoded_bytes()));
        }
        if rng.below(3) == 0 {
            let i = rng.below(self.files.len() as u64) as usize;
            let p = &self.files[i];
            let mode = std::fs::metadata(p).unwrap().permissions();
            let mode = std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777;
            chmod(p, if mode == 0o600 { 0o644 } else { 0o600 });
            self.pending.insert(esc(p.as_os_str().as_encoded_bytes()));
        }
    }

    /// `homeostat --json CMD` with stdout to `out`, stderr discarded.
    fn spawn(&self, cmd: &str, out: &Path) -> Child {
        let mut c = self.fx.command(&["--json", cmd]);
        c.stdin(Stdio::null())
            .stdout(File::create(out).unwrap())
            .stderr(Stdio::null())
            .env("NO_COLOR", "1");
        c.spawn().expect("spawn homeostat")
    }

    /// File findings of complete JSON lines, with their `change`, each held to `pending`.
    fn stdout_findings(&self, bytes: &[u8], what: &str) -> BTreeSet<String> {
        let mut got = BTreeSet::new();
        for v in complete_json(bytes, what) {
            if v["type"] != "file" {
                continue;
            }
            let p = v["path"]
                .as_str()
                .expect("file line with a path")
                .to_owned();
            assert!(
                self.pending.contains(&p) && v["change"] == "changed",
                "{what}: reported {v} which did not change (pending: {:?})",
                self.pending
            );
            got.insert(p);
        }
        got
    }

    /// Findings in the complete lines of `file_changes.log`, which is then removed (so the
    /// next run's lines are its own, whatever half line the kill left).
    fn take_log_findings(&self, what: &str) -> BTreeSet<String> {
        let bytes = self.fx.log_bytes();
        let _ = std::fs::remove_file(self.fx.log_path());
        let mut got = BTreeSet::new();
        for l in parse_log(&bytes[..complete_len(&bytes)]) {
            let p = self
                .log_form
                .get(&l.path)
                .cloned()
                .unwrap_or_else(|| panic!("{what}: file_changes.log names {l:?}"));
            assert!(
                self.pending.contains(&p) && (l.letter == "C" || l.letter == "S"),
                "{what}: file_changes.log reports {l:?} which did not change"
            );
            got.insert(p);
        }
        got
    }

    /// The next, unkilled run never meets a torn database and reports all pending
    /// changes (the database is the old one) or none (the new one). Returns whether the
    /// database was the new one.
    fn next_check(&self, args: &[&str], db_before: &[u8], what: &str) -> (bool, BTreeSet<String>) {
        let left = std::fs::read(self.fx.db()).expect("files.db is gone after the kill");
        let accepted = left != db_before;
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let o = self.fx.run(&all);
        assert!(
            o.code < 16,
            "{what}: the next `{}` exited {} (17: torn database)\n{}",
            args.join(" "),
            o.code,
            o.stderr_str()
        );
        let warnings = of_type(&o.json(), "warning");
        assert!(
            warnings.is_empty(),
            "{what}: the next run warned: {warnings:?}"
        );
        let got = self.stdout_findings(&o.stdout, what);
        assert!(
            got.is_empty() || got == self.pending,
            "{what}: the next check reported {} of {} pending changes: part of them were \
             accepted (database {})",
            got.len(),
            self.pending.len(),
            if accepted { "replaced" } else { "unchanged" }
        );
        assert_eq!(
            got.is_empty(),
            accepted,
            "{what}: the findings of the next check do not match the database the killed run \
             left (replaced: {accepted})"
        );
        (accepted, got)
    }

    /// The journal's chain is intact after the kill and the next run.
    fn journal_intact(&self, what: &str) {
        let o = self.fx.run(&["verify-journal"]);
        assert_eq!(
            o.code,
            0,
            "{what}: verify-journal: {}{}",
            o.stdout_str(),
            o.stderr_str()
        );
    }
}

/// `init` or `update` (everything) killed at random points; the next `check
/// --no-update` says whether the database was replaced.
fn accept_loop(cmd: &str) {
    let mut rng = rng_for(cmd);
    let mut t = Tree::new();
    let mut tally = Tally::new(cmd);
    let out = t.fx.scratch.join("stdout");
    for i in 0..runs(DEFAULT_RUNS) {
        t.change(&mut rng);
        let db_before = std::fs::read(t.fx.db()).unwrap();
        let mut child = t.spawn(cmd, &out);
        // The first kill at once (it always finds the run starting up), then anywhere in
        // 0..1.2× a whole run, so some land after it exited.
        let delay = if i == 0 {
            Duration::ZERO
        } else {
            delay_in(&mut rng, t.took, 0.0, 1.2)
        };
        let running = kill_after(&mut child, delay);
        tally.fault(running);
        let what = format!("{cmd} #{i} killed after {delay:?} (running: {running})");
        at_most_one_temp_each(&t.fx.state, &what);
        let mid = left_temp(&t.fx.state, child.id());
        tally.note("killed mid-write", usize::from(mid));
        let (accepted, _) = t.next_check(&["check", "--no-update"], &db_before, &what);
        if accepted {
            t.pending.clear();
            tally.note("database replaced", 1);
        }
        t.journal_intact(&what);
    }
    // A write that completes clears what killed writers left.
    t.fx.run(&["update"]).expect_code(0);
    assert_eq!(
        stale_temps(&t.fx.state),
        Vec::<String>::new(),
        "{cmd}: after a whole update"
    );
    tally.finish();
}

#[test]
fn init_killed_at_random_points() {
    accept_loop("init");
}

#[test]
fn update_killed_at_random_points() {
    accept_loop("update");
}

/// `check` with `update = true` killed at random points: what it accepted it reported in
/// complete lines (stdout or `file_changes.log`), or the next check reports it.
#[test]
fn check_killed_at_random_points() {
    let mut rng = rng_for("check");
    let mut t = Tree::new();
    let mut tally = Tally::new("check");
    let out = t.fx.scratch.join("stdout");
    for i in 0..runs(DEFAULT_RUNS) {
        t.change(&mut rng);
        let _ = std::fs::remove_file(t.fx.log_path());
        let db_before = std::fs::read(t.fx.db()).unwrap();
        let mut child = t.spawn("check", &out);
        let delay = if i == 0 {
            Duration::ZERO
        } else {
            delay_in(&mut rng, t.took, 0.0, 1.2)
        };
        let running = kill_after(&mut child, delay);
        tally.fault(running);
        let what = format!("check #{i} killed after {delay:?} (running: {running})");
        // A half line the kill left is counted for nothing (and the log is put aside
        // before the next run; appending after it is `rel-state`'s torn-line case).
        let log = t.fx.log_bytes();
        tally.note(
            "log left with a torn line",
            usize::from(!log.is_empty() && !log.ends_with(b"\n")),
        );
        let mut by_killed = t.stdout_findings(&std::fs::read(&out).unwrap(), &what);
        by_killed.extend(t.take_log_findings(&what));
        tally.note(
            "killed mid-write",
            usize::from(left_temp(&t.fx.state, child.id())),
        );
        let (accepted, mut by_next) = t.next_check(&["check"], &db_before, &what);
        by_next.extend(t.take_log_findings(&format!("{what}, next check")));
        let lost: Vec<&String> = t
            .pending
            .iter()
            .filter(|p| !by_killed.contains(*p) && !by_next.contains(*p))
            .collect();
        assert!(
            lost.is_empty(),
            "{what}: accepted (database replaced: {accepted}) but reported by neither the \
             killed run nor the next check: {lost:?}"
        );
        tally.lost += lost.len();
        tally.note("findings", t.pending.len());
        tally.note(
            "reported by the killed run only",
            t.pending.len() - by_next.len(),
        );
        // The next check accepted whatever was left.
        t.pending.clear();
        assert!(
            stale_temps(&t.fx.state).is_empty(),
            "{what}: after a whole check"
        );
        t.journal_intact(&what);
    }
    tally.finish();
}

// ---------------------------------------------------------------------------------------
// learner and history state: `replay`

/// The state files a `replay` saves, in the order it saves them.
const LEARNED: [&str; 3] = ["learner.state", "history.state", "monitor.state"];

/// `epoch,observable,value` lines: `samples` samples of three observables from `first`.
fn recorded(rng: &mut Rng, first: u64, samples: u64) -> String {
    let mut s = String::new();
    for i in first..first + samples {
        let t = 1_700_000_000 + i * 300;
        for o in ["load", "users", "x_obs"] {
            s.push_str(&format!("{t},{o},{:.3}\n", rng.unit() * 10.0));
        }
    }
    s
}

fn replay(config: &Path, state: &Path, file: &Path) -> Command {
    let mut c = Command::new(homeostat_bin());
    c.arg("--config")
        .arg(config)
        .arg("--state-dir")
        .arg(state)
        .arg("replay")
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn read_learned(state: &Path) -> Vec<Vec<u8>> {
    LEARNED
        .iter()
        .map(|n| std::fs::read(state.join(n)).unwrap_or_else(|e| panic!("{n}: {e}")))
        .collect()
}

/// `replay` killed at random points, many of them inside its save: every state file is
/// byte for byte the one before or the one an unkilled replay writes (a history a sample
/// behind the learner is allowed: only views read it), and the next load sees no damage.
#[test]
fn learner_state_save_killed_at_random_points() {
    let mut rng = rng_for("learner-save");
    let mut tally = Tally::new("learner state save (replay)");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("homeostat.toml");
    std::fs::write(&config, "[monitor]\ninterval = \"300s\"\n").unwrap();
    let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    std::fs::write(&a, recorded(&mut rng, 0, 1000)).unwrap();
    std::fs::write(&b, recorded(&mut rng, 1000, 3000)).unwrap();
    let state = dir.path().join("state");
    assert!(replay(&config, &state, &a).status().unwrap().success());
    let old = read_learned(&state);
    // The new state, from an unkilled replay of a copy; and how long one takes.
    let reference = dir.path().join("reference");
    copy_files(&state, &reference);
    let start = Instant::now();
    assert!(replay(&config, &reference, &b).status().unwrap().success());
    let took = start.elapsed();
    let new = read_learned(&reference);
    for (n, (o, w)) in LEARNED.iter().zip(old.iter().zip(&new)) {
        assert_ne!(
            o, w,
            "test precondition: replaying b.csv leaves {n} as it was"
        );
    }
    eprintln!("unkilled replay of 3000 samples: {took:?}");

    for i in 0..runs(DEFAULT_RUNS) {
        for (n, bytes) in LEARNED.iter().zip(&old) {
            std::fs::write(state.join(n), bytes).unwrap();
        }
        let mut child = replay(&config, &state, &b).spawn().unwrap();
        // A third anywhere in 0..1.2×, a third near the end, a third just after a
        // temporary state file appears (inside a save).
        let (how, running) = match (i % 3, i) {
            (_, 0) => ("at once".to_owned(), kill_now(&mut child)),
            (0, _) => {
                let d = delay_in(&mut rng, took, 0.0, 1.2);
                (format!("after {d:?}"), kill_after(&mut child, d))
            }
            (1, _) => {
                let d = delay_in(&mut rng, took, 0.8, 1.1);
                (format!("after {d:?}"), kill_after(&mut child, d))
            }
            _ => {
                let end = Instant::now() + STUCK;
                let own = format!(".tmp.{}", child.id());
                while !temp_files(&state).iter().any(|t| t.ends_with(&own))
                    && !homeostat_tests::faults::exited(&child)
                {
                    assert!(Instant::now() < end, "replay neither saved nor exited");
                    std::thread::sleep(Duration::from_micros(100));
                }
                let d = Duration::from_micros(rng.below(3000));
                (
                    format!("{d:?} after a save began"),
                    kill_after(&mut child, d),
                )
            }
        };
        tally.fault(running);
        let what = format!("replay #{i} killed {how} (running: {running})");
        at_most_one_temp_each(&state, &what);
        tally.note(
            "killed mid-save",
            usize::from(left_temp(&state, child.id())),
        );
        let now = read_learned(&state);
        let mut which = String::new();
        for (k, n) in LEARNED.iter().enumerate() {
            assert!(
                now[k] == old[k] || now[k] == new[k],
                "{what}: {n} is neither the old state nor the new one ({} bytes)",
                now[k].len()
            );
            which.push(if now[k] == new[k] { 'n' } else { 'o' });
        }
        // Saved in order: a later file is never newer than an earlier one.
        assert!(
            matches!(which.as_str(), "ooo" | "noo" | "nno" | "nnn"),
            "{what}: saved out of order ({LEARNED:?}: {which})"
        );
        tally.note(&format!("left {which}"), 1);
        // The next load sees no damage.
        let o = homeostat_tests::run::run_with(&config, &state, &["--json", "state"]);
        o.expect_code(0);
        let warnings = of_type(&o.json(), "warning");
        assert!(warnings.is_empty(), "{what}: `state` warned: {warnings:?}");
        assert!(
            !state.join("learner.state.damaged").exists(),
            "{what}: the state was set aside as damaged"
        );
    }
    assert!(replay(&config, &state, &b).status().unwrap().success());
    assert_eq!(
        stale_temps(&state),
        Vec::<String>::new(),
        "after a whole replay"
    );
    tally.finish();
}

// ---------------------------------------------------------------------------------------
// log positions: `scan` with a `[[measure]]` on a growing log

/// A log, a counter of its `FAIL` lines, and the scans' state.
struct Logged {
    dir: tempfile::TempDir,
    log: PathBuf,
    config: PathBuf,
    state: PathBuf,
    written: u64,
}

impl Logged {
    fn new() -> Logged {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        let config = dir.path().join("homeostat.toml");
        std::fs::write(
            &config,
            format!(
                "[[measure]]\nname = \"fails\"\nfile = {:?}\nmatch = ['FAIL (\\d+)']\nkind = \"counter\"\n",
                log.to_str().unwrap()
            ),
        )
        .unwrap();
        let state = dir.path().join("state");
        Logged {
            dir,
            log,
            config,
            state,
            written: 0,
        }
    }

    /// Appends `lines` lines, one in four a match (at least one); returns the matches.
    fn append(&mut self, rng: &mut Rng, lines: u64) -> u64 {
        let mut s = String::new();
        let mut matches = 0;
        for k in 0..lines {
            let n = self.written + k;
            if n.is_multiple_of(4) || (k == 0 && lines < 4) {
                s.push_str(&format!(
                    "2026-01-01T00:00:00 app[{}]: FAIL {n} login\n",
                    rng.below(99)
                ));
                matches += 1;
            } else {
                s.push_str(&format!(
                    "2026-01-01T00:00:00 app[{}]: ok {n} request served\n",
                    rng.below(99)
                ));
            }
        }
        self.written += lines;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        f.write_all(s.as_bytes()).unwrap();
        matches
    }

    fn command(&self) -> Command {
        let mut c = Command::new(homeostat_bin());
        c.arg("--config")
            .arg(&self.config)
            .arg("--state-dir")
            .arg(&self.state)
            .args(["--json", "scan"])
            .stdin(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    /// The `fails` value in the complete lines of a stdout, if any.
    fn counted(bytes: &[u8], what: &str) -> Option<u64> {
        complete_json(bytes, what)
            .into_iter()
            .find(|v| v["type"] == "measurement" && v["name"] == "fails")
            .map(|v| {
                v["value"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{what}: value of {v}"))
            })
    }
}

/// `scan` killed at random points while it reads a growing log and saves its position,
/// and while it is blocked writing its report (a pipe with little room): the guarantee
/// is at least once: every matching line is counted by the killed scan or the next,
/// never skipped; it is counted twice only when the kill fell after the report and
/// before the position was saved.
#[test]
fn log_position_save_killed_at_random_points() {
    let mut rng = rng_for("log-positions");
    let mut tally = Tally::new("log position save (scan)");
    let mut l = Logged::new();
    // Start-up: the state exists; how long a scan of ~2,000 lines takes.
    let m = l.append(&mut rng, 2000);
    let start = Instant::now();
    let o = l.command().stdout(Stdio::piped()).output().unwrap();
    let took = start.elapsed();
    assert_eq!(Logged::counted(&o.stdout, "first scan"), Some(m));
    let report_len = o.stdout.len();
    let mut matched = m;
    let mut counted = m;
    let out = l.dir.path().join("stdout");
    for i in 0..runs(DEFAULT_RUNS * 2) {
        let lines = rng.range(1, 4000);
        let pending = l.append(&mut rng, lines);
        matched += pending;
        let pos_before = std::fs::read(l.state.join("logscan.state")).unwrap();
        // Odd runs: stdout a pipe with room for `room` bytes of the report, killed once
        // the scan blocks on it, so the kill lands before the position is saved.
        let (how, running, stdout, pid) = if i % 2 == 1 {
            let room = rng.below(report_len as u64 + 1) as usize;
            let (pipe, writer) = TightPipe::new(room);
            let mut child = l.command().stdout(writer).spawn().unwrap();
            let state = pipe.wait_blocked(&child, STUCK);
            let running = kill_now(&mut child);
            (
                format!("with {room} bytes of room for its report, {state}"),
                running,
                pipe.drain(),
                child.id(),
            )
        } else {
            let mut child = l
                .command()
                .stdout(File::create(&out).unwrap())
                .spawn()
                .unwrap();
            let d = if i == 0 {
                Duration::ZERO
            } else {
                delay_in(&mut rng, took, 0.0, 1.5)
            };
            let running = kill_after(&mut child, d);
            (
                format!("after {d:?}"),
                running,
                std::fs::read(&out).unwrap(),
                child.id(),
            )
        };
        tally.fault(running);
        let what = format!("scan #{i} killed {how} (running: {running}), {pending} new matches");
        let by_killed = Logged::counted(&stdout, &what);
        at_most_one_temp_each(&l.state, &what);
        tally.note("killed mid-save", usize::from(left_temp(&l.state, pid)));
        let saved = std::fs::read(l.state.join("logscan.state")).unwrap() != pos_before;
        let o = l.command().stdout(Stdio::piped()).output().unwrap();
        let code = o.status.code().unwrap_or(-1);
        assert_eq!(code, 0, "{what}: the next scan exited {code}");
        let next = Logged::counted(&o.stdout, &format!("{what}, next scan"))
            .unwrap_or_else(|| panic!("{what}: the next scan reported no count"));
        let warnings = of_type(
            &homeostat_tests::json::parse_json_lines(&o.stdout, "next scan"),
            "warning",
        );
        assert!(
            warnings.is_empty(),
            "{what}: the next scan warned: {warnings:?}"
        );
        assert!(
            by_killed.is_none() || by_killed == Some(pending),
            "{what}: the killed scan counted {by_killed:?}"
        );
        assert!(
            next == 0 || next == pending,
            "{what}: the next scan counted {next}: the position was neither the old nor the new"
        );
        assert_eq!(
            next == 0,
            saved,
            "{what}: the next count ({next}) does not match the position the killed run left"
        );
        // Never skipped: a saved position means the killed run had reported the lines.
        if saved {
            assert_eq!(
                by_killed,
                Some(pending),
                "{what}: the position moved past {pending} matches nobody counted"
            );
        }
        let lost = if next == 0 && by_killed.is_none() {
            pending
        } else {
            0
        };
        tally.lost += lost as usize;
        counted += next + if saved { pending } else { 0 };
        let twice = by_killed.is_some() && !saved;
        tally.note(
            "lines counted twice",
            if twice { pending as usize } else { 0 },
        );
        tally.note("killed before the report", usize::from(by_killed.is_none()));
        assert!(
            stale_temps(&l.state).is_empty(),
            "{what}: after a whole scan"
        );
    }
    assert_eq!(
        counted, matched,
        "each matching line counted once by a scan that saved"
    );
    tally.note("matching lines", matched as usize);
    tally.finish();
}
