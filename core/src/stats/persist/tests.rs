//! Unit tests of the learner's persisted state.

use super::*;
use crate::stats::learner::tests::{month, table, T0};
use crate::stats::learner::{Report, Sample};
use std::{vec, vec::Vec};

fn to_vec(learner: &Learner, table: &Table) -> Vec<u8> {
    let mut v = vec![0; ENCODED_LEN];
    assert_eq!(encode(learner, table, &mut v), Ok(ENCODED_LEN));
    v
}

/// Feeds a month of 12 observables (4 of them registered by name) through `learner`,
/// samples `from..to` only, returning every report.
fn run(learner: &mut Learner, table: &mut Table, from: usize, to: usize) -> Vec<Report> {
    let ids: Vec<ObsId> = (0..8)
        .filter_map(ObsId::new)
        .chain(
            ["a", "b", "c", "d"]
                .iter()
                .map(|n| learner.registry_mut().register(n).unwrap()),
        )
        .collect();
    let (mut out, mut k, mut sample, mut report) = (Vec::new(), 0, Sample::new(), Report::new());
    month(7, ids.len(), |t, xs| {
        if (from..to).contains(&k) {
            for (id, x) in ids.iter().zip(xs) {
                sample.set(*id, *x as f32);
            }
            learner.sample(table, t, &sample, &mut report);
            out.push(report.clone());
        }
        k += 1;
    });
    out
}

#[test]
fn a_restart_changes_nothing() {
    let (mut t1, mut one) = (table(), Learner::new(0.7));
    let whole = run(&mut one, &mut t1, 0, 12_000);

    let (mut t2, mut first) = (table(), Learner::new(0.7));
    let mut parts = run(&mut first, &mut t2, 0, 5_000);
    let bytes = to_vec(&first, &t2);
    let (mut t3, mut second) = (table(), Learner::default());
    decode(&bytes, &mut second, &mut t3).unwrap();
    assert_eq!(second, first);
    assert_eq!(
        to_vec(&second, &t3),
        bytes,
        "decode then encode is the identity"
    );
    parts.extend(run(&mut second, &mut t3, 5_000, 12_000));

    assert_eq!(parts.len(), whole.len());
    for (a, b) in parts.iter().zip(&whole) {
        for ((_, x), (_, y)) in a.iter().zip(b.iter()) {
            assert_eq!(x.expect.to_bits(), y.expect.to_bits());
            assert_eq!(x.stddev.to_bits(), y.stddev.to_bits());
            assert_eq!(x.local_expect.to_bits(), y.local_expect.to_bits());
            assert_eq!(x.dev.to_bits(), y.dev.to_bits());
        }
        assert_eq!(a, b);
    }
    assert_eq!(to_vec(&second, &t3), to_vec(&one, &t1));
    assert!(one.persistent(T0 + 12_000 * 150).count() < PERSISTENT_CAP);
}

#[test]
fn every_number_is_little_endian() {
    let (mut t, l) = (table(), Learner::default());
    t[0][0].expect = 1.0;
    let v = to_vec(&l, &t);
    assert_eq!(
        v.len(),
        2_077_784,
        "docs/design-decisions.md gives this size"
    );
    assert_eq!(&v[..8], MAGIC);
    assert_eq!(&v[8..10], &[1, 0]);
    assert_eq!(&v[10..12], &(2016u16).to_le_bytes());
    assert_eq!(
        &v[TABLE_OFFSET..TABLE_OFFSET + 4],
        &[0x00, 0x00, 0x80, 0x3f]
    );
    assert_eq!(&v[HEADER_LEN..HEADER_LEN + 4], &0.6f32.to_le_bytes());
}

#[test]
fn errors_say_what_is_wrong() {
    let (mut t, mut l) = (table(), Learner::default());
    let good = to_vec(&l, &t);
    let fails = |bytes: &[u8], l: &mut Learner, t: &mut Table| decode(bytes, l, t).unwrap_err();

    assert_eq!(
        fails(b"HMSTDB\0\0garbage garbage", &mut l, &mut t),
        PersistError::BadMagic
    );
    assert!(matches!(
        fails(b"HMST", &mut l, &mut t),
        PersistError::Size { found: 4, .. }
    ));
    let mut v = good.clone();
    v[8] = 2;
    assert_eq!(
        fails(&v, &mut l, &mut t),
        PersistError::Version { found: 2 }
    );
    assert!(matches!(
        fails(&good[..good.len() - 1], &mut l, &mut t),
        PersistError::Size {
            expected: ENCODED_LEN,
            ..
        }
    ));
    let mut v = good.clone();
    v[TABLE_OFFSET + 1000] ^= 1;
    assert_eq!(fails(&v, &mut l, &mut t), PersistError::Checksum);
    assert!(
        t.iter().flatten().all(|p| *p == Pair::ZERO),
        "the table is untouched"
    );

    // A valid checksum over an impossible value.
    let mut v = good.clone();
    v[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&5.0f32.to_le_bytes());
    let n = v.len() - DIGEST_LEN;
    let digest = Sha256::digest(&v[..n]);
    v[n..].copy_from_slice(&digest);
    assert_eq!(
        fails(&v, &mut l, &mut t),
        PersistError::Corrupt("forget rate")
    );

    let mut small = [0u8; 100];
    assert_eq!(
        encode(&l, &t, &mut small),
        Err(PersistError::BufferTooSmall {
            needed: ENCODED_LEN,
            found: 100
        })
    );
    use std::string::ToString;
    assert_eq!(
        PersistError::Version { found: 2 }.to_string(),
        "learner state format version 2; this build reads version 1"
    );
}

#[cfg(feature = "std")]
#[test]
fn std_reader_and_writer() {
    let (mut t, mut l) = (table(), Learner::new(0.5));
    l.registry_mut().register("grow_total").unwrap();
    t[5][7] = Pair {
        expect: 3.0,
        var: 2.0,
    };
    let mut file = Vec::new();
    write_to(&l, &t, &mut file).unwrap();
    assert_eq!(file.len(), ENCODED_LEN);
    let (mut t2, mut l2) = (table(), Learner::default());
    read_from(&mut file.as_slice(), &mut l2, &mut t2).unwrap();
    assert_eq!(l2, l);
    assert_eq!(t2[5][7], t[5][7]);
    let err = read_from(&mut &file[..10], &mut l2, &mut t2).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
}
