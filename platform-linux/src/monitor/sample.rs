//! What one [`Monitor::sample`](super::Monitor::sample) gives: each observable's value, the
//! counts behind it, the listening ports, the process snapshot, and which feeds could not
//! be read.

use std::fmt;

use homeostat_core::entropy::Direction;
use homeostat_core::stats::ObsId;

use super::{ListeningPort, ProcessEntry};

/// What the keys of an observable count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Login sessions per user name (`users`).
    Sessions,
    /// Processes per command name (`rootprocs`, `otherprocs`).
    Commands,
    /// Sockets per remote address: service `index` of [`Monitor::services`](super::Monitor::services), `dir`.
    Service { index: usize, dir: Direction },
    /// Packets per remote address: kind `index` of [`packets::KINDS`](super::packets::KINDS), `dir`.
    Packets { index: usize, dir: Direction },
}

impl Counted {
    /// The direction of a socket or packet count (the ones whose keys have a source
    /// entropy); `None` for sessions and commands.
    pub fn flow(self) -> Option<Direction> {
        match self {
            Counted::Service { dir, .. } | Counted::Packets { dir, .. } => Some(dir),
            Counted::Sessions | Counted::Commands => None,
        }
    }
}

/// The counts behind one observable's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// The observable.
    pub id: ObsId,
    /// What is counted.
    pub counted: Counted,
    /// Key → count, sorted by key: user names, commands, or remote addresses.
    pub counts: Vec<(String, u32)>,
}

/// One sample of every feed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// Observable → value, in a fixed order: `users rootprocs otherprocs diskfree
    /// loadavg`, `<svc>_in <svc>_out` for each service, then `<kind>_in <kind>_out` for
    /// each packet kind. Observables of an unavailable feed are absent. The built-ins have
    /// their fixed ids; other services have the ids the registry gave their names.
    pub values: Vec<(ObsId, f64)>,
    /// The counts behind `users` (per user name), `rootprocs`/`otherprocs` (per command),
    /// `<svc>_in`/`<svc>_out` and the packet observables (per remote address), in the
    /// order of `values`.
    pub keys: Vec<Keys>,
    /// Listening ports, sorted by protocol, port and address.
    pub listening: Vec<ListeningPort>,
    /// The process snapshot (pid order), for the peak view.
    pub processes: Vec<ProcessEntry>,
    /// Feeds that could not be read: `(feed, reason)`; feeds are `users`, `processes`,
    /// `diskfree`, `loadavg`, `sockets`, `packets`, then any service observable the
    /// registry had no slot for (`(name, "no observable slot: …")`). A feed the
    /// configuration turned off (`packets` without `tcpdump`) is not read and not listed:
    /// that is no problem.
    pub unavailable: Vec<(String, String)>,
    /// Things worth knowing that did not stop a feed: `(feed, note)` (no utmp file, so
    /// `users` is 0; malformed lines skipped; a missing `tcp6` when IPv6 is off).
    pub notes: Vec<(String, String)>,
}

impl Sample {
    /// The value of one observable.
    pub fn value(&self, id: ObsId) -> Option<f64> {
        self.values.iter().find(|(i, _)| *i == id).map(|(_, v)| *v)
    }

    /// The keys of one observable.
    pub fn keys_of(&self, id: ObsId) -> Option<&[(String, u32)]> {
        self.keys
            .iter()
            .find(|k| k.id == id)
            .map(|k| k.counts.as_slice())
    }

    pub(super) fn unavailable(&mut self, feed: &str, why: impl fmt::Display) {
        self.unavailable.push((feed.to_string(), why.to_string()));
    }

    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(super) fn note(&mut self, feed: &str, what: impl fmt::Display) {
        self.notes.push((feed.to_string(), what.to_string()));
    }

    pub(super) fn value_of(&mut self, id: ObsId, v: f64) {
        self.values.push((id, v));
    }

    pub(super) fn keys_for(&mut self, id: ObsId, counted: Counted, counts: Vec<(String, u32)>) {
        self.keys.push(Keys {
            id,
            counted,
            counts,
        });
    }
}
