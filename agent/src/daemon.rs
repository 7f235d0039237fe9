//! `homeostat run`: the daemon's clock and signals. What a round does is the caller's;
//! this module only decides when: a sample every interval (the first at once), the files
//! on their own longer interval, the neighbours' watches as they arrive, SIGHUP to reload,
//! SIGTERM or SIGINT to finish cleanly.

use std::path::PathBuf;
use std::time::Duration;

mod heartbeat;
mod realtime;

pub use heartbeat::Heartbeat;

use homeostat_core::feed::{Clock, Sink};

#[cfg(feature = "peers")]
use crate::config::peers::PeerSettings;
use crate::config::Config;
use crate::output::journal::Journal;
use crate::output::metrics::Metrics;
#[cfg(feature = "http-metrics")]
use crate::output::serve::serve;
use crate::output::syslog::Syslog;
use crate::output::Output;
#[cfg(feature = "peers")]
use crate::peers::watch::{self, Watched};
use crate::round::{Agent, Files};

/// Without the neighbourhood watch no watch ever arrives.
#[cfg(not(feature = "peers"))]
pub type Watched = std::convert::Infallible;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::time::{interval, Instant, MissedTickBehavior};

/// What the daemon asks of its owner.
pub trait Rounds {
    /// One sample (monitor and measurements); `files` when the file check is due too.
    fn round(&mut self, files: bool);
    /// Reload the configuration; returns the (sample, files) intervals now in force.
    fn reload(&mut self) -> (Duration, Duration);
    /// Flush and save everything before exit.
    fn finish(&mut self);
    /// Start what runs beside the rounds on the runtime (the `/metrics` server, the
    /// neighbours' watch); returns where the watches arrive, if the watch runs.
    fn start(&mut self) -> Option<mpsc::Receiver<Watched>> {
        None
    }
    /// Report one watch of the neighbours.
    fn watched(&mut self, _watched: Watched) {}
}

/// The next watch, or never when there is no watch.
async fn next_watch(rx: &mut Option<mpsc::Receiver<Watched>>) -> Option<Watched> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Runs until SIGTERM or SIGINT. `intervals` = (sample, files).
pub fn schedule(rounds: &mut impl Rounds, intervals: (Duration, Duration)) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut watches = rounds.start();
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        // Also a flag the round itself sees: a slow measure command is killed at once
        // instead of holding the exit for its whole timeout.
        let stop = crate::platform::command::stop_flag();
        for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            signal_hook::flag::register(sig, std::sync::Arc::clone(&stop))?;
        }
        let (mut every, mut files_every) = intervals;
        let mut tick = interval(every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut files_due = Instant::now();
        loop {
            if crate::platform::command::stopping() {
                break;
            }
            tokio::select! {
                // A stop wins over a round that is due as well.
                biased;
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = tick.tick() => {
                    let files = Instant::now() >= files_due;
                    if files {
                        files_due = Instant::now() + files_every;
                    }
                    rounds.round(files);
                }
                Some(w) = next_watch(&mut watches) => rounds.watched(w),
                _ = hup.recv() => {
                    let (e, f) = rounds.reload();
                    if e != every {
                        every = e;
                        tick = interval(every);
                        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
                        tick.reset();
                    }
                    files_every = f;
                }
            }
        }
        rounds.finish();
        Ok::<(), std::io::Error>(())
    })
}

/// `homeostat run`: rounds of `agent` until SIGTERM or SIGINT, each at the time `clock`
/// reads when it starts; SIGHUP reloads the configuration from `config_path`.
pub fn run(
    agent: Agent,
    clock: impl Clock,
    config_path: Option<PathBuf>,
    json: bool,
) -> Result<(), (u8, String)> {
    let out = &agent.cfg.output;
    let metrics = out.metrics_wanted().then(|| Metrics::open(&agent.state));
    if let Some(missing) = not_built(&agent.cfg) {
        return Err((crate::exit::CONFIG, missing));
    }
    #[cfg(feature = "http-metrics")]
    let listener = match out.metrics {
        Some(addr) => Some(
            std::net::TcpListener::bind(addr)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .map_err(|e| {
                    (
                        crate::exit::IO,
                        format!("[output] metrics: cannot listen on {addr}: {e}"),
                    )
                })?,
        ),
        None => None,
    };
    // `[peers] listen`: the neighbourhood watch's server, on a thread of its own.
    #[cfg(feature = "peers")]
    crate::peers::server::start_thread(&agent.cfg, &agent.keys, &agent.state)
        .map_err(|e| (crate::exit::IO, e))?;
    let watch = realtime::Watch::new(&agent.state);
    let mut d = Daemon {
        watch,
        config_path,
        agent,
        clock,
        json,
        metrics,
        #[cfg(feature = "http-metrics")]
        listener,
        #[cfg(feature = "peers")]
        peers: None,
    };
    let intervals = d.intervals();
    schedule(&mut d, intervals).map_err(|e| (crate::exit::IO, format!("daemon: {e}")))
}

/// What `cfg` asks of `run` that this build left out (see `Cargo.toml`'s features), named.
fn not_built(cfg: &Config) -> Option<String> {
    let without = |what: &str, feature: &str| {
        Some(format!(
            "{what}: this build has no {feature} (built without the `{feature}` feature)"
        ))
    };
    if !cfg!(feature = "http-metrics") && cfg.output.metrics.is_some() {
        return without("[output] metrics", "http-metrics");
    }
    if !cfg!(feature = "peers") && cfg.peers.is_some() {
        return without("[peers]", "peers");
    }
    None
}

/// A line for the daemon's log (stderr).
fn say(msg: &str) {
    crate::output::stdio::say(&crate::output::escape::sanitize(msg));
}

/// The agent, run on the daemon's schedule.
struct Daemon<C> {
    config_path: Option<PathBuf>,
    agent: Agent,
    /// Where each round takes its `now`.
    clock: C,
    json: bool,
    /// The metrics of every round, when `[output]` asks for them.
    metrics: Option<Metrics>,
    /// Where `/metrics` is served, until the runtime takes it.
    #[cfg(feature = "http-metrics")]
    listener: Option<std::net::TcpListener>,
    /// The neighbours' watch's `[peers]`, once it runs (a reload sends the new one).
    #[cfg(feature = "peers")]
    peers: Option<tokio::sync::watch::Sender<Option<PeerSettings>>>,
    /// The real-time watch (checking on threads of its own), the gap to report, and the
    /// lock that keeps its checks and the rounds' from writing the database at once.
    watch: realtime::Watch,
}

impl<C> Daemon<C> {
    fn intervals(&self) -> (Duration, Duration) {
        let m = self.agent.cfg.monitor.clone().unwrap_or_default();
        (m.interval, m.files_interval)
    }

    /// A round's sinks: standard output, syslog and the metrics when configured.
    fn output(&self, now: homeostat_core::event::Epoch) -> Output {
        let mut out = Output::new(self.json, now);
        out.stdout_is_a_view();
        out.add(Box::new(Journal::new(&self.agent.state)));
        if self.agent.cfg.output.syslog {
            out.add(Box::new(Syslog::new(
                &self.agent.cfg.output,
                &self.agent.host,
                now,
            )));
        }
        if let Some(m) = &self.metrics {
            out.add(m.sink());
        }
        out
    }
}

impl<C: Clock> Rounds for Daemon<C> {
    fn round(&mut self, files: bool) {
        let now = self.clock.now();
        // Read together, so a long file check before the sample is no step of the clock.
        self.agent.boot = Some(crate::monitor::clock_step::boot_clock());
        let mut out = self.output(now);
        self.agent.rescan = self.watch_gap(now, &mut out);
        let db = self.watch.db.clone();
        let _db = files.then(|| realtime::lock(&db));
        let files = match files {
            true => Files::Due {
                update: self.agent.cfg.update,
            },
            false => Files::Skip,
        };
        let done = self.agent.round(files, true, &mut out);
        self.agent.rescan = false;
        if let Some((_, why)) = done.failure {
            say(&why);
        }
        self.watch_round(now, &mut out);
        if let Err(e) = out.commit() {
            say(&format!("cannot write report: {e}"));
        }
        if let Some(m) = &self.metrics {
            let file = self.agent.cfg.output.metrics_file.as_deref();
            if let Err(e) = m.round_done(now, &self.agent.state, file) {
                say(&format!("metrics not written: {e}"));
            }
        }
    }

    fn start(&mut self) -> Option<mpsc::Receiver<Watched>> {
        self.watch_start();
        #[cfg(feature = "http-metrics")]
        if let (Some(l), Some(m)) = (self.listener.take(), self.metrics.as_ref()) {
            match tokio::net::TcpListener::from_std(l) {
                Ok(l) => {
                    tokio::spawn(serve(l, m.text()));
                }
                Err(e) => say(&format!("[output] metrics: cannot serve: {e}")),
            }
        }
        #[cfg(feature = "peers")]
        {
            let (tx, settings) = tokio::sync::watch::channel(self.agent.cfg.peers.clone());
            self.peers = Some(tx);
            Some(watch::every(settings, self.agent.state.clone()))
        }
        #[cfg(not(feature = "peers"))]
        None
    }

    #[cfg(not(feature = "peers"))]
    fn watched(&mut self, watched: Watched) {
        match watched {}
    }

    #[cfg(feature = "peers")]
    fn watched(&mut self, watched: Watched) {
        let now = self.clock.now();
        let mut out = self.output(now);
        let (_, failure) = watch::report(&mut out, now, &watched);
        if let Some(why) = failure {
            say(&why);
        }
        if let Err(e) = out.commit() {
            say(&format!("cannot write report: {e}"));
        }
    }

    fn reload(&mut self) -> (Duration, Duration) {
        match Config::load(self.config_path.as_deref()) {
            Ok(cfg) => {
                say("configuration reloaded");
                self.agent.cfg = cfg;
                self.watch_start();
                if let Some(missing) = not_built(&self.agent.cfg) {
                    say(&format!("{missing}; ignored"));
                }
                // The neighbours' watch restarts only when `[peers]` changed.
                #[cfg(feature = "peers")]
                if let Some(tx) = &self.peers {
                    let new = self.agent.cfg.peers.clone();
                    tx.send_if_modified(|p| {
                        let changed = *p != new;
                        if changed {
                            *p = new;
                        }
                        changed
                    });
                }
                // Feeds are rebuilt from the new [monitor]; the learned state is kept.
                if let Some(s) = self.agent.session.as_mut() {
                    if let Some(m) = self.agent.cfg.monitor.as_ref() {
                        s.interval = m.interval;
                        match crate::monitor::live::feeds(m) {
                            Ok(mon) => s.monitor = Some(mon),
                            Err(e) => say(&format!("[monitor]: {e}; keeping the previous feeds")),
                        }
                    } else {
                        s.monitor = None;
                    }
                }
            }
            Err(e) => say(&format!(
                "configuration not reloaded, keeping the old one: {e:#}"
            )),
        }
        self.intervals()
    }

    fn finish(&mut self) {
        self.watch_finish(self.clock.now());
        if let Some(s) = self.agent.session.as_mut() {
            if let Err(e) = s.save() {
                say(&format!("cannot save the learner state: {e}"));
            }
        }
        say("stopped");
    }
}
