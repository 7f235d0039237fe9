//! Child processes of a test: a guard that kills and reaps one (also when the test
//! fails), a `sleep` run as `nobody`, and bounded polling.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills and reaps the child when dropped (also when the test fails).
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Killed {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Kills the child and reaps it: it is gone from `/proc` before this returns.
    pub fn stop(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

/// Polls `f` every `step` until it gives a value or `limit` passes.
pub fn wait_for<T>(limit: Duration, step: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(step);
    }
}

/// `sleep ARG` as uid/gid 65534 (nobody), its argv[0] `arg0`; returns once the exec is
/// visible in `/proc/PID/cmdline` (at most 5 s). Needs root.
pub fn sleeper(arg0: &str, arg: &str) -> Killed {
    let child = Command::new("sleep")
        .arg0(arg0)
        .arg(arg)
        .uid(65534)
        .gid(65534)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sleep as nobody");
    let child = Killed(child);
    let want = format!("{arg0}\0{arg}\0").into_bytes();
    let cmdline = format!("/proc/{}/cmdline", child.pid());
    let ok = wait_for(Duration::from_secs(5), Duration::from_millis(10), || {
        std::fs::read(&cmdline).ok().filter(|c| *c == want)
    });
    assert!(ok.is_some(), "sleep {arg} not exec'd within 5 s");
    child
}
