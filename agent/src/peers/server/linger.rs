//! A lingering close: shut down our side, then read and discard what the client still
//! sends for a while before closing.
//!
//! Closing a socket with unread bytes in its receive queue sends a reset, and a client
//! that is still sending (a refused body, an over-long head) may then see the reset
//! before it reads our answer. Draining first makes the answer reliably arrive.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{timeout, Instant};

/// How long to drain at most, and how long to wait for each read.
#[derive(Clone, Copy, Debug)]
pub struct Linger {
    pub total: Duration,
    pub idle: Duration,
}

/// After an answer: long enough for a refused 10 MiB body to arrive on a slow link.
pub const AFTER_ANSWER: Linger = Linger {
    total: Duration::from_secs(10),
    idle: Duration::from_secs(2),
};

/// After a canned 403 at accept: the client has sent at most a request head.
pub const AFTER_REFUSAL: Linger = Linger {
    total: Duration::from_secs(2),
    idle: Duration::from_secs(1),
};

/// Shuts down writing on `stream`, then drains it until the client closes, it goes
/// quiet for `idle`, or `total` has passed; dropping the stream then closes it.
pub async fn close<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, linger: Linger) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let end = Instant::now() + linger.total;
    let mut sink = [0u8; 16 * 1024];
    while Instant::now() < end {
        match timeout(linger.idle, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => {}
            // The client closed, an error, or quiet for `idle`.
            _ => break,
        }
    }
}
