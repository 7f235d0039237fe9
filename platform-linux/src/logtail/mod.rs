//! Following one log on disk through rotation: the platform half of
//! [`homeostat_core::logscan`], behind [`homeostat_core::feed::LineSource`].
//!
//! - [`observe`]: the log and the rotated files beside it, as found.
//! - [`read`]: reading plain and compressed files into bounded lines.
//! - `follow`: the loop of observe, decide (the core rules), read, check.
//!
//! [`Tail`] is the source the agent uses: it keeps one read buffer for every log it
//! follows.

mod follow;
pub mod observe;
pub mod read;

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use homeostat_core::feed::{Followed, LineSink, LineSource, Note};
use homeostat_core::logscan::Saved;

pub use observe::{rotated_name, MAX_CANDIDATES};
pub use read::{read_lines, ReadEnd, BUF_SIZE};

/// Why following a log stopped without a result.
#[derive(Debug)]
pub enum FollowError {
    /// A file changed under the read in a way that makes what was read doubtful
    /// (truncated or rewritten): read again.
    Unstable(PathBuf),
    /// A file of the log could not be read.
    Io(PathBuf, io::Error),
}

/// Follows logs on a local file system ([`LineSource`]).
#[derive(Debug, Default)]
pub struct Tail {
    rechecks: usize,
    buf: Vec<u8>,
}

impl Tail {
    /// A source that takes a decision reporting a loss again up to `rechecks` times, 50 ms
    /// apart, before it believes it: a rotation caught half done must not pass for one.
    pub fn new(rechecks: usize) -> Tail {
        Tail {
            rechecks,
            buf: Vec::new(),
        }
    }
}

impl LineSource for Tail {
    type Error = FollowError;

    fn follow(
        &mut self,
        log: &[u8],
        from: &Saved,
        lines: &mut dyn LineSink,
        notes: &mut dyn FnMut(Note<'_>),
    ) -> Result<Followed, FollowError> {
        let path = Path::new(OsStr::from_bytes(log));
        follow::follow(path, from, self.rechecks, &mut self.buf, lines, notes)
    }
}
