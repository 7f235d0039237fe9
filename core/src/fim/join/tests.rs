//! Unit tests of the join of a walk with a database.

use super::*;
use crate::digest::{digest, Algorithm};
use crate::fim::attrs::Attr;
use crate::fim::entry::{Meta, FLAG_UNREADABLE};
extern crate std;
use std::vec::Vec;

type E = Entry<&'static [u8]>;

fn file(path: &'static [u8], content: &[u8]) -> E {
    let mut m = Meta::empty(Kind::File);
    m.mode = 0o644;
    m.size = content.len() as u64;
    m.content = Some(digest(Algorithm::Sha256, content));
    Entry {
        path,
        target: None,
        meta: m,
    }
}

fn dir(path: &'static [u8]) -> E {
    let mut m = Meta::empty(Kind::Dir);
    m.mode = 0o755;
    Entry {
        path,
        target: None,
        meta: m,
    }
}

fn setuid(mut e: E) -> E {
    e.meta.mode = 0o4755;
    e
}

fn unreadable(mut e: E) -> E {
    e.meta.flags = FLAG_UNREADABLE;
    e.meta.content = None;
    e
}

/// One live head: an entry, or a path that could not be examined.
#[derive(Clone)]
enum L {
    S(E),
    Unknown(&'static [u8]),
    Gone(&'static [u8]),
}

fn live(l: &L) -> Live<'_, &'static [u8]> {
    match l {
        L::S(e) => Live::Seen(e),
        L::Unknown(p) => Live::Unseen {
            path: p,
            gone: false,
        },
        L::Gone(p) => Live::Unseen {
            path: p,
            gone: true,
        },
    }
}

/// Runs the whole join; returns per step (path, finding, setuid, keep).
fn run(
    mode: Mode<'_, &[u8]>,
    old: &[E],
    new: &[L],
) -> Vec<(&'static [u8], Option<Finding>, bool, Keep)> {
    let mut j: Join<'_, &[u8]> = Join::new(mode, Attrs::ALL);
    let (mut o, mut n) = (0, 0);
    let mut out = Vec::new();
    while let Some(s) = j.step(old.get(o), new.get(n).map(live)) {
        let path = if s.new {
            match &new[n] {
                L::S(e) => e.path,
                L::Unknown(p) | L::Gone(p) => p,
            }
        } else {
            old[o].path
        };
        out.push((path, s.decision.finding, s.decision.setuid, s.decision.keep));
        o += usize::from(s.old);
        n += usize::from(s.new);
    }
    assert_eq!(o, old.len());
    assert_eq!(n, new.len());
    assert_eq!(j.changed(), out.iter().any(|r| r.1.is_some()));
    out
}

const CHECK: Mode<'static, &'static [u8]> = Mode::Check { update: false };
const CONTENT: Finding = Finding::Changed(Attrs::EMPTY.with(Attr::Content));

#[test]
fn check_reports_added_removed_changed_in_path_order() {
    let old = [
        dir(b"/t"),
        file(b"/t/a", b"1"),
        file(b"/t/b", b"2"),
        file(b"/t/d", b"4"),
    ];
    let new = [
        L::S(dir(b"/t")),
        L::S(file(b"/t/a", b"1")),
        L::S(file(b"/t/b", b"X")),
        L::S(file(b"/t/c", b"3")),
    ];
    use Keep::*;
    assert_eq!(
        run(CHECK, &old, &new),
        [
            (&b"/t"[..], None, false, New),
            (b"/t/a", None, false, New),
            (b"/t/b", Some(CONTENT), false, New),
            (b"/t/c", Some(Finding::Added), false, New),
            (b"/t/d", Some(Finding::Removed), false, Nothing),
        ]
    );
}

/// The policy table: (mode, old, new) → (finding, setuid, keep).
#[test]
fn policy_table() {
    let only: [&[u8]; 1] = [b"/t/sel"];
    let upd_all = Mode::Update { only: &[] };
    let upd_sel = Mode::Update { only: &only };
    let a = || file(b"/t/f", b"a");
    let b = || file(b"/t/f", b"b");
    let s = || file(b"/t/sel/f", b"s");
    let s2 = || file(b"/t/sel/f", b"S");
    use Keep::*;
    #[allow(clippy::type_complexity)]
    let table: [(
        Mode<'_, &[u8]>,
        Option<E>,
        Option<E>,
        (Option<Finding>, bool, Keep),
    ); 18] = [
        // only live
        (Mode::Init, None, Some(a()), (None, false, New)),
        (Mode::Init, None, Some(setuid(a())), (None, true, New)),
        (
            CHECK,
            None,
            Some(setuid(a())),
            (Some(Finding::Added), true, New),
        ),
        (
            upd_all,
            None,
            Some(setuid(a())),
            (Some(Finding::Added), false, New),
        ),
        (upd_sel, None, Some(a()), (None, false, Nothing)),
        (upd_sel, None, Some(s()), (Some(Finding::Added), false, New)),
        // only in the database
        (Mode::Init, Some(a()), None, (None, false, Nothing)),
        (
            CHECK,
            Some(a()),
            None,
            (Some(Finding::Removed), false, Nothing),
        ),
        (
            upd_all,
            Some(a()),
            None,
            (Some(Finding::Removed), false, Nothing),
        ),
        (upd_sel, Some(a()), None, (None, false, Old)),
        (
            upd_sel,
            Some(s()),
            None,
            (Some(Finding::Removed), false, Nothing),
        ),
        // both
        (Mode::Init, Some(a()), Some(b()), (None, false, New)),
        (CHECK, Some(a()), Some(a()), (None, false, New)),
        (
            CHECK,
            Some(a()),
            Some(setuid(b())),
            (
                Some(Finding::Changed(
                    Attrs::EMPTY.with(Attr::Mode).with(Attr::Content),
                )),
                true,
                New,
            ),
        ),
        (
            CHECK,
            Some(setuid(a())),
            Some(setuid(b())),
            (Some(CONTENT), false, New),
        ),
        (
            upd_all,
            Some(a()),
            Some(setuid(b())),
            (
                Some(Finding::Changed(
                    Attrs::EMPTY.with(Attr::Mode).with(Attr::Content),
                )),
                false,
                New,
            ),
        ),
        (upd_sel, Some(a()), Some(b()), (None, false, Old)),
        (upd_sel, Some(s()), Some(s2()), (Some(CONTENT), false, New)),
    ];
    for (i, (mode, old, new, want)) in table.into_iter().enumerate() {
        let old: Vec<E> = old.into_iter().collect();
        let new: Vec<L> = new.into_iter().map(L::S).collect();
        let got = run(mode, &old, &new);
        assert_eq!(got.len(), 1, "case {i}");
        assert_eq!((got[0].1, got[0].2, got[0].3), want, "case {i}: {mode:?}");
    }
}

#[test]
fn setgid_directory_is_no_callout_and_a_long_path_is_not_recorded() {
    let mut d = dir(b"/t/d");
    d.meta.mode = 0o2775;
    let mut j: Join<'_, &[u8]> = Join::new(CHECK, Attrs::ALL);
    let s = j.step(None::<&E>, Some(Live::Seen(&d))).unwrap();
    assert!(!s.decision.setuid && !s.decision.setgid);
    let long = [b'x'; MAX_PATH + 1];
    let e = Entry {
        path: &long[..],
        target: None,
        meta: Meta::empty(Kind::File),
    };
    let s = j.step(None::<&E>, Some(Live::Seen(&e))).unwrap();
    assert_eq!(s.decision.finding, Some(Finding::Added));
    assert_eq!(s.decision.keep, Keep::TooLong);
    assert_eq!(s.live, Some(Examined::Entry { unreadable: false }));
}

#[test]
fn below_an_unreadable_directory_the_baseline_is_kept() {
    let old = [
        dir(b"/t"),
        dir(b"/t/locked"),
        file(b"/t/locked/a", b"1"),
        file(b"/t/locked/b", b"2"),
        file(b"/t/z", b"3"),
    ];
    let new = [L::S(dir(b"/t")), L::S(unreadable(dir(b"/t/locked")))];
    use Keep::*;
    assert_eq!(
        run(CHECK, &old, &new),
        [
            (&b"/t"[..], None, false, New),
            (b"/t/locked", None, false, New),
            (b"/t/locked/a", None, false, Old),
            (b"/t/locked/b", None, false, Old),
            (b"/t/z", Some(Finding::Removed), false, Nothing),
        ]
    );
    // An unreadable file blinds nothing.
    let old = [file(b"/t/f", b"1"), file(b"/t/f/x", b"2")];
    let new = [L::S(unreadable(file(b"/t/f", b"1")))];
    let got = run(CHECK, &old, &new);
    assert_eq!(
        got[0].1, None,
        "content of an unreadable file is not compared"
    );
    assert_eq!(got[1].1, Some(Finding::Removed));
}

#[test]
fn unseen_entries_keep_or_remove_their_records() {
    let old = [
        dir(b"/t"),
        file(b"/t/a", b"1"),
        dir(b"/u"),
        file(b"/u/b", b"2"),
    ];
    // /t could not be examined: it and everything below are kept. /u is gone.
    let new = [L::Unknown(b"/t"), L::Gone(b"/u")];
    use Keep::*;
    assert_eq!(
        run(CHECK, &old, &new),
        [
            (&b"/t"[..], None, false, Old),
            (b"/t/a", None, false, Old),
            (b"/u", Some(Finding::Removed), false, Nothing),
            (b"/u/b", Some(Finding::Removed), false, Nothing),
        ]
    );
    // Unseen and only live: counted as unseen, nothing recorded.
    let mut j: Join<'_, &[u8]> = Join::new(CHECK, Attrs::ALL);
    let unseen: Live<'_, &[u8]> = Live::Unseen {
        path: b"/t/x",
        gone: false,
    };
    let s = j.step(None::<&E>, Some(unseen)).unwrap();
    assert_eq!(s.live, Some(Examined::Unseen));
    assert_eq!(s.decision, Decision::NOTHING);
    assert!(!j.changed());
}

#[test]
fn a_blind_directory_too_long_for_the_storage_is_forgotten() {
    let old = [dir(b"/t/long"), file(b"/t/long/a", b"1")];
    let new = [L::S(unreadable(dir(b"/t/long")))];
    let mut j: Join<'_, &[u8], 4> = Join::new(CHECK, Attrs::ALL);
    let s = j.step(Some(&old[0]), new.first().map(live)).unwrap();
    assert_eq!(s.decision.finding, None);
    let s = j.step(Some(&old[1]), None::<Live<'_, &[u8]>>).unwrap();
    assert_eq!(s.decision.finding, Some(Finding::Removed));
}

#[test]
fn modes_and_selection() {
    let only: [&[u8]; 2] = [b"/etc/ssh", b"/bin/ls"];
    let m = Mode::Update { only: &only };
    assert!(m.selects(b"/etc/ssh") && m.selects(b"/etc/ssh/sshd_config"));
    assert!(m.selects(b"/bin/ls") && !m.selects(b"/bin/lsblk") && !m.selects(b"/etc"));
    assert!(CHECK.selects(b"/anything"));
    assert!(!CHECK.writes() && !CHECK.commits(true));
    let upd: Mode<'_, &[u8]> = Mode::Check { update: true };
    assert!(upd.writes() && upd.commits(true) && !upd.commits(false));
    assert!(Mode::<&[u8]>::Init.commits(false) && m.commits(false));
    assert!(is_under(b"/a/b/c", b"/a/b"));
    assert!(!is_under(b"/a/bc", b"/a/b"));
    assert!(!is_under(b"/a/b", b"/a/b"));
    assert!(is_under(b"/x", b"/"));
    assert!(is_under(b"/a/b/c", b"/a/b/"));
}

#[test]
fn trees_in_the_config_and_in_the_database() {
    let trees = [
        TreeInfo {
            root: b"/etc",
            algorithm: Algorithm::Sha256.id(),
            attrs: 0,
        },
        TreeInfo {
            root: b"/bin",
            algorithm: Algorithm::Blake3.id(),
            attrs: 0,
        },
    ];
    assert_eq!(
        baseline(&trees, b"/etc", Algorithm::Sha256),
        Baseline::Recorded {
            index: 0,
            same_algorithm: true
        }
    );
    assert_eq!(
        baseline(&trees, b"/bin", Algorithm::Sha256),
        Baseline::Recorded {
            index: 1,
            same_algorithm: false
        }
    );
    assert_eq!(
        baseline(&trees, b"/usr", Algorithm::Sha256),
        Baseline::Absent
    );
    let roots: [&[u8]; 1] = [b"/etc"];
    assert!(still_configured(b"/etc", roots.iter().copied()));
    assert!(!still_configured(b"/bin", roots.iter().copied()));
}

/// A real-time check: the touched paths are compared as a check would; every other
/// record is kept as it was, though the walk never saw it.
#[test]
fn paths_compare_only_what_was_touched() {
    let only = [
        Touched {
            path: &b"/t"[..],
            below: false,
        },
        Touched {
            path: &b"/t/b"[..],
            below: false,
        },
        Touched {
            path: &b"/t/gone"[..],
            below: true,
        },
        Touched {
            path: &b"/t/new"[..],
            below: true,
        },
    ];
    let old = [
        dir(b"/t"),
        file(b"/t/a", b"1"),
        file(b"/t/b", b"2"),
        dir(b"/t/gone"),
        file(b"/t/gone/x", b"x"),
        file(b"/t/z", b"z"),
    ];
    let new = [
        L::S(dir(b"/t")),
        L::S(file(b"/t/b", b"X")),
        L::S(dir(b"/t/new")),
        L::S(file(b"/t/new/y", b"y")),
    ];
    use Keep::*;
    let mode = Mode::Paths {
        update: true,
        only: &only,
    };
    assert_eq!(
        run(mode, &old, &new),
        [
            (&b"/t"[..], None, false, New),
            (b"/t/a", None, false, Old),
            (b"/t/b", Some(CONTENT), false, New),
            (b"/t/gone", Some(Finding::Removed), false, Nothing),
            (b"/t/gone/x", Some(Finding::Removed), false, Nothing),
            (b"/t/new", Some(Finding::Added), false, New),
            (b"/t/new/y", Some(Finding::Added), false, New),
            (b"/t/z", None, false, Old),
        ]
    );
    assert!(mode.writes() && mode.commits(true) && !mode.commits(false));
    let look = Mode::Paths {
        update: false,
        only: &only,
    };
    assert!(!look.writes());
}
