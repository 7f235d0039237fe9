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
pub struct Output {
    json: bool,
    now: Epoch,
    sinks: Vec<BoxedSink>,
    /// What the run reported so far.
    pub counts: Counts,
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
            sinks: vec![stdout],
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
        self.sinks.push(sink);
    }

    /// Counts `e` and hands it to every sink.
    pub fn emit(&mut self, e: &Event<'_>) -> io::Result<()> {
        self.counts.count(e);
        for s in &mut self.sinks {
            s.event(e)?;
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

    /// Every sink written out and, for files, on disk.
    fn commit(&mut self) -> io::Result<()> {
        for s in &mut self.sinks {
            s.commit()?;
        }
        Ok(())
    }
}
