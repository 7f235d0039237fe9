//! `homeostat serve` in the background for the neighbourhood-watch tests: started on a
//! port the kernel picks (`[peers] listen = "127.0.0.1:0"`), found from its
//! `serving on ADDR` line, its stderr collected line by line for the log checks.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::procs::{wait_for, Killed};
use crate::run::homeostat_bin;

/// A running `homeostat serve`; killed when dropped.
pub struct Served {
    pub child: Killed,
    pub port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl Served {
    /// `homeostat --config CONFIG --state-dir STATE serve`; returns once it listens (at
    /// most 20 s), or panics with what it said.
    pub fn start(config: &Path, state: &Path) -> Served {
        Served::start_command(config, state, "serve")
    }

    /// The same with another command that serves (`run` with `[peers] listen`).
    pub fn start_command(config: &Path, state: &Path, command: &str) -> Served {
        let mut cmd = Command::new(homeostat_bin());
        cmd.arg("--config")
            .arg(config)
            .arg("--state-dir")
            .arg(state)
            .arg(command);
        Served::start_with(cmd, command)
    }

    /// `cmd`, which ends in a homeostat that serves (under `unshare`, say), called `what`
    /// in messages.
    pub fn start_with(mut cmd: Command, command: &str) -> Served {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn homeostat serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let child = Killed(child);
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        let mut served = Served {
            child,
            port: 0,
            log,
        };
        let port = wait_for(Duration::from_secs(20), Duration::from_millis(20), || {
            served.lines().iter().find_map(|l| {
                l.strip_prefix("homeostat: serving on ")
                    .and_then(|a| a.rsplit(':').next())
                    .and_then(|p| p.parse::<u16>().ok())
            })
        });
        served.port = port.unwrap_or_else(|| {
            panic!(
                "homeostat {command} did not say where it listens within 20 s; stderr:\n{}",
                served.lines().join("\n")
            )
        });
        served
    }

    /// The stderr lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// The stderr lines naming `client` (an address, `127.0.0.9:` style prefix match).
    pub fn lines_about(&self, client: &str) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| l.contains(client))
            .collect()
    }

    /// Waits (at most 10 s) until a stderr line contains `text`; panics otherwise.
    pub fn await_line(&self, text: &str) -> String {
        wait_for(Duration::from_secs(10), Duration::from_millis(10), || {
            self.lines().into_iter().find(|l| l.contains(text))
        })
        .unwrap_or_else(|| {
            panic!(
                "no server log line containing {text:?} within 10 s; stderr:\n{}",
                self.lines().join("\n")
            )
        })
    }
}
