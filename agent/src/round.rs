//! One round: the pipeline that `scan` and every interval of `run` share.
//!
//! A round checks the files (when due), runs the log and command measurements, and takes
//! one monitor sample, in that order, each step emitting its findings into the round's
//! [`Output`]. A step that fails does not blind the ones after it (a forged database must
//! not stop the learner); the round returns the first failure, and the caller decides
//! what it means (`scan` exits with it, the daemon logs it and goes on).

use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use homeostat_core::event::{ClassList, Event};

use crate::config::Config;
use crate::exit::{DATABASE as EXIT_DATABASE, IO as EXIT_IO};
use crate::files::signing::Keys;
use crate::files::{self, Failure, Mode};
use crate::measurements;
use crate::monitor::live::Session;
use crate::output::changelog::ChangeLog;
use crate::output::Output;
use crate::policy::rules::{self, Capture, Promisers};

/// Why a step of a round failed: an exit status (17 database or state, 18 I/O) and a message.
pub type StepError = (u8, String);

/// What a round does with the files.
#[derive(Clone, Debug)]
pub enum Files {
    /// Not this round.
    Skip,
    /// Check against the baseline, or record one when there is none yet (`scan`, `run`).
    Due {
        /// Accept what is reported.
        update: bool,
    },
    /// Exactly this (`init`, `check`, `update`).
    Only(Mode),
}

/// What stays between rounds: configuration, keys, where state lives, and the learner.
pub struct Agent {
    /// The configuration in force.
    pub cfg: Config,
    /// Database signing keys.
    pub keys: Keys,
    /// The state directory.
    pub state: PathBuf,
    /// This host's name, recorded in databases.
    pub host: String,
    /// The learner and its feeds, opened by the first round that samples.
    pub session: Option<Session>,
    /// The next file check is the rescan after a gap in the watch (`"via":"rescan"`).
    pub rescan: bool,
    /// The boot clock read with this round's wall clock (`run`), against which a step of
    /// the wall clock is measured; `None` where there is no previous round to compare.
    pub boot: Option<std::time::Duration>,
}

/// What a round found, for the caller's exit status.
#[derive(Debug, Default)]
pub struct Done {
    /// Every class the round raised (learner, and the producers to come: files,
    /// promises, states), listed once in its `classes` event at the end of the round.
    pub classes: BTreeSet<String>,
    /// Whether files were compared with a baseline (only then do findings set exit bits).
    pub checked: bool,
    /// The first step that failed.
    pub failure: Option<StepError>,
}

impl Agent {
    /// The agent of this host, with no learner opened yet.
    pub fn new(cfg: Config, keys: Keys, state: PathBuf) -> Agent {
        Agent {
            cfg,
            keys,
            state,
            host: crate::state_dir::hostname(),
            session: None,
            rescan: false,
            boot: None,
        }
    }

    /// The database of the file baseline.
    pub fn db(&self) -> PathBuf {
        self.state.join("files.db")
    }

    /// One round at epoch `out.now()`. `sample`: run the measurements and take a monitor
    /// sample (everything but `init`/`check`/`update`).
    pub fn round(&mut self, files: Files, sample: bool, out: &mut Output) -> Done {
        let mut done = Done::default();
        let (mut raised, mut sampled) = (BTreeSet::new(), false);
        let mut failure = None;
        let mut fail = |e: StepError| {
            failure.get_or_insert(e);
        };
        // File classes and monitor values, read back for the classes and the rules.
        let capture = Capture::default();
        out.add(Box::new(capture.clone()));
        // Which promise raised which class (`$(this.promiser)`), filled by the promise steps.
        // Process promises first, then port promises, each in config order.
        let mut promisers = Promisers::default();
        if let Some(mode) = self.file_mode(files, out) {
            done.checked = matches!(mode, Mode::Check { .. });
            if let Err(e) = self.files(&mode, out) {
                fail(e);
            }
        }
        if sample {
            let weekly = match measurements::run(&self.cfg, &self.state, out) {
                Ok(w) => w,
                // The process is exiting: the round is abandoned, nothing of it learned
                // or saved, so the state on disk stays the last complete round's.
                Err(measurements::Error::Stopped) => {
                    done.failure = failure;
                    return done;
                }
                Err(e) => {
                    fail(measure_failure(e));
                    Vec::new()
                }
            };
            match crate::policy::processes::run(&self.cfg.processes, out) {
                Ok(r) => {
                    sampled |= !self.cfg.processes.is_empty();
                    raised.extend(r.iter().map(|r| r.class.clone()));
                    promisers
                        .0
                        .extend(r.into_iter().map(|r| (r.class, r.promiser)));
                }
                Err(e) => fail((EXIT_IO, e)),
            }
            match self.sample(&weekly, out) {
                Ok(Some(classes)) => {
                    sampled = true;
                    raised.extend(classes);
                }
                Ok(None) => {}
                Err(e) => fail(e),
            }
            for p in &self.cfg.ports {
                for suffix in ["_ok", "_violated"] {
                    promisers
                        .0
                        .push((format!("{}{suffix}", p.name), p.name.clone()));
                }
            }
            // Port promises and `ports_changed`; their classes go in the `classes` event.
            match crate::policy::ports::run(&self.cfg, &self.state, out) {
                Ok(Some(classes)) => {
                    sampled = true;
                    raised.extend(classes);
                }
                Ok(None) => {}
                Err(e) => fail(e),
            }
        }
        let facts = capture.take();
        raised.extend(facts.classes.iter().cloned());
        let ruled = sample && !self.cfg.rules.is_empty();
        if ruled {
            let r = rules::Round {
                rules: &self.cfg.rules,
                store: crate::platform::StateDir::new(&self.state),
                host: &self.host,
                now: out.now(),
                facts: &facts,
                promisers: &promisers,
            };
            if let Err(e) = rules::step(r, &mut raised, out) {
                fail((EXIT_IO, e));
            }
        }
        if sampled || ruled {
            if let Err(e) = self.classes(&raised, out) {
                fail(e);
            }
        }
        done.classes = raised;
        done.failure = failure;
        done
    }

    /// The round's `classes` event, and the classes `eval` and `state` see until the next.
    fn classes(&mut self, raised: &BTreeSet<String>, out: &mut Output) -> Result<(), StepError> {
        let names: Vec<&str> = raised.iter().map(String::as_str).collect();
        out.emit(&Event::Classes(ClassList {
            t: out.now(),
            names: &names,
        }))
        .map_err(|e| (EXIT_IO, format!("cannot write report: {e}")))?;
        let saved = match self.session.as_mut() {
            Some(session) => {
                session.extras.last_t = out.now();
                session.extras.last_classes = raised.iter().cloned().collect();
                session.save()
            }
            // No learner this round (promises only): the classes are kept all the same.
            None => {
                let mut store = crate::platform::StateDir::new(&self.state);
                let mut extras = crate::monitor::peaks::Extras::load(&mut store);
                extras.last_t = out.now();
                extras.last_classes = raised.iter().cloned().collect();
                extras.save(&mut store)
            }
        };
        saved.map_err(|e| {
            (
                EXIT_IO,
                format!(
                    "cannot save the learner state in {}: {e}",
                    self.state.display()
                ),
            )
        })
    }

    /// The mode of this round's file step, if it has one.
    fn file_mode(&self, files: Files, out: &mut Output) -> Option<Mode> {
        match files {
            Files::Skip => None,
            Files::Only(mode) => Some(mode),
            Files::Due { .. } if self.cfg.trees.is_empty() => None,
            Files::Due { update } if self.db().exists() => Some(Mode::Check { update }),
            Files::Due { .. } => {
                let db = self.db();
                let _ = out.emit(&Event::NoBaseline {
                    path: db.as_os_str().as_bytes(),
                });
                Some(Mode::Init)
            }
        }
    }

    fn files(&self, mode: &Mode, out: &mut Output) -> Result<(), StepError> {
        if matches!(mode, Mode::Check { .. }) {
            // A log that cannot be opened (a read-only state directory) does not blind the
            // check: the findings are reported, and the round fails naming the log.
            let log = self.state.join("file_changes.log");
            match ChangeLog::open(&log, out.now()) {
                Ok(sink) => out.add(Box::new(sink)),
                Err(e) => out.lose(e.to_string()),
            }
        }
        let db = self.db();
        let mut source = crate::platform::Pool::per_cpu();
        let origin = match self.rescan {
            true => files::Origin::Rescan,
            false => files::Origin::Scheduled,
        };
        files::run_via(
            &mut source,
            &self.keys,
            &self.cfg,
            &db,
            &self.host,
            out.now(),
            mode,
            &origin,
            out,
        )
        .map_err(|e| match e {
            Failure::Database(e) => (EXIT_DATABASE, e.to_string()),
            Failure::Io(e) => (EXIT_IO, e),
        })
    }

    /// One monitor sample, when `[monitor]` is configured or a log measurement has weekly
    /// history; returns the classes it raised.
    fn sample(
        &mut self,
        weekly: &[(String, f64)],
        out: &mut Output,
    ) -> Result<Option<BTreeSet<String>>, StepError> {
        if self.cfg.monitor.is_none() && weekly.is_empty() {
            return Ok(None);
        }
        if self.session.is_none() {
            self.session = Some(open_session(&self.cfg, &self.state, out)?);
        }
        let Some(session) = self.session.as_mut() else {
            return Ok(None);
        };
        let taken = session.sample(out.now(), self.boot, weekly, out);
        if let Ok(taken) = &taken {
            for (feed, why) in &taken.unavailable {
                let _ = out.warning(feed.as_bytes(), &format!("unavailable: {why}"));
            }
        }
        match taken {
            // Saved with the round's classes, in `classes`.
            Ok(taken) => Ok(Some(taken.classes)),
            Err(e) => {
                // What was learned is saved even when it could not all be reported.
                let _ = session.save();
                Err((EXIT_IO, format!("cannot write report: {e:#}")))
            }
        }
    }
}

/// Opens the learner's state in `state` (a damaged state is set aside with a warning).
pub fn open_session(cfg: &Config, state: &Path, out: &mut Output) -> Result<Session, StepError> {
    let mut said = Vec::new();
    let session = Session::open(state, cfg.monitor.as_ref(), |m| said.push(m))
        .map_err(|e| (EXIT_DATABASE, format!("{e:#}")))?;
    for m in said {
        let _ = out.warning(state.as_os_str().as_bytes(), &m);
    }
    Ok(session)
}

fn measure_failure(e: measurements::Error) -> StepError {
    match e {
        measurements::Error::State(m) => (EXIT_DATABASE, m),
        measurements::Error::Io(m) => (EXIT_IO, m),
        measurements::Error::Stopped => (EXIT_IO, "stopped: homeostat is exiting".into()),
    }
}
