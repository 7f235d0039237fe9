//! The monitor's feeds end to end: on a fixture /proc tree, on the live machine (sockets
//! opened by the test itself), tcpdump when present, and every parser against mutated
//! fixtures (no input may panic).
#![cfg(target_os = "linux")]

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;

use homeostat_linux::monitor::{
    local, net, packets, procs, system, utmp, ListeningPort, Monitor, MonitorConfig, Sample,
};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn keys(s: &Sample, name: &str) -> Vec<(String, u32)> {
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
    })
    .unwrap();
    let s = m.sample();

    let names: Vec<&str> = s.values.iter().map(|(n, _)| n.as_str()).collect();
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
    let s = m.sample();
    // No utmp means no one logged in: 0, with a note.
    assert_eq!(s.values, vec![("users".to_string(), 0.0)]);
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
fn live_scenario(clients: &[Ipv4Addr]) -> (Sample, u16, Vec<(String, u32)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
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
    let s = m.sample();
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
    let bound = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = bound.local_addr().unwrap().port();
    let connected = UdpSocket::bind("127.0.0.1:0").unwrap();
    connected.connect(bound.local_addr().unwrap()).unwrap();
    let cport = connected.local_addr().unwrap().port();
    let s = service_monitor(port).sample();
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
    let s = service_monitor(port).sample();
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
    let s = m.sample();
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
    let first = m.sample();
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
    let second = m.sample();
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
