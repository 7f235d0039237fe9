#![cfg(target_os = "linux")]
//! `homeostat state --watch` driven in tmux (its own server socket, so no other tmux is
//! touched): the dashboard shows the observables and their classes, redraws when a new
//! sample is saved, and q quits with the terminal restored.
//!
//! Needs `tmux` (`.ci/run` installs it).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use homeostat_tests::run::{homeostat_bin, run_cmd};
use homeostat_tests::tempfile::TempDir;

/// Monday 2024-01-01 00:00 UTC.
const T0: i64 = 1_704_067_200;

struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run tmux (apt-get install tmux): {e}"))
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "w"]).stdout).into_owned()
    }

    /// Waits up to 10 s for the screen to satisfy `ok`; returns the last screen.
    fn wait(&self, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) || start.elapsed() > Duration::from_secs(10) {
                return s;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

fn replay(state: &Path, work: &Path, name: &str, text: &str) {
    let f = work.join(name);
    std::fs::write(&f, text).unwrap();
    let args = [
        "--state-dir".into(),
        state.into(),
        "--json".into(),
        "replay".into(),
        f.into(),
    ];
    run_cmd(homeostat_bin(), &args, &[]).expect_code(0);
}

#[test]
fn watch_shows_observables_classes_and_refreshes() {
    let work = TempDir::new().unwrap();
    let state = work.path().join("state");
    // A week and an hour of www_in at 20 and users at 3, then www_in at 500 in a slot
    // learned the week before: a high anomaly.
    let mut day = String::new();
    for i in 0..2016 + 12 {
        let t = T0 + i * 300;
        day.push_str(&format!("{t},www_in,{}\n{t},users,3\n", 20 + i % 3));
    }
    replay(&state, work.path(), "day.csv", &day);
    // A finding in the journal, with a terminal escape in its path.
    let line = r#"{"seq":1,"prev":"0","type":"file","t":1704067200,"change":"added","path":"/etc/evil\u001b[2J"}"#;
    std::fs::write(state.join("journal.jsonl"), format!("{line}\n")).unwrap();

    let tmux = Tmux {
        socket: format!("homeostat-watch-{}", std::process::id()),
    };
    let cmd = format!(
        "{} state --watch --state-dir {}; echo watch-exited-$?; sleep 30",
        homeostat_bin().display(),
        state.display()
    );
    let started = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "w",
        "-x",
        "120",
        "-y",
        "40",
        &cmd,
    ]);
    assert!(
        started.status.success(),
        "tmux: {}",
        String::from_utf8_lossy(&started.stderr)
    );

    let s = tmux.wait(|s| s.contains("www_in") && s.contains("users"));
    for want in [
        "observables",
        "www_in",
        "users",
        "weekly avg",
        "classes",
        "last findings",
    ] {
        assert!(s.contains(want), "{want:?} not on the screen:\n{s}");
    }
    assert!(s.contains("learning: 3 of 7 days"), "{s}");
    assert!(
        s.contains("2024-01-01T00:00:00Z file added /etc/evil\\x1b[2J"),
        "the finding, escaped:\n{s}"
    );
    assert!(!s.contains("www_in_high_anomaly"), "{s}");

    let t = T0 + (2016 + 12) * 300;
    replay(
        &state,
        work.path(),
        "spike.csv",
        &format!("{t},www_in,500\n{t},users,3\n"),
    );
    let s = tmux.wait(|s| s.contains("www_in_high_anomaly"));
    assert!(
        s.contains("www_in_high_anomaly"),
        "no refresh after a sample:\n{s}"
    );
    assert!(s.contains("500.00"), "{s}");

    tmux.cmd(&["send-keys", "-t", "w", "q"]);
    let s = tmux.wait(|s| s.contains("watch-exited-"));
    assert!(s.contains("watch-exited-0"), "q did not quit with 0:\n{s}");
    // The alternate screen is gone: the shell's screen shows no dashboard.
    assert!(!s.contains("last findings"), "terminal not restored:\n{s}");
}

#[test]
fn watch_without_a_terminal_is_an_error() {
    let work = TempDir::new().unwrap();
    let args = [
        "--state-dir".into(),
        work.path().join("s").into(),
        "state".into(),
        "--watch".into(),
    ];
    let o = run_cmd(homeostat_bin(), &args, &[]);
    o.expect_code(16);
    assert!(
        o.stderr_str().contains("needs a terminal"),
        "{}",
        o.stderr_str()
    );
}
