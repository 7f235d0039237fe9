//! `homeostat restore`: put files back from a trusted copy (the seed's reversion).

use std::path::Path;

use crate::config::Config;
use crate::exit::Outcome;
use crate::files::signing::Keys;
use crate::output::Output;

/// `homeostat restore PATH… --from DIR|URL`. Not built yet.
pub fn command(
    _cfg: &Config,
    _keys: &Keys,
    _state: &Path,
    _paths: &[Vec<u8>],
    _from: &str,
    _out: &mut Output,
) -> Outcome {
    Err((crate::exit::CONFIG, "restore: not built yet".into()))
}
