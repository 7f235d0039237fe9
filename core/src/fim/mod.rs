//! File integrity monitoring: what is recorded of a file, how two records compare, the
//! order records are kept in, the database codec and its sans-I/O [`reader`].
//!
//! A check is a merge-join of two sorted streams (the database and the tree walked in the
//! same [`order`]), so memory stays constant in the number of files.
//!
//! # Example
//!
//! ```
//! use homeostat_core::fim::{compare, setid_root, Attr, Attrs, Entry, Kind, Meta};
//!
//! use homeostat_core::digest::{digest, Algorithm};
//!
//! let mut meta = Meta::empty(Kind::File);
//! meta.mode = 0o644;
//! meta.content = Some(digest(Algorithm::BEST, b"PermitRootLogin no\n"));
//! let old = Entry { path: &b"/etc/ssh/sshd_config"[..], target: None, meta };
//!
//! let mut meta = meta;
//! meta.mode = 0o4755;
//! meta.content = Some(digest(Algorithm::BEST, b"PermitRootLogin yes\n"));
//! let new = Entry { path: &b"/etc/ssh/sshd_config"[..], target: None, meta };
//!
//! let changed = compare(&old, &new, Attrs::ALL);
//! assert_eq!(changed.iter().map(|a| a.name()).collect::<Vec<_>>(), ["mode", "content"]);
//! // Watching only ownership, nothing changed.
//! assert!(compare(&old, &new, Attrs::EMPTY.with(Attr::Uid)).is_empty());
//! assert_eq!(setid_root(&new.meta), (true, false)); // root-owned and set-uid
//! ```

pub mod attrs;
pub mod compare;
pub mod db;
pub mod entry;
pub mod join;
pub mod order;
pub mod reader;

#[cfg(test)]
mod prop_tests;

pub use attrs::{Attr, Attrs};
pub use compare::{compare, setid_root};
pub use entry::{Entry, Kind, Meta, Timestamp};
pub use order::path_cmp;
