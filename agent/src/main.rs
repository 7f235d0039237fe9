//! `homeostat`: the host agent. It only wires configuration, platform feeds and the core
//! together, and renders what they find.

mod config;
mod daemon;
mod database;
mod duration;
mod escape;
mod fimrun;
mod handles;
mod learn;
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
    /// The daemon: a monitor sample and the measurements every interval, the files on
    /// their own schedule. SIGHUP reloads the config; SIGTERM/SIGINT save and exit.
    Run,
    /// Show the learned state: value, weekly average ± deviation, classes, peaks.
    State {
        /// Observables to show (default: every one measured).
        observables: Vec<String>,
        /// Print CFEngine's variables `mon.value_X`, `mon.av_X`, `mon.dev_X`.
        #[arg(long)]
        vars: bool,
    },
    /// Feed recorded `epoch,observable,value` lines through the learner (seed a new
    /// machine's normal state from history). Uses and updates the same state as `run`.
    Replay {
        /// The recorded lines; `#` starts a comment. Lines with the same epoch, one after
        /// another, are one sample.
        file: PathBuf,
    },
    /// Evaluate a class expression (`!` > `.`/`&` > `|`, parentheses) against the classes
    /// of the last sample and the persistent classes alive now. Exit 0 true, 1 false.
    Eval { expr: String },
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
    let now = epoch_now();
    let mut rep = Reporter::new(cli.json, now);
    match &cli.command {
        Command::Replay { file } => return replay(&cfg, &state, file, &mut rep),
        Command::State { observables, vars } => {
            return show_state(&cfg, &state, observables, *vars, &mut rep)
        }
        Command::Eval { expr } => return eval(&state, expr, now),
        Command::Run => return run_daemon(cli.config.clone(), cfg, keys, state, cli.json),
        _ => {}
    }
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
        Command::Config { .. }
        | Command::Keygen { .. }
        | Command::Run
        | Command::State { .. }
        | Command::Replay { .. }
        | Command::Eval { .. } => unreachable!("handled above"),
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
        let weekly = measure::run(&cfg, &state, &mut rep).map_err(|e| {
            let _ = rep.flush();
            measure_failure(e)
        })?;
        learn_once(&cfg, &state, now, &weekly, &mut rep)?;
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

fn epoch_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn measure_failure(e: measure::Error) -> (u8, String) {
    match e {
        measure::Error::State(m) => (EXIT_DATABASE, m),
        measure::Error::Io(m) => (EXIT_IO, m),
    }
}

fn open_session(
    cfg: &Config,
    state: &Path,
    rep: &mut Reporter,
) -> Result<learn::live::Session, (u8, String)> {
    let mut said = Vec::new();
    let session = learn::live::Session::open(state, cfg.monitor.as_ref(), |m| said.push(m))
        .map_err(|e| (EXIT_DATABASE, format!("{e:#}")))?;
    for m in said {
        let _ = rep.warning(state.as_os_str().as_bytes(), &m);
    }
    Ok(session)
}

/// One monitor sample for `scan`: when `[monitor]` is configured or a log measurement
/// has weekly history.
fn learn_once(
    cfg: &Config,
    state: &Path,
    now: i64,
    weekly: &[(String, f64)],
    rep: &mut Reporter,
) -> Result<(), (u8, String)> {
    if cfg.monitor.is_none() && weekly.is_empty() {
        return Ok(());
    }
    let mut session = open_session(cfg, state, rep)?;
    let json = rep.json();
    let taken = session
        .sample(now, weekly, json, rep.writer())
        .map_err(|e| (EXIT_IO, format!("cannot write report: {e:#}")))?;
    for (feed, why) in &taken.unavailable {
        let _ = rep.warning(feed.as_bytes(), &format!("unavailable: {why}"));
    }
    session.save().map_err(|e| {
        (
            EXIT_IO,
            format!("cannot save the learner state in {}: {e}", state.display()),
        )
    })
}

fn replay(cfg: &Config, state: &Path, file: &Path, rep: &mut Reporter) -> Outcome {
    let mut session = open_session(cfg, state, rep)?;
    let json = rep.json();
    let (_, last) = learn::replay::run(file, &mut session.brain, json, rep.writer())
        .map_err(|e| (EXIT_CONFIG, format!("{e:#}")))?;
    rep.flush()
        .map_err(|e| (EXIT_IO, format!("cannot write report: {e}")))?;
    if let Some((t, classes)) = last {
        // `eval` and `state` see the classes of the last replayed sample, as after `run`.
        session.extras.last_t = t;
        session.extras.last_classes = classes.into_iter().collect();
    }
    session.save().map_err(|e| {
        (
            EXIT_IO,
            format!("cannot save the learner state in {}: {e}", state.display()),
        )
    })?;
    Ok(0)
}

fn show_state(
    cfg: &Config,
    state: &Path,
    names: &[String],
    vars: bool,
    rep: &mut Reporter,
) -> Outcome {
    let session = open_session(cfg, state, rep)?;
    let json = rep.json();
    learn::show::show(
        rep.writer(),
        &session.brain,
        &session.extras,
        epoch_now(),
        names,
        vars,
        json,
    )
    .map_err(|e| (EXIT_CONFIG, format!("{e:#}")))?;
    rep.flush()
        .map_err(|e| (EXIT_IO, format!("cannot write report: {e}")))?;
    Ok(0)
}

fn eval(state: &Path, expr: &str, now: i64) -> Outcome {
    let extras = learn::peaks::Extras::load(state);
    // Persistent classes outlive the sample that raised them: alive while now <= expiry.
    let mut brain_said = Vec::new();
    let brain = learn::store::Brain::load(state, homeostat_core::stats::DEFAULT_FORGET_RATE, |m| {
        brain_said.push(m)
    })
    .map_err(|e| (EXIT_DATABASE, format!("cannot read the learner state: {e}")))?;
    let persistent: Vec<String> = brain
        .learner
        .persistent_names(now)
        .map(|c| c.as_str().to_string())
        .collect();
    // `any` is always defined, as in CFEngine.
    let defined = |c: &str| {
        c == "any"
            || extras.last_classes.iter().any(|k| k == c)
            || persistent.iter().any(|k| k == c)
    };
    match homeostat_core::classes::expr::eval(expr, defined) {
        Ok(true) => {
            println!("true");
            Ok(0)
        }
        Ok(false) => {
            println!("false");
            Ok(1)
        }
        Err(e) => Err((EXIT_CONFIG, format!("class expression {expr:?}: {e}"))),
    }
}

/// A line for the daemon's log (stderr).
fn say(msg: &str) {
    eprintln!("homeostat: {}", escape::sanitize(msg));
}

/// What the daemon does each round.
struct Daemon {
    config_path: Option<PathBuf>,
    cfg: Config,
    keys: signing::Keys,
    state: PathBuf,
    json: bool,
    session: Option<learn::live::Session>,
}

impl Daemon {
    fn intervals(&self) -> (std::time::Duration, std::time::Duration) {
        let m = self.cfg.monitor.clone().unwrap_or_default();
        (m.interval, m.files_interval)
    }

    fn say(&self, msg: &str) {
        say(msg);
    }
}

impl daemon::Rounds for Daemon {
    fn round(&mut self, files: bool) {
        let now = epoch_now();
        let mut rep = Reporter::new(self.json, now);
        if files && !self.cfg.trees.is_empty() {
            let db = self.state.join("files.db");
            let mode = if db.exists() {
                Mode::Check {
                    update: self.cfg.update,
                }
            } else {
                Mode::Init
            };
            if matches!(mode, Mode::Check { .. }) {
                if let Ok(f) = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.state.join("file_changes.log"))
                {
                    rep.log_to(f);
                }
            }
            if let Err(e) = fimrun::run(
                &self.keys,
                &self.cfg,
                &db,
                &hostname(),
                now,
                &mode,
                &mut rep,
            ) {
                self.say(&format!("file check failed: {e}"));
            }
        }
        let weekly = match measure::run(&self.cfg, &self.state, &mut rep) {
            Ok(w) => w,
            Err(e) => {
                self.say(&measure_failure(e).1);
                Vec::new()
            }
        };
        if self.session.is_none() {
            match open_session(&self.cfg, &self.state, &mut rep) {
                Ok(s) => self.session = Some(s),
                Err((_, m)) => self.say(&m),
            }
        }
        if let Some(s) = self.session.as_mut() {
            match s.sample(now, &weekly, self.json, rep.writer()) {
                Ok(taken) => {
                    for (feed, why) in &taken.unavailable {
                        let _ = rep.warning(feed.as_bytes(), &format!("unavailable: {why}"));
                    }
                }
                Err(e) => say(&format!("sample failed: {e:#}")),
            }
            if let Err(e) = s.save() {
                say(&format!("cannot save the learner state: {e}"));
            }
        }
        if let Err(e) = rep.flush() {
            self.say(&format!("cannot write report: {e}"));
        }
    }

    fn reload(&mut self) -> (std::time::Duration, std::time::Duration) {
        match Config::load(self.config_path.as_deref()) {
            Ok(cfg) => {
                self.say("configuration reloaded");
                self.cfg = cfg;
                // Feeds are rebuilt from the new [monitor]; the learned state is kept.
                if let Some(s) = self.session.as_mut() {
                    if let Some(m) = self.cfg.monitor.as_ref() {
                        match learn::live::feeds(m) {
                            Ok(mon) => s.monitor = Some(mon),
                            Err(e) => {
                                self.say(&format!("[monitor]: {e}; keeping the previous feeds"))
                            }
                        }
                    } else {
                        s.monitor = None;
                    }
                }
            }
            Err(e) => self.say(&format!(
                "configuration not reloaded, keeping the old one: {e:#}"
            )),
        }
        self.intervals()
    }

    fn finish(&mut self) {
        if let Some(s) = &self.session {
            if let Err(e) = s.save() {
                self.say(&format!("cannot save the learner state: {e}"));
            }
        }
        self.say("stopped");
    }
}

fn run_daemon(
    config_path: Option<PathBuf>,
    cfg: Config,
    keys: signing::Keys,
    state: PathBuf,
    json: bool,
) -> Outcome {
    let mut d = Daemon {
        config_path,
        cfg,
        keys,
        state,
        json,
        session: None,
    };
    let intervals = d.intervals();
    daemon::run(&mut d, intervals).map_err(|e| (EXIT_IO, format!("daemon: {e}")))?;
    Ok(0)
}
