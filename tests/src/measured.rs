//! Runs of the binary under limits, with their peak memory: `ulimit -n` (a walk that
//! needed a descriptor per level would fail) and `/usr/bin/time`'s maximum resident set
//! (the child's own `ru_maxrss`, not the test process's other children).

use std::ffi::{OsStr, OsString};
use std::path::Path;

use crate::run::{homeostat_bin, run_cmd, Output};

/// `homeostat --config CONFIG --state-dir STATE ARGS…` with at most `max_fds` open
/// descriptors and the environment `envs` added; returns its output and its peak
/// resident set in KiB.
pub fn run_measured(
    config: &Path,
    state: &Path,
    args: &[&str],
    max_fds: u32,
    scratch: &Path,
    envs: &[(&str, &OsStr)],
) -> (Output, u64) {
    let time = Path::new("/usr/bin/time");
    assert!(
        time.exists(),
        "/usr/bin/time (GNU time) is needed to measure peak memory"
    );
    let report = scratch.join("maxrss");
    let mut all: Vec<OsString> = vec![
        "-f".into(),
        "%M".into(),
        "-o".into(),
        report.clone().into(),
        "sh".into(),
        "-c".into(),
        format!("ulimit -n {max_fds} && exec \"$0\" \"$@\"").into(),
        homeostat_bin().into(),
        "--config".into(),
        config.into(),
        "--state-dir".into(),
        state.into(),
    ];
    all.extend(args.iter().map(OsString::from));
    let o = run_cmd(time, &all, envs);
    let text = std::fs::read_to_string(&report).expect("time's report");
    let kib = text
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in {text:?}"));
    (o, kib)
}
