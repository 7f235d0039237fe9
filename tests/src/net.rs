//! Loopback networking for the tests: free ports, ports no socket of the host uses (and
//! listeners on them), and a plain HTTP `GET`.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// A port the kernel hands out on 127.0.0.1 (bound, then dropped without listening).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The ports of every TCP and UDP socket of the host (local and remote), from /proc/net.
pub fn ports_in_use() -> BTreeSet<u16> {
    let mut used = BTreeSet::new();
    for f in ["tcp", "tcp6", "udp", "udp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/net/{f}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let mut fields = line.split_whitespace().skip(1);
            for addr in [fields.next(), fields.next()].into_iter().flatten() {
                if let Some(port) = addr.rsplit(':').next() {
                    used.insert(u16::from_str_radix(port, 16).unwrap_or(0));
                }
            }
        }
    }
    used
}

/// The first value `bind` gives for a port below the ephemeral range that no socket of the
/// host uses (the kernel never hands those out, so it stays the caller's), trying ports
/// from a start that depends on the process id and `salt`, skipping `taken`.
///
/// Starting where the process id says makes parallel runs try different ports first; a
/// port another run took meanwhile fails to bind and the next is tried.
pub fn quiet<T>(salt: u16, taken: &[u16], bind: impl Fn(u16) -> Option<T>) -> (T, u16) {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .expect("read ip_local_port_range");
    let low: u16 = range
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .expect("ip_local_port_range");
    let used = ports_in_use();
    let span = low.saturating_sub(10_000).max(1);
    let start = 10_000 + ((std::process::id() + u32::from(salt) * 7919) % u32::from(span)) as u16;
    (start..low)
        .chain(10_000..start)
        .filter(|p| !used.contains(p) && !taken.contains(p))
        .find_map(|p| bind(p).map(|t| (t, p)))
        .expect("a free port below the ephemeral range")
}

/// A TCP listener on 127.0.0.1 on a [`quiet`] port, and the port.
pub fn quiet_listener(salt: u16, taken: &[u16]) -> (TcpListener, u16) {
    quiet(salt, taken, |p| TcpListener::bind(("127.0.0.1", p)).ok())
}

/// `GET path` on 127.0.0.1:`port`: (status, body), or `None` when nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}
