//! The daemon's heartbeat in its state dir: when `run` was last known to watch, with the
//! real-time watch's figures. A start that finds one reports the gap since.

use std::io;
use std::path::Path;

use homeostat_core::event::{Coverage, Epoch};
use serde::{Deserialize, Serialize};

use crate::output::escape::sanitize;

/// The heartbeat's file in the state dir.
pub const FILE: &str = "heartbeat";

/// What the heartbeat holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The last round (or the clean stop) of `run`.
    pub t: Epoch,
    /// `fanotify`, `inotify` or `none`.
    pub mechanism: String,
    pub events: u64,
    pub overflows: u64,
    pub rescans: u64,
    pub watches: u64,
}

impl Heartbeat {
    /// The heartbeat at `t` of these figures.
    pub fn of(t: Epoch, c: &Coverage<'_>) -> Heartbeat {
        Heartbeat {
            t,
            mechanism: c.mechanism.to_owned(),
            events: c.events,
            overflows: c.overflows,
            rescans: c.rescans,
            watches: c.watches,
        }
    }

    /// The heartbeat in `state`, if `run` ever wrote one (one that cannot be read is
    /// none: the gap cannot be told, and a check of every tree runs all the same).
    pub fn load(state: &Path) -> Option<Heartbeat> {
        let bytes =
            crate::state_file::read_limited(&state.join(FILE), crate::limits::HEARTBEAT).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Replaces the heartbeat in `state` in one step.
    pub fn save(&self, state: &Path) -> io::Result<()> {
        let bytes = serde_json::to_vec(self).map_err(io::Error::other)?;
        crate::output::metrics::write_atomically(&state.join(FILE), &bytes)
    }

    /// `homeostat state`'s line about the watch.
    pub fn show(&self, out: &mut impl io::Write, json: bool) -> io::Result<()> {
        if json {
            #[derive(Serialize)]
            struct Line<'a> {
                r#type: &'static str,
                #[serde(flatten)]
                beat: &'a Heartbeat,
            }
            let line = Line {
                r#type: "realtime",
                beat: self,
            };
            let text = serde_json::to_string(&line).map_err(io::Error::other)?;
            return writeln!(out, "{text}");
        }
        writeln!(
            out,
            "realtime: {} with {} watches; {} events, {} overflows, {} rescans; heartbeat {}",
            sanitize(&self.mechanism),
            self.watches,
            self.events,
            self.overflows,
            self.rescans,
            crate::output::timefmt::utc(self.t)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_heartbeat_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Heartbeat::load(dir.path()), None);
        let c = Coverage {
            mechanism: "fanotify",
            events: 3,
            overflows: 1,
            rescans: 2,
            watches: 1,
        };
        let h = Heartbeat::of(1_700_000_000, &c);
        h.save(dir.path()).unwrap();
        assert_eq!(Heartbeat::load(dir.path()), Some(h.clone()));
        let mut text = Vec::new();
        h.show(&mut text, true).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(v["type"], "realtime");
        assert_eq!(v["overflows"], 1);
    }
}
