//! Property tests of `logscan.state`: a state saved loads back equal whatever its paths
//! and string values hold; any bytes, or a saved state mutated, load as a state or an
//! error naming the line, never a panic.

use std::fs;

use homeostat_core::logscan::{Mtime, Saved, TailPos};
use proptest::collection::vec;
use proptest::prelude::*;

use super::state::{Last, State, STATE_FILE};
use crate::platform::StateDir;

fn pos() -> impl Strategy<Value = Option<TailPos>> {
    proptest::option::of(
        (
            any::<(u64, u64, u64, i64)>(),
            0u32..1_000_000_000,
            any::<bool>(),
        )
            .prop_map(|((dev, ino, offset, sec), nsec, skipping)| {
                let mut p = TailPos::start(dev, ino, Mtime { sec, nsec });
                p.offset = offset;
                p.skipping = skipping;
                p
            }),
    )
}

fn last() -> impl Strategy<Value = Last> {
    prop_oneof![
        any::<i64>().prop_map(Last::Int),
        any::<f64>()
            .prop_filter("NaN is not equal to itself", |v| !v.is_nan())
            .prop_map(Last::Real),
        vec(any::<u8>(), 0..30).prop_map(Last::Str),
    ]
}

fn state() -> impl Strategy<Value = State> {
    (
        vec(
            (
                ("[a-z_][a-z0-9_]{0,10}", vec(any::<u8>(), 0..30)),
                pos(),
                pos(),
            ),
            0..4,
        ),
        vec(("[a-z_][a-z0-9_]{0,10}", last()), 0..4),
    )
        .prop_map(|(pos, last)| State {
            pos: pos
                .into_iter()
                .map(|(k, cur, prev)| (k, Saved { cur, prev }))
                .collect(),
            last: last.into_iter().collect(),
        })
}

fn load(bytes: &[u8]) -> Result<State, super::Error> {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join(STATE_FILE), bytes).unwrap();
    State::load(&mut StateDir::new(d.path()))
}

proptest! {
    // every save is fsync'd
    #![proptest_config(crate::prop_tests::cases(64))]

    /// Save then load is the identity.
    #[test]
    fn prop_logscan_state_round_trips(s in state()) {
        let d = tempfile::tempdir().unwrap();
        let mut store = StateDir::new(d.path());
        s.save(&mut store).unwrap();
        prop_assert_eq!(State::load(&mut store).unwrap(), s);
    }

    /// A saved state with bytes set, inserted or cut, or arbitrary bytes: a state or an
    /// error whose message holds no control character, never a panic.
    #[test]
    fn prop_logscan_state_damaged_loads_or_refuses(
        s in state(),
        edits in vec((any::<usize>(), prop_oneof![Just(b' '), Just(b'\n'), Just(b'\\'), Just(b'-'), Just(b'x'), any::<u8>()]), 0..6),
        cut in proptest::option::of(any::<usize>()),
        raw in proptest::option::of(vec(any::<u8>(), 0..200)),
    ) {
        let d = tempfile::tempdir().unwrap();
        let mut store = StateDir::new(d.path());
        s.save(&mut store).unwrap();
        let mut b = fs::read(d.path().join(STATE_FILE)).unwrap();
        for (at, x) in edits {
            let i = at % (b.len() + 1);
            if i < b.len() && x % 2 == 0 { b[i] = x } else { b.insert(i, x) }
        }
        if let Some(c) = cut {
            b.truncate(c % (b.len() + 1));
        }
        for bytes in [b, raw.unwrap_or_default()] {
            if let Err(super::Error::State(m) | super::Error::Io(m)) = load(&bytes) {
                prop_assert!(!m.chars().any(char::is_control), "{:?}", m);
            }
        }
    }
}
