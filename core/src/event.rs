//! Every finding of a round as a value.
//!
//! Producers (the file check, the learner, log measurements, and later promises, peers,
//! real-time watches) build [`Event`]s; sinks ([`crate::feed::Sink`]) render them: the
//! seed's text, JSON lines, `file_changes.log`, syslog, metrics. An event borrows what it
//! shows, so building one allocates nothing and firmware can emit them from static data.
//!
//! Values are raw: paths and names are the bytes as found (escaping is the renderer's
//! job), numbers are numbers. A sink that needs the class names of a sample derives them
//! from its [`Outcome`] with [`crate::stats::Classes::names`].
//!
//! # Example
//!
//! ```
//! use homeostat_core::event::{Change, Counts, Event, Severity};
//!
//! let mut counts = Counts::default();
//! for e in [Event::Examined { unreadable: false }, Event::Examined { unreadable: true }] {
//!     counts.count(&e);
//! }
//! assert_eq!((counts.entries, counts.unreadable), (2, 1));
//! assert_eq!(counts.exit_bits(), 0); // nothing added, removed or changed
//! assert_eq!(Change::Removed.name(), "removed");
//! assert_eq!(Severity::from_name(Severity::Warning.name()), Some(Severity::Warning));
//! ```

use crate::fim::{Attrs, Meta};
use crate::logscan::Kind as MeasureKind;
use crate::stats::{ObsId, Outcome};

mod watch;
pub use watch::{Coverage, Gap, Via, Writer};

/// Seconds since the Unix epoch.
pub type Epoch = i64;

/// What happened to a path since the baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Change {
    /// In the tree, not in the baseline.
    Added,
    /// In the baseline, gone from the tree.
    Removed,
    /// In both, with attributes that differ.
    Changed,
}

impl Change {
    /// The word JSON uses: `added`, `removed`, `changed`.
    pub const fn name(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Changed => "changed",
        }
    }
}

/// One side of a file finding: what was recorded (or found) of the object.
#[derive(Clone, Copy, Debug)]
pub struct Side<'a> {
    /// The recorded attributes.
    pub meta: &'a Meta,
    /// The symlink target, for symlinks.
    pub target: Option<&'a [u8]>,
}

/// A path that differs from the baseline.
#[derive(Clone, Copy, Debug)]
pub struct FileChange<'a> {
    /// Added, removed or changed.
    pub change: Change,
    /// The absolute path, raw bytes.
    pub path: &'a [u8],
    /// For [`Change::Changed`]: the attributes that differ. Empty otherwise.
    pub diff: Attrs,
    /// What the tree watches: the values an `added` or `removed` finding shows.
    pub watched: Attrs,
    /// The baseline's record (absent for `added`).
    pub old: Option<Side<'a>>,
    /// The object as found now (absent for `removed`).
    pub new: Option<Side<'a>>,
    /// The tree's handle in `file_changes.log` (CFEngine's promise handle).
    pub handle: &'a str,
    /// The package that owns the path and what explains the change, when a package
    /// database is configured and knows the path.
    pub package: Option<crate::package::Package<'a>>,
    /// Accepted into the baseline by `[packages] accept`: counts in no exit status.
    pub accepted: bool,
    /// How it was found (scheduled, real time, rescan).
    pub via: Via<'a>,
}

impl FileChange<'_> {
    /// The attributes whose values `old`/`new` show: what differs for a change, what is
    /// watched for an addition or removal.
    pub fn shown(&self) -> Attrs {
        match self.change {
            Change::Changed => self.diff,
            Change::Added | Change::Removed => self.watched,
        }
    }
}

/// A set-user-id or set-group-id program that is new to the baseline (CFEngine's call-out).
#[derive(Clone, Copy, Debug)]
pub struct SetId<'a> {
    /// When the event was raised.
    pub t: Epoch,
    /// The program's absolute path, raw bytes.
    pub path: &'a [u8],
    /// `true` for set-user-id, `false` for set-group-id.
    pub setuid: bool,
    /// Permission bits including the set-id bits.
    pub mode: u32,
    /// The owner's uid.
    pub uid: u32,
}

/// The learner's outcome for one observable in one sample.
#[derive(Clone, Copy, Debug)]
pub struct Sampled<'a> {
    /// The sample's epoch.
    pub t: Epoch,
    /// The observable's id in the learner's table.
    pub id: ObsId,
    /// The observable's name (`www_in`, a measurement's name).
    pub name: &'a str,
    /// Value, averages, deviation and classes.
    pub outcome: &'a Outcome,
    /// Normalised entropy 0..=1 of the observable's sources, when it has them.
    pub entropy: Option<f32>,
}

/// A port a socket listens on (TCP in LISTEN; UDP bound with no peer).
#[derive(Clone, Copy, Debug)]
pub struct Listening<'a> {
    /// `tcp4`, `tcp6`, `udp4` or `udp6`.
    pub proto: &'a str,
    /// The local port.
    pub port: u16,
    /// The local address as bound (`0.0.0.0`, `::`, `127.0.0.1`…).
    pub addr: &'a str,
}

/// The listening ports of one sample.
#[derive(Clone, Copy, Debug)]
pub struct Ports<'a> {
    /// The sample's epoch.
    pub t: Epoch,
    /// Sorted by protocol, port and address.
    pub listening: &'a [Listening<'a>],
}

/// The classes raised in a round (persistent ones included while they live).
#[derive(Clone, Copy, Debug)]
pub struct ClassList<'a> {
    /// The round's (or sample's) epoch.
    pub t: Epoch,
    /// Sorted, each once.
    pub names: &'a [&'a str],
}

/// The value of a log or command measurement.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// A `counter`: matching lines since the previous run.
    Count(u64),
    /// An `int` measurement.
    Int(i64),
    /// A `real` measurement (not finite: shown as missing).
    Real(f64),
    /// A `string` measurement: the last match, raw bytes.
    Text(&'a [u8]),
    /// Nothing measured yet (a `last` aggregate with no value).
    Missing,
}

impl Value<'_> {
    /// The value as a number for the learner, when it is one.
    pub fn number(&self) -> Option<f64> {
        match *self {
            Value::Count(n) => Some(n as f64),
            Value::Int(n) => Some(n as f64),
            Value::Real(x) if x.is_finite() => Some(x),
            Value::Real(_) | Value::Text(_) | Value::Missing => None,
        }
    }
}

/// One key a measurement extracted and how many matching lines carried it.
#[derive(Clone, Copy, Debug)]
pub struct KeyCount<'a> {
    /// The key, raw bytes.
    pub key: &'a [u8],
    /// Matching lines with this key.
    pub count: u64,
}

/// A log or command measurement.
#[derive(Clone, Copy, Debug)]
pub struct Measured<'a> {
    /// The run's epoch.
    pub t: Epoch,
    /// The measurement's name.
    pub name: &'a str,
    /// `counter`, `int`, `real` or `string`.
    pub kind: MeasureKind,
    /// What was measured.
    pub value: Value<'a>,
    /// Keys and their counts, sorted by key, when the measurement extracts keys.
    pub keys: Option<&'a [KeyCount<'a>]>,
}

/// A problem that did not stop the run.
#[derive(Clone, Copy, Debug)]
pub struct Warning<'a> {
    /// When it was seen.
    pub t: Epoch,
    /// What it concerns: a path, a feed, a command line (raw bytes).
    pub source: &'a [u8],
    /// The measurement it concerns, if any.
    pub measurement: Option<&'a str>,
    /// What went wrong (may quote attacker bytes: renderers escape it).
    pub message: &'a str,
}

/// What a run found, counted; its exit status and its summary line come from it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Entries examined.
    pub entries: u64,
    /// Paths added.
    pub added: u64,
    /// Paths removed.
    pub removed: u64,
    /// Paths changed.
    pub changed: u64,
    /// Entries whose content could not be read.
    pub unreadable: u64,
    /// Warnings reported.
    pub warnings: u64,
    /// File findings accepted into the baseline by themselves (not in the three above).
    pub accepted: u64,
}

impl Counts {
    /// `check`'s exit status: bit 1 added, 2 removed, 4 changed.
    pub fn exit_bits(&self) -> u8 {
        (self.added > 0) as u8 | ((self.removed > 0) as u8) << 1 | ((self.changed > 0) as u8) << 2
    }

    /// Counts what `e` adds to a run's totals.
    pub fn count(&mut self, e: &Event<'_>) {
        match e {
            Event::File(f) if f.accepted => self.accepted += 1,
            Event::File(f) => match f.change {
                Change::Added => self.added += 1,
                Change::Removed => self.removed += 1,
                Change::Changed => self.changed += 1,
            },
            Event::Warning(_) => self.warnings += 1,
            Event::Examined { unreadable } => {
                self.entries += 1;
                self.unreadable += u64::from(*unreadable);
            }
            _ => {}
        }
    }
}

/// The end of a command's run.
#[derive(Clone, Copy, Debug)]
pub struct Summary<'a> {
    /// The run's epoch.
    pub t: Epoch,
    /// `scan`, `check`, `init`, `update`.
    pub command: &'a str,
    /// What it found.
    pub counts: Counts,
}

/// A baseline that a check compares against.
#[derive(Clone, Copy, Debug)]
pub struct Baseline<'a> {
    /// When it was recorded.
    pub created: Epoch,
    /// The host that recorded it (attacker-controlled if the file was: escape it).
    pub host: &'a str,
    /// Records it holds.
    pub count: u64,
    /// Whether its signature was verified.
    pub signed: bool,
}

/// Syslog severities (RFC 5424), by their names in the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Severity {
    /// 0: the system is unusable.
    Emergency,
    /// 1: act at once.
    Alert,
    /// 2: critical conditions.
    Critical,
    /// 3: error conditions.
    Error,
    /// 4: warning conditions (the default of a rule).
    Warning,
    /// 5: normal but significant.
    Notice,
    /// 6: informational.
    Info,
    /// 7: debugging.
    Debug,
}

impl Severity {
    /// Every severity, by code.
    pub const ALL: [Severity; 8] = [
        Severity::Emergency,
        Severity::Alert,
        Severity::Critical,
        Severity::Error,
        Severity::Warning,
        Severity::Notice,
        Severity::Info,
        Severity::Debug,
    ];

    /// The RFC 5424 code, 0..=7.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The name used in configurations and JSON (`warning`, `err` is `error`).
    pub const fn name(self) -> &'static str {
        match self {
            Severity::Emergency => "emerg",
            Severity::Alert => "alert",
            Severity::Critical => "crit",
            Severity::Error => "err",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
            Severity::Info => "info",
            Severity::Debug => "debug",
        }
    }

    /// The severity a configuration names (`emerg` … `debug`, also `error`, `warn`,
    /// `critical`, `emergency`, `information`).
    pub fn from_name(name: &str) -> Option<Severity> {
        Some(match name {
            "emerg" | "emergency" | "panic" => Severity::Emergency,
            "alert" => Severity::Alert,
            "crit" | "critical" => Severity::Critical,
            "err" | "error" => Severity::Error,
            "warning" | "warn" => Severity::Warning,
            "notice" => Severity::Notice,
            "info" | "information" => Severity::Info,
            "debug" => Severity::Debug,
            _ => return None,
        })
    }
}

/// A process promise (CFEngine's `process_count`) kept or broken in a round.
#[derive(Clone, Copy, Debug)]
pub struct ProcessCount<'a> {
    /// The round's epoch.
    pub t: Epoch,
    /// The promise's name (prefixes its classes).
    pub name: &'a str,
    /// Processes the selection matched.
    pub count: u64,
    /// The promised range, inclusive.
    pub range: (u64, u64),
    /// `count` lies within `range`.
    pub in_range: bool,
    /// Pids of the matching processes, ascending, at most 32.
    pub pids: &'a [u32],
}

/// A port promise: a port that must, or must not, be listening.
#[derive(Clone, Copy, Debug)]
pub struct PortPromise<'a> {
    /// The round's epoch.
    pub t: Epoch,
    /// The promise's name (prefixes its classes).
    pub name: &'a str,
    /// `tcp` or `udp` (IPv4 and IPv6 alike).
    pub proto: &'a str,
    /// The port.
    pub port: u16,
    /// Whether something listens on it now.
    pub listening: bool,
    /// Whether the promise wants it listening.
    pub expected: bool,
}

impl PortPromise<'_> {
    /// The promise is kept.
    pub fn ok(&self) -> bool {
        self.listening == self.expected
    }
}

/// The set of listening ports differs from the previous round's.
#[derive(Clone, Copy, Debug)]
pub struct PortsChanged<'a> {
    /// The round's epoch.
    pub t: Epoch,
    /// Ports listening now that were not before.
    pub opened: &'a [Listening<'a>],
    /// Ports that listened before and do not now.
    pub closed: &'a [Listening<'a>],
}

/// A rule whose `when` held: its report, variables expanded.
#[derive(Clone, Copy, Debug)]
pub struct Alert<'a> {
    /// The round's epoch.
    pub t: Epoch,
    /// The rule's name.
    pub rule: &'a str,
    /// Its syslog severity.
    pub severity: Severity,
    /// The report with its variables expanded (may hold attacker text: renderers escape).
    pub message: &'a str,
}

/// What one watch found of a neighbour's database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PeerState {
    /// The first good fetch: its key is pinned now.
    New,
    /// The same records as the copy fetched last time.
    Unchanged,
    /// Verified, and its records differ from the copy fetched last time.
    Changed,
    /// It could not be fetched (refused, timed out, an HTTP error status).
    Unreachable,
    /// Its database is unsigned, its signature does not verify with the pinned key, or
    /// what it serves is not a database at all (or its key is not a key).
    BadSignature,
    /// It serves a key other than the one pinned.
    KeyChanged,
}

impl PeerState {
    /// The word JSON uses.
    pub const fn name(self) -> &'static str {
        match self {
            PeerState::New => "new",
            PeerState::Unchanged => "unchanged",
            PeerState::Changed => "changed",
            PeerState::Unreachable => "unreachable",
            PeerState::BadSignature => "bad_signature",
            PeerState::KeyChanged => "key_changed",
        }
    }

    /// `watch-peers`' exit bits: 1 a database changed, 2 unreachable, 4 a signature failed
    /// or a key changed.
    pub const fn exit_bit(self) -> u8 {
        match self {
            PeerState::New | PeerState::Unchanged => 0,
            PeerState::Changed => 1,
            PeerState::Unreachable => 2,
            PeerState::BadSignature | PeerState::KeyChanged => 4,
        }
    }
}

/// One neighbour's database, as one watch found it.
#[derive(Clone, Copy, Debug)]
pub struct PeerReport<'a> {
    /// The watch's epoch.
    pub t: Epoch,
    /// The neighbour as the host list names it (`HOST:PORT`).
    pub host: &'a str,
    /// What was found.
    pub state: PeerState,
    /// Records in this fetch that were not in the last one (0 where it does not apply).
    pub added: u64,
    /// Records of the last fetch gone from this one.
    pub removed: u64,
    /// Records in both whose attributes differ.
    pub changed: u64,
    /// Why, in words (may quote what the neighbour sent: renderers escape it).
    pub message: &'a str,
}

/// A file put back from a trusted copy, or refused.
#[derive(Clone, Copy, Debug)]
pub struct Restored<'a> {
    /// The command's epoch.
    pub t: Epoch,
    /// The absolute path, raw bytes.
    pub path: &'a [u8],
    /// It was put back.
    pub ok: bool,
    /// What was done, or why not.
    pub message: &'a str,
}

/// Every finding as a value. New producers add variants; sinks ignore what they do not
/// show.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A path that differs from the baseline.
    File(FileChange<'a>),
    /// A new set-id program.
    SetId(SetId<'a>),
    /// One entry was examined by a file check (counted, not shown).
    Examined {
        /// Its content could not be read.
        unreadable: bool,
    },
    /// The baseline a check compares against (shown in text only).
    Baseline(Baseline<'a>),
    /// There was no baseline: this run records one at the path given (text only).
    NoBaseline {
        /// Where the database will be.
        path: &'a [u8],
    },
    /// One observable's outcome in a sample.
    Sample(Sampled<'a>),
    /// The listening ports of a sample.
    Ports(Ports<'a>),
    /// The classes of a sample or round.
    Classes(ClassList<'a>),
    /// A log or command measurement.
    Measurement(Measured<'a>),
    /// A problem that did not stop the run.
    Warning(Warning<'a>),
    /// The end of a command's run.
    Summary(Summary<'a>),
    /// A process promise's outcome.
    Process(ProcessCount<'a>),
    /// A port promise's outcome.
    Port(PortPromise<'a>),
    /// The listening ports changed since the previous round.
    PortsChanged(PortsChanged<'a>),
    /// A rule fired.
    Alert(Alert<'a>),
    /// A neighbour's database, watched.
    Peer(PeerReport<'a>),
    /// A file put back (or refused) by `restore`.
    Restore(Restored<'a>),
    /// `run` was not watching for a while (stopped or crashed).
    Gap(Gap),
    /// The real-time watch's figures (metrics and `state` only).
    Coverage(Coverage<'a>),
}

impl Event<'_> {
    /// The JSON `type` of the event (and syslog's MSGID); `None` for events that are
    /// counted or shown in text only.
    pub const fn kind(&self) -> Option<&'static str> {
        Some(match self {
            Event::File(_) => "file",
            Event::SetId(_) => "setid",
            Event::Sample(_) => "sample",
            Event::Ports(_) => "ports",
            Event::Classes(_) => "classes",
            Event::Measurement(_) => "measurement",
            Event::Warning(_) => "warning",
            Event::Summary(_) => "summary",
            Event::Process(_) => "process",
            Event::Port(_) => "port",
            Event::PortsChanged(_) => "ports_changed",
            Event::Alert(_) => "alert",
            Event::Peer(_) => "peer",
            Event::Restore(_) => "restore",
            Event::Gap(_) => "gap",
            Event::Examined { .. }
            | Event::Baseline(_)
            | Event::NoBaseline { .. }
            | Event::Coverage(_) => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fim::Kind;

    #[test]
    fn counts_follow_events() {
        let meta = Meta::empty(Kind::File);
        let side = Side {
            meta: &meta,
            target: None,
        };
        let mut c = Counts::default();
        let f = |change| {
            Event::File(FileChange {
                change,
                path: b"/x",
                diff: Attrs::EMPTY,
                watched: Attrs::ALL,
                old: Some(side),
                new: Some(side),
                handle: "h",
                package: None,
                accepted: false,
                via: Via::Scheduled,
            })
        };
        c.count(&f(Change::Added));
        c.count(&f(Change::Changed));
        c.count(&Event::Examined { unreadable: true });
        c.count(&Event::Examined { unreadable: false });
        assert_eq!(c.exit_bits(), 1 | 4);
        assert_eq!((c.entries, c.unreadable, c.added, c.changed), (2, 1, 1, 1));
        if let Event::File(mut accepted) = f(Change::Removed) {
            accepted.accepted = true;
            c.count(&Event::File(accepted));
        }
        assert_eq!((c.removed, c.accepted, c.exit_bits()), (0, 1, 1 | 4));
    }

    #[test]
    fn numbers_for_the_learner() {
        assert_eq!(Value::Count(3).number(), Some(3.0));
        assert_eq!(Value::Real(f64::NAN).number(), None);
        assert_eq!(Value::Text(b"x").number(), None);
    }
}
