//! The seed's `admit`: a client outside `[peers] allow` is refused at accept with a
//! canned 403 written straight to the socket, one log line, and a lingering close. It
//! never reaches hyper and never takes a connection slot.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::linger::{self, AFTER_REFUSAL};

/// The whole answer to a refused client.
const FORBIDDEN: &[u8] = b"HTTP/1.1 403 Forbidden\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 22\r\n\
Connection: close\r\n\
\r\n\
not in [peers] allow\r\n";

/// Refused clients being closed gracefully at most at once; beyond that they are closed
/// at once after the 403, so a flood of them costs no more than this many sockets.
const MAX_LINGERING: usize = 256;

/// Refusals in progress.
#[derive(Default)]
pub struct Refusals {
    lingering: Arc<AtomicUsize>,
}

impl Refusals {
    /// Logs and answers a client outside `allow`, on a task of its own.
    pub fn refuse(&self, mut stream: TcpStream, peer: SocketAddr) {
        super::log(peer, "403 refused: not in [peers] allow");
        let lingering = self.lingering.clone();
        let linger = lingering.fetch_add(1, Ordering::Relaxed) < MAX_LINGERING;
        tokio::spawn(async move {
            // A fresh socket's send buffer holds the whole answer: this does not wait
            // on the client.
            if stream.write_all(FORBIDDEN).await.is_ok() && linger {
                linger::close(&mut stream, AFTER_REFUSAL).await;
            }
            lingering.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canned_answer_is_well_formed() {
        let text = std::str::from_utf8(FORBIDDEN).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 403 "));
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
    }
}
