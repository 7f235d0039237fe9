#![cfg(target_os = "linux")]
//! Issue 20, "clock steps go unnoticed": under a clock set back a week, `_high_ldt` and
//! `_low_ldt` of one observable were both live, and nothing said the clock had moved.
//!
//! The rule held here (agent/src/monitor/clock_step.rs): a sample before the last one
//! learned is judged but not learned, so the learner's store is byte-for-byte what it
//! was until the clock passes the last sample; each step is reported once as a `warning`
//! from `clock`; a step forward (seen by the daemon against the boot clock) is reported
//! once and learned at the new time. `replay` sets the sample times; the daemon's clock is
//! stepped through `HOMEOSTAT_CLOCK_OFFSET_FILE`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use homeostat_tests::daemon::Daemon;
use homeostat_tests::fixture::Fixture;
use homeostat_tests::run::{homeostat_bin, run_cmd, Output};
use homeostat_tests::serde_json::Value;

/// Monday 2024-01-01 00:00 UTC.
const T0: i64 = 1_704_067_200;
const STEP: i64 = 150;
const HOUR: i64 = 3600;
const WEEK: i64 = 604_800;

fn replay(state: &Path, file: &Path) -> Output {
    let a: Vec<OsString> = vec![
        "--state-dir".into(),
        state.into(),
        "--json".into(),
        "replay".into(),
        file.into(),
    ];
    let o = run_cmd(homeostat_bin(), &a, &[]);
    o.expect_code(0);
    o
}

fn write(dir: &Path, name: &str, lines: &[(i64, f64)]) -> PathBuf {
    let p = dir.join(name);
    let text: String = lines
        .iter()
        .map(|(t, v)| format!("{t},otherprocs,{v}\n"))
        .collect();
    std::fs::write(&p, text).unwrap();
    p
}

/// The learner's store: every file `Brain::save` writes.
fn store(state: &Path) -> Vec<(String, Vec<u8>)> {
    ["learner.state", "history.state"]
        .iter()
        .map(|f| (f.to_string(), std::fs::read(state.join(f)).unwrap()))
        .collect()
}

fn clock_warnings(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .filter(|v| v["type"] == "warning" && v["source"] == "clock")
        .map(|v| v["message"].as_str().unwrap().to_string())
        .collect()
}

fn class_lists(lines: &[Value]) -> Vec<(i64, Vec<String>)> {
    lines
        .iter()
        .filter(|v| v["type"] == "classes")
        .map(|v| {
            let names = v["classes"].as_array().unwrap();
            (
                v["t"].as_i64().unwrap(),
                names
                    .iter()
                    .map(|c| c.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

/// Learns a steady `otherprocs` then a leap up (`_high_ldt`, alive 10 minutes), steps the
/// clock back by `back` and replays a leap down. Returns nothing; asserts the rule.
fn set_back(back: i64) {
    let dir = homeostat_tests::tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let mut before: Vec<(i64, f64)> = (0..20)
        .map(|k| (T0 + k * STEP, 50.0 + (k % 3) as f64))
        .collect();
    let last = T0 + 20 * STEP;
    before.push((last, 500.0));
    let o = replay(&state, &write(dir.path(), "before.csv", &before));
    let lists = class_lists(&o.json());
    let high = "otherprocs_high_ldt".to_string();
    assert!(
        lists.last().unwrap().1.contains(&high),
        "the leap up raises _high_ldt: {:?}",
        lists.last()
    );
    let learned = store(&state);

    // Back by `back`: ten samples of a leap down, all before the last sample learned.
    let after: Vec<(i64, f64)> = (0..10).map(|k| (last - back + k * STEP, 1.0)).collect();
    assert!(after.iter().all(|(t, _)| *t < last));
    let o = replay(&state, &write(dir.path(), "back.csv", &after));
    let lines = o.json();
    let warned = clock_warnings(&lines);
    assert_eq!(warned.len(), 1, "one warning per step: {warned:?}");
    assert!(
        warned[0].contains(&format!("stepped back {back} s")),
        "{}",
        warned[0]
    );
    // Judged (a sample line per value), never an LDT class, never both directions.
    let samples = lines.iter().filter(|v| v["type"] == "sample").count();
    assert_eq!(samples, after.len());
    for (t, classes) in class_lists(&lines) {
        assert!(
            !classes.iter().any(|c| c.ends_with("_ldt")),
            "t={t}: {classes:?}"
        );
    }
    assert!(
        store(&state) == learned,
        "learned state changed while the clock was behind the last sample"
    );

    // Past the last sample: learning resumes, and the high leap is still the live one.
    let o = replay(
        &state,
        &write(dir.path(), "resume.csv", &[(last + STEP, 480.0)]),
    );
    assert!(clock_warnings(&o.json()).is_empty());
    let (_, classes) = class_lists(&o.json()).pop().unwrap();
    assert!(classes.contains(&high), "{classes:?}");
    assert!(!classes.iter().any(|c| c == "otherprocs_low_ldt"));
    assert!(
        store(&state) != learned,
        "a sample after the last one is learned"
    );
}

#[test]
fn clock_set_back_an_hour_learns_nothing_until_it_passes_the_last_sample() {
    set_back(HOUR);
}

#[test]
fn clock_set_back_a_week_never_leaves_high_and_low_ldt_live() {
    set_back(WEEK);
}

/// The daemon at a one-second interval, its clock stepped forward a week, then back.
#[test]
fn clock_stepped_forward_a_week_then_back_is_reported_once_each() {
    let fx = Fixture::bare();
    std::fs::write(&fx.config, "[monitor]\ninterval = \"1s\"\n").unwrap();
    let offset = fx.dir.path().join("clock-offset");
    std::fs::write(&offset, "0\n").unwrap();
    let d = Daemon::start_env(
        &fx,
        &[("HOMEOSTAT_CLOCK_OFFSET_FILE", offset.to_str().unwrap())],
    );
    let limit = Duration::from_secs(60);
    let rounds = |n: usize| move |l: &[Value]| class_lists(l).len() >= n;
    d.wait("three samples", limit, rounds(3));
    let t_before = class_lists(&d.lines()).last().unwrap().0;

    std::fs::write(&offset, format!("{WEEK}\n")).unwrap();
    d.wait("a step forward reported", limit, |l| {
        clock_warnings(l)
            .iter()
            .any(|m| m.contains("stepped forward"))
    });
    let n = class_lists(&d.lines()).len();
    d.wait("three samples at the new time", limit, rounds(n + 3));
    let lists = class_lists(&d.lines());
    assert!(lists.last().unwrap().0 >= t_before + WEEK);
    let forward = clock_warnings(&d.lines());
    assert_eq!(forward.len(), 1, "{forward:?}");
    let by: i64 = forward[0]
        .split("stepped forward ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no step in {:?}", forward[0]));
    assert!((WEEK - 5..=WEEK + 5).contains(&by), "{by}");

    // Back to the true time: a week behind the last sample learned.
    std::fs::write(&offset, "0\n").unwrap();
    d.wait("a step back reported", limit, |l| {
        clock_warnings(l).iter().any(|m| m.contains("stepped back"))
    });
    // The round that warned has saved; from here on nothing may be learned.
    let n = class_lists(&d.lines()).len();
    d.wait("one more sample", limit, rounds(n + 1));
    let learned = store(&fx.state);
    let n = class_lists(&d.lines()).len();
    d.wait("three samples behind the last one", limit, rounds(n + 3));
    assert!(
        store(&fx.state) == learned,
        "learned state changed while the clock was behind the last sample"
    );
    assert_eq!(clock_warnings(&d.lines()).len(), 2, "one warning per step");
    d.stop();
    assert!(store(&fx.state) == learned, "the state saved at exit too");
}

/// A round slowed by what comes before its sample (here a measure command; a long file
/// check alike) is no step of the clock: the boot clock is read with the wall clock at
/// the start of each round, not at the sample.
#[test]
fn a_slow_round_is_no_clock_step() {
    let fx = Fixture::bare();
    let slow = fx.dir.path().join("slow");
    let cmd = format!(
        "if [ -e {s} ]; then rm -f {s}; sleep 5; fi; echo hit",
        s = slow.display()
    );
    std::fs::write(
        &fx.config,
        format!(
            "[monitor]\ninterval = \"1s\"\n\n[[measure]]\nname = \"slow\"\ncommand = {cmd:?}\n\
             match = \"^hit$\"\ntimeout = \"30s\"\n"
        ),
    )
    .unwrap();
    let d = Daemon::start(&fx);
    let limit = Duration::from_secs(60);
    d.wait("two samples", limit, |l| class_lists(l).len() >= 2);
    std::fs::write(&slow, "").unwrap();
    let n = class_lists(&d.lines()).len();
    // The slow round, then three after it.
    d.wait("four more samples", limit, |l| {
        class_lists(l).len() >= n + 4
    });
    assert!(!slow.exists(), "the slow round ran");
    let warned = clock_warnings(&d.lines());
    assert!(warned.is_empty(), "{warned:?}");
    d.stop();
}
