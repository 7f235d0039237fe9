//! The neighbourhood watch: hosts serve their signed databases to each other and watch
//! their neighbours' (the seed's `peers()` and `admit`).
//!
//! - [`serve`]: `homeostat serve`, the command; [`server`]: the read-only HTTP/1.1 server
//!   itself (`serve`, and `run` with `listen`).
//! - [`watch`]: fetch, pin, verify and compare the neighbours' databases (`watch-peers`),
//!   with [`client`] (GET over HTTP/1.1), [`pins`] (keys pinned on first use) and
//!   [`compare`] (two databases, record by record).

pub mod client;
pub mod compare;
pub mod pins;
pub mod serve;
pub mod server;
pub mod watch;
