//! Where events go: one sink per transport, all fed by one [`Output`].
//!
//! - [`text`]: the seed's words on a terminal (warnings on stderr).
//! - [`json`]: JSON lines through serde, one schema (`docs/json.md`).
//! - [`changelog`]: CFEngine's `file_changes.log`.
//! - [`journal`]: `journal.jsonl`, every event but samples in a hash chain.
//! - [`syslog`]: RFC 5424 datagrams; [`metrics`] and [`serve`]: Prometheus.
//! - [`escape`]: attacker bytes made printable (`\xNN`), for every transport.
//!
//! A new transport (syslog, metrics) is one new type implementing
//! [`homeostat_core::feed::Sink`], added with [`Output::add`].

pub mod changelog;
pub mod escape;
pub mod journal;
pub mod json;
pub mod metrics;
pub mod progress;
pub mod serve;
pub mod stdio;
pub mod syslog;
pub mod text;
pub mod timefmt;

use std::io;

use homeostat_core::event::{Counts, Epoch, Event, Warning};
use homeostat_core::feed::Sink;

/// A sink of this agent: every transport fails with an I/O error.
pub type BoxedSink = Box<dyn Sink<Error = io::Error>>;

/// The fan-out over a run's sinks, counting what passes (the exit status and the
/// summary come from the counts).
///
/// A sink that fails (a read-only state directory, a full disk, a closed pipe) is set
/// aside and named in [`Output::lost`]; the others go on receiving every event, so a
/// monitor that cannot record what it sees still reports it. [`Sink::commit`] then fails,
/// naming what was not written, so that no baseline accepts findings a sink lost.
pub struct Output {
    json: bool,
    now: Epoch,
    sinks: Vec<Slot>,
    lost: Vec<String>,
    /// What the run reported so far.
    pub counts: Counts,
}

/// A sink, and whether it has failed (then it is given nothing more).
struct Slot {
    sink: BoxedSink,
    failed: bool,
}

impl Output {
    /// Standard output in text or JSON lines, for a run at epoch `now`.
    pub fn new(json: bool, now: Epoch) -> Output {
        let stdout: BoxedSink = if json {
            Box::new(json::JsonLines::stdout())
        } else {
            Box::new(text::Text::stdout())
        };
        Output {
            json,
            now,
            sinks: vec![Slot {
                sink: stdout,
                failed: false,
            }],
            lost: Vec::new(),
            counts: Counts::default(),
        }
    }

    /// Whether standard output carries JSON lines (no progress bar then).
    pub fn json(&self) -> bool {
        self.json
    }

    /// The run's epoch.
    pub fn now(&self) -> Epoch {
        self.now
    }

    /// Sends every later event to `sink` too.
    pub fn add(&mut self, sink: BoxedSink) {
        self.sinks.push(Slot {
            sink,
            failed: false,
        });
    }

    /// Records that `what` (a message naming the file) could not be written: the run's
    /// commit fails with it.
    pub fn lose(&mut self, what: String) {
        self.lost.push(what);
    }

    /// What could not be written so far, each naming its file or stream.
    pub fn lost(&self) -> &[String] {
        &self.lost
    }

    /// Counts `e` and hands it to every sink that has not failed. A sink's failure sets it
    /// aside (see [`Output`]): this never fails.
    pub fn emit(&mut self, e: &Event<'_>) -> io::Result<()> {
        self.counts.count(e);
        for (i, s) in self.sinks.iter_mut().enumerate() {
            if !s.failed {
                if let Err(err) = s.sink.event(e) {
                    s.failed = true;
                    self.lost.push(describe(i, &err));
                }
            }
        }
        Ok(())
    }

    /// A problem that did not stop the run; `source` is what it concerns.
    pub fn warning(&mut self, source: &[u8], message: &str) -> io::Result<()> {
        self.emit(&Event::Warning(Warning {
            t: self.now,
            source,
            measurement: None,
            message,
        }))
    }
}

impl Sink for Output {
    type Error = io::Error;

    fn event(&mut self, e: &Event<'_>) -> io::Result<()> {
        self.emit(e)
    }

    /// Every sink written out and, for files, on disk; an error naming each sink that
    /// failed, at any time in the run.
    fn commit(&mut self) -> io::Result<()> {
        for (i, s) in self.sinks.iter_mut().enumerate() {
            if !s.failed {
                if let Err(err) = s.sink.commit() {
                    s.failed = true;
                    self.lost.push(describe(i, &err));
                }
            }
        }
        match self.lost.is_empty() {
            true => Ok(()),
            false => Err(io::Error::other(self.lost.join("; "))),
        }
    }
}

/// Sink `i`'s failure: standard output is sink 0; the others name their file.
fn describe(i: usize, err: &io::Error) -> String {
    match i {
        0 => format!("standard output: {err}"),
        _ => err.to_string(),
    }
}
