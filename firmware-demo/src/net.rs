//! Source entropy of a synthetic connection table, the way the agent reads `/proc/net/tcp`:
//! one counter of remote addresses per service and direction, fixed capacity, overflow
//! counted.

use core::net::Ipv4Addr;

use homeostat_core::classes::ClassName;
use homeostat_core::entropy::{class_name, Counter, Direction, Key, Level};

use crate::out::{say, Milli};
use crate::Verdict;

/// One established connection as a socket table lists it.
#[derive(Clone, Copy)]
pub struct Conn {
    pub remote: Ipv4Addr,
    pub local_port: u16,
}

/// Sources one counter holds; more are counted as overflow.
pub const SOURCES: usize = 64;

/// What one sample of a service saw.
pub struct Seen {
    pub connections: u32,
    pub distinct: usize,
    pub overflow: u64,
    pub entropy: f32,
    pub class: ClassName,
}

/// The connections of one sample: `n` connections, the `i`-th from `source(i)`.
pub fn table(n: u32, port: u16, source: impl Fn(u32) -> Ipv4Addr) -> impl Iterator<Item = Conn> {
    (0..n).map(move |i| Conn {
        remote: source(i),
        local_port: port,
    })
}

/// Counts remote addresses (not local ones: cf-monitord's defect) of connections to `port`.
pub fn observe(conns: impl Iterator<Item = Conn>, port: u16, svc: &str) -> Seen {
    let mut c = Counter::<SOURCES>::new();
    let mut connections = 0;
    for conn in conns.filter(|c| c.local_port == port) {
        c.add(Key::from(core::net::IpAddr::V4(conn.remote)));
        connections += 1;
    }
    let entropy = c.entropy();
    let class = class_name(svc, Direction::In, c.level()).unwrap_or_default();
    Seen {
        connections,
        distinct: c.distinct(),
        overflow: c.overflow(),
        entropy,
        class,
    }
}

/// A quiet evening on the web server: 24 clients, one to three connections each.
pub fn evening(i: u32) -> Ipv4Addr {
    let client = i % 24;
    Ipv4Addr::new(198, 51, 100, 10 + client as u8)
}

/// The evening's connection count (clients 0..24 with 1 + client % 3 connections each).
pub fn evening_table() -> impl Iterator<Item = Conn> {
    (0..24u32).flat_map(|client| {
        (0..1 + client % 3).map(move |_| Conn {
            remote: evening(client),
            local_port: 80,
        })
    })
}

/// The flood: 120 connections from one address, three bystanders.
pub fn flood(i: u32) -> Ipv4Addr {
    match i {
        0..120 => Ipv4Addr::new(203, 0, 113, 66),
        _ => Ipv4Addr::new(198, 51, 100, 10 + (i - 120) as u8),
    }
}

/// A scan of the ssh port from 300 addresses, one connection each.
pub fn scan(i: u32) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 0) | Ipv4Addr::from_bits(i)
}

pub fn report(what: &str, s: &Seen) {
    say!(
        "{}: {} connections from {} sources{}, entropy {} -> {}",
        what,
        s.connections,
        s.distinct,
        Overflow(s.overflow),
        Milli(s.entropy),
        s.class.as_str()
    );
}

struct Overflow(u64);

impl core::fmt::Display for Overflow {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.0 > 0 {
            write!(f, " (+{} past the {SOURCES}-source table)", self.0)
        } else {
            Ok(())
        }
    }
}

/// The three samples of the story: a normal evening, the flood and a scan.
#[inline(never)] // keeps each part's stack frame apart from the others'
pub fn run(v: &mut Verdict) -> Seen {
    say!("-- connections: source entropy");
    let quiet = observe(evening_table(), 80, "www");
    report("www_in, a quiet evening", &quiet);
    v.expect(
        "a quiet evening is high entropy",
        Level::of(quiet.entropy) == Level::High,
    );

    let scanned = observe(table(300, 22, scan), 22, "ssh");
    report("ssh_in, a scan", &scanned);
    v.expect(
        "the scan overflows the counter, which does not grow",
        scanned.distinct == SOURCES && scanned.overflow == 300 - SOURCES as u64,
    );
    v.expect(
        "the scan is high entropy",
        Level::of(scanned.entropy) == Level::High,
    );

    let flooded = observe(table(123, 80, flood), 80, "www");
    report("www_in, the flood", &flooded);
    v.expect(
        "the flood is low entropy",
        flooded.class.as_str() == "entropy_www_in_low",
    );
    flooded
}
