//! The learner: one call per sample updates the weekly table and the local averages, then
//! classifies every observable present (cf-monitord's `EvalAvQ`, `LeapDetection` and
//! `SetClasses`, with the decisions of DESIGN.md).

use super::classify::{classify, Classes, Kind, Kinds};
use super::ldt::Ldt;
use super::observables::{ObsId, Registry, OBSERVABLES};
use super::table::{slot, Pair, Table, SLOTS};
use crate::classes::ClassName;

/// cf-monitord's forget rate: the weight of the old average once the database is grown.
pub const DEFAULT_FORGET_RATE: f32 = 0.6;

/// How long a persistent class lives after the last sample that raised it (seconds).
pub const PERSISTENCE: i64 = 600;

/// Persistent classes held at once; beyond this they are counted, not kept.
pub const PERSISTENT_CAP: usize = 256;

/// Largest |value| learned. Far beyond any counter or byte figure, and small enough that
/// every square and sum of squares stays a finite `f32` (cf-monitord's 9,999,999 limit
/// is gone; see docs/cfengine-differences.md).
pub const MAX_VALUE: f32 = 1.0e15;

/// The table is "young" (new values weigh `f`, not `1 − f`) while `AGE / 2016 < 2`.
pub const YOUNG_SAMPLES: u64 = 2 * SLOTS as u64;

/// The lowest forget rate cf-monitord accepts (see [`FORGET_RATE_MAX`]).
pub const FORGET_RATE_MIN: f32 = 0.1;
/// The highest forget rate cf-monitord accepts: rates in
/// [`FORGET_RATE_MIN`]`..=`[`FORGET_RATE_MAX`] are kept, others become the default.
pub const FORGET_RATE_MAX: f32 = 0.9;

/// `f` as cf-monitord accepts it: outside 0.1..=0.9 (or NaN) it is [`DEFAULT_FORGET_RATE`].
pub const fn sane_forget_rate(f: f32) -> f32 {
    if f >= FORGET_RATE_MIN && f <= FORGET_RATE_MAX {
        f
    } else {
        DEFAULT_FORGET_RATE
    }
}

/// cf-monitord's `WAverage` without its sanity limit: a young average takes `f` of the
/// new value, a grown one `1 − f`; never negative.
pub(crate) fn waverage(new: f32, old: f32, young: bool, f: f32) -> f32 {
    if new == 0.0 && old == 0.0 {
        return 0.0;
    }
    let av = if young {
        f * new + (1.0 - f) * old
    } else {
        (1.0 - f) * new + f * old
    };
    if av < 0.0 {
        0.0
    } else {
        av
    }
}

/// The value the table learns from `x` (DESIGN "Decisions"): an outlier far from both
/// averages is pulled in to `W.expect ± 2·√(W.var + L.var)`; anything else is `x`.
pub(crate) fn learned_value(x: f32, w: Pair, l: Pair) -> f32 {
    pulled_in(x, w, l).unwrap_or(x)
}

/// The outlier decision alone: `Some(value learned instead of x)` when `x` is an outlier.
pub(crate) fn pulled_in(x: f32, w: Pair, l: Pair) -> Option<f32> {
    use super::classify::NOISE;
    if w.expect == 0.0 {
        return None;
    }
    let d = x - w.expect;
    if d * d < NOISE * NOISE {
        return None;
    }
    let dl = x - l.expect;
    let distance = libm::sqrtf(d * d + dl * dl);
    let spread = libm::sqrtf(w.var + l.var);
    if distance > 4.0 * spread {
        Some(if d > 0.0 {
            w.expect + 2.0 * spread
        } else {
            w.expect - 2.0 * spread
        })
    } else {
        None
    }
}

/// cf-monitord's "clean up past anomalies": a weekly variance above twice the squared
/// deviation `d2` of the value learned is dropped to `d2` instead of averaged.
pub(crate) fn drops_variance(var: f32, d2: f32) -> bool {
    var > 2.0 * d2
}

/// The values of one sample: observables not set are absent, and are not updated.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    values: [f32; OBSERVABLES],
    present: u128,
}

impl Default for Sample {
    fn default() -> Self {
        Sample::new()
    }
}

impl Sample {
    /// A sample with every observable absent.
    pub const fn new() -> Sample {
        Sample {
            values: [0.0; OBSERVABLES],
            present: 0,
        }
    }

    /// Sets the value of observable `id`, making it present.
    pub fn set(&mut self, id: ObsId, value: f32) {
        self.values[id.index()] = value;
        self.present |= 1 << id.index();
    }

    /// The value of `id`; `None` when absent.
    pub fn get(&self, id: ObsId) -> Option<f32> {
        (self.present & (1 << id.index()) != 0).then(|| self.values[id.index()])
    }

    /// Makes `id` absent.
    pub fn remove(&mut self, id: ObsId) {
        self.present &= !(1 << id.index());
    }

    /// Makes every observable absent.
    pub fn clear(&mut self) {
        self.present = 0;
    }

    /// Whether no observable is present.
    pub fn is_empty(&self) -> bool {
        self.present == 0
    }

    /// The present observables and their values, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (ObsId, f32)> + '_ {
        ids(self.present).map(|id| (id, self.values[id.index()]))
    }
}

fn ids(mask: u128) -> impl Iterator<Item = ObsId> {
    (0..OBSERVABLES)
        .filter(move |i| mask & (1 << i) != 0)
        .filter_map(ObsId::new)
}

/// What one sample did to one observable.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Outcome {
    /// The value measured (`x`); classes are computed from it.
    pub value: f32,
    /// The value the table learned: `x`, or an outlier pulled in.
    pub learned: f32,
    /// The weekly pair of the slot after the update.
    pub expect: f32,
    /// The weekly pair's standard deviation (√var) after the update.
    pub stddev: f32,
    /// The local running pair after the update.
    pub local_expect: f32,
    /// The local pair's standard deviation (√var) after the update.
    pub local_stddev: f32,
    /// The two-dimensional distance of `x` from both averages.
    pub dev: f32,
    /// The classes this value set, and the persistent ones alive for this observable.
    pub classes: Classes,
}

impl Outcome {
    const EMPTY: Outcome = Outcome {
        value: 0.0,
        learned: 0.0,
        expect: 0.0,
        stddev: 0.0,
        local_expect: 0.0,
        local_stddev: 0.0,
        dev: 0.0,
        classes: Classes::NONE,
    };
}

/// The outcomes of one sample, for the observables it held. Caller-owned (4.5 KiB).
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    t: i64,
    slot: u16,
    present: u128,
    outcomes: [Outcome; OBSERVABLES],
}

impl Default for Report {
    fn default() -> Self {
        Report::new()
    }
}

impl Report {
    /// An empty report, for [`Learner::sample`] to fill.
    pub const fn new() -> Report {
        Report {
            t: 0,
            slot: 0,
            present: 0,
            outcomes: [Outcome::EMPTY; OBSERVABLES],
        }
    }

    /// The sample's epoch.
    pub fn t(&self) -> i64 {
        self.t
    }

    /// The slot of the week it updated.
    pub fn slot(&self) -> usize {
        usize::from(self.slot)
    }

    /// The outcome for `id`; `None` when the sample did not hold it or its value was refused.
    pub fn get(&self, id: ObsId) -> Option<&Outcome> {
        (self.present & (1 << id.index()) != 0).then(|| &self.outcomes[id.index()])
    }

    /// Outcomes in id order.
    pub fn iter(&self) -> impl Iterator<Item = (ObsId, &Outcome)> + '_ {
        ids(self.present).map(|id| (id, &self.outcomes[id.index()]))
    }

    /// Observables with an outcome.
    pub fn len(&self) -> usize {
        self.present.count_ones() as usize
    }

    /// Whether no observable has an outcome.
    pub fn is_empty(&self) -> bool {
        self.present == 0
    }
}

/// A persistent class held by the learner, compactly: observable, [`Kind`] bit, expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Live {
    pub(crate) obs: u8,
    pub(crate) kind: u8,
    pub(crate) expiry: i64,
}

/// Everything the learner remembers besides the table: caller-owned, fixed size (about
/// 16 KiB), persisted bit-exactly by [`super::persist`].
#[derive(Clone, Debug, PartialEq)]
pub struct Learner {
    pub(crate) forget_rate: f32,
    /// Samples since the state was created (1 on the first).
    pub(crate) age: u64,
    /// Samples taken before this one: the age of the local averages.
    pub(crate) iterations: u64,
    /// Values refused (not finite, or beyond [`MAX_VALUE`]).
    pub(crate) rejected: u64,
    pub(crate) local: [Pair; OBSERVABLES],
    pub(crate) ldt: [Ldt; OBSERVABLES],
    pub(crate) last: [f32; OBSERVABLES],
    pub(crate) seen: u128,
    pub(crate) live: heapless::Vec<Live, PERSISTENT_CAP>,
    pub(crate) overflow: u32,
    pub(crate) registry: Registry,
}

// What the docs promise a firmware: the learner and a report are small beside the table.
const _: () = assert!(core::mem::size_of::<Learner>() <= 17 * 1024);
const _: () = assert!(core::mem::size_of::<Report>() <= 5 * 1024);

impl Default for Learner {
    fn default() -> Self {
        Learner::new(DEFAULT_FORGET_RATE)
    }
}

impl Learner {
    /// A learner that knows nothing. `forget_rate` is the config's
    /// ([`DEFAULT_FORGET_RATE`] by default).
    pub const fn new(forget_rate: f32) -> Learner {
        Learner {
            forget_rate: sane_forget_rate(forget_rate),
            age: 0,
            iterations: 0,
            rejected: 0,
            local: [Pair::ZERO; OBSERVABLES],
            ldt: [Ldt::new(); OBSERVABLES],
            last: [0.0; OBSERVABLES],
            seen: 0,
            live: heapless::Vec::new(),
            overflow: 0,
            registry: Registry::new(),
        }
    }

    /// Takes one sample at epoch `t`: updates `table` and the local averages for each
    /// observable present in `sample`, classifies it, and writes the outcomes to `report`.
    pub fn sample(&mut self, table: &mut Table, t: i64, sample: &Sample, report: &mut Report) {
        self.age = self.age.saturating_add(1);
        let young_w = self.age < YOUNG_SAMPLES;
        let young_l = self.iterations < 2;
        let f = self.forget_rate;
        let slot = slot(t);
        self.live.retain(|e| t <= e.expiry);
        report.t = t;
        report.slot = slot as u16;
        report.present = 0;

        let row = &mut table[slot];
        for (id, x) in sample.iter() {
            let i = id.index();
            if !x.is_finite() || libm::fabsf(x) > MAX_VALUE {
                self.rejected = self.rejected.saturating_add(1);
                continue;
            }
            let w = row[i].sane();
            let l = self.local[i];

            let y = learned_value(x, w, l);
            let d2 = (y - w.expect) * (y - w.expect);
            let var = if drops_variance(w.var, d2) {
                d2
            } else {
                waverage(d2, w.var, young_w, f)
            };
            let n = Pair {
                expect: waverage(y, w.expect, young_w, f),
                var,
            };
            // The local average smooths the weekly expectation, not the raw value.
            let l = Pair {
                expect: waverage(n.expect, l.expect, young_l, f),
                var: waverage(n.var, l.var, young_l, f),
            };
            row[i] = n;
            self.local[i] = l;

            let (verdict, dev) = classify(x, n, l);
            let ldt = self.ldt[i].push(x).filter(|leap| leap.fired()).map(|_| {
                use super::classify::Dir;
                if x > n.expect {
                    Dir::High
                } else {
                    Dir::Low
                }
            });
            let classes = Classes {
                verdict,
                ldt,
                live: Kinds::EMPTY,
            };
            for kind in classes.raised().iter() {
                self.raise(i as u8, kind, t.saturating_add(PERSISTENCE));
            }
            self.last[i] = x;
            self.seen |= 1 << i;
            report.present |= 1 << i;
            report.outcomes[i] = Outcome {
                value: x,
                learned: y,
                expect: n.expect,
                stddev: n.stddev(),
                local_expect: l.expect,
                local_stddev: l.stddev(),
                dev,
                classes,
            };
        }
        for e in &self.live {
            if report.present & (1 << e.obs) != 0 {
                if let Some(kind) = Kind::from_bit(e.kind) {
                    report.outcomes[usize::from(e.obs)]
                        .classes
                        .live
                        .insert(kind);
                }
            }
        }
        self.iterations = self.iterations.saturating_add(1);
    }

    /// Classifies `sample` at `t` against what is learned, learning nothing: the table,
    /// the local pairs, the leap-detection windows, AGE and the persistent classes stay as
    /// they are. For a clock set back before the last sample learned, whose time of week
    /// is not to be trusted: the values are still judged (no LDT, which needs the
    /// sequence, and no persistent class is raised or listed in `live`).
    pub fn assess(&self, table: &Table, t: i64, sample: &Sample, report: &mut Report) {
        let slot = slot(t);
        report.t = t;
        report.slot = slot as u16;
        report.present = 0;
        for (id, x) in sample.iter() {
            let i = id.index();
            if !x.is_finite() || libm::fabsf(x) > MAX_VALUE {
                continue;
            }
            let (w, l) = (table[slot][i].sane(), self.local[i]);
            let (verdict, dev) = classify(x, w, l);
            report.present |= 1 << i;
            report.outcomes[i] = Outcome {
                value: x,
                learned: x,
                expect: w.expect,
                stddev: w.stddev(),
                local_expect: l.expect,
                local_stddev: l.stddev(),
                dev,
                classes: Classes {
                    verdict,
                    ldt: None,
                    live: Kinds::EMPTY,
                },
            };
        }
    }

    /// Raises (or renews) a persistent class until `expiry`, ending the same kind in the
    /// other direction ([`Kind::opposite`]): the latest direction wins.
    fn raise(&mut self, obs: u8, kind: Kind, expiry: i64) {
        let bit = kind.bit();
        if let Some(other) = kind.opposite() {
            let other = other.bit();
            self.live.retain(|e| !(e.obs == obs && e.kind == other));
        }
        if let Some(e) = self.live.iter_mut().find(|e| e.obs == obs && e.kind == bit) {
            e.expiry = e.expiry.max(expiry);
        } else if self
            .live
            .push(Live {
                obs,
                kind: bit,
                expiry,
            })
            .is_err()
        {
            self.overflow = self.overflow.saturating_add(1);
        }
    }

    /// The persistent classes alive at `now`: observable, kind, last second alive.
    pub fn persistent(&self, now: i64) -> impl Iterator<Item = (ObsId, Kind, i64)> + '_ {
        self.live
            .iter()
            .filter(move |e| now <= e.expiry)
            .filter_map(|e| {
                Some((
                    ObsId::new(usize::from(e.obs))?,
                    Kind::from_bit(e.kind)?,
                    e.expiry,
                ))
            })
    }

    /// The names of the persistent classes alive at `now`.
    pub fn persistent_names(&self, now: i64) -> impl Iterator<Item = ClassName> + '_ {
        self.persistent(now).filter_map(|(id, kind, _)| {
            let mut name = ClassName::new();
            kind.write_name(self.registry.name(id)?, &mut name).ok()?;
            Some(name)
        })
    }

    /// Persistent classes that found no room (beyond [`PERSISTENT_CAP`]).
    pub fn persistent_overflow(&self) -> u32 {
        self.overflow
    }

    /// The forget rate in use, 0.1..=0.9.
    pub fn forget_rate(&self) -> f32 {
        self.forget_rate
    }

    /// The config's forget rate (after a restore, if the config changed).
    pub fn set_forget_rate(&mut self, f: f32) {
        self.forget_rate = sane_forget_rate(f);
    }

    /// Samples since the state was created.
    pub fn age(&self) -> u64 {
        self.age
    }

    /// Whether the weekly averages still learn fast (the first two weeks of samples).
    pub fn is_young(&self) -> bool {
        self.age < YOUNG_SAMPLES
    }

    /// Samples taken: the age of the local averages.
    pub fn iterations(&self) -> u64 {
        self.iterations
    }

    /// Values refused as not finite or beyond [`MAX_VALUE`].
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// The local running pair of `id` (zero before its first value).
    pub fn local(&self, id: ObsId) -> Pair {
        self.local[id.index()]
    }

    /// The leap detection state of `id`.
    pub fn ldt(&self, id: ObsId) -> &Ldt {
        &self.ldt[id.index()]
    }

    /// The last value learned for `id`, if any.
    pub fn last(&self, id: ObsId) -> Option<f32> {
        (self.seen & (1 << id.index()) != 0).then(|| self.last[id.index()])
    }

    /// The names of the observables, built-in and registered.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Registers dynamic observables here, so their ids persist with the state.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }
}

#[cfg(test)]
pub(crate) mod tests;
