//! Calls relative to an open directory (`openat`, `fstatat`, `linkat`, `renameat`,
//! `unlinkat`). Each name is a single component resolved inside a directory already
//! opened without following symlinks, so nothing can swap a path component between the
//! check and the write.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// An open directory.
pub struct Dir {
    file: File,
}

/// What a name is, from `lstat` (never following it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    Symlink,
    File,
    /// A fifo, socket or device.
    Other,
}

fn cname(name: &[u8]) -> io::Result<CString> {
    if name.is_empty() || name.contains(&b'/') {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// A syscall's `-1` as the error it set.
fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

impl Dir {
    /// `/`.
    pub fn root() -> io::Result<Dir> {
        Dir::open(Path::new("/"))
    }

    /// The directory at `path`, following symlinks: for a path the operator names.
    pub fn open(path: &Path) -> io::Result<Dir> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(path)?;
        Ok(Dir { file })
    }

    /// A second handle on the same directory.
    pub fn try_clone(&self) -> io::Result<Dir> {
        self.file.try_clone().map(|file| Dir { file })
    }

    /// The directory itself (`fstat`, `fsync`, `futimens`).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The subdirectory `name`; a symlink is refused (`ELOOP`), never followed.
    pub fn child(&self, name: &[u8]) -> io::Result<Dir> {
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        self.openat(name, flags, 0).map(|file| Dir { file })
    }

    /// `name` opened for reading, not following a symlink; `O_NONBLOCK` so that a fifo
    /// does not hang the open (the caller checks the type with `fstat`).
    pub fn open_read(&self, name: &[u8]) -> io::Result<File> {
        let flags =
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
        self.openat(name, flags, 0)
    }

    /// A new file `name` with `mode`; fails if anything exists there.
    pub fn create_new(&self, name: &[u8], mode: u32) -> io::Result<File> {
        let flags =
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        self.openat(name, flags, mode)
    }

    /// What `name` is, or `None` when nothing has that name.
    pub fn kind(&self, name: &[u8]) -> io::Result<Option<Kind>> {
        let c = cname(name)?;
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: the fd is open for the life of `self`, `c` is NUL-terminated and `st`
        // is valid for one `struct stat`, which the kernel fills when it returns 0.
        #[allow(unsafe_code)]
        let rc = unsafe {
            libc::fstatat(
                self.file.as_raw_fd(),
                c.as_ptr(),
                st.as_mut_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        match check(rc) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        }
        // SAFETY: fstatat returned 0, so it wrote the whole struct.
        #[allow(unsafe_code)]
        let mode = unsafe { st.assume_init() }.st_mode;
        Ok(Some(match mode & libc::S_IFMT {
            libc::S_IFDIR => Kind::Dir,
            libc::S_IFLNK => Kind::Symlink,
            libc::S_IFREG => Kind::File,
            _ => Kind::Other,
        }))
    }

    /// A second name `to` for the object `from` (a symlink itself, not what it names).
    pub fn link(&self, from: &[u8], to: &[u8]) -> io::Result<()> {
        let (f, t) = (cname(from)?, cname(to)?);
        let fd = self.file.as_raw_fd();
        // SAFETY: both names are NUL-terminated and the fd is open; flags 0 does not
        // follow a symlink.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::linkat(fd, f.as_ptr(), fd, t.as_ptr(), 0) };
        check(rc).map(drop)
    }

    /// Renames `from` to `to` in this directory, replacing `to` atomically.
    pub fn rename(&self, from: &[u8], to: &[u8]) -> io::Result<()> {
        let (f, t) = (cname(from)?, cname(to)?);
        let fd = self.file.as_raw_fd();
        // SAFETY: both names are NUL-terminated and the fd is open.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::renameat(fd, f.as_ptr(), fd, t.as_ptr()) };
        check(rc).map(drop)
    }

    /// Removes the non-directory `name`.
    pub fn unlink(&self, name: &[u8]) -> io::Result<()> {
        let c = cname(name)?;
        // SAFETY: the name is NUL-terminated and the fd is open.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::unlinkat(self.file.as_raw_fd(), c.as_ptr(), 0) };
        check(rc).map(drop)
    }

    fn openat(&self, name: &[u8], flags: libc::c_int, mode: u32) -> io::Result<File> {
        let c = cname(name)?;
        // SAFETY: the name is NUL-terminated and the fd is open; `mode` is only read with
        // O_CREAT, as the variadic argument `openat` expects.
        #[allow(unsafe_code)]
        let fd = unsafe {
            libc::openat(
                self.file.as_raw_fd(),
                c.as_ptr(),
                flags,
                mode as libc::c_uint,
            )
        };
        let fd = check(fd)?;
        // SAFETY: `fd` was just returned by openat and is owned by nothing else.
        #[allow(unsafe_code)]
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(File::from(owned))
    }
}

/// Why [`descend`] stopped, at the index of the component.
#[derive(Debug)]
pub enum Blocked {
    /// It is a symlink.
    Symlink(usize),
    /// It could not be opened as a directory.
    Other(usize, io::Error),
}

/// Opens `names` one below the other from `start`, following no symlink.
pub fn descend(start: Dir, names: &[&[u8]]) -> Result<Dir, Blocked> {
    let mut dir = start;
    for (i, name) in names.iter().enumerate() {
        dir = match dir.child(name) {
            Ok(d) => d,
            // A symlink fails as ENOTDIR or ELOOP (O_DIRECTORY | O_NOFOLLOW); lstat says which.
            Err(e) => match dir.kind(name) {
                Ok(Some(Kind::Symlink)) => return Err(Blocked::Symlink(i)),
                _ => return Err(Blocked::Other(i, e)),
            },
        };
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_components() {
        let d = Dir::open(Path::new("/")).unwrap();
        for bad in [&b""[..], b"a/b", b"x\0y"] {
            let e = d.kind(bad).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
    }

    #[test]
    fn symlinks_are_seen_not_followed() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("real")).unwrap();
        std::os::unix::fs::symlink("real", t.path().join("link")).unwrap();
        let d = Dir::open(t.path()).unwrap();
        assert_eq!(d.kind(b"link").unwrap(), Some(Kind::Symlink));
        assert_eq!(d.kind(b"real").unwrap(), Some(Kind::Dir));
        assert_eq!(d.kind(b"none").unwrap(), None);
        assert!(d.child(b"real").is_ok());
        let e = d.child(b"link").err().unwrap();
        // Linux says ENOTDIR for O_DIRECTORY | O_NOFOLLOW on a symlink; others ELOOP.
        assert!(
            matches!(e.raw_os_error(), Some(libc::ENOTDIR | libc::ELOOP)),
            "{e}"
        );
        let root = || Dir::open(t.path()).unwrap();
        assert!(descend(root(), &[b"real"]).is_ok());
        assert!(matches!(
            descend(root(), &[b"link", b"x"]),
            Err(Blocked::Symlink(0))
        ));
        assert!(matches!(
            descend(root(), &[b"real", b"no"]),
            Err(Blocked::Other(1, _))
        ));
    }
}
