#![cfg(target_os = "linux")]
//! Issue 20, "SIGTERM can take a whole sample (7 s with a slow measure command) before
//! exiting": `run` now stops within about a second of SIGTERM even mid-sample; the slow
//! command is killed and reaped, the round in progress is abandoned, and the state on disk
//! is the last complete round's, byte for byte.

use std::path::Path;
use std::time::{Duration, Instant};

use homeostat_tests::daemon::Daemon;
use homeostat_tests::fixture::Fixture;
use homeostat_tests::serde_json::Value;

/// Every file a round saves (learner, history, peaks and last classes, log positions).
const STATE: [&str; 4] = [
    "learner.state",
    "history.state",
    "monitor.state",
    "logscan.state",
];

fn state(dir: &Path) -> Vec<(&'static str, Option<Vec<u8>>)> {
    STATE
        .iter()
        .map(|f| (*f, std::fs::read(dir.join(f)).ok()))
        .collect()
}

fn rounds(lines: &[Value]) -> usize {
    lines.iter().filter(|v| v["type"] == "classes").count()
}

#[test]
fn sigterm_mid_sample_with_a_slow_measure_command_exits_within_a_second() {
    let fx = Fixture::bare();
    let slow = fx.dir.path().join("slow");
    let started = fx.dir.path().join("started");
    // Quick until `slow` exists; then it says its pid and sleeps 7 s (as `sleep`, same pid).
    let cmd = format!(
        "if [ -e {s} ]; then echo $$ > {p}.tmp && mv {p}.tmp {p} && exec sleep 7; fi; echo hit",
        s = slow.display(),
        p = started.display()
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
    d.wait("two complete rounds", limit, |l| rounds(l) >= 2);
    std::fs::write(&slow, "").unwrap();
    let t = Instant::now();
    while !started.exists() {
        assert!(t.elapsed() < limit, "the slow command never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid: u32 = std::fs::read_to_string(&started)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The round before this one is complete and saved; this one has saved nothing yet.
    let before = state(&fx.state);
    assert!(before.iter().all(|(_, b)| b.is_some()), "{before:?}");
    assert!(Path::new(&format!("/proc/{pid}")).exists());

    let t = Instant::now();
    d.stop(); // SIGTERM, then waits: it must exit 0
    let took = t.elapsed();
    eprintln!("exited {took:?} after SIGTERM, mid-command");
    assert!(
        took < Duration::from_secs(3),
        "took {took:?} to stop (the command sleeps 7 s)"
    );
    // The command was killed and reaped by the daemon: no process is left under its pid.
    let gone = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            gone.elapsed() < Duration::from_secs(2),
            "the measure command {pid} outlived the daemon"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        state(&fx.state) == before,
        "the state saved at exit is not the last complete round's"
    );
}
