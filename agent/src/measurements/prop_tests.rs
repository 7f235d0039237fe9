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

/// A `[[measure]]` block of `kind` over `patterns`, compiled by the configuration.
fn measure(
    patterns: &[String],
    kind: &str,
    extract: Option<usize>,
) -> Option<crate::config::Config> {
    let list: Vec<String> = patterns.iter().map(|p| format!("{p:?}")).collect();
    let extract = extract.map_or(String::new(), |n| format!("extract = {n}\n"));
    let text = format!(
        "[[measure]]\nname = \"m\"\nfile = \"/var/log/x\"\nmatch = [{}]\nkind = \"{kind}\"\n{extract}",
        list.join(", ")
    );
    crate::config::Config::parse(&text, "prop").ok()
}

/// A pattern from a small grammar: atoms (with groups to extract), quantifiers, anchors.
fn pattern() -> impl Strategy<Value = String> {
    let atom = proptest::sample::select(
        &[
            "a", "b", "0", " ", "[ab]", "\\d", ".", "^", "$", "(a|b)", "([0-9]+)", "(a*)", "(.)",
        ][..],
    );
    let q = proptest::sample::select(&["", "", "*", "+", "?", "{1,2}"][..]);
    vec((atom, q), 1..5).prop_map(|v| {
        v.into_iter()
            .map(|(a, q)| {
                if matches!(a, "^" | "$") {
                    a.to_owned()
                } else {
                    format!("{a}{q}")
                }
            })
            .collect()
    })
}

proptest! {
    // About half the blocks are refused (a kind or `extract` needing a group the
    // patterns lack) and drawn again.
    #![proptest_config(ProptestConfig {
        max_global_rejects: 1 << 20,
        ..crate::prop_tests::cases(128)
    })]

    /// Searching a region of whole lines at once adds up to exactly what matching each
    /// line alone does: counts, sums, keys and the last string. Patterns and lines are
    /// drawn from one small alphabet so that they match often, across line ends too.
    #[test]
    fn prop_region_search_equals_line_by_line(
        patterns in vec(pattern(), 1..3),
        kind in proptest::sample::select(&["counter", "int", "real", "string"][..]),
        extract in proptest::option::of(1usize..3),
        lines in vec(vec(proptest::sample::select(&b"ab01 .-\xff"[..]), 0..20), 0..12),
    ) {
        let cfg = measure(&patterns, kind, extract);
        // Patterns that do not compile are the configuration's business: draw again.
        prop_assume!(cfg.is_some());
        let cfg = cfg.unwrap();
        let m = &cfg.measures[0];
        let mut region = Vec::new();
        for l in &lines {
            region.extend_from_slice(l);
            region.push(b'\n');
        }
        let mut whole = super::matcher::Matcher::new(m);
        homeostat_core::feed::LineSink::region(&mut whole, &region);
        let mut each = super::matcher::Matcher::new(m);
        for l in &lines {
            homeostat_core::feed::LineSink::line(&mut each, l);
        }
        prop_assert_eq!(whole.acc.tally, each.acc.tally);
        prop_assert_eq!(&whole.acc.keys, &each.acc.keys);
        prop_assert_eq!(&whole.acc.last_string, &each.acc.last_string);
    }
}

/// Found by `prop_region_search_equals_line_by_line`: searching a region of whole lines,
/// an empty match after its final newline (`^$`, `$^`) counted one line too many; the
/// same lines one by one count none.
#[test]
fn regression_region_counts_empty_match_after_last_line() {
    for (pattern, kind) in [("^$", "counter"), ("$^", "counter"), ("^()$", "string")] {
        let cfg = measure(&[pattern.to_owned()], kind, None).unwrap();
        let mut m = super::matcher::Matcher::new(&cfg.measures[0]);
        homeostat_core::feed::LineSink::region(&mut m, b"a\n\nb\n");
        assert_eq!(m.acc.tally.lines, 1, "{pattern} {kind}: one empty line");
    }
}
