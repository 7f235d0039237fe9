//! The journal: every event that is not a sample, hash-chained in `journal.jsonl`.
//!
//! The chain itself (a line's link, the verifier) is `homeostat_core::journal`; here are
//! the file ([`file`]: its last line, locked appends) and `homeostat verify-journal`
//! ([`verify`]). The sink that writes it is `crate::output::journal`.

pub mod file;
mod verify;

pub use verify::command as verify;
