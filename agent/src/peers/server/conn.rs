//! One admitted connection: one request (keep-alive off) through hyper with a request
//! head of at most 8 KiB (hyper answers 431 beyond), closed when its head has not come
//! 10 s after accept or when it is evicted, and closed lingering after its answer so that
//! refusals (413, 431) reach a client that is still sending. An answer the client stops
//! taking for a minute ends the connection ([`super::stall`]).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::{sleep_until, Instant};

use super::linger::{self, AFTER_ANSWER};
use super::routes;
use super::slots::{Phase, Slot};
use super::stall::{Progress, Tracked, STALL};
use super::Shared;

/// The largest request head read (hyper's buffer; beyond it hyper answers 431).
pub const MAX_HEAD: usize = 8 * 1024;

/// How long after accept a client may take to send its request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves one connection to its end.
pub async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    accepted: Instant,
    slot: Slot,
    mut evicted: oneshot::Receiver<()>,
    shared: Arc<Shared>,
) {
    let _ = stream.set_nodelay(true);
    let svc = service_fn(|req: Request<Incoming>| {
        // Called once the head is read: from now on the connection is not evictable.
        slot.set(Phase::Answering);
        let shared = shared.clone();
        async move {
            let a = routes::answer(&req, &shared).await;
            if let Some(why) = &a.refusal {
                super::log(peer, why);
            }
            Ok::<_, Infallible>(a.response)
        }
    });
    // Hyper borrows the stream, so it is still ours for the lingering close whether the
    // connection ends well or not (a 431 ends it with an error).
    let progress = Progress::new(accepted);
    let ended = {
        let io = Tracked {
            io: &mut stream,
            progress: &progress,
        };
        let conn = http1::Builder::new()
            .keep_alive(false)
            .max_buf_size(MAX_HEAD)
            .serve_connection(TokioIo::new(io), svc);
        tokio::pin!(conn);
        // First the head's deadline, then, while answering, the stall check.
        let timer = sleep_until(accepted + HEAD_TIMEOUT);
        tokio::pin!(timer);
        loop {
            tokio::select! {
                r = conn.as_mut() => break r,
                // Evicted to make room: the log line was written by the evicter.
                _ = &mut evicted => return,
                () = &mut timer => {
                    if slot.phase() == Some(Phase::Head) {
                        super::log(peer, "closed: no request head within 10 s of accept");
                        return;
                    }
                    let last = progress.last();
                    if last.elapsed() >= STALL {
                        super::log(peer, "closed: took none of its answer for 60 s");
                        return;
                    }
                    timer.as_mut().reset(last + STALL);
                }
            }
        }
    };
    if let Err(e) = ended {
        if e.is_parse_too_large() {
            super::log(peer, "431 refused: request head over 8 KiB");
        } else if e.is_parse() {
            super::log(peer, "400 refused: malformed request");
        } else {
            // The client went away, or a short file ended the body: nothing to answer.
            return;
        }
    }
    slot.set(Phase::Closing);
    linger::close(&mut stream, AFTER_ANSWER).await;
}
