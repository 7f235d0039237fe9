//! `homeostat eval EXPR`: a class expression against the classes of the last round, the
//! persistent classes and states alive now, and the hard classes of this host and moment.

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
    // The rules' record: the states set by rules (an expired one is false), and the
    // classes of the last round that ran rules when it is newer than the last sample.
    let rules = crate::policy::rules::RulesState::load(&mut store)
        .map_err(|e| (DATABASE, format!("cannot read the rules state: {e}")))?;
    let last = if rules.last_t > extras.last_t {
        &rules.last_classes
    } else {
        &extras.last_classes
    };
    let states: Vec<&str> = rules.states.alive(now).map(|p| p.name.as_str()).collect();
    let hard = crate::policy::rules::hard::Hard::at(&crate::state_dir::hostname(), now);
    // A persistent state listed in the last round but expired since is false.
    let expired = |c: &str| rules.states.is_alive(c, i64::MIN) && !rules.states.is_alive(c, now);
    let defined = |c: &str| {
        hard.has(c)
            || states.contains(&c)
            || persistent.iter().any(|k| k == c)
            || (last.iter().any(|k| k == c) && !expired(c))
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
