//! What to walk: one `[[files]]` block as the walker needs it.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use globset::{Glob, GlobSet, GlobSetBuilder};
use homeostat_core::digest::Algorithm;
use homeostat_core::fim::Attrs;

/// Exclusion patterns: those starting with `/` match the whole path, the others the name.
#[derive(Clone, Debug, Default)]
pub struct Exclude {
    paths: Option<GlobSet>,
    names: Option<GlobSet>,
}

/// A pattern that is not a valid glob.
#[derive(Debug, thiserror::Error)]
#[error("bad exclude pattern {pattern:?}: {reason}")]
pub struct BadPattern {
    pub pattern: String,
    pub reason: String,
}

impl Exclude {
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Exclude, BadPattern> {
        let mut paths = GlobSetBuilder::new();
        let mut names = GlobSetBuilder::new();
        let (mut np, mut nn) = (0, 0);
        for p in patterns {
            let p = p.as_ref();
            let glob = globset::GlobBuilder::new(p)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .or_else(|_| Glob::new(p))
                .map_err(|e| BadPattern {
                    pattern: p.to_string(),
                    reason: e.kind().to_string(),
                })?;
            if p.starts_with('/') {
                paths.add(glob);
                np += 1;
            } else {
                names.add(glob);
                nn += 1;
            }
        }
        let build = |b: GlobSetBuilder, n: usize| -> Result<Option<GlobSet>, BadPattern> {
            if n == 0 {
                return Ok(None);
            }
            b.build().map(Some).map_err(|e| BadPattern {
                pattern: String::from("(set)"),
                reason: e.to_string(),
            })
        };
        Ok(Exclude {
            paths: build(paths, np)?,
            names: build(names, nn)?,
        })
    }

    /// Whether the entry at `path` (whose last component is `name`) is excluded.
    pub fn matches(&self, path: &[u8], name: &[u8]) -> bool {
        self.paths
            .as_ref()
            .is_some_and(|g| g.is_match(Path::new(OsStr::from_bytes(path))))
            || self
                .names
                .as_ref()
                .is_some_and(|g| g.is_match(Path::new(OsStr::from_bytes(name))))
    }
}

/// One tree to walk and how.
#[derive(Clone, Debug)]
pub struct TreeSpec {
    /// Absolute path of the root, raw bytes.
    pub root: Vec<u8>,
    pub algorithm: Algorithm,
    pub attrs: Attrs,
    /// `None` = unlimited; 0 = the root alone; 1 = the root and its entries.
    pub depth: Option<u32>,
    /// Do not descend into other file systems.
    pub xdev: bool,
    pub exclude: Exclude,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_name_patterns() {
        let ex = Exclude::new(&["/etc/mtab", "*.swp", "/srv/*/cache"]).unwrap();
        assert!(ex.matches(b"/etc/mtab", b"mtab"));
        assert!(ex.matches(b"/x/y/.a.swp", b".a.swp"));
        assert!(ex.matches(b"/srv/www/cache", b"cache"));
        assert!(!ex.matches(b"/srv/www/a/cache", b"cache"));
        assert!(!ex.matches(b"/etc/passwd", b"passwd"));
        assert!(ex.matches(b"/x/caf\xe9.swp", b"caf\xe9.swp"));
    }

    #[test]
    fn bad_glob_is_named() {
        let e = Exclude::new(&["a[b"]).unwrap_err();
        assert!(e.to_string().contains("a[b"));
    }
}
