//! Package-aware changes: does a package transaction explain a file finding, and how was
//! that verified?
//!
//! A [`PackageSource`] answers questions about one package database (dpkg first; rpm's
//! headers carry the same facts: owner, version, digests, mode and owner of each file).
//! [`judge`] applies the rules of `DESIGN.md` ("Packages") to what the source found, so
//! every source gets the same verdicts. Nothing here allocates.
//!
//! # Example
//!
//! ```
//! use homeostat_core::event::Change;
//! use homeostat_core::fim::Attrs;
//! use homeostat_core::package::{judge, Cause, Facts, TxKind, Verified};
//!
//! // A file gone after `apt-get remove` of its package, which no longer lists it.
//! let facts = Facts {
//!     change: Change::Removed,
//!     diff: Attrs::EMPTY,
//!     tx: Some(TxKind::Remove),
//!     listed: false,
//!     live: None,
//!     expected: None,
//!     conffile: None,
//!     live_md5: None,
//!     list: Verified::Md5sums,
//! };
//! assert_eq!(judge(&facts), (Cause::Remove, Verified::Md5sums));
//! // The same finding with no transaction in the window explains nothing.
//! let facts = Facts { tx: None, ..facts };
//! assert_eq!(judge(&facts).0, Cause::Unexplained);
//! ```

use crate::digest::{Algorithm, Digest};
use crate::event::{Change, Epoch};
use crate::fim::{Attr, Attrs, Kind};

/// Why a package changed a path, or that none did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The package was installed in the window.
    Install,
    /// The package was upgraded (or reinstalled) in the window.
    Upgrade,
    /// The package was removed or purged in the window.
    Remove,
    /// No transaction explains the change, or the content is not the package's.
    Unexplained,
}

impl Cause {
    /// The word JSON uses.
    pub const fn name(self) -> &'static str {
        match self {
            Cause::Install => "install",
            Cause::Upgrade => "upgrade",
            Cause::Remove => "remove",
            Cause::Unexplained => "unexplained",
        }
    }
}

/// What the finding was checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verified {
    /// The package archive whose digest the signed package lists give: content, type,
    /// mode and owner.
    Deb,
    /// The package database's digests (`*.md5sums`, `Conffiles:`): content only. For a
    /// removal: the package's file list and its logged transaction.
    Md5sums,
    /// The rpm database's header of the installed package (SHA-256 file digests, type,
    /// mode and owner of each file). For a removal: the owner recorded with the baseline is
    /// no longer in the database.
    Rpm,
    /// Not verified.
    None,
}

impl Verified {
    /// The word JSON uses.
    pub const fn name(self) -> &'static str {
        match self {
            Verified::Deb => "deb",
            Verified::Md5sums => "md5sums",
            Verified::Rpm => "rpm",
            Verified::None => "none",
        }
    }
}

/// The `package` of a file finding: owner, versions, and the verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Package<'a> {
    /// The owner's name (attacker-influenced bytes in a forged database: escape it).
    pub name: &'a str,
    /// Its architecture (`amd64`, `all`).
    pub arch: &'a str,
    /// The version before the transaction, if any.
    pub from: Option<&'a str>,
    /// The version after it (installed now), if any.
    pub to: Option<&'a str>,
    /// How the change was verified.
    pub verified: Verified,
    /// What explains it.
    pub cause: Cause,
}

impl Package<'_> {
    /// Whether `[packages] accept = "verified"` takes this change into the baseline.
    pub fn verified_change(&self) -> bool {
        self.verified != Verified::None && self.cause != Cause::Unexplained
    }
}

/// Kinds of logged transactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxKind {
    /// From no version to one.
    Install,
    /// From one version to another (or the same: a reinstall).
    Upgrade,
    /// Removed (configuration files may stay).
    Remove,
    /// Removed with its configuration files.
    Purge,
}

/// What the package archive records of one path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Archived {
    /// Type of the member.
    pub kind: Kind,
    /// Permission bits.
    pub mode: u32,
    /// Owner and group.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// The content's digest in the tree's algorithm (regular files).
    pub content: Option<Digest>,
    /// A symlink's target digest (SHA-256 of the target bytes).
    pub target: Option<[u8; 32]>,
}

/// What the source expects a path to hold, strongest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// The member of a verified package archive.
    Archive(Archived),
    /// The file as the installed package's rpm header records it.
    Header(Archived),
    /// An MD5 digest from the package database.
    Md5([u8; 16]),
    /// The package ships the path, with nothing to check it against (a directory, a
    /// symlink without its archive).
    Listed,
}

/// A package database. Ids are the source's own (indexes into what it loaded); strings it
/// returns live as long as the source.
pub trait PackageSource {
    /// Every package that lists `path` now (directories have many).
    fn owners(&mut self, path: &[u8]) -> impl Iterator<Item = u32> + '_;
    /// The first of [`PackageSource::owners`].
    fn owner(&mut self, path: &[u8]) -> Option<u32> {
        self.owners(path).next()
    }
    /// A package by `name:arch` (an owner recorded with the baseline).
    fn by_name(&mut self, name: &str, arch: &str) -> Option<u32>;
    /// Name and architecture of `id`.
    fn name(&self, id: u32) -> (&str, &str);
    /// The version of `id` installed now.
    fn installed(&self, id: u32) -> Option<&str>;
    /// The latest transaction of `id` logged in `since..=now`: kind, from, to.
    fn transaction(
        &mut self,
        id: u32,
        since: Epoch,
        now: Epoch,
    ) -> Option<(TxKind, Option<&str>, Option<&str>)>;
    /// Whether `id` lists `path` among its files now.
    fn lists(&mut self, id: u32, path: &[u8]) -> bool;
    /// Whether `path` is a configuration file of `id` (never taken for an upgrade unless its
    /// content is the package's), with its expected MD5.
    fn conffile(&mut self, id: u32, path: &[u8]) -> Option<[u8; 16]>;
    /// What `id` as installed now expects at `path`; `alg` is the tree's algorithm.
    fn expected(&mut self, id: u32, path: &[u8], alg: Algorithm) -> Option<Expected>;
}

/// The facts a source gave about one finding.
#[derive(Clone, Copy, Debug)]
pub struct Facts<'a> {
    /// What the check found.
    pub change: Change,
    /// Attributes that differ (for [`Change::Changed`]).
    pub diff: Attrs,
    /// The latest transaction of the owner in the window.
    pub tx: Option<TxKind>,
    /// Whether the owner lists the path now.
    pub listed: bool,
    /// The live object (absent when removed).
    pub live: Option<Live<'a>>,
    /// The expectation, strongest available.
    pub expected: Option<Expected>,
    /// For a configuration file: its expected MD5 from the status.
    pub conffile: Option<[u8; 16]>,
    /// MD5 of the live file, when a comparison with MD5 needs it.
    pub live_md5: Option<[u8; 16]>,
    /// What vouches for the file list a removal is checked against: `Md5sums` for dpkg
    /// (its `.list` and its log), `Rpm` for rpm.
    pub list: Verified,
}

/// The live object's attributes, as the check recorded them.
#[derive(Clone, Copy, Debug)]
pub struct Live<'a> {
    /// Its type, mode, owner and content digest.
    pub meta: &'a crate::fim::Meta,
    /// SHA-256 of its symlink target.
    pub target: Option<[u8; 32]>,
}

/// Attributes a package transaction changes as a side effect and no package records.
const INCIDENTAL: Attrs = Attrs::EMPTY
    .with(Attr::Mtime)
    .with(Attr::Ctime)
    .with(Attr::Inode)
    .with(Attr::Nlink)
    .with(Attr::Xattrs);

/// Attributes an MD5 digest verifies.
const BY_MD5: Attrs = INCIDENTAL.with(Attr::Content).with(Attr::Size);

/// Whether every attribute of `diff` is in `allowed`.
fn within(diff: Attrs, allowed: Attrs) -> bool {
    allowed.intersect(diff).bits() == diff.bits()
}

/// The verdict on one finding, by DESIGN's rules.
pub fn judge(f: &Facts<'_>) -> (Cause, Verified) {
    const NO: (Cause, Verified) = (Cause::Unexplained, Verified::None);
    let Some(tx) = f.tx else { return NO };
    if f.change == Change::Removed {
        // Verified when a logged transaction of its owner dropped the path.
        return match tx {
            _ if f.listed => NO,
            TxKind::Remove | TxKind::Purge => (Cause::Remove, f.list),
            TxKind::Upgrade | TxKind::Install => (Cause::Upgrade, f.list),
        };
    }
    let cause = match tx {
        TxKind::Install => Cause::Install,
        TxKind::Upgrade => Cause::Upgrade,
        // Removed, yet the path is there and changed: nothing explains that.
        TxKind::Remove | TxKind::Purge => return NO,
    };
    let (Some(live), true) = (f.live, f.listed) else {
        return NO;
    };
    let diff = match f.change {
        Change::Changed => f.diff,
        // A new path: what it holds is to be verified (its mode and owner only against an
        // archive, which checks them whatever the diff says).
        _ => match live.meta.kind {
            Kind::File => Attrs::EMPTY.with(Attr::Content).with(Attr::Size),
            Kind::Symlink => Attrs::EMPTY.with(Attr::Target),
            _ => Attrs::EMPTY,
        },
    };
    if let Some(md5) = f.conffile {
        // An admin's edit is never an upgrade: only the package's own content passes.
        return match f.live_md5 == Some(md5) && within(diff, BY_MD5) {
            true => (cause, Verified::Md5sums),
            false => NO,
        };
    }
    let verified = match f.expected {
        Some(Expected::Archive(a)) => archive_matches(&a, &live).then_some(Verified::Deb),
        Some(Expected::Header(a)) => archive_matches(&a, &live).then_some(Verified::Rpm),
        Some(Expected::Md5(md5)) => {
            (within(diff, BY_MD5) && f.live_md5 == Some(md5)).then_some(Verified::Md5sums)
        }
        // Shipped, nothing recorded to compare: explained, not verified.
        Some(Expected::Listed) => {
            return match within(diff, INCIDENTAL) {
                true => (cause, Verified::None),
                false => NO,
            }
        }
        None => None,
    };
    verified.map_or(NO, |v| (cause, v))
}

/// Whether the live object is the archive's member: type, mode, owner, content, target.
fn archive_matches(a: &Archived, live: &Live<'_>) -> bool {
    let m = live.meta;
    let content = match (m.kind, a.content, m.content) {
        (Kind::File, Some(want), Some(got)) => want == got,
        (Kind::File, _, _) => false,
        _ => true,
    };
    let target = m.kind != Kind::Symlink || (a.target.is_some() && a.target == live.target);
    a.kind == m.kind && a.mode == m.mode && a.uid == m.uid && a.gid == m.gid && content && target
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fim::Meta;

    fn facts<'a>(meta: &'a Meta, tx: Option<TxKind>, exp: Option<Expected>) -> Facts<'a> {
        Facts {
            change: Change::Changed,
            diff: Attrs::EMPTY.with(Attr::Content).with(Attr::Mtime),
            tx,
            listed: true,
            live: Some(Live { meta, target: None }),
            expected: exp,
            conffile: None,
            live_md5: Some([1; 16]),
            list: Verified::Md5sums,
        }
    }

    #[test]
    fn md5_match_inside_an_upgrade_is_verified() {
        let m = Meta::empty(Kind::File);
        let f = facts(&m, Some(TxKind::Upgrade), Some(Expected::Md5([1; 16])));
        assert_eq!(judge(&f), (Cause::Upgrade, Verified::Md5sums));
    }

    #[test]
    fn no_transaction_or_wrong_content_is_unexplained() {
        let m = Meta::empty(Kind::File);
        let none = facts(&m, None, Some(Expected::Md5([1; 16])));
        assert_eq!(judge(&none).0, Cause::Unexplained);
        let wrong = facts(&m, Some(TxKind::Upgrade), Some(Expected::Md5([2; 16])));
        assert_eq!(judge(&wrong), (Cause::Unexplained, Verified::None));
    }

    #[test]
    fn md5_never_verifies_a_mode_change() {
        let m = Meta::empty(Kind::File);
        let mut f = facts(&m, Some(TxKind::Upgrade), Some(Expected::Md5([1; 16])));
        f.diff = f.diff.with(Attr::Mode);
        assert_eq!(judge(&f), (Cause::Unexplained, Verified::None));
    }

    #[test]
    fn an_edited_conffile_is_unexplained() {
        let m = Meta::empty(Kind::File);
        let mut f = facts(&m, Some(TxKind::Upgrade), Some(Expected::Md5([1; 16])));
        f.conffile = Some([9; 16]);
        assert_eq!(judge(&f), (Cause::Unexplained, Verified::None));
    }

    #[test]
    fn removal_dropped_by_a_purge_is_a_verified_remove() {
        let m = Meta::empty(Kind::File);
        let mut f = facts(&m, Some(TxKind::Purge), None);
        f.change = Change::Removed;
        f.live = None;
        f.listed = false;
        assert_eq!(judge(&f), (Cause::Remove, Verified::Md5sums));
        f.listed = true;
        assert_eq!(judge(&f).0, Cause::Unexplained);
    }

    #[test]
    fn archive_checks_mode_and_owner() {
        let m = Meta::empty(Kind::File);
        let d = crate::digest::digest(Algorithm::Sha256, b"x");
        let mut m2 = m;
        m2.content = Some(d);
        m2.mode = 0o755;
        let a = Archived {
            kind: Kind::File,
            mode: 0o755,
            uid: 0,
            gid: 0,
            content: Some(d),
            target: None,
        };
        let mut f = facts(&m2, Some(TxKind::Upgrade), Some(Expected::Archive(a)));
        f.diff = f.diff.with(Attr::Mode);
        assert_eq!(judge(&f), (Cause::Upgrade, Verified::Deb));
        let a2 = Archived { mode: 0o4755, ..a };
        f.expected = Some(Expected::Archive(a2));
        assert_eq!(judge(&f).0, Cause::Unexplained);
        // The same record from an rpm header verifies as `rpm`.
        f.expected = Some(Expected::Header(a));
        assert_eq!(judge(&f), (Cause::Upgrade, Verified::Rpm));
        f.expected = Some(Expected::Header(a2));
        assert_eq!(judge(&f).0, Cause::Unexplained);
    }
}
