//! `/v1/file?path=P`: a watched file's bytes, for a neighbour's `restore`, and only while
//! they are exactly what this host's database says.
//!
//! P (percent-encoded bytes) must be a plain absolute path (no `.`, `..`, empty
//! component or NUL) under a configured tree, an entry of the database (verified with
//! the keys first) that is a regular file with a recorded digest; the file is opened one
//! component at a time without following symlinks, hashed from the open descriptor with
//! the database's algorithm, and the same descriptor, rewound, is what is sent.

use std::cmp::Ordering;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;

use homeostat_core::digest::{Digest, Hasher};
use homeostat_core::fim::order::path_cmp;
use homeostat_core::fim::Kind;
use rustix::fs::{openat, Mode, OFlags, CWD};

use super::Shared;
use crate::files::database::{self, Section};
use crate::output::escape::escape;

/// Why a request gets no bytes, for the log: the path (escaped) and the reason.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The query is not `path=` followed by a percent-encoded path (400).
    BadRequest(String),
    /// Anything else (404): nothing about the file is told to the client.
    NotServed(String),
}

/// The open file, rewound, and the length that was hashed.
pub struct Matching {
    pub file: File,
    pub len: u64,
}

/// Decides and opens; blocking (it reads the database and the file).
pub fn open_matching(shared: &Shared, query: Option<&str>) -> Result<Matching, Refused> {
    let path = path_of(query.unwrap_or(""))?;
    let shown = escape(&path);
    let refuse = |why: &str| Refused::NotServed(format!("{shown}: {why}"));
    if !plain_absolute(&path) {
        return Err(refuse("not a plain absolute path"));
    }
    let roots: Vec<&[u8]> = shared
        .roots
        .iter()
        .map(Vec::as_slice)
        .filter(|r| under(&path, r))
        .collect();
    if roots.is_empty() {
        return Err(refuse("outside the watched trees"));
    }
    let want = recorded_digest(shared, &path, &roots).map_err(|why| refuse(&why))?;
    let mut file = open_no_symlinks(&path).map_err(|e| match e.raw_os_error() {
        Some(libc::ELOOP) | Some(libc::ENOTDIR) => refuse("a symlink in the path"),
        _ => refuse(&format!("cannot open: {e}")),
    })?;
    let meta = file
        .metadata()
        .map_err(|e| refuse(&format!("cannot stat: {e}")))?;
    let kind = meta.file_type();
    if !kind.is_file() || kind.is_fifo() {
        return Err(refuse("not a regular file"));
    }
    let (got, len) = hash(&mut file, &want).map_err(|e| refuse(&format!("cannot read: {e}")))?;
    if got != want {
        return Err(refuse("content does not match the database"));
    }
    file.seek(SeekFrom::Start(0))
        .map_err(|e| refuse(&format!("cannot rewind: {e}")))?;
    Ok(Matching { file, len })
}

/// The bytes of `path=` in the query: `%XX` escapes and plain bytes, nothing else.
fn path_of(query: &str) -> Result<Vec<u8>, Refused> {
    let mut found = None;
    for pair in query.split('&') {
        if let Some(v) = pair.strip_prefix("path=") {
            if found.replace(v).is_some() {
                return Err(Refused::BadRequest("path= given twice".into()));
            }
        }
    }
    let raw = found.ok_or_else(|| Refused::BadRequest("no path= in the query".into()))?;
    percent_decode(raw.as_bytes()).ok_or_else(|| {
        Refused::BadRequest(format!("path={}: a bad %-escape", escape(raw.as_bytes())))
    })
}

fn percent_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    Some(out)
}

/// `/` followed by components none of which is empty, `.` or `..`, and no NUL.
fn plain_absolute(p: &[u8]) -> bool {
    p.len() > 1
        && p[0] == b'/'
        && !p.contains(&0)
        && p[1..]
            .split(|&b| b == b'/')
            .all(|c| !c.is_empty() && c != b"." && c != b"..")
}

/// Whether `path` is `root` or lies below it.
fn under(path: &[u8], root: &[u8]) -> bool {
    let root = match root {
        [rest @ .., b'/'] => rest,
        r => r,
    };
    path.strip_prefix(root)
        .is_some_and(|rest| rest.is_empty() || rest[0] == b'/')
}

/// The content digest the verified database records for `path`, a regular file, in one
/// of the trees rooted at `roots`.
fn recorded_digest(shared: &Shared, path: &[u8], roots: &[&[u8]]) -> Result<Digest, String> {
    let db = shared.database();
    let v = database::verify(&db, &shared.keys).map_err(|e| e.to_string())?;
    let mut buf = Section::buffer();
    for (i, t) in v.trees.iter().enumerate() {
        if !roots.contains(&t.root.as_slice()) {
            continue;
        }
        let mut section = Section::open(&v, i, &mut buf).map_err(|e| e.to_string())?;
        while let Some(e) = section.next_entry(&db).map_err(|e| e.to_string())? {
            match path_cmp(&e.path, path) {
                Ordering::Less => continue,
                Ordering::Greater => break,
                Ordering::Equal => {}
            }
            return match (e.meta.kind, e.meta.content) {
                (Kind::File, Some(d)) => Ok(d),
                (Kind::File, None) => Err("no digest recorded (unreadable when recorded)".into()),
                _ => Err("not a regular file in the database".into()),
            };
        }
    }
    Err("not in the database".into())
}

/// Opens `path` (plain and absolute) from `/` one component at a time, never following
/// a symlink: a symlink anywhere fails with ELOOP or ENOTDIR.
fn open_no_symlinks(path: &[u8]) -> io::Result<File> {
    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut dir = openat(CWD, "/", dir_flags, Mode::empty())?;
    let mut parts = path[1..].split(|&b| b == b'/').peekable();
    while let Some(name) = parts.next() {
        let name = OsStr::from_bytes(name);
        if parts.peek().is_some() {
            dir = openat(&dir, name, dir_flags, Mode::empty())?;
        } else {
            // NONBLOCK: a fifo swapped in does not hang the open.
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
            return Ok(File::from(openat(&dir, name, flags, Mode::empty())?));
        }
    }
    Err(io::Error::from(io::ErrorKind::InvalidInput))
}

/// Hashes the whole file with `want`'s algorithm; the digest and the bytes read.
fn hash(file: &mut File, want: &Digest) -> io::Result<(Digest, u64)> {
    let mut h = Hasher::new(want.algorithm());
    let mut buf = vec![0u8; 64 * 1024];
    let mut len = 0u64;
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                h.update(&buf[..n]);
                len += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((h.finalize(), len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        assert_eq!(path_of("path=%2Fetc%2Fpasswd"), Ok(b"/etc/passwd".to_vec()));
        assert_eq!(path_of("x=1&path=/a%ff"), Ok(b"/a\xff".to_vec()));
        for bad in [
            "",
            "x=1",
            "path=%2",
            "path=%zz",
            "path=/a&path=/b",
            "path=%+1",
        ] {
            assert!(matches!(path_of(bad), Err(Refused::BadRequest(_))), "{bad}");
        }
    }

    #[test]
    fn only_plain_absolute_paths() {
        assert!(plain_absolute(b"/etc/passwd"));
        assert!(plain_absolute(b"/a/..b/c."));
        for bad in [
            &b""[..],
            b"/",
            b"etc/passwd",
            b"/etc/../shadow",
            b"/etc/./passwd",
            b"/etc//passwd",
            b"/etc/",
            b"/etc/pass\0wd",
            b"/..",
        ] {
            assert!(!plain_absolute(bad), "{}", escape(bad));
        }
    }

    #[test]
    fn under_a_root() {
        assert!(under(b"/etc/passwd", b"/etc"));
        assert!(under(b"/etc/passwd", b"/etc/"));
        assert!(under(b"/etc", b"/etc"));
        assert!(under(b"/etc/passwd", b"/"));
        assert!(!under(b"/etcetera/x", b"/etc"));
        assert!(!under(b"/usr/x", b"/etc"));
    }

    #[test]
    fn symlink_components_are_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::fs::write(real.join("f"), b"x").unwrap();
        std::os::unix::fs::symlink(&real, d.path().join("link")).unwrap();
        std::os::unix::fs::symlink(real.join("f"), real.join("g")).unwrap();
        let p = |rel: &str| d.path().join(rel).into_os_string().into_vec();
        use std::os::unix::ffi::OsStringExt;
        assert!(open_no_symlinks(&p("real/f")).is_ok());
        for bad in ["link/f", "real/g"] {
            let e = open_no_symlinks(&p(bad)).unwrap_err();
            assert!(
                matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)),
                "{bad}: {e}"
            );
        }
    }
}
