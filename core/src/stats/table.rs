//! The normal-state table: one {expect, var} pair per five-minute slot of the week and
//! observable, 2,064,384 bytes, placed by the caller.
//!
//! It is a plain array rather than a struct so that it can be built in place without
//! `unsafe`: a `static` (`.bss`, via `static_cell::ConstStaticCell::new(table::zeroed())`)
//! on firmware, `boxed()` (feature `alloc`) on hosts. Either way no 2 MB value ever passes
//! over the stack.

use super::observables::OBSERVABLES;

/// Slots in a week: 7 × 24 × 12.
pub const SLOTS: usize = 2016;
/// Length of a slot (cf-monitord's `CF_MEASURE_INTERVAL`).
pub const SLOT_SECONDS: i64 = 300;
/// Length of a week, the table's period: 7 × 86,400 seconds.
pub const WEEK_SECONDS: i64 = 604_800;
/// The first Monday 00:00 UTC after the epoch (1970-01-05; the epoch was a Thursday).
pub const FIRST_MONDAY: i64 = 4 * 86_400;

/// A weekly or local average: expectation and variance.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(C)]
pub struct Pair {
    /// The expected value, a weighted running average, in the observable's unit.
    pub expect: f32,
    /// The variance around it (the unit squared); never negative as the learner writes it.
    pub var: f32,
}

impl Pair {
    /// Nothing learned: expectation and variance 0.
    pub const ZERO: Pair = Pair {
        expect: 0.0,
        var: 0.0,
    };

    /// √var.
    pub fn stddev(self) -> f32 {
        libm::sqrtf(self.var)
    }

    /// Negative (or not finite) parts read as 0, as cf-monitord clamps what it reads.
    pub(crate) fn sane(self) -> Pair {
        let clamp = |v: f32| if v > 0.0 && v.is_finite() { v } else { 0.0 };
        Pair {
            expect: clamp(self.expect),
            var: clamp(self.var),
        }
    }
}

/// One slot: a pair per observable.
pub type Row = [Pair; OBSERVABLES];

/// The whole week.
pub type Table = [Row; SLOTS];

/// The size the design promises.
pub const TABLE_BYTES: usize = 2_064_384;
const _: () = assert!(core::mem::size_of::<Table>() == TABLE_BYTES);
const _: () = assert!(SLOTS as i64 * SLOT_SECONDS == WEEK_SECONDS);

/// An all-zero table, for `static` placement (it lands in `.bss`).
pub const fn zeroed() -> Table {
    [[Pair::ZERO; OBSERVABLES]; SLOTS]
}

/// An all-zero table on the heap, built in place.
#[cfg(feature = "alloc")]
pub fn boxed() -> alloc::boxed::Box<Table> {
    let rows = alloc::vec![[Pair::ZERO; OBSERVABLES]; SLOTS].into_boxed_slice();
    match rows.try_into() {
        Ok(table) => table,
        // The length is SLOTS by construction.
        Err(_) => unreachable!("table of {SLOTS} rows"),
    }
}

/// The slot of epoch second `t`: slot 0 is Monday 00:00–00:05 UTC, 2015 Sunday 23:55.
pub const fn slot(t: i64) -> usize {
    ((t - FIRST_MONDAY).rem_euclid(WEEK_SECONDS) / SLOT_SECONDS) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_utc_from_monday() {
        // 2024-01-01 was a Monday.
        let monday = 1_704_067_200;
        assert_eq!(slot(monday), 0);
        assert_eq!(slot(monday + 299), 0);
        assert_eq!(slot(monday + 300), 1);
        assert_eq!(slot(monday + 6 * 86_400 + 23 * 3600 + 55 * 60), 2015);
        assert_eq!(slot(monday + WEEK_SECONDS - 1), 2015);
        assert_eq!(slot(monday + WEEK_SECONDS), 0);
        assert_eq!(slot(FIRST_MONDAY), 0);
        // Epoch 0: Thursday 00:00 = 3 days into the week.
        assert_eq!(slot(0), 3 * 288);
        // Before the epoch still lands on the right weekday.
        assert_eq!(slot(-1), 3 * 288 - 1);
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn boxed_is_zero() {
        let t = boxed();
        assert!(t.iter().flatten().all(|p| *p == Pair::ZERO));
    }

    #[test]
    fn the_table_is_the_promised_size() {
        assert_eq!(core::mem::size_of::<Table>(), 2016 * 128 * 2 * 4);
    }
}
