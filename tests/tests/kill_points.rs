#![cfg(target_os = "linux")]
//! No change is ever accepted without being reported: `check` with `update = true` is
//! killed with SIGKILL at many points between reading the tree and exiting, and every
//! change of a known set must be reported by the killed run or by the next one.
//!
//! "Reported" means, precisely: a complete line (ended by `\n`) that the test could read
//! after the kill, in one of
//! - the killed run's stdout (a `{"type":"file"}` JSON line naming the path), whatever
//!   reached the pipe or the file before the kill;
//! - `file_changes.log` as the killed run left it (a complete `N`/`R`/`C`/`S` line);
//! - the next, unkilled `--json check`: its stdout or its `file_changes.log` lines.
//!
//! A half-written last line counts for nothing. The other direction holds too: nothing is
//! reported that did not change (each reported path is in the oracle's diff, with the
//! same kind of change), the next check never finds a torn database (never exits 17 or
//! any error), and it reports either every change (the killed run did not accept) or
//! none (it accepted): the database is the old one or the new one, never a mix.
//!
//! One tree per test: a few thousand small files, then a known set of changes (content,
//! mode, added, removed, and the directories holding them) whose JSON report is several
//! times a pipe buffer. The tree is never touched again; before each kill point the state
//! dir is put back to the copy taken right after `init`, so every point starts from the
//! same baseline and the same changes.
//!
//! 24 + up to 10 slow-pipe points and 24 delay points; about 20 s of CPU with a debug
//! binary. The binary from before the fix (rename before the final flush of stdout and
//! the log) loses the last findings at the slow-pipe points just short of the end.
//!
//! Kill points:
//! - [`kill_while_reporting_into_a_slow_pipe`]: the test reads exactly `k` bytes of
//!   stdout and stops reading; the run goes on until it blocks writing to the full pipe
//!   (the test waits for that state, read from `/proc/PID/task/*/syscall`, or for its
//!   exit), then gets SIGKILL. `k` runs over 0..=whole report, evenly, plus points packed
//!   around "whole report minus one pipe buffer", where the last writes, the commit of
//!   the sinks and the rename of the database happen. Deterministic: each `k` pins the
//!   run at one blocked write. (Where `/proc/PID/task/*/syscall` cannot be read, the
//!   test waits for the pipe to be full instead.)
//! - [`kill_after_delays`]: SIGKILL after delays spread over 0..1.2× the duration of an
//!   unkilled run (the faster of two measured first), which lands in start-up, hashing, reporting, the
//!   commit and the rename, and after exit. Stdout goes to a pipe read at full speed or
//!   to a file, alternately. Where a kill lands is up to the scheduler; the assertions
//!   hold wherever it lands.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Read;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use homeostat_tests::content::text_bytes;
use homeostat_tests::faults::{blocked_writing_stdout, complete_len, complete_lines, exited};
use homeostat_tests::filelog::parse_log;
use homeostat_tests::fixture::Fixture;
use homeostat_tests::fs::{chmod, tick};
use homeostat_tests::run::homeostat_bin;
use homeostat_tests::snapshot::{diff, Delta};
use homeostat_tests::text::{esc, esc_log};

const DIRS: usize = 16;
const FILES_PER_DIR: usize = 160;
/// New files per directory.
const ADDED_PER_DIR: usize = 12;
/// Evenly spread points (per test).
const EVEN_POINTS: usize = 24;
/// Extra slow-pipe points packed around "whole report minus one pipe buffer".
const PACKED_POINTS: usize = 10;
/// Longest the test waits for a run to block or exit, or for a run to finish.
const STUCK: Duration = Duration::from_secs(60);

/// A change the contract can report: the JSON `change` value.
type Kind = &'static str;

/// A fixture with the tree built, baselined and changed, and what changed.
struct Setup {
    fx: Fixture,
    /// The state dir right after `init`.
    pristine: PathBuf,
    /// Escaped path (JSON form) → kind of change.
    expected: BTreeMap<String, Kind>,
    /// Escaped path in the log's form (commas escaped too) → JSON form.
    log_form: BTreeMap<String, String>,
}

fn kind_of(d: &Delta) -> Kind {
    match d {
        Delta::Added => "added",
        Delta::Removed => "removed",
        Delta::Changed(_) => "changed",
    }
}

fn setup() -> Setup {
    let fx = Fixture::bare();
    for d in 0..DIRS {
        let dir = fx.tree.join(format!("d{d:02}"));
        std::fs::create_dir(&dir).unwrap();
        for f in 0..FILES_PER_DIR {
            let seed = (d * FILES_PER_DIR + f) as u64;
            std::fs::write(
                dir.join(format!("f{f:03}.conf")),
                text_bytes(seed, 200 + (seed as usize * 37) % 600),
            )
            .unwrap();
        }
    }
    fx.write_config("update = true", "");
    fx.init();
    let pristine = fx.dir.path().join("pristine-state");
    copy_dir(&fx.state, &pristine);
    let before = fx.baseline();

    tick();
    for d in 0..DIRS {
        let dir = fx.tree.join(format!("d{d:02}"));
        for f in 0..FILES_PER_DIR {
            let p = dir.join(format!("f{f:03}.conf"));
            match f % 8 {
                // content, size and mtime (and ctime)
                0 => std::fs::write(&p, text_bytes(1_000_000 + f as u64, 900)).unwrap(),
                // mode (and ctime)
                3 => chmod(&p, 0o600),
                5 => std::fs::remove_file(&p).unwrap(),
                _ => {}
            }
        }
        for a in 0..ADDED_PER_DIR {
            std::fs::write(dir.join(format!("new{a:02}.conf")), b"added\n").unwrap();
        }
    }
    let after = fx.snapshot(Some(&before));
    let oracle = diff(&before, &after);
    let mut expected = BTreeMap::new();
    let mut log_form = BTreeMap::new();
    for (abs, d) in &oracle {
        if let Delta::Changed(attrs) = d {
            assert!(
                attrs.iter().any(|a| *a != "ctime"),
                "test precondition: {} changed in ctime only (no file_changes.log line)",
                esc(abs)
            );
        }
        expected.insert(esc(abs), kind_of(d));
        log_form.insert(esc_log(abs), esc(abs));
    }
    assert_eq!(
        expected.len(),
        DIRS * (FILES_PER_DIR / 8 * 3 + ADDED_PER_DIR + 1),
        "test precondition: the oracle saw other changes than the test made"
    );
    Setup {
        fx,
        pristine,
        expected,
        log_form,
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        assert!(
            e.file_type().unwrap().is_file(),
            "test precondition: the state dir holds only files, not {:?}",
            e.path()
        );
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

impl Setup {
    /// The state dir as it was right after `init`: the old baseline, no log, no temp files.
    fn reset(&self) {
        std::fs::remove_dir_all(&self.fx.state).unwrap();
        copy_dir(&self.pristine, &self.fx.state);
    }

    /// `homeostat --config CFG --state-dir DIR --json check`, stdout as given, stderr to
    /// a file (a pipe nobody reads could block it).
    fn spawn_check(&self, stdout: Stdio) -> Child {
        let fx = &self.fx;
        Command::new(homeostat_bin())
            .arg("--config")
            .arg(&fx.config)
            .arg("--state-dir")
            .arg(&fx.state)
            .args(["--json", "check"])
            .env("XDG_STATE_HOME", fx.dir.path().join("xdg"))
            .env("HOME", fx.dir.path())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(File::create(fx.scratch.join("stderr")).unwrap())
            .spawn()
            .expect("spawn homeostat")
    }

    /// The file findings in complete lines of a stdout: path → kinds.
    fn stdout_findings(&self, bytes: &[u8], what: &str, into: &mut Reported) {
        for line in complete_lines(bytes) {
            let text = std::str::from_utf8(line)
                .unwrap_or_else(|e| panic!("{what}: stdout line not UTF-8 ({e}): {line:?}"));
            let v: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|e| {
                panic!("{what}: complete stdout line is not JSON ({e}): {text:?}")
            });
            if v["type"] == "file" {
                let path = v["path"]
                    .as_str()
                    .expect("file line without path")
                    .to_owned();
                let change = v["change"].as_str().expect("file line without change");
                into.entry(path).or_default().insert(change.to_owned());
            }
        }
    }

    /// The findings in complete lines of a `file_changes.log`: path → kinds.
    fn log_findings(&self, bytes: &[u8], into: &mut Reported) {
        let n = complete_len(bytes);
        for l in parse_log(&bytes[..n]) {
            assert_eq!(l.handle, self.fx.handle(), "file_changes.log handle: {l:?}");
            let kind = match l.letter.as_str() {
                "N" => "added",
                "R" => "removed",
                "C" | "S" => "changed",
                other => panic!("file_changes.log letter {other:?}: {l:?}"),
            };
            let path = self
                .log_form
                .get(&l.path)
                .cloned()
                .unwrap_or_else(|| format!("{} (log form)", l.path));
            into.entry(path).or_default().insert(kind.to_owned());
        }
    }

    fn log_bytes(&self) -> Vec<u8> {
        self.fx.log_bytes()
    }
}

/// Path → the kinds of change reported for it.
type Reported = BTreeMap<String, BTreeSet<String>>;

/// What became of one kill point.
struct Outcome {
    point: String,
    /// Expected paths no run reported.
    lost: Vec<String>,
}

/// What the killed run left: its stdout bytes and whether the kill found it running.
struct Killed {
    stdout: Vec<u8>,
    running: bool,
}

/// After a kill: collects the killed run's stdout and log, runs `check` again and holds
/// both to the expected set. Panics at once on a wrong report or a torn database; returns
/// the lost paths.
fn judge(s: &Setup, point: String, killed: Killed) -> Outcome {
    let what = format!(
        "kill point {point} ({})",
        if killed.running {
            "killed while running"
        } else {
            "had already exited"
        }
    );
    let mut by_killed = Reported::new();
    s.stdout_findings(&killed.stdout, &what, &mut by_killed);
    s.log_findings(&s.log_bytes(), &mut by_killed);
    // The next run's log lines on their own: the killed run may have left half a line.
    let _ = std::fs::remove_file(s.fx.log_path());
    let db_before_next = std::fs::read(s.fx.db()).expect("files.db is gone after the kill");
    let accepted = db_before_next != std::fs::read(s.pristine.join("files.db")).unwrap();

    let next = s.fx.run(&["--json", "check"]);
    assert!(
        next.code < 16,
        "{what}: the next check failed with {} (17: torn database)\n--- stderr\n{}",
        next.code,
        next.stderr_str()
    );
    let mut by_next = Reported::new();
    s.stdout_findings(&next.stdout, &format!("{what}, next check"), &mut by_next);
    s.log_findings(&s.log_bytes(), &mut by_next);

    // Nothing that did not change, and each path with its own kind of change.
    for (src, rep) in [("the killed run", &by_killed), ("the next check", &by_next)] {
        for (p, kinds) in rep {
            let want = s.expected.get(p);
            assert!(
                want.is_some_and(|w| kinds.len() == 1 && kinds.contains(*w)),
                "{what}: {src} reported {p} as {kinds:?}; the oracle says {want:?}"
            );
        }
    }
    // The database is the old or the new one: the next check reports all or nothing.
    let next_paths: BTreeSet<&String> = by_next.keys().collect();
    let all: BTreeSet<&String> = s.expected.keys().collect();
    assert!(
        next_paths.is_empty() || next_paths == all,
        "{what}: the next check reported {} of {} changes: the killed run accepted part of them \
         (database {})",
        next_paths.len(),
        all.len(),
        if accepted { "replaced" } else { "unchanged" }
    );
    assert_eq!(
        next_paths.is_empty(),
        accepted,
        "{what}: the next check's findings do not match the database the killed run left"
    );

    let lost: Vec<String> = s
        .expected
        .keys()
        .filter(|p| !by_killed.contains_key(*p) && !by_next.contains_key(*p))
        .cloned()
        .collect();
    let line = format!(
        "{what}: killed run reported {} (stdout {} bytes), database {}, next check reported {}; \
         lost {}",
        by_killed.len(),
        killed.stdout.len(),
        if accepted { "replaced" } else { "unchanged" },
        by_next.len(),
        lost.len()
    );
    eprintln!("{line}");
    Outcome { point: what, lost }
}

/// Panics, naming every point that lost findings and which, if any did.
fn verdict(s: &Setup, outcomes: &[Outcome], min_running: usize, running: usize) {
    let bad: Vec<&Outcome> = outcomes.iter().filter(|o| !o.lost.is_empty()).collect();
    if !bad.is_empty() {
        let mut msg = format!(
            "{} of {} kill points lost findings: accepted into the database, reported by neither \
             the killed run nor the next check (paths under {})\n",
            bad.len(),
            outcomes.len(),
            s.fx.tree_str()
        );
        for o in bad {
            let root = format!("{}/", s.fx.tree_str());
            msg.push_str(&format!(
                "- {}: {} of {} lost: {}{}\n",
                o.point,
                o.lost.len(),
                s.expected.len(),
                o.lost
                    .iter()
                    .take(20)
                    .map(|p| p.strip_prefix(&root).unwrap_or(p))
                    .collect::<Vec<_>>()
                    .join(" "),
                if o.lost.len() > 20 { " …" } else { "" }
            ));
        }
        panic!("{msg}");
    }
    assert!(
        running >= min_running,
        "test precondition: only {running} of {} kills landed while the run was running",
        outcomes.len()
    );
}

/// One unkilled run from the baseline: the precondition that it reports exactly the
/// expected set, and how long it takes and how much it prints.
fn reference_run(s: &Setup) -> (Duration, usize) {
    s.reset();
    let start = Instant::now();
    let o = s.fx.run(&["--json", "check"]);
    let took = start.elapsed();
    o.expect_code(7);
    let mut rep = Reported::new();
    s.stdout_findings(&o.stdout, "unkilled check", &mut rep);
    let got: BTreeMap<&String, Vec<&String>> =
        rep.iter().map(|(p, k)| (p, k.iter().collect())).collect();
    let want: BTreeMap<&String, Vec<String>> = s
        .expected
        .iter()
        .map(|(p, k)| (p, vec![(*k).to_owned()]))
        .collect();
    assert_eq!(
        format!("{got:?}"),
        format!("{want:?}"),
        "test precondition: an unkilled check does not report exactly the changes made"
    );
    eprintln!(
        "unkilled check: {} findings, {} bytes of stdout, {took:?}",
        s.expected.len(),
        o.stdout.len()
    );
    (took, o.stdout.len())
}

/// Bytes waiting in the pipe and its capacity.
#[allow(unsafe_code)] // one libc call each, with its SAFETY note
fn pipe_fill(fd: i32) -> (usize, usize) {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int; F_GETPIPE_SZ takes no argument.
    let (r, cap) = unsafe {
        (
            libc::ioctl(fd, libc::FIONREAD, &mut n),
            libc::fcntl(fd, libc::F_GETPIPE_SZ),
        )
    };
    assert!(r == 0 && cap > 0, "ioctl/fcntl on the stdout pipe failed");
    (n as usize, cap as usize)
}

/// The capacity a new pipe gets on this system (64 KiB unless tuned).
#[allow(unsafe_code)] // one libc call each, with its SAFETY note
fn default_pipe_size() -> usize {
    let mut fds = [0; 2];
    // SAFETY: pipe writes two fds into the array; both are closed below.
    unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0, "pipe");
        let cap = libc::fcntl(fds[0], libc::F_GETPIPE_SZ);
        libc::close(fds[0]);
        libc::close(fds[1]);
        assert!(cap > 0, "F_GETPIPE_SZ");
        cap as usize
    }
}

#[test]
fn kill_while_reporting_into_a_slow_pipe() {
    let s = setup();
    let (_, total) = reference_run(&s);
    let pipe = default_pipe_size();
    assert!(
        total > 3 * pipe,
        "test precondition: the report ({total} bytes) should be several pipe buffers"
    );
    let mut ks: BTreeSet<usize> = (0..EVEN_POINTS)
        .map(|i| total * i / (EVEN_POINTS - 1))
        .collect();
    // Packed around the end: the last pipe buffer's worth is what is still unread when
    // the run has written its whole report, so the commit and the rename happen while
    // the test sits at about total − pipe.
    for j in 0..PACKED_POINTS {
        let back = pipe / 2 + j * (pipe * 3 / 2) / PACKED_POINTS;
        ks.insert(total.saturating_sub(back));
    }
    let mut outcomes = Vec::new();
    let mut running = 0;
    for k in ks {
        s.reset();
        let mut child = s.spawn_check(Stdio::piped());
        let mut out = child.stdout.take().unwrap();
        let mut got = vec![0u8; k];
        let mut n = 0;
        while n < k {
            match out.read(&mut got[n..]).unwrap() {
                0 => break,
                r => n += r,
            }
        }
        got.truncate(n);
        // Wait (polling the state, never a guess) until the run blocks on the full pipe
        // or exits.
        let deadline = Instant::now() + STUCK;
        let how = loop {
            if exited(&child) {
                break "exited";
            }
            match blocked_writing_stdout(child.id()) {
                Some(true) => break "blocked in write(1)",
                Some(false) => {}
                None => {
                    let (fill, cap) = pipe_fill(out.as_raw_fd());
                    if fill >= cap {
                        break "pipe full";
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "k={k}: the run neither blocked nor exited"
            );
            std::thread::sleep(Duration::from_micros(200));
        };
        let was_running = !exited(&child);
        child.kill().unwrap();
        child.wait().unwrap();
        out.read_to_end(&mut got).unwrap();
        running += usize::from(was_running);
        outcomes.push(judge(
            &s,
            format!("k={k}/{total} bytes read, then {how}"),
            Killed {
                stdout: got,
                running: was_running,
            },
        ));
    }
    verdict(&s, &outcomes, EVEN_POINTS / 2, running);
}

#[test]
fn kill_after_delays() {
    let s = setup();
    // The faster of two runs: a slow outlier would push the later points past the end.
    let took = reference_run(&s).0.min(reference_run(&s).0);
    let mut outcomes = Vec::new();
    let mut running = 0;
    for i in 0..EVEN_POINTS {
        let delay = took.mul_f64(1.2 * i as f64 / (EVEN_POINTS - 1) as f64);
        let to_file = i % 2 == 1;
        s.reset();
        let out_path = s.fx.scratch.join("stdout");
        let (mut child, reader) = if to_file {
            (s.spawn_check(File::create(&out_path).unwrap().into()), None)
        } else {
            let mut child = s.spawn_check(Stdio::piped());
            let mut out = child.stdout.take().unwrap();
            let reader = std::thread::spawn(move || {
                let mut v = Vec::new();
                out.read_to_end(&mut v).unwrap();
                v
            });
            (child, Some(reader))
        };
        // Timing is the point here: wherever the kill lands, the assertions hold.
        std::thread::sleep(delay);
        let was_running = !exited(&child);
        child.kill().unwrap();
        child.wait().unwrap();
        let stdout = match reader {
            Some(r) => r.join().unwrap(),
            None => std::fs::read(&out_path).unwrap(),
        };
        running += usize::from(was_running);
        outcomes.push(judge(
            &s,
            format!(
                "{delay:?} after start (stdout to a {})",
                if to_file { "file" } else { "pipe" }
            ),
            Killed {
                stdout,
                running: was_running,
            },
        ));
    }
    verdict(&s, &outcomes, EVEN_POINTS / 4, running);
}
