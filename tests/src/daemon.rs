//! [`Daemon`]: `homeostat --json run` in the background, its JSON lines collected as they
//! come, so a test waits for an event with a deadline instead of sleeping.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fixture::Fixture;

/// How often a wait looks at the lines again.
const POLL: Duration = Duration::from_millis(20);

/// A running `homeostat --json run`; killed when dropped.
pub struct Daemon {
    child: Option<Child>,
    /// Every line so far.
    lines: Arc<Mutex<Vec<Value>>>,
}

impl Daemon {
    /// Starts `run --json` on the fixture (its stderr goes to the test's).
    pub fn start(fx: &Fixture) -> Daemon {
        Daemon::start_env(fx, &[])
    }

    /// [`Daemon::start`] with more environment.
    pub fn start_env(fx: &Fixture, env: &[(&str, &str)]) -> Daemon {
        let mut cmd = fx.command(&["--json", "run"]);
        cmd.envs(env.iter().copied());
        Daemon::spawn(cmd)
    }

    /// Starts `cmd`, a `run --json` (perhaps wrapped: [`Fixture::command`] under another
    /// program that ends by executing it, so that its pid is the daemon's).
    pub fn spawn(mut cmd: Command) -> Daemon {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn homeostat run");
        let out = child.stdout.take().expect("piped stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"));
                sink.lock().unwrap().push(v);
            }
        });
        Daemon {
            child: Some(child),
            lines,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<Value> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits until `done` holds of the lines so far; panics naming `what`, with the
    /// last lines, after `limit` (counted from the call). Returns how long it took.
    pub fn wait(&self, what: &str, limit: Duration, done: impl Fn(&[Value]) -> bool) -> Duration {
        let start = Instant::now();
        let deadline = start + limit;
        loop {
            if done(&self.lines.lock().unwrap()) {
                return start.elapsed();
            }
            if Instant::now() >= deadline {
                let tail: Vec<String> = self
                    .lines()
                    .iter()
                    .rev()
                    .take(30)
                    .map(Value::to_string)
                    .collect();
                panic!(
                    "{what}: not within {limit:?}; last lines (newest first):\n{}",
                    tail.join("\n")
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Is the daemon still running (not exited)?
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// Sends `signal` (`STOP`, `CONT`…) to the daemon.
    pub fn signal(&self, signal: &str) {
        let ok = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(ok.success(), "kill -{signal}");
    }

    /// SIGTERM, and waits for the clean stop (heartbeat and state saved).
    pub fn stop(mut self) {
        let mut child = self.child.take().expect("running");
        let ok = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(ok.success());
        let status = child.wait().expect("wait for homeostat run");
        assert!(status.success(), "homeostat run stopped with {status}");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The `file` events for `path` (as the JSON writes it).
pub fn findings<'a>(lines: &'a [Value], path: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|v| v["type"] == "file" && v["path"] == path)
        .collect()
}
