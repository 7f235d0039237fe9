#![cfg(target_os = "linux")]
//! The packet feed seen live: `homeostat run` with `[monitor] tcpdump = true` and
//! `tcpdump_interface = "lo"` counts real packets the test sends on loopback.
//!
//! What the code defines (platform-linux `monitor::packets`): a packet is incoming when its
//! destination is an address of this host, and every loopback address is one, so on `lo`
//! every packet is incoming and every `_out` count stays 0. A TCP SYN to a closed port is
//! one `tcpsyn_in` and its RST reply one `tcpmisc_in`; a UDP datagram to port 53 is one
//! `dns_in`, to another closed port one `udp_in`, and each draws an ICMP port unreachable,
//! one `icmp_in`. Each packet crosses `lo` once, so tcpdump sees it once.
//!
//! Where the test may make a network namespace (root with `unshare` and `ip`), the daemon
//! runs in a fresh one whose `lo` carries only this test's packets, and the counts must be
//! exactly those. Elsewhere it shares the host's `lo` with whatever else runs, and the
//! counts must be at least those. Skipped, saying so, without tcpdump or without root.

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::{TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use homeostat_tests::net::free_port;
use homeostat_tests::run::{homeostat_bin, is_root};
use homeostat_tests::serde_json::Value;
use homeostat_tests::tempfile::TempDir;

/// Packets of each kind sent.
const SYNS: usize = 20;
const DNS: usize = 10;
const UDP: usize = 10;
/// Closed ports on the daemon's loopback (in a fresh namespace every port is closed; on the
/// host's loopback they are checked to be free).
const UDP_PORT: u16 = 9;

fn tcpdump_installed() -> bool {
    Command::new("tcpdump")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Whether a fresh network namespace with its loopback up can be made here.
fn can_isolate() -> bool {
    Command::new("unshare")
        .args(["--net", "ip", "link", "set", "lo", "up"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Enters the network namespace of process `pid` (this thread only).
#[allow(unsafe_code)]
fn enter_netns(pid: u32) {
    let f = File::open(format!("/proc/{pid}/ns/net")).expect("open the daemon's netns");
    // SAFETY: setns on a descriptor that stays open across the call; it changes only the
    // calling thread's network namespace.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
}

/// Sends the test's packets: SYNs to a closed TCP port, datagrams to 53 and to
/// [`UDP_PORT`], all on 127.0.0.1, paced so that no ICMP limit applies.
fn send_packets() {
    // Bound then dropped without listening: nothing on this loopback listens on it.
    let port = free_port();
    for _ in 0..SYNS {
        let e = TcpStream::connect(("127.0.0.1", port)).expect_err("the port is closed");
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
        std::thread::sleep(Duration::from_millis(5));
    }
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..DNS.max(UDP) {
        if i < DNS {
            u.send_to(b"not a query", ("127.0.0.1", 53)).unwrap();
        }
        if i < UDP {
            u.send_to(b"x", ("127.0.0.1", UDP_PORT)).unwrap();
        }
        // Each ICMP reply is an error on the socket; read it off.
        std::thread::sleep(Duration::from_millis(20));
        let _ = u.set_nonblocking(true);
        let mut b = [0u8; 64];
        while u.recv_from(&mut b).is_ok() {}
    }
}

/// A UDP or TCP port some socket of the host uses, from /proc/net.
fn port_in_use(port: u16) -> bool {
    ["tcp", "tcp6", "udp", "udp6"].iter().any(|f| {
        std::fs::read_to_string(format!("/proc/net/{f}")).is_ok_and(|t| {
            t.lines().skip(1).any(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|a| a.rsplit(':').next())
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
                    == Some(port)
            })
        })
    })
}

struct Daemon {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl Daemon {
    fn start(dir: &std::path::Path, isolate: bool) -> Daemon {
        let cfg = dir.join("homeostat.toml");
        std::fs::write(
            &cfg,
            "[monitor]\ninterval = \"1s\"\ntcpdump = true\ntcpdump_interface = \"lo\"\n",
        )
        .unwrap();
        let args: Vec<OsString> = vec![
            "--config".into(),
            cfg.into(),
            "--state-dir".into(),
            dir.join("state").into(),
            "--json".into(),
            "run".into(),
        ];
        let mut cmd = if isolate {
            // unshare and sh exec in turn: the child's pid is the daemon's.
            let mut c = Command::new("unshare");
            c.args([
                "--net",
                "sh",
                "-c",
                "ip link set lo up && exec \"$0\" \"$@\"",
            ])
            .arg(homeostat_bin())
            .args(&args);
            c
        } else {
            let mut c = Command::new(homeostat_bin());
            c.args(&args);
            c
        };
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn homeostat run");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let v: Value = homeostat_tests::serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        Daemon { child, lines }
    }

    /// The next line, within `deadline`.
    fn next(&self, deadline: Instant) -> Option<Value> {
        let left = deadline.checked_duration_since(Instant::now())?;
        self.lines.recv_timeout(left).ok()
    }

    /// SIGTERM, then its exit within 20 s.
    #[allow(unsafe_code)]
    fn stop(mut self) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: a signal to our own child, which has not been waited for yet.
        let r = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(r, 0, "kill: {}", std::io::Error::last_os_error());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                assert!(st.success(), "homeostat run ended with {st}");
                return;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("homeostat run did not stop within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

const OBSERVABLES: [&str; 14] = [
    "icmp_in",
    "icmp_out",
    "dns_in",
    "dns_out",
    "udp_in",
    "udp_out",
    "tcpsyn_in",
    "tcpsyn_out",
    "tcpack_in",
    "tcpack_out",
    "tcpfin_in",
    "tcpfin_out",
    "tcpmisc_in",
    "tcpmisc_out",
];

#[test]
fn loopback_packets_are_counted() {
    if !tcpdump_installed() {
        eprintln!("SKIPPED: tcpdump is not installed (apt-get install tcpdump)");
        return;
    }
    if !is_root() {
        eprintln!("SKIPPED: tcpdump needs root to capture on lo");
        return;
    }
    let isolate = can_isolate();
    if !isolate {
        eprintln!("no network namespace here: sharing the host's lo, counts are lower bounds");
        assert!(!port_in_use(UDP_PORT), "UDP port {UDP_PORT} is in use here");
    }
    let dir = TempDir::new().unwrap();
    let daemon = Daemon::start(dir.path(), isolate);
    let pid = daemon.child.id();
    let mut sums = std::collections::BTreeMap::<String, f64>::new();
    let mut warnings = Vec::new();

    // Two samples with packet counts: tcpdump has been capturing for an interval.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut counted = 0;
    while counted < 2 {
        let v = daemon
            .next(deadline)
            .unwrap_or_else(|| panic!("no packet samples within 30 s; warnings: {warnings:?}"));
        if v["type"] == "warning" {
            warnings.push(v.to_string());
        }
        if v["type"] == "sample" && v["observable"] == "tcpsyn_in" {
            counted += 1;
        }
    }

    let sender = std::thread::spawn(move || {
        if isolate {
            enter_netns(pid);
        }
        send_packets();
    });
    sender.join().expect("sending packets");

    // Count until every kind has arrived, then two samples more (anything late is counted).
    let want = [
        ("tcpsyn_in", SYNS),
        ("tcpmisc_in", SYNS),
        ("dns_in", DNS),
        ("udp_in", UDP),
        ("icmp_in", DNS + UDP),
    ];
    let reached = |sums: &std::collections::BTreeMap<String, f64>| {
        want.iter()
            .all(|(o, n)| sums.get(*o).copied().unwrap_or(0.0) >= *n as f64)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut after = None;
    while let Some(v) = daemon.next(deadline) {
        if v["type"] == "warning" {
            warnings.push(v.to_string());
        }
        let name = v["observable"].as_str().unwrap_or("");
        if v["type"] == "sample" && OBSERVABLES.contains(&name) {
            let value = v["value"]
                .as_f64()
                .unwrap_or_else(|| panic!("no value in {v}"));
            *sums.entry(name.to_owned()).or_default() += value;
        }
        if v["type"] == "classes" {
            // The end of a round.
            match after {
                None if reached(&sums) => after = Some(0),
                Some(n) if n >= 2 => break,
                Some(n) => after = Some(n + 1),
                None => {}
            }
        }
    }
    daemon.stop();

    let got = |o: &str| sums.get(o).copied().unwrap_or(0.0);
    eprintln!("packet counts after sending: {sums:?}");
    for (o, n) in want {
        if isolate {
            assert_eq!(got(o), n as f64, "{o}: {sums:?}; warnings {warnings:?}");
        } else {
            assert!(got(o) >= n as f64, "{o}: {sums:?}; warnings {warnings:?}");
        }
    }
    // Every loopback packet is incoming.
    for o in OBSERVABLES.iter().filter(|o| o.ends_with("_out")) {
        assert_eq!(got(o), 0.0, "{o}: {sums:?}");
    }
    if isolate {
        assert_eq!((got("tcpack_in"), got("tcpfin_in")), (0.0, 0.0), "{sums:?}");
    }
}
