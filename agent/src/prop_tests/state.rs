//! State files an intruder or a crash may leave damaged: the history ring, the monitor's
//! and the rules' JSON records, peer pins and the journal's tail. Arbitrary and mutated
//! bytes load as a value or an error, never a panic; what is saved loads back.

use std::fs;

use homeostat_core::journal;
use homeostat_linux::StateDir;
use proptest::collection::vec;
use proptest::prelude::*;

use super::cases;
use crate::journal::file as jfile;
use crate::monitor::{history, peaks::Extras};
#[cfg(feature = "peers")]
use crate::peers::pins::{key_hex, parse_key, Pin, Pins};
use crate::policy::rules::state::{self as rstate, RulesState};

/// A valid history, encoded once (822 KB).
fn history_bytes() -> &'static [u8] {
    static H: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    H.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let mut s = StateDir::new(d.path());
        history::History::default().save(&mut s).unwrap();
        fs::read(d.path().join(history::FILE)).unwrap()
    })
}

proptest! {
    #![proptest_config(cases(16))]

    /// The history ring with one bit flipped, cut short or with bytes appended: refused
    /// with `InvalidData`, never a panic.
    #[test]
    fn prop_history_damaged_is_refused(
        at in any::<proptest::sample::Index>(),
        bit in 0u8..8,
        how in 0u8..3,
    ) {
        let d = tempfile::tempdir().unwrap();
        let mut b = history_bytes().to_vec();
        let i = at.index(b.len());
        match how {
            0 => b[i] ^= 1 << bit,
            1 => b.truncate(i),
            _ => b.push(bit),
        }
        fs::write(d.path().join(history::FILE), &b).unwrap();
        let got = history::History::load(&mut StateDir::new(d.path()));
        prop_assert!(got.is_err(), "damage {} at {} accepted", how, i);
    }
}

proptest! {
    #![proptest_config(cases(64))]

    /// Arbitrary short bytes as the history: refused.
    #[test]
    fn prop_history_arbitrary_is_refused(b in vec(any::<u8>(), 0..200)) {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join(history::FILE), &b).unwrap();
        prop_assert!(history::History::load(&mut StateDir::new(d.path())).is_err());
    }

    /// The JSON records (`monitor.state`, `rules.state`): any bytes, or a saved record
    /// mutated, load as a record or (rules) an error; a saved record loads back.
    #[test]
    fn prop_json_state_records_load_or_refuse(
        peaks in vec(("[a-z_]{1,10}", any::<i64>()), 0..4),
        classes in vec("[a-z_]{1,10}", 0..4),
        edits in vec((any::<usize>(), prop_oneof![Just(b'"'), Just(b'}'), Just(b','), Just(b'9'), any::<u8>()]), 0..4),
        raw in vec(any::<u8>(), 0..100),
    ) {
        let d = tempfile::tempdir().unwrap();
        let mut s = StateDir::new(d.path());
        let mut m = Extras { last_t: peaks.len() as i64, last_classes: classes.clone(), ..Extras::default() };
        m.listening = peaks.iter().map(|(n, p)| (n.clone(), *p as u16, "::".to_owned())).collect();
        m.save(&mut s).unwrap();
        prop_assert_eq!(&Extras::load(&mut s), &m);
        let mut r = RulesState { last_t: 7, last_classes: classes, ..RulesState::default() };
        for (n, t) in &peaks {
            r.last_fired.insert(n.clone(), *t);
        }
        r.save(&mut s).unwrap();
        prop_assert_eq!(&RulesState::load(&mut s).unwrap(), &r);
        for (file, original) in [(crate::monitor::peaks::FILE, fs::read(d.path().join(crate::monitor::peaks::FILE)).unwrap()),
                                 (rstate::FILE, fs::read(d.path().join(rstate::FILE)).unwrap())] {
            for bytes in [apply(original, &edits), raw.clone()] {
                fs::write(d.path().join(file), &bytes).unwrap();
                let _ = Extras::load(&mut s);
                let _ = RulesState::load(&mut s);
            }
        }
    }

    /// Peer pins: a key written by `pin` reads back; any other bytes in a pin file give
    /// `Unreadable` or a key, never a panic.
    #[cfg(feature = "peers")]
    #[test]
    fn prop_pins_parse_or_refuse(
        seed in any::<[u8; 32]>(),
        raw in prop_oneof![vec(any::<u8>(), 0..100), "[ \t\n0-9a-fA-F+-]{60,70}".prop_map(String::into_bytes)],
    ) {
        let key = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
        prop_assert_eq!(parse_key(key_hex(&key).as_bytes()), Some(key));
        prop_assert_eq!(parse_key(format!(" {}\n", key_hex(&key)).as_bytes()), Some(key));
        let d = tempfile::tempdir().unwrap();
        let pins = Pins::open(d.path()).unwrap();
        pins.pin("a", &key).unwrap();
        prop_assert_eq!(pins.pinned("a").unwrap(), Pin::Key(key));
        fs::write(pins.key_file("b"), &raw).unwrap();
        match pins.pinned("b").unwrap() {
            Pin::Key(k) => prop_assert_eq!(Some(k), parse_key(&raw)),
            Pin::Unreadable => prop_assert!(parse_key(&raw).is_none()),
            Pin::None => prop_assert!(false, "a pin file exists"),
        }
    }

    /// The journal: whatever bytes a journal file holds (a torn write, an edit), its tail
    /// is read without a panic, and events appended after it end in a well-formed line
    /// that continues the chain.
    #[test]
    fn prop_journal_tail_and_append(
        garbage in vec(prop_oneof![Just(b'\n'), Just(b'{'), Just(b'"'), any::<u8>()], 0..300),
        n in 1usize..4,
    ) {
        let d = tempfile::tempdir().unwrap();
        let path = jfile::path(d.path());
        fs::write(&path, &garbage).unwrap();
        let before = jfile::tail(&fs::File::open(&path).unwrap()).unwrap();
        let events: Vec<Vec<u8>> = (0..n).map(|i| format!("{{\"type\":\"t{i}\"}}").into_bytes()).collect();
        let appended = jfile::append(&path, &events, false).unwrap();
        let after = jfile::tail(&fs::File::open(&path).unwrap()).unwrap();
        prop_assert_eq!(after.next, before.next + n as u64);
        prop_assert_eq!(appended.head, after.head());
        prop_assert_eq!(after.damaged, None);
        let text = fs::read(&path).unwrap();
        prop_assert!(text.ends_with(b"\n"));
        let last = text[..text.len() - 1].rsplit(|b| *b == b'\n').next().unwrap();
        let f = journal::parse(last).expect("the appended line is well formed");
        prop_assert_eq!(f.seq, after.next - 1);
    }
}

/// Sets or inserts bytes of `b` at the given offsets.
fn apply(mut b: Vec<u8>, edits: &[(usize, u8)]) -> Vec<u8> {
    for (at, x) in edits {
        let i = at % (b.len() + 1);
        if i < b.len() && x % 2 == 0 {
            b[i] = *x;
        } else {
            b.insert(i, *x);
        }
    }
    b
}
