//! The command line: commands, their arguments and the global options.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The whole command line.
#[derive(Parser, Debug)]
#[command(
    name = "homeostat",
    version,
    about = "A host security monitor: file integrity, learned normal state, policy."
)]
pub struct Cli {
    /// Configuration file (TOML); without it the built-in default is used.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where state and databases live (default: /var/lib/homeostat as root, else
    /// $XDG_STATE_HOME/homeostat).
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// One JSON object per line on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Subcommand, Debug)]
pub enum Command {
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
        /// Every observable measured, idle ones (value 0, no class) included.
        #[arg(long)]
        all: bool,
        /// A live dashboard on the terminal, refreshed at each sample (q quits).
        #[arg(long, conflicts_with_all = ["vars", "observables"])]
        watch: bool,
    },
    /// Feed recorded `epoch,observable,value` lines through the learner (seed a new
    /// machine's normal state from history). Uses and updates the same state as `run`.
    Replay {
        /// The recorded lines; `#` starts a comment. Lines with the same epoch, one after
        /// another, are one sample.
        file: PathBuf,
    },
    #[cfg(feature = "graph")]
    /// Draw the learned week: per observable a CSV and an SVG of average ± deviation with
    /// the values recorded in the last week, and an index.html showing them all.
    Graph {
        /// Directory to write into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Observables to draw (default: every one measured).
        #[arg(long, value_name = "NAME", num_args = 1..)]
        obs: Vec<String>,
        /// Scale each week to 0..1 (cfenvgraph's default).
        #[arg(long)]
        scale: bool,
        /// Draw the deviation as error bars every half hour instead of a band.
        #[arg(long)]
        bars: bool,
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
    #[cfg(feature = "peers")]
    /// Serve this host's public key, signed database, journal and matching files to the
    /// neighbours `[peers] allow` admits (read-only HTTP/1.1 on `[peers] listen`).
    Serve,
    #[cfg(feature = "peers")]
    /// Fetch each neighbour's key and database once, verify, compare with the copy fetched
    /// last time. Exit bits: 1 a database changed, 2 unreachable, 4 bad signature or key.
    WatchPeers,
    /// Put files back from a trusted copy, after checking it against this host's database.
    /// Exit 0 when all were restored, 1 when one was refused.
    Restore {
        /// Absolute paths of watched files.
        #[arg(required = true)]
        paths: Vec<OsString>,
        /// A directory mirroring the file system, or a peer `http://HOST:PORT`.
        #[arg(long, value_name = "DIR|URL")]
        from: String,
    },
    /// Check the journal's hash chain and its head signed in the database. Exit 0 intact,
    /// 17 broken (naming the line).
    VerifyJournal,
    /// Show configuration.
    Config {
        /// Print the built-in default configuration.
        #[arg(long)]
        default: bool,
    },
}
