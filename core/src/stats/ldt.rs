//! The leap detection test (cf-monitord's `LeapDetection`), with its statistic as intended.
//!
//! Per observable, a window of the last [`WINDOW`] values. Once the window is full, a new
//! value `x` is scored by how far it jumps from the window, Poisson-normalised:
//!
//! ```text
//! χ = |Σ window − N·x| / √(N(N+1)·m)      m = mean of the window and x, N = 10
//! ```
//!
//! (`Σ window − N·x` has variance `N(N+1)·m` for Poisson counts of mean `m`). The test fires
//! when χ exceeds a limit set once per turn of the window from the largest value of the
//! previous turn: `0.2 + χ(max)`, so only a leap beyond the window's own largest excursion
//! counts. cf-monitord kept `Σ window` as a running sum that never changed from 0 (it
//! stored `x` before subtracting the old value); here the sum is recomputed each time.

/// Values in the window (cf-monitord's `LDT_BUFSIZE`).
pub const WINDOW: usize = 10;

const N: f32 = WINDOW as f32;

/// Below this `N(N+1)·m` the data are all zero (or negative): no score.
const TINY: f32 = 0.001;

/// One observable's leap detection state.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Ldt {
    pub(crate) buf: [f32; WINDOW],
    /// Where the next value goes.
    pub(crate) pos: u8,
    /// Values seen, up to [`WINDOW`].
    pub(crate) filled: u8,
    /// Largest value of the current turn of the window.
    pub(crate) max: f32,
    /// The firing limit, set at the start of each turn.
    pub(crate) limit: f32,
}

/// The score of one value.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Leap {
    /// The value's score χ.
    pub chi: f32,
    /// The limit of the current turn of the window: the test fires when `chi` exceeds it.
    pub limit: f32,
}

impl Leap {
    /// Whether the test fired: `chi > limit`.
    pub fn fired(self) -> bool {
        self.chi > self.limit
    }
}

impl Default for Ldt {
    fn default() -> Self {
        Ldt::new()
    }
}

impl Ldt {
    /// An empty window.
    pub const fn new() -> Ldt {
        // cf-monitord's initial CHI_LIMIT; never used, as the first full turn replaces it.
        Ldt {
            buf: [0.0; WINDOW],
            pos: 0,
            filled: 0,
            max: 0.0,
            limit: 0.1,
        }
    }

    /// Scores `x` against the window (`None` until the window is full), then takes it in.
    pub fn push(&mut self, x: f32) -> Option<Leap> {
        let pos = usize::from(self.pos) % WINDOW;
        let leap = if usize::from(self.filled) >= WINDOW {
            let sum: f32 = self.buf.iter().sum();
            // N(N+1)·m with m = (Σ + x)/(N+1).
            let d = N * (sum + x);
            let score = |v: f32| {
                if d < TINY {
                    0.0
                } else {
                    libm::fabsf(sum - N * v) / libm::sqrtf(d)
                }
            };
            if pos == 0 {
                self.limit = if d < TINY { 0.5 } else { 0.2 + score(self.max) };
                self.max = x;
            }
            self.max = self.max.max(x);
            Some(Leap {
                chi: score(x),
                limit: self.limit,
            })
        } else {
            self.max = if self.filled == 0 { x } else { self.max.max(x) };
            None
        };
        self.buf[pos] = x;
        self.pos = ((pos + 1) % WINDOW) as u8;
        self.filled = self.filled.saturating_add(1).min(WINDOW as u8);
        leap
    }

    /// The window, oldest first.
    pub fn window(&self) -> impl Iterator<Item = f32> + '_ {
        let n = usize::from(self.filled).min(WINDOW);
        let start = if n < WINDOW {
            0
        } else {
            usize::from(self.pos) % WINDOW
        };
        (0..n).map(move |i| self.buf[(start + i) % WINDOW])
    }

    /// The firing limit of the current turn of the window (0.1 until the window is first
    /// full).
    pub fn limit(&self) -> f32 {
        self.limit
    }

    /// Whether a decoded state is one [`Ldt::push`] can produce.
    pub(crate) fn is_valid(&self) -> bool {
        usize::from(self.pos) < WINDOW
            && usize::from(self.filled) <= WINDOW
            && (usize::from(self.filled) == WINDOW || self.pos == self.filled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_until_full_then_silent_on_steady_data() {
        let mut l = Ldt::new();
        for _ in 0..WINDOW {
            assert_eq!(l.push(7.0), None);
        }
        for _ in 0..100 {
            let leap = l.push(7.0).unwrap();
            assert_eq!(leap.chi, 0.0);
            assert!(!leap.fired());
        }
        // All zeros: no score at all.
        let mut z = Ldt::new();
        for _ in 0..3 * WINDOW {
            assert!(z.push(0.0).is_none_or(|leap| !leap.fired()));
        }
    }

    #[test]
    fn fires_on_a_leap_up_and_down() {
        let mut l = Ldt::new();
        for _ in 0..WINDOW {
            l.push(10.0);
        }
        // Σ = 100, m = 200/11, d = 2000: χ = 900/√2000 ≈ 20 against a limit of 0.2.
        let leap = l.push(100.0).unwrap();
        assert!(
            (leap.chi - 900.0 / libm::sqrtf(2000.0)).abs() < 1e-3,
            "{leap:?}"
        );
        assert!((leap.limit - 0.2).abs() < 1e-6);
        assert!(leap.fired());
        let mut l = Ldt::new();
        for _ in 0..WINDOW {
            l.push(100.0);
        }
        assert!(l.push(10.0).unwrap().fired());
    }

    #[test]
    fn the_limit_follows_the_previous_turns_largest_excursion() {
        // Poisson-like noise 8..12 with a peak of 12: a later 12 is no leap, 30 is.
        let noise = [10.0, 9.0, 11.0, 12.0, 8.0, 10.0, 11.0, 9.0, 10.0, 10.0];
        let mut l = Ldt::new();
        for x in noise {
            l.push(x);
        }
        let leap = l.push(12.0).unwrap();
        assert!(!leap.fired(), "{leap:?}");
        assert!(leap.limit > 0.2);
        for x in &noise[1..] {
            l.push(*x);
        }
        assert!(l.push(30.0).unwrap().fired());
    }

    #[test]
    fn window_is_oldest_first() {
        let mut l = Ldt::new();
        for x in 0..13 {
            l.push(x as f32);
        }
        let w: std::vec::Vec<f32> = l.window().collect();
        assert_eq!(w, [3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]);
        assert!(l.is_valid());
    }
}
