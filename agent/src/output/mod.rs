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
#[cfg(feature = "progress")]
pub mod progress;
// Without the bars: the same calls, drawing nothing.
#[cfg(not(feature = "progress"))]
#[path = "progress_off.rs"]
pub mod progress;
#[cfg(feature = "http-metrics")]
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
    /// Standard output is a view beside the journal (the daemon's), not the report.
    stdout_is_a_view: bool,
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
            stdout_is_a_view: false,
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

    /// For the daemon: standard output is a view of what the journal records, and whoever
    /// read it may go away. Its failure is said once per process on standard error and
    /// blocks nothing; the journal (and syslog) go on, and the baseline still accepts.
    pub fn stdout_is_a_view(&mut self) {
        self.stdout_is_a_view = true;
    }

    /// Sets sink `i` aside after `err`.
    fn failed(&mut self, i: usize, err: &io::Error) {
        self.sinks[i].failed = true;
        if i == 0 && self.stdout_is_a_view {
            static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
            if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
                stdio::say(&format!(
                    "standard output failed ({err}): findings go on to the journal only"
                ));
            }
            return;
        }
        self.lost.push(describe(i, err));
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
        for i in 0..self.sinks.len() {
            if !self.sinks[i].failed {
                if let Err(err) = self.sinks[i].sink.event(e) {
                    self.failed(i, &err);
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
        for i in 0..self.sinks.len() {
            if !self.sinks[i].failed {
                if let Err(err) = self.sinks[i].sink.commit() {
                    self.failed(i, &err);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    /// Counts events and commits; fails from event `fail_at` on (never when `None`).
    struct Probe {
        seen: Rc<Cell<usize>>,
        fail_at: Option<usize>,
    }

    impl Sink for Probe {
        type Error = io::Error;
        fn event(&mut self, _: &Event<'_>) -> io::Result<()> {
            self.seen.set(self.seen.get() + 1);
            match self.fail_at {
                Some(n) if self.seen.get() >= n => Err(io::Error::other("/s/probe: disk full")),
                _ => Ok(()),
            }
        }
        fn commit(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failing_sink_is_set_aside_and_named_while_the_others_get_every_event() {
        let mut out = Output::new(true, 0);
        let (bad, good) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        out.add(Box::new(Probe {
            seen: bad.clone(),
            fail_at: Some(2),
        }));
        out.add(Box::new(Probe {
            seen: good.clone(),
            fail_at: None,
        }));
        for _ in 0..5 {
            out.emit(&Event::Examined { unreadable: false }).unwrap();
        }
        assert_eq!(good.get(), 5, "a sink after the failing one missed events");
        assert_eq!(bad.get(), 2, "the failed sink was given more");
        assert_eq!(out.counts.entries, 5);
        let e = out.commit().unwrap_err().to_string();
        assert!(e.contains("/s/probe: disk full"), "{e}");
        assert_eq!(out.lost().len(), 1);
    }
}
