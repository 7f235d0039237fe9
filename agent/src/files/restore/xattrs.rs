//! Extended attributes, by file descriptor. The database keeps only their digest, so
//! a restore cannot put them back from the database; it carries over the old file's
//! when they still hash to the recorded digest (a content-only tampering must not cost a
//! program its capabilities or its security label).

use std::fs::File;
use std::io;

use homeostat_core::digest::{Algorithm, Hasher};

/// Name/value pairs, sorted by name.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// The digest a check records of `pairs`: SHA-256 over the sorted `name NUL length value`
/// triples (length as little-endian u64), `None` when there are none. The same formula as
/// the platform's walker; `tests::same_digest_as_a_check` holds them together.
pub fn digest(pairs: &Pairs) -> Option<[u8; 32]> {
    if pairs.is_empty() {
        return None;
    }
    let mut h = Hasher::new(Algorithm::Sha256);
    for (name, value) in pairs {
        h.update(name);
        h.update(&[0]);
        h.update(&(value.len() as u64).to_le_bytes());
        h.update(value);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(h.finalize().as_bytes());
    Some(out)
}

#[cfg(not(target_os = "linux"))]
pub fn read(_f: &File) -> io::Result<Pairs> {
    Ok(Pairs::new())
}

#[cfg(not(target_os = "linux"))]
pub fn write(_f: &File, _pairs: &Pairs) -> io::Result<()> {
    Ok(())
}

/// Every attribute of the open file, sorted by name; none where unsupported.
#[cfg(target_os = "linux")]
pub fn read(f: &File) -> io::Result<Pairs> {
    use std::ffi::CString;
    use std::os::fd::AsRawFd;
    let fd = f.as_raw_fd();
    let names = sized(|buf, len| {
        // SAFETY: the fd is open; `buf` is null with `len` 0 (asking the size) or valid
        // for `len` bytes.
        unsafe { libc::flistxattr(fd, buf.cast(), len) }
    })?;
    let mut pairs = Pairs::new();
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let c = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
        let value = sized(|buf, len| {
            // SAFETY: as above; `c` is NUL-terminated.
            unsafe { libc::fgetxattr(fd, c.as_ptr(), buf.cast(), len) }
        })?;
        pairs.push((name.to_vec(), value));
    }
    pairs.sort();
    Ok(pairs)
}

/// Sets each attribute on the open file.
#[cfg(target_os = "linux")]
pub fn write(f: &File, pairs: &Pairs) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::fd::AsRawFd;
    for (name, value) in pairs {
        let c = CString::new(&name[..]).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
        // SAFETY: the fd is open, `c` is NUL-terminated and `value` valid for its length.
        let rc = unsafe {
            libc::fsetxattr(
                f.as_raw_fd(),
                c.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The size-then-fetch loop of the xattr calls, asking again when the value grew in
/// between (`ERANGE`); unsupported or absent is empty.
#[cfg(target_os = "linux")]
fn sized(mut call: impl FnMut(*mut u8, usize) -> libc::ssize_t) -> io::Result<Vec<u8>> {
    loop {
        let n = call(std::ptr::null_mut(), 0);
        if n <= 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                _ if n == 0 => Ok(Vec::new()),
                Some(libc::ENOTSUP) | Some(libc::ENODATA) => Ok(Vec::new()),
                _ => Err(e),
            };
        }
        let mut buf = vec![0u8; n as usize];
        let m = call(buf.as_mut_ptr(), buf.len());
        if m >= 0 {
            buf.truncate(m as usize);
            return Ok(buf);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ERANGE) {
            return Err(e);
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn same_digest_as_a_check() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("f");
        std::fs::write(&p, b"x").unwrap();
        let f = File::open(&p).unwrap();
        let pairs: Pairs = vec![
            (b"user.b".to_vec(), b"2".to_vec()),
            (b"user.a".to_vec(), vec![0, 1, 2]),
        ];
        match write(&f, &pairs) {
            // A file system without user xattrs has nothing to compare.
            Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return,
            r => r.unwrap(),
        }
        let read_back = read(&f).unwrap();
        let user: Pairs = read_back
            .iter()
            .filter(|(n, _)| n.starts_with(b"user."))
            .cloned()
            .collect();
        assert_eq!(user.len(), 2);
        assert!(user[0].0 < user[1].0, "sorted");
        let spec = crate::platform::TreeSpec {
            root: std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str()).to_vec(),
            algorithm: Algorithm::Sha256,
            attrs: homeostat_core::fim::Attrs::ALL,
            depth: Some(0),
            xdev: false,
            exclude: crate::platform::Exclude::default(),
        };
        let walked = super::super::single(&spec, &spec.root).unwrap();
        assert!(walked.meta.xattrs.is_some());
        assert_eq!(digest(&read_back), walked.meta.xattrs);
    }
}
