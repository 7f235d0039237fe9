//! The real-time watch's families: events, overflows and rescans since `run` started
//! (counters reset by a restart, as a process's own counters do), and watches in use.

use homeostat_core::event::Coverage;

use super::{family, sample};

/// The figures of the last [`Coverage`] event, owned.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    mechanism: String,
    events: u64,
    overflows: u64,
    rescans: u64,
    watches: u64,
}

impl Figures {
    pub fn of(c: &Coverage<'_>) -> Figures {
        Figures {
            mechanism: c.mechanism.to_owned(),
            events: c.events,
            overflows: c.overflows,
            rescans: c.rescans,
            watches: c.watches,
        }
    }

    /// The families, when a watch runs.
    pub fn render(&self, o: &mut String) {
        if matches!(self.mechanism.as_str(), "" | "none") {
            return;
        }
        let counters = [
            (
                "homeostat_realtime_events_total",
                "Changes the real-time watch reported since run started.",
                self.events,
            ),
            (
                "homeostat_realtime_overflows_total",
                "Event queues lost (kernel overflow) since run started.",
                self.overflows,
            ),
            (
                "homeostat_realtime_rescans_total",
                "Full checks after a lost queue or a gap since run started.",
                self.rescans,
            ),
        ];
        for (name, help, n) in counters {
            family(o, name, help, "counter");
            sample(o, name, &[], n as f64);
        }
        let name = "homeostat_realtime_watches";
        family(
            o,
            name,
            "Kernel watches in use (fanotify marks or inotify watches).",
            "gauge",
        );
        sample(
            o,
            name,
            &[("mechanism", &self.mechanism)],
            self.watches as f64,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_only_while_watching() {
        let mut o = String::new();
        Figures::default().render(&mut o);
        Figures::of(&Coverage {
            mechanism: "none",
            ..Coverage::default()
        })
        .render(&mut o);
        assert!(o.is_empty());
        let c = Coverage {
            mechanism: "fanotify",
            events: 5,
            overflows: 1,
            rescans: 2,
            watches: 1,
        };
        Figures::of(&c).render(&mut o);
        assert!(o.contains("# TYPE homeostat_realtime_events_total counter\nhomeostat_realtime_events_total 5\n"), "{o}");
        assert!(
            o.contains("homeostat_realtime_watches{mechanism=\"fanotify\"} 1\n"),
            "{o}"
        );
    }
}
