//! CFEngine's `file_changes.log`: `epoch,handle,path,N|R|C|S,message`, one line per
//! finding, appended. Commas in names are escaped too, so every line has five fields.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use homeostat_core::event::{Change, Epoch, Event, Side};
use homeostat_core::feed::Sink;
use homeostat_core::fim::Attr;

use super::timefmt::utc_ns;
use crate::output::escape::{escape, escape_with, quoted_target};
use crate::state_file;

/// Pending bytes that make the log append before its commit.
const BATCH: usize = 1 << 20;

/// The log, open for appending. Lines gather in memory and go out in one write under an
/// exclusive lock, so that a `run` and a `check` appending at once never interleave them.
pub struct ChangeLog {
    now: Epoch,
    path: PathBuf,
    file: File,
    pending: Vec<u8>,
}

impl ChangeLog {
    /// Opens (creating, never through a symlink) the log at `path` for findings of a run
    /// at epoch `now`.
    /// A torn last line is mended at once (see [`mend`]), and again before each append.
    pub fn open(path: &Path, now: Epoch) -> io::Result<ChangeLog> {
        let file = state_file::append(path).map_err(named(path, "cannot open"))?;
        file.lock().map_err(named(path, "cannot lock"))?;
        let mended = mend(&file, path);
        let _ = file.unlock();
        mended.map_err(named(path, "cannot mend"))?;
        Ok(ChangeLog {
            now,
            path: path.to_owned(),
            file,
            pending: Vec::new(),
        })
    }

    /// Appends the pending lines: under the lock, after mending a torn last line, and
    /// with the file cut back to where it was when the write fails (a full disk), so that
    /// the log only ever holds whole records.
    fn append(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let f = &self.file;
        f.lock().map_err(named(&self.path, "cannot lock"))?;
        let done = (|| {
            let len = mend(f, &self.path)?;
            if let Err(e) = (&mut &*f).write_all(&self.pending) {
                // Space a failed write took is given back; the lines stay unrecorded.
                let _ = f.set_len(len);
                return Err(e);
            }
            Ok(())
        })();
        let _ = f.unlock();
        done.map_err(named(&self.path, "cannot write"))?;
        self.pending.clear();
        Ok(())
    }
}

/// A last line without its newline (a crash or a full disk mid-write) is cut off, with a
/// warning naming the file and the bytes dropped: a record is never glued onto a torn
/// one. Returns the file's length after.
fn mend(f: &File, path: &Path) -> io::Result<u64> {
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(0);
    }
    let mut last = [0u8; 1];
    f.read_exact_at(&mut last, len - 1)?;
    if last[0] == b'\n' {
        return Ok(len);
    }
    // Back to the last newline, reading backwards a chunk at a time.
    let mut end = len;
    let mut chunk = vec![0u8; 64 * 1024];
    let keep = loop {
        if end == 0 {
            break 0;
        }
        let take = chunk.len().min(end as usize);
        let from = end - take as u64;
        f.read_exact_at(&mut chunk[..take], from)?;
        if let Some(i) = memchr::memrchr(b'\n', &chunk[..take]) {
            break from + i as u64 + 1;
        }
        end = from;
    };
    f.set_len(keep)?;
    crate::output::stdio::say(&format!(
        "warning: {}: removed a torn last line ({} bytes) left by an interrupted write; \
         its finding was not accepted and is reported again",
        escape(path.as_os_str().as_bytes()),
        len - keep
    ));
    Ok(keep)
}

/// An I/O error that names the log.
fn named<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(io::Error) -> io::Error + 'a {
    move |e| {
        io::Error::new(
            e.kind(),
            format!("{what} {}: {e}", escape(path.as_os_str().as_bytes())),
        )
    }
}

impl Sink for ChangeLog {
    type Error = io::Error;

    fn event(&mut self, e: &Event<'_>) -> io::Result<()> {
        let Event::File(f) = e else { return Ok(()) };
        let lp = escape_with(f.path, b",");
        let (now, handle) = (self.now, f.handle);
        let out = &mut self.pending;
        let mut line =
            |letter: char, msg: &str| writeln!(out, "{now},{handle},{lp},{letter},{msg}");
        match f.change {
            Change::Added => line('N', "New file found"),
            Change::Removed => line('R', "File removed"),
            Change::Changed => {
                if let (Some(o), Some(n)) = (f.old, f.new) {
                    if f.diff.contains(Attr::Content) {
                        line('C', "Content changed")?;
                    }
                    for a in f.diff.without(Attr::Content).without(Attr::Ctime).iter() {
                        line('S', &message(a, o, n))?;
                    }
                }
                Ok(())
            }
        }?;
        if self.pending.len() >= BATCH {
            self.append()?;
        }
        Ok(())
    }

    /// Written and on disk: a finding in this log survives a crash right after.
    fn commit(&mut self) -> io::Result<()> {
        self.append()?;
        self.file
            .sync_data()
            .map_err(named(&self.path, "cannot sync"))
    }
}

/// CFEngine's wording for an `S` line.
fn message(a: Attr, o: Side<'_>, n: Side<'_>) -> String {
    let (om, nm) = (o.meta, n.meta);
    let target = |s: Side<'_>| quoted_target(s.target, b",");
    match a {
        Attr::Type => format!("Type: {} -> {}", om.kind.name(), nm.kind.name()),
        Attr::Mode => format!("Permission: {:04o} -> {:04o}", om.mode, nm.mode),
        Attr::Uid => format!("Owner: {} -> {}", om.uid, nm.uid),
        Attr::Gid => format!("Group: {} -> {}", om.gid, nm.gid),
        Attr::Size => format!("Size: {} -> {}", om.size, nm.size),
        Attr::Mtime => format!(
            "Modified time: {} -> {}",
            utc_ns(om.mtime),
            utc_ns(nm.mtime)
        ),
        Attr::Ctime => format!("Change time: {} -> {}", utc_ns(om.ctime), utc_ns(nm.ctime)),
        Attr::Inode => format!("Inode: {} -> {}", om.inode, nm.inode),
        Attr::Nlink => format!("Link count: {} -> {}", om.nlink, nm.nlink),
        Attr::Target => format!("Target: {} -> {}", target(o), target(n)),
        Attr::Xattrs => String::from("Extended attributes changed"),
        Attr::Content => String::from("Content changed"),
    }
}
