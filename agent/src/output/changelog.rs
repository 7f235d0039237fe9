//! CFEngine's `file_changes.log`: `epoch,handle,path,N|R|C|S,message`, one line per
//! finding, appended. Commas in names are escaped too, so every line has five fields.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use homeostat_core::event::{Change, Epoch, Event, Side};
use homeostat_core::feed::Sink;
use homeostat_core::fim::Attr;

use super::timefmt::utc_ns;
use crate::output::escape::{escape_with, quoted_target};

/// The log, open for appending.
pub struct ChangeLog {
    now: Epoch,
    out: BufWriter<File>,
}

impl ChangeLog {
    /// Opens (creating) the log at `path` for findings of a run at epoch `now`.
    pub fn open(path: &Path, now: Epoch) -> io::Result<ChangeLog> {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        Ok(ChangeLog {
            now,
            out: BufWriter::new(f),
        })
    }
}

impl Sink for ChangeLog {
    type Error = io::Error;

    fn event(&mut self, e: &Event<'_>) -> io::Result<()> {
        let Event::File(f) = e else { return Ok(()) };
        let lp = escape_with(f.path, b",");
        let (now, handle) = (self.now, f.handle);
        let out = &mut self.out;
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
        }
    }

    /// Written and on disk: a finding in this log survives a crash right after.
    fn commit(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()
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
