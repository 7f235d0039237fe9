//! Helpers for the end-to-end tests in `tests/`: they find (or build) the `homeostat`
//! binary, build hostile file trees in temporary directories, run the binary with a
//! timeout, parse its three outputs (JSON lines, text, `file_changes.log`) and compare
//! them with what a test-side oracle saw on the file system.
//!
//! The oracle ([`fixture::Fixture::snapshot`] and [`snapshot::diff`]) `lstat`s every
//! entry of a tree before and after a tampering, so a test can say "exactly these paths
//! changed, in exactly these attributes" and also check every reported old/new value
//! against the real file. Each scenario states the attribute lists the contract
//! promises; the oracle first confirms the file system really produced them (so a test
//! bug or an unusual file system is told apart from a binary bug), then the binary's
//! reports are held to them.
//!
//! One module a concern; tests name the module an item comes from.
//!
//! Linux only: the harness uses Linux xattr calls; elsewhere the crate is empty.
#![cfg(target_os = "linux")]

pub mod content;
pub mod daemon;
pub mod deep;
pub mod dpkg;
pub mod expect;
// Kill helpers with libc calls, each with a SAFETY note.
pub mod faults;
pub mod filelog;
pub mod fixture;
// Test-side libc shims (utimensat, mkfifo, chown, xattrs), each with a SAFETY note.
#[allow(unsafe_code)]
pub mod fs;
pub mod json;
pub mod measured;
pub mod mountns;
pub mod net;
pub mod procs;
pub mod prom;
pub mod rawhttp;
pub mod realtime;
pub mod rpm;
// geteuid, with a SAFETY note.
#[allow(unsafe_code)]
pub mod run;
pub mod scenario;
pub mod served;
pub mod snapshot;
pub mod text;
pub mod tree;
pub mod verify;

pub use serde_json;
pub use socket2;
pub use tempfile;
