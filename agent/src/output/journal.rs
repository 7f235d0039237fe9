//! The journal sink: every event that is not a sample, as its JSON line, appended to
//! `<state_dir>/journal.jsonl` in the hash chain of [`crate::journal::file`].
//!
//! Lines wait in memory until [`Sink::commit`] (or until a megabyte has gathered), then go
//! out in one locked append; `commit` fsyncs them, so a round's findings are on disk
//! before its database accepts them and signs the journal's head.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use homeostat_core::event::Event;
use homeostat_core::feed::Sink;

use crate::journal::file;
use crate::output::{escape::escape, json};

/// Pending bytes that make the sink append before its commit.
const BATCH: usize = 1 << 20;

/// Appends the journal of one state directory.
pub struct Journal {
    path: PathBuf,
    pending: Vec<Vec<u8>>,
    bytes: usize,
    /// Lines appended without fsync since the last commit.
    unsynced: bool,
}

impl Journal {
    /// The journal of the state directory `state` (created on the first append).
    pub fn new(state: &std::path::Path) -> Journal {
        Journal {
            path: file::path(state),
            pending: Vec::new(),
            bytes: 0,
            unsynced: false,
        }
    }

    fn append(&mut self, sync: bool) -> io::Result<()> {
        let done = file::append(&self.path, &self.pending, sync).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("journal {}: {e}", escape(self.path.as_os_str().as_bytes())),
            )
        })?;
        // Said once per damage: the first append after it ends the journal whole again.
        if let Some(line) = done.after_damaged {
            crate::output::stdio::say(&format!(
                "warning: {} line {line} is damaged; later events are chained \
                 after it (`homeostat verify-journal` names it)",
                escape(self.path.as_os_str().as_bytes())
            ));
        }
        self.pending.clear();
        self.bytes = 0;
        Ok(())
    }
}

/// Samples (a learner outcome per observable, the per-sample ports listing) are not
/// journaled; neither are the events JSON does not show.
fn journaled(e: &Event<'_>) -> bool {
    !matches!(e, Event::Sample(_) | Event::Ports(_))
}

impl Sink for Journal {
    type Error = io::Error;

    fn event(&mut self, e: &Event<'_>) -> io::Result<()> {
        if !journaled(e) {
            return Ok(());
        }
        let Some(line) = json::line(e) else {
            return Ok(());
        };
        self.bytes += line.len();
        self.pending.push(line);
        if self.bytes >= BATCH {
            self.append(false)?;
            self.unsynced = true;
        }
        Ok(())
    }

    fn commit(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.append(true)?;
        } else if self.unsynced {
            file::sync(&self.path)?;
        }
        self.unsynced = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use homeostat_core::event::Warning;
    use homeostat_core::journal::Verifier;

    #[test]
    fn a_big_round_goes_out_in_batches_and_commit_makes_it_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = Journal::new(dir.path());
        let message = "x".repeat(1000);
        let warning = |t| {
            Event::Warning(Warning {
                t,
                source: b"/etc/hosts",
                measurement: None,
                message: &message,
            })
        };
        let path = file::path(dir.path());
        let mut n = 0;
        while !path.exists() {
            sink.event(&warning(n)).unwrap();
            n += 1;
            assert!(n < 2000, "nothing appended after {n} KB of lines");
        }
        // The batch is out before the commit; the rest waits for it.
        let batch = std::fs::read(&path).unwrap();
        assert_eq!(batch.iter().filter(|b| **b == b'\n').count() as i64, n);
        for t in n..n + 10 {
            sink.event(&warning(t)).unwrap();
        }
        assert_eq!(std::fs::read(&path).unwrap(), batch);
        sink.commit().unwrap();
        let all = std::fs::read(&path).unwrap();
        let mut v = Verifier::new(None);
        for l in all.strip_suffix(b"\n").unwrap().split(|b| *b == b'\n') {
            v.line(l).unwrap();
        }
        assert_eq!(v.finish().unwrap().unwrap().seq, n as u64 + 10);
    }
}
