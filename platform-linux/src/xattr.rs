//! A digest of a file's extended attributes (never following symlinks).

use std::io;

#[cfg(target_os = "linux")]
use homeostat_core::digest::{Algorithm, Hasher};
#[cfg(target_os = "linux")]
use std::ffi::CString;

/// Elsewhere than Linux there is no feed for extended attributes yet: none are seen.
#[cfg(not(target_os = "linux"))]
pub fn digest(_path: &[u8]) -> io::Result<Option<[u8; 32]>> {
    Ok(None)
}

/// SHA-256 over the sorted `name NUL length value` triples, `None` when there are none
/// (or the file system does not support them).
#[cfg(target_os = "linux")]
pub fn digest(path: &[u8]) -> io::Result<Option<[u8; 32]>> {
    let c = CString::new(path).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let names = list(&c)?;
    if names.is_empty() {
        return Ok(None);
    }
    let mut sorted: Vec<&[u8]> = names.split(|b| *b == 0).filter(|n| !n.is_empty()).collect();
    sorted.sort_unstable();
    let mut h = Hasher::new(Algorithm::Sha256);
    for name in sorted {
        let cname = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
        let value = get(&c, &cname)?;
        h.update(name);
        h.update(&[0]);
        h.update(&(value.len() as u64).to_le_bytes());
        h.update(&value);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(h.finalize().as_bytes());
    Ok(Some(out))
}

#[cfg(target_os = "linux")]
fn unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOTSUP) | Some(libc::ENODATA))
}

// The two shims below: the buffers passed are valid for the lengths given, and the C
// strings are NUL-terminated; the kernel writes at most `len` bytes.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn list(path: &CString) -> io::Result<Vec<u8>> {
    sized(unsupported, |buf, len| {
        // SAFETY: `path` is NUL-terminated; `buf` is null with `len` 0 (asking the size)
        // or valid for `len` bytes.
        unsafe { libc::llistxattr(path.as_ptr(), buf.cast(), len) }
    })
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn get(path: &CString, name: &CString) -> io::Result<Vec<u8>> {
    sized(
        |e| e.raw_os_error() == Some(libc::ENODATA),
        |buf, len| {
            // SAFETY: both C strings are NUL-terminated; `buf` is null with `len` 0
            // (asking the size) or valid for `len` bytes.
            unsafe { libc::lgetxattr(path.as_ptr(), name.as_ptr(), buf.cast(), len) }
        },
    )
}

/// The size-then-fetch loop of the xattr calls: `call(null, 0)` asks the size, then
/// `call(buf, len)` fills a buffer that large, asking again when the value grew between
/// the two (`ERANGE`). An error that `empty` accepts means there is nothing: no bytes.
#[cfg(target_os = "linux")]
fn sized(
    empty: impl Fn(&io::Error) -> bool,
    mut call: impl FnMut(*mut u8, usize) -> libc::ssize_t,
) -> io::Result<Vec<u8>> {
    loop {
        let n = call(std::ptr::null_mut(), 0);
        if n < 0 {
            let e = io::Error::last_os_error();
            return if empty(&e) { Ok(Vec::new()) } else { Err(e) };
        }
        if n == 0 {
            return Ok(Vec::new());
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
