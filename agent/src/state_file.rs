//! Opening the state directory's files without following a symlink.
//!
//! The state directory is 0700 and checked, but whoever once wrote into it (or a careless
//! restore) may have left a symlink in place of a state file: following it would append
//! our log to `/etc/shadow`, or copy a secret into a file others read. Every open of a
//! state file goes through here: `O_NOFOLLOW` on the last component, `O_EXCL` when
//! creating a new file, 0600, and an error that names the file and says it is a symlink.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::output::escape::escape;

/// Flags of every open: no symlink as the last component, not inherited by children.
const FLAGS: i32 = libc::O_NOFOLLOW | libc::O_CLOEXEC;

/// `path` opened for reading.
pub fn read(path: &Path) -> io::Result<File> {
    open(path, OpenOptions::new().read(true))
}

/// The whole of `path`, at most `limit` bytes (else an error naming the file and the
/// limit), never through a symlink.
pub fn read_limited(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    homeostat_linux::bounded::read_into(read(path)?, path, limit, &mut bytes)?;
    Ok(bytes)
}

/// `path` opened for reading and appending, created 0600 when missing.
pub fn append(path: &Path) -> io::Result<File> {
    open(
        path,
        OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600),
    )
}

/// `path` opened for writing at the end (it must exist), as for an fsync.
pub fn existing_for_append(path: &Path) -> io::Result<File> {
    open(path, OpenOptions::new().append(true))
}

/// A new file at `path`, 0600; fails when anything (a symlink included) is there.
pub fn create_new(path: &Path) -> io::Result<File> {
    open(
        path,
        OpenOptions::new().write(true).create_new(true).mode(0o600),
    )
}

/// `path` opened as `how` says, never through a symlink.
pub fn open_with(path: &Path, how: &mut OpenOptions) -> io::Result<File> {
    open(path, how)
}

fn open(path: &Path, how: &mut OpenOptions) -> io::Result<File> {
    how.custom_flags(FLAGS)
        .open(path)
        .map_err(|e| refused(path, e))
}

/// A symlink's `ELOOP` said as what it is, naming the file; other errors unchanged.
pub fn refused(path: &Path, e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        return io::Error::new(
            e.kind(),
            format!(
                "{} is a symbolic link: a state file must be a regular file (remove the link)",
                escape(path.as_os_str().as_bytes())
            ),
        );
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlinked_state_file_is_refused_by_every_open_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"secret\n").unwrap();
        let link = dir.path().join("state");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        for (name, r) in [
            ("read", read(&link)),
            ("append", append(&link)),
            ("existing_for_append", existing_for_append(&link)),
            ("create_new", create_new(&link)),
        ] {
            let e = r.expect_err(name);
            let msg = e.to_string();
            if name == "create_new" {
                assert_eq!(e.kind(), io::ErrorKind::AlreadyExists, "{name}: {msg}");
            } else {
                assert!(msg.contains("is a symbolic link"), "{name}: {msg}");
                assert!(msg.contains("/state"), "{name}: {msg}");
            }
        }
        assert_eq!(std::fs::read(&target).unwrap(), b"secret\n");
    }
}
