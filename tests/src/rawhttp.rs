//! Raw HTTP/1.1 exchanges for testing servers against hostile clients: requests written
//! as bytes (over-long heads, bodies, any method), from a chosen source address, with the
//! answer read while the request is still being sent.

use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

/// An answer: status, head (lowercase names kept as sent) and body bytes.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

/// How long a read may wait before the exchange is called hung.
const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// A connection to 127.0.0.1:`port` from `src` (any loopback address, e.g. 127.0.0.9).
pub fn connect_from(src: IpAddr, port: u16) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    s.bind(&SocketAddr::new(src, 0).into())
        .unwrap_or_else(|e| panic!("bind to {src}: {e}"));
    s.connect(&SocketAddr::from(([127, 0, 0, 1], port)).into())
        .unwrap_or_else(|e| panic!("connect from {src} to port {port}: {e}"));
    s.into()
}

pub fn connect(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port)).expect("connect to the server")
}

/// Sends `request` on `stream` (on a thread, errors ignored: the server may close
/// before it has read everything) while reading the answer until the server closes;
/// `None` when nothing parseable came back.
pub fn exchange(stream: TcpStream, request: &[u8]) -> Option<Reply> {
    stream.set_read_timeout(Some(READ_TIMEOUT)).ok()?;
    let mut writer = stream.try_clone().expect("clone the socket");
    let mut reader = stream;
    let raw = std::thread::scope(|s| {
        s.spawn(|| {
            let _ = writer.write_all(request);
        });
        let mut raw = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                // A reset after the answer: what came before it counts.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("reading the answer: {e}"),
            }
        }
        // Unblocks the writer if the server stopped reading.
        let _ = reader.shutdown(Shutdown::Both);
        raw
    });
    parse(&raw)
}

/// `GET target` on 127.0.0.1:`port`.
pub fn get(port: u16, target: &str) -> Reply {
    let req = format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    exchange(connect(port), req.as_bytes()).unwrap_or_else(|| panic!("GET {target}: no answer"))
}

/// Splits a whole answer (the server closes after it) into status, head and body.
pub fn parse(raw: &[u8]) -> Option<Reply> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some(Reply {
        status,
        head,
        body: raw[end + 4..].to_vec(),
    })
}

/// Percent-encodes every byte of `bytes` that is not unreserved (RFC 3986).
pub fn percent_encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}
