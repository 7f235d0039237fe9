//! Log scanning: following a log through rotation without losing or doubling a line, and
//! turning its lines into measurements.
//!
//! Nothing here touches a file. The caller observes (a `stat` of the log's path, the
//! rotated files beside it, digests of byte ranges it reads on request) and the rules say
//! which file to read from which offset; the caller reads, splits the bytes into bounded
//! lines with [`lines::Splitter`], matches them, and folds each match into a
//! [`value::Tally`].
//!
//! - [`position`]: the tail position of one log (device, inode, offset, digests of the first
//!   line and of the last line read) and its fixed-size encoding.
//! - [`rules`]: the decision over observations: normal growth, rename-and-create,
//!   copytruncate, truncation, rename-then-compress, deletion and re-creation, a log that
//!   does not exist yet, a log replaced by something that is not a regular file.
//! - [`lines`]: line splitting with a bound: long lines are counted and cut, a partial last
//!   line waits for its newline.
//! - [`value`]: pattern measurements: count, sum, last value, extraction of numbers.
//!
//! # Example
//!
//! ```
//! use homeostat_core::logscan::{Kind, Splitter, Tally};
//!
//! // Count the failed logins in a chunk of auth.log and sum the ports they came from.
//! let log = b"Failed password for root from 10.0.0.1 port 22\nAccepted key\nFailed password for bob from 10.0.0.2 port 2222\npartial";
//! let mut splitter = Splitter::new(false);
//! let mut tally = Tally::default();
//! let fed = splitter.feed(log, false, |piece| {
//!     let line = piece.bytes();
//!     if line.starts_with(b"Failed password") {
//!         let port = line.rsplit(|&b| b == b' ').next();
//!         tally.add(Kind::Int, port);
//!     }
//! });
//! assert_eq!((tally.lines, tally.int_sum, tally.last_int), (2, 2244, Some(2222)));
//! assert_eq!(&log[fed.consumed..], b"partial"); // waits for its newline
//! ```

pub mod lines;
pub mod position;
pub mod rules;
pub mod value;

pub use lines::{Piece, Splitter};
pub use position::{Anchor, Mtime, TailPos};
pub use rules::{decide, Candidate, Ends, Event, Node, Plan, Probe, Saved, Stat, Target};
pub use value::{Aggregate, Kind, Tally};

/// At most this many bytes of a file's first line identify it (its "head").
pub const HEAD_MAX: usize = 4096;
/// At most this many bytes of the last line read anchor the saved offset (its "tail").
pub const TAIL_MAX: usize = 4096;
/// Lines longer than this are cut to it: matched on their first `LINE_MAX` bytes,
/// counted as cut, and the rest up to the newline is skipped.
pub const LINE_MAX: usize = 64 * 1024;
