//! dpkg's `info/` directory: which `.list` belongs to which package, and `.md5sums`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{path_key, status, Pkg, Problem};

/// Directories a merged `/usr` links from `/`.
pub(crate) fn merged(path: &[u8]) -> bool {
    ["/bin/", "/sbin/", "/lib/", "/lib32/", "/lib64/", "/libx32/"]
        .iter()
        .any(|d| path.starts_with(d.as_bytes()))
}

/// `info/*.list`: each names its package (`name.list` or `name:arch.list`).
pub(crate) fn list_files(
    info: &Path,
    pkgs: &mut [Pkg],
    by_name: &HashMap<(String, String), usize>,
) -> Vec<(u32, PathBuf)> {
    let mut by_plain: HashMap<&str, usize> = HashMap::new();
    for (i, p) in pkgs.iter().enumerate() {
        by_plain.entry(p.name.as_str()).or_insert(i);
    }
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir(info) else {
        return Vec::new();
    };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(base) = name.strip_suffix(".list") else {
            continue;
        };
        let id = match base.split_once(':') {
            Some((n, a)) => by_name.get(&(n.to_owned(), a.to_owned())).copied(),
            None => by_plain.get(base).copied(),
        };
        if let Some(id) = id {
            found.push((id as u32, base.to_owned(), e.path()));
        }
    }
    let mut out = Vec::with_capacity(found.len());
    for (id, base, path) in found {
        pkgs[id as usize].info = Some(base);
        out.push((id, path));
    }
    out
}

/// `P.md5sums`: `MD5  relative/path` lines, by the key of the absolute path; a damaged line
/// is a problem named by file and line.
pub(crate) fn md5sums(file: &Path, problems: &mut Vec<Problem>) -> HashMap<u64, [u8; 16]> {
    let mut out = HashMap::new();
    let Ok(text) = crate::bounded::read(file, crate::bounded::limits::DPKG_FILE) else {
        return out;
    };
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let parsed = line
            .get(34..)
            .filter(|_| &line[32..34] == b"  ")
            .and_then(|rel| {
                let md5 = status::hex16(std::str::from_utf8(&line[..32]).ok()?)?;
                Some((path_key(&[b"/", rel].concat()), md5))
            });
        match parsed {
            Some((k, md5)) => {
                out.insert(k, md5);
            }
            None => problems.push(Problem::at(file, i + 1, "expected `MD5  PATH`")),
        }
    }
    out
}
