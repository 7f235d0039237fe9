//! Clock steps seen by the learner: the wall clock set back before the last sample learned,
//! or moved forward further than the time that passed (the boot clock, which a step of the
//! wall clock does not move) can explain.
//!
//! The learner's time of week comes from the wall clock, so its rules for a step are:
//! - **Back**: a sample before the last one learned is judged against what is learned but
//!   not learned ([`homeostat_core::stats::Learner::assess`]): table, local averages, LDT
//!   windows, AGE and persistent classes stay as they were until the clock passes the last
//!   sample again. Reported once per step.
//! - **Forward**: learned as the time the clock now says (the slot of the new time of week;
//!   persistent classes expire by it). Reported once; seen only while a process samples
//!   twice (the daemon): between processes a forward jump is a downtime, reported as `gap`.
//!
//! The boot clock is read with the wall clock at the start of each round, so a round's
//! file check before its sample does not count as a step.

use std::time::Duration;

use crate::output::timefmt::utc;

/// How much more than the boot clock the wall clock may advance between two samples
/// before it counts as a step forward: a few intervals, and never less than this.
const FORWARD_MIN: Duration = Duration::from_secs(2);
/// Intervals of slack for a step forward.
const FORWARD_INTERVALS: u32 = 3;

/// A step of the wall clock, in epoch seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Set back: `to` is before the last sample learned (`from`).
    Back { from: i64, to: i64 },
    /// Moved forward: `to` is `by` seconds further on than the boot clock says.
    Forward { from: i64, to: i64, by: i64 },
}

impl Step {
    /// The warning's text.
    pub fn message(&self) -> String {
        match *self {
            Step::Back { from, to } => format!(
                "clock stepped back {} s, from the last sample learned at {} to {}; \
                 samples are judged but not learned until the clock passes {}",
                // Recorded epochs may be anything an i64 holds (replay): never overflow.
                from.saturating_sub(to),
                utc(from),
                utc(to),
                utc(from)
            ),
            Step::Forward { from, to, by } => format!(
                "clock stepped forward {by} s (from {} to {} while {} s passed); \
                 learning goes on at the new time",
                utc(from),
                utc(to),
                to.saturating_sub(from).saturating_sub(by)
            ),
        }
    }
}

/// Where a sample's time comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Read from a record (`replay`): no boot clock to compare with.
    Recorded,
    /// Taken live (the daemon's rounds): the boot clock read with the wall clock, and the
    /// sampling interval (the unit of the slack for a step forward).
    Live { boot: Duration, interval: Duration },
}

/// What to do with one sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Learn it (else only judge it).
    pub learn: bool,
    /// A step to report now (each step once).
    pub step: Option<Step>,
}

/// The clock as the learner has seen it.
#[derive(Clone, Debug, Default)]
pub struct Steps {
    /// Epoch of the last sample learned (0: none known).
    learned: i64,
    /// Wall and boot clock at this process's previous sample.
    prev: Option<(i64, Duration)>,
    /// The present step back was reported.
    behind: bool,
}

impl Steps {
    /// Starts from the epoch of the last sample learned, if known.
    pub fn new(learned: Option<i64>) -> Steps {
        Steps {
            learned: learned.unwrap_or(0),
            ..Steps::default()
        }
    }

    /// Decides for a sample at wall time `t` taken as `source` says.
    pub fn observe(&mut self, t: i64, source: Source) -> Verdict {
        let (boot, interval) = match source {
            Source::Recorded => (None, Duration::ZERO),
            Source::Live { boot, interval } => (Some(boot), interval),
        };
        let prev = std::mem::replace(&mut self.prev, boot.map(|b| (t, b)));
        if t < self.learned {
            let step = (!self.behind).then_some(Step::Back {
                from: self.learned,
                to: t,
            });
            self.behind = true;
            return Verdict { learn: false, step };
        }
        self.behind = false;
        self.learned = t;
        let step = match (prev, boot) {
            (Some((t0, b0)), Some(b)) => {
                let passed = i64::try_from(b.saturating_sub(b0).as_secs()).unwrap_or(i64::MAX);
                let slack = (interval * FORWARD_INTERVALS).max(FORWARD_MIN).as_secs();
                let by = (t - t0).saturating_sub(passed);
                (by > i64::try_from(slack).unwrap_or(i64::MAX)).then_some(Step::Forward {
                    from: t0,
                    to: t,
                    by,
                })
            }
            _ => None,
        };
        Verdict { learn: true, step }
    }
}

/// The boot clock: time since boot, suspend included, which setting the wall clock does
/// not move (`CLOCK_BOOTTIME` on Linux; FreeBSD's `CLOCK_MONOTONIC` counts suspend too).
pub fn boot_clock() -> Duration {
    #[cfg(target_os = "linux")]
    let id = rustix::time::ClockId::Boottime;
    #[cfg(not(target_os = "linux"))]
    let id = rustix::time::ClockId::Monotonic;
    let ts = rustix::time::clock_gettime(id);
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_704_067_200;
    const WEEK: i64 = 604_800;
    const I: Duration = Duration::from_secs(150);

    /// Found by `prop_replay_any_epoch_is_learned` after the merge: a replayed epoch may be
    /// anything an i64 holds, and the step's message subtracted them unchecked (a panic in
    /// debug builds).
    #[test]
    fn regression_clock_step_message_of_extreme_epochs_overflowed() {
        let mut steps = Steps::new(Some(i64::MAX - 1));
        let v = steps.observe(i64::MIN + 1, Source::Recorded);
        assert!(!v.learn);
        let msg = v.step.expect("a step back").message();
        assert!(
            msg.starts_with(&format!("clock stepped back {} s", i64::MAX)),
            "{msg}"
        );
        let fwd = Step::Forward {
            from: i64::MIN,
            to: i64::MAX,
            by: i64::MIN,
        };
        assert!(fwd.message().starts_with("clock stepped forward"));
    }

    fn at(s: u64) -> Source {
        Source::Live {
            boot: Duration::from_secs(1000 + s),
            interval: I,
        }
    }
    const R: Source = Source::Recorded;

    #[test]
    fn a_step_back_is_reported_once_and_learns_nothing_until_the_clock_passes() {
        let mut s = Steps::new(Some(T));
        let v = s.observe(T - WEEK, R);
        assert_eq!(
            v,
            Verdict {
                learn: false,
                step: Some(Step::Back {
                    from: T,
                    to: T - WEEK
                })
            }
        );
        assert!(v.step.unwrap().message().contains("stepped back 604800 s"));
        for k in 1..5 {
            assert_eq!(
                s.observe(T - WEEK + k * 150, R),
                Verdict {
                    learn: false,
                    step: None
                }
            );
        }
        // The same second as the last learned is no step; past it, learning resumes.
        assert!(s.observe(T, R).learn);
        assert!(s.observe(T + 150, R).learn);
        // A second step is reported again.
        assert!(s.observe(T - 3600, R).step.is_some());
    }

    #[test]
    fn forward_only_against_the_boot_clock() {
        let mut s = Steps::new(None);
        assert_eq!(s.observe(T, at(0)).step, None);
        // On time, and late by less than three intervals: no step.
        assert_eq!(s.observe(T + 150, at(150)).step, None);
        assert_eq!(s.observe(T + 600, at(200)).step, None);
        // A week more than the boot clock says.
        let v = s.observe(T + 750 + WEEK, at(350));
        assert!(v.learn);
        assert_eq!(
            v.step,
            Some(Step::Forward {
                from: T + 600,
                to: T + 750 + WEEK,
                by: WEEK
            })
        );
        // Without a boot clock (replay, a first sample) a jump forward is a gap, not a step.
        let mut r = Steps::new(Some(T));
        assert_eq!(r.observe(T + WEEK, R).step, None);
        assert_eq!(Steps::new(Some(T)).observe(T + WEEK, at(0)).step, None);
    }

    #[test]
    fn the_boot_clock_moves() {
        let a = boot_clock();
        std::thread::sleep(Duration::from_millis(20));
        assert!(boot_clock() > a);
    }
}
