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

/// `--from http://HOST:PORT`: the peer's `GET /v1/file?path=P`, which answers only while
/// its copy matches its own database. The body goes to an unnamed temporary file (memory
/// stays constant whatever the size); the caller hashes it against this host's database
/// before it is believed, as for a mirror.
pub struct Peer {
    host: String,
    rt: tokio::runtime::Runtime,
}

/// Largest file a peer may send (the write stops one byte past the recorded size anyway).
const PEER_FILE_LIMIT: u64 = 1 << 40;

impl Peer {
    pub fn new(host: String) -> io::Result<Peer> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Peer { host, rt })
    }
}

/// `/v1/file?path=P` for the absolute path of `names`: every byte but unreserved ones
/// and `/` percent-encoded, so any file name travels.
fn file_target(names: &[&[u8]]) -> String {
    let mut t = String::from("/v1/file?path=");
    for name in names {
        t.push_str("%2F");
        for &b in *name {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                t.push(char::from(b));
            } else {
                t.push_str(&format!("%{b:02X}"));
            }
        }
    }
    t
}

/// An unnamed file in the temporary directory, gone when closed: created with a name
/// only this process uses (`O_EXCL`, mode 0600), unlinked at once (portable, unlike
/// Linux's `O_TMPFILE`).
fn anonymous_file() -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "homeostat-restore-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let path = std::env::temp_dir().join(name);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

impl Source for Peer {
    type Reader = File;

    fn open(&mut self, names: &[&[u8]]) -> Result<File, String> {
        use crate::peers::client::{get, Timeouts};
        use std::io::{Seek, SeekFrom};
        let target = file_target(names);
        let mut file =
            anonymous_file().map_err(|e| format!("cannot make a temporary file: {e}"))?;
        let got = self
            .rt
            .block_on(get(
                &self.host,
                &target,
                PEER_FILE_LIMIT,
                Timeouts::PEERS,
                &mut file,
            ))
            .map_err(|e| e.to_string())?;
        if got.status != 200 {
            return Err(format!(
                "peer {} answered {} (it has no copy matching its database)",
                self.host, got.status
            ));
        }
        file.seek(SeekFrom::Start(0))
            .map_err(|e| format!("temporary copy: {e}"))?;
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

    #[test]
    fn peer_targets_encode_every_byte_that_needs_it() {
        assert_eq!(
            file_target(&[b"etc", b"a b\n%\xff~.x"]),
            "/v1/file?path=%2Fetc%2Fa%20b%0A%25%FF~.x"
        );
    }

    #[test]
    fn an_unreachable_peer_is_a_refusal_naming_it() {
        // A port nothing listens on: bind one, note it, close it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut p = Peer::new(format!("127.0.0.1:{port}")).unwrap();
        let e = p.open(&[b"etc", b"hosts"]).unwrap_err();
        assert!(e.contains(&format!("127.0.0.1:{port}")), "{e}");
    }
}
