//! The real-time watch as a feed: what changed under the watched trees, as it happens.

use core::fmt;
use core::time::Duration;

use crate::event::Writer;

/// One thing the watch saw.
#[derive(Clone, Copy)]
pub enum Watched<'a> {
    /// A path under a watched tree changed (already filtered to the trees, their depth
    /// and excludes).
    Touched {
        /// The absolute path.
        path: &'a [u8],
        /// It was created, deleted or renamed: what lies below it changed with it.
        below: bool,
        /// The process that made the change, when the kernel names it.
        writer: Option<Writer<'a>>,
    },
    /// The kernel's event queue overflowed: changes were lost, every tree must be
    /// checked in full.
    Overflow,
    /// Part of a tree is not watched (no watch left, a directory that cannot be
    /// watched): a sentence naming it, for a warning.
    Blind(&'a dyn fmt::Display),
}

/// A watch of the trees, waited on by the caller.
pub trait WatchSource {
    /// Why the watch failed (it cannot go on).
    type Error;
    /// Waits up to `timeout` for changes and calls `each` for every one that arrived
    /// (none when the time ran out), in the order the kernel gave them.
    fn wait(
        &mut self,
        timeout: Duration,
        each: &mut dyn FnMut(Watched<'_>),
    ) -> Result<(), Self::Error>;
    /// How many kernel watches (marks or watch descriptors) are in use.
    fn watches(&self) -> u64;
    /// The mechanism, for the operator: `fanotify` or `inotify`.
    fn mechanism(&self) -> &'static str;
}
