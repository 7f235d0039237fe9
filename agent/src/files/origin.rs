//! How a run's findings were found: what their `via` says, and who made each change.

use std::collections::BTreeMap;

use homeostat_core::event::{Via, Writer};

/// A writer as the watch named it, owned until its batch is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proc {
    pub pid: u32,
    pub exe: Option<Vec<u8>>,
    pub uid: Option<u32>,
}

impl Proc {
    /// The owned copy of `w`.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // no watch elsewhere
    pub fn of(w: &Writer<'_>) -> Proc {
        Proc {
            pid: w.pid,
            exe: w.exe.map(<[u8]>::to_vec),
            uid: w.uid,
        }
    }
}

/// Where a run's findings come from.
#[derive(Clone, Copy, Debug)]
pub enum Origin<'a> {
    /// A scheduled check or a command: no `via`.
    Scheduled,
    /// The full check after a lost event queue or a gap.
    Rescan,
    /// The watch, with the last writer of each path when the kernel named it.
    Realtime(&'a BTreeMap<Vec<u8>, Proc>),
}

impl Origin<'_> {
    /// The `via` of a finding for `path`.
    pub fn via(&self, path: &[u8]) -> Via<'_> {
        match self {
            Origin::Scheduled => Via::Scheduled,
            Origin::Rescan => Via::Rescan,
            Origin::Realtime(writers) => Via::Realtime(writers.get(path).map(|p| Writer {
                pid: p.pid,
                exe: p.exe.as_deref(),
                uid: p.uid,
            })),
        }
    }
}
