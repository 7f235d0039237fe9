//! `homeostat eval EXPR`: a class expression against the classes of the last sample and
//! the persistent classes alive now.

use std::path::Path;

use homeostat_core::stats::DEFAULT_FORGET_RATE;

use super::peaks::Extras;
use super::store::Brain;
use crate::exit::{Outcome, CONFIG, DATABASE};
use crate::platform::StateDir;

/// Prints `true` (exit 0) or `false` (exit 1); a syntax error is a configuration error.
pub fn command(state: &Path, expr: &str, now: i64) -> Outcome {
    let mut store = StateDir::new(state);
    let extras = Extras::load(&mut store);
    // The forget rate does not matter to a read; a damaged state is an error here.
    let brain = Brain::load(&mut store, DEFAULT_FORGET_RATE, |_| {})
        .map_err(|e| (DATABASE, format!("cannot read the learner state: {e}")))?;
    // Persistent classes outlive the sample that raised them: alive while now <= expiry.
    let persistent: Vec<String> = brain
        .learner
        .persistent_names(now)
        .map(|c| c.as_str().to_string())
        .collect();
    // `any` is always defined, as in CFEngine.
    let defined = |c: &str| {
        c == "any"
            || extras.last_classes.iter().any(|k| k == c)
            || persistent.iter().any(|k| k == c)
    };
    match homeostat_core::classes::expr::eval(expr, defined) {
        Ok(true) => {
            println!("true");
            Ok(0)
        }
        Ok(false) => {
            println!("false");
            Ok(1)
        }
        Err(e) => Err((CONFIG, format!("class expression {expr:?}: {e}"))),
    }
}
