//! The daemon's side of the real-time watch: starting it, checking each batch between
//! rounds, the rescan after a lost queue, and the heartbeat and gap of [`super::heartbeat`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use homeostat_core::event::{Coverage, Epoch, Event, Gap};
use homeostat_core::feed::{Clock, Sink};
use homeostat_core::fim::join::{tidy, Touched};
use tokio::sync::mpsc;

use super::heartbeat::Heartbeat;
use super::{say, Daemon};
use crate::files::realtime::{self, Batch};
use crate::files::touched::TouchedSource;
use crate::files::{self, Failure, Mode, Origin};
use crate::output::changelog::ChangeLog;
use crate::output::syslog::Syslog;
use crate::output::Output;
use crate::round::Agent;

/// What the daemon keeps of the watch.
#[derive(Default)]
pub struct Watch {
    /// The batches, until the runtime takes them.
    batches: Option<mpsc::Receiver<Batch>>,
    watches: Option<Arc<AtomicU64>>,
    mechanism: &'static str,
    /// Ends the watch's thread.
    stop: Option<Arc<AtomicBool>>,
    events: u64,
    overflows: u64,
    rescans: u64,
    /// The last heartbeat of the previous run: a gap the first round reports.
    gap_from: Option<Epoch>,
}

impl Watch {
    /// Before the first round: the previous run's heartbeat, if any.
    pub fn new(state: &std::path::Path) -> Watch {
        Watch {
            gap_from: Heartbeat::load(state).map(|h| h.t),
            mechanism: "none",
            ..Watch::default()
        }
    }

    /// The batches to wait on (once).
    pub fn take_batches(&mut self) -> Option<mpsc::Receiver<Batch>> {
        self.batches.take()
    }

    fn coverage(&self) -> Coverage<'static> {
        Coverage {
            mechanism: self.mechanism,
            events: self.events,
            overflows: self.overflows,
            rescans: self.rescans,
            watches: self
                .watches
                .as_ref()
                .map_or(0, |w| w.load(Ordering::Relaxed)),
        }
    }
}

/// What the watch of `cfg` covers, to tell whether a reload changes it.
pub fn watched(cfg: &crate::config::Config) -> String {
    let specs: Vec<_> = cfg
        .trees
        .iter()
        .filter(|t| t.realtime)
        .map(|t| &t.spec)
        .collect();
    format!("{specs:?}")
}

impl<C: Clock> Daemon<C> {
    /// Starts watching the `realtime = true` trees, before the first round checks them;
    /// after a reload that changed them, watches them anew (the previous watch ends when
    /// its batches are no longer taken; what changed in between is found by the next
    /// scheduled check).
    pub(super) fn watch_start(&mut self) {
        if let Some(stop) = self.watch.stop.take() {
            stop.store(true, Ordering::Relaxed);
        }
        self.watch.batches = None;
        self.watch.watches = None;
        self.watch.mechanism = "none";
        let trees: Vec<_> = self
            .agent
            .cfg
            .trees
            .iter()
            .filter(|t| t.realtime)
            .map(|t| t.spec.clone())
            .collect();
        if trees.is_empty() {
            return;
        }
        match realtime::start(&trees, &self.agent.state, &mut |m| say(m)) {
            Ok(feed) => {
                self.watch.batches = Some(feed.batches);
                self.watch.watches = Some(feed.watches);
                self.watch.mechanism = feed.mechanism;
                self.watch.stop = Some(feed.stop);
            }
            Err(e) => say(&format!("{e}; the trees are checked on schedule only")),
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
        self.watch.rescans += 1;
        true
    }

    /// At the end of a round: the figures for metrics, and the heartbeat.
    pub(super) fn watch_round(&mut self, now: Epoch, out: &mut Output) {
        let c = self.watch.coverage();
        let _ = out.emit(&Event::Coverage(c));
        if let Err(e) = Heartbeat::of(now, &c).save(&self.agent.state) {
            say(&format!(
                "cannot write the heartbeat in {}: {e}",
                self.agent.state.display()
            ));
        }
    }

    /// The heartbeat at `now` (each round, and at a clean stop so that the next start's
    /// gap begins there).
    pub(super) fn watch_stop(&mut self, now: Epoch) {
        if let Err(e) = Heartbeat::of(now, &self.watch.coverage()).save(&self.agent.state) {
            say(&format!(
                "cannot write the heartbeat in {}: {e}",
                self.agent.state.display()
            ));
        }
    }

    /// Checks what one batch of the watch touched.
    pub(super) fn watch_batch(&mut self, batch: Batch) {
        if self.watch.stop.is_none() {
            // The last of a watch a reload ended.
            return;
        }
        let now = self.clock.now();
        let mut out = Output::new(self.json, now);
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
        self.watch.events += batch.events;
        for why in &batch.blind {
            let _ = out.warning(b"realtime", why);
        }
        // No baseline yet: the first round records one, with these changes in it.
        if self.agent.db().exists() {
            let update = self.agent.cfg.update;
            let checked = if batch.overflow {
                self.watch.overflows += 1;
                self.watch.rescans += 1;
                let mut only = Vec::new();
                for t in self.agent.cfg.trees.iter().filter(|t| t.realtime) {
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
                self.agent
                    .check_paths(Mode::Paths { update, only }, &Origin::Rescan, &mut out)
            } else {
                let only = batch.touched();
                let origin = Origin::Realtime(&batch.writers);
                self.agent
                    .check_paths(Mode::Paths { update, only }, &origin, &mut out)
            };
            if let Err(why) = checked {
                say(&why);
            }
        }
        let _ = out.emit(&Event::Coverage(self.watch.coverage()));
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
        let log = self.state.join("file_changes.log");
        let sink = ChangeLog::open(&log, out.now())
            .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
        out.add(Box::new(sink));
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
