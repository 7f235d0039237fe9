//! Helpers of the real-time tests: a watched fixture, `run` started and waited for, and
//! questions about its findings.

use std::fs;
use std::time::Duration;

use serde_json::Value;

use crate::daemon::{findings, Daemon};
use crate::fixture::Fixture;
use crate::procs::wait_for;

/// The contract: a change is reported within this.
pub const REALTIME: Duration = Duration::from_secs(2);

/// A fixture whose tree is watched in real time, with what is reported accepted.
pub fn watched(files: &[&str]) -> Fixture {
    let fx = Fixture::bare();
    for f in files {
        let p = fx.tree.join(f);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, f.as_bytes()).unwrap();
    }
    fx.write_config("update = true", "realtime = true");
    fx
}

/// Starts `run` and waits for its first round (which records the baseline, the watch
/// already set): its heartbeat.
pub fn start(fx: &Fixture) -> Daemon {
    start_with(fx, Mechanism::Best)
}

#[derive(Clone, Copy, PartialEq)]
pub enum Mechanism {
    /// fanotify as root.
    Best,
    Inotify,
}

pub fn start_with(fx: &Fixture, m: Mechanism) -> Daemon {
    let env: &[(&str, &str)] = match m {
        Mechanism::Best => &[],
        Mechanism::Inotify => &[("HOMEOSTAT_WATCH", "inotify")],
    };
    let mut cmd = fx.command(&["--json", "run"]);
    cmd.envs(env.iter().copied());
    start_cmd(fx, cmd)
}

/// Starts `cmd` (a `run --json` of `fx`, as [`Daemon::spawn`] takes it) and waits for its
/// first round: its heartbeat.
pub fn start_cmd(fx: &Fixture, cmd: std::process::Command) -> Daemon {
    let beat = fx.state.join("heartbeat");
    let before = fs::metadata(&beat).and_then(|m| m.modified()).ok();
    let d = Daemon::spawn(cmd);
    wait_for(Duration::from_secs(20), Duration::from_millis(20), || {
        let now = fs::metadata(&beat).and_then(|m| m.modified()).ok();
        (now.is_some() && now != before).then_some(())
    })
    .expect("run's first round (its heartbeat) within 20 s");
    d
}

pub fn p(fx: &Fixture, rel: &str) -> String {
    fx.tree.join(rel).to_str().unwrap().to_owned()
}

/// A finding of `path` with this change and `via`.
pub fn has(lines: &[Value], path: &str, change: &str, via: &str) -> bool {
    findings(lines, path)
        .iter()
        .any(|v| v["change"] == change && v["via"] == via)
}

pub fn count(lines: &[Value], path: &str, change: &str) -> usize {
    findings(lines, path)
        .iter()
        .filter(|v| v["change"] == change)
        .count()
}

/// Makes one last change and waits for it: every batch before it has been reported.
pub fn settle(d: &Daemon, fx: &Fixture, name: &str) {
    fs::write(fx.tree.join(name), b"end").unwrap();
    let path = p(fx, name);
    d.wait("the last change", Duration::from_secs(30), |l| {
        findings(l, &path).iter().any(|v| v["change"] == "added")
    });
}

/// Stops `run` and checks that a `check` finds nothing left unaccepted.
pub fn stop_and_check_clean(d: Daemon, fx: &Fixture) {
    d.stop();
    let o = fx.run(&["--json", "check"]);
    o.expect_code(0);
    assert!(o.files().is_empty(), "check after run: {:?}", o.files());
}

/// The epoch of the heartbeat in the state dir.
pub fn heartbeat_t(fx: &Fixture) -> i64 {
    let b = fs::read(fx.state.join("heartbeat")).expect("heartbeat after a stop");
    let v: Value = serde_json::from_slice(&b).unwrap();
    v["t"].as_i64().expect("heartbeat t")
}
