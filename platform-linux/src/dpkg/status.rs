//! `/var/lib/dpkg/status`: the installed packages, their versions and conffiles.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use super::{path_key, Problem};

/// One package paragraph of the status file (installed or with config files left).
#[derive(Debug, Default)]
pub(crate) struct Stanza {
    pub name: String,
    pub arch: String,
    /// The version, when the package's files are on disk (installed, unpacked, …).
    pub version: Option<String>,
    /// Conffiles the status records: path key → expected MD5.
    pub conffiles: Vec<(u64, [u8; 16])>,
}

/// Reads every paragraph of `path`; a line that is no field and no continuation is a
/// problem named by file and line, and the paragraph goes on without it.
pub(crate) fn read(path: &Path, problems: &mut Vec<Problem>) -> std::io::Result<Vec<Stanza>> {
    let file = std::fs::File::open(path)?;
    let mut out = Vec::new();
    let mut cur = Stanza::default();
    let mut installed = false;
    let mut version = None;
    let mut field = String::new();
    let file = crate::bounded::Limited::new(file, path, crate::bounded::limits::DPKG_DATA);
    for (i, line) in std::io::BufReader::new(file).split(b'\n').enumerate() {
        let line = line?;
        let no = i + 1;
        if line.is_empty() {
            finish(&mut out, &mut cur, &mut installed, &mut version);
            continue;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if field == "Conffiles" {
                conffile(&line, &mut cur, path, no, problems);
            }
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            problems.push(Problem::at(path, no, "expected `Field: value`"));
            field.clear();
            continue;
        };
        let Ok(value) = std::str::from_utf8(&line[colon + 1..]) else {
            problems.push(Problem::at(path, no, "value is not UTF-8"));
            field.clear();
            continue;
        };
        field = String::from_utf8_lossy(&line[..colon]).into_owned();
        let value = value.trim();
        match field.as_str() {
            "Package" => cur.name = value.to_owned(),
            "Architecture" => cur.arch = value.to_owned(),
            "Version" => version = Some(value.to_owned()),
            // Unpacked or half-configured: the files on disk are this version's already.
            "Status" => {
                installed = !matches!(
                    value.split(' ').nth(2),
                    None | Some("not-installed" | "config-files")
                )
            }
            _ => {}
        }
    }
    finish(&mut out, &mut cur, &mut installed, &mut version);
    Ok(out)
}

fn finish(out: &mut Vec<Stanza>, cur: &mut Stanza, installed: &mut bool, v: &mut Option<String>) {
    let mut s = std::mem::take(cur);
    s.version = v.take().filter(|_| *installed);
    *installed = false;
    if !s.name.is_empty() {
        out.push(s);
    }
}

/// ` /etc/foo 0123…abcd [obsolete]`: a conffile and its MD5.
fn conffile(line: &[u8], cur: &mut Stanza, path: &Path, no: usize, problems: &mut Vec<Problem>) {
    let text = String::from_utf8_lossy(line);
    let mut words = text.split_ascii_whitespace();
    let (Some(file), Some(md5)) = (words.next(), words.next()) else {
        problems.push(Problem::at(path, no, "expected ` PATH MD5` in Conffiles"));
        return;
    };
    match hex16(md5) {
        Some(d) => cur.conffiles.push((path_key(file.as_bytes()), d)),
        // `newconffile`: not unpacked yet, nothing to compare against.
        None if md5 == "newconffile" => {}
        None => problems.push(Problem::at(path, no, "Conffiles MD5 is not 32 hex digits")),
    }
}

/// 32 hex digits as 16 bytes.
pub(crate) fn hex16(s: &str) -> Option<[u8; 16]> {
    let b = s.as_bytes();
    if b.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in b.chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// Name and arch → index into the stanzas.
pub(crate) fn by_name(stanzas: &[Stanza]) -> HashMap<(String, String), usize> {
    stanzas
        .iter()
        .enumerate()
        .map(|(i, s)| ((s.name.clone(), s.arch.clone()), i))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_versions_conffiles_and_names_a_damaged_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("status");
        std::fs::write(
            &p,
            "Package: a\nStatus: install ok installed\nArchitecture: all\nVersion: 1.0\n\
             Conffiles:\n /etc/a.conf 0123456789abcdef0123456789abcdef\n\n\
             garbage line\nPackage: b\nStatus: deinstall ok config-files\nArchitecture: amd64\n\
             Version: 2\n",
        )
        .unwrap();
        let mut problems = Vec::new();
        let s = read(&p, &mut problems).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].version.as_deref(), Some("1.0"));
        assert_eq!(s[0].conffiles.len(), 1);
        assert_eq!(s[1].version, None);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, 8);
    }
}
