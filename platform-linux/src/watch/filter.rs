//! Which paths the watch reports: those a walk of the trees would record.

use crate::tree::TreeSpec;

/// The watched trees, for filtering events in user space.
#[derive(Clone, Debug)]
pub struct Trees {
    specs: Vec<TreeSpec>,
}

impl Trees {
    /// The trees of `specs`.
    pub fn new(specs: &[TreeSpec]) -> Trees {
        Trees {
            specs: specs.to_vec(),
        }
    }

    /// The trees.
    pub fn specs(&self) -> &[TreeSpec] {
        &self.specs
    }

    /// Whether a walk of some tree records `path`: it is a root, or below one within
    /// its depth, with no component excluded.
    pub fn records(&self, path: &[u8]) -> bool {
        self.specs.iter().any(|t| recorded_by(t, path))
    }
}

fn recorded_by(t: &TreeSpec, path: &[u8]) -> bool {
    let root = &t.root[..];
    if path == root {
        return true;
    }
    let base = if root == b"/" { 0 } else { root.len() };
    if path.len() <= base || !path.starts_with(root) || path[base] != b'/' {
        return false;
    }
    // Each component below the root, with the path up to it: as the walk meets them.
    let mut depth = 0u32;
    let mut end = base;
    while end < path.len() {
        let start = end + 1;
        end = path[start..]
            .iter()
            .position(|&b| b == b'/')
            .map_or(path.len(), |i| start + i);
        depth += 1;
        let name = &path[start..end];
        if name.is_empty() || t.depth.is_some_and(|max| depth > max) {
            return false;
        }
        if t.exclude.matches(&path[..end], name) {
            return false;
        }
    }
    true
}
