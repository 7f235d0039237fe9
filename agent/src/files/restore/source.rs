//! Where restored bytes come from: a directory mirroring the file system (`--from DIR`),
//! or a peer's `/v1/file` (`--from http://HOST:PORT`). Either way the bytes are only
//! believed once they hash to this host's database entry.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use super::at::{descend, Blocked, Dir};

/// A trusted copy of the watched files.
pub trait Source {
    type Reader: Read;
    /// The copy of the absolute path whose components are `names`, or why there is none.
    fn open(&mut self, names: &[&[u8]]) -> Result<Self::Reader, String>;
}

/// What `--from` names.
#[derive(Debug, PartialEq, Eq)]
pub enum From {
    /// A directory mirroring the file system.
    Dir(PathBuf),
    /// A peer's `HOST:PORT`.
    Peer(String),
}

impl From {
    /// Parses `--from`: `http://HOST:PORT` (nothing after the port), any other `SCHEME://`
    /// is an error, anything else a directory.
    pub fn parse(from: &str) -> Result<From, String> {
        if let Some(rest) = from.strip_prefix("http://") {
            let host = rest.strip_suffix('/').unwrap_or(rest);
            let port_ok = host
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
            if !port_ok || host.contains('/') {
                return Err(format!("--from {from:?}: expected http://HOST:PORT"));
            }
            return Ok(From::Peer(host.to_owned()));
        }
        if from.contains("://") {
            return Err(format!(
                "--from {from:?}: only a directory or http://HOST:PORT"
            ));
        }
        if from.is_empty() {
            return Err("--from: empty directory name".into());
        }
        Ok(From::Dir(PathBuf::from(from)))
    }
}

/// `--from DIR`: the copy of `/a/b` is `DIR/a/b`. No component below DIR may be a symlink,
/// and the names are single components (never `..`), so nothing leads out of DIR.
pub struct Mirror {
    root: Dir,
}

impl Mirror {
    pub fn open(dir: &Path) -> io::Result<Mirror> {
        Ok(Mirror {
            root: Dir::open(dir)?,
        })
    }
}

impl Source for Mirror {
    type Reader = File;

    fn open(&mut self, names: &[&[u8]]) -> Result<File, String> {
        let Some((leaf, parents)) = names.split_last() else {
            return Err("no file name".into());
        };
        let start = self
            .root
            .try_clone()
            .map_err(|e| format!("source directory: {e}"))?;
        let shown = |i: usize| String::from_utf8_lossy(&names[..=i].join(&b'/')).into_owned();
        let dir = descend(start, parents).map_err(|b| match b {
            Blocked::Symlink(i) => format!("source {} is a symlink", shown(i)),
            Blocked::Other(i, e) => format!("source {}: {e}", shown(i)),
        })?;
        let file = dir.open_read(leaf).map_err(|e| {
            let last = names.len() - 1;
            match e.raw_os_error() {
                Some(libc::ELOOP) => format!("source {} is a symlink", shown(last)),
                _ => format!("source {}: {e}", shown(last)),
            }
        })?;
        let ft = file
            .metadata()
            .map_err(|e| format!("source: {e}"))?
            .file_type();
        if !ft.is_file() {
            let what = if ft.is_dir() {
                "a directory"
            } else if ft.is_fifo() || ft.is_socket() {
                "a fifo or socket"
            } else {
                "not a regular file"
            };
            return Err(format!("source is {what}"));
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_is_a_dir_or_a_peer() {
        assert_eq!(From::parse("/mnt/m").unwrap(), From::Dir("/mnt/m".into()));
        assert_eq!(
            From::parse("http://10.0.0.2:5309").unwrap(),
            From::Peer("10.0.0.2:5309".into())
        );
        assert_eq!(
            From::parse("http://[::1]:5309/").unwrap(),
            From::Peer("[::1]:5309".into())
        );
        for bad in [
            "http://h",
            "http://h:x",
            "http://h:1/etc",
            "https://h:1",
            "",
        ] {
            assert!(From::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mirror_reads_below_its_root_only() {
        let t = tempfile::tempdir().unwrap();
        let m = t.path().join("m");
        std::fs::create_dir_all(m.join("etc")).unwrap();
        std::fs::write(m.join("etc/hosts"), b"h").unwrap();
        std::fs::write(t.path().join("outside"), b"o").unwrap();
        std::os::unix::fs::symlink(t.path(), m.join("up")).unwrap();
        std::os::unix::fs::symlink("hosts", m.join("etc/alias")).unwrap();
        let mut src = Mirror::open(&m).unwrap();
        let mut s = String::new();
        src.open(&[b"etc", b"hosts"])
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "h");
        let e = src.open(&[b"up", b"outside"]).unwrap_err();
        assert!(e.contains("up is a symlink"), "{e}");
        let e = src.open(&[b"etc", b"alias"]).unwrap_err();
        assert!(e.contains("etc/alias is a symlink"), "{e}");
        let e = src.open(&[b"etc"]).unwrap_err();
        assert!(e.contains("a directory"), "{e}");
        assert!(src.open(&[b"etc", b"none"]).is_err());
    }
}
