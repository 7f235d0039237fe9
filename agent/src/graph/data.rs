//! What a chart shows of one observable: the learned week (average and deviation per
//! slot) and the values recorded in the last week, read once from the state.

use homeostat_core::stats::{table, ObsId, SLOTS};

use crate::monitor::store::Brain;

/// One five-minute slot of the week.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Slot {
    /// The weekly average.
    pub expect: f32,
    /// The weekly standard deviation (√var).
    pub dev: f32,
    /// The value recorded in this slot in the week up to now, and when.
    pub recorded: Option<(f32, i64)>,
    /// That recorded sample raised `_anomaly`.
    pub anomaly: bool,
}

/// One observable's week.
pub struct Series {
    pub name: String,
    pub slots: Vec<Slot>,
}

impl Series {
    /// The week of `id` as `brain` holds it at `now`.
    pub fn of(brain: &Brain, id: ObsId, name: &str, now: i64) -> Series {
        let slots = (0..SLOTS)
            .map(|s| {
                let p = brain.table[s][id.index()];
                let rec = brain.history.recent_value(s, id, now);
                Slot {
                    expect: p.expect,
                    dev: p.stddev(),
                    recorded: rec.map(|(v, t, _)| (v, t)),
                    anomaly: rec.is_some_and(|(_, _, a)| a),
                }
            })
            .collect();
        Series {
            name: name.to_string(),
            slots,
        }
    }

    /// Nothing learned and nothing recorded: the chart is empty and says so.
    pub fn is_empty(&self) -> bool {
        self.slots
            .iter()
            .all(|s| s.expect == 0.0 && s.dev == 0.0 && s.recorded.is_none())
    }

    /// Divides every figure by the largest (average + deviation, or a recorded value), so
    /// the week spans 0..1 (cfenvgraph's default scaling). An all-zero week stays as it is.
    pub fn scale(&mut self) {
        let top = self
            .slots
            .iter()
            .map(|s| (s.expect + s.dev).max(s.recorded.map_or(0.0, |(v, _)| v.abs())))
            .fold(0.0f32, f32::max);
        if top > 0.0 && top.is_finite() {
            for s in &mut self.slots {
                s.expect /= top;
                s.dev /= top;
                if let Some((v, _)) = &mut s.recorded {
                    *v /= top;
                }
            }
        }
    }
}

/// `Mon 00:00` … `Sun 23:55`: when slot `s` starts (UTC).
pub fn slot_start(s: usize) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let secs = s as i64 * table::SLOT_SECONDS;
    format!(
        "{} {:02}:{:02}",
        DAYS[(secs / 86_400) as usize % 7],
        secs / 3600 % 24,
        secs / 60 % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_names_and_scaling() {
        assert_eq!(slot_start(0), "Mon 00:00");
        assert_eq!(slot_start(2015), "Sun 23:55");
        let mut s = Series {
            name: "x".into(),
            slots: vec![
                Slot {
                    expect: 4.0,
                    dev: 1.0,
                    recorded: Some((10.0, 1)),
                    anomaly: true,
                },
                Slot {
                    expect: 2.0,
                    dev: 0.0,
                    recorded: None,
                    anomaly: false,
                },
            ],
        };
        assert!(!s.is_empty());
        s.scale();
        assert_eq!(s.slots[0].recorded, Some((1.0, 1)));
        assert_eq!((s.slots[0].expect, s.slots[1].expect), (0.4, 0.2));
    }
}
