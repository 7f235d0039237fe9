//! The daemon's side of the real-time watch: a checker thread that checks each batch as
//! it comes (never waiting for a round, whose monitor sample may take seconds), the
//! rescan after a lost queue, and the heartbeat and gap of [`super::heartbeat`].
//!
//! The checker and the rounds share the database: a lock keeps one check writing at a
//! time. JSON lines are written whole by each sink, so the two never mix on stdout.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::Instant;

use homeostat_core::event::{Coverage, Epoch, Event, Gap};
use homeostat_core::feed::{Clock, Sink};
use homeostat_core::fim::join::{tidy, Touched};

use super::heartbeat::Heartbeat;
use super::{say, Daemon};
use crate::files::realtime::{self, Batch};
use crate::files::touched::TouchedSource;
use crate::files::{self, Failure, Mode, Origin};
use crate::output::changelog::ChangeLog;
use crate::output::journal::Journal;
use crate::output::metrics::Metrics;
use crate::output::syslog::Syslog;
use crate::output::Output;
use crate::platform::SystemClock;
use crate::round::Agent;

/// The watch's figures, shared by the checker and the rounds.
#[derive(Default)]
pub struct Counters {
    events: AtomicU64,
    overflows: AtomicU64,
    rescans: AtomicU64,
}

/// What the daemon keeps of the watch.
pub struct Watch {
    /// Held while a check writes the database (a round's file step, a batch).
    pub db: Arc<Mutex<()>>,
    counters: Arc<Counters>,
    watches: Option<Arc<AtomicU64>>,
    mechanism: &'static str,
    /// Ends the current watch's gathering thread (its checker follows).
    stop: Option<Arc<AtomicBool>>,
    /// The last heartbeat of the previous run: a gap the first round reports.
    gap_from: Option<Epoch>,
}

/// Takes the database lock (a checker that panicked left nothing half-written: databases
/// are replaced whole).
pub fn lock(db: &Mutex<()>) -> MutexGuard<'_, ()> {
    db.lock().unwrap_or_else(|p| p.into_inner())
}

impl Watch {
    /// Before the first round: the previous run's heartbeat, if any.
    pub fn new(state: &std::path::Path) -> Watch {
        Watch {
            db: Arc::default(),
            counters: Arc::default(),
            watches: None,
            mechanism: "none",
            stop: None,
            gap_from: Heartbeat::load(state).map(|h| h.t),
        }
    }

    fn coverage(&self) -> Coverage<'static> {
        coverage(self.mechanism, &self.counters, self.watches.as_deref())
    }
}

fn coverage(
    mechanism: &'static str,
    c: &Counters,
    watches: Option<&AtomicU64>,
) -> Coverage<'static> {
    Coverage {
        mechanism,
        events: c.events.load(Ordering::Relaxed),
        overflows: c.overflows.load(Ordering::Relaxed),
        rescans: c.rescans.load(Ordering::Relaxed),
        watches: watches.map_or(0, |w| w.load(Ordering::Relaxed)),
    }
}

impl<C: Clock> Daemon<C> {
    /// Watches the `realtime = true` trees (before the first round checks them; again
    /// after each reload, with the new configuration: the new watch starts before the
    /// old one stops, whose last batch is still checked, so nothing falls in between).
    pub(super) fn watch_start(&mut self) {
        let old = self.watch.stop.take();
        self.watch.watches = None;
        self.watch.mechanism = "none";
        let trees: Vec<_> = (self.agent.cfg.trees.iter())
            .filter(|t| t.realtime)
            .map(|t| t.spec.clone())
            .collect();
        if !trees.is_empty() {
            match realtime::start(&trees, &self.agent.state, &mut |m| say(m)) {
                Ok(feed) => {
                    self.watch.watches = Some(feed.watches.clone());
                    self.watch.mechanism = feed.mechanism;
                    self.watch.stop = Some(feed.stop.clone());
                    let checker = Checker {
                        agent: Agent::new(
                            self.agent.cfg.clone(),
                            self.agent.keys.clone(),
                            self.agent.state.clone(),
                        ),
                        json: self.json,
                        metrics: self.metrics.clone(),
                        db: self.watch.db.clone(),
                        counters: self.watch.counters.clone(),
                        mechanism: feed.mechanism,
                        watches: feed.watches.clone(),
                        pace: feed.pace.clone(),
                    };
                    let spawned = std::thread::Builder::new()
                        .name("realtime-check".into())
                        .spawn(move || checker.run(feed.batches));
                    if let Err(e) = spawned {
                        say(&format!("real-time watch: cannot start its checker: {e}"));
                        feed.stop.store(true, Ordering::Relaxed);
                    }
                }
                Err(e) => say(&format!("{e}; the trees are checked on schedule only")),
            }
        }
        if let Some(stop) = old {
            stop.store(true, Ordering::Relaxed);
        }
    }

    /// At the start of a round: the gap since the previous run, reported once; `true`
    /// when this round's file check is the rescan that covers it.
    pub(super) fn watch_gap(&mut self, now: Epoch, out: &mut Output) -> bool {
        let Some(from) = self.watch.gap_from.take() else {
            return false;
        };
        let _ = out.emit(&Event::Gap(Gap {
            t: now,
            from,
            to: now,
        }));
        self.watch.counters.rescans.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// At the end of a round: the figures for metrics, and the heartbeat.
    pub(super) fn watch_round(&mut self, now: Epoch, out: &mut Output) {
        let _ = out.emit(&Event::Coverage(self.watch.coverage()));
        self.watch_heartbeat(now);
    }

    /// At a clean stop: waits for a check under way, then the heartbeat, so that the next
    /// start's gap begins here. The watch's threads end with the process.
    pub(super) fn watch_finish(&mut self, now: Epoch) {
        let db = self.watch.db.clone();
        let _db = lock(&db);
        if let Some(stop) = &self.watch.stop {
            stop.store(true, Ordering::Relaxed);
        }
        self.watch_heartbeat(now);
    }

    fn watch_heartbeat(&mut self, now: Epoch) {
        if let Err(e) = Heartbeat::of(now, &self.watch.coverage()).save(&self.agent.state) {
            say(&format!(
                "cannot write the heartbeat in {}: {e}",
                self.agent.state.display()
            ));
        }
    }
}

/// The checker thread: everything a check of a batch needs, its own.
struct Checker {
    /// The configuration, keys and state dir of the watch's start (a reload starts a new
    /// checker).
    agent: Agent,
    json: bool,
    metrics: Option<Metrics>,
    db: Arc<Mutex<()>>,
    counters: Arc<Counters>,
    mechanism: &'static str,
    watches: Arc<AtomicU64>,
    /// Where each check's duration goes, for the gathering thread's window.
    pace: Arc<AtomicU64>,
}

impl Checker {
    /// Checks batches until the gathering thread ends.
    fn run(self, batches: mpsc::Receiver<Batch>) {
        for batch in batches {
            let began = Instant::now();
            self.check(batch);
            let ms = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX);
            self.pace.store(ms, Ordering::Relaxed);
        }
    }

    /// Checks what one batch touched, or every watched tree after an overflow.
    fn check(&self, batch: Batch) {
        let _db = lock(&self.db);
        let now = SystemClock.now();
        let mut out = Output::new(self.json, now);
        out.stdout_is_a_view();
        out.add(Box::new(Journal::new(&self.agent.state)));
        let cfg = &self.agent.cfg;
        if cfg.output.syslog {
            out.add(Box::new(Syslog::new(&cfg.output, &self.agent.host, now)));
        }
        if let Some(m) = &self.metrics {
            out.add(m.sink());
        }
        let c = &self.counters;
        c.events.fetch_add(batch.events, Ordering::Relaxed);
        for why in &batch.blind {
            let _ = out.warning(b"realtime", why);
        }
        // No baseline yet: the first round records one, with these changes in it.
        if self.agent.db().exists() {
            let update = cfg.update;
            let checked = if batch.overflow {
                c.overflows.fetch_add(1, Ordering::Relaxed);
                c.rescans.fetch_add(1, Ordering::Relaxed);
                let mut only = Vec::new();
                for t in cfg.trees.iter().filter(|t| t.realtime) {
                    let _ = out.warning(
                        &t.spec.root,
                        "real-time event queue overflow: changes were lost; checking the whole tree",
                    );
                    only.push(Touched {
                        path: t.spec.root.clone(),
                        below: true,
                    });
                }
                let n = tidy(&mut only);
                only.truncate(n);
                let mode = Mode::Paths { update, only };
                self.agent.check_paths(mode, &Origin::Rescan, &mut out)
            } else {
                let mode = Mode::Paths {
                    update,
                    only: batch.touched(),
                };
                let origin = Origin::Realtime(&batch.writers);
                self.agent.check_paths(mode, &origin, &mut out)
            };
            if let Err(why) = checked {
                say(&why);
            }
        }
        let _ = out.emit(&Event::Coverage(coverage(
            self.mechanism,
            c,
            Some(&self.watches),
        )));
        if let Err(e) = out.commit() {
            say(&format!("cannot write report: {e}"));
        }
    }
}

impl Agent {
    /// A real-time check of the paths `mode` names (a [`Mode::Paths`]), found as
    /// `origin` says: the same comparison and database update as a scheduled check.
    pub fn check_paths(
        &self,
        mode: Mode,
        origin: &Origin<'_>,
        out: &mut Output,
    ) -> Result<(), String> {
        let Mode::Paths { only, .. } = &mode else {
            return Err("a real-time check needs paths".into());
        };
        // As in a round: a log that cannot be opened does not blind the check.
        let log = self.state.join("file_changes.log");
        match ChangeLog::open(&log, out.now()) {
            Ok(sink) => out.add(Box::new(sink)),
            Err(e) => out.lose(e.to_string()),
        }
        let mut source = TouchedSource {
            only,
            pool: crate::platform::Pool::per_cpu(),
        };
        let db = self.db();
        files::run_via(
            &mut source,
            &self.keys,
            &self.cfg,
            &db,
            &self.host,
            out.now(),
            &mode,
            origin,
            out,
        )
        .map_err(|e| match e {
            Failure::Database(e) => format!("{}: {e}", db.display()),
            Failure::Io(e) => e,
        })
    }
}
