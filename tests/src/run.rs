//! Running the binary: finding (or building) `homeostat`, running it with a timeout,
//! and [`Output`], what one run produced.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::json::{of_type, parse_json_lines};
use crate::text::assert_printable;

/// Longest a single run of the binary may take before the test calls it hung.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// The `homeostat` binary: `$HOMEOSTAT_BIN`, else `<target>/<profile>/homeostat` beside
/// the running test executable (`<target>/<profile>/deps/<test>`), built once with
/// `cargo build -p homeostat --bin homeostat` when it is not there.
pub fn homeostat_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("HOMEOSTAT_BIN") {
            let p = PathBuf::from(p);
            assert!(p.exists(), "HOMEOSTAT_BIN={} does not exist", p.display());
            return p;
        }
        let exe = std::env::current_exe().expect("current_exe");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test executable is not in <target>/<profile>/deps")
            .to_path_buf();
        let bin = profile_dir.join("homeostat");
        if !bin.exists() {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
            let mut cmd = Command::new(cargo);
            cmd.args(["build", "-p", "homeostat", "--bin", "homeostat"]);
            match profile_dir.file_name().and_then(OsStr::to_str) {
                Some("debug") | None => {}
                Some("release") => {
                    cmd.arg("--release");
                }
                Some(other) => {
                    cmd.args(["--profile", other]);
                }
            }
            if let Some(target_dir) = profile_dir.parent() {
                cmd.arg("--target-dir").arg(target_dir);
            }
            cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
            eprintln!(
                "homeostat-tests: {} missing, running {:?}",
                bin.display(),
                cmd
            );
            let status = cmd.status().expect("could not run cargo build");
            assert!(
                status.success(),
                "cargo build -p homeostat failed: {status}"
            );
            assert!(
                bin.exists(),
                "cargo build succeeded but {} is missing",
                bin.display()
            );
        }
        bin
    })
}

/// True when the tests run as root (chown, setuid-root files).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Output {
    pub what: String,
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Panics, showing both streams, unless the exit status is `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            code,
            "`{}` exited {} instead of {}\n--- stdout\n{}\n--- stderr\n{}",
            self.what,
            self.code,
            code,
            self.stdout_str(),
            self.stderr_str()
        );
        self
    }

    /// Every stdout line as a JSON object (each must parse and carry a string `type`).
    pub fn json(&self) -> Vec<Value> {
        parse_json_lines(&self.stdout, &self.what)
    }

    /// The `{"type":"file"}` lines.
    pub fn files(&self) -> Vec<Value> {
        of_type(&self.json(), "file")
    }

    /// The `{"type":"setid"}` lines.
    pub fn setids(&self) -> Vec<Value> {
        of_type(&self.json(), "setid")
    }

    /// Stdout as text; it is printable ASCII (checked after every run).
    pub fn text(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("stdout is ASCII")
    }

    pub fn lines(&self) -> Vec<String> {
        self.text().lines().map(str::to_owned).collect()
    }
}

/// Runs `bin args…` with `envs`, collecting both streams, killing it after a timeout.
pub fn run_cmd(bin: &Path, args: &[OsString], envs: &[(&str, &OsStr)]) -> Output {
    let what = format!(
        "homeostat {}",
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.env("NO_COLOR", "1").env("RUST_BACKTRACE", "1");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if start.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{what}` did not finish within {RUN_TIMEOUT:?} (hung on a FIFO?)");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = t_out.join().expect("stdout reader");
    let stderr = t_err.join().expect("stderr reader");
    let code = match status.code() {
        Some(c) => c,
        None => {
            use std::os::unix::process::ExitStatusExt;
            128 + status.signal().unwrap_or(0)
        }
    };
    let o = Output {
        what,
        code,
        stdout,
        stderr,
    };
    // Contract: no raw byte of a name reaches stdout, in JSON or text mode.
    assert_printable(&o.stdout, &o.what);
    o
}

/// `homeostat --config CONFIG --state-dir STATE ARGS…`.
pub fn run_with(config: &Path, state: &Path, args: &[&str]) -> Output {
    let mut all: Vec<OsString> = vec![
        "--config".into(),
        config.into(),
        "--state-dir".into(),
        state.into(),
    ];
    all.extend(args.iter().map(OsString::from));
    run_cmd(homeostat_bin(), &all, &[])
}

/// Writes `config` to `DIR/homeostat.toml` and runs
/// `--config DIR/homeostat.toml --state-dir DIR/state --json scan`, which must exit 0 and
/// end with the summary line.
pub fn json_scan(dir: &Path, config: &str) -> Output {
    let cfg = dir.join("homeostat.toml");
    std::fs::write(&cfg, config).unwrap();
    let args: Vec<OsString> = vec![
        "--config".into(),
        cfg.into(),
        "--state-dir".into(),
        dir.join("state").into(),
        "--json".into(),
        "scan".into(),
    ];
    let o = run_cmd(homeostat_bin(), &args, &[]);
    o.expect_code(0);
    crate::json::assert_summary_last(&o);
    o
}
