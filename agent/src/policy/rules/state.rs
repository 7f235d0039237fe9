//! `rules.state`: what rules keep across rounds and processes — the persistent states
//! (`set_state`), each rule's last firing (for `every`), and the classes of the last
//! round (for `eval`).

use std::collections::BTreeMap;
use std::io;

use homeostat_core::classes::PersistentClasses;
use serde::{Deserialize, Serialize};

use crate::platform::StateDir;
use crate::state_dir::{read_blob, write_blob};

/// The blob's name in the state directory.
pub const FILE: &str = "rules.state";

/// Persistent states kept at most (the oldest expired make room).
pub const MAX_STATES: usize = 256;

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct RulesState {
    pub states: PersistentClasses<MAX_STATES>,
    /// Rule name → epoch of its last firing.
    pub last_fired: BTreeMap<String, i64>,
    /// Epoch and classes of the last round that ran the rules.
    pub last_t: i64,
    pub last_classes: Vec<String>,
}

impl RulesState {
    /// The stored record; none stored is an empty one.
    pub fn load(store: &mut StateDir) -> io::Result<RulesState> {
        match read_blob(store, FILE, crate::limits::RULES_STATE)? {
            None => Ok(RulesState::default()),
            Some(b) => serde_json::from_slice(&b).map_err(io::Error::other),
        }
    }

    /// Replaces the stored record, atomically.
    pub fn save(&self, store: &mut StateDir) -> io::Result<()> {
        write_blob(
            store,
            FILE,
            &serde_json::to_vec(self).map_err(io::Error::other)?,
        )
    }
}
