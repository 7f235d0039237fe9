//! Owner of a path: every `info/*.list` folded into a sorted array of (path key, package),
//! 16 bytes a path, with dpkg's diversions applied.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use super::{path_key, Problem};

/// Path keys of every listed path and their packages, sorted by key.
#[derive(Debug, Default)]
pub(crate) struct Owners {
    keys: Vec<(u64, u32)>,
    /// Where a diverted package file lives (`to`) → the name its package knows it by.
    pub renamed: HashMap<u64, Vec<u8>>,
}

/// One diversion: the path, where the diverted file went, and who diverted it (`None`: the
/// local admin).
struct Diversion {
    to: Vec<u8>,
    by: Option<String>,
}

impl Owners {
    /// Reads the `.list` files of `lists` (package id, file) and applies `diversions`.
    pub(crate) fn build(
        lists: &[(u32, &str, std::path::PathBuf)],
        diversions: &Path,
        problems: &mut Vec<Problem>,
    ) -> Owners {
        let div = read_diversions(diversions, problems);
        let mut o = Owners::default();
        for (id, name, file) in lists {
            let Ok(f) = std::fs::File::open(file) else {
                problems.push(Problem::at(file, 0, "cannot be read"));
                continue;
            };
            let f = crate::bounded::Limited::new(f, file, crate::bounded::limits::DPKG_FILE);
            for line in std::io::BufReader::new(f).split(b'\n') {
                let Ok(path) = line else {
                    problems.push(Problem::at(file, 0, "read error"));
                    break;
                };
                let key = path_key(&path);
                match div.get(&key) {
                    // The package's own file moved aside: its content lives at `to`.
                    Some(d) if d.by.as_deref() != Some(*name) => {
                        let to = path_key(&d.to);
                        o.keys.push((to, *id));
                        o.renamed.insert(to, path);
                    }
                    _ => o.keys.push((key, *id)),
                }
            }
        }
        o.keys.sort_unstable();
        o.keys.shrink_to_fit();
        o
    }

    /// The first package that lists `path`.
    pub(crate) fn owner(&self, path: &[u8]) -> Option<u32> {
        let key = path_key(path);
        let i = self.keys.partition_point(|&(k, _)| k < key);
        self.keys
            .get(i)
            .filter(|(k, _)| *k == key)
            .map(|&(_, id)| id)
    }

    /// Every package that lists `path`, in package order.
    pub(crate) fn all(&self, path: &[u8]) -> impl Iterator<Item = u32> + '_ {
        let key = path_key(path);
        let i = self.keys.partition_point(|&(k, _)| k < key);
        self.keys[i..]
            .iter()
            .take_while(move |(k, _)| *k == key)
            .map(|&(_, id)| id)
    }

    /// Whether `id` lists `path`.
    pub(crate) fn lists(&self, id: u32, path: &[u8]) -> bool {
        let key = path_key(path);
        let i = self.keys.partition_point(|&(k, _)| k < key);
        self.keys[i..]
            .iter()
            .take_while(|(k, _)| *k == key)
            .any(|&(_, p)| p == id)
    }

    /// Paths indexed.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }
}

/// `diversions`: three lines each (from, to, package or `:`); a missing file is none.
fn read_diversions(path: &Path, problems: &mut Vec<Problem>) -> HashMap<u64, Diversion> {
    let mut out = HashMap::new();
    let Ok(text) = crate::bounded::read(path, crate::bounded::limits::DPKG_FILE) else {
        return out;
    };
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    let lines = match lines.split_last() {
        Some((&[], rest)) => rest,
        _ => &lines[..],
    };
    if lines.len() % 3 != 0 {
        problems.push(Problem::at(
            path,
            lines.len(),
            "expected groups of three lines (from, to, package)",
        ));
    }
    for g in lines.chunks_exact(3) {
        let by = match g[2] {
            b":" => None,
            p => Some(String::from_utf8_lossy(p).into_owned()),
        };
        out.insert(
            path_key(g[0]),
            Diversion {
                to: g[1].to_vec(),
                by,
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_and_diversions() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.list");
        let b = dir.path().join("b.list");
        std::fs::write(&a, "/usr\n/usr/bin\n/usr/bin/x\n").unwrap();
        std::fs::write(&b, "/usr\n/usr/bin/x\n").unwrap();
        let div = dir.path().join("diversions");
        std::fs::write(&div, "/usr/bin/x\n/usr/bin/x.real\nb\n").unwrap();
        let mut problems = Vec::new();
        let o = Owners::build(&[(0, "a", a), (1, "b", b)], &div, &mut problems);
        assert!(problems.is_empty());
        assert_eq!(o.owner(b"/usr/bin/x"), Some(1));
        assert_eq!(o.owner(b"/usr/bin/x.real"), Some(0));
        assert_eq!(
            o.renamed.get(&path_key(b"/usr/bin/x.real")).unwrap(),
            b"/usr/bin/x"
        );
        assert!(o.lists(1, b"/usr") && o.lists(0, b"/usr"));
        assert_eq!(o.owner(b"/etc"), None);
    }
}
