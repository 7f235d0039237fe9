//! The journal: every event that is not a sample, hash-chained in `journal.jsonl`.

use std::path::Path;

use crate::exit::Outcome;
use crate::files::signing::Keys;
use crate::output::Output;

/// `homeostat verify-journal`. Not built yet.
pub fn verify(_keys: &Keys, _state: &Path, _out: &mut Output) -> Outcome {
    Err((crate::exit::CONFIG, "verify-journal: not built yet".into()))
}
