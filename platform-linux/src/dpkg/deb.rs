//! The strongest expectation: the file inside the package archive in apt's cache, when the
//! archive's SHA-256 is the one apt's signed package lists give for that name, version and
//! architecture.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use homeostat_core::digest::{Algorithm, Hasher};
use homeostat_core::package::Archived;

use super::{tar, Problem};

/// Name, version, architecture.
pub(crate) type Nva = (String, String, String);

/// The archive apt would have downloaded: `NAME_VERSION_ARCH.deb`, the epoch's colon
/// written `%3a`.
pub(crate) fn cached(cache: &Path, (n, v, a): &Nva) -> PathBuf {
    cache.join(format!("{n}_{}_{a}.deb", v.replace(':', "%3a")))
}

/// SHA-256 of each wanted package in the package lists of `lists` (`*Packages`, plain, gz,
/// or any compression `apt-helper cat-file` reads).
pub(crate) fn listed_sha256(
    lists: &Path,
    wanted: &HashSet<Nva>,
    problems: &mut Vec<Problem>,
) -> HashMap<Nva, [u8; 32]> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir(lists) else {
        return out;
    };
    let mut files: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
    files.sort();
    for f in files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let reader: Box<dyn Read> = if name.ends_with("Packages") {
            match std::fs::File::open(&f) {
                Ok(r) => Box::new(r),
                Err(e) => {
                    problems.push(Problem::at(&f, 0, &format!("cannot be read: {e}")));
                    continue;
                }
            }
        } else if name.ends_with("Packages.gz") {
            match std::fs::File::open(&f) {
                Ok(r) => Box::new(flate2::read::MultiGzDecoder::new(r)),
                Err(_) => continue,
            }
        } else if name.contains("Packages.") {
            match cat_file(&f) {
                Some(r) => r,
                None => continue,
            }
        } else {
            continue;
        };
        stanzas(reader, &f, wanted, &mut out, problems);
    }
    out
}

/// apt's own decompressor (lz4, xz, zstd lists).
fn cat_file(f: &Path) -> Option<Box<dyn Read>> {
    let child = Command::new("/usr/lib/apt/apt-helper")
        .arg("cat-file")
        .arg(f)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    Some(Box::new(child.stdout?))
}

pub(super) fn stanzas(
    r: impl Read,
    file: &Path,
    wanted: &HashSet<Nva>,
    out: &mut HashMap<Nva, [u8; 32]>,
    problems: &mut Vec<Problem>,
) {
    let (mut n, mut v, mut a, mut sha) = (String::new(), String::new(), String::new(), None);
    let r = crate::bounded::Limited::new(r, file, crate::bounded::limits::DPKG_DATA);
    let mut lines = BufReader::new(r).split(b'\n').enumerate();
    loop {
        let next = lines.next();
        let line = match &next {
            Some((_, Ok(l))) => l.as_slice(),
            Some((i, Err(e))) => {
                problems.push(Problem::at(file, i + 1, &format!("read error: {e}")));
                return;
            }
            None => b"",
        };
        if line.is_empty() {
            let key = (
                std::mem::take(&mut n),
                std::mem::take(&mut v),
                std::mem::take(&mut a),
            );
            if let Some(s) = sha.take().filter(|_| wanted.contains(&key)) {
                out.insert(key, s);
            }
            if next.is_none() {
                return;
            }
            continue;
        }
        let text = String::from_utf8_lossy(line);
        match text.split_once(": ") {
            Some(("Package", x)) => n = x.trim().to_owned(),
            Some(("Version", x)) => v = x.trim().to_owned(),
            Some(("Architecture", x)) => a = x.trim().to_owned(),
            Some(("SHA256", x)) => sha = hex32(x.trim()),
            _ => {}
        }
    }
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    let a = super::status::hex16(s.get(..32)?)?;
    let b = super::status::hex16(s.get(32..)?)?;
    let mut out = [0u8; 32];
    out[..16].copy_from_slice(&a);
    out[16..].copy_from_slice(&b);
    Some(out)
}

/// SHA-256 of a file.
pub(crate) fn sha256_file(p: &Path) -> std::io::Result<[u8; 32]> {
    let mut f = std::fs::File::open(p)?;
    let mut h = Hasher::new(Algorithm::Sha256);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match f.read(&mut buf)? {
            0 => break,
            n => h.update(&buf[..n]),
        }
    }
    let d = h.finalize();
    Ok(d.as_bytes().try_into().unwrap_or([0; 32]))
}

/// The members of the archive `deb`, unpacked by `dpkg-deb --fsys-tarfile` (which reads
/// every compression dpkg writes).
pub(crate) fn members(deb: &Path, alg: Algorithm) -> std::io::Result<HashMap<u64, Archived>> {
    let mut child = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let out = match child.stdout.take() {
        Some(s) => tar::members(BufReader::new(s), alg),
        None => Err(std::io::Error::other("no pipe from dpkg-deb")),
    };
    let status = child.wait()?;
    match (out, status.success()) {
        (Ok(m), true) => Ok(m),
        (Err(e), _) => Err(e),
        (_, false) => Err(std::io::Error::other(format!(
            "dpkg-deb --fsys-tarfile: {status}"
        ))),
    }
}
