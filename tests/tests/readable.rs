#![cfg(target_os = "linux")]
//! The readable default: a first `scan` with `[monitor]` prints only the observables with
//! a value or a class (JSON keeps every sample), says that a young table's classes are
//! provisional, and `state --all` shows the idle observables that `state` leaves out.

use std::path::Path;
use std::process::Command;

use homeostat_tests::run::homeostat_bin;
use homeostat_tests::tempfile::TempDir;

fn hs(dir: &Path, args: &[&str]) -> String {
    let o = Command::new(homeostat_bin())
        .arg("--config")
        .arg(dir.join("homeostat.toml"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .args(args)
        .output()
        .expect("run homeostat");
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("UTF-8 output")
}

/// Sample rows of text output: `(name, value, classes)`.
fn rows(text: &str) -> Vec<(String, String, Vec<String>)> {
    text.lines()
        .filter(|l| l.contains("  week ") && l.contains(" dev "))
        .map(|l| {
            let t: Vec<&str> = l.split_whitespace().collect();
            let dev = t.iter().position(|w| *w == "dev").expect("dev column");
            let classes = t[dev + 2..]
                .iter()
                .filter(|w| **w != "entropy" && !w.ends_with('%'))
                .map(|w| w.to_string())
                .collect();
            (t[0].to_string(), t[1].to_string(), classes)
        })
        .collect()
}

#[test]
fn first_scan_is_short_and_says_the_table_is_young() {
    let work = TempDir::new().unwrap();
    std::fs::write(
        work.path().join("homeostat.toml"),
        "[monitor]\ninterval = \"150s\"\n",
    )
    .unwrap();
    let json = hs(work.path(), &["--json", "scan"]);
    let samples = json
        .lines()
        .filter(|l| l.contains("\"type\":\"sample\""))
        .count();
    let text = hs(work.path(), &["scan"]);
    let shown = rows(&text);
    assert!(
        samples >= 29,
        "the host's observables are all sampled: {samples}"
    );
    assert!(
        shown.len() < samples,
        "idle observables are left out:\n{text}"
    );
    for (name, value, classes) in &shown {
        assert!(
            value != "0.00" || !classes.is_empty(),
            "idle row {name}:\n{text}"
        );
    }
    assert!(
        text.contains("learning: 0 of 7 days (2 of 4032 samples); classes are provisional"),
        "{text}"
    );
    let state = hs(work.path(), &["state"]);
    let all = hs(work.path(), &["state", "--all"]);
    let count = |s: &str| s.lines().filter(|l| l.contains(" weekly ")).count();
    assert!(
        count(&all) > count(&state),
        "state:\n{state}\nstate --all:\n{all}"
    );
    // Every observable measured (a service seen only by the second scan adds one).
    assert!(
        count(&all) >= samples,
        "--all: {} of {samples}",
        count(&all)
    );
    assert!(state.contains("learning: 0 of 7 days"), "{state}");
}
