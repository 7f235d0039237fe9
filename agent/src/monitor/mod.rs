//! The learned normal state on a host: where it is kept, how samples reach it (live,
//! or replayed from history), and the commands that show it.
//!
//! - [`live`]: one sample of the platform's feeds through the learner.
//! - [`events`]: a sample's outcomes as events for the round's sinks.
//! - [`clock_step`]: the wall clock set back or forward, as the learner sees it.
//! - [`store`], [`peaks`], [`history`]: the state on disk (learner, peak snapshots, last
//!   classes, the recorded week).
//! - [`replay`], [`show`], [`eval`]: `homeostat replay`, `state` and `eval`.
//! - [`watch`], [`dashboard`]: `state --watch`, the live view on a terminal.

pub mod clock_step;
#[cfg(feature = "dashboard")]
pub mod dashboard;
pub mod eval;
pub mod events;
pub mod history;
pub mod live;
pub mod peaks;
pub mod replay;
pub mod show;
pub mod store;
#[cfg(feature = "dashboard")]
pub mod watch;
