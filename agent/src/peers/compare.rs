//! Two verified databases of one neighbour, record by record: how many records were
//! added, removed and changed between the copy fetched last time and this one.
//!
//! Records are keyed by (tree root, path). Each tree is a merge-join of two streams in the
//! core's path order ([`Section`]), so memory stays constant in the number of records.

use std::cmp::Ordering;

use homeostat_core::fim::attrs::Attrs;
use homeostat_core::fim::compare::compare;
use homeostat_core::fim::order::path_cmp;
use homeostat_core::fim::Entry;

use crate::files::database::{DbFileError, Section, Verified};

/// Records added, removed and changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
}

impl Counts {
    pub fn is_zero(&self) -> bool {
        *self == Counts::default()
    }
}

/// Compares `old` with `new`, both accepted by `database::verify`.
///
/// A tree present on one side only counts all its records as added or removed. Within a
/// tree, a record is changed when any attribute either side's tree records differs (the
/// core's `fim::compare`, so `type`, `content` and `target` follow the same rules as a
/// check).
pub fn databases(old: &Verified, new: &Verified) -> Result<Counts, DbFileError> {
    let mut counts = Counts::default();
    let (mut buf_old, mut buf_new) = (Section::buffer(), Section::buffer());
    for (n, tree) in new.trees.iter().enumerate() {
        let o = old.trees.iter().position(|t| t.root == tree.root);
        let mut new_records = Records::open(new, Some(n), &mut buf_new)?;
        let mut old_records = Records::open(old, o, &mut buf_old)?;
        let attrs = bits(tree.attrs).union(o.map_or(Attrs::EMPTY, |o| bits(old.trees[o].attrs)));
        join(&mut old_records, &mut new_records, attrs, &mut counts)?;
    }
    for (o, tree) in old.trees.iter().enumerate() {
        if !new.trees.iter().any(|t| t.root == tree.root) {
            let mut gone = Records::open(old, Some(o), &mut buf_old)?;
            while gone.next()?.is_some() {
                counts.removed += 1;
            }
        }
    }
    Ok(counts)
}

/// Unknown bits were refused by `verify`; all attributes is the safe reading anyway.
fn bits(attrs: u16) -> Attrs {
    Attrs::from_bits(attrs).unwrap_or(Attrs::ALL)
}

/// One tree's records, or none when the database does not have the tree.
struct Records<'b> {
    section: Option<Section<'b>>,
    db: &'b Verified,
}

impl<'b> Records<'b> {
    fn open(
        db: &'b Verified,
        tree: Option<usize>,
        buf: &'b mut [u8],
    ) -> Result<Records<'b>, DbFileError> {
        let section = tree.map(|t| Section::open(db, t, buf)).transpose()?;
        Ok(Records { section, db })
    }

    fn next(&mut self) -> Result<Option<Entry<Vec<u8>>>, DbFileError> {
        match self.section.as_mut() {
            Some(s) => s.next_entry(&self.db.path),
            None => Ok(None),
        }
    }
}

/// Merge-joins one tree's two record streams (both in path order) into `counts`.
fn join(
    old: &mut Records<'_>,
    new: &mut Records<'_>,
    attrs: Attrs,
    counts: &mut Counts,
) -> Result<(), DbFileError> {
    let (mut o, mut n) = (old.next()?, new.next()?);
    loop {
        let order = match (&o, &n) {
            (None, None) => return Ok(()),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(a), Some(b)) => path_cmp(a.path(), b.path()),
        };
        match order {
            Ordering::Less => {
                counts.removed += 1;
                o = old.next()?;
            }
            Ordering::Greater => {
                counts.added += 1;
                n = new.next()?;
            }
            Ordering::Equal => {
                if let (Some(a), Some(b)) = (&o, &n) {
                    if !compare(a, b, attrs).is_empty() {
                        counts.changed += 1;
                    }
                }
                o = old.next()?;
                n = new.next()?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::database::{verify, DbWriter};
    use crate::files::signing::Keys;
    use homeostat_core::digest::{digest, Algorithm};
    use homeostat_core::fim::attrs::Attr;
    use homeostat_core::fim::db::{Header, TreeInfo};
    use homeostat_core::fim::{Kind, Meta};
    use std::path::Path;

    fn file(path: &str, content: &str) -> Entry<Vec<u8>> {
        let mut meta = Meta::empty(Kind::File);
        meta.mode = 0o644;
        meta.size = content.len() as u64;
        meta.content = Some(digest(Algorithm::Sha256, content.as_bytes()));
        Entry {
            path: path.as_bytes().to_vec(),
            target: None,
            meta,
        }
    }

    /// A tree to write: root, watched attributes, records in path order.
    type Tree<'r> = (&'r str, Attrs, Vec<Entry<Vec<u8>>>);

    /// Writes an unsigned database of `trees` and verifies it.
    fn write(dest: &Path, trees: &[Tree<'_>]) -> Verified {
        let mut infos = heapless::Vec::new();
        for (root, attrs, _) in trees {
            infos
                .push(TreeInfo {
                    root: root.as_bytes(),
                    algorithm: Algorithm::Sha256.id(),
                    attrs: attrs.bits(),
                })
                .unwrap();
        }
        let header = Header {
            created: 1,
            host: "h",
            trees: infos,
        };
        let mut w = DbWriter::create(dest, &header).unwrap();
        for (i, (_, _, records)) in trees.iter().enumerate() {
            for r in records {
                w.push(i as u16, r).unwrap();
            }
        }
        w.commit(&Keys::default(), None).unwrap();
        verify(dest, &Keys::default()).unwrap()
    }

    fn counts(added: u64, removed: u64, changed: u64) -> Counts {
        Counts {
            added,
            removed,
            changed,
        }
    }

    #[test]
    fn added_removed_changed_by_path_within_a_tree() {
        let d = tempfile::tempdir().unwrap();
        let old = write(
            &d.path().join("old"),
            &[(
                "/t",
                Attrs::ALL,
                vec![
                    file("/t/a", "1"),
                    file("/t/b", "2"),
                    file("/t/c", "3"),
                    file("/t/c/d", "4"),
                ],
            )],
        );
        let new = write(
            &d.path().join("new"),
            &[(
                "/t",
                Attrs::ALL,
                vec![
                    file("/t/a", "1"),
                    file("/t/b", "two"),
                    file("/t/b-x", "5"),
                    file("/t/c/d", "4"),
                    file("/t/e", "6"),
                ],
            )],
        );
        assert_eq!(databases(&old, &new).unwrap(), counts(2, 1, 1));
        assert_eq!(databases(&new, &old).unwrap(), counts(1, 2, 1));
        assert!(databases(&new, &new).unwrap().is_zero());
    }

    #[test]
    fn trees_are_matched_by_root_not_position() {
        let d = tempfile::tempdir().unwrap();
        let x = || ("/x", Attrs::ALL, vec![file("/x", ""), file("/x/1", "a")]);
        let y = || ("/y", Attrs::ALL, vec![file("/y/1", "b")]);
        let z = || ("/z", Attrs::ALL, vec![file("/z/1", "c"), file("/z/2", "d")]);
        let old = write(&d.path().join("old"), &[x(), y()]);
        let new = write(&d.path().join("new"), &[z(), y(), x()]);
        assert_eq!(databases(&old, &new).unwrap(), counts(2, 0, 0));
        assert_eq!(databases(&new, &old).unwrap(), counts(0, 2, 0));
        let empty = write(&d.path().join("empty"), &[("/y", Attrs::ALL, vec![])]);
        assert_eq!(databases(&old, &empty).unwrap(), counts(0, 3, 0));
    }

    #[test]
    fn only_recorded_attributes_count() {
        let d = tempfile::tempdir().unwrap();
        let mut touched = file("/t/a", "1");
        touched.meta.mtime.sec = 99;
        let no_mtime = Attrs::ALL.without(Attr::Mtime);
        let old = write(
            &d.path().join("old"),
            &[("/t", no_mtime, vec![file("/t/a", "1")])],
        );
        let new = write(
            &d.path().join("new"),
            &[("/t", no_mtime, vec![touched.clone()])],
        );
        assert!(databases(&old, &new).unwrap().is_zero());
        let watched = write(&d.path().join("w"), &[("/t", Attrs::ALL, vec![touched])]);
        assert_eq!(databases(&old, &watched).unwrap(), counts(0, 0, 1));
    }

    #[test]
    fn a_large_tree_streams() {
        let d = tempfile::tempdir().unwrap();
        let names = |n: u32| (0..n).map(|i| file(&format!("/t/{i:06}"), "x")).collect();
        let old = write(&d.path().join("old"), &[("/t", Attrs::ALL, names(20_000))]);
        let new = write(&d.path().join("new"), &[("/t", Attrs::ALL, names(20_100))]);
        assert_eq!(databases(&old, &new).unwrap(), counts(100, 0, 0));
    }
}
