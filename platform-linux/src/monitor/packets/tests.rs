//! Unit tests of `packets`.

use super::*;

#[test]
fn interface_names() {
    for ok in [
        "lo",
        "any",
        "eth0",
        "enp0s31f6",
        "wlan0.100",
        "br-1a2b3c4d5e6f",
        "veth_a@b",
    ] {
        assert_eq!(valid_interface(ok), Ok(()), "{ok}");
    }
    for bad in [
        "",
        ".",
        "..",
        "eth0:1",
        "a/b",
        "a b",
        "-i",
        "abcdefghijklmnop",
        "e\nx",
        "\u{e9}th0",
    ] {
        assert!(valid_interface(bad).is_err(), "{bad:?}");
    }
    let e = Sniffer::tcpdump_on("/nonexistent/tcpdump", Some("a b"))
        .err()
        .unwrap();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
}

fn fixture(name: &str) -> String {
    let p = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(p).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn local() -> BTreeSet<IpAddr> {
    [ip("192.0.2.2"), ip("192.0.2.255"), ip("fd00::2")]
        .into_iter()
        .collect()
}

fn count(text: &str) -> PacketCounts {
    let mut c = PacketCounts::default();
    for l in text.lines() {
        c.add_line(l, &local());
    }
    c
}

fn keys(c: &PacketCounts, k: Kind, dir: usize) -> Vec<(&str, u32)> {
    c.keys[k as usize][dir]
        .iter()
        .map(|(a, n)| (a.as_str(), *n))
        .collect()
}

#[test]
fn lines_classified() {
    let p = |l| match parse_line(l) {
        Ok(Line::Packet(p)) => p.kind,
        other => panic!("{l}: {other:?}"),
    };
    assert_eq!(
        p("IP 192.0.2.2.55756 > 203.0.113.80.80: Flags [S], seq 1, length 0"),
        Kind::TcpSyn
    );
    assert_eq!(
        p("IP 203.0.113.80.80 > 192.0.2.2.55756: Flags [S.], seq 2, ack 1"),
        Kind::TcpSyn
    );
    assert_eq!(
        p("IP 192.0.2.2.1 > 203.0.113.80.80: Flags [.], ack 1"),
        Kind::TcpAck
    );
    assert_eq!(
        p("IP 192.0.2.2.1 > 203.0.113.80.80: Flags [P.], seq 1:79"),
        Kind::TcpAck
    );
    assert_eq!(
        p("IP 192.0.2.2.1 > 203.0.113.80.80: Flags [F.], seq 79"),
        Kind::TcpFin
    );
    assert_eq!(
        p("IP 127.0.0.1.1 > 127.0.0.1.3: Flags [R.], seq 0"),
        Kind::TcpMisc
    );
    assert_eq!(
        p("IP 192.0.2.2.43046 > 10.255.255.53.53: 15271+ AAAA? deb.debian.org. (32)"),
        Kind::Dns
    );
    assert_eq!(
        p("IP 127.0.0.1.48951 > 127.0.0.1.9999: UDP, length 1"),
        Kind::Udp
    );
    assert_eq!(
        p("IP 127.0.0.1 > 127.0.0.1: ICMP 127.0.0.1 udp port 53 unreachable, length 37"),
        Kind::Icmp
    );
    assert_eq!(
        p("IP6 fe80::1 > ff02::1: ICMP6, router advertisement, length 64"),
        Kind::Icmp
    );
    assert_eq!(
        p("IP6 ::1.52422 > ::1.36207: Flags [S], seq 1531427015"),
        Kind::TcpSyn
    );
    assert_eq!(
        p("lo    In  IP6 ::1.52422 > ::1.36207: tcp 0"),
        Kind::TcpMisc
    );
    assert_eq!(p("IP 192.0.2.1 > 192.0.2.2: ip-proto-47 24"), Kind::TcpMisc);
    assert_eq!(
        parse_line("ARP, Request who-has 192.0.2.1 tell 192.0.2.2, length 28"),
        Ok(Line::Ignored)
    );
    assert_eq!(parse_line(""), Ok(Line::Ignored));
}

#[test]
fn captured_default_interface() {
    let c = count(&fixture("tcpdump-eth0.txt"));
    assert_eq!(
        (c.malformed, c.ignored, c.passing),
        (0, 1, 0),
        "a blank last line"
    );
    // 4 queries out to the resolver, 4 answers in
    assert_eq!(c.counts[Kind::Dns as usize], [4, 4]);
    assert_eq!(keys(&c, Kind::Dns, 0), vec![("10.255.255.53", 4)]);
    assert_eq!(keys(&c, Kind::Dns, 1), vec![("10.255.255.53", 4)]);
    // one HTTP fetch: SYN out, SYN-ACK in, FIN each way, the rest ACKs
    assert_eq!(c.counts[Kind::TcpSyn as usize], [1, 1]);
    assert_eq!(c.counts[Kind::TcpFin as usize], [1, 1]);
    assert_eq!(c.counts[Kind::TcpAck as usize], [2, 4]);
    assert_eq!(keys(&c, Kind::TcpAck, 0), vec![("203.0.113.80", 2)]);
}

#[test]
fn captured_any_interface_and_quiet_mode() {
    let c = count(&fixture("tcpdump-any.txt"));
    assert_eq!(
        (c.malformed, c.ignored, c.passing),
        (0, 1, 0),
        "a blank last line"
    );
    // loopback traffic is local both ways: counted incoming, keyed by its source
    assert_eq!(c.counts[Kind::Icmp as usize], [2, 0]);
    assert_eq!(keys(&c, Kind::Icmp, 0), vec![("127.0.0.1", 2)]);
    assert_eq!(
        c.counts[Kind::TcpMisc as usize],
        [2, 0],
        "two RST-ACKs on lo"
    );
    let q = count(&fixture("tcpdump-q.txt"));
    assert_eq!(q.malformed, 0);
    // -q hides TCP flags: every TCP packet is tcpmisc, none is a SYN
    assert_eq!(q.counts[Kind::TcpSyn as usize], [0, 0]);
    assert_eq!(q.counts[Kind::TcpMisc as usize], [20, 6]);
}

#[test]
fn hostile_lines() {
    let text = fixture("tcpdump-hostile.txt");
    for l in text.lines() {
        let _ = parse_line(l);
    }
    let c = count(&text);
    assert_eq!(c.malformed, 10);
    assert_eq!(c.ignored, 5, "banners, ARP, hex dump, statistics");
    assert_eq!(c.passing, 1, "198.51.100.1 → 203.0.113.9 is not ours");
    // multicast from a neighbour and a subnet broadcast count as incoming
    assert_eq!(c.counts[Kind::Icmp as usize], [2, 0]);
    assert_eq!(c.counts[Kind::Udp as usize], [1, 0]);
    assert_eq!(c.counts[Kind::TcpSyn as usize], [2, 0]);
    assert_eq!(
        keys(&c, Kind::TcpSyn, 0),
        vec![("192.0.2.9", 2)],
        "mapped IPv6 keyed as IPv4"
    );
    assert_eq!(c.counts[Kind::TcpFin as usize], [1, 0]);
    assert_eq!(c.counts[Kind::TcpMisc as usize], [4, 0]);
    assert_eq!(
        parse_line("IP 192.0.2.1.80 > 192.0.2.2.5000: Flags [S"),
        Err("unterminated `Flags [`")
    );
    assert_eq!(
        parse_line("IP 192.0.2.1.99999 > 192.0.2.2.1: UDP"),
        Err("port out of range")
    );
    assert_eq!(
        parse_line("IP 192.0.2.1.80 > 192.0.2.2: UDP"),
        Err("a port on one side only")
    );
}

#[test]
fn keys_are_bounded() {
    let mut c = PacketCounts::default();
    for i in 0..(MAX_KEYS as u32 + 10) {
        let src = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        c.add(
            &Packet {
                kind: Kind::Udp,
                src,
                dst: ip("192.0.2.2"),
            },
            &local(),
        );
    }
    let m = &c.keys[Kind::Udp as usize][0];
    assert_eq!(m.len(), MAX_KEYS + 1);
    assert_eq!(m.get(OVERFLOW_KEY), Some(&10));
    assert_eq!(c.counts[Kind::Udp as usize][0], MAX_KEYS as u64 + 10);
}

#[test]
fn overlong_lines_are_cut() {
    let mut text = vec![b'x'; MAX_LINE * 2 + 5];
    text.extend_from_slice(b"\nIP 1.2.3.4 > 5.6.7.8: ICMP echo\n");
    let mut r = BufReader::new(&text[..]);
    let mut buf = Vec::new();
    assert!(read_line_bounded(&mut r, &mut buf).unwrap());
    assert_eq!(buf.len(), MAX_LINE);
    assert!(read_line_bounded(&mut r, &mut buf).unwrap());
    assert_eq!(buf, b"IP 1.2.3.4 > 5.6.7.8: ICMP echo\n");
    assert!(!read_line_bounded(&mut r, &mut buf).unwrap());
}

#[cfg(unix)]
#[test]
fn sniffer_counts_a_childs_lines_and_reports_its_exit() {
    let script = format!(
        "cat {}/tests/fixtures/tcpdump-eth0.txt; exec sleep 30",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut s = Sniffer::spawn("sh", &["-c", &script]).unwrap();
    s.set_local(local());
    let mut total = PacketCounts::default();
    for _ in 0..200 {
        let c = s.take().unwrap();
        for k in 0..7 {
            for d in 0..2 {
                total.counts[k][d] += c.counts[k][d];
            }
        }
        if total.counts.iter().flatten().sum::<u64>() == 18 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(total.counts[Kind::Dns as usize], [4, 4]);
    assert_eq!(s.take().unwrap(), PacketCounts::default(), "take() resets");
    drop(s); // kills the child (sleep, exec'd by sh)

    let mut s = Sniffer::spawn(
        "sh",
        &[
            "-c",
            "echo 'tcpdump: eth0: You do not have permission' >&2; exit 1",
        ],
    )
    .unwrap();
    let mut r = s.take();
    for _ in 0..200 {
        if r.is_err() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        r = s.take();
    }
    let e = r.unwrap_err();
    assert!(
        e.contains("exit status: 1") && e.contains("permission"),
        "{e}"
    );
    assert!(Sniffer::spawn("/no/such/tcpdump", &[]).is_err());
}
