//! `--from http://HOST:PORT`: a peer as the trusted copy (with the `peers` feature).

use std::fs::File;
use std::io;

use super::source::Source;

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
