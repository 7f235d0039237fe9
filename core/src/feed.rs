//! The traits a platform implements to feed the core, and the one a sink implements to
//! take its findings.
//!
//! Each trait is one kind of source, small enough for a bare-metal board to implement
//! only what it has (embassy style): the firmware has a clock, storage and a sink; a host
//! has them all. Sources push what they find through a caller-supplied closure, so no
//! trait needs an allocator, and time is always the caller's ([`Clock`]).

use core::net::IpAddr;

use crate::event::{Epoch, Event};
use crate::fim::Entry;
use crate::logscan::Saved;

/// Wall-clock time, supplied by the platform (smoltcp style: the core never asks the OS).
pub trait Clock {
    /// Seconds since the Unix epoch, now.
    fn now(&self) -> Epoch;
}

/// One object found under a watched tree.
#[derive(Clone, Copy, Debug)]
pub struct Found<'a> {
    /// What was recorded of it (content digest included when the tree hashes it).
    pub entry: &'a Entry<&'a [u8]>,
    /// Why part of it could not be examined (permission denied, changed while read).
    pub problem: Option<&'a str>,
}

/// Walks, stats and reads the files of a tree.
pub trait FileSource {
    /// Why a walk stopped.
    type Error;
    /// Streams every object of tree `tree` (its index in the configuration) in component
    /// order ([`crate::fim::path_cmp`]), the root first, so that it merge-joins with a
    /// database in constant memory.
    fn walk(&mut self, tree: usize, each: &mut dyn FnMut(Found<'_>)) -> Result<(), Self::Error>;
}

/// One running process.
#[derive(Clone, Copy, Debug)]
pub struct Process<'a> {
    /// Process id.
    pub pid: u32,
    /// Parent's process id.
    pub ppid: u32,
    /// Real user id.
    pub uid: u32,
    /// The command line, arguments separated by single spaces (`[comm]` when empty).
    pub command: &'a [u8],
}

/// Lists the processes.
pub trait ProcessSource {
    /// Why the list could not be read.
    type Error;
    /// Calls `each` once per process, in pid order.
    fn processes(&mut self, each: &mut dyn FnMut(&Process<'_>)) -> Result<(), Self::Error>;
}

/// Transport of a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Transport {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// One socket of the host.
#[derive(Clone, Copy, Debug)]
pub struct Socket {
    /// TCP or UDP.
    pub transport: Transport,
    /// Local address and port.
    pub local: (IpAddr, u16),
    /// Remote address and port (unspecified and 0 when not connected).
    pub remote: (IpAddr, u16),
    /// Listening: TCP in LISTEN, or UDP bound with no peer.
    pub listening: bool,
}

/// Lists the sockets.
pub trait SocketSource {
    /// Why the list could not be read.
    type Error;
    /// Calls `each` once per socket.
    fn sockets(&mut self, each: &mut dyn FnMut(&Socket)) -> Result<(), Self::Error>;
}

/// The machine-wide figures.
pub trait SystemSource {
    /// Why a figure could not be read.
    type Error;
    /// The one-minute load average.
    fn load(&mut self) -> Result<f32, Self::Error>;
    /// Free space of the file system holding `path`, in percent of what users may fill.
    fn disk_free_percent(&mut self, path: &[u8]) -> Result<u8, Self::Error>;
    /// Calls `each` with the user name of every login session.
    fn users(&mut self, each: &mut dyn FnMut(&[u8])) -> Result<(), Self::Error>;
}

/// Where reading a log resumes and what the platform saw while reading it.
#[derive(Clone, Debug)]
pub struct Followed {
    /// The position to save: the next read resumes here.
    pub saved: Saved,
}

/// Follows a log through rotation ([`crate::logscan::rules`] decide; the platform reads).
pub trait LineSource {
    /// Why a log could not be read.
    type Error;
    /// Reads the lines of `log` written since `from`, each once, in order, bounded to
    /// [`crate::logscan::LINE_MAX`] bytes, and returns where to resume.
    fn follow(
        &mut self,
        log: &[u8],
        from: &Saved,
        each: &mut dyn FnMut(&[u8]),
    ) -> Result<Followed, Self::Error>;
}

/// Keeps named blobs (the learner's state, a database) across restarts.
pub trait Storage {
    /// Why a blob could not be read or written.
    type Error;
    /// Reads blob `name` into `buf`; returns its length, or `None` when there is none.
    fn load(&mut self, name: &str, buf: &mut [u8]) -> Result<Option<usize>, Self::Error>;
    /// Replaces blob `name` with `bytes` atomically: a crash leaves the old or the new.
    fn store(&mut self, name: &str, bytes: &[u8]) -> Result<(), Self::Error>;
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
