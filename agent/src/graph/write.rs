//! Writing an output file whole or not at all: a temporary file beside it, renamed over
//! it, so a reader (a browser refreshing) never sees half a chart. No fsync: the charts are
//! a view made again by the next `graph`, and 257 fsyncs were most of its time; after a
//! crash a file may be the previous rendering or empty: `graph` again mends it.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Replaces `dir/name` with `bytes`, atomically; errors name the file.
pub fn atomic(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let put = || -> io::Result<()> {
        // O_EXCL: a name planted in a shared output directory (a symlink to a file of
        // root's) is removed, never written through.
        let create = || OpenOptions::new().write(true).create_new(true).open(&tmp);
        let mut f = match create() {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                fs::remove_file(&tmp)?;
                create()?
            }
            other => other?,
        };
        f.write_all(bytes)?;
        fs::rename(&tmp, &path)
    };
    put().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        anyhow::anyhow!("cannot write {}: {e}", path.display())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_whole_and_leaves_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        super::atomic(d.path(), "a.csv", b"one").unwrap();
        super::atomic(d.path(), "a.csv", b"two").unwrap();
        assert_eq!(std::fs::read(d.path().join("a.csv")).unwrap(), b"two");
        assert_eq!(
            std::fs::read_dir(d.path()).unwrap().count(),
            1,
            "no temporary left"
        );
        // A planted temporary name, a symlink to a file elsewhere: that file is untouched.
        let victim = d.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let tmp = d.path().join(format!(".c.svg.tmp.{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &tmp).unwrap();
        super::atomic(d.path(), "c.svg", b"chart").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert_eq!(std::fs::read(d.path().join("c.svg")).unwrap(), b"chart");
        let e = super::atomic(&d.path().join("missing"), "b.csv", b"x").unwrap_err();
        assert!(e.to_string().contains("missing/b.csv"), "{e}");
    }
}
