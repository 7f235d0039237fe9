//! The one place the agent names its platform crate; every other module uses what this
//! one re-exports.
//!
//! FreeBSD builds use the same walker and readers for now: they are plain POSIX where they
//! can be, and the Linux-only feeds report themselves unavailable there. A BSD crate of
//! its own takes over here when it has the feeds (`platform-bsd`).

#[cfg(any(target_os = "linux", target_os = "freebsd"))]
pub use homeostat_linux::proctable;
/// The real-time watch: Linux only (fanotify, inotify).
#[cfg(target_os = "linux")]
pub use homeostat_linux::watch;
#[cfg(any(target_os = "linux", target_os = "freebsd"))]
pub use homeostat_linux::{
    command, logtail, monitor, Exclude, Pool, StateDir, SystemClock, TreeSpec,
};
#[cfg(any(target_os = "linux", target_os = "freebsd"))]
pub use homeostat_linux::{scan_one, Scan, Scanned, Unseen};
