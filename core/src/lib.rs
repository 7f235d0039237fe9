//! homeostat's engine: the parts of a host security monitor that need no operating system.
//!
//! With no features it allocates nothing: every buffer's capacity is in its type or comes
//! from the caller, and time comes from the caller too. Platform crates feed it files,
//! processes and sockets; the agent renders what it finds.
//!
//! - [`digest`]: content hashes (SHA-256 by default).
//! - [`fim`]: file integrity records, their comparison, order and database codec.
//! - [`stats`]: the learned normal state of each observable per slot of the week.
//! - [`entropy`]: how evenly a sample's traffic spreads over its sources.
//! - [`classes`]: class names, persistent classes and class expressions.
//! - [`logscan`]: following a log through rotation, and turning its lines into measurements.
//! - [`event`]: every finding as a value; [`feed`]: the traits platforms and sinks implement.
//! - [`peers`]: neighbourhoods of hosts that watch each other's databases.
//! - [`text`]: attacker-controlled bytes escaped for printing (`\xNN`).
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod classes;
pub mod digest;
pub mod entropy;
pub mod event;
pub mod feed;
pub mod fim;
pub mod journal;
pub mod logscan;
pub mod package;
pub mod peers;
pub mod procs;
pub mod stats;
pub mod text;
