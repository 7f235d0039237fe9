#![cfg(target_os = "linux")]
//! The neighbourhood watch end to end: three agents on 127.0.0.1, .2 and .3, each with its
//! own port, state directory, signing key, watched tree and `homeostat serve` process,
//! all in one group. The first host watches the other two through every state a
//! neighbour can be in: `new`, `unchanged`, `changed` with exact counts, `bad_signature`
//! (the pinned copy kept byte for byte), `key_changed` (until the pin is removed) and
//! `unreachable`, with the exit bits DESIGN gives. `run` watches them too. Loopback
//! only; every wait is bounded; every process is killed at the end.

use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use homeostat_tests::fixture::Fixture;
use homeostat_tests::json::{of_type, parse_json_lines};
use homeostat_tests::net::quiet;
use homeostat_tests::procs::{wait_for, Killed};
use homeostat_tests::run::{homeostat_bin, Output};
use homeostat_tests::serde_json::Value;

/// How long a server may take to listen, and how often that is polled.
const START: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

/// One agent: its fixture (tree, state, config), its key file, its `HOST:PORT` and the
/// `serve` process while it runs.
struct Host {
    fx: Fixture,
    ip: &'static str,
    port: u16,
    key: PathBuf,
    server: Option<Killed>,
}

impl Host {
    /// A host with files `a`, `b`, `c` in its tree, a new key, and no config yet.
    fn new(ip: &'static str) -> Host {
        let fx = Fixture::bare();
        for (name, content) in [("a", "alpha\n"), ("b", "bravo\n"), ("c", "charlie\n")] {
            std::fs::write(fx.tree.join(name), content).unwrap();
        }
        let key = fx.dir.path().join("key");
        fx.run(&["keygen", "--out", key.to_str().unwrap()])
            .expect_code(0);
        Host {
            fx,
            ip,
            port: 0,
            key,
            server: None,
        }
    }

    fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    /// Writes the config: its key, and `[peers]` listing every host of the group.
    fn configure(&self, hosts: &[String]) {
        let list: Vec<String> = hosts.iter().map(|h| format!("{h:?}")).collect();
        let top = format!(
            "[database]\nkey = {:?}\n[peers]\nlisten = {:?}\nhosts = [{}]\ngroup_size = 3\n",
            self.key.to_str().unwrap(),
            self.addr(),
            list.join(", ")
        );
        self.fx.write_config(&top, "");
    }

    /// Starts `homeostat serve` and waits until it accepts connections.
    fn serve(&mut self) {
        let child = Killed(self.fx.spawn(&["serve"]));
        let addr = self.addr();
        let up = wait_for(START, POLL, || TcpStream::connect(&addr).ok());
        assert!(
            up.is_some(),
            "homeostat serve on {addr} not listening within {START:?}"
        );
        self.server = Some(child);
    }

    fn stop(&mut self) {
        self.server.take().expect("a running server").stop();
    }

    /// `homeostat --json watch-peers`.
    fn watch(&self) -> Output {
        self.fx.run(&["--json", "watch-peers"])
    }

    /// The copy of `other`'s database this host pinned, and its pin file.
    fn copy_of(&self, other: &Host) -> PathBuf {
        self.fx
            .state
            .join("peers")
            .join(format!("{}.db", other.addr()))
    }

    fn pin_of(&self, other: &Host) -> PathBuf {
        self.fx
            .state
            .join("peers")
            .join(format!("{}.key", other.addr()))
    }
}

/// Three hosts on 127.0.0.1, .2 and .3, each on a port no socket of the machine uses, all
/// initialised (a signed database each) and serving.
fn three_hosts() -> Vec<Host> {
    let mut hosts: Vec<Host> = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
        .into_iter()
        .map(Host::new)
        .collect();
    // Ports handed out in this process: the tests run in parallel, and a port is free
    // again between the probe below and `serve` binding it.
    static TAKEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    for (i, h) in hosts.iter_mut().enumerate() {
        let ip = h.ip;
        let mut taken = TAKEN.lock().unwrap();
        // Bound to see that the port is free on that address, then let go for `serve`.
        let (_probe, port) = quiet(i as u16 + 1, &taken, |p| TcpListener::bind((ip, p)).ok());
        taken.push(port);
        h.port = port;
    }
    let list: Vec<String> = hosts.iter().map(Host::addr).collect();
    for h in &mut hosts {
        h.configure(&list);
        h.fx.init();
        h.serve();
    }
    hosts
}

/// The `peer` events of a watch, with every field checked against DESIGN: exactly
/// type, t, host, event, added, removed, changed, message.
fn peers(o: &Output) -> Vec<Value> {
    let lines = o.json();
    let events = of_type(&lines, "peer");
    assert_eq!(events.len(), lines.len(), "only peer events: {lines:?}");
    for e in &events {
        let mut keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["added", "changed", "event", "host", "message", "removed", "t", "type"],
            "{e}"
        );
        assert!(e["t"].is_i64() && e["message"].is_string(), "{e}");
    }
    events
}

/// Asserts one watch's exit status and, per neighbour in list order, (host, event,
/// [added, removed, changed]); returns the events.
fn expect(o: &Output, code: i32, want: &[(&Host, &str, [u64; 3])]) -> Vec<Value> {
    o.expect_code(code);
    let events = peers(o);
    let got: Vec<(String, String, [u64; 3])> = events
        .iter()
        .map(|e| {
            let n = |k: &str| e[k].as_u64().unwrap();
            (
                e["host"].as_str().unwrap().to_string(),
                e["event"].as_str().unwrap().to_string(),
                [n("added"), n("removed"), n("changed")],
            )
        })
        .collect();
    let want: Vec<(String, String, [u64; 3])> = want
        .iter()
        .map(|(h, ev, c)| (h.addr(), ev.to_string(), *c))
        .collect();
    assert_eq!(got, want, "{}", o.stdout_str());
    events
}

const ZERO: [u64; 3] = [0, 0, 0];

#[test]
fn three_hosts_watch_each_other() {
    let mut hosts = three_hosts();
    let (me, b, c) = (&hosts[0], &hosts[1], &hosts[2]);

    // First watch: both neighbours pinned; then nothing has moved.
    let first = expect(&me.watch(), 0, &[(b, "new", ZERO), (c, "new", ZERO)]);
    assert!(first
        .iter()
        .all(|e| e["message"].as_str().unwrap().contains("pinned")));
    let pin = std::fs::read_to_string(me.pin_of(b)).unwrap();
    assert_eq!(pin.trim().len(), 64, "{pin}");
    assert_eq!(
        std::fs::read(me.copy_of(b)).unwrap(),
        std::fs::read(b.fx.db()).unwrap(),
        "the copy is the database as served"
    );
    expect(
        &me.watch(),
        0,
        &[(b, "unchanged", ZERO), (c, "unchanged", ZERO)],
    );
    // Watching is mutual: the third host sees the other two the same way.
    expect(&c.watch(), 0, &[(me, "new", ZERO), (b, "new", ZERO)]);

    // A legitimate update on b: a changed, d added, b removed. The tree's root directory
    // is a record too, and its mtime moved: 1 added, 1 removed, 2 changed.
    std::fs::write(b.fx.tree.join("a"), "alpha, edited\n").unwrap();
    std::fs::write(b.fx.tree.join("d"), "delta\n").unwrap();
    std::fs::remove_file(b.fx.tree.join("b")).unwrap();
    let update = b.fx.run(&["--json", "update"]);
    assert!(update.code < 16, "update failed: {}", update.stderr_str());
    let events = expect(
        &me.watch(),
        1,
        &[(b, "changed", [1, 1, 2]), (c, "unchanged", ZERO)],
    );
    let msg = events[0]["message"].as_str().unwrap();
    assert!(msg.contains("1 added, 1 removed, 2 changed"), "{msg}");
    expect(
        &me.watch(),
        0,
        &[(b, "unchanged", ZERO), (c, "unchanged", ZERO)],
    );

    // c's database edited on disk: one byte flipped in the middle, then a database signed
    // by another key. Both are refused; the pinned copy stays byte for byte.
    let pinned = std::fs::read(me.copy_of(c)).unwrap();
    let genuine = std::fs::read(c.fx.db()).unwrap();
    let mut flipped = genuine.clone();
    flipped[genuine.len() / 2] ^= 0x01;
    std::fs::write(c.fx.db(), &flipped).unwrap();
    let events = expect(
        &me.watch(),
        4,
        &[(b, "unchanged", ZERO), (c, "bad_signature", ZERO)],
    );
    let msg = events[1]["message"].as_str().unwrap();
    assert!(msg.contains(&c.addr()) && msg.contains("refused"), "{msg}");
    assert_eq!(std::fs::read(me.copy_of(c)).unwrap(), pinned);
    let forger = Fixture::bare();
    std::fs::write(forger.tree.join("a"), "forged\n").unwrap();
    let forger_key = forger.dir.path().join("key");
    forger
        .run(&["keygen", "--out", forger_key.to_str().unwrap()])
        .expect_code(0);
    forger.write_config(
        &format!("[database]\nkey = {:?}\n", forger_key.to_str().unwrap()),
        "",
    );
    forger.init();
    std::fs::copy(forger.db(), c.fx.db()).unwrap();
    expect(
        &me.watch(),
        4,
        &[(b, "unchanged", ZERO), (c, "bad_signature", ZERO)],
    );
    assert_eq!(std::fs::read(me.copy_of(c)).unwrap(), pinned);
    assert!(
        !me.copy_of(c).with_extension("db.new").exists(),
        "the bad download is gone"
    );
    std::fs::write(c.fx.db(), &genuine).unwrap();
    expect(
        &me.watch(),
        0,
        &[(b, "unchanged", ZERO), (c, "unchanged", ZERO)],
    );

    // b re-keyed (a new key, its database written again with it, its server restarted):
    // key_changed at this watch and the next, its copy untouched, until the pin goes.
    let b_copy = std::fs::read(me.copy_of(b)).unwrap();
    hosts[1].stop();
    let b = &mut hosts[1];
    std::fs::remove_file(&b.key).unwrap();
    b.fx.run(&["keygen", "--out", b.key.to_str().unwrap()])
        .expect_code(0);
    std::fs::remove_file(b.fx.db()).unwrap();
    b.fx.init();
    b.serve();
    let (me, b, c) = (&hosts[0], &hosts[1], &hosts[2]);
    for _ in 0..2 {
        let events = expect(
            &me.watch(),
            4,
            &[(b, "key_changed", ZERO), (c, "unchanged", ZERO)],
        );
        let msg = events[0]["message"].as_str().unwrap();
        assert!(msg.contains(me.pin_of(b).to_str().unwrap()), "{msg}");
        assert_eq!(std::fs::read(me.copy_of(b)).unwrap(), b_copy);
    }
    std::fs::remove_file(me.pin_of(b)).unwrap();
    expect(&me.watch(), 0, &[(b, "new", ZERO), (c, "unchanged", ZERO)]);

    // c stopped: unreachable, and the others' reports are unaffected.
    hosts[2].stop();
    let (me, b, c) = (&hosts[0], &hosts[1], &hosts[2]);
    let events = expect(
        &me.watch(),
        2,
        &[(b, "unchanged", ZERO), (c, "unreachable", ZERO)],
    );
    let msg = events[1]["message"].as_str().unwrap();
    assert!(msg.contains(&c.addr()), "{msg}");

    // Text mode says the same in words (every byte printable, checked by the kit).
    let text = me.fx.run(&["watch-peers"]);
    text.expect_code(2);
    assert!(
        text.stdout_str()
            .contains(&format!("peer {}: unreachable", c.addr())),
        "{}",
        text.stdout_str()
    );
}

#[test]
fn a_host_not_in_the_list_watches_none() {
    let hosts = three_hosts();
    let outsider = Host::new("127.0.0.4");
    let list: Vec<String> = hosts.iter().map(Host::addr).collect();
    outsider.configure(&list);
    let o = outsider.watch();
    o.expect_code(0);
    let lines = o.json();
    assert!(of_type(&lines, "peer").is_empty(), "{lines:?}");
    assert_eq!(of_type(&lines, "warning").len(), 1, "{lines:?}");
}

#[test]
fn watch_peers_sends_peer_events_to_syslog() {
    let hosts = three_hosts();
    let me = &hosts[0];
    let sock_path = me.fx.dir.path().join("log.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    let cfg = std::fs::read_to_string(&me.fx.config).unwrap();
    let syslog = format!(
        "[output]\nsyslog = true\nsyslog_socket = {:?}\n",
        sock_path.to_str().unwrap()
    );
    std::fs::write(&me.fx.config, syslog + &cfg).unwrap();
    me.watch().expect_code(0);
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = sock.recv(&mut buf) {
        got.push(String::from_utf8(buf[..n].to_vec()).expect("UTF-8 datagram"));
    }
    let peers: Vec<&String> = got.iter().filter(|d| d.contains(" peer - ")).collect();
    assert_eq!(peers.len(), 2, "{got:#?}");
    for (d, h) in peers.iter().zip(&hosts[1..]) {
        // daemon (3) * 8 + warning (4)
        assert!(d.starts_with("<28>1 "), "{d}");
        assert!(d.contains(&format!("peer {}: new", h.addr())), "{d}");
    }
}

#[test]
fn run_watches_the_neighbours_at_start() {
    let mut hosts = three_hosts();
    // `run` may serve on this host's address itself.
    hosts[0].stop();
    let me = &hosts[0];
    let mut cfg = std::fs::read_to_string(&me.fx.config).unwrap();
    cfg = cfg.replace("group_size = 3\n", "group_size = 3\ninterval = \"1s\"\n");
    std::fs::write(&me.fx.config, cfg).unwrap();
    let mut child = Command::new(homeostat_bin())
        .arg("--config")
        .arg(&me.fx.config)
        .arg("--state-dir")
        .arg(&me.fx.state)
        .args(["--json", "run"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let daemon = Killed(child);
    // Lines arrive as the daemon writes them; a reader thread hands them over.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    let got = wait_for(Duration::from_secs(60), POLL, || {
        while let Ok(line) = rx.try_recv() {
            seen.extend(parse_json_lines(line.as_bytes(), "homeostat run"));
        }
        // Two watches: the first at start (new), then one interval later (unchanged).
        let p = of_type(&seen, "peer");
        (p.len() >= 4).then_some(p)
    })
    .expect("four peer events from run within 60 s");
    daemon.stop();
    let states: Vec<(&str, &str)> = got[..4]
        .iter()
        .map(|e| (e["host"].as_str().unwrap(), e["event"].as_str().unwrap()))
        .collect();
    let (b, c) = (hosts[1].addr(), hosts[2].addr());
    assert_eq!(
        states,
        [
            (b.as_str(), "new"),
            (c.as_str(), "new"),
            (b.as_str(), "unchanged"),
            (c.as_str(), "unchanged")
        ]
    );
}
