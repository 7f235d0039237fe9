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

    /// The tree whose walk records `path`, if any.
    pub fn tree_of(&self, path: &[u8]) -> Option<&TreeSpec> {
        self.specs.iter().find(|t| recorded_by(t, path))
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

/// The mount points strictly below `root`, from `/proc/self/mountinfo` (for trees that
/// cross file systems: each needs a mark of its own).
pub fn mounts_below(root: &[u8]) -> Vec<Vec<u8>> {
    let mountinfo = std::path::Path::new("/proc/self/mountinfo");
    let Ok(info) = crate::bounded::read(mountinfo, crate::bounded::limits::PROC_TABLE) else {
        return Vec::new();
    };
    info.split(|&b| b == b'\n')
        .filter_map(|line| line.split(|&b| b == b' ').nth(4))
        .map(unescape)
        .filter(|m| homeostat_core::fim::join::is_under(m, root))
        .collect()
}

/// A mountinfo field: space, tab, newline and backslash are written `\ooo` (octal).
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|o| field[i] == b'\\' && o.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(o) => {
                out.push(o.iter().fold(0u8, |v, c| v.wrapping_mul(8) + (c - b'0')));
                i += 4;
            }
            None => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(super::unescape(b"/mnt/a\\040b\\134c"), b"/mnt/a b\\c");
        assert_eq!(super::unescape(b"/plain"), b"/plain");
    }

    #[test]
    fn proc_is_a_mount_below_the_root() {
        assert!(super::mounts_below(b"/").iter().any(|m| m == b"/proc"));
    }
}
