//! Unit tests of the learner; `month`, `table` and `T0` serve persist's tests too.

use super::*;
use crate::stats::classify::{Band, Dir, Verdict};
use crate::stats::table::{FIRST_MONDAY, SLOT_SECONDS};
use std::{boxed::Box, format, string::String, vec, vec::Vec};

pub(crate) fn table() -> Box<Table> {
    vec![[Pair::ZERO; OBSERVABLES]; SLOTS]
        .into_boxed_slice()
        .try_into()
        .unwrap()
}

/// 2024-01-01 00:00 UTC, a Monday.
pub(crate) const T0: i64 = 1_704_067_200;

fn one(id: ObsId, x: f32) -> Sample {
    let mut s = Sample::new();
    s.set(id, x);
    s
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-5 * (1.0 + b.abs())
}

#[test]
fn first_iteration_as_verified_on_cf_monitord() {
    let (mut table, mut l, mut r) = (table(), Learner::new(0.7), Report::new());
    l.sample(&mut table, T0, &one(ObsId::USERS, 1.0), &mut r);
    let o = r.get(ObsId::USERS).unwrap();
    assert_eq!(l.age(), 1);
    assert!(
        close(o.expect, 0.7) && close(o.stddev * o.stddev, 0.7),
        "{o:?}"
    );
    assert!(
        close(o.local_expect, 0.49) && close(o.local_stddev, 0.7),
        "{o:?}"
    );
    // cf-monitord's dev_users = √(V_week + V_local) = 1.09.
    assert!((libm::sqrtf(0.7 + o.local_stddev * o.local_stddev) - 1.09).abs() < 0.005);
    // Second iteration, same slot: 0.7 > 2 × 0.09, so the variance collapses to d².
    l.sample(&mut table, T0 + 150, &one(ObsId::USERS, 1.0), &mut r);
    let o = r.get(ObsId::USERS).unwrap();
    assert!(close(o.stddev * o.stddev, 0.09), "{o:?}");
    assert_eq!(r.slot(), 0);
    assert_eq!(l.iterations(), 2);
}

#[test]
fn forget_rate_defaults_and_sanity() {
    assert_eq!(Learner::default().forget_rate(), 0.6);
    assert_eq!(Learner::new(0.95).forget_rate(), 0.6);
    assert_eq!(Learner::new(f32::NAN).forget_rate(), 0.6);
    assert_eq!(Learner::new(0.9).forget_rate(), 0.9);
    assert_eq!(waverage(1.0, 0.0, true, 0.6), 0.6);
    assert!(close(waverage(1.0, 0.0, false, 0.6), 0.4));
    assert_eq!(waverage(-5.0, 1.0, true, 0.6), 0.0);
    assert_eq!(waverage(0.0, 0.0, false, 0.6), 0.0);
    // No sanity limit: a large deviation still gets a variance.
    assert!(waverage(1.0e12, 1.0e12, false, 0.6) > 9_999_999.0);
}

#[test]
fn young_for_two_weeks_of_samples() {
    let mut l = Learner {
        age: YOUNG_SAMPLES - 2,
        ..Learner::default()
    };
    let (mut table, mut r) = (table(), Report::new());
    l.sample(&mut table, T0, &Sample::new(), &mut r);
    assert!(l.is_young());
    l.sample(&mut table, T0 + 150, &Sample::new(), &mut r);
    assert!(!l.is_young());
    // Grown: a new value weighs 1 − f = 0.4.
    l.sample(&mut table, T0 + 300, &one(ObsId::DISKFREE, 10.0), &mut r);
    assert!(close(r.get(ObsId::DISKFREE).unwrap().expect, 4.0));
}

/// A learner whose `www_in` has W = {10, 1} in slot 0 and L = {10, 1}.
fn primed() -> (Box<Table>, Learner, ObsId) {
    let id = ObsId::builtin("www_in").unwrap();
    let mut table = table();
    let mut l = Learner {
        age: YOUNG_SAMPLES,
        iterations: 10,
        ..Learner::default()
    };
    table[0][id.index()] = Pair {
        expect: 10.0,
        var: 1.0,
    };
    l.local[id.index()] = Pair {
        expect: 10.0,
        var: 1.0,
    };
    (table, l, id)
}

#[test]
fn outliers_are_pulled_in_but_classified_from_x() {
    let (mut table, mut l, id) = primed();
    let mut r = Report::new();
    l.sample(&mut table, T0, &one(id, 100.0), &mut r);
    let o = *r.get(id).unwrap();
    let spread = libm::sqrtf(2.0);
    assert!(close(o.learned, 10.0 + 2.0 * spread), "{o:?}");
    assert!(close(o.expect, 0.4 * (10.0 + 2.0 * spread) + 0.6 * 10.0));
    assert_eq!(o.value, 100.0);
    assert_eq!(
        o.classes.verdict,
        Verdict::Signal {
            dir: Dir::High,
            band: Band::Anomaly
        }
    );
    assert!(o.classes.live.contains(Kind::Anomaly(Dir::High)));
    assert!(o.classes.live.contains(Kind::Dev2(Dir::High)));
    let names: Vec<_> = o.classes.names("www_in").collect();
    assert!(
        names.iter().any(|n| n == "www_in_high_anomaly"),
        "{names:?}"
    );

    // Downwards the same, to W.expect − 2·spread (and never a negative average).
    let (mut table, mut l, id) = primed();
    table[0][id.index()].expect = 50.0;
    l.sample(&mut table, T0, &one(id, 0.0), &mut r);
    assert!(close(r.get(id).unwrap().learned, 50.0 - 2.0 * spread));
}

#[test]
fn no_pull_near_the_average_within_spread_or_on_an_empty_slot() {
    let (mut table, mut l, id) = primed();
    let mut r = Report::new();
    // (x − W.expect)² < 36: learned as is.
    l.sample(&mut table, T0, &one(id, 15.9), &mut r);
    assert_eq!(r.get(id).unwrap().learned, 15.9);
    // Far, but within 4 spreads: learned as is.
    let (mut table, mut l, id) = primed();
    table[0][id.index()].var = 400.0;
    l.sample(&mut table, T0, &one(id, 60.0), &mut r);
    assert_eq!(r.get(id).unwrap().learned, 60.0);
    // W.expect = 0 (a slot never seen): learned as is.
    let (mut table, mut l, id) = primed();
    table[0][id.index()] = Pair::ZERO;
    l.sample(&mut table, T0, &one(id, 1000.0), &mut r);
    assert_eq!(r.get(id).unwrap().learned, 1000.0);
    assert_eq!(
        learned_value(
            16.0,
            Pair {
                expect: 10.0,
                var: 0.0
            },
            Pair::ZERO
        ),
        10.0
    );
}

#[test]
fn persistent_classes_live_ten_minutes_after_the_last_trigger() {
    let (mut table, mut l, id) = primed();
    let mut r = Report::new();
    l.sample(&mut table, T0, &one(id, 100.0), &mut r);
    let kind = Kind::Anomaly(Dir::High);
    let quiet = one(ObsId::USERS, 1.0);
    l.sample(&mut table, T0 + 600, &quiet, &mut r);
    assert!(l.persistent(T0 + 600).any(|(i, k, _)| i == id && k == kind));
    assert!(l
        .persistent_names(T0 + 600)
        .any(|n| n == "www_in_high_anomaly"));
    l.sample(&mut table, T0 + 601, &quiet, &mut r);
    assert!(l.persistent(T0 + 601).next().is_none());
    assert!(l.live.is_empty());

    // A new trigger renews the expiry; a value present reports its live classes.
    let (mut table, mut l, id) = primed();
    l.sample(&mut table, T0, &one(id, 100.0), &mut r);
    table[1][id.index()] = Pair {
        expect: 10.0,
        var: 1.0,
    };
    l.sample(&mut table, T0 + 300, &one(id, 100.0), &mut r);
    let renewed: Vec<_> = l.persistent(T0 + 900).collect();
    assert!(
        renewed.iter().any(|&(_, k, e)| k == kind && e == T0 + 900),
        "{renewed:?}"
    );
    table[2][id.index()] = Pair {
        expect: 10.0,
        var: 1.0,
    };
    l.sample(&mut table, T0 + 899, &one(id, 10.0), &mut r);
    assert!(r.get(id).unwrap().classes.live.contains(kind));
}

#[test]
fn overflow_of_persistent_classes_is_counted() {
    let mut l = Learner::default();
    for i in 0..PERSISTENT_CAP + 3 {
        l.raise(
            (i % OBSERVABLES) as u8,
            // Kinds that do not end each other (high, normal, then high dev2).
            Kind::from_bit([0, 2, 3][i / OBSERVABLES]).unwrap(),
            1,
        );
    }
    assert_eq!(l.live.len(), PERSISTENT_CAP);
    assert_eq!(l.persistent_overflow(), 3);
}

#[test]
fn absent_and_bad_values_are_not_updated() {
    let (mut table, mut l, mut r) = (table(), Learner::default(), Report::new());
    let mut s = Sample::new();
    s.set(ObsId::USERS, 3.0);
    s.set(ObsId::ROOTPROCS, f32::NAN);
    s.set(ObsId::OTHERPROCS, 2.0e15);
    l.sample(&mut table, T0, &s, &mut r);
    assert_eq!(r.len(), 1);
    assert_eq!(l.rejected(), 2);
    assert_eq!(table[0][ObsId::ROOTPROCS.index()], Pair::ZERO);
    assert_eq!(l.last(ObsId::USERS), Some(3.0));
    assert_eq!(l.last(ObsId::DISKFREE), None);
    assert_eq!(l.local(ObsId::DISKFREE), Pair::ZERO);
    let updated = table.iter().flatten().filter(|p| **p != Pair::ZERO).count();
    assert_eq!(updated, 1);
}

#[test]
fn a_leap_raises_ldt() {
    let (mut table, mut l, mut r) = (table(), Learner::default(), Report::new());
    let id = ObsId::OTHERPROCS;
    for k in 0..10 {
        l.sample(&mut table, T0 + k * 150, &one(id, 50.0), &mut r);
        assert_eq!(r.get(id).unwrap().classes.ldt, None);
    }
    l.sample(&mut table, T0 + 1500, &one(id, 500.0), &mut r);
    let o = r.get(id).unwrap();
    assert_eq!(o.classes.ldt, Some(Dir::High));
    assert!(o
        .classes
        .names("otherprocs")
        .any(|n| n == "otherprocs_high_ldt"));
}

/// cf-monitord's algorithm as written in the notes, in f64, for a handful of observables.
struct Model {
    f: f64,
    age: u64,
    iter: u64,
    table: Vec<[(f64, f64); SLOTS]>,
    local: Vec<(f64, f64)>,
}

fn wavg64(new: f64, old: f64, young: bool, f: f64) -> f64 {
    if new == 0.0 && old == 0.0 {
        return 0.0;
    }
    let av = if young {
        f * new + (1.0 - f) * old
    } else {
        (1.0 - f) * new + f * old
    };
    av.max(0.0)
}

/// The two threshold decisions of one update: the outlier rule and the variance clean-up.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Decision {
    pulled: bool,
    dropped: bool,
}

/// What the f64 model decided by itself, and how far each decision's quantities were
/// from flipping it, in units of the observable's scale (`1 + max(|x|, |W.expect|)`, as
/// the errors are measured): a rounding error can only flip a decision that was close.
#[derive(Clone, Copy, Debug)]
struct Own {
    decision: Decision,
    pulled_margin: f64,
    dropped_margin: f64,
}

impl Model {
    fn new(f: f64, n: usize) -> Model {
        Model {
            f,
            age: 0,
            iter: 0,
            table: vec![[(0.0, 0.0); SLOTS]; n],
            local: vec![(0.0, 0.0); n],
        }
    }

    /// (expect, stddev, local expect, local stddev) per observable, and the model's own
    /// decisions. The update follows `follow` (the f32 learner's decisions), so a
    /// value on the edge of a threshold cannot send the two down different paths.
    fn sample(&mut self, t: i64, xs: &[f64], follow: &[Decision]) -> Vec<([f64; 4], Own)> {
        self.age += 1;
        let (yw, yl) = (self.age < YOUNG_SAMPLES, self.iter < 2);
        let s = ((t - FIRST_MONDAY).rem_euclid(604_800) / SLOT_SECONDS) as usize;
        let out = xs
            .iter()
            .zip(follow)
            .enumerate()
            .map(|(i, (&x, follow))| {
                let (we, wv) = self.table[i][s];
                let (le, lv) = self.local[i];
                let d = x - we;
                let spread = (wv + lv).sqrt();
                let distance = (d * d + (x - le).powi(2)).sqrt();
                let pulled = we != 0.0 && d * d >= 36.0 && distance > 4.0 * spread;
                // The outlier rule's three tests, each as the distance from its edge.
                let scale = 1.0 + x.abs().max(we.abs());
                let pulled_margin = we
                    .abs()
                    .min((d.abs() - 6.0).abs())
                    .min((distance - 4.0 * spread).abs())
                    / scale;
                let y = if follow.pulled {
                    we + 2.0 * spread * d.signum()
                } else {
                    x
                };
                let d2 = (y - we).powi(2);
                let dropped = wv > 2.0 * d2;
                let var = if follow.dropped {
                    d2
                } else {
                    wavg64(d2, wv, yw, self.f)
                };
                let expect = wavg64(y, we, yw, self.f);
                let l = (wavg64(expect, le, yl, self.f), wavg64(var, lv, yl, self.f));
                self.table[i][s] = (expect, var);
                self.local[i] = l;
                let own = Own {
                    decision: Decision { pulled, dropped },
                    pulled_margin,
                    dropped_margin: (wv.sqrt() - (2.0 * d2).sqrt()).abs() / scale,
                };
                ([expect, var.sqrt(), l.0, l.1.sqrt()], own)
            })
            .collect();
        self.iter += 1;
        out
    }
}

/// A small deterministic generator (xorshift64*).
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One synthetic month at 150 s: a daily cycle, noise, and now and then a spike.
pub(crate) fn month(seed: u64, obs: usize, mut each: impl FnMut(i64, &[f64])) {
    let mut rng = Rng(seed | 1);
    let bases: Vec<f64> = (0..obs)
        .map(|i| [3.0, 40.0, 250.0, 12_000.0][i % 4])
        .collect();
    let mut xs = vec![0.0; obs];
    for k in 0..30 * 576 {
        let t = T0 + k * 150;
        let day = (t % 86_400) as f64 / 86_400.0 * core::f64::consts::TAU;
        for (x, base) in xs.iter_mut().zip(&bases) {
            let cycle = base * (1.0 + 0.5 * libm::sin(day));
            let noise = base * 0.2 * (rng.unit() - 0.5);
            let spike = if rng.unit() < 0.002 { base * 5.0 } else { 0.0 };
            *x = (cycle + noise + spike).round();
        }
        each(t, &xs);
    }
}

/// How the f32 learner and the f64 model compare over one month.
#[derive(Debug, Default)]
struct Follow {
    /// Largest error of expect, stddev and the local pair, relative to the scale.
    worst: f64,
    /// Values the f32 learner pulled in.
    pulled: usize,
    /// Decisions where the model, on its own, would have gone the other way.
    disagreed: usize,
    /// The largest distance from its edge (see [`Own`]) of a decision they disagreed on.
    widest: f64,
}

/// Runs one synthetic month through the f32 learner and the f64 model, decision by
/// decision: the model takes the learner's outlier and variance decisions.
fn follow_a_month(seed: u64) -> Follow {
    const OBS: usize = 4;
    let (mut table, mut l, mut r) = (table(), Learner::default(), Report::new());
    let mut model = Model::new(f64::from(DEFAULT_FORGET_RATE), OBS);
    let (mut out, mut sample) = (Follow::default(), Sample::new());
    month(seed, OBS, |t, xs| {
        let before: Vec<(Pair, Pair)> = (0..OBS)
            .map(|i| (table[slot(t)][i].sane(), l.local[i]))
            .collect();
        for (i, &x) in xs.iter().enumerate() {
            sample.set(ObsId::new(i).unwrap(), x as f32);
        }
        l.sample(&mut table, t, &sample, &mut r);
        let decisions: Vec<Decision> = (0..OBS)
            .map(|i| {
                let (o, (w, loc)) = (r.get(ObsId::new(i).unwrap()).unwrap(), before[i]);
                let d2 = (o.learned - w.expect) * (o.learned - w.expect);
                Decision {
                    pulled: pulled_in(o.value, w, loc).is_some(),
                    dropped: drops_variance(w.var, d2),
                }
            })
            .collect();
        let want = model.sample(t, xs, &decisions);
        for (i, (w, own)) in want.iter().enumerate() {
            let o = r.get(ObsId::new(i).unwrap()).unwrap();
            out.pulled += usize::from(decisions[i].pulled);
            if own.decision.pulled != decisions[i].pulled {
                out.disagreed += 1;
                out.widest = out.widest.max(own.pulled_margin);
            }
            if own.decision.dropped != decisions[i].dropped {
                out.disagreed += 1;
                out.widest = out.widest.max(own.dropped_margin);
            }
            let got = [o.expect, o.stddev, o.local_expect, o.local_stddev];
            for (g, w) in got.iter().zip(w) {
                // Relative to the observable's scale: σ near 0 is compared absolutely.
                let err = (f64::from(*g) - w).abs() / (1.0 + w.abs().max(xs[i].abs()));
                out.worst = out.worst.max(err);
            }
        }
    });
    out
}

/// The property: following the same decisions, f32 stays within 1e-5 of f64; where
/// the model alone would have decided otherwise, the value was on the threshold's edge
/// (within 1e-5 of the scale), so only rounding separated the two.
fn f32_follows_f64(seed: u64) -> Result<Follow, String> {
    let f = follow_a_month(seed);
    if f.worst >= 1e-5 {
        return Err(format!(
            "seed {seed}: worst relative error {}: {f:?}",
            f.worst
        ));
    }
    if f.widest >= 1e-5 {
        return Err(format!(
            "seed {seed}: a decision far from its threshold differs: {f:?}"
        ));
    }
    if f.pulled == 0 {
        return Err(format!(
            "seed {seed}: the month must exercise the outlier rule"
        ));
    }
    Ok(f)
}

/// Seeds where f32 and f64 fell on different sides of a threshold while the model did
/// not follow the learner's decisions: the variance clean-up (`W.var > 2·d²`) on x86-64
/// and aarch64 (the first) and on armv7 (the second). The third has a weekly variance
/// of exactly 0 in f32 against a rounding-sized one in f64: far from the edge relative
/// to the variance, on it relative to the observable's scale.
#[test]
fn f32_follows_an_f64_model_on_threshold_edges() {
    for seed in [
        16_957_143_301_456_968_149,
        3_497_032_947_261_511_027,
        3_805_785_660_243_157_381,
    ] {
        let f = f32_follows_f64(seed).unwrap();
        std::println!("seed {seed}: {f:?}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(6))]
    #[test]
    fn f32_follows_an_f64_model_over_a_month(seed in proptest::prelude::any::<u64>()) {
        if let Err(e) = f32_follows_f64(seed) {
            proptest::prop_assert!(false, "{}", e);
        }
    }
}

/// Issue 20: `_high_ldt` and `_low_ldt` of one observable were both alive (a leap up, then
/// one down within ten minutes, or under a clock set back). The latest direction wins.
#[test]
fn high_and_low_ldt_of_one_observable_never_live_together() {
    let (mut table, mut l, mut r) = (table(), Learner::default(), Report::new());
    let id = ObsId::OTHERPROCS;
    let mut t = T0;
    for _ in 0..10 {
        l.sample(&mut table, t, &one(id, 50.0), &mut r);
        t += 30;
    }
    l.sample(&mut table, t, &one(id, 500.0), &mut r);
    assert_eq!(r.get(id).unwrap().classes.ldt, Some(Dir::High));
    // Back down at once, within the ten minutes the high one lives.
    let mut low = None;
    for _ in 0..10 {
        t += 30;
        l.sample(&mut table, t, &one(id, 1.0), &mut r);
        if r.get(id).unwrap().classes.ldt == Some(Dir::Low) {
            low = Some(t);
            break;
        }
    }
    let low = low.expect("a leap down raises _low_ldt");
    let live: Vec<Kind> = l.persistent(low).map(|(_, k, _)| k).collect();
    assert!(live.contains(&Kind::Ldt(Dir::Low)), "{live:?}");
    assert!(!live.contains(&Kind::Ldt(Dir::High)), "{live:?}");
    let names: Vec<_> = l.persistent_names(low).collect();
    assert!(
        !names.iter().any(|n| n == "otherprocs_high_ldt"),
        "{names:?}"
    );
    // Every directional kind has its opposite; `Normal` has none.
    for bit in 0..Kinds::COUNT {
        let k = Kind::from_bit(bit).unwrap();
        match k.opposite() {
            Some(o) => assert_eq!(o.opposite(), Some(k)),
            None => assert!(matches!(
                k,
                Kind::Microanomaly(Dir::Normal)
                    | Kind::Dev2(Dir::Normal)
                    | Kind::Anomaly(Dir::Normal)
            )),
        }
    }
}

#[test]
fn assess_judges_against_the_table_and_learns_nothing() {
    let (mut table, mut l, id) = primed();
    let mut r = Report::new();
    l.sample(&mut table, T0, &one(id, 100.0), &mut r);
    let (table0, l0) = (table.clone(), l.clone());
    let mut a = Report::new();
    l.assess(&table, T0 - 604_800, &one(id, 100.0), &mut a);
    assert!(table[..] == table0[..]);
    assert_eq!(l, l0);
    let o = a.get(id).unwrap();
    assert_eq!(a.t(), T0 - 604_800);
    assert_eq!(o.value, 100.0);
    assert_eq!(o.classes.ldt, None);
    assert!(o.classes.live.is_empty());
    assert!(matches!(
        o.classes.verdict,
        Verdict::Signal { dir: Dir::High, .. }
    ));
}
