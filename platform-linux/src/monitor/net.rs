//! Sockets from `/proc/net/{tcp,tcp6,udp,udp6}`: per-service counts, per-remote-address
//! keys and listening ports.
//!
//! Each line of those files is `sl: LOCAL:PORT REMOTE:PORT ST …`. An address is the
//! kernel's in-memory `__be32` words, each printed with `%08X` as a host-order integer: so
//! on a little-endian host `0100007F` is 127.0.0.1, and an IPv6 address is four such
//! words. Ports are printed `%04X` after `ntohs`, so they read as plain hex numbers.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use homeostat_core::feed::{self, Family, Notes, SocketSource, Transport};

use super::Unreadable;

/// TCP state LISTEN.
pub const TCP_LISTEN: u8 = 0x0A;

/// One socket line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Socket {
    pub local: IpAddr,
    pub local_port: u16,
    pub remote: IpAddr,
    pub remote_port: u16,
    /// The kernel's state number (TCP states; UDP uses 0x07 unconnected, 0x01 connected).
    pub state: u8,
}

impl Socket {
    /// No peer: a listener or an unconnected (bound) UDP socket.
    pub fn unconnected(&self) -> bool {
        self.remote_port == 0 && self.remote.is_unspecified()
    }
}

/// A line that could not be used, with its 1-based number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub reason: &'static str,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// Parse one `/proc/net/{tcp,tcp6,udp,udp6}` file into `out`; header lines (first field
/// `sl`) and blank lines are skipped, malformed lines are returned and skipped.
pub fn parse_proc_net(bytes: &[u8], out: &mut Vec<Socket>) -> Vec<LineError> {
    let mut errors = Vec::new();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let mut fields = line
            .split(|b| *b == b' ' || *b == b'\t')
            .filter(|f| !f.is_empty());
        let Some(sl) = fields.next() else { continue };
        if sl == b"sl" {
            continue;
        }
        match parse_fields(sl, &mut fields) {
            Ok(s) => out.push(s),
            Err(reason) => errors.push(LineError {
                line: i + 1,
                reason,
            }),
        }
    }
    errors
}

fn parse_fields<'a>(
    sl: &[u8],
    fields: &mut impl Iterator<Item = &'a [u8]>,
) -> Result<Socket, &'static str> {
    if sl.last() != Some(&b':') {
        return Err("first field is not `N:`");
    }
    let (local, local_port) = endpoint(fields.next().ok_or("no local address")?)?;
    let (remote, remote_port) = endpoint(fields.next().ok_or("no remote address")?)?;
    let st = fields.next().ok_or("no state")?;
    let state = match st {
        [h, l] => (hex(*h).ok_or("state is not hex")? << 4) | hex(*l).ok_or("state is not hex")?,
        _ => return Err("state is not two hex digits"),
    };
    Ok(Socket {
        local,
        local_port,
        remote,
        remote_port,
        state,
    })
}

/// `ADDR:PORT` with 8 (IPv4) or 32 (IPv6) hex digits of address and 4 of port.
fn endpoint(f: &[u8]) -> Result<(IpAddr, u16), &'static str> {
    let colon = f
        .iter()
        .position(|b| *b == b':')
        .ok_or("address without `:PORT`")?;
    let (addr, port) = (&f[..colon], &f[colon + 1..]);
    if port.len() != 4 {
        return Err("port is not four hex digits");
    }
    let port =
        u16::try_from(hex_u32(port).ok_or("port is not hex")?).map_err(|_| "port out of range")?;
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(addr)?)),
        32 => {
            let mut b = [0u8; 16];
            for (k, chunk) in addr.chunks_exact(8).enumerate() {
                b[4 * k..4 * k + 4].copy_from_slice(&word(chunk)?);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return Err("address is neither 8 nor 32 hex digits"),
    };
    Ok((ip, port))
}

/// One printed `__be32` word back to its bytes in memory (network order).
fn word(h: &[u8]) -> Result<[u8; 4], &'static str> {
    // The kernel printed the host-order value of the in-memory word.
    Ok(hex_u32(h).ok_or("address is not hex")?.to_ne_bytes())
}

fn hex_u32(h: &[u8]) -> Option<u32> {
    if h.is_empty() || h.len() > 8 {
        return None;
    }
    h.iter()
        .try_fold(0u32, |n, d| Some((n << 4) | u32::from(hex(*d)?)))
}

fn hex(d: u8) -> Option<u8> {
    match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'a'..=b'f' => Some(d - b'a' + 10),
        b'A'..=b'F' => Some(d - b'A' + 10),
        _ => None,
    }
}

/// The key of an address for entropy: IPv4-mapped IPv6 addresses (a dual-stack socket's
/// view of an IPv4 peer) are written as IPv4, so one client counts once however reached.
pub fn addr_key(a: IpAddr) -> String {
    a.to_canonical().to_string()
}

/// `<svc>_in` / `<svc>_out` of one service with its per-remote-address counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceTally {
    /// Sockets whose local port is the service port, in any state (listeners, accepted
    /// connections, TIME_WAIT…), as cf-monitord counts.
    pub inbound: u32,
    /// Sockets whose remote port is the service port.
    pub outbound: u32,
    /// Remote addresses of the inbound sockets that have a peer, with counts, sorted.
    pub in_keys: Vec<(String, u32)>,
    /// Remote addresses (the servers) of the outbound sockets, with counts, sorted.
    pub out_keys: Vec<(String, u32)>,
}

/// Tally every socket against every port of `ports` (one tally per port, same order).
pub fn tally(sockets: &[Socket], ports: &[u16]) -> Vec<ServiceTally> {
    let mut t = Tally::new(ports);
    for s in sockets {
        t.add(s.local_port, (s.remote, s.remote_port));
    }
    t.finish()
}

/// [`tally`] one socket at a time, as a [`SocketSource`] lists them.
#[derive(Debug, Clone)]
pub struct Tally<'p> {
    ports: &'p [u16],
    out: Vec<ServiceTally>,
    /// Counted by address first; an address becomes text once, not once per socket.
    by_addr: Vec<[HashMap<IpAddr, u32>; 2]>,
}

impl<'p> Tally<'p> {
    /// Nothing counted yet, for each port of `ports`.
    pub fn new(ports: &'p [u16]) -> Tally<'p> {
        Tally {
            ports,
            out: vec![ServiceTally::default(); ports.len()],
            by_addr: vec![Default::default(); ports.len()],
        }
    }

    /// Counts one socket by its local port and its remote end.
    pub fn add(&mut self, local_port: u16, remote: (IpAddr, u16)) {
        let unconnected = remote.1 == 0 && remote.0.is_unspecified();
        let each = self.out.iter_mut().zip(self.by_addr.iter_mut());
        for ((t, m), port) in each.zip(self.ports) {
            if local_port == *port {
                t.inbound += 1;
                if !unconnected {
                    *m[0].entry(remote.0.to_canonical()).or_insert(0) += 1;
                }
            }
            if remote.1 == *port {
                t.outbound += 1;
                *m[1].entry(remote.0.to_canonical()).or_insert(0) += 1;
            }
        }
    }

    /// One tally per port, in the order of `ports`.
    pub fn finish(self) -> Vec<ServiceTally> {
        let mut out = self.out;
        for (t, [m_in, m_out]) in out.iter_mut().zip(self.by_addr) {
            t.in_keys = texts(m_in);
            t.out_keys = texts(m_out);
        }
        out
    }
}

fn texts(m: HashMap<IpAddr, u32>) -> Vec<(String, u32)> {
    let mut v: Vec<(String, u32)> = m.into_iter().map(|(a, n)| (a.to_string(), n)).collect();
    v.sort_unstable();
    v
}

/// A listening port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListeningPort {
    /// `tcp4`, `tcp6`, `udp4` or `udp6`: the file it was read from.
    pub proto: &'static str,
    pub port: u16,
    /// The local address as bound (`0.0.0.0`, `::`, `127.0.0.1`, `::ffff:127.0.0.1`…).
    pub addr: String,
}

/// The listening sockets of one file: TCP in state LISTEN; UDP bound to a port with no
/// peer (UDP has no LISTEN state — cf-monitord looked for one and always reported none).
pub fn listening(sockets: &[Socket], proto: &'static str, out: &mut Vec<ListeningPort>) {
    let udp = proto.starts_with("udp");
    for s in sockets {
        if listens(s, udp) {
            out.push(ListeningPort {
                proto,
                port: s.local_port,
                addr: s.local.to_string(),
            });
        }
    }
}

fn listens(s: &Socket, udp: bool) -> bool {
    if udp {
        s.local_port != 0 && s.unconnected()
    } else {
        s.state == TCP_LISTEN
    }
}

/// `tcp4`, `tcp6`, `udp4` or `udp6`: a listening port's protocol.
pub fn proto_name(transport: Transport, family: Family) -> &'static str {
    match (transport, family) {
        (Transport::Tcp, Family::V4) => "tcp4",
        (Transport::Tcp, Family::V6) => "tcp6",
        (Transport::Udp, Family::V4) => "udp4",
        (Transport::Udp, Family::V6) => "udp6",
    }
}

/// The Linux [`SocketSource`]: `/proc/net/{tcp,tcp6,udp,udp6}`, each socket of a file with
/// that file's transport and family.
#[derive(Debug, Clone)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))] // read only on Linux
pub struct Sockets {
    net: PathBuf,
    /// Kept between listings: the file being read, and its parsed sockets.
    buf: Vec<u8>,
    one: Vec<Socket>,
}

/// The tables read, in order.
pub const TABLES: [(&str, Transport, Family); 4] = [
    ("tcp", Transport::Tcp, Family::V4),
    ("tcp6", Transport::Tcp, Family::V6),
    ("udp", Transport::Udp, Family::V4),
    ("udp6", Transport::Udp, Family::V6),
];

impl Sockets {
    /// The sockets of procfs at `proc_root` (`/proc`).
    pub fn new(proc_root: &Path) -> Sockets {
        Sockets {
            net: proc_root.join("net"),
            buf: Vec::new(),
            one: Vec::new(),
        }
    }
}

impl SocketSource for Sockets {
    type Error = Unreadable;

    /// A table that cannot be read (no `tcp6` when IPv6 is off) and malformed lines are
    /// notes; `Err` when no table could be read.
    fn sockets(
        &mut self,
        each: &mut dyn FnMut(&feed::Socket),
        notes: &mut Notes<'_>,
    ) -> Result<(), Unreadable> {
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (each, notes);
            Err(Unreadable::not_linux())
        }
        #[cfg(target_os = "linux")]
        {
            let mut read_any = false;
            for (file, transport, family) in TABLES {
                let path = self.net.join(file);
                if let Err(e) = super::read_into(&path, &mut self.buf) {
                    notes(&format_args!("{}: {e}", path.display()));
                    continue;
                }
                read_any = true;
                self.one.clear();
                let errors = parse_proc_net(&self.buf, &mut self.one);
                if let Some(first) = errors.first() {
                    let n = errors.len();
                    notes(&format_args!(
                        "{}: {n} malformed lines skipped (first: {first})",
                        path.display()
                    ));
                }
                let udp = transport == Transport::Udp;
                for s in &self.one {
                    each(&feed::Socket {
                        transport,
                        family,
                        local: (s.local, s.local_port),
                        remote: (s.remote, s.remote_port),
                        listening: listens(s, udp),
                    });
                }
            }
            if read_any {
                Ok(())
            } else {
                Err(Unreadable(format!(
                    "none of {}/{{tcp,tcp6,udp,udp6}} could be read",
                    self.net.display()
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let p = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(p).unwrap()
    }

    fn parse(name: &str) -> Vec<Socket> {
        let mut v = Vec::new();
        let errors = parse_proc_net(&fixture(name), &mut v);
        assert_eq!(errors, vec![], "{name}");
        v
    }

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn captured_tcp4() {
        let s = parse("proc-net-tcp.txt");
        assert_eq!(s.len(), 13);
        assert_eq!(
            s[0],
            Socket {
                local: v4("127.0.0.1"),
                local_port: 0x9E89,
                remote: v4("0.0.0.0"),
                remote_port: 0,
                state: TCP_LISTEN
            }
        );
        // 020200C0 is 192.0.2.2; 507100CB:0050 is 203.0.113.80:80, in TIME_WAIT.
        assert_eq!(s[5].local, v4("192.0.2.2"));
        assert_eq!(
            (s[5].remote, s[5].remote_port, s[5].state),
            (v4("203.0.113.80"), 80, 6)
        );
        assert_eq!(s[4].local, v4("127.0.0.4"));
    }

    #[test]
    fn captured_tcp6_with_mapped_addresses() {
        let s = parse("proc-net-tcp6.txt");
        assert_eq!(s.len(), 5);
        assert_eq!(s[0].local, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(s[1].local, "::".parse::<IpAddr>().unwrap());
        assert_eq!(s[3].local, "::ffff:127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(s[3].remote, "::ffff:127.0.0.4".parse::<IpAddr>().unwrap());
        assert_eq!(addr_key(s[3].remote), "127.0.0.4");
        assert_eq!(addr_key(s[0].local), "::1");
    }

    #[test]
    fn listening_tcp_and_udp() {
        let mut l = Vec::new();
        listening(&parse("proc-net-tcp.txt"), "tcp4", &mut l);
        listening(&parse("proc-net-tcp6.txt"), "tcp6", &mut l);
        listening(&parse("proc-net-udp.txt"), "udp4", &mut l);
        listening(&parse("proc-net-udp6.txt"), "udp6", &mut l);
        let got: Vec<(&str, u16, &str)> = l
            .iter()
            .map(|p| (p.proto, p.port, p.addr.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("tcp4", 0x9E89, "127.0.0.1"),
                ("tcp4", 2222, "0.0.0.0"),
                ("tcp4", 2024, "0.0.0.0"),
                ("tcp4", 0xE469, "127.0.0.1"),
                ("tcp6", 0xCA4F, "::1"),
                ("tcp6", 0xA9C5, "::"),
                // the connected UDP socket to 10.255.255.53:53 is not listening
                ("udp4", 0xD284, "127.0.0.1"),
                ("udp4", 5353, "0.0.0.0"),
                ("udp6", 0x8577, "::1"),
            ]
        );
    }

    #[test]
    fn service_counts_and_remote_keys() {
        let mut all = parse("proc-net-tcp.txt");
        all.extend(parse("proc-net-tcp6.txt"));
        all.extend(parse("proc-net-udp.txt"));
        all.extend(parse("proc-net-udp6.txt"));
        let t = tally(&all, &[0x9E89, 0xE469, 0xA9C5, 80, 53, 9]);
        // listener + the connection accepted from 127.0.0.2
        assert_eq!(t[0].inbound, 2);
        assert_eq!(t[0].in_keys, vec![("127.0.0.2".to_string(), 1)]);
        // the client side of that connection, keyed by the server's address
        assert_eq!(t[0].outbound, 1);
        assert_eq!(t[0].out_keys, vec![("127.0.0.1".to_string(), 1)]);
        assert_eq!(t[1].in_keys, vec![("127.0.0.3".to_string(), 1)]);
        // dual-stack listener: its v4 client appears as 127.0.0.4, not ::ffff:127.0.0.4
        assert_eq!((t[2].inbound, t[2].outbound), (2, 1));
        assert_eq!(t[2].in_keys, vec![("127.0.0.4".to_string(), 1)]);
        // three TIME_WAIT sockets to www on 203.0.113.80
        assert_eq!((t[3].inbound, t[3].outbound), (0, 3));
        assert_eq!(t[3].out_keys, vec![("203.0.113.80".to_string(), 3)]);
        // a connected UDP socket to a resolver
        assert_eq!((t[4].inbound, t[4].outbound), (0, 1));
        assert_eq!(t[5], ServiceTally::default());
    }

    #[test]
    fn hostile_lines_are_reported_and_skipped() {
        let mut v = Vec::new();
        let errors = parse_proc_net(&fixture("proc-net-tcp-hostile.txt"), &mut v);
        // lines 2 and 12 parse (extra trailing fields are ignored)
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].remote_port, 0xC000);
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 17, 18]);
        assert_eq!(errors[0].to_string(), "line 3: address without `:PORT`");
        let mut v = Vec::new();
        assert_eq!(
            parse_proc_net(&fixture("proc-net-tcp-no-newline.txt"), &mut v),
            vec![]
        );
        assert_eq!(v.len(), 1);
        assert_eq!(parse_proc_net(b"", &mut v), vec![]);
    }
}
