//! Where state lives, and the host's name recorded with it.

use std::io;
use std::path::{Path, PathBuf};

use homeostat_core::feed::{BlobReader, BlobWriter, Storage};

/// `--state-dir`, then the config's `state_dir`, then /var/lib/homeostat as root,
/// `$XDG_STATE_HOME/homeostat` or `~/.local/state/homeostat` otherwise.
pub fn choose(flag: Option<&Path>, configured: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = flag.or(configured) {
        return Ok(p.to_owned());
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    #[allow(unsafe_code)]
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        return Ok(PathBuf::from("/var/lib/homeostat"));
    }
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|x| !x.is_empty()) {
        return Ok(PathBuf::from(x).join("homeostat"));
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".local/state/homeostat")),
        None => Err(String::from(
            "no state directory: set --state-dir, XDG_STATE_HOME or HOME",
        )),
    }
}

/// This host's name, as `gethostname` gives it (lossy UTF-8), or `unknown`.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it
    // or truncates, and we stop at the first NUL or the end.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::from("unknown");
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}
/// A stored blob read as a [`std::io::Read`] (what the core's streaming decoders take).
pub struct Reading<R>(pub R);

impl<R: BlobReader<Error = io::Error>> io::Read for Reading<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

/// The whole of a small blob, `None` when there is none; more than `limit` bytes is an
/// `InvalidData` error naming the blob and the limit.
pub fn read_blob<S: Storage<Error = io::Error>>(
    store: &mut S,
    name: &str,
    limit: u64,
) -> io::Result<Option<Vec<u8>>> {
    let Some(r) = store.load(name)? else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    let r = Reading(r);
    homeostat_linux::bounded::read_into(r, Path::new(name), limit, &mut bytes)?;
    Ok(Some(bytes))
}

/// Replaces blob `name` with `bytes`, atomically.
pub fn write_blob<S: Storage<Error = io::Error>>(
    store: &mut S,
    name: &str,
    bytes: &[u8],
) -> io::Result<()> {
    let mut w = store.store(name)?;
    w.write(bytes)?;
    w.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::StateDir;

    #[test]
    fn state_blob_read_without_a_bound_is_refused_past_its_limit() {
        let d = tempfile::tempdir().unwrap();
        let mut store = StateDir::new(d.path());
        assert_eq!(read_blob(&mut store, "b.json", 4).unwrap(), None);
        write_blob(&mut store, "b.json", b"1234").unwrap();
        assert_eq!(
            read_blob(&mut store, "b.json", 4).unwrap().unwrap(),
            b"1234"
        );
        let e = read_blob(&mut store, "b.json", 3).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
        assert!(
            e.to_string()
                .contains("b.json is larger than its limit of 3 bytes"),
            "{e}"
        );
    }
}
