//! The learned normal state on a host: where it is kept, how samples reach it (live,
//! or replayed from history), and how its findings are shown.

pub mod eval;
pub mod live;
pub mod peaks;
pub mod render;
pub mod replay;
pub mod settings;
pub mod show;
pub mod store;
