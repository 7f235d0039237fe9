//! Writing an output file whole or not at all: a temporary file beside it, renamed over
//! it, so a reader (a browser refreshing) never sees half a chart. No fsync: the charts are
//! a view made again by the next `graph`, and 257 fsyncs were most of its time; after a
//! crash a file may be the previous rendering or empty: `graph` again mends it.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Replaces `dir/name` with `bytes`, atomically; errors name the file.
pub fn atomic(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let put = || -> io::Result<()> {
        let mut f = File::create(&tmp)?;
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
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
        let e = super::atomic(&d.path().join("missing"), "b.csv", b"x").unwrap_err();
        assert!(e.to_string().contains("missing/b.csv"), "{e}");
    }
}
