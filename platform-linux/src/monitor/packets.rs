//! Packets, from a `tcpdump` child process.
//!
//! tcpdump runs as `tcpdump -tnNlp`: no timestamps (`-t`), no name look-ups (`-n`, `-N`),
//! line-buffered (`-l`), not in promiscuous mode (`-p`: only this host's traffic), on its
//! default interface or the one configured (`-i IFACE`, `any` for all). It is *not* run
//! with `-q` as cf-monitord's notes suggest: `-q` prints TCP as `tcp 52` without flags, which makes tcpsyn, tcpack and tcpfin impossible
//! to tell apart (checked with tcpdump 4.99.3; `tests/fixtures/tcpdump-q.txt`).
//!
//! Each line is classified (pure [`parse_line`]) into one of seven kinds, and counted
//! incoming when the destination is an address of this host (see [`super::local`]) or
//! a broadcast/multicast address, outgoing when the source is; per-address counts are
//! kept by source for incoming and by destination for outgoing (always the remote side).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{self, BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// The kinds, in observable order; observables are `<kind>_in` and `<kind>_out`.
pub const KINDS: [&str; 7] = [
    "icmp", "dns", "udp", "tcpsyn", "tcpack", "tcpfin", "tcpmisc",
];

/// What a packet is, as an index into [`KINDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Icmp = 0,
    Dns = 1,
    Udp = 2,
    TcpSyn = 3,
    TcpAck = 4,
    TcpFin = 5,
    /// TCP without SYN/FIN/ACK or with RST, IP protocols other than TCP/UDP/ICMP.
    TcpMisc = 6,
}

/// One IP packet line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    pub kind: Kind,
    pub src: IpAddr,
    pub dst: IpAddr,
}

/// What one line of tcpdump output is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    Packet(Packet),
    /// Not an IP packet: ARP, LLDP, banners, hex dumps, statistics.
    Ignored,
}

/// Classify one line of `tcpdump -tnNl` output (with or without `-q`, and with the
/// `IFACE In|Out` prefix of `-i any`). An `IP`/`IP6` line that cannot be understood is an
/// error naming what is missing.
pub fn parse_line(line: &str) -> Result<Line, &'static str> {
    let line = line.trim_end();
    let mut words = line.split_ascii_whitespace();
    // The `IP`/`IP6` word is the first, or the third after `eth0 In`.
    let Some(pos) = words.by_ref().take(3).position(|w| w == "IP" || w == "IP6") else {
        return Ok(Line::Ignored);
    };
    let mut skip = line;
    for _ in 0..=pos {
        skip = skip.trim_start();
        let end = skip
            .find(|c: char| c.is_ascii_whitespace())
            .unwrap_or(skip.len());
        skip = &skip[end..];
    }
    let body = skip.trim_start();
    let (src, after) = body.split_once(" > ").ok_or("no `SRC > DST`")?;
    let (dst, rest) = match after.split_once(": ") {
        Some((d, r)) => (d, r),
        None => (
            after
                .strip_suffix(':')
                .ok_or("no `:` after the destination")?,
            "",
        ),
    };
    let (src, sport) = endpoint(src.trim())?;
    let (dst, dport) = endpoint(dst)?;
    let kind = if let Some(flags) = rest.strip_prefix("Flags [") {
        let flags = &flags[..flags.find(']').ok_or("unterminated `Flags [`")?];
        tcp_kind(flags)
    } else if rest.starts_with("tcp ") || rest.starts_with("sctp") || rest.starts_with("DCCP") {
        Kind::TcpMisc
    } else if rest.starts_with("ICMP") {
        Kind::Icmp
    } else {
        match (sport, dport) {
            (Some(53), Some(_)) | (Some(_), Some(53)) => Kind::Dns,
            (Some(_), Some(_)) => Kind::Udp,
            (None, None) => Kind::TcpMisc,
            _ => return Err("a port on one side only"),
        }
    };
    Ok(Line::Packet(Packet { kind, src, dst }))
}

fn tcp_kind(flags: &str) -> Kind {
    if flags.contains('S') {
        Kind::TcpSyn
    } else if flags.contains('F') {
        Kind::TcpFin
    } else if flags.contains('R') {
        Kind::TcpMisc
    } else if flags.contains('.') || flags.contains('P') {
        Kind::TcpAck
    } else {
        Kind::TcpMisc
    }
}

/// `192.0.2.1`, `192.0.2.1.80`, `fe80::1`, `fe80::1.546`, `::ffff:192.0.2.9.4444`.
fn endpoint(s: &str) -> Result<(IpAddr, Option<u16>), &'static str> {
    if let Ok(a) = s.parse::<IpAddr>() {
        return Ok((a, None));
    }
    let (a, p) = s.rsplit_once('.').ok_or("not an address")?;
    let a = a.parse::<IpAddr>().map_err(|_| "not an address")?;
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err("port is not a number");
    }
    let p = p.parse::<u16>().map_err(|_| "port out of range")?;
    Ok((a, Some(p)))
}

/// Whether `name` can be a network interface's name as Linux allows them (`dev_valid_name`:
/// 1 to 15 bytes, not `.` or `..`, no `/`, `:` or white space), printable ASCII, and not
/// starting with `-` (so that tcpdump cannot take it for an option). `any` is one.
pub fn valid_interface(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 15 {
        return Err("an interface name is 1 to 15 bytes");
    }
    if name == "." || name == ".." {
        return Err("not an interface name");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':')
    {
        return Err("an interface name is printable ASCII without `/`, `:` or spaces");
    }
    if name.starts_with('-') {
        return Err("an interface name does not start with `-`");
    }
    Ok(())
}

/// Distinct keys kept per list between two samples; beyond, counts go to [`OVERFLOW_KEY`]
/// (a flood of spoofed sources must not grow memory without bound).
pub const MAX_KEYS: usize = 4096;
/// The key that collects counts past [`MAX_KEYS`] distinct addresses.
pub const OVERFLOW_KEY: &str = "(other)";

/// Packet counts accumulated between two samples.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PacketCounts {
    /// `[kind][0 = in, 1 = out]`.
    pub counts: [[u64; 2]; 7],
    /// Per-remote-address counts, `[kind][0 = in (by source), 1 = out (by destination)]`.
    pub keys: [[BTreeMap<String, u32>; 2]; 7],
    /// IP packets neither from nor to this host (forwarded, or seen on a shared segment).
    pub passing: u64,
    /// Lines that were not IP packets.
    pub ignored: u64,
    /// `IP` lines that did not parse.
    pub malformed: u64,
}

impl PacketCounts {
    /// Count one line against the set of local addresses.
    pub fn add_line(&mut self, line: &str, local: &BTreeSet<IpAddr>) {
        match parse_line(line) {
            Ok(Line::Packet(p)) => self.add(&p, local),
            Ok(Line::Ignored) => self.ignored += 1,
            Err(_) => self.malformed += 1,
        }
    }

    /// Count one packet.
    pub fn add(&mut self, p: &Packet, local: &BTreeSet<IpAddr>) {
        let is_local = |a: IpAddr| a.is_loopback() || local.contains(&a.to_canonical());
        let to_all = |a: IpAddr| a.is_multicast() || a == IpAddr::V4(Ipv4Addr::BROADCAST);
        let (dir, remote) = if is_local(p.dst) {
            (0, p.src)
        } else if is_local(p.src) {
            (1, p.dst)
        } else if to_all(p.dst) {
            (0, p.src)
        } else {
            self.passing += 1;
            return;
        };
        let k = p.kind as usize;
        self.counts[k][dir] += 1;
        let map = &mut self.keys[k][dir];
        let key = super::net::addr_key(remote);
        if let Some(n) = map.get_mut(&key) {
            *n = n.saturating_add(1);
        } else if map.len() < MAX_KEYS {
            map.insert(key, 1);
        } else {
            let n = map.entry(OVERFLOW_KEY.to_string()).or_insert(0);
            *n = n.saturating_add(1);
        }
    }
}

/// Longest line kept; the rest of a longer one is dropped.
const MAX_LINE: usize = 16 * 1024;

/// Read one line of at most [`MAX_LINE`] bytes into `buf` (cleared); `Ok(false)` at EOF.
fn read_line_bounded(r: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<bool> {
    buf.clear();
    let n = r.by_ref().take(MAX_LINE as u64).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(false);
    }
    if buf.last() != Some(&b'\n') && n == MAX_LINE {
        // Skip the rest of an overlong line.
        let mut sink = Vec::new();
        loop {
            sink.clear();
            let m = r
                .by_ref()
                .take(MAX_LINE as u64)
                .read_until(b'\n', &mut sink)?;
            if m == 0 || sink.last() == Some(&b'\n') {
                break;
            }
        }
    }
    Ok(true)
}

#[derive(Default)]
struct Shared {
    counts: PacketCounts,
    local: BTreeSet<IpAddr>,
    /// The last lines tcpdump wrote to stderr (its errors), at most 4.
    stderr: VecDeque<String>,
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // A reader thread never panics while holding the lock; if one did, the counts are
    // still plain numbers, so go on with them.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running tcpdump with a reader thread that counts its lines.
pub struct Sniffer {
    child: Child,
    shared: Arc<Mutex<Shared>>,
    threads: Vec<JoinHandle<()>>,
    program: String,
}

impl Sniffer {
    /// `tcpdump -tnNlp`, found on `PATH`.
    pub fn tcpdump() -> io::Result<Sniffer> {
        Sniffer::tcpdump_at("tcpdump")
    }

    /// `program -tnNlp`: tcpdump by another name or path.
    pub fn tcpdump_at(program: &str) -> io::Result<Sniffer> {
        Sniffer::tcpdump_on(program, None)
    }

    /// `program -tnNlp -i IFACE` (tcpdump's default interface when `None`). The name is
    /// checked by [`valid_interface`] first: an invalid one is `InvalidInput`.
    pub fn tcpdump_on(program: &str, interface: Option<&str>) -> io::Result<Sniffer> {
        match interface {
            None => Sniffer::spawn(program, &["-tnNlp"]),
            Some(i) => {
                valid_interface(i).map_err(|why| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("interface {i:?}: {why}"),
                    )
                })?;
                Sniffer::spawn(program, &["-tnNlp", "-i", i])
            }
        }
    }

    /// Any program that prints tcpdump lines (tests use a shell script).
    pub fn spawn(program: &str, args: &[&str]) -> io::Result<Sniffer> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let shared = Arc::new(Mutex::new(Shared::default()));
        let mut threads = Vec::new();
        if let Some(out) = child.stdout.take() {
            let sh = Arc::clone(&shared);
            threads.push(std::thread::spawn(move || {
                let mut r = BufReader::new(out);
                let mut buf = Vec::new();
                while let Ok(true) = read_line_bounded(&mut r, &mut buf) {
                    let line = String::from_utf8_lossy(&buf);
                    let mut g = lock(&sh);
                    let Shared { counts, local, .. } = &mut *g;
                    counts.add_line(&line, local);
                }
            }));
        }
        if let Some(err) = child.stderr.take() {
            let sh = Arc::clone(&shared);
            threads.push(std::thread::spawn(move || {
                let mut r = BufReader::new(err);
                let mut buf = Vec::new();
                while let Ok(true) = read_line_bounded(&mut r, &mut buf) {
                    let line = String::from_utf8_lossy(&buf).trim_end().to_string();
                    let mut g = lock(&sh);
                    if g.stderr.len() == 4 {
                        g.stderr.pop_front();
                    }
                    g.stderr.push_back(super::printable(line.as_bytes()));
                }
            }));
        }
        Ok(Sniffer {
            child,
            shared,
            threads,
            program: program.to_string(),
        })
    }

    /// Replace the set of this host's addresses used from now on.
    pub fn set_local(&self, local: BTreeSet<IpAddr>) {
        lock(&self.shared).local = local;
    }

    /// The counts since the previous call (or the start), reset to zero; or why the
    /// sniffer has stopped (its exit status and last error lines).
    pub fn take(&mut self) -> Result<PacketCounts, String> {
        match self.child.try_wait() {
            Ok(None) => Ok(std::mem::take(&mut lock(&self.shared).counts)),
            Ok(Some(status)) => {
                // Let the readers drain what is left, so the reason is complete (briefly:
                // a grandchild may still hold the pipes open).
                for _ in 0..50 {
                    if self.threads.iter().all(JoinHandle::is_finished) {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(4));
                }
                let g = lock(&self.shared);
                let why: Vec<&str> = g.stderr.iter().map(String::as_str).collect();
                Err(format!(
                    "{} exited ({status}): {}",
                    self.program,
                    why.join(" / ")
                ))
            }
            Err(e) => Err(format!("{}: {e}", self.program)),
        }
    }
}

impl Drop for Sniffer {
    /// Kill and reap the child. The reader threads end by themselves when the pipes
    /// close; they are not joined, which could wait on a grandchild holding them open.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests;
