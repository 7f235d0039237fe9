//! Linux feeds for homeostat.
//!
//! - [`walk`]: the depth-first tree walker that produces entries in the core's order.
//! - [`hashpool`]: hashing on all cores by a bounded worker pool, results back in order
//!   ([`homeostat_core::feed::FileSource`]).
//! - [`xattr`]: a digest of a file's extended attributes.
//! - [`tree`]: what to walk (root, depth, excludes, xdev).
//! - [`logtail`]: following a log through rotation ([`homeostat_core::feed::LineSource`]).
//! - [`bounded`]: whole-file reads with a size limit.
//! - [`clock`]: the wall clock ([`homeostat_core::feed::Clock`]).
//! - [`storage`]: a directory of blobs replaced atomically
//!   ([`homeostat_core::feed::Storage`]).
//! - `watch`: the real-time watch, fanotify or inotify
//!   ([`homeostat_core::feed::WatchSource`]).
//! - [`command`]: running a measurement's command with a timeout and an output bound.
//! - [`dpkg`]: the dpkg database as a package source ([`homeostat_core::package::PackageSource`]).
//! - [`rpm`]: the rpm database as a second package source, through `rpm -qa --qf`.

pub mod bounded;
pub mod clock;
pub mod command;
pub mod dpkg;
pub mod hashpool;
pub mod logtail;
pub mod monitor;
pub mod proctable;
pub mod rpm;
pub mod storage;
pub mod tree;
pub mod walk;
#[cfg(target_os = "linux")]
pub mod watch;
pub mod xattr;

pub use clock::SystemClock;
pub use hashpool::{scan, scan_one, Pool, Scan, Scanned, Unseen};
pub use storage::StateDir;
pub use tree::{Exclude, TreeSpec};
