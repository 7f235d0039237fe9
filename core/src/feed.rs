//! The traits a platform implements to feed the core, and the one a sink implements to
//! take its findings.
//!
//! Each trait is one kind of source, small enough for a bare-metal board to implement
//! only what it has (embassy style): the firmware has a clock and a flash tree; a host has
//! them all. Sources push what they find through a caller-supplied closure, or, where the
//! caller pulls (a merge-join walking files) or a blob streams (storage), hand over an
//! iterator, a reader or a writer. No trait needs an allocator, and time is always the
//! caller's ([`Clock`]).
//!
//! # Example
//!
//! ```
//! use homeostat_core::{event::Epoch, feed::Clock};
//!
//! /// A board's clock: seconds since power-on plus the epoch it was set to.
//! struct Rtc { set_at: Epoch, uptime: i64 }
//!
//! impl Clock for Rtc {
//!     fn now(&self) -> Epoch {
//!         self.set_at + self.uptime
//!     }
//! }
//!
//! let rtc = Rtc { set_at: 1_704_067_200, uptime: 300 };
//! assert_eq!(homeostat_core::stats::table::slot(rtc.now()), 1); // Monday 00:05 UTC
//! ```

use core::fmt;
use core::net::IpAddr;

use crate::event::{Epoch, Event};
use crate::fim::join::Live;
use crate::fim::Entry;
use crate::logscan::Saved;

mod watch;
pub use watch::{WatchSource, Watched};

/// Wall-clock time, supplied by the platform (smoltcp style: the core never asks the OS).
pub trait Clock {
    /// Seconds since the Unix epoch, now.
    fn now(&self) -> Epoch;
}

/// One object a [`FileSource`] found under a watched tree, handed over whole: the caller
/// keeps it while the join needs it and the source works on the next ones meanwhile.
pub trait Found {
    /// What holds the path bytes (`Vec<u8>` on a host, `&[u8]` over a flash blob).
    type Path: AsRef<[u8]>;
    /// The object as the merge-join sees it: its record (content digest included when
    /// the tree hashes it; flagged when its content could not be read), or only its path
    /// when nothing could be recorded.
    fn live(&self) -> Live<'_, Self::Path>;
    /// Why part of it could not be examined (permission denied, changed while read), or
    /// nothing at all of it; `None` when all went well.
    fn problem(&self) -> Option<&str>;
}

/// A record is an object seen whole, with no problem: what a source that always can
/// read everything (a flash blob) hands over.
impl<P: AsRef<[u8]>> Found for Entry<P> {
    type Path = P;
    fn live(&self) -> Live<'_, P> {
        Live::Seen(self)
    }
    fn problem(&self) -> Option<&str> {
        None
    }
}

/// Walks, stats and reads (hashes) the objects of watched trees.
///
/// Pull-based, so that a check merge-joins the walk with the database in constant memory,
/// taking the next object of either side as the join asks: the walk is an iterator, which
/// a host fills ahead on other threads and a board computes on demand.
pub trait FileSource {
    /// What to walk: one watched tree as the platform describes it (root, depth,
    /// excludes, digest algorithm), built from the configuration.
    type Tree;
    /// One object found.
    type Item: Found;
    /// The objects of one tree; dropping it stops the walk.
    type Walk<'s>: Iterator<Item = Self::Item>
    where
        Self: 's;
    /// Every object of `tree`, the root first, in component order
    /// ([`crate::fim::path_cmp`]), each once. A root that does not exist is one
    /// [`Live::Unseen`] item marked gone; a part that cannot be listed or read is an item
    /// with its [`Found::problem`], never the end of the walk.
    fn walk(&mut self, tree: &Self::Tree) -> Self::Walk<'_>;
}

/// Where a source says what it skipped or assumed without failing (a line it could not
/// parse, a process it could not read, a missing file that means "none"): a sentence for
/// a person, formatted only if someone shows it. Called any number of times, in the order
/// things happened.
pub type Notes<'a> = dyn FnMut(&dyn fmt::Display) + 'a;

/// One running process.
#[derive(Clone, Copy, Debug)]
pub struct Process<'a> {
    /// Process id.
    pub pid: u32,
    /// Effective user id: the owner, as `ps` shows it (a setuid-root program run by alice
    /// is root's, as cf-monitord counted it).
    pub uid: u32,
    /// The owner's user name, raw bytes, when the platform's user database has one.
    pub user: Option<&'a [u8]>,
    /// The command name the kernel keeps for the process (Linux `comm`, the `Name:` of
    /// `/proc/PID/status`; FreeBSD `ki_comm`), raw bytes: a short name, not the command
    /// line.
    pub command: &'a [u8],
}

/// Lists the processes.
pub trait ProcessSource {
    /// Why there is no process list at all.
    type Error;
    /// Calls `each` once per process, in no particular order (a caller that wants pid
    /// order sorts). A process that exits while it is being read is left out silently;
    /// one that cannot be read is left out and said through `notes`.
    fn processes(
        &mut self,
        each: &mut dyn FnMut(&Process<'_>),
        notes: &mut Notes<'_>,
    ) -> Result<(), Self::Error>;
}

/// Transport of a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Transport {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// Address family of a socket, as the system lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Family {
    /// IPv4 (`AF_INET`).
    V4,
    /// IPv6 (`AF_INET6`); a dual-stack socket's IPv4 peers appear as IPv4-mapped
    /// addresses (`::ffff:a.b.c.d`).
    V6,
}

/// One socket of the host, in any state (listening, connected, closing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Socket {
    /// TCP or UDP.
    pub transport: Transport,
    /// The socket's family: the table it was listed in (`tcp6`, `udp4`…), whatever form
    /// its addresses take.
    pub family: Family,
    /// Local address and port.
    pub local: (IpAddr, u16),
    /// Remote address and port (unspecified and 0 when not connected).
    pub remote: (IpAddr, u16),
    /// Listening: TCP in LISTEN, or UDP bound to a port and not connected (UDP has no
    /// LISTEN state).
    pub listening: bool,
}

impl Socket {
    /// No peer: a listener or an unconnected (bound) UDP socket.
    pub fn unconnected(&self) -> bool {
        self.remote.1 == 0 && self.remote.0.is_unspecified()
    }
}

/// Lists the sockets.
pub trait SocketSource {
    /// Why there is no socket list at all.
    type Error;
    /// Calls `each` once per socket, TCP and UDP, IPv4 and IPv6, in no particular order.
    /// A part of the list that cannot be read (one table of several, a malformed line) is
    /// said through `notes`; `Err` only when nothing could be read.
    fn sockets(
        &mut self,
        each: &mut dyn FnMut(&Socket),
        notes: &mut Notes<'_>,
    ) -> Result<(), Self::Error>;
}

/// Space on a file system, in blocks of one size (the unit cancels out).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DiskSpace {
    /// Size of the file system (`f_blocks`).
    pub blocks: u64,
    /// Free blocks, the reserve for root included (`f_bfree`).
    pub free: u64,
    /// Free blocks an ordinary user may fill (`f_bavail`).
    pub available: u64,
}

impl DiskSpace {
    /// CFEngine's `diskfree`: available / (available + used) × 100, truncated, with used
    /// = blocks − free, so the root reserve counts as neither. `None` when the file system
    /// reports no blocks at all. Never overflows or panics on nonsense figures.
    pub fn percent_free(&self) -> Option<u8> {
        let used = u128::from(self.blocks.saturating_sub(self.free));
        let avail = u128::from(self.available);
        let total = avail + used;
        if total == 0 {
            return None;
        }
        u8::try_from(avail * 100 / total).ok()
    }
}

/// The machine-wide figures. Each is read on its own: one that fails leaves the others.
pub trait SystemSource {
    /// Why a figure could not be read.
    type Error;
    /// The one-minute load average.
    fn load(&mut self) -> Result<f32, Self::Error>;
    /// Space on the file system the platform watches (configured when the source is
    /// made: `/` on a host, the data partition on a board).
    fn disk(&mut self) -> Result<DiskSpace, Self::Error>;
    /// Calls `each` with the user name (raw bytes, never empty) of every login session,
    /// once per session, in no particular order. No session database at all is no
    /// session (said through `notes`), not an error.
    fn users(
        &mut self,
        each: &mut dyn FnMut(&[u8]),
        notes: &mut Notes<'_>,
    ) -> Result<(), Self::Error>;
}

/// Where the lines of a followed log go, in the order they were written.
///
/// A follow gives complete lines only (a last line without its newline waits for the next
/// follow, except at the end of a compressed rotated file, where nothing will follow it).
/// Runs of ordinary lines come as one [`LineSink::region`], so that a matcher can search
/// them in one pass; a line cut to [`crate::logscan::LINE_MAX`] comes alone through
/// [`LineSink::line`].
pub trait LineSink {
    /// Complete lines, each with its `\n`, none longer than [`crate::logscan::LINE_MAX`].
    fn region(&mut self, bytes: &[u8]);
    /// One line without its `\n` (at most [`crate::logscan::LINE_MAX`] bytes: a longer one
    /// is cut, and counted in [`Followed::cut`]).
    fn line(&mut self, line: &[u8]);
    /// Remembers what the lines given so far made, for [`LineSink::rollback`].
    fn checkpoint(&mut self);
    /// Forgets the lines given since the last [`LineSink::checkpoint`]: a read of the
    /// current file that a rotation overtook is taken back and read again where the
    /// rotation put those lines.
    fn rollback(&mut self);
}

/// Something a follow met that did not stop it, about one file of the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Note<'a> {
    /// A compressed rotated file could not be decompressed past decompressed byte `at`:
    /// the lines after that are lost (reported, never silent).
    Undecompressable {
        /// The rotated file (a path, as bytes).
        file: &'a [u8],
        /// Decompressed bytes given before the failure, counted from the file's start.
        at: u64,
        /// Why, as the platform words it.
        why: &'a str,
    },
}

/// What one follow of a log gave, besides its lines and notes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Followed {
    /// The position to save: the next follow resumes here.
    pub saved: Saved,
    /// What the rules saw ([`crate::logscan::Event`]): quiet growth, a first read, a
    /// missing or special log, or a loss. Of several rounds, the first loss wins.
    pub event: crate::logscan::Event,
    /// Lines longer than [`crate::logscan::LINE_MAX`] given cut.
    pub cut: u64,
}

/// Follows a log through rotation: [`crate::logscan::rules`] decide what to read from
/// where; the platform observes the log and the rotated files beside it, answers the
/// rules' digest questions, and reads.
///
/// Nothing here allocates: lines go to the caller's [`LineSink`], notes to its closure,
/// and the position in and out is a fixed-size [`Saved`]. The platform keeps its read
/// buffer in `self`, so one source serves every log of a scan.
pub trait LineSource {
    /// Why a log could not be followed this time: then nothing given to the sink may be
    /// kept, and `from` is still the position to save.
    type Error;
    /// Reads the lines of the log at path `log` written since `from`, each once and in
    /// order (the rest of a rotated generation first, then the ones after it, then the
    /// current file), bounded to [`crate::logscan::LINE_MAX`] bytes, and returns where to
    /// resume. A missing log, or one that is a FIFO, directory or device, is not an error:
    /// nothing is read and [`Followed::event`] says why.
    fn follow(
        &mut self,
        log: &[u8],
        from: &Saved,
        lines: &mut dyn LineSink,
        notes: &mut dyn FnMut(Note<'_>),
    ) -> Result<Followed, Self::Error>;
}

/// Keeps named blobs (the learner's state, a scan's positions) across restarts and
/// crashes: a blob is read as a stream and replaced whole, never torn.
///
/// Blobs stream both ways, so that neither side holds one whole: the learner's state is
/// some 2 MiB, read and written a piece at a time (a host's memory budget has room for
/// one table, not two; a board writes flash a page at a time).
pub trait Storage {
    /// Why a blob could not be read, written or removed.
    type Error;
    /// A blob being read.
    type Reader<'s>: BlobReader<Error = Self::Error>
    where
        Self: 's;
    /// A blob being written: the old one stays until [`BlobWriter::commit`].
    type Writer<'s>: BlobWriter<Error = Self::Error>
    where
        Self: 's;
    /// Opens blob `name` for reading; `None` when there is none.
    fn load(&mut self, name: &str) -> Result<Option<Self::Reader<'_>>, Self::Error>;
    /// Starts replacing blob `name`: what is written goes aside until
    /// [`BlobWriter::commit`] puts it in place in one step, so that a crash, an error or
    /// a writer dropped uncommitted leaves the old blob (or none) and never a torn one.
    fn store(&mut self, name: &str) -> Result<Self::Writer<'_>, Self::Error>;
    /// Forgets blob `name`; none there is not an error.
    fn remove(&mut self, name: &str) -> Result<(), Self::Error>;
}

/// The bytes of one stored blob, in order.
pub trait BlobReader {
    /// Why the blob could not be read.
    type Error;
    /// Fills the start of `buf` with the next bytes; returns how many, 0 only at the end
    /// of the blob (or for an empty `buf`).
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error>;
}

/// A blob being written ([`Storage::store`]).
pub trait BlobWriter {
    /// Why the blob could not be written.
    type Error;
    /// Appends `bytes`.
    fn write(&mut self, bytes: &[u8]) -> Result<(), Self::Error>;
    /// Makes what was written the blob, durably and in one step: after `Ok` a crash
    /// leaves the new blob, after `Err` the old one (or the new one, when only making
    /// the step itself durable failed).
    fn commit(self) -> Result<(), Self::Error>;
}

/// Takes events out: a terminal, a JSON stream, a log file, syslog, metrics.
pub trait Sink {
    /// Why an event could not be written.
    type Error;
    /// Renders one event (a sink ignores kinds it does not show).
    fn event(&mut self, e: &Event<'_>) -> Result<(), Self::Error>;
    /// Makes every event so far durable: written out, flushed, and fsync'd where it is a
    /// file. A round commits its sinks before its baseline accepts what they were told,
    /// so a crash leaves each finding reported or still unaccepted.
    fn commit(&mut self) -> Result<(), Self::Error>;
}

impl<S: Sink + ?Sized> Sink for &mut S {
    type Error = S::Error;
    fn event(&mut self, e: &Event<'_>) -> Result<(), Self::Error> {
        (**self).event(e)
    }
    fn commit(&mut self) -> Result<(), Self::Error> {
        (**self).commit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diskfree_as_cfengine() {
        let d = |available, blocks, free| DiskSpace {
            blocks,
            free,
            available,
        };
        // 50 available, 100 used (reserved blocks are neither): 33.3 % → 33.
        assert_eq!(d(50, 160, 60).percent_free(), Some(33));
        assert_eq!(d(0, 100, 0).percent_free(), Some(0));
        assert_eq!(d(100, 100, 100).percent_free(), Some(100));
        assert_eq!(d(0, 0, 0).percent_free(), None);
        assert_eq!(d(u64::MAX, u64::MAX, 0).percent_free(), Some(50));
        assert_eq!(d(10, 5, 50).percent_free(), Some(100));
        assert_eq!(d(9999, 10000, 9999).percent_free(), Some(99));
    }

    #[test]
    fn unconnected_sockets() {
        let any = IpAddr::from([0, 0, 0, 0]);
        let s = |remote: (IpAddr, u16)| Socket {
            transport: Transport::Udp,
            family: Family::V4,
            local: (any, 53),
            remote,
            listening: false,
        };
        assert!(s((any, 0)).unconnected());
        assert!(!s((any, 53)).unconnected());
        assert!(!s((IpAddr::from([10, 0, 0, 1]), 0)).unconnected());
    }
}
