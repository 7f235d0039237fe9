//! Comparing two records of the same path.

use super::attrs::{Attr, Attrs};
use super::entry::{Entry, Kind, Meta};

/// Which attributes differ between `old` and `new`, limited to `watched`.
///
/// An attribute present on one side only counts as changed: a file turned into a
/// directory differs in `type` and `content`; into a symlink also in `target`. Content is
/// not compared when either side could not be read (that is reported separately), nor when
/// the two digests come from different algorithms.
pub fn compare<A: AsRef<[u8]>, B: AsRef<[u8]>>(
    old: &Entry<A>,
    new: &Entry<B>,
    watched: Attrs,
) -> Attrs {
    let (o, n) = (&old.meta, &new.meta);
    let mut d = Attrs::EMPTY;
    let mut set = |a: Attr, differs: bool| {
        if differs {
            d = d.with(a);
        }
    };
    set(Attr::Type, o.kind != n.kind);
    set(Attr::Mode, o.mode != n.mode);
    set(Attr::Uid, o.uid != n.uid);
    set(Attr::Gid, o.gid != n.gid);
    set(Attr::Size, o.size != n.size);
    set(Attr::Mtime, o.mtime != n.mtime);
    set(Attr::Ctime, o.ctime != n.ctime);
    set(Attr::Inode, o.inode != n.inode);
    set(Attr::Nlink, o.nlink != n.nlink);
    set(Attr::Target, old.target() != new.target());
    set(Attr::Xattrs, o.xattrs != n.xattrs);
    set(Attr::Content, content_differs(o, n));
    d.intersect(watched)
}

fn content_differs(o: &Meta, n: &Meta) -> bool {
    if o.unreadable() || n.unreadable() {
        return false;
    }
    match (&o.content, &n.content) {
        (Some(a), Some(b)) => a.algorithm() == b.algorithm() && a.as_bytes() != b.as_bytes(),
        (None, None) => false,
        // present on one side only: a type change, or a file that became readable
        _ => o.kind != n.kind || o.kind == Kind::File,
    }
}

/// The set-id call-outs `meta` deserves, as (setuid, setgid): CFEngine's rule for its
/// "NEW SETUID root PROGRAM" / "NEW SETGID root PROGRAM" notices, uid 0 with `S_ISUID`, and uid 0
/// with `S_ISGID` on anything but a directory (a set-gid directory only sets group
/// inheritance).
pub fn setid_root(meta: &Meta) -> (bool, bool) {
    let root = meta.uid == 0 && meta.kind != Kind::Symlink;
    (
        root && meta.mode & 0o4000 != 0,
        root && meta.mode & 0o2000 != 0 && meta.kind != Kind::Dir,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::{digest, Algorithm};

    fn file(content: &[u8]) -> Entry<&'static [u8]> {
        let mut m = Meta::empty(Kind::File);
        m.mode = 0o644;
        m.size = content.len() as u64;
        m.content = Some(digest(Algorithm::Sha256, content));
        Entry {
            path: b"/t/f",
            target: None,
            meta: m,
        }
    }

    #[test]
    fn identical_is_empty() {
        assert!(compare(&file(b"x"), &file(b"x"), Attrs::ALL).is_empty());
    }

    #[test]
    fn content_only() {
        let d = compare(&file(b"x"), &file(b"y"), Attrs::ALL);
        assert_eq!(d, Attrs::EMPTY.with(Attr::Content));
    }

    #[test]
    fn file_to_symlink_lists_type_content_target() {
        let old = file(b"");
        let mut new = old.clone();
        new.meta.kind = Kind::Symlink;
        new.meta.content = None;
        new.target = Some(b"elsewhere");
        let d = compare(&old, &new, Attrs::ALL);
        assert_eq!(
            d,
            Attrs::EMPTY
                .with(Attr::Type)
                .with(Attr::Content)
                .with(Attr::Target)
        );
    }

    #[test]
    fn file_to_dir_lists_type_and_content() {
        let old = file(b"");
        let mut new = old.clone();
        new.meta.kind = Kind::Dir;
        new.meta.content = None;
        assert_eq!(
            compare(&old, &new, Attrs::ALL),
            Attrs::EMPTY.with(Attr::Type).with(Attr::Content)
        );
    }

    #[test]
    fn unreadable_side_skips_content_and_watch_mask_applies() {
        let old = file(b"x");
        let mut new = file(b"y");
        new.meta.content = None;
        new.meta.flags = super::super::entry::FLAG_UNREADABLE;
        assert!(compare(&old, &new, Attrs::ALL).is_empty());
        let mut moved = file(b"x");
        moved.meta.mtime.nsec = 5;
        assert!(compare(&old, &moved, Attrs::ALL.without(Attr::Mtime)).is_empty());
    }

    #[test]
    fn setid_rule_follows_cfengine() {
        let mut m = Meta::empty(Kind::File);
        m.mode = 0o4755;
        assert_eq!(setid_root(&m), (true, false));
        m.uid = 1000;
        assert_eq!(setid_root(&m), (false, false));
        let mut d = Meta::empty(Kind::Dir);
        d.mode = 0o2775;
        assert_eq!(setid_root(&d), (false, false));
    }
}
