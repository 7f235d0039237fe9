//! Running a measurement's command: argv without a shell, stdin from `/dev/null`, stdout
//! read up to a bound, and a timeout after which its whole process group is killed (so a
//! child it left behind holding the output open cannot hang the caller).

use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, LazyLock};
use std::time::{Duration, Instant};

/// Set when the process is exiting (the daemon's SIGTERM or SIGINT sets it from the
/// signal handler): a command running is killed at once and no new one starts, so a
/// slow command cannot hold the exit for its whole timeout.
static STOPPING: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));

/// The flag a signal handler sets to stop every command (see [`stopping`]).
pub fn stop_flag() -> Arc<AtomicBool> {
    Arc::clone(&STOPPING)
}

/// Whether the process is exiting: commands are killed and refused.
pub fn stopping() -> bool {
    STOPPING.load(Ordering::Relaxed)
}

/// A command's output beyond this is not read.
pub const OUTPUT_MAX: usize = 8 << 20;

/// What a command that finished in time gave.
#[derive(Debug)]
pub struct Ran {
    /// Its standard output, at most [`OUTPUT_MAX`] bytes.
    pub output: Vec<u8>,
    /// How it ended.
    pub status: ExitStatus,
    /// It wrote more than [`OUTPUT_MAX`] bytes: the rest was read and dropped.
    pub over: bool,
}

impl Ran {
    /// What the caller should hear about a run whose output is still measured: a failing
    /// exit status, output cut at [`OUTPUT_MAX`].
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if !self.status.success() {
            notes.push(format!(
                "exited with {}; its output is measured anyway",
                self.status
            ));
        }
        if self.over {
            notes.push(format!(
                "wrote more than {OUTPUT_MAX} bytes: the rest is not measured"
            ));
        }
        notes
    }
}

/// Why a command gave nothing to measure.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The argv is empty.
    #[error("empty command")]
    Empty,
    /// It could not be started.
    #[error("cannot run it: {0}")]
    Spawn(io::Error),
    /// Its standard output was not a pipe.
    #[error("no output pipe")]
    NoPipe,
    /// Waiting for it failed.
    #[error("cannot wait for it: {0}")]
    Wait(io::Error),
    /// It was still running at the timeout: its process group was killed.
    #[error("did not finish within {0:?}: killed, not measured")]
    TimedOut(Duration),
    /// The process is exiting ([`stopping`]): its process group was killed, or it never
    /// started.
    #[error("stopped: homeostat is exiting; killed, not measured")]
    Stopped,
    /// It ended, but what it wrote could not be read.
    #[error("its output could not be read")]
    Unread,
}

/// Runs `argv` (the program, then its arguments) in a new process group; kills the group
/// when it has not finished within `timeout`, or when something it started still holds the
/// output open by then.
pub fn run(argv: &[String], timeout: Duration) -> Result<Ran, CommandError> {
    let (prog, args) = argv.split_first().ok_or(CommandError::Empty)?;
    if stopping() {
        return Err(CommandError::Stopped);
    }
    let mut child = std::process::Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(CommandError::Spawn)?;
    let pgid = child.id() as libc::pid_t;
    let kill_group = || {
        // SAFETY: kill(2) with the process group this function created; no memory.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    };
    let mut stdout = child.stdout.take().ok_or(CommandError::NoPipe)?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        let mut over = false;
        loop {
            match stdout.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    let room = OUTPUT_MAX - out.len();
                    over |= n > room;
                    out.extend_from_slice(&chunk[..n.min(room)]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = tx.send((out, over));
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if stopping() => {
                kill_group();
                // Reaped: no zombie is left for the exit.
                let _ = child.wait();
                return Err(CommandError::Stopped);
            }
            Ok(None) if Instant::now() >= deadline => {
                kill_group();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(CommandError::Wait(e)),
        }
    };
    let left = deadline.saturating_duration_since(Instant::now());
    let got = match rx.recv_timeout(left) {
        Ok(g) => Some(g),
        Err(_) => {
            // Something it started still holds the output open.
            kill_group();
            rx.recv_timeout(Duration::from_secs(5)).ok()
        }
    };
    let status = status.ok_or(CommandError::TimedOut(timeout))?;
    let (output, over) = got.ok_or(CommandError::Unread)?;
    Ok(Ran {
        output,
        status,
        over,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_time_out_and_report_failures() {
        let ran = run(
            &[
                "/bin/sh".into(),
                "-c".into(),
                "echo a; echo b; exit 3".into(),
            ],
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(ran.output, b"a\nb\n");
        assert_eq!(ran.notes().len(), 1);
        let t = Instant::now();
        let e = run(
            &["/bin/sh".into(), "-c".into(), "sleep 30".into()],
            Duration::from_millis(300),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("did not finish"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(10));
        // A background child that keeps the output open does not hang the scan.
        let t = Instant::now();
        let r = run(
            &["/bin/sh".into(), "-c".into(), "echo x; sleep 30 &".into()],
            Duration::from_millis(500),
        );
        assert!(t.elapsed() < Duration::from_secs(10), "{r:?}");
        assert!(run(&["/nonexistent/x".into()], Duration::from_secs(1)).is_err());
    }

    #[test]
    fn output_is_bounded_and_the_rest_noted() {
        let ran = run(
            &[
                "/bin/sh".into(),
                "-c".into(),
                format!("head -c {} /dev/zero", OUTPUT_MAX + 100_000),
            ],
            Duration::from_secs(20),
        )
        .unwrap();
        assert_eq!(ran.output.len(), OUTPUT_MAX);
        assert!(ran.over);
        assert_eq!(
            ran.notes(),
            [format!(
                "wrote more than {OUTPUT_MAX} bytes: the rest is not measured"
            )]
        );
        assert_eq!(
            run(&[], Duration::from_secs(1)).unwrap_err().to_string(),
            "empty command"
        );
    }
}
