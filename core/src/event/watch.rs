//! What the real-time watch adds to the events: how a file finding was found, who made
//! the change when the kernel says, and the time nobody watched.

use super::Epoch;

/// How a file finding was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Via<'a> {
    /// By a scheduled check (or a command): shown with no `via`.
    #[default]
    Scheduled,
    /// By the real-time watch, at the change; with the writer when the kernel named it.
    Realtime(Option<Writer<'a>>),
    /// By the full check after a lost event queue or a gap in the watch.
    Rescan,
}

impl Via<'_> {
    /// The word JSON uses, or `None` for a scheduled finding (which shows no `via`).
    pub const fn name(&self) -> Option<&'static str> {
        match self {
            Via::Scheduled => None,
            Via::Realtime(_) => Some("realtime"),
            Via::Rescan => Some("rescan"),
        }
    }

    /// The process that made the change, when known.
    pub const fn writer(&self) -> Option<&Writer<'_>> {
        match self {
            Via::Realtime(Some(w)) => Some(w),
            _ => None,
        }
    }
}

/// The process that made a change, as the kernel named it (fanotify).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Writer<'a> {
    /// The process (thread group) id.
    pub pid: u32,
    /// Its executable, raw bytes, read at the event; `None` when it had gone.
    pub exe: Option<&'a [u8]>,
    /// Its real uid; `None` when it had gone.
    pub uid: Option<u32>,
}

/// `run` was not watching between two epochs: the previous run's last heartbeat and
/// this run's start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Gap {
    /// When it was reported.
    pub t: Epoch,
    /// The last heartbeat before the stop.
    pub from: Epoch,
    /// The start that ended it.
    pub to: Epoch,
}

/// The real-time watch's figures since `run` started, for metrics and `state` (not
/// shown in reports).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Coverage<'a> {
    /// `fanotify`, `inotify`, or `none` when nothing is watched in real time.
    pub mechanism: &'a str,
    /// Changes the watch reported (paths, before batching).
    pub events: u64,
    /// Lost event queues.
    pub overflows: u64,
    /// Full checks after an overflow or a gap.
    pub rescans: u64,
    /// Kernel watches in use (fanotify marks, inotify watch descriptors).
    pub watches: u64,
}
