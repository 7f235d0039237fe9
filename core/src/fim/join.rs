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
//! `Paths` (real time) is `Check` for the paths it selects and keeps every other record as
//! it was: a few paths are compared without walking the whole tree.
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

mod touched;
pub use touched::{selected, tidy, Touched};

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
    /// A real-time check: compare only the paths `only` (and what lies below those so
    /// marked), as [`Mode::Check`] does; keep the rest as recorded. `only` must be as
    /// [`tidy`] leaves it.
    Paths {
        /// Write the new database (when something changed).
        update: bool,
        /// The selected paths.
        only: &'a [Touched<P>],
    },
}

impl<P: AsRef<[u8]>> Mode<'_, P> {
    /// Whether the run writes a new database at all.
    pub fn writes(&self) -> bool {
        !matches!(
            self,
            Mode::Check { update: false } | Mode::Paths { update: false, .. }
        )
    }

    /// Whether the new database replaces the old one, given that something was reported
    /// or accepted (`changed`, [`Join::changed`] over every tree): a check that found
    /// nothing leaves the database as it was; init and update always write.
    pub fn commits(&self, changed: bool) -> bool {
        match self {
            Mode::Check { update } | Mode::Paths { update, .. } => *update && changed,
            Mode::Init | Mode::Update { .. } => true,
        }
    }

    /// Whether `path` is one this run accepts: all in `Init` and `Check`; in `Update`, the
    /// paths named and what lies below them; in `Paths`, those it selects.
    pub fn selects(&self, path: &[u8]) -> bool {
        match self {
            Mode::Update { only } => {
                only.is_empty()
                    || only.iter().any(|p| {
                        let p = p.as_ref();
                        path == p || is_under(path, p)
                    })
            }
            Mode::Paths { only, .. } => selected(only, path),
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
            Mode::Update { .. } | Mode::Paths { .. } if !self.mode.selects(old.path()) => {
                Decision::keep(Keep::Old)
            }
            Mode::Check { .. } | Mode::Update { .. } | Mode::Paths { .. } => Decision {
                finding: Some(Finding::Removed),
                ..Decision::NOTHING
            },
        }
    }

    fn added<B: AsRef<[u8]>>(&self, new: &Entry<B>) -> Decision {
        let keep = record(new);
        match self.mode {
            Mode::Init => with_setid(Decision::keep(keep), None::<&Entry<&[u8]>>, new),
            Mode::Paths { .. } if !self.mode.selects(new.path()) => Decision::NOTHING,
            Mode::Check { .. } | Mode::Paths { .. } => with_setid(
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
            Mode::Paths { .. } if !self.mode.selects(new.path()) => Decision::keep(Keep::Old),
            Mode::Check { .. } | Mode::Paths { .. } if finding.is_some() => with_setid(
                Decision {
                    finding,
                    ..Decision::keep(keep)
                },
                Some(old),
                new,
            ),
            Mode::Check { .. } | Mode::Paths { .. } => Decision::keep(keep),
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
mod tests;
