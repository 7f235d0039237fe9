//! `homeostat`: the host agent. It only wires configuration, platform feeds and the core
//! together, schedules rounds, and renders what they find (see `docs/architecture.md`).

mod cli;
mod clock;
mod config;
mod daemon;
mod exit;
mod files;
#[cfg(feature = "graph")]
mod graph;
mod journal;
mod limits;
mod measurements;
mod monitor;
mod output;
#[cfg(feature = "peers")]
mod peers;
mod permissions;
mod platform;
mod policy;
#[cfg(test)]
mod prop_tests;
mod round;
mod state_dir;
mod state_file;

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use homeostat_core::event::{Event, Summary};
use homeostat_core::feed::{Clock, Sink};

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::exit::{Outcome, CONFIG as EXIT_CONFIG, IO as EXIT_IO};
use crate::files::Mode;
use crate::output::Output;
use crate::round::{Agent, Files};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A one-shot command whose reader went away ends quietly; the daemons outlive theirs.
    #[cfg(feature = "peers")]
    let daemon = matches!(cli.command, Command::Run | Command::Serve);
    #[cfg(not(feature = "peers"))]
    let daemon = matches!(cli.command, Command::Run);
    if !daemon {
        output::stdio::die_on_closed_pipe();
    }
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err((code, msg)) => {
            for line in output::escape::error_lines(&msg) {
                output::stdio::say_line(&line);
            }
            ExitCode::from(code)
        }
    }
}

fn run(cli: Cli) -> Outcome {
    // Before any file is made: state, databases, journal and logs are private. `graph`
    // writes only its charts, outside the state, for a browser or web server to read: the
    // user's umask decides.
    #[cfg(feature = "graph")]
    let private = !matches!(cli.command, Command::Graph { .. });
    #[cfg(not(feature = "graph"))]
    let private = true;
    if private {
        permissions::private_umask();
    }
    if let Command::Config { default } = &cli.command {
        if *default || cli.config.is_none() {
            print!("{}", config::DEFAULT);
            return Ok(0);
        }
    }
    if let Command::Keygen { out } = &cli.command {
        let public = files::signing::keygen(out).map_err(|e| (EXIT_IO, format!("{e:#}")))?;
        println!("public key: {public}");
        println!(
            "add to the config:\n[database]\nkey = {:?}\npublic_key = \"{public}\"",
            out.display().to_string()
        );
        return Ok(0);
    }
    let cfg = Config::load(cli.config.as_deref()).map_err(|e| (EXIT_CONFIG, format!("{e:#}")))?;
    if let Some(key) = cfg.db_key.as_deref() {
        permissions::signing_key(key)?;
    }
    let keys = files::signing::Keys::load(cfg.db_key.as_deref(), cfg.db_public_key.as_deref())
        .map_err(|e| (EXIT_CONFIG, format!("{e:#}")))?;
    if let Command::Config { .. } = cli.command {
        let text = cli
            .config
            .as_deref()
            .map(|p| limits::read_to_string(p, limits::CONFIG))
            .transpose()
            .map_err(|e| (EXIT_CONFIG, e.to_string()))?;
        print!("{}", text.unwrap_or_default());
        return Ok(0);
    }
    let state = state_dir::choose(cli.state_dir.as_deref(), cfg.state_dir.as_deref())
        .map_err(|e| (EXIT_CONFIG, e))?;
    permissions::state_dir(&state)?;
    // The one reading of the wall clock for this command: every finding carries it.
    let clock = clock::Wall::from_env();
    let now = clock.now();
    let mut out = Output::new(cli.json, now);
    // Every command that reports events journals them (samples excepted, by the sink),
    // and sends them to syslog when `[output]` asks.
    #[cfg(feature = "peers")]
    let watches_peers = matches!(cli.command, Command::WatchPeers);
    #[cfg(not(feature = "peers"))]
    let watches_peers = false;
    if watches_peers
        || matches!(
            cli.command,
            Command::Scan { .. }
                | Command::Init
                | Command::Check { .. }
                | Command::Update { .. }
                | Command::Restore { .. }
        )
    {
        out.add(Box::new(output::journal::Journal::new(&state)));
        if cfg.output.syslog {
            let host = state_dir::hostname();
            out.add(Box::new(output::syslog::Syslog::new(
                &cfg.output,
                &host,
                now,
            )));
        }
    }
    let update = |no_update: bool| cfg.update && !no_update;
    let (files, sample, name) = match cli.command {
        Command::Replay { file } => return monitor::replay::command(&cfg, &state, &file, &mut out),
        Command::State {
            observables,
            vars,
            all,
            watch,
        } => {
            if watch {
                #[cfg(feature = "dashboard")]
                return monitor::watch::command(&state, all);
                #[cfg(not(feature = "dashboard"))]
                return Err((
                    EXIT_CONFIG,
                    "state --watch: this build has no terminal dashboard (built without the `dashboard` feature)".into(),
                ));
            }
            return monitor::show::command(&cfg, &state, &observables, vars, all, &mut out);
        }
        Command::Eval { expr } => return monitor::eval::command(&state, &expr, now),
        #[cfg(feature = "graph")]
        Command::Graph {
            out: dir,
            obs,
            scale,
            bars,
        } => {
            let opts = graph::Options {
                out: &dir,
                names: &obs,
                scale,
                bars,
            };
            return graph::command(&cfg, &state, &opts, &mut out);
        }
        #[cfg(feature = "peers")]
        Command::Serve => return peers::serve::command(&cfg, &keys, &state),
        #[cfg(feature = "peers")]
        Command::WatchPeers => return peers::watch::command(&cfg, &state, &mut out),
        Command::Restore { paths, from } => {
            return files::restore::command(&cfg, &keys, &state, &absolute(paths)?, &from, &mut out)
        }
        Command::VerifyJournal => return journal::verify(&keys, &state, &mut out),
        Command::Run => {
            let agent = Agent::new(cfg, keys, state);
            return daemon::run(agent, clock, cli.config, cli.json).map(|()| 0);
        }
        Command::Scan { no_update } => (
            Files::Due {
                update: update(no_update),
            },
            true,
            "scan",
        ),
        Command::Init => (Files::Only(Mode::Init), false, "init"),
        Command::Check { no_update } => (
            Files::Only(Mode::Check {
                update: update(no_update),
            }),
            false,
            "check",
        ),
        Command::Update { paths } => (
            Files::Only(Mode::Update {
                only: files::within_trees(&cfg.trees, absolute(paths)?)
                    .map_err(|e| (EXIT_CONFIG, e))?,
            }),
            false,
            "update",
        ),
        Command::Config { .. } | Command::Keygen { .. } => unreachable!("handled above"),
    };
    let mut agent = Agent::new(cfg, keys, state);
    // `scan` is a round: it feeds the metrics file and the counters `run` serves.
    let metrics = (name == "scan" && agent.cfg.output.metrics_wanted())
        .then(|| output::metrics::Metrics::open(&agent.state));
    if let Some(m) = &metrics {
        out.add(m.sink());
    }
    let done = agent.round(files, sample, &mut out);
    if let Some(session) = agent.session.as_ref().filter(|_| !out.json()) {
        // A young table's classes are provisional: said once, after the round's classes.
        if session.brain.learner.is_young() {
            let _ = out.commit();
            println!("{}", monitor::show::learning(&session.brain.learner));
        }
    }
    if let Some(m) = &metrics {
        let file = agent.cfg.output.metrics_file.as_deref();
        if let Err(e) = m.round_done(now, &agent.state, file) {
            let what = file.unwrap_or(&agent.state);
            let _ = out.warning(
                what.as_os_str().as_bytes(),
                &format!("metrics not written: {e}"),
            );
        }
    }
    if let Some((code, why)) = done.failure {
        // Findings emitted before the failure stay visible; no summary pretends the run
        // completed. What no sink could record is named with the failure.
        let _ = out.commit();
        return Err((code, with_lost(why, out.lost())));
    }
    let summary = Summary {
        t: now,
        command: name,
        counts: out.counts,
    };
    out.emit(&Event::Summary(summary))
        .and_then(|()| out.commit())
        .map_err(|e| (EXIT_IO, format!("cannot write report: {e}")))?;
    Ok(if done.checked {
        out.counts.exit_bits()
    } else {
        0
    })
}

/// `why`, and each thing in `lost` that it does not already say.
fn with_lost(mut why: String, lost: &[String]) -> String {
    for l in lost {
        if !why.contains(l.as_str()) {
            why.push_str("; ");
            why.push_str(l);
        }
    }
    why
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
