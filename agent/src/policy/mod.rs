//! Policy on top of what the round found: process and port promises (producers of
//! `process`, `port` and `ports_changed` events and their classes) and the rules, which
//! run last over every class of the round and raise alerts, set states and run commands.

pub mod ports;
pub mod processes;
pub mod rules;
