//! Property tests of the learner state codec: arbitrary bytes never panic, a flipped bit
//! of a valid state is always refused, and any learner part that passes the checksum
//! either decodes to a state whose re-encoding decodes to itself or is refused cleanly.

use super::*;
use crate::stats::learner::tests::{month, table};
use crate::stats::learner::{Report, Sample};
use proptest::collection::vec;
use proptest::prelude::*;
use std::sync::OnceLock;
use std::{vec, vec::Vec};

/// `n` cases unless PROPTEST_CASES says otherwise (the soak run raises it).
fn cases(n: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n);
    ProptestConfig::with_cases(n)
}

fn to_vec(learner: &Learner, table: &Table) -> Vec<u8> {
    let mut v = vec![0; ENCODED_LEN];
    assert_eq!(encode(learner, table, &mut v), Ok(ENCODED_LEN));
    v
}

/// A state that has learned a few days of eight observables (so that every part of the
/// learner holds non-zero values), encoded once for all cases.
fn learned() -> &'static [u8] {
    static STATE: OnceLock<Vec<u8>> = OnceLock::new();
    STATE.get_or_init(|| {
        let (mut t, mut l) = (table(), Learner::new(0.7));
        let ids: Vec<ObsId> = (0..8).filter_map(ObsId::new).collect();
        let (mut sample, mut report, mut k) = (Sample::new(), Report::new(), 0);
        month(3, ids.len(), |time, xs| {
            if k < 3_000 {
                for (id, x) in ids.iter().zip(xs) {
                    sample.set(*id, *x as f32);
                }
                l.sample(&mut t, time, &sample, &mut report);
            }
            k += 1;
        });
        to_vec(&l, &t)
    })
}

fn reseal(v: &mut [u8]) {
    let n = v.len() - DIGEST_LEN;
    let digest = Sha256::digest(&v[..n]);
    v[n..].copy_from_slice(&digest);
}

/// Decodes whole and (with std) streamed; the two readers must agree.
fn both(bytes: &[u8]) -> Result<(Learner, Box<Table>), PersistError> {
    let (mut t1, mut l1) = (table(), Learner::default());
    let whole = decode(bytes, &mut l1, &mut t1);
    #[cfg(feature = "std")]
    {
        let (mut t2, mut l2) = (table(), Learner::default());
        let streamed = read_from(&mut &bytes[..], &mut l2, &mut t2);
        assert_eq!(whole.is_ok(), streamed.is_ok(), "{whole:?} / {streamed:?}");
        if whole.is_ok() {
            assert!(
                to_vec(&l1, &t1) == to_vec(&l2, &t2),
                "the two readers decode alike"
            );
        }
    }
    whole.map(|()| (l1, t1))
}

proptest! {
    #![proptest_config(cases(256))]

    /// Short arbitrary bytes, with or without a valid header: an error, never a panic.
    #[test]
    fn prop_state_arbitrary_bytes_are_refused(
        bytes in vec(any::<u8>(), 0..300),
        header in any::<bool>(),
    ) {
        let mut v = Vec::new();
        if header {
            v.extend_from_slice(&learned()[..HEADER_LEN]);
        }
        v.extend_from_slice(&bytes);
        prop_assert!(both(&v).is_err());
    }
}

proptest! {
    // each case hashes 2 MB three times in a debug build (about 0.3 s)
    #![proptest_config(cases(8))]

    /// One flipped bit anywhere: refused (magic, version, shape or checksum), and the
    /// caller's learner and table stay untouched.
    #[test]
    fn prop_state_bit_flip_is_refused(at in any::<proptest::sample::Index>(), bit in 0u8..8) {
        let mut v = learned().to_vec();
        let i = at.index(v.len());
        v[i] ^= 1 << bit;
        prop_assert!(both(&v).is_err(), "flip of bit {} at byte {} accepted", bit, i);
    }
}

proptest! {
    // each case hashes 2 MB up to six times (about 1 s in a debug build)
    #![proptest_config(cases(3))]

    /// Arbitrary bytes written over part of the learner, the checksum made to match (a
    /// forger, or a bug): never a panic; when accepted, re-encoding is a fixed point.
    #[test]
    fn prop_state_resealed_learner_garbage_is_ok_or_error(
        at in any::<proptest::sample::Index>(),
        garbage in vec(any::<u8>(), 1..64),
    ) {
        let mut v = learned().to_vec();
        let start = HEADER_LEN + at.index(TABLE_OFFSET - HEADER_LEN);
        let end = (start + garbage.len()).min(TABLE_OFFSET);
        v[start..end].copy_from_slice(&garbage[..end - start]);
        reseal(&mut v);
        // Unused slots (persistent classes past the count, names past theirs) are not
        // read back, so the property is that one decode normalises: a second round trip
        // changes nothing.
        if let Ok((l, t)) = both(&v) {
            let once = to_vec(&l, &t);
            let (l2, t2) = both(&once).expect("a re-encoded state decodes");
            prop_assert!(to_vec(&l2, &t2) == once, "decoding is not stable");
        }
    }
}

#[test]
fn prop_state_round_trips() {
    let v = learned();
    let (l, t) = both(v).expect("a learned state decodes");
    assert!(to_vec(&l, &t) == v);
}
