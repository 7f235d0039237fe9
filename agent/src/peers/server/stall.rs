//! A connection whose client stops taking its answer is closed after [`STALL`]: slots
//! held by answers are never evicted, so without this an allowed client that requests
//! the database and never reads could hold every slot for good.
//!
//! [`Tracked`] wraps the socket hyper writes to and notes when a write last went
//! through; the connection's timer compares.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// How long an answer may make no progress before its connection is closed.
pub const STALL: Duration = Duration::from_secs(60);

/// When bytes last left for the client, as milliseconds since `origin`.
pub struct Progress {
    origin: Instant,
    millis: AtomicU64,
}

impl Progress {
    /// No progress yet: `last` is `origin` (the accept).
    pub fn new(origin: Instant) -> Progress {
        Progress {
            origin,
            millis: AtomicU64::new(0),
        }
    }

    fn mark(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.millis.store(ms, Ordering::Relaxed);
    }

    /// When a write last went through (the accept when none has).
    pub fn last(&self) -> Instant {
        self.origin + Duration::from_millis(self.millis.load(Ordering::Relaxed))
    }
}

/// A stream whose successful writes are noted in a [`Progress`].
pub struct Tracked<'p, S> {
    pub io: S,
    pub progress: &'p Progress,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<'_, S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> Tracked<'_, S> {
    fn noted(&self, r: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        if let Poll::Ready(Ok(n)) = r {
            if n > 0 {
                self.progress.mark();
            }
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<'_, S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write(cx, buf);
        this.noted(r)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.noted(r)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn writes_that_go_through_are_progress() {
        let p = Progress::new(Instant::now());
        let (a, mut b) = tokio::io::duplex(4);
        let mut t = Tracked {
            io: a,
            progress: &p,
        };
        assert_eq!(p.last(), p.origin, "nothing written yet");
        tokio::time::sleep(Duration::from_millis(20)).await;
        t.write_all(b"abcd").await.unwrap();
        let first = p.last();
        assert!(first >= p.origin + Duration::from_millis(20));
        // The pipe is full: a write that cannot go through is no progress.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let blocked = tokio::time::timeout(Duration::from_millis(10), t.write_all(b"e")).await;
        assert!(blocked.is_err());
        assert_eq!(p.last(), first);
        let mut got = [0u8; 4];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"abcd");
    }
}
