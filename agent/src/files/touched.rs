//! The live side of a real-time check: only the touched paths, stat'ed and hashed one
//! by one, and a walk below those that came, went or moved as directories. A check of a
//! few paths costs a few stats, not a walk of the tree.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;

use homeostat_core::feed::FileSource;
use homeostat_core::fim::join::{is_under, Touched};

use crate::platform::{scan_one, Pool, Scan, Scanned, TreeSpec, Unseen};

/// A [`FileSource`] of the paths `only` (tidied by `join::tidy`): each tree's walk yields
/// the objects of the paths in that tree, in record order.
pub struct TouchedSource<'a> {
    pub only: &'a [Touched<Vec<u8>>],
    pub pool: Pool,
}

impl FileSource for TouchedSource<'_> {
    type Tree = TreeSpec;
    type Item = Scanned;
    type Walk<'s>
        = Walk<'s>
    where
        Self: 's;

    fn walk(&mut self, tree: &TreeSpec) -> Walk<'_> {
        let root = tree.root.clone();
        let mine = self
            .only
            .iter()
            .filter(move |t| t.path == root || is_under(&t.path, &root));
        let root_dev = std::fs::symlink_metadata(std::ffi::OsStr::from_bytes(&tree.root))
            .ok()
            .map(|m| m.dev());
        Walk {
            root_dev,
            tree: tree.clone(),
            pending: Box::new(mine),
            below: None,
            pool: self.pool,
        }
    }
}

/// The objects of one tree's touched paths.
pub struct Walk<'s> {
    tree: TreeSpec,
    pending: Box<dyn Iterator<Item = &'s Touched<Vec<u8>>> + 's>,
    /// The walk below a touched directory, under way.
    below: Option<Scan>,
    pool: Pool,
    /// The tree root's device: with `xdev`, a walk never enters another file system.
    root_dev: Option<u64>,
}

impl Iterator for Walk<'_> {
    type Item = Scanned;

    fn next(&mut self) -> Option<Scanned> {
        loop {
            if let Some(s) = self.below.as_mut().and_then(Iterator::next) {
                return Some(s);
            }
            self.below = None;
            let t = self.pending.next()?;
            let spec = TreeSpec {
                root: t.path.clone(),
                ..self.tree.clone()
            };
            let Some(one) = scan_one(&spec) else { continue };
            // Gone since the event: its records (and those below) are removed by the join;
            // a tree's root that is gone says so itself.
            if one.unseen == Some(Unseen::Missing) && t.path != self.tree.root {
                continue;
            }
            let dir = one.entry.meta.kind == homeostat_core::fim::Kind::Dir && one.unseen.is_none();
            // A mount point is recorded, not entered, as the scheduled walk does.
            let same_fs = !self.tree.xdev || self.root_dev.is_none_or(|d| d == one.entry.meta.dev);
            if t.below
                && dir
                && same_fs
                && self
                    .tree
                    .depth
                    .is_none_or(|d| d > depth(&self.tree.root, &t.path))
            {
                let depth = self.tree.depth.map(|d| d - depth(&self.tree.root, &t.path));
                let mut pool = self.pool;
                self.below = Some(pool.walk(&TreeSpec { depth, ..spec }));
                continue;
            }
            return Some(one);
        }
    }
}

/// Components of `path` below `root`.
fn depth(root: &[u8], path: &[u8]) -> u32 {
    let rest = &path[root.len().min(path.len())..];
    rest.iter().filter(|&&b| b == b'/').count() as u32 + u32::from(root == b"/" && !rest.is_empty())
}
