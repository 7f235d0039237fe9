//! What a scenario promises ([`Spec`]), held to the oracle's diff ([`resolve`]) to give
//! the exact [`Expected`] findings and the exit status they make ([`mask`]).

use std::collections::{BTreeMap, BTreeSet};

use crate::fixture::Fixture;
use crate::snapshot::Delta;
use crate::text::esc;

/// What a scenario promises for one path.
#[derive(Clone, Debug)]
pub enum Spec {
    Added,
    Removed,
    /// Changed in exactly these attributes (report order).
    Changed(&'static [&'static str]),
    /// A directory whose entries changed: mtime and ctime, nlink when a subdirectory
    /// came or went, and size only where the file system counts entries in a
    /// directory's size (tmpfs, btrfs; ext4/xfs keep a block-sized size).
    Dir {
        nlink: bool,
    },
}

/// The check of a scenario: path → (raw absolute path, expected delta).
pub type Expected = BTreeMap<String, (Vec<u8>, Delta)>;

/// Holds the oracle's diff to the scenario's promises and returns the exact expectations.
pub fn resolve(
    fx: &Fixture,
    spec: &[(&[u8], Spec)],
    oracle: &BTreeMap<Vec<u8>, Delta>,
) -> Expected {
    let mut out = Expected::new();
    let want: BTreeMap<Vec<u8>, &Spec> = spec.iter().map(|(r, s)| (fx.abs(r), s)).collect();
    let got: BTreeSet<&Vec<u8>> = oracle.keys().collect();
    let wanted: BTreeSet<&Vec<u8>> = want.keys().collect();
    assert_eq!(
        got.iter().map(|p| esc(p)).collect::<Vec<_>>(),
        wanted.iter().map(|p| esc(p)).collect::<Vec<_>>(),
        "test precondition: the tampering touched other paths than the scenario says \
         (oracle: {oracle:?})"
    );
    for (abs, s) in want {
        let delta = &oracle[&abs];
        match (s, delta) {
            (Spec::Added, Delta::Added) | (Spec::Removed, Delta::Removed) => {}
            (Spec::Changed(attrs), Delta::Changed(d)) => assert_eq!(
                d.as_slice(),
                *attrs,
                "test precondition: the file system changed {} in {d:?}, the scenario says {attrs:?}",
                esc(&abs)
            ),
            (Spec::Dir { nlink }, Delta::Changed(d)) => {
                let mut core: Vec<&str> = d.iter().copied().filter(|a| *a != "size").collect();
                core.sort_unstable();
                let mut w = vec!["ctime", "mtime"];
                if *nlink {
                    w.push("nlink");
                }
                assert_eq!(
                    core,
                    w,
                    "test precondition: directory {} changed in {d:?}",
                    esc(&abs)
                );
            }
            _ => panic!("test precondition: {} is {delta:?}, the scenario says {s:?}", esc(&abs)),
        }
        out.insert(esc(&abs), (abs.clone(), delta.clone()));
    }
    out
}

/// The exit status a check must give for `exp`.
pub fn mask(exp: &Expected) -> i32 {
    exp.values().fold(0, |m, (_, d)| {
        m | match d {
            Delta::Added => 1,
            Delta::Removed => 2,
            Delta::Changed(_) => 4,
        }
    })
}
