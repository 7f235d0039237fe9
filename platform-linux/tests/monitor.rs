//! The monitor's feeds end to end: on a fixture /proc tree, on the live machine (sockets
//! opened by the test itself), tcpdump when present, and every parser against mutated
//! fixtures (no input may panic).
#![cfg(target_os = "linux")]

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;

use homeostat_core::entropy::Direction;
use homeostat_core::feed::{
    DiskSpace, Family, Notes, Process, ProcessSource, Socket, SocketSource, SystemSource, Transport,
};
use homeostat_core::stats::{ObsId, Registry};
use homeostat_linux::monitor::{
    local, net, packets, procs, system, utmp, Counted, ListeningPort, Monitor, MonitorConfig,
    Sample,
};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A sample and the registry that named its ids: the tests speak names.
struct Named {
    s: Sample,
    reg: Registry,
}

impl std::ops::Deref for Named {
    type Target = Sample;
    fn deref(&self) -> &Sample {
        &self.s
    }
}

impl Named {
    fn value(&self, name: &str) -> Option<f64> {
        self.s.value(self.reg.lookup(name)?)
    }

    fn keys_of(&self, name: &str) -> Option<&[(String, u32)]> {
        self.s.keys_of(self.reg.lookup(name)?)
    }

    /// The names of `values`, in order.
    fn names(&self) -> Vec<&str> {
        let name = |id| self.reg.name(id).expect("every id has a name");
        self.s.values.iter().map(|(id, _)| name(*id)).collect()
    }
}

fn sample<P, K, Y>(m: &mut Monitor<P, K, Y>) -> Named
where
    P: ProcessSource,
    P::Error: std::fmt::Display,
    K: SocketSource,
    K::Error: std::fmt::Display,
    Y: SystemSource,
    Y::Error: std::fmt::Display,
{
    let mut reg = Registry::new();
    let s = m.sample(&mut reg);
    Named { s, reg }
}

fn keys(s: &Named, name: &str) -> Vec<(String, u32)> {
    s.keys_of(name)
        .unwrap_or_else(|| panic!("no keys for {name}"))
        .to_vec()
}

fn pairs(v: &[(&str, u32)]) -> Vec<(String, u32)> {
    v.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

#[test]
fn sample_of_a_fixture_tree() {
    let f = fixtures();
    let mut m = Monitor::new(MonitorConfig {
        services: vec![("www_alt".into(), 0x9E89)],
        tcpdump: false,
        proc_root: f.join("proc-tree"),
        utmp: f.join("utmp-sessions.bin"),
        passwd: f.join("etc-passwd-hostile.txt"),
        disk: PathBuf::from("/"),
        ..Default::default()
    })
    .unwrap();
    let s = sample(&mut m);

    let names = s.names();
    assert_eq!(
        &names[..7],
        &[
            "users",
            "rootprocs",
            "otherprocs",
            "diskfree",
            "loadavg",
            "netbiosns_in",
            "netbiosns_out"
        ]
    );
    assert_eq!(
        &names[names.len() - 6..],
        &[
            "wwws_in",
            "wwws_out",
            "domain_in",
            "domain_out",
            "www_alt_in",
            "www_alt_out"
        ]
    );
    assert_eq!(names.len(), 5 + 2 * 14);

    assert_eq!(s.value("users"), Some(3.0));
    assert_eq!(
        keys(&s, "users"),
        pairs(&[("alice", 2), ("bob", 1), ("root", 1)])
    );

    // pid 1 sleep (root), 4242 setuid root, 777 postgres (alice), 555 ghost (no name);
    // 31337 has a broken Uid: line and is noted, not counted.
    assert_eq!(s.value("rootprocs"), Some(2.0));
    assert_eq!(s.value("otherprocs"), Some(2.0));
    assert_eq!(
        keys(&s, "rootprocs"),
        pairs(&[("evil\\x5cnname", 1), ("sleep", 1)])
    );
    assert_eq!(
        keys(&s, "otherprocs"),
        pairs(&[("ghost", 1), ("postgres", 1)])
    );
    let snap: Vec<(u32, u32, Option<&str>, &str)> = s
        .processes
        .iter()
        .map(|p| (p.pid, p.uid, p.user.as_deref(), p.command.as_str()))
        .collect();
    assert_eq!(
        snap,
        vec![
            (1, 0, Some("root"), "sleep"),
            (555, 4321, None, "ghost"),
            (777, 1000, Some("alice"), "postgres"),
            (4242, 0, Some("root"), "evil\\x5cnname"),
        ]
    );

    let d = s.value("diskfree").unwrap();
    assert!((0.0..=100.0).contains(&d) && d.fract() == 0.0);
    assert_eq!(s.value("loadavg"), Some(0.5));

    // The "tcp6" file of the tree is the hostile fixture: its two good lines count.
    assert_eq!(s.value("www_in"), Some(2.0));
    assert_eq!(keys(&s, "www_in"), pairs(&[("127.0.0.2", 1)]));
    assert_eq!(s.value("www_out"), Some(3.0));
    assert_eq!(keys(&s, "www_out"), pairs(&[("203.0.113.80", 3)]));
    assert_eq!(s.value("domain_out"), Some(1.0));
    assert_eq!(s.value("ssh_in"), Some(0.0));
    assert_eq!(keys(&s, "ssh_in"), vec![]);
    assert_eq!(
        (s.value("www_alt_in"), s.value("www_alt_out")),
        (Some(2.0), Some(1.0))
    );
    assert_eq!(keys(&s, "www_alt_in"), pairs(&[("127.0.0.2", 1)]));

    let l: Vec<(&str, u16, &str)> = s
        .listening
        .iter()
        .map(|p| (p.proto, p.port, p.addr.as_str()))
        .collect();
    assert_eq!(
        l,
        vec![
            ("tcp4", 2024, "0.0.0.0"),
            ("tcp4", 2222, "0.0.0.0"),
            ("tcp4", 0x9E89, "127.0.0.1"),
            ("tcp4", 0xE469, "127.0.0.1"),
            ("tcp6", 80, "127.0.0.1"),
            ("udp4", 5353, "0.0.0.0"),
            ("udp4", 0xD284, "127.0.0.1"),
            ("udp6", 0x8577, "::1"),
        ]
    );

    // tcpdump is off in this configuration: nothing is missing.
    assert_eq!(s.unavailable, vec![]);
    let notes: Vec<String> = s.notes.iter().map(|(f, n)| format!("{f}: {n}")).collect();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert_eq!(notes[0], "processes: 1 processes could not be read");
    assert!(
        notes[1].starts_with("sockets: ")
            && notes[1].ends_with(
                "net/tcp6: 14 malformed lines skipped (first: line 3: address without `:PORT`)"
            ),
        "{notes:?}"
    );
}

#[test]
fn missing_files_are_reported_not_fatal() {
    let mut m = Monitor::new(MonitorConfig {
        proc_root: PathBuf::from("/nonexistent/proc"),
        utmp: PathBuf::from("/nonexistent/utmp"),
        passwd: PathBuf::from("/nonexistent/passwd"),
        disk: PathBuf::from("/nonexistent/disk"),
        ..Default::default()
    })
    .unwrap();
    let s = sample(&mut m);
    // No utmp means no one logged in: 0, with a note.
    assert_eq!(s.names(), vec!["users"]);
    assert_eq!(s.value("users"), Some(0.0));
    assert!(
        s.notes
            .iter()
            .any(|(f, n)| f == "users" && n.contains("no such file")),
        "{:?}",
        s.notes
    );
    // `packets` is not among them: tcpdump is off in this configuration.
    let feeds: Vec<&str> = s.unavailable.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(feeds, vec!["processes", "diskfree", "loadavg", "sockets"]);
    assert!(s.listening.is_empty() && s.processes.is_empty());
}

/// A client socket bound to `from` before connecting to `to` (Linux accepts any 127/8
/// address as local).
/// A port of 127.0.0.1 that no socket of the host uses now, below the ephemeral range,
/// bound by `bind` (TCP or UDP).
///
/// The monitor counts every socket whose local (remote) port is the service port, on any
/// address and in any state, as cf-monitord does. A port the kernel hands out could also
/// be another process's ephemeral port or a TIME_WAIT left behind and add a socket that is
/// not the test's; ports below the ephemeral range are never handed out, so one that is
/// free now stays the test's alone.
fn quiet_port<S>(bind: impl Fn(u16) -> std::io::Result<S>) -> S {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
    let low: u16 = range.split_whitespace().next().unwrap().parse().unwrap();
    let mut used = std::collections::BTreeSet::new();
    for f in ["tcp", "tcp6", "udp", "udp6"] {
        let text = std::fs::read_to_string(format!("/proc/net/{f}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            for addr in line.split_whitespace().skip(1).take(2) {
                let port = addr.rsplit(':').next().unwrap_or("0");
                used.insert(u16::from_str_radix(port, 16).unwrap_or(0));
            }
        }
    }
    // Start where the process id says; a port taken meanwhile fails to bind: try the next.
    let span = low.saturating_sub(10_000).max(1);
    let start = 10_000 + (std::process::id() % u32::from(span)) as u16;
    (start..low)
        .chain(10_000..start)
        .filter(|p| !used.contains(p))
        .find_map(|p| bind(p).ok())
        .expect("a free port below the ephemeral range")
}

fn connect_from(from: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from((from, 0)).into()).unwrap();
    sock.connect(&to.into()).unwrap();
    sock.into()
}

fn service_monitor(port: u16) -> Monitor {
    Monitor::new(MonitorConfig {
        services: vec![("testsvc".into(), port)],
        ..Default::default()
    })
    .unwrap()
}

/// `clients` connections, from the addresses given, to a fresh listener; returns the
/// sample, the port and the expected per-address counts.
fn live_scenario(clients: &[Ipv4Addr]) -> (Named, u16, Vec<(String, u32)>) {
    let listener = quiet_port(|p| TcpListener::bind(("127.0.0.1", p)));
    let to = listener.local_addr().unwrap();
    let port = to.port();
    let mut m = service_monitor(port);
    let mut held = Vec::new();
    for from in clients {
        let mut c = connect_from(*from, to);
        // An ephemeral port equal to the listener's (on another 127/8 address) would
        // count as a third socket with that local port: draw again.
        while c.local_addr().unwrap().port() == port {
            c = connect_from(*from, to);
        }
        let (a, _) = listener.accept().unwrap();
        held.push((c, a));
    }
    let s = sample(&mut m);
    let mut expect: Vec<(String, u32)> = Vec::new();
    for from in clients {
        match expect.iter_mut().find(|(k, _)| *k == from.to_string()) {
            Some(e) => e.1 += 1,
            None => expect.push((from.to_string(), 1)),
        }
    }
    expect.sort();
    drop(held);
    (s, port, expect)
}

#[test]
fn live_one_client_address_gives_one_key() {
    let from = Ipv4Addr::new(127, 0, 0, 2);
    let (s, port, expect) = live_scenario(&[from, from, from]);
    assert_eq!(s.value("testsvc_in"), Some(4.0), "listener + 3 accepted");
    assert_eq!(s.value("testsvc_out"), Some(3.0), "the 3 client sockets");
    assert_eq!(keys(&s, "testsvc_in"), expect);
    assert_eq!(keys(&s, "testsvc_in"), pairs(&[("127.0.0.2", 3)]));
    assert_eq!(keys(&s, "testsvc_out"), pairs(&[("127.0.0.1", 3)]));
    let l = ListeningPort {
        proto: "tcp4",
        port,
        addr: "127.0.0.1".into(),
    };
    assert!(s.listening.contains(&l), "{:?}", s.listening);
}

#[test]
fn live_many_client_addresses_give_many_keys() {
    let addrs: Vec<Ipv4Addr> = (2..=5).map(|d| Ipv4Addr::new(127, 0, 0, d)).collect();
    let clients = [addrs.clone(), addrs.clone()].concat();
    let (s, port, expect) = live_scenario(&clients);
    assert_eq!(s.value("testsvc_in"), Some(1.0 + 8.0));
    assert_eq!(s.value("testsvc_out"), Some(8.0));
    assert_eq!(keys(&s, "testsvc_in"), expect);
    assert_eq!(keys(&s, "testsvc_in").len(), 4);
    assert!(s
        .listening
        .iter()
        .any(|p| p.proto == "tcp4" && p.port == port && p.addr == "127.0.0.1"));
}

#[test]
fn live_udp_bound_socket_listens_and_connected_one_does_not() {
    let bound = quiet_port(|p| UdpSocket::bind(("127.0.0.1", p)));
    let port = bound.local_addr().unwrap().port();
    let connected = UdpSocket::bind("127.0.0.1:0").unwrap();
    connected.connect(bound.local_addr().unwrap()).unwrap();
    let cport = connected.local_addr().unwrap().port();
    let s = sample(&mut service_monitor(port));
    let l = ListeningPort {
        proto: "udp4",
        port,
        addr: "127.0.0.1".into(),
    };
    assert!(s.listening.contains(&l), "{:?}", s.listening);
    assert!(!s
        .listening
        .iter()
        .any(|p| p.port == cport && p.proto == "udp4"));
    // the bound socket, and the connected one's peer is the service port
    assert_eq!(
        (s.value("testsvc_in"), s.value("testsvc_out")),
        (Some(1.0), Some(1.0))
    );
    assert_eq!(
        keys(&s, "testsvc_in"),
        vec![],
        "an unconnected socket has no remote"
    );
}

#[test]
fn live_tcp6_listener() {
    let Ok(l6) = TcpListener::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    };
    let port = l6.local_addr().unwrap().port();
    let s = sample(&mut service_monitor(port));
    let l = ListeningPort {
        proto: "tcp6",
        port,
        addr: "::1".into(),
    };
    assert!(s.listening.contains(&l), "{:?}", s.listening);
}

#[test]
fn live_full_sample() {
    let mut m = Monitor::new(MonitorConfig::default()).unwrap();
    let s = sample(&mut m);
    for name in [
        "users",
        "rootprocs",
        "otherprocs",
        "diskfree",
        "loadavg",
        "ssh_in",
        "wwws_out",
        "domain_in",
    ] {
        assert!(s.value(name).is_some(), "{name}: {:?}", s.unavailable);
    }
    assert!(s.value("rootprocs").unwrap() + s.value("otherprocs").unwrap() >= 1.0);
    let me = s
        .processes
        .iter()
        .find(|p| p.pid == std::process::id())
        .expect("this process");
    assert!(!me.command.is_empty());
    let d = s.value("diskfree").unwrap();
    assert!((0.0..=100.0).contains(&d));
    assert!(s.value("loadavg").unwrap() >= 0.0);
    // tcpdump is off in this configuration: nothing is missing.
    assert_eq!(s.unavailable, vec![]);
    eprintln!(
        "live: {} processes, {} listening ports, notes {:?}",
        s.processes.len(),
        s.listening.len(),
        s.notes
    );
}

#[test]
fn live_tcpdump_counts_or_says_why_not() {
    let mut m = Monitor::new(MonitorConfig {
        tcpdump: true,
        ..Default::default()
    })
    .unwrap();
    let first = sample(&mut m);
    let why: Vec<&str> = first
        .unavailable
        .iter()
        .filter(|(f, _)| f == "packets")
        .map(|(_, w)| w.as_str())
        .collect();
    assert_eq!(why.len(), 1, "{:?}", first.unavailable);
    assert!(first.value("tcpsyn_in").is_none());
    eprintln!("tcpdump, first sample: {}", why[0]);
    // Some traffic on the default route (TEST-NET-3, port 9: discard), if there is one.
    std::thread::sleep(std::time::Duration::from_millis(700));
    let sent = UdpSocket::bind("0.0.0.0:0")
        .and_then(|u| u.send_to(b"homeostat", "203.0.113.1:9"))
        .is_ok();
    std::thread::sleep(std::time::Duration::from_millis(800));
    let second = sample(&mut m);
    let down = second.unavailable.iter().find(|(f, _)| f == "packets");
    match down {
        Some((_, why)) => {
            eprintln!("tcpdump unavailable: {why}");
            assert!(second.value("icmp_in").is_none());
            assert!(!why.is_empty());
        }
        None => {
            for k in packets::KINDS {
                assert!(
                    second.value(&format!("{k}_in")).is_some()
                        && second.value(&format!("{k}_out")).is_some()
                );
                assert!(second.keys_of(&format!("{k}_in")).is_some());
            }
            // Not asserted: tcpdump watches its default interface, which need not be the
            // one the default route uses.
            eprintln!(
                "tcpdump ran: datagram sent {sent}, udp_out {:?} to {:?}",
                second.value("udp_out"),
                second.keys_of("udp_out")
            );
        }
    }
    drop(m); // kills tcpdump
}

/// A small deterministic generator (xorshift64*), so the mutations are the same each run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, src: &[u8]) -> Vec<u8> {
    let mut v = src.to_vec();
    match rng.below(5) {
        0 => v.truncate(rng.below(v.len() + 1)),
        1 => {
            for _ in 0..1 + rng.below(8) {
                if !v.is_empty() {
                    let i = rng.below(v.len());
                    v[i] = rng.next() as u8;
                }
            }
        }
        2 => {
            let tokens: &[&[u8]] = &[
                b":",
                b" ",
                b"\n",
                b"\t",
                b"0A",
                b"FFFFFFFF",
                b"Uid:",
                b"Name:",
                b" > ",
                b"Flags [",
                b"|-- ",
                b"/32 host LOCAL",
                b"\x00",
                b"\xff",
            ];
            let i = rng.below(v.len() + 1);
            let t = tokens[rng.below(tokens.len())];
            v.splice(i..i, t.iter().copied());
        }
        3 => {
            if !v.is_empty() {
                let a = rng.below(v.len());
                let b = (a + rng.below(64)).min(v.len());
                v.drain(a..b);
            }
        }
        _ => {
            let n = rng.below(512);
            v = (0..n).map(|_| rng.next() as u8).collect();
        }
    }
    v
}

#[test]
fn mutated_fixtures_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut inputs = Vec::new();
    for e in std::fs::read_dir(fixtures()).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            inputs.push(std::fs::read(p).unwrap());
        }
    }
    assert!(inputs.len() >= 15);
    let local_set = [std::net::IpAddr::from([192, 0, 2, 2])]
        .into_iter()
        .collect();
    let mut sockets = Vec::new();
    for round in 0..3000 {
        let src = &inputs[round % inputs.len()];
        let b = mutate(&mut rng, src);
        let _ = utmp::parse_utmp(&b);
        let _ = procs::parse_status(&b);
        let _ = procs::parse_passwd(&b);
        sockets.clear();
        let _ = net::parse_proc_net(&b, &mut sockets);
        let mut l = Vec::new();
        net::listening(&sockets, "udp4", &mut l);
        let _ = net::tally(&sockets, &[0, 22, 80]);
        let mut set = Default::default();
        local::parse_fib_trie(&b, &mut set);
        local::parse_if_inet6(&b, &mut set);
        let _ = system::parse_loadavg(&b);
        let text = String::from_utf8_lossy(&b);
        let mut c = packets::PacketCounts::default();
        for line in text.lines() {
            c.add_line(line, &local_set);
        }
        let _ = system::percent_free(rng.next(), rng.next(), rng.next());
    }
}

/// Sources made up in the test: the monitor reads nothing of this machine through them.
/// `(pid, uid, user, command)` of each process.
type FakeProcess = (u32, u32, Option<&'static str>, &'static [u8]);
struct FakeProcs(Result<Vec<FakeProcess>, &'static str>);
struct FakeSockets(Result<Vec<Socket>, &'static str>);
struct FakeSystem {
    load: Result<f32, &'static str>,
    disk: Result<DiskSpace, &'static str>,
    users: Result<&'static [&'static [u8]], &'static str>,
}

impl ProcessSource for FakeProcs {
    type Error = &'static str;
    fn processes(
        &mut self,
        each: &mut dyn FnMut(&Process<'_>),
        notes: &mut Notes<'_>,
    ) -> Result<(), &'static str> {
        notes(&"listed by a test");
        for (pid, uid, user, command) in self.0.clone()? {
            each(&Process {
                pid,
                uid,
                user: user.map(str::as_bytes),
                command,
            });
        }
        Ok(())
    }
}

impl SocketSource for FakeSockets {
    type Error = &'static str;
    fn sockets(
        &mut self,
        each: &mut dyn FnMut(&Socket),
        _: &mut Notes<'_>,
    ) -> Result<(), &'static str> {
        self.0.clone()?.iter().for_each(each);
        Ok(())
    }
}

impl SystemSource for FakeSystem {
    type Error = &'static str;
    fn load(&mut self) -> Result<f32, &'static str> {
        self.load
    }
    fn disk(&mut self) -> Result<DiskSpace, &'static str> {
        self.disk
    }
    fn users(
        &mut self,
        each: &mut dyn FnMut(&[u8]),
        _: &mut Notes<'_>,
    ) -> Result<(), &'static str> {
        self.users?.iter().for_each(|u| each(u));
        Ok(())
    }
}

fn tcp(local: (&str, u16), remote: (&str, u16), listening: bool) -> Socket {
    let ip = |a: &str| a.parse::<std::net::IpAddr>().unwrap();
    Socket {
        transport: Transport::Tcp,
        family: if local.0.contains(':') {
            Family::V6
        } else {
            Family::V4
        },
        local: (ip(local.0), local.1),
        remote: (ip(remote.0), remote.1),
        listening,
    }
}

#[test]
fn fake_sources_give_ids_and_typed_services() {
    let procs = FakeProcs(Ok(vec![
        (7, 0, Some("root"), b"sshd"),
        (3, 1000, None, b"bash\x1b"),
        (5, 0, Some("root"), b"sshd"),
    ]));
    let sockets = FakeSockets(Ok(vec![
        tcp(("0.0.0.0", 22), ("0.0.0.0", 0), true),
        tcp(("192.0.2.2", 22), ("198.51.100.7", 40000), false),
        tcp(("::", 22), ("::ffff:198.51.100.7", 40001), false),
        tcp(("192.0.2.2", 40002), ("203.0.113.53", 53), false),
        tcp(("::1", 9999), ("::", 0), true),
    ]));
    let system = FakeSystem {
        load: Ok(0.25),
        disk: Ok(DiskSpace {
            blocks: 160,
            free: 60,
            available: 50,
        }),
        users: Ok(&[b"bob", b"alice", b"bob"]),
    };
    let config = MonitorConfig {
        services: vec![("alt".into(), 9999)],
        ..Default::default()
    };
    let mut m = Monitor::with_sources(config, procs, sockets, system).unwrap();
    let mut reg = Registry::new();
    let s = m.sample(&mut reg);

    // Built-ins have their fixed ids, the registry untouched for them; `domain` and the
    // configured service get slots after the built-ins, in service order.
    assert_eq!(s.value(ObsId::USERS), Some(2.0));
    assert_eq!(s.value(ObsId::ROOTPROCS), Some(2.0));
    assert_eq!(s.value(ObsId::OTHERPROCS), Some(1.0));
    assert_eq!(s.value(ObsId::DISKFREE), Some(33.0));
    assert_eq!(s.value(ObsId::LOADAVG), Some(0.25));
    let ssh_in = ObsId::service(9, Direction::In).unwrap();
    assert_eq!(reg.name(ssh_in), Some("ssh_in"));
    assert_eq!(s.value(ssh_in), Some(3.0));
    assert_eq!(
        s.keys_of(ssh_in),
        Some(&[("198.51.100.7".to_string(), 2)][..])
    );
    let names: Vec<&str> = reg.iter().skip(43).map(|(_, n)| n).collect();
    assert_eq!(names, ["domain_in", "domain_out", "alt_in", "alt_out"]);
    let domain_out = reg.lookup("domain_out").unwrap();
    assert_eq!(s.value(domain_out), Some(1.0));
    let k = s.keys.iter().find(|k| k.id == domain_out).unwrap();
    assert_eq!(
        k.counted,
        Counted::Service {
            index: 12,
            dir: Direction::Out
        }
    );
    assert_eq!(k.counted.flow(), Some(Direction::Out));
    let users = s.keys.iter().find(|k| k.id == ObsId::USERS).unwrap();
    assert_eq!(
        (users.counted, users.counted.flow()),
        (Counted::Sessions, None)
    );
    assert_eq!(users.counts, vec![("alice".into(), 1), ("bob".into(), 2)]);
    assert_eq!(
        s.keys_of(ObsId::OTHERPROCS),
        Some(&[("bash\\x1b".to_string(), 1)][..])
    );
    let pids: Vec<u32> = s.processes.iter().map(|p| p.pid).collect();
    assert_eq!(pids, [3, 5, 7]);
    let l: Vec<(&str, u16, &str)> = s
        .listening
        .iter()
        .map(|p| (p.proto, p.port, p.addr.as_str()))
        .collect();
    assert_eq!(l, [("tcp4", 22, "0.0.0.0"), ("tcp6", 9999, "::1")]);
    assert_eq!(s.notes, [("processes".into(), "listed by a test".into())]);
    assert_eq!(s.values.len(), 5 + 2 * 14);

    // A second sample on the same registry: the same ids.
    let again = m.sample(&mut reg);
    assert_eq!(again.values, s.values);
    assert_eq!(reg.registered(), 4);
}

#[test]
fn fake_sources_failing_and_a_full_registry() {
    let mut m = Monitor::with_sources(
        MonitorConfig {
            disk: PathBuf::from("/data"),
            ..Default::default()
        },
        FakeProcs(Err("no process table")),
        FakeSockets(Ok(vec![])),
        FakeSystem {
            load: Err("no load"),
            disk: Ok(DiskSpace::default()),
            users: Err("no sessions"),
        },
    )
    .unwrap();
    let mut reg = Registry::new();
    for i in 0..homeostat_core::stats::observables::DYNAMIC - 1 {
        reg.register(&format!("m{i}")).unwrap();
    }
    let s = m.sample(&mut reg);
    // One slot was left: domain_in has it, domain_out is unavailable; built-ins need none.
    assert_eq!(
        reg.name(reg.lookup("domain_in").unwrap()),
        Some("domain_in")
    );
    assert_eq!(
        s.value(ObsId::service(0, Direction::In).unwrap()),
        Some(0.0)
    );
    let why: Vec<(&str, &str)> = s
        .unavailable
        .iter()
        .map(|(f, w)| (f.as_str(), w.as_str()))
        .collect();
    assert_eq!(
        why,
        [
            ("users", "no sessions"),
            ("processes", "no process table"),
            ("diskfree", "/data: the file system reports no blocks"),
            ("loadavg", "no load"),
            // packets: turned off by the configuration, so not missing
            ("domain_out", "no observable slot: Full"),
        ]
    );
    assert_eq!(s.values.len(), 2 * 13 - 1);
}
