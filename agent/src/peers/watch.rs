//! `homeostat watch-peers`: fetch, pin, verify and compare the neighbours' databases.

use std::path::Path;

use crate::config::Config;
use crate::exit::Outcome;
use crate::output::Output;

/// `homeostat watch-peers`. Not built yet.
pub fn command(_cfg: &Config, _state: &Path, _out: &mut Output) -> Outcome {
    Err((crate::exit::CONFIG, "watch-peers: not built yet".into()))
}
