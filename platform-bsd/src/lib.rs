//! FreeBSD feeds for homeostat.
//!
//! Not yet written: the file walker is shared with Linux through `std` (see the agent),
//! but extended attributes (`extattr_list_link`), the process table (`kinfo_proc` via
//! sysctl), sockets (`sockstat`/`netstat -an`) and load and disk figures have no BSD feed
//! yet. [`MISSING`] lists them so the agent can say so instead of pretending.

/// The feeds this crate does not provide yet.
pub const MISSING: &[&str] = &["xattrs", "processes", "sockets", "load", "disk", "users"];
