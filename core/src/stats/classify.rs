//! From a value and the averages after its update to classes (cf-monitord's `SetClasses`).
//!
//! δ = x − W.expect, σ = √W.var; δl = x − L.expect, σl = √L.var (both pairs *after* the
//! update), and `dev = √(δ²/(1+σ²) + δl²/(1+σl²))`, a distance in which about 1σ in each
//! dimension gives √2. No class while σ or σl is 0. When |δ| < 6 (absolute: the data are
//! too noisy to judge) only `<name><dir>` is set, plus `_microanomaly` beyond 2√2;
//! otherwise `<name><dir>_normal` up to √2, else `_dev1`, plus `_dev2` beyond 2√2 and
//! `_anomaly` beyond 3√2. `dev2`, `anomaly`, `microanomaly` and `ldt` persist.

use core::f32::consts::SQRT_2;

use super::table::Pair;
use crate::classes::{ClassName, NameError};

/// cf-monitord's `cf_noise_threshold`: below this absolute |δ| a deviation is noise.
pub const NOISE: f32 = 6.0;

/// Which side of both averages the value lies on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Dir {
    /// Above both the weekly and the local average.
    High = 0,
    /// Below both.
    Low = 1,
    /// Between them.
    Normal = 2,
}

impl Dir {
    /// The class-name part: `_high`, `_low` or `_normal`.
    pub const fn suffix(self) -> &'static str {
        match self {
            Dir::High => "_high",
            Dir::Low => "_low",
            Dir::Normal => "_normal",
        }
    }

    fn of(delta: f32, delta_local: f32) -> Dir {
        if delta > 0.0 && delta_local > 0.0 {
            Dir::High
        } else if delta < 0.0 && delta_local < 0.0 {
            Dir::Low
        } else {
            Dir::Normal
        }
    }
}

/// How far `dev` is: `Normal` ≤ √2 < `Dev1` ≤ 2√2 < `Dev2` ≤ 3√2 < `Anomaly`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Band {
    /// `dev` ≤ √2: about one standard deviation or less in each dimension.
    Normal,
    /// √2 < `dev` ≤ 2√2.
    Dev1,
    /// 2√2 < `dev` ≤ 3√2; raises the persistent `_dev2`.
    Dev2,
    /// `dev` > 3√2; raises the persistent `_dev2` and `_anomaly`.
    Anomaly,
}

impl Band {
    /// The band of a distance `dev` (see [`classify`]).
    pub fn of(dev: f32) -> Band {
        if dev > 3.0 * SQRT_2 {
            Band::Anomaly
        } else if dev > 2.0 * SQRT_2 {
            Band::Dev2
        } else if dev > SQRT_2 {
            Band::Dev1
        } else {
            Band::Normal
        }
    }
}

/// The classification of one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Verdict {
    /// σ or σl is 0: nothing is known yet, no class.
    Unclassified,
    /// |δ| below [`NOISE`]: `<name><dir>`, and `<name><dir>_microanomaly` if `micro`.
    Noise {
        /// Which side of both averages the value lies on.
        dir: Dir,
        /// `dev` beyond 2√2.
        micro: bool,
    },
    /// `<name><dir>_normal` or `_dev1`, plus `_dev2` and `_anomaly` by band.
    Signal {
        /// Which side of both averages the value lies on.
        dir: Dir,
        /// How far `dev` is.
        band: Band,
    },
}

/// Classifies `x` against the weekly pair `w` and the local pair `l` (both after the
/// update). Returns the verdict and `dev`.
pub fn classify(x: f32, w: Pair, l: Pair) -> (Verdict, f32) {
    let (sigma, sigma_l) = (w.stddev(), l.stddev());
    let (delta, delta_l) = (x - w.expect, x - l.expect);
    let dev = libm::sqrtf(
        delta * delta / (1.0 + sigma * sigma) + delta_l * delta_l / (1.0 + sigma_l * sigma_l),
    );
    if sigma == 0.0 || sigma_l == 0.0 {
        return (Verdict::Unclassified, dev);
    }
    let dir = Dir::of(delta, delta_l);
    let verdict = if libm::fabsf(delta) < NOISE {
        Verdict::Noise {
            dir,
            micro: dev > 2.0 * SQRT_2,
        }
    } else {
        Verdict::Signal {
            dir,
            band: Band::of(dev),
        }
    };
    (verdict, dev)
}

/// A class that persists after the sample that raised it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Kind {
    /// `<name><dir>_microanomaly`: `dev` beyond 2√2 while |δ| is below [`NOISE`].
    Microanomaly(Dir),
    /// `<name><dir>_dev2`: a [`Band::Dev2`] or [`Band::Anomaly`] signal.
    Dev2(Dir),
    /// `<name><dir>_anomaly`: a [`Band::Anomaly`] signal.
    Anomaly(Dir),
    /// The leap detection test: `_high_ldt` or `_low_ldt` (never `Normal`).
    Ldt(Dir),
}

impl Kind {
    /// Bit index in [`Kinds`]: three per directional kind, then high and low LDT.
    pub const fn bit(self) -> u8 {
        match self {
            Kind::Microanomaly(d) => d as u8,
            Kind::Dev2(d) => 3 + d as u8,
            Kind::Anomaly(d) => 6 + d as u8,
            Kind::Ldt(Dir::Low) => 10,
            Kind::Ldt(_) => 9,
        }
    }

    /// The kind at bit index `bit` (the inverse of [`Kind::bit`]); `None` from
    /// [`Kinds::COUNT`] on.
    pub const fn from_bit(bit: u8) -> Option<Kind> {
        const DIRS: [Dir; 3] = [Dir::High, Dir::Low, Dir::Normal];
        let d = DIRS[(bit % 3) as usize];
        Some(match bit {
            0..=2 => Kind::Microanomaly(d),
            3..=5 => Kind::Dev2(d),
            6..=8 => Kind::Anomaly(d),
            9 => Kind::Ldt(Dir::High),
            10 => Kind::Ldt(Dir::Low),
            _ => return None,
        })
    }

    /// The same kind in the other direction (high ↔ low), which a new trigger ends: an
    /// observable leaps or deviates one way at a time, so `_high_ldt` and `_low_ldt` (or
    /// `_high_dev2` and `_low_dev2`) are never alive together. `Normal` has none.
    pub fn opposite(self) -> Option<Kind> {
        let flip = |d: Dir| match d {
            Dir::High => Some(Dir::Low),
            Dir::Low => Some(Dir::High),
            Dir::Normal => None,
        };
        match self {
            Kind::Microanomaly(d) => flip(d).map(Kind::Microanomaly),
            Kind::Dev2(d) => flip(d).map(Kind::Dev2),
            Kind::Anomaly(d) => flip(d).map(Kind::Anomaly),
            Kind::Ldt(d) => flip(d).map(Kind::Ldt),
        }
    }

    /// Appends this class's name for observable `obs` to `out`.
    pub fn write_name(self, obs: &str, out: &mut ClassName) -> Result<(), NameError> {
        let (dir, tail) = match self {
            Kind::Microanomaly(d) => (d, "_microanomaly"),
            Kind::Dev2(d) => (d, "_dev2"),
            Kind::Anomaly(d) => (d, "_anomaly"),
            Kind::Ldt(d) => (d, "_ldt"),
        };
        for part in [obs, dir.suffix(), tail] {
            out.push_str(part).map_err(|_| NameError::TooLong)?;
        }
        Ok(())
    }
}

/// A set of [`Kind`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Kinds(u16);

impl Kinds {
    /// No kind.
    pub const EMPTY: Kinds = Kinds(0);
    /// Bit indices in use, `0..COUNT`: nine directional kinds, then the two LDT ones.
    pub const COUNT: u8 = 11;

    /// Adds `kind` to the set.
    pub fn insert(&mut self, kind: Kind) {
        self.0 |= 1 << kind.bit();
    }

    /// Whether `kind` is in the set.
    pub const fn contains(self, kind: Kind) -> bool {
        self.0 & (1 << kind.bit()) != 0
    }

    /// Whether the set holds no kind.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The kinds in the set, in bit order.
    pub fn iter(self) -> impl Iterator<Item = Kind> {
        (0..Self::COUNT)
            .filter(move |b| self.0 & (1 << b) != 0)
            .filter_map(Kind::from_bit)
    }
}

/// Most class names one observable can have at once.
pub const MAX_NAMES: usize = 16;

/// The classes of one observable at one sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Classes {
    /// The classification of the value itself.
    pub verdict: Verdict,
    /// The leap detection test fired, upwards or downwards.
    pub ldt: Option<Dir>,
    /// Persistent classes of this observable alive at this sample (including those this
    /// sample raised).
    pub live: Kinds,
}

impl Classes {
    /// No verdict, no LDT, nothing live.
    pub const NONE: Classes = Classes {
        verdict: Verdict::Unclassified,
        ldt: None,
        live: Kinds::EMPTY,
    };

    /// The persistent kinds this sample itself raised.
    pub fn raised(&self) -> Kinds {
        let mut k = Kinds::EMPTY;
        match self.verdict {
            Verdict::Noise { dir, micro: true } => k.insert(Kind::Microanomaly(dir)),
            Verdict::Signal { dir, band } => {
                if band >= Band::Dev2 {
                    k.insert(Kind::Dev2(dir));
                }
                if band == Band::Anomaly {
                    k.insert(Kind::Anomaly(dir));
                }
            }
            _ => {}
        }
        if let Some(d) = self.ldt {
            k.insert(Kind::Ldt(d));
        }
        k
    }

    /// The class names for observable `obs`: this sample's, then the live persistent
    /// ones not already among them.
    pub fn names(&self, obs: &str) -> impl Iterator<Item = ClassName> {
        let mut out = heapless::Vec::<ClassName, MAX_NAMES>::new();
        let mut push = |parts: &[&str]| {
            let mut n = ClassName::new();
            // Observable names are ≤ 32 bytes, suffixes ≤ 20: a name always fits.
            if parts.iter().all(|p| n.push_str(p).is_ok()) {
                let _ = out.push(n);
            }
        };
        match self.verdict {
            Verdict::Unclassified => {}
            Verdict::Noise { dir, micro } => {
                push(&[obs, dir.suffix()]);
                if micro {
                    push(&[obs, dir.suffix(), "_microanomaly"]);
                }
            }
            Verdict::Signal { dir, band } => {
                let first = if band == Band::Normal {
                    "_normal"
                } else {
                    "_dev1"
                };
                push(&[obs, dir.suffix(), first]);
                if band >= Band::Dev2 {
                    push(&[obs, dir.suffix(), "_dev2"]);
                }
                if band == Band::Anomaly {
                    push(&[obs, dir.suffix(), "_anomaly"]);
                }
            }
        }
        let raised = self.raised();
        if let Some(d) = self.ldt {
            push(&[obs, d.suffix(), "_ldt"]);
        }
        for kind in self.live.iter().filter(|k| !raised.contains(*k)) {
            let mut n = ClassName::new();
            if kind.write_name(obs, &mut n).is_ok() {
                let _ = out.push(n);
            }
        }
        out.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{string::String, vec::Vec};

    fn names(c: &Classes) -> Vec<String> {
        c.names("www_in").map(|n| n.as_str().into()).collect()
    }

    fn next_up(x: f32) -> f32 {
        f32::from_bits(x.to_bits() + 1)
    }

    #[test]
    fn band_boundaries() {
        assert_eq!(Band::of(SQRT_2), Band::Normal);
        assert_eq!(Band::of(next_up(SQRT_2)), Band::Dev1);
        assert_eq!(Band::of(2.0 * SQRT_2), Band::Dev1);
        assert_eq!(Band::of(next_up(2.0 * SQRT_2)), Band::Dev2);
        assert_eq!(Band::of(3.0 * SQRT_2), Band::Dev2);
        assert_eq!(Band::of(next_up(3.0 * SQRT_2)), Band::Anomaly);
    }

    /// With σ = σl = 0+ (var tiny) dev ≈ √2·|δ| when δ = δl.
    fn at(delta: f32, var: f32) -> (Verdict, f32) {
        let p = Pair { expect: 100.0, var };
        classify(100.0 + delta, p, p)
    }

    #[test]
    fn noise_threshold_is_six_absolute() {
        // |δ| just under 6: the noise branch, whatever dev is.
        let (v, dev) = at(5.99, 1.0);
        assert_eq!(
            v,
            Verdict::Noise {
                dir: Dir::High,
                micro: true
            }
        );
        assert!(dev > 2.0 * SQRT_2);
        let (v, _) = at(-5.99, 1.0);
        assert_eq!(
            v,
            Verdict::Noise {
                dir: Dir::Low,
                micro: true
            }
        );
        // |δ| = 6 is signal.
        let (v, _) = at(6.0, 1.0);
        assert_eq!(
            v,
            Verdict::Signal {
                dir: Dir::High,
                band: Band::Anomaly
            }
        );
        let (v, _) = at(-6.0, 1.0);
        assert_eq!(
            v,
            Verdict::Signal {
                dir: Dir::Low,
                band: Band::Anomaly
            }
        );
        // Small noise with a wide spread: no microanomaly.
        let (v, _) = at(1.0, 100.0);
        assert_eq!(
            v,
            Verdict::Noise {
                dir: Dir::High,
                micro: false
            }
        );
    }

    #[test]
    fn signal_bands_from_the_distance() {
        // dev = √2·|δ|/√(1+var): δ = 6 and var chosen to put dev in each band.
        // dev² = 72/(1+v): v = 71 → 1 (normal); 23 → 3 (dev1); 5 → 12 (dev2); 2 → 24 (anomaly).
        for (var, band) in [
            (71.0, Band::Normal),
            (23.0, Band::Dev1),
            (5.0, Band::Dev2),
            (2.0, Band::Anomaly),
        ] {
            let (v, dev) = at(6.0, var);
            assert_eq!(
                v,
                Verdict::Signal {
                    dir: Dir::High,
                    band
                },
                "var {var} dev {dev}"
            );
        }
    }

    #[test]
    fn no_class_without_spread_and_direction_needs_both() {
        let w = Pair {
            expect: 10.0,
            var: 0.0,
        };
        let l = Pair {
            expect: 10.0,
            var: 4.0,
        };
        assert_eq!(classify(50.0, w, l).0, Verdict::Unclassified);
        assert_eq!(classify(50.0, l, w).0, Verdict::Unclassified);
        // Above the weekly, below the local average: normal direction.
        let w = Pair {
            expect: 10.0,
            var: 4.0,
        };
        let l = Pair {
            expect: 30.0,
            var: 4.0,
        };
        assert!(matches!(
            classify(20.0, w, l).0,
            Verdict::Signal {
                dir: Dir::Normal,
                ..
            }
        ));
    }

    #[test]
    fn names_follow_cf_monitord() {
        let c = |verdict| Classes {
            verdict,
            ..Classes::NONE
        };
        assert!(names(&Classes::NONE).is_empty());
        assert_eq!(
            names(&c(Verdict::Noise {
                dir: Dir::High,
                micro: false
            })),
            ["www_in_high"]
        );
        assert_eq!(
            names(&c(Verdict::Noise {
                dir: Dir::Low,
                micro: true
            })),
            ["www_in_low", "www_in_low_microanomaly"]
        );
        assert_eq!(
            names(&c(Verdict::Signal {
                dir: Dir::Normal,
                band: Band::Normal
            })),
            ["www_in_normal_normal"]
        );
        assert_eq!(
            names(&c(Verdict::Signal {
                dir: Dir::High,
                band: Band::Dev1
            })),
            ["www_in_high_dev1"]
        );
        assert_eq!(
            names(&c(Verdict::Signal {
                dir: Dir::High,
                band: Band::Anomaly
            })),
            [
                "www_in_high_dev1",
                "www_in_high_dev2",
                "www_in_high_anomaly"
            ]
        );
        let mut live = Kinds::EMPTY;
        live.insert(Kind::Dev2(Dir::High));
        live.insert(Kind::Ldt(Dir::Low));
        live.insert(Kind::Anomaly(Dir::Low));
        let both = Classes {
            verdict: Verdict::Signal {
                dir: Dir::High,
                band: Band::Dev2,
            },
            ldt: Some(Dir::High),
            live,
        };
        assert_eq!(
            names(&both),
            [
                "www_in_high_dev1",
                "www_in_high_dev2",
                "www_in_high_ldt",
                "www_in_low_anomaly",
                "www_in_low_ldt"
            ]
        );
    }

    #[test]
    fn kind_bits_round_trip() {
        for bit in 0..Kinds::COUNT {
            let k = Kind::from_bit(bit).unwrap();
            assert_eq!(k.bit(), bit);
        }
        assert_eq!(Kind::from_bit(Kinds::COUNT), None);
    }
}
