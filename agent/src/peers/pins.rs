//! What this host keeps of each neighbour under `<state_dir>/peers/`: the key pinned on
//! first use (`<host>.key`), the database fetched last time (`<host>.db`), and the
//! download in progress (`<host>.db.new`).
//!
//! A pin is never replaced by this code: once written, only an operator removing the file
//! lets another key be trusted.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;

/// Longest key text a neighbour may serve (64 hex digits and some white space).
pub const MAX_KEY_TEXT: u64 = 256;

/// Parses a public key as served and pinned: 64 hex digits, surrounding white space
/// ignored; `None` when it is anything else or not a valid ed25519 point.
pub fn parse_key(text: &[u8]) -> Option<VerifyingKey> {
    let hex = text.trim_ascii();
    // Digits only: `from_str_radix` alone would take a `+` sign.
    if hex.len() != 64 || !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (b, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
        *b = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    VerifyingKey::from_bytes(&bytes).ok()
}

/// A key as hex, the form it is served and pinned in.
pub fn key_hex(key: &VerifyingKey) -> String {
    homeostat_core::digest::Hex(key.as_bytes()).to_string()
}

/// What the pin file of a neighbour holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Pin {
    /// No pin yet: the next good fetch pins its key.
    None,
    /// The key trusted for this neighbour.
    Key(VerifyingKey),
    /// A pin file that is not a key (damaged or edited): nothing is trusted until an
    /// operator removes it.
    Unreadable,
}

/// The `peers/` directory of a state directory.
#[derive(Clone, Debug)]
pub struct Pins {
    dir: PathBuf,
}

impl Pins {
    /// Opens `<state>/peers`, creating it (mode 0700) when missing.
    pub fn open(state: &Path) -> io::Result<Pins> {
        let dir = state.join("peers");
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| with_path(e, &dir))?;
        Ok(Pins { dir })
    }

    /// `<host>.key`.
    pub fn key_file(&self, host: &str) -> PathBuf {
        self.dir.join(format!("{host}.key"))
    }

    /// `<host>.db`: the verified copy fetched last time.
    pub fn copy(&self, host: &str) -> PathBuf {
        self.dir.join(format!("{host}.db"))
    }

    /// `<host>.db.new`: a download not yet verified.
    pub fn download(&self, host: &str) -> PathBuf {
        self.dir.join(format!("{host}.db.new"))
    }

    /// The pinned key of `host`.
    pub fn pinned(&self, host: &str) -> io::Result<Pin> {
        let path = self.key_file(host);
        match crate::state_file::read_limited(&path, MAX_KEY_TEXT) {
            Ok(text) => Ok(parse_key(&text).map_or(Pin::Unreadable, Pin::Key)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Pin::None),
            // Longer than any key: not one.
            Err(e) if e.kind() == io::ErrorKind::FileTooLarge => Ok(Pin::Unreadable),
            Err(e) => Err(with_path(e, &path)),
        }
    }

    /// Pins `key` for `host`: written to a temporary, synced, then linked into place, so a
    /// crash leaves no pin or a whole one, and an existing pin is never overwritten.
    pub fn pin(&self, host: &str, key: &VerifyingKey) -> io::Result<()> {
        let path = self.key_file(host);
        let tmp = self
            .dir
            .join(format!("{host}.key.tmp.{}", std::process::id()));
        let written = (|| {
            let mut f = crate::state_file::open_with(
                &tmp,
                OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600),
            )?;
            writeln!(f, "{}", key_hex(key))?;
            f.sync_all()?;
            fs::hard_link(&tmp, &path)
        })();
        let _ = fs::remove_file(&tmp);
        written.map_err(|e| with_path(e, &path))?;
        sync_dir(&self.dir);
        Ok(())
    }

    /// Makes the verified download of `host` its copy, atomically.
    pub fn keep_download(&self, host: &str) -> io::Result<()> {
        let (from, to) = (self.download(host), self.copy(host));
        crate::state_file::read(&from)
            .and_then(|f| f.sync_all())
            .and_then(|()| fs::rename(&from, &to))
            .map_err(|e| with_path(e, &to))?;
        sync_dir(&self.dir);
        Ok(())
    }

    /// Deletes the download of `host` (refused, or never completed).
    pub fn discard_download(&self, host: &str) {
        let _ = fs::remove_file(self.download(host));
    }

    /// Waits until no other watch on this state directory runs, and holds it off until
    /// the [`Lock`] is dropped: a `watch-peers` beside `run` would otherwise write the
    /// same downloads at once and report a forgery that is not there.
    pub fn lock(&self) -> io::Result<Lock> {
        let dir = File::open(&self.dir).map_err(|e| with_path(e, &self.dir))?;
        loop {
            // SAFETY: flock on a descriptor this function owns; no memory is passed.
            #[allow(unsafe_code)]
            let rc = unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                self.clear_leftovers();
                return Ok(Lock { _dir: dir });
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(with_path(e, &self.dir));
            }
        }
    }
}

impl Pins {
    /// Removes the pin temporaries (`<host>.key.tmp.<pid>`) and downloads (`<host>.db.new`)
    /// of watches killed before they could: only the holder of the lock writes them, so
    /// whatever the lock's new holder finds is dead. Without this, a watch killed while
    /// pinning leaves its temporary for good (a key is pinned once), and a host dropped
    /// from the list its download. Best effort: a file that cannot go stays unused.
    fn clear_leftovers(&self) {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            let temporary = name
                .rsplit_once(".key.tmp.")
                .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
            if temporary || name.ends_with(".db.new") {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

/// The `peers/` directory held by one watch; closing it lets the next one in.
pub struct Lock {
    _dir: File,
}

/// Makes a rename or link in `dir` durable; best effort, as the data files are synced.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The error, with the path it concerns.
fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn key(seed: u8) -> VerifyingKey {
        SigningKey::from_bytes(&[seed; 32]).verifying_key()
    }

    #[test]
    fn keys_parse_as_served_and_nothing_else() {
        let k = key(1);
        let hex = key_hex(&k);
        assert_eq!(parse_key(hex.as_bytes()), Some(k));
        assert_eq!(parse_key(format!(" {hex}\n").as_bytes()), Some(k));
        assert_eq!(parse_key(hex.to_uppercase().as_bytes()), Some(k));
        for bad in [
            &hex[..62],
            &format!("{hex}00"),
            &format!("+{}", &hex[1..]),
            &format!("{}\u{e9}", &hex[..62]),
            "",
        ] {
            assert_eq!(parse_key(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn pin_once_and_never_overwrite() {
        let d = tempfile::tempdir().unwrap();
        let pins = Pins::open(d.path()).unwrap();
        let host = "127.0.0.2:5309";
        assert_eq!(pins.pinned(host).unwrap(), Pin::None);
        pins.pin(host, &key(1)).unwrap();
        assert_eq!(pins.pinned(host).unwrap(), Pin::Key(key(1)));
        let e = pins.pin(host, &key(2)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert!(e.to_string().contains("127.0.0.2:5309.key"), "{e}");
        assert_eq!(pins.pinned(host).unwrap(), Pin::Key(key(1)));
        let left: Vec<_> = fs::read_dir(d.path().join("peers")).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary left behind");
    }

    #[test]
    fn the_lock_clears_what_killed_watches_left() {
        let d = tempfile::tempdir().unwrap();
        let pins = Pins::open(d.path()).unwrap();
        let host = "127.0.0.2:5309";
        pins.pin(host, &key(1)).unwrap();
        fs::write(pins.copy(host), b"kept").unwrap();
        let dead = [
            format!("{host}.key.tmp.4242"),
            format!("{host}.db.new"),
            "gone:1.db.new".to_string(),
        ];
        for n in &dead {
            fs::write(pins.dir.join(n), b"left by a killed watch").unwrap();
        }
        // Not ours: a file an operator put there stays.
        fs::write(pins.dir.join("notes.key.tmp.x"), b"mine").unwrap();
        drop(pins.lock().unwrap());
        let mut left: Vec<String> = fs::read_dir(&pins.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                format!("{host}.db"),
                format!("{host}.key"),
                "notes.key.tmp.x".to_string()
            ]
        );
        assert_eq!(pins.pinned(host).unwrap(), Pin::Key(key(1)));
    }

    #[test]
    fn a_damaged_pin_trusts_nothing() {
        let d = tempfile::tempdir().unwrap();
        let pins = Pins::open(d.path()).unwrap();
        fs::write(pins.key_file("h:1"), "not a key\n").unwrap();
        assert_eq!(pins.pinned("h:1").unwrap(), Pin::Unreadable);
    }

    #[test]
    fn one_watch_at_a_time() {
        let d = tempfile::tempdir().unwrap();
        let pins = Pins::open(d.path()).unwrap();
        let held = pins.lock().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let other = pins.clone();
        let waiter = std::thread::spawn(move || {
            let lock = other.lock().unwrap();
            tx.send(()).unwrap();
            drop(lock);
        });
        // Whatever the machine's speed, the second cannot get in while the first holds.
        assert!(rx
            .recv_timeout(std::time::Duration::from_millis(200))
            .is_err());
        drop(held);
        rx.recv().unwrap();
        waiter.join().unwrap();
    }

    #[test]
    fn downloads_are_kept_or_discarded() {
        let d = tempfile::tempdir().unwrap();
        let pins = Pins::open(d.path()).unwrap();
        fs::write(pins.download("h:1"), b"one").unwrap();
        pins.keep_download("h:1").unwrap();
        assert_eq!(fs::read(pins.copy("h:1")).unwrap(), b"one");
        assert!(!pins.download("h:1").exists());
        fs::write(pins.download("h:1"), b"two").unwrap();
        pins.discard_download("h:1");
        assert!(!pins.download("h:1").exists());
        assert_eq!(fs::read(pins.copy("h:1")).unwrap(), b"one");
        let e = pins.keep_download("h:1").unwrap_err();
        assert!(e.to_string().contains("h:1.db"), "{e}");
    }
}
