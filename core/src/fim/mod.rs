//! File integrity monitoring: what is recorded of a file, how two records compare, the
//! order records are kept in, the database codec and its sans-I/O [`reader`].
//!
//! A check is a merge-join of two sorted streams (the database and the tree walked in the
//! same [`order`]), so memory stays constant in the number of files.

pub mod attrs;
pub mod compare;
pub mod db;
pub mod entry;
pub mod join;
pub mod order;
pub mod reader;

pub use attrs::{Attr, Attrs};
pub use compare::{compare, setid_root};
pub use entry::{Entry, Kind, Meta, Timestamp};
pub use order::path_cmp;
