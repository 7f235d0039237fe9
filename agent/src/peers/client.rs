//! A small HTTP/1.1 GET client for the neighbourhood watch (and `restore --from
//! http://HOST:PORT`): one request per connection, hyper over a tokio `TcpStream`.
//!
//! A neighbour may be down, slow or hostile, so every stage has a timeout, the response
//! head and body have size caps, and the body is streamed into a writer as it arrives
//! (memory stays constant however large the database). Errors name the address and the
//! request target.

use std::fmt;
use std::io::{self, Write};
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper::header::{CONTENT_LENGTH, HOST, USER_AGENT};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::{timeout, timeout_at, Instant};

/// Bytes hyper may buffer for a response head (its minimum is 8 KiB).
const HEAD_BUFFER: usize = 16 * 1024;
/// Header lines accepted in a response.
const MAX_HEADERS: usize = 32;

/// How long each stage of a request may take.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// To open the TCP connection (name lookup included).
    pub connect: Duration,
    /// Without a byte of progress: until the response head, and between body chunks.
    pub idle: Duration,
    /// The whole request, so a neighbour trickling bytes cannot hold a watch forever.
    pub total: Duration,
}

impl Timeouts {
    /// The neighbourhood watch's: a database of a million records is some 150 MB.
    pub const PEERS: Timeouts = Timeouts {
        connect: Duration::from_secs(5),
        idle: Duration::from_secs(10),
        total: Duration::from_secs(300),
    };
}

/// What went wrong, without where (see [`ClientError`]).
#[derive(Debug)]
pub enum Failure {
    /// The request target is not a valid `/path?query`.
    BadTarget,
    /// The connection could not be opened (refused, unreachable, name unknown).
    Connect(io::Error),
    /// A stage took longer than its timeout.
    Timeout(&'static str, Duration),
    /// The response broke the protocol, was cut short, or its head was too large.
    Http(hyper::Error),
    /// The body is longer than the caller's limit.
    TooLarge(u64),
    /// The writer refused the body (a local error, not the neighbour's).
    Write(io::Error),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::BadTarget => write!(f, "not a valid request target"),
            Failure::Connect(e) => write!(f, "cannot connect: {e}"),
            Failure::Timeout(stage, d) => write!(f, "{stage} timed out after {} s", d.as_secs()),
            Failure::Http(e) => write!(f, "bad response: {e}"),
            Failure::TooLarge(limit) => write!(f, "body larger than {limit} bytes"),
            Failure::Write(e) => write!(f, "cannot store the body: {e}"),
        }
    }
}

/// A failed GET, naming the address and the target.
#[derive(Debug)]
pub struct ClientError {
    pub addr: String,
    pub target: String,
    pub failure: Failure,
}

impl ClientError {
    /// Whether the failure is ours (the body could not be stored), not the peer's.
    pub fn is_local(&self) -> bool {
        matches!(self.failure, Failure::Write(_))
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "GET http://{}{}: {}",
            self.addr, self.target, self.failure
        )
    }
}

impl std::error::Error for ClientError {}

/// The response to a GET.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Got {
    /// The status code.
    pub status: u16,
    /// Body bytes written (0 unless the status is 200).
    pub length: u64,
}

/// Aborts the connection's task when the request is done or dropped.
struct Abort(JoinHandle<()>);

impl Drop for Abort {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `GET target` from `addr` (`HOST:PORT`). A 200's body, at most `limit` bytes, is
/// streamed into `out`; any other status is returned with its body unread. Must run
/// inside a tokio runtime (the connection is driven by a task of its own).
pub async fn get<W: Write + ?Sized>(
    addr: &str,
    target: &str,
    limit: u64,
    timeouts: Timeouts,
    out: &mut W,
) -> Result<Got, ClientError> {
    let deadline = Instant::now() + timeouts.total;
    let exchange = exchange(addr, target, limit, timeouts, out);
    let failure = match timeout_at(deadline, exchange).await {
        Ok(Ok(got)) => return Ok(got),
        Ok(Err(failure)) => failure,
        Err(_) => Failure::Timeout("request", timeouts.total),
    };
    Err(ClientError {
        addr: addr.to_owned(),
        target: target.to_owned(),
        failure,
    })
}

async fn exchange<W: Write + ?Sized>(
    addr: &str,
    target: &str,
    limit: u64,
    timeouts: Timeouts,
    out: &mut W,
) -> Result<Got, Failure> {
    if !target.starts_with('/') {
        return Err(Failure::BadTarget);
    }
    let request = Request::get(target)
        .header(HOST, addr)
        .header(USER_AGENT, concat!("homeostat/", env!("CARGO_PKG_VERSION")))
        .body(Empty::<Bytes>::new())
        .map_err(|_| Failure::BadTarget)?;
    let stream = timeout(timeouts.connect, TcpStream::connect(addr))
        .await
        .map_err(|_| Failure::Timeout("connect", timeouts.connect))?
        .map_err(Failure::Connect)?;
    let (mut sender, conn) = http1::Builder::new()
        .max_buf_size(HEAD_BUFFER)
        .max_headers(MAX_HEADERS)
        .handshake(TokioIo::new(stream))
        .await
        .map_err(Failure::Http)?;
    let _conn = Abort(tokio::spawn(async move {
        // Its error, if any, reaches the request or the body as well.
        let _ = conn.await;
    }));
    let response = timeout(timeouts.idle, sender.send_request(request))
        .await
        .map_err(|_| Failure::Timeout("response head", timeouts.idle))?
        .map_err(Failure::Http)?;
    let status = response.status().as_u16();
    if status != 200 {
        return Ok(Got { status, length: 0 });
    }
    let declared = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(Failure::TooLarge(limit));
    }
    let mut body = response.into_body();
    let mut length = 0u64;
    loop {
        let frame = timeout(timeouts.idle, body.frame())
            .await
            .map_err(|_| Failure::Timeout("body", timeouts.idle))?;
        let Some(frame) = frame else { break };
        let Ok(data) = frame.map_err(Failure::Http)?.into_data() else {
            continue; // trailers
        };
        length += data.len() as u64;
        if length > limit {
            return Err(Failure::TooLarge(limit));
        }
        out.write_all(&data).map_err(Failure::Write)?;
    }
    Ok(Got { status, length })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;
    use std::thread;

    const QUICK: Timeouts = Timeouts {
        connect: Duration::from_secs(5),
        idle: Duration::from_millis(300),
        total: Duration::from_secs(30),
    };

    /// A one-connection server: reads the request head, answers `reply`, then holds the
    /// connection open `hold` long (to starve a client of bytes) before closing it.
    fn serve_once(reply: &'static [u8], hold: Duration) -> (String, thread::JoinHandle<Vec<u8>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let t = thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && s.read(&mut b).unwrap_or(0) == 1 {
                head.push(b[0]);
            }
            let _ = s.write_all(reply);
            thread::sleep(hold);
            head
        });
        (addr, t)
    }

    fn fetch(addr: &str, target: &str, limit: u64) -> (Result<Got, ClientError>, Vec<u8>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut body = Vec::new();
        let r = rt.block_on(get(addr, target, limit, QUICK, &mut body));
        (r, body)
    }

    #[test]
    fn streams_a_200_body_and_sends_a_plain_get() {
        let (addr, server) = serve_once(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            Duration::ZERO,
        );
        let (r, body) = fetch(&addr, "/v1/key", 64);
        assert_eq!(
            r.unwrap(),
            Got {
                status: 200,
                length: 5
            }
        );
        assert_eq!(body, b"hello");
        let head = String::from_utf8(server.join().unwrap()).unwrap();
        assert!(head.starts_with("GET /v1/key HTTP/1.1\r\n"), "{head}");
        assert!(
            head.to_ascii_lowercase().contains(&format!("host: {addr}")),
            "{head}"
        );
    }

    #[test]
    fn other_statuses_are_returned_with_no_body_written() {
        let (addr, _s) = serve_once(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found",
            Duration::ZERO,
        );
        let (r, body) = fetch(&addr, "/v1/file?path=%2Fetc", 64);
        assert_eq!(
            r.unwrap(),
            Got {
                status: 404,
                length: 0
            }
        );
        assert!(body.is_empty());
    }

    #[test]
    fn refused_connection_names_address_and_target() {
        let addr = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        };
        let e = fetch(&addr, "/v1/files.db", 64).0.unwrap_err();
        assert!(matches!(e.failure, Failure::Connect(_)), "{e}");
        assert!(!e.is_local());
        let text = e.to_string();
        assert!(
            text.contains(&format!("http://{addr}/v1/files.db")),
            "{text}"
        );
        assert!(text.contains("cannot connect"), "{text}");
    }

    #[test]
    fn bodies_over_the_limit_are_refused_declared_or_streamed() {
        let (addr, _s) = serve_once(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
            Duration::ZERO,
        );
        let (r, body) = fetch(&addr, "/v1/files.db", 10);
        assert!(matches!(r.unwrap_err().failure, Failure::TooLarge(10)));
        assert!(body.is_empty());
        let (addr, _s) = serve_once(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n",
            Duration::ZERO,
        );
        let (r, body) = fetch(&addr, "/v1/files.db", 10);
        assert!(matches!(r.unwrap_err().failure, Failure::TooLarge(10)));
        assert!(body.len() <= 10, "never more than the limit is written");
    }

    #[test]
    fn a_body_cut_short_is_an_error() {
        let (addr, _s) = serve_once(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this",
            Duration::ZERO,
        );
        let e = fetch(&addr, "/v1/files.db", 1000).0.unwrap_err();
        assert!(matches!(e.failure, Failure::Http(_)), "{e}");
    }

    #[test]
    fn a_silent_server_times_out_naming_the_stage() {
        let (addr, _s) = serve_once(b"", Duration::from_secs(3));
        let e = fetch(&addr, "/v1/key", 64).0.unwrap_err();
        assert!(
            matches!(e.failure, Failure::Timeout("response head", _)),
            "{e}"
        );
        let (addr, _s) = serve_once(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
            Duration::from_secs(3),
        );
        let e = fetch(&addr, "/v1/key", 64).0.unwrap_err();
        assert!(matches!(e.failure, Failure::Timeout("body", _)), "{e}");
    }

    #[test]
    fn an_oversized_head_or_a_bad_target_is_refused() {
        static HUGE: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
            let mut r = b"HTTP/1.1 200 OK\r\n".to_vec();
            r.extend(format!("X-Pad: {}\r\n\r\n", "a".repeat(40_000)).bytes());
            r
        });
        let (addr, _s) = serve_once(&HUGE, Duration::ZERO);
        let e = fetch(&addr, "/v1/key", 64).0.unwrap_err();
        assert!(matches!(e.failure, Failure::Http(_)), "{e}");
        let e = fetch("127.0.0.1:9", "v1/key", 64).0.unwrap_err();
        assert!(matches!(e.failure, Failure::BadTarget), "{e}");
    }
}
