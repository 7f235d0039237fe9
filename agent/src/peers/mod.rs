//! The neighbourhood watch: hosts serve their signed databases to each other and watch
//! their neighbours' (the seed's `peers()` and `admit`).
//!
//! - [`serve`]: `homeostat serve`, the command.
//! - [`server`]: the read-only HTTP/1.1 server itself (`serve`, and `run` with `listen`).
//! - [`watch`]: fetch, pin, verify and compare the neighbours' databases (`watch-peers`).

pub mod serve;
pub mod server;
pub mod watch;
