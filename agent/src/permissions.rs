//! Who may read and write homeostat's state and key. The state holds the digest of every
//! watched file and the learned normal state; whoever can write it can hide a change, and
//! whoever can read it learns what is watched (AIDE keeps its database 0600 too). So the
//! state directory is 0700, every file in it 0600, and a directory or signing key that
//! others could write (or, for the key, read) is refused before anything is done.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

use crate::exit::{Outcome, CONFIG, IO};

/// Mode bits that let the group or others write.
const WRITABLE_BY_OTHERS: u32 = 0o022;
/// Mode bits that give the group or others any access.
const ANY_ACCESS_BY_OTHERS: u32 = 0o077;

/// Files created from here on are private to their owner unless a writer says otherwise
/// (the metrics file, which node_exporter reads). Writers also pass 0600 themselves; this
/// catches any that does not, and the children the daemon starts inherit it.
pub fn private_umask() {
    // SAFETY: umask has no preconditions and cannot fail; it only sets the process's mask.
    #[allow(unsafe_code)]
    unsafe {
        libc::umask(0o077);
    }
}

/// Creates the state directory `dir` 0700 (with any missing parents, also 0700), or checks
/// the one that exists: refused (exit 16) when the group or others can write it or it
/// belongs to another user, since its contents could then be forged under us; narrowed to
/// 0700 when others can merely read or search it (as `StateDirectoryMode=` does).
pub fn state_dir(dir: &Path) -> Outcome {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| {
            (
                IO,
                format!("cannot create state directory {}: {e}", dir.display()),
            )
        })?;
    let meta = fs::metadata(dir).map_err(|e| {
        (
            IO,
            format!("cannot inspect state directory {}: {e}", dir.display()),
        )
    })?;
    if !meta.is_dir() {
        return Err((
            IO,
            format!("state directory {} is not a directory", dir.display()),
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & WRITABLE_BY_OTHERS != 0 {
        return Err((
            CONFIG,
            format!(
                "state directory {} is group- or world-writable (mode {mode:04o}): anyone who \
                 can write it can forge the baseline; make it 0700 (chmod 700 {})",
                dir.display(),
                dir.display()
            ),
        ));
    }
    foreign_owner(&meta, "state directory", dir)?;
    if mode & ANY_ACCESS_BY_OTHERS != 0 {
        fs::set_permissions(
            dir,
            fs::Permissions::from_mode(mode & !ANY_ACCESS_BY_OTHERS),
        )
        .map_err(|e| {
            (
                IO,
                format!(
                    "cannot make state directory {} private (mode {mode:04o}): {e}",
                    dir.display()
                ),
            )
        })?;
    }
    Ok(0)
}

/// Refuses (exit 16) a signing key file the group or others can read or write, or one that
/// belongs to another user: whoever reads it can sign a forged database.
pub fn signing_key(path: &Path) -> Outcome {
    let meta = fs::metadata(path).map_err(|e| {
        (
            CONFIG,
            format!("cannot read signing key {}: {e}", path.display()),
        )
    })?;
    let mode = meta.mode() & 0o7777;
    if mode & ANY_ACCESS_BY_OTHERS != 0 {
        return Err((
            CONFIG,
            format!(
                "signing key {} is accessible to group or others (mode {mode:04o}): whoever \
                 can read it can sign a forged database; make it 0600 (chmod 600 {})",
                path.display(),
                path.display()
            ),
        ));
    }
    foreign_owner(&meta, "signing key", path)?;
    Ok(0)
}

/// Exit 16 when `what` at `path` belongs neither to us nor to root: its owner could change
/// its mode or contents at any time.
fn foreign_owner(meta: &fs::Metadata, what: &str, path: &Path) -> Result<(), (u8, String)> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    #[allow(unsafe_code)]
    let me = unsafe { libc::geteuid() };
    let owner = meta.uid();
    if owner == me || owner == 0 {
        return Ok(());
    }
    Err((
        CONFIG,
        format!(
            "{what} {} belongs to uid {owner}, not to this user (uid {me}) or root",
            path.display()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn a_new_state_dir_and_its_parents_are_0700() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("a/b");
        assert_eq!(state_dir(&dir), Ok(0));
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&t.path().join("a")), 0o700);
    }

    #[test]
    fn a_readable_state_dir_is_narrowed_a_writable_one_refused() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("s");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(state_dir(&dir), Ok(0));
        assert_eq!(mode(&dir), 0o700);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o770)).unwrap();
        let (code, msg) = state_dir(&dir).unwrap_err();
        assert_eq!(code, CONFIG);
        assert!(
            msg.contains(&dir.display().to_string()) && msg.contains("0770"),
            "{msg}"
        );
        assert_eq!(mode(&dir), 0o770, "a refused directory is left as it was");
    }

    /// Needs root to give the directory and key away; skipped otherwise.
    #[test]
    fn a_state_dir_or_key_of_another_user_is_refused() {
        // SAFETY: geteuid has no preconditions and cannot fail.
        #[allow(unsafe_code)]
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let (dir, key) = (t.path().join("s"), t.path().join("k"));
        fs::create_dir(&dir).unwrap();
        fs::write(&key, "x").unwrap();
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
        for p in [&dir, &key] {
            std::os::unix::fs::chown(p, Some(65534), None).unwrap();
        }
        let (code, msg) = state_dir(&dir).unwrap_err();
        assert_eq!(code, CONFIG);
        assert!(
            msg.contains("uid 65534") && msg.contains(&dir.display().to_string()),
            "{msg}"
        );
        let (code, msg) = signing_key(&key).unwrap_err();
        assert_eq!(code, CONFIG);
        assert!(
            msg.contains("uid 65534") && msg.contains(&key.display().to_string()),
            "{msg}"
        );
    }

    #[test]
    fn a_key_others_can_read_or_write_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let key = t.path().join("k");
        fs::write(&key, "x").unwrap();
        for bad in [0o640, 0o604, 0o620, 0o602] {
            fs::set_permissions(&key, fs::Permissions::from_mode(bad)).unwrap();
            let (code, msg) = signing_key(&key).unwrap_err();
            assert_eq!(code, CONFIG);
            assert!(msg.contains(&key.display().to_string()), "{msg}");
        }
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(signing_key(&key), Ok(0));
    }
}
