//! A check, as pure logic: the merge-join of a tree's database records with the live tree
//! (both in [`path_cmp`] order), and the policy that decides, for each path, what is
//! reported and what the new database records.
//!
//! The caller owns the I/O: it holds the head of each stream, asks [`Join::step`] what to
//! do with them, renders the [`Decision`], writes what it keeps, and advances the streams
//! the [`Step`] names. Memory is constant: one path (a directory that could not be listed)
//! in storage of capacity `N`.
//!
//! The policy, per mode (CFEngine's tripwire, as the agent has always done it):
//!
//! | path is | `Init` | `Check` | `Update` selected | `Update` not selected |
//! |---|---|---|---|---|
//! | only in the database | dropped | reported removed, dropped | reported removed, dropped | kept (old) |
//! | only live | set-id call-out, recorded | reported added, set-id call-out, recorded | reported added, recorded | not recorded |
//! | in both | recorded (new) | reported changed if it differs, set-id call-out, recorded (new) | reported changed if it differs, recorded (new) | kept (old) |
//!
//! Below a directory that could not be listed (or examined), what the database holds is
//! unknown, not removed: it is kept as it was. An entry that could not be examined at all
//! is neither compared nor recorded; its record in the database is kept when it lies in
//! such a directory and reported removed otherwise (the root of a tree that is gone).

use core::cmp::Ordering;

use super::attrs::Attrs;
use super::compare::{compare, setid_root};
use super::db::{TreeInfo, MAX_PATH};
use super::entry::{Entry, Kind};
use super::order::path_cmp;
use crate::digest::Algorithm;

/// What a run does with the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode<'a, P> {
    /// Record a new baseline; report nothing but set-id programs.
    Init,
    /// Compare; with `update`, accept what was reported into the new database.
    Check {
        /// Write the new database (when something changed).
        update: bool,
    },
    /// Accept the current state of the paths `only` and everything below them (of
    /// everything when empty); keep the rest as recorded.
    Update {
        /// The selected paths.
        only: &'a [P],
    },
}

impl<P: AsRef<[u8]>> Mode<'_, P> {
    /// Whether the run writes a new database at all.
    pub fn writes(&self) -> bool {
        !matches!(self, Mode::Check { update: false })
    }

    /// Whether the new database replaces the old one, given that something was reported
    /// or accepted (`changed`, [`Join::changed`] over every tree): a check that found
    /// nothing leaves the database as it was; init and update always write.
    pub fn commits(&self, changed: bool) -> bool {
        match self {
            Mode::Check { update } => *update && changed,
            Mode::Init | Mode::Update { .. } => true,
        }
    }

    /// Whether `path` is one this run accepts: all in `Init` and `Check`; in `Update`, the
    /// paths named and what lies below them.
    pub fn selects(&self, path: &[u8]) -> bool {
        match self {
            Mode::Update { only } => {
                only.is_empty()
                    || only.iter().any(|p| {
                        let p = p.as_ref();
                        path == p || is_under(path, p)
                    })
            }
            Mode::Init | Mode::Check { .. } => true,
        }
    }
}

/// `path` lies strictly below directory `dir` (component-wise: `/a/bc` is not below
/// `/a/b`; a trailing `/` on `dir` is ignored).
pub fn is_under(path: &[u8], dir: &[u8]) -> bool {
    let dir = if dir.len() > 1 {
        dir.strip_suffix(b"/").unwrap_or(dir)
    } else {
        dir
    };
    path.len() > dir.len() && path.starts_with(dir) && (dir == b"/" || path[dir.len()] == b'/')
}

/// A finding to report for one path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Finding {
    /// Live but not in the database.
    Added,
    /// In the database but gone.
    Removed,
    /// In both, differing in these watched attributes (never empty).
    Changed(Attrs),
}

/// What the new database records of a path (when the run writes one, [`Mode::writes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Keep {
    /// Nothing: the path is dropped, or never recorded.
    Nothing,
    /// The database's record, unchanged.
    Old,
    /// The live record.
    New,
    /// The live record, but its path or link target is longer than [`MAX_PATH`]: it
    /// cannot be recorded (the caller says so and goes on).
    TooLong,
}

/// What to do with one path, in this order: report the finding, then the set-id
/// call-outs, then record what is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Decision {
    /// The finding to report, if any.
    pub finding: Option<Finding>,
    /// "NEW SETUID root PROGRAM": the live entry meets CFEngine's rule
    /// ([`setid_root`]) for set-uid and its record did not.
    pub setuid: bool,
    /// "NEW SETGID root PROGRAM", likewise for set-gid.
    pub setgid: bool,
    /// What the new database records.
    pub keep: Keep,
}

impl Decision {
    const NOTHING: Decision = Decision {
        finding: None,
        setuid: false,
        setgid: false,
        keep: Keep::Nothing,
    };

    const fn keep(keep: Keep) -> Decision {
        Decision {
            keep,
            ..Decision::NOTHING
        }
    }
}

/// The live side's head: what the walker could record of a path.
#[derive(Clone, Copy, Debug)]
pub enum Live<'e, B> {
    /// A record (its content may be unreadable, [`Meta::unreadable`]).
    ///
    /// [`Meta::unreadable`]: super::entry::Meta::unreadable
    Seen(&'e Entry<B>),
    /// Nothing could be recorded of `path`.
    Unseen {
        /// The path.
        path: &'e [u8],
        /// `true`: it does not exist (a tree's root that is gone), so the database's
        /// records of it and below are removed. `false`: it exists but could not be
        /// examined (too long a path, an I/O error), so they are unknown and kept.
        gone: bool,
    },
}

impl<B: AsRef<[u8]>> Live<'_, B> {
    /// The path of the head.
    pub fn path(&self) -> &[u8] {
        match self {
            Live::Seen(e) => e.path(),
            Live::Unseen { path, .. } => path,
        }
    }
}

/// How the live head was counted, when a step consumes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Examined {
    /// Nothing could be recorded: the caller warns, it counts as no entry.
    Unseen,
    /// An entry; `unreadable` when its content (or a directory's listing) could not be
    /// read.
    Entry {
        /// Its content or listing could not be read.
        unreadable: bool,
    },
}

/// One step of the join: which heads it consumes and what to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Step {
    /// The database's head is consumed: advance that stream.
    pub old: bool,
    /// The live head is consumed: advance that stream.
    pub new: bool,
    /// How the live head was counted, when consumed.
    pub live: Option<Examined>,
    /// What to report and record for the path.
    pub decision: Decision,
}

/// The join of one tree: the mode, what the tree watches, and the directory (if any)
/// below which the database's records are kept unseen. `N` bounds that directory's path;
/// one longer is not remembered, so the records below it are reported removed (with the
/// default [`MAX_PATH`] no record can lie below such a path).
#[derive(Clone, Debug)]
pub struct Join<'a, P, const N: usize = MAX_PATH> {
    mode: Mode<'a, P>,
    watched: Attrs,
    blind: Option<heapless::Vec<u8, N>>,
    changed: bool,
}

impl<'a, P: AsRef<[u8]>, const N: usize> Join<'a, P, N> {
    /// The join of a tree that watches `watched`, in `mode`.
    pub fn new(mode: Mode<'a, P>, watched: Attrs) -> Join<'a, P, N> {
        Join {
            mode,
            watched,
            blind: None,
            changed: false,
        }
    }

    /// Whether any step so far reported a finding (the database then changes).
    pub fn changed(&self) -> bool {
        self.changed
    }

    /// Takes the heads of both streams (`None` at a stream's end) and says which to
    /// consume and what to do; `None` when both have ended.
    pub fn step<A: AsRef<[u8]>, B: AsRef<[u8]>>(
        &mut self,
        old: Option<&Entry<A>>,
        new: Option<Live<'_, B>>,
    ) -> Option<Step> {
        let ord = match (old, &new) {
            (None, None) => return None,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(o), Some(n)) => path_cmp(o.path(), n.path()),
        };
        let step = match (ord, old, new) {
            (Ordering::Less, Some(old), _) => {
                let decision = if self.blind_covers(old.path()) {
                    Decision::keep(Keep::Old)
                } else {
                    self.removed(old)
                };
                Step {
                    old: true,
                    new: false,
                    live: None,
                    decision,
                }
            }
            (Ordering::Greater, _, Some(new)) => {
                let live = self.examine(&new);
                let decision = match new {
                    Live::Seen(e) => self.added(e),
                    Live::Unseen { .. } => Decision::NOTHING,
                };
                Step {
                    old: false,
                    new: true,
                    live: Some(live),
                    decision,
                }
            }
            (_, Some(old), Some(new)) => {
                let live = self.examine(&new);
                let decision = match new {
                    Live::Seen(e) => self.both(old, e),
                    Live::Unseen { .. } if self.blind.is_some() => Decision::keep(Keep::Old),
                    Live::Unseen { .. } => self.removed(old),
                };
                Step {
                    old: true,
                    new: true,
                    live: Some(live),
                    decision,
                }
            }
            _ => return None,
        };
        self.changed |= step.decision.finding.is_some();
        Some(step)
    }

    fn blind_covers(&self, path: &[u8]) -> bool {
        self.blind.as_ref().is_some_and(|b| is_under(path, b))
    }

    /// Counts the live head and tracks the directory whose contents are unknown.
    fn examine<B: AsRef<[u8]>>(&mut self, live: &Live<'_, B>) -> Examined {
        let path = live.path();
        if self.blind.as_ref().is_some_and(|b| !is_under(path, b)) {
            self.blind = None;
        }
        let (examined, blind) = match live {
            Live::Unseen { gone, .. } => (Examined::Unseen, !gone),
            Live::Seen(e) => {
                let unreadable = e.meta.unreadable();
                (
                    Examined::Entry { unreadable },
                    unreadable && e.meta.kind == Kind::Dir,
                )
            }
        };
        if blind {
            self.blind = heapless::Vec::from_slice(path).ok();
        }
        examined
    }

    fn removed<A: AsRef<[u8]>>(&self, old: &Entry<A>) -> Decision {
        match self.mode {
            Mode::Init => Decision::NOTHING,
            Mode::Update { .. } if !self.mode.selects(old.path()) => Decision::keep(Keep::Old),
            Mode::Check { .. } | Mode::Update { .. } => Decision {
                finding: Some(Finding::Removed),
                ..Decision::NOTHING
            },
        }
    }

    fn added<B: AsRef<[u8]>>(&self, new: &Entry<B>) -> Decision {
        let keep = record(new);
        match self.mode {
            Mode::Init => with_setid(Decision::keep(keep), None::<&Entry<&[u8]>>, new),
            Mode::Check { .. } => with_setid(
                Decision {
                    finding: Some(Finding::Added),
                    ..Decision::keep(keep)
                },
                None::<&Entry<&[u8]>>,
                new,
            ),
            Mode::Update { .. } if self.mode.selects(new.path()) => Decision {
                finding: Some(Finding::Added),
                ..Decision::keep(keep)
            },
            Mode::Update { .. } => Decision::NOTHING,
        }
    }

    fn both<A: AsRef<[u8]>, B: AsRef<[u8]>>(&self, old: &Entry<A>, new: &Entry<B>) -> Decision {
        let diff = compare(old, new, self.watched);
        let finding = (!diff.is_empty()).then_some(Finding::Changed(diff));
        let keep = record(new);
        match self.mode {
            Mode::Init => Decision::keep(keep),
            Mode::Check { .. } if finding.is_some() => with_setid(
                Decision {
                    finding,
                    ..Decision::keep(keep)
                },
                Some(old),
                new,
            ),
            Mode::Check { .. } => Decision::keep(keep),
            Mode::Update { .. } if self.mode.selects(new.path()) => Decision {
                finding,
                ..Decision::keep(keep)
            },
            Mode::Update { .. } => Decision::keep(Keep::Old),
        }
    }
}

/// [`Keep::New`], or [`Keep::TooLong`] when the database cannot hold `e`.
fn record<B: AsRef<[u8]>>(e: &Entry<B>) -> Keep {
    if e.path().len() > MAX_PATH || e.target().is_some_and(|t| t.len() > MAX_PATH) {
        Keep::TooLong
    } else {
        Keep::New
    }
}

/// Adds the set-id call-outs `new` deserves that `old` did not.
fn with_setid<A: AsRef<[u8]>, B: AsRef<[u8]>>(
    d: Decision,
    old: Option<&Entry<A>>,
    new: &Entry<B>,
) -> Decision {
    let (was_uid, was_gid) = old.map_or((false, false), |o| setid_root(&o.meta));
    let (is_uid, is_gid) = setid_root(&new.meta);
    Decision {
        setuid: is_uid && !was_uid,
        setgid: is_gid && !was_gid,
        ..d
    }
}

/// How a configured tree relates to the database's trees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Baseline {
    /// The database has no tree with this root: every entry is reported as new.
    Absent,
    /// The database's tree `index` has this root.
    Recorded {
        /// Its index in the database's header.
        index: usize,
        /// Its digests use the configured algorithm; otherwise content is not compared
        /// until an update records the new digests.
        same_algorithm: bool,
    },
}

/// Finds the configured tree `root` (digests in `algorithm`) among the database's `trees`.
pub fn baseline(trees: &[TreeInfo<'_>], root: &[u8], algorithm: Algorithm) -> Baseline {
    match trees.iter().position(|t| t.root == root) {
        None => Baseline::Absent,
        Some(index) => Baseline::Recorded {
            index,
            same_algorithm: trees[index].algorithm == algorithm.id(),
        },
    }
}

/// Whether the database's tree `recorded` is still among the configured `roots`; one that
/// is not is left out of the next database written (the caller warns).
pub fn still_configured<'r>(recorded: &[u8], mut roots: impl Iterator<Item = &'r [u8]>) -> bool {
    roots.any(|r| r == recorded)
}

#[cfg(test)]
mod tests {
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
}
