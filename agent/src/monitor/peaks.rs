//! What `homeostat state` shows beside the averages: the peak snapshot of the last 40
//! minutes for socket and process observables (CFEngine's ShowState), the listening
//! ports, and the classes of the last sample. Bounded: at most [`MAX_KEYS`] keys per
//! observable, so the file stays small beside the table.

use std::collections::BTreeMap;
use std::io;

use crate::platform::StateDir;
use crate::state_dir::{read_blob, write_blob};

use serde::{Deserialize, Serialize};

pub const FILE: &str = "monitor.state";
/// A snapshot older than this is replaced by any newer one (CFEngine: 40 minutes).
pub const PEAK_WINDOW: i64 = 40 * 60;
/// Keys kept per snapshot, the busiest first.
pub const MAX_KEYS: usize = 64;

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Peak {
    pub t: i64,
    /// The observable's value at the peak.
    pub value: f64,
    /// Total count over all keys (including those cut), for the entropy figure.
    pub total: u64,
    pub entropy: Option<f32>,
    /// (key, count), busiest first.
    pub keys: Vec<(String, u32)>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Extras {
    pub peaks: BTreeMap<String, Peak>,
    /// `proto port addr` of each listening socket at the last sample.
    pub listening: Vec<(String, u16, String)>,
    /// Epoch and classes of the last sample (persistent ones included while alive).
    pub last_t: i64,
    pub last_classes: Vec<String>,
}

impl Extras {
    /// Loads the blob; a missing or unreadable one is an empty record (it only feeds a view).
    pub fn load(store: &mut StateDir) -> Extras {
        read_blob(store, FILE, crate::limits::PEAKS_STATE)
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Replaces the stored record, atomically.
    pub fn save(&self, store: &mut StateDir) -> io::Result<()> {
        write_blob(
            store,
            FILE,
            &serde_json::to_vec(self).map_err(io::Error::other)?,
        )
    }

    /// Keeps the larger of the stored snapshot and this one, unless the stored one is
    /// older than [`PEAK_WINDOW`].
    pub fn offer(
        &mut self,
        name: &str,
        t: i64,
        value: f64,
        entropy: Option<f32>,
        keys: &[(String, u32)],
    ) {
        let total: u64 = keys.iter().map(|(_, c)| u64::from(*c)).sum();
        let keep_old = self
            .peaks
            .get(name)
            .is_some_and(|p| t - p.t < PEAK_WINDOW && p.value > value);
        if keep_old {
            return;
        }
        let mut sorted: Vec<(String, u32)> = keys.to_vec();
        sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        sorted.truncate(MAX_KEYS);
        self.peaks.insert(
            name.to_string(),
            Peak {
                t,
                value,
                total,
                entropy,
                keys: sorted,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_is_kept_for_forty_minutes() {
        let mut e = Extras::default();
        e.offer("www_in", 0, 10.0, None, &[("1.2.3.4".into(), 10)]);
        e.offer("www_in", 600, 3.0, None, &[("5.6.7.8".into(), 3)]);
        assert_eq!(e.peaks["www_in"].value, 10.0);
        e.offer("www_in", 2401, 3.0, None, &[("5.6.7.8".into(), 3)]);
        assert_eq!(e.peaks["www_in"].value, 3.0);
        let many: Vec<(String, u32)> = (0..100).map(|i| (format!("k{i}"), i)).collect();
        e.offer("x", 0, 1.0, None, &many);
        assert_eq!(e.peaks["x"].keys.len(), MAX_KEYS);
        assert_eq!(e.peaks["x"].keys[0].1, 99);
    }
}
