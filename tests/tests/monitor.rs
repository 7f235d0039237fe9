#![cfg(target_os = "linux")]
//! `homeostat scan` takes one live monitor sample (loopback only): a configured service's
//! `_in`/`_out` socket counts, the entropy of its remote addresses with its class, and
//! the listening ports (TCP and UDP).

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::FromRawFd;
use std::path::Path;

use homeostat_tests::net;
use homeostat_tests::run::{json_scan, Output};
use homeostat_tests::serde_json::Value;
use homeostat_tests::tempfile::TempDir;

/// A TCP connection from `src`:0 (bound first, so the kernel cannot pick 127.0.0.1) to
/// 127.0.0.1:`port`.
#[allow(unsafe_code)]
fn connect_from(src: [u8; 4], port: u16) -> TcpStream {
    // SAFETY: plain socket calls on a descriptor owned by the returned TcpStream (created
    // right after `socket`, so it is closed on every path); the sockaddr_in values live
    // across the calls and their size is passed.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let stream = TcpStream::from_raw_fd(fd);
        let addr = |ip: [u8; 4], port: u16| libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes(ip),
            },
            sin_zero: [0; 8],
        };
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let local = addr(src, 0);
        let r = libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), len);
        assert_eq!(r, 0, "bind {src:?}: {}", std::io::Error::last_os_error());
        let remote = addr([127, 0, 0, 1], port);
        let r = libc::connect(fd, (&remote as *const libc::sockaddr_in).cast(), len);
        assert_eq!(
            r,
            0,
            "connect {src:?} -> 127.0.0.1:{port}: {}",
            std::io::Error::last_os_error()
        );
        stream
    }
}

/// A listener on 127.0.0.1 whose port no other socket of the host uses, in any state.
///
/// The monitor counts every socket whose local (remote) port is the service port, on any
/// address and in any state, as cf-monitord does; a port the kernel hands out could also be
/// an ephemeral port of another test's client or a TIME_WAIT left behind, and add a
/// socket that is not this test's. Ports below the ephemeral range are never handed out
/// by the kernel, so one that is free now stays this test's alone.
fn quiet_listener() -> TcpListener {
    net::quiet_listener(0, &[]).0
}

/// A listener on 127.0.0.1:0 with one connection from each of `sources`, all accepted.
struct Service {
    listener: TcpListener,
    port: u16,
    clients: Vec<TcpStream>,
    accepted: Vec<TcpStream>,
}

impl Service {
    fn new(sources: &[[u8; 4]]) -> Service {
        let listener = quiet_listener();
        let port = listener.local_addr().unwrap().port();
        let mut clients = Vec::new();
        let mut accepted = Vec::new();
        for src in sources {
            clients.push(connect_from(*src, port));
            let (s, peer) = listener.accept().expect("accept");
            assert_eq!(
                peer.ip().to_string(),
                format!("{}.{}.{}.{}", src[0], src[1], src[2], src[3]),
                "the connection did not come from its bound source"
            );
            accepted.push(s);
        }
        Service {
            listener,
            port,
            clients,
            accepted,
        }
    }
}

/// [`json_scan`] with a `[monitor]`-only config.
fn scan(dir: &Path, monitor: &str) -> Output {
    json_scan(dir, &format!("[monitor]\ninterval = \"150s\"\n{monitor}"))
}

fn sample<'a>(lines: &'a [Value], name: &str, o: &Output) -> &'a Value {
    lines
        .iter()
        .find(|v| v["type"] == "sample" && v["observable"] == name)
        .unwrap_or_else(|| panic!("no sample line for {name}:\n{}", o.stdout_str()))
}

fn classes(lines: &[Value], o: &Output) -> Vec<String> {
    let c: Vec<&Value> = lines.iter().filter(|v| v["type"] == "classes").collect();
    assert_eq!(c.len(), 1, "not one classes line:\n{}", o.stdout_str());
    c[0]["classes"]
        .as_array()
        .expect("classes array")
        .iter()
        .map(|x| x.as_str().expect("class string").to_owned())
        .collect()
}

fn listening(lines: &[Value], o: &Output) -> Vec<(String, u64, String)> {
    let p: Vec<&Value> = lines.iter().filter(|v| v["type"] == "ports").collect();
    assert_eq!(p.len(), 1, "not one ports line:\n{}", o.stdout_str());
    p[0]["listening"]
        .as_array()
        .unwrap_or_else(|| panic!("ports line without a listening array: {}", p[0]))
        .iter()
        .map(|x| {
            (
                x["proto"].as_str().unwrap_or("").to_owned(),
                x["port"].as_u64().unwrap_or(0),
                x["addr"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// The order the contract gives: sample lines, then the ports line, then the classes
/// line, then the summary; every line of the sample carries one `t`.
fn check_layout(lines: &[Value], o: &Output) {
    let idx = |t: &str| {
        lines
            .iter()
            .position(|v| v["type"] == t)
            .unwrap_or_else(|| panic!("no {t} line:\n{}", o.stdout_str()))
    };
    let last_sample = lines
        .iter()
        .rposition(|v| v["type"] == "sample")
        .expect("sample lines");
    let (ports, classes) = (idx("ports"), idx("classes"));
    assert!(
        last_sample < ports && ports < classes,
        "order is not samples, ports, classes:\n{}",
        o.stdout_str()
    );
    let t = lines[classes]["t"].as_i64().expect("classes t");
    for v in lines
        .iter()
        .filter(|v| v["type"] == "sample" || v["type"] == "ports")
    {
        assert_eq!(v["t"].as_i64(), Some(t), "line of another t: {v}");
    }
    for name in [
        "users",
        "rootprocs",
        "otherprocs",
        "diskfree",
        "loadavg",
        "www_in",
        "www_out",
        "ssh_in",
        "ssh_out",
    ] {
        sample(lines, name, o);
    }
}

fn value(v: &Value) -> f64 {
    v["value"]
        .as_f64()
        .unwrap_or_else(|| panic!("no numeric value: {v}"))
}

fn entropy(v: &Value) -> f64 {
    v["entropy"]
        .as_f64()
        .unwrap_or_else(|| panic!("no entropy on a socket observable with ≥ 2 sockets: {v}"))
}

/// Three connections from one address (127.0.0.2): `testsvc_in` counts the listener and
/// the three accepted sockets (4); the clients' sockets have remote port = the service
/// port, so `testsvc_out` is 3. One remote address: entropy 0 and
/// `entropy_testsvc_in_low`. The listener is in the ports line as tcp4 on 127.0.0.1.
#[test]
fn one_source_counts_and_low_entropy() {
    let dir = TempDir::new().unwrap();
    let svc = Service::new(&[[127, 0, 0, 2]; 3]);
    let o = scan(
        dir.path(),
        &format!("services = {{ testsvc = {} }}\n", svc.port),
    );
    let lines = o.json();
    check_layout(&lines, &o);

    let tin = sample(&lines, "testsvc_in", &o);
    let tout = sample(&lines, "testsvc_out", &o);
    assert_eq!(value(tin), 4.0, "testsvc_in (listener + 3 accepted): {tin}");
    assert_eq!(value(tout), 3.0, "testsvc_out (3 clients): {tout}");
    let e = entropy(tin);
    assert!(
        e.abs() < 1e-6,
        "entropy of one remote address is {e}: {tin}"
    );

    let cls = classes(&lines, &o);
    assert!(
        cls.iter().any(|c| c == "entropy_testsvc_in_low"),
        "no entropy_testsvc_in_low in {cls:?}"
    );
    for c in ["entropy_testsvc_in_high", "entropy_testsvc_in_medium"] {
        assert!(!cls.iter().any(|x| x == c), "{c} with one address: {cls:?}");
    }

    let ports = listening(&lines, &o);
    assert!(
        ports.contains(&(
            "tcp4".to_owned(),
            u64::from(svc.port),
            "127.0.0.1".to_owned()
        )),
        "listener 127.0.0.1:{} missing from {ports:?}",
        svc.port
    );
    drop(svc);
}

/// Eight connections from eight addresses 127.0.0.2…127.0.0.9: `testsvc_in` is 9, the
/// entropy over the remote addresses is above 0.9 (`entropy_testsvc_in_high`), while the
/// client sockets all have the one remote 127.0.0.1 (so `testsvc_out` is 8 and its
/// entropy low: keyed on the remote, not the local, address).
#[test]
fn eight_sources_high_entropy() {
    let dir = TempDir::new().unwrap();
    let sources: Vec<[u8; 4]> = (2..=9).map(|i| [127, 0, 0, i]).collect();
    let svc = Service::new(&sources);
    let o = scan(
        dir.path(),
        &format!("services = {{ testsvc = {} }}\n", svc.port),
    );
    let lines = o.json();
    check_layout(&lines, &o);

    let tin = sample(&lines, "testsvc_in", &o);
    let tout = sample(&lines, "testsvc_out", &o);
    assert_eq!(value(tin), 9.0, "testsvc_in (listener + 8 accepted): {tin}");
    assert_eq!(value(tout), 8.0, "testsvc_out (8 clients): {tout}");
    let e = entropy(tin);
    assert!(
        e > 0.9 && e <= 1.0 + 1e-6,
        "entropy of 8 distinct remotes is {e}: {tin}"
    );
    let eo = entropy(tout);
    assert!(eo < 0.2, "entropy of one remote address is {eo}: {tout}");

    let cls = classes(&lines, &o);
    assert!(
        cls.iter().any(|c| c == "entropy_testsvc_in_high"),
        "no entropy_testsvc_in_high in {cls:?}"
    );
    assert!(
        cls.iter().any(|c| c == "entropy_testsvc_out_low"),
        "no entropy_testsvc_out_low in {cls:?}"
    );
    assert!(
        !cls.iter().any(|c| c == "entropy_testsvc_in_low"),
        "entropy_testsvc_in_low with 8 addresses: {cls:?}"
    );
    let ports = listening(&lines, &o);
    assert!(
        ports.contains(&(
            "tcp4".to_owned(),
            u64::from(svc.port),
            "127.0.0.1".to_owned()
        )),
        "listener 127.0.0.1:{} missing from {ports:?}",
        svc.port
    );
    assert_eq!(svc.clients.len() + svc.accepted.len(), 16);
    drop(svc.listener);
}

/// A UDP socket bound on 127.0.0.1:0 is listed in the ports line as udp4.
#[test]
fn udp_socket_is_listed() {
    let dir = TempDir::new().unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    let port = udp.local_addr().unwrap().port();
    let o = scan(dir.path(), "");
    let lines = o.json();
    check_layout(&lines, &o);
    let ports = listening(&lines, &o);
    assert!(
        ports.contains(&("udp4".to_owned(), u64::from(port), "127.0.0.1".to_owned())),
        "udp 127.0.0.1:{port} missing from {ports:?}"
    );
    drop(udp);
}
