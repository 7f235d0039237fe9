//! A directory of blobs ([`homeostat_core::feed::Storage`]): the agent's state directory.
//!
//! A blob is the file of its name. It is replaced as the file database is: written to
//! `NAME.tmp.PID` in the same directory (created exclusively, never following a link),
//! flushed and fsync'd, renamed over `NAME`, and the directory fsync'd, so that a crash
//! leaves the old file or the new one. Temporaries of processes that died before their
//! rename are removed when the name is next stored.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use homeostat_core::feed::{BlobReader, BlobWriter, Storage};

/// Bytes buffered between the caller and the file, each way.
const BUF: usize = 64 * 1024;

/// A directory that keeps blobs as files.
#[derive(Clone, Debug)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    /// The blobs in `dir` (which must exist to load or store anything).
    pub fn new(dir: impl Into<PathBuf>) -> StateDir {
        StateDir { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where blob `name` lives (for messages).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The file of `name`, which must be a plain file name.
    fn file(&self, name: &str) -> io::Result<PathBuf> {
        let plain = !name.is_empty()
            && name != "."
            && name != ".."
            && !name.contains('/')
            && !name.contains('\0');
        if !plain {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name:?} is not a blob name (a plain file name)"),
            ));
        }
        Ok(self.dir.join(name))
    }
}

/// A blob being read: the file, buffered.
pub struct Reader {
    file: BufReader<File>,
}

impl BlobReader for Reader {
    type Error = io::Error;

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.file.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
    }
}

/// A blob being written: its temporary file, removed unless committed.
pub struct Writer {
    out: Option<BufWriter<File>>,
    tmp: PathBuf,
    dest: PathBuf,
}

impl BlobWriter for Writer {
    type Error = io::Error;

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self.out.as_mut() {
            Some(out) => out.write_all(bytes),
            None => Err(io::Error::other("blob already committed")),
        }
    }

    fn commit(mut self) -> io::Result<()> {
        let mut out = self
            .out
            .take()
            .ok_or_else(|| io::Error::other("blob already committed"))?;
        out.flush()?;
        out.get_ref().sync_data()?;
        drop(out);
        fs::rename(&self.tmp, &self.dest)?;
        // The rename is done: from here the temporary is gone whatever happens.
        self.tmp = PathBuf::new();
        let dir = self.dest.parent().unwrap_or(Path::new("."));
        File::open(dir)?.sync_all()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

impl Storage for StateDir {
    type Error = io::Error;
    type Reader<'s> = Reader;
    type Writer<'s> = Writer;

    /// Never through a symlink planted at the name: its target (a secret, another
    /// user's file) would be read as state, or copied aside as a damaged one.
    fn load(&mut self, name: &str) -> io::Result<Option<Reader>> {
        let path = self.file(name)?;
        let opened = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path);
        match opened {
            Ok(f) => Ok(Some(Reader {
                file: BufReader::with_capacity(BUF, f),
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{} is a symbolic link: a state file must be a regular file (remove the link)",
                    path.display()
                ),
            )),
            Err(e) => Err(e),
        }
    }

    fn store(&mut self, name: &str) -> io::Result<Writer> {
        let dest = self.file(name)?;
        remove_stale_temporaries(&self.dir, name);
        let tmp = self.dir.join(format!("{name}.tmp.{}", std::process::id()));
        // create_new: O_EXCL, which never follows a link planted at the name. 0600: state
        // is readable by its owner only, whatever the caller's umask.
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        Ok(Writer {
            out: Some(BufWriter::with_capacity(BUF, file)),
            tmp,
            dest,
        })
    }

    fn remove(&mut self, name: &str) -> io::Result<()> {
        match fs::remove_file(self.file(name)?) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Removes `NAME.tmp.PID` files left by processes that no longer exist, and by an earlier
/// process with this one's pid (this process has none open for `name`: it is about to
/// make its own).
fn remove_stale_temporaries(dir: &Path, name: &str) {
    let prefix = format!("{name}.tmp.");
    let Ok(rd) = fs::read_dir(dir) else { return };
    for de in rd.flatten() {
        let fname = de.file_name();
        let Some(pid) = fname
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() || !process_exists(pid) {
            let _ = fs::remove_file(dir.join(OsStr::new(&fname)));
        }
    }
}

fn process_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks that the process exists; no memory is passed.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(r: &mut Reader) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn store_replaces_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = StateDir::new(dir.path());
        assert!(s.load("a").unwrap().is_none());
        let mut w = s.store("a").unwrap();
        w.write(b"hello ").unwrap();
        w.write(b"world").unwrap();
        w.commit().unwrap();
        assert_eq!(read_all(&mut s.load("a").unwrap().unwrap()), b"hello world");
        // Dropped uncommitted: the old blob stays, no temporary is left.
        let mut w = s.store("a").unwrap();
        w.write(b"torn").unwrap();
        drop(w);
        assert_eq!(fs::read(dir.path().join("a")).unwrap(), b"hello world");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        s.remove("a").unwrap();
        s.remove("a").unwrap();
        assert!(s.load("a").unwrap().is_none());
    }

    #[test]
    fn a_symlinked_state_file_is_refused_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        fs::write(&secret, b"not state").unwrap();
        std::os::unix::fs::symlink(&secret, dir.path().join("a")).unwrap();
        let mut s = StateDir::new(dir.path());
        let e = s.load("a").err().expect("a symlink was read as state");
        assert!(e.to_string().contains("is a symbolic link"), "{e}");
        assert!(e.to_string().contains("/a"), "{e}");
        // Storing replaces the link itself (rename), never writes through it.
        let mut w = s.store("a").unwrap();
        w.write(b"state").unwrap();
        w.commit().unwrap();
        assert_eq!(fs::read(&secret).unwrap(), b"not state");
        assert_eq!(fs::read(dir.path().join("a")).unwrap(), b"state");
    }

    #[test]
    fn stale_temporaries_go_and_names_stay_plain() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = StateDir::new(dir.path());
        // pid_max is at most 2^22: no process has this id.
        let stale = dir.path().join("a.tmp.4294967");
        let other = dir.path().join("b.tmp.4294967");
        fs::write(&stale, b"x").unwrap();
        fs::write(&other, b"x").unwrap();
        s.store("a").unwrap().commit().unwrap();
        assert!(!stale.exists() && other.exists());
        assert_eq!(fs::read(dir.path().join("a")).unwrap(), b"");
        for bad in ["", ".", "..", "x/y", "../a"] {
            assert!(s.store(bad).is_err(), "{bad:?}");
            assert!(s.load(bad).is_err(), "{bad:?}");
        }
    }
}
