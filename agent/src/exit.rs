//! Exit statuses of errors that stopped a command (below 16: the findings bitmask).

/// A configuration (or class expression) that cannot be used.
pub const CONFIG: u8 = 16;
/// An unreadable or forged database or learner state.
pub const DATABASE: u8 = 17;
/// An I/O error.
pub const IO: u8 = 18;

/// An exit status, or an error's status and message.
pub type Outcome = Result<u8, (u8, String)>;
