//! `homeostat serve`: the read-only HTTP/1.1 server of the neighbourhood watch.

use std::path::Path;

use crate::config::Config;
use crate::exit::Outcome;
use crate::files::signing::Keys;

/// `homeostat serve`. Not built yet.
pub fn command(_cfg: &Config, _keys: &Keys, _state: &Path) -> Outcome {
    Err((crate::exit::CONFIG, "serve: not built yet".into()))
}
