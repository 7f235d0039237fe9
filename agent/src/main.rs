//! `homeostat`: the host agent. It only wires configuration, platform feeds and the core
//! together, and renders what they find.

mod config;
mod database;
mod escape;
mod fimrun;
mod handles;
mod logtail;
mod measure;
mod progress;
mod report;
mod signing;
mod timefmt;

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::fimrun::{Failure, Mode};
use crate::report::Reporter;

/// Exit statuses of errors that stopped a run (below 16: the findings bitmask).
const EXIT_CONFIG: u8 = 16;
const EXIT_DATABASE: u8 = 17;
const EXIT_IO: u8 = 18;

#[derive(Parser, Debug)]
#[command(
    name = "homeostat",
    version,
    about = "A host security monitor: file integrity, learned normal state, policy."
)]
struct Cli {
    /// Configuration file (TOML); without it the built-in default is used.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where state and databases live (default: /var/lib/homeostat as root, else
    /// $XDG_STATE_HOME/homeostat).
    #[arg(long, global = true, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// One JSON object per line on stdout.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// One pass of everything configured: the first run records a baseline, later runs check.
    Scan {
        /// Keep reporting changes until `homeostat update` (overrides `update` in the config).
        #[arg(long)]
        no_update: bool,
    },
    /// Record a new file integrity baseline.
    Init,
    /// Compare the files with the baseline. Exit status: 1 added, 2 removed, 4 changed.
    Check {
        /// Keep reporting changes until `homeostat update` (overrides `update` in the config).
        #[arg(long)]
        no_update: bool,
    },
    /// Accept the current state into the baseline: everything, or only the PATHs given.
    Update {
        /// Files or directories (with everything below them) to accept.
        paths: Vec<OsString>,
    },
    /// Make an ed25519 key for signing databases; prints its public key.
    Keygen {
        /// Where to write the secret key (must not exist yet; mode 0600).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Show configuration.
    Config {
        /// Print the built-in default configuration.
        #[arg(long)]
        default: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err((code, msg)) => {
            eprintln!("homeostat: {}", escape::sanitize(&msg));
            ExitCode::from(code)
        }
    }
}

type Outcome = Result<u8, (u8, String)>;

fn run(cli: Cli) -> Outcome {
    if let Command::Config { default } = &cli.command {
        if *default || cli.config.is_none() {
            print!("{}", config::DEFAULT);
            return Ok(0);
        }
    }
    if let Command::Keygen { out } = &cli.command {
        let public = signing::keygen(out).map_err(|e| (EXIT_IO, format!("{e:#}")))?;
        println!("public key: {public}");
        println!(
            "add to the config:\n[database]\nkey = {:?}\npublic_key = \"{public}\"",
            out.display().to_string()
        );
        return Ok(0);
    }
    let cfg = Config::load(cli.config.as_deref()).map_err(|e| (EXIT_CONFIG, format!("{e:#}")))?;
    let keys = signing::Keys::load(cfg.db_key.as_deref(), cfg.db_public_key.as_deref())
        .map_err(|e| (EXIT_CONFIG, format!("{e:#}")))?;
    if let Command::Config { .. } = cli.command {
        let text = cli
            .config
            .as_deref()
            .map(std::fs::read_to_string)
            .transpose()
            .map_err(|e| (EXIT_CONFIG, e.to_string()))?;
        print!("{}", text.unwrap_or_default());
        return Ok(0);
    }
    let state = state_dir(cli.state_dir.as_deref(), cfg.state_dir.as_deref())?;
    std::fs::create_dir_all(&state).map_err(|e| {
        (
            EXIT_IO,
            format!("cannot create state directory {}: {e}", state.display()),
        )
    })?;
    let db = state.join("files.db");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut rep = Reporter::new(cli.json, now);
    // A scan runs the measurements after the files, or only them when no [[files]].
    let scan = matches!(cli.command, Command::Scan { .. });
    let files = !(scan && cfg.trees.is_empty());
    let (mode, name) = match cli.command {
        Command::Init => (Mode::Init, "init"),
        Command::Check { no_update } => (
            Mode::Check {
                update: cfg.update && !no_update,
            },
            "check",
        ),
        Command::Update { paths } => (
            Mode::Update {
                only: absolute(paths)?,
            },
            "update",
        ),
        Command::Scan { no_update } => {
            if db.exists() || !files {
                (
                    Mode::Check {
                        update: cfg.update && !no_update,
                    },
                    "scan",
                )
            } else {
                let _ = rep.note(&format!(
                    "homeostat: no file baseline yet; recording one in {}",
                    escape::escape(db.as_os_str().as_bytes())
                ));
                (Mode::Init, "scan")
            }
        }
        Command::Config { .. } | Command::Keygen { .. } => unreachable!("handled above"),
    };
    if files && matches!(mode, Mode::Check { .. }) {
        let log = state.join("file_changes.log");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| (EXIT_IO, format!("cannot open {}: {e}", log.display())))?;
        rep.log_to(f);
    }
    let host = hostname();
    let result = match files {
        true => fimrun::run(&keys, &cfg, &db, &host, now, &mode, &mut rep),
        false => Ok(()),
    };
    match result {
        Ok(()) => {}
        Err(e) => {
            // Findings printed before the failure stay visible; no summary pretends the
            // run completed.
            let _ = rep.flush();
            return Err(match e {
                Failure::Database(e) => (EXIT_DATABASE, e.to_string()),
                Failure::Io(e) => (EXIT_IO, e),
            });
        }
    }
    if scan {
        measure::run(&cfg, &state, &mut rep).map_err(|e| {
            let _ = rep.flush();
            match e {
                measure::Error::State(m) => (EXIT_DATABASE, m),
                measure::Error::Io(m) => (EXIT_IO, m),
            }
        })?;
    }
    rep.summary(name)
        .and_then(|_| rep.flush())
        .map_err(|e| (EXIT_IO, format!("cannot write report: {e}")))?;
    Ok(match mode {
        Mode::Check { .. } => rep.counts.exit_bits(),
        _ => 0,
    })
}

/// `--state-dir`, then the config's `state_dir`, then /var/lib/homeostat as root,
/// `$XDG_STATE_HOME/homeostat` or `~/.local/state/homeostat` otherwise.
fn state_dir(flag: Option<&Path>, configured: Option<&Path>) -> Result<PathBuf, (u8, String)> {
    if let Some(p) = flag.or(configured) {
        return Ok(p.to_owned());
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    #[allow(unsafe_code)]
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        return Ok(PathBuf::from("/var/lib/homeostat"));
    }
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|x| !x.is_empty()) {
        return Ok(PathBuf::from(x).join("homeostat"));
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".local/state/homeostat")),
        None => Err((
            EXIT_CONFIG,
            String::from("no state directory: set --state-dir, XDG_STATE_HOME or HOME"),
        )),
    }
}

/// Paths named on the command line, absolute and without a trailing `/`.
fn absolute(paths: Vec<OsString>) -> Result<Vec<Vec<u8>>, (u8, String)> {
    let cwd = std::env::current_dir()
        .map_err(|e| (EXIT_IO, format!("cannot find the current directory: {e}")))?;
    Ok(paths
        .into_iter()
        .map(|p| {
            let abs = if Path::new(&p).is_absolute() {
                PathBuf::from(p)
            } else {
                cwd.join(p)
            };
            let mut b = abs.as_os_str().as_bytes().to_vec();
            while b.len() > 1 && b.ends_with(b"/") {
                b.pop();
            }
            b
        })
        .collect())
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it
    // or truncates, and we stop at the first NUL or the end.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::from("unknown");
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}
