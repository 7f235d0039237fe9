//! Putting one file back in its directory: the trusted bytes are copied into a temporary
//! beside it while being hashed, believed only if they hash to the database's record,
//! given the recorded owner, mode and mtime, and renamed over the name; the object that
//! was there is kept as `NAME.cfbackup`.

use std::fs::{File, FileTimes, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use homeostat_core::digest::Hasher;
use homeostat_core::fim::{Meta, Timestamp};

use super::at::{Dir, Kind};
use super::xattrs::Pairs;

/// Bytes copied at a time: memory stays constant whatever the file's size.
const CHUNK: usize = 64 * 1024;

/// The suffix of the kept previous object.
pub const BACKUP_SUFFIX: &[u8] = b".cfbackup";

/// What was there before, now at `NAME.cfbackup`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backup {
    /// Nothing was there (the file had been deleted).
    None,
    /// A second name for it was made first, so the name never went missing.
    Linked,
    /// A directory: renamed away (no hard links to directories), so for a moment the name
    /// did not exist.
    Moved,
}

/// A file put back.
pub struct Placed {
    /// The new object's inode, ctime, dev and nlink, as it stands under its name.
    pub stat: std::fs::Metadata,
    pub backup: Backup,
}

/// A unique name for this process's temporaries in a directory.
fn temp_name(what: &str) -> Vec<u8> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!(".homeostat-{what}.{}.{n}", std::process::id()).into_bytes()
}

/// The temporary, removed unless it was renamed into place.
struct Temp<'d> {
    dir: &'d Dir,
    name: Vec<u8>,
    file: File,
    placed: bool,
}

impl Drop for Temp<'_> {
    fn drop(&mut self) {
        if !self.placed {
            let _ = self.dir.unlink(&self.name);
        }
    }
}

/// Puts `src` back as `name` in `dir` with the attributes of the database record `want`
/// and the extended attributes `xattrs`. Fails, leaving `name` untouched and no backup
/// made, when the bytes do not hash to the record or an attribute cannot be set.
pub fn put_back(
    dir: &Dir,
    name: &[u8],
    want: &Meta,
    xattrs: &Pairs,
    src: impl Read,
) -> Result<Placed, String> {
    let digest = want
        .content
        .ok_or("the database holds no content digest for it")?;
    let tname = temp_name("restore");
    let file = dir
        .create_new(&tname, 0o600)
        .map_err(|e| format!("cannot create a temporary file beside it: {e}"))?;
    let mut temp = Temp {
        dir,
        name: tname,
        file,
        placed: false,
    };
    let mut hasher = Hasher::new(digest.algorithm());
    let copied = copy(src, &mut temp.file, &mut hasher, want.size)?;
    let got = hasher.finalize();
    if copied != want.size || got != digest {
        return Err(format!(
            "source does not match the database ({copied} bytes, {got}; the database has {} bytes, {digest})",
            want.size
        ));
    }
    set_attrs(&temp.file, want, xattrs).map_err(|e| format!("cannot set its attributes: {e}"))?;
    let backup = keep_old(dir, name)?;
    dir.rename(&temp.name, name)
        .map_err(|e| format!("cannot rename the restored copy into place: {e}"))?;
    temp.placed = true;
    dir.file()
        .sync_all()
        .map_err(|e| format!("cannot sync its directory: {e}"))?;
    let stat = temp
        .file
        .metadata()
        .map_err(|e| format!("cannot stat the restored file: {e}"))?;
    let mut backup_name = name.to_vec();
    backup_name.extend_from_slice(BACKUP_SUFFIX);
    defang(dir, &backup_name);
    Ok(Placed { stat, backup })
}

/// Copies `src` into `out` while hashing it; stops reading one byte past `limit`, which
/// is already a mismatch (a source that never ends cannot fill the disk).
fn copy(
    mut src: impl Read,
    out: &mut File,
    hasher: &mut Hasher,
    limit: u64,
) -> Result<u64, String> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    while total <= limit {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("cannot read the source: {e}")),
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(|e| format!("cannot write the temporary copy: {e}"))?;
        total += n as u64;
    }
    Ok(total)
}

/// Owner, then mode (a chown clears set-id bits), then extended attributes (a chown
/// clears `security.capability` too), then mtime, then fsync.
fn set_attrs(f: &File, want: &Meta, xattrs: &Pairs) -> io::Result<()> {
    std::os::unix::fs::fchown(f, Some(want.uid), Some(want.gid))?;
    f.set_permissions(Permissions::from_mode(want.mode & 0o7777))?;
    super::xattrs::write(f, xattrs)?;
    f.set_times(FileTimes::new().set_modified(system_time(want.mtime)))?;
    f.sync_all()
}

/// The database's time as a `SystemTime` (before 1970 too).
pub fn system_time(t: Timestamp) -> SystemTime {
    let nsec = Duration::from_nanos(u64::from(t.nsec));
    if t.sec >= 0 {
        UNIX_EPOCH + Duration::from_secs(t.sec as u64) + nsec
    } else {
        UNIX_EPOCH - Duration::from_secs(t.sec.unsigned_abs()) + nsec
    }
}

/// Keeps what is at `name` as `NAME.cfbackup`, replacing an older backup. A non-directory
/// gets a second name first (a hard link, also of a symlink itself), renamed over the
/// backup, so `name` never goes missing; a directory can only be renamed.
fn keep_old(dir: &Dir, name: &[u8]) -> Result<Backup, String> {
    let mut backup = name.to_vec();
    backup.extend_from_slice(BACKUP_SUFFIX);
    let kind = dir
        .kind(name)
        .map_err(|e| format!("cannot examine it: {e}"))?;
    let fail = |e: io::Error| format!("cannot keep the old file as .cfbackup: {e}");
    match kind {
        None => Ok(Backup::None),
        Some(Kind::Dir) => {
            dir.rename(name, &backup).map_err(fail)?;
            Ok(Backup::Moved)
        }
        Some(_) => {
            let link = temp_name("backup");
            dir.link(name, &link).map_err(fail)?;
            dir.rename(&link, &backup).map_err(|e| {
                let _ = dir.unlink(&link);
                fail(e)
            })?;
            Ok(Backup::Linked)
        }
    }
}

/// A kept regular file loses its set-id, execute and group/other bits (mode 0600): the
/// backup holds what an intruder left, which must not stay runnable as a set-id program
/// beside the restored one. Best effort: a backup that cannot be changed is still kept.
fn defang(dir: &Dir, backup: &[u8]) {
    if let Ok(Some(Kind::File)) = dir.kind(backup) {
        if let Ok(f) = dir.open_read(backup) {
            if f.metadata()
                .is_ok_and(|m| m.is_file() && m.mode() & 0o7777 != 0o600)
            {
                let _ = f.set_permissions(Permissions::from_mode(0o600));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use homeostat_core::digest::{digest, Algorithm};
    use homeostat_core::fim::Kind as EntryKind;
    use std::os::unix::fs::MetadataExt;

    fn record(data: &[u8]) -> Meta {
        Meta {
            mode: 0o640,
            uid: nix_uid(),
            gid: nix_gid(),
            size: data.len() as u64,
            mtime: Timestamp {
                sec: 1_500_000_000,
                nsec: 123_456_789,
            },
            content: Some(digest(Algorithm::Sha256, data)),
            ..Meta::empty(EntryKind::File)
        }
    }

    fn nix_uid() -> u32 {
        std::fs::metadata("/proc/self").map_or(0, |m| m.uid())
    }

    fn nix_gid() -> u32 {
        std::fs::metadata("/proc/self").map_or(0, |m| m.gid())
    }

    #[test]
    fn puts_back_bytes_and_attributes_and_keeps_the_old_file() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("f"), b"tampered").unwrap();
        let dir = Dir::open(t.path()).unwrap();
        let data = vec![7u8; 3 * CHUNK + 5];
        let placed = put_back(&dir, b"f", &record(&data), &Pairs::new(), &data[..]).unwrap();
        assert_eq!(placed.backup, Backup::Linked);
        assert_eq!(std::fs::read(t.path().join("f")).unwrap(), data);
        assert_eq!(
            std::fs::read(t.path().join("f.cfbackup")).unwrap(),
            b"tampered"
        );
        let m = std::fs::symlink_metadata(t.path().join("f")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o640);
        assert_eq!((m.mtime(), m.mtime_nsec()), (1_500_000_000, 123_456_789));
        assert_eq!(m.ino(), placed.stat.ino());
        let names: Vec<_> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temporary left: {names:?}");
    }

    #[test]
    fn a_mismatching_source_changes_nothing() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("f"), b"tampered").unwrap();
        let dir = Dir::open(t.path()).unwrap();
        let e = put_back(&dir, b"f", &record(b"good"), &Pairs::new(), &b"evil"[..])
            .err()
            .unwrap();
        assert!(e.contains("does not match"), "{e}");
        let e = put_back(
            &dir,
            b"f",
            &record(b"good"),
            &Pairs::new(),
            &b"good and more"[..],
        )
        .err()
        .unwrap();
        assert!(e.contains("does not match"), "{e}");
        assert_eq!(std::fs::read(t.path().join("f")).unwrap(), b"tampered");
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 1);
    }

    #[test]
    fn times_before_1970_convert() {
        let t = Timestamp {
            sec: -2,
            nsec: 500_000_000,
        };
        assert_eq!(
            UNIX_EPOCH.duration_since(system_time(t)).unwrap(),
            Duration::from_millis(1500)
        );
    }
}
