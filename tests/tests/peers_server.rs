#![cfg(target_os = "linux")]
//! `homeostat serve`: the neighbourhood watch's read-only HTTP/1.1 server, as a real
//! process on loopback. The key, the signed database and the journal byte for byte; a
//! watched file only while it matches the database; and the hostile clients of the
//! issue: a client outside `allow` (403, one log line), `..` paths and unwatched files
//! (never bytes), POST (405), a 10 MiB body (413), a head over 8 KiB (431), and 50 slow
//! plus 500 idle connections that must not keep an allowed client waiting 5 s; and a
//! client that never finishes its request head is closed 10 s after accept.

use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use homeostat_tests::fixture::Fixture;
use homeostat_tests::rawhttp::{self, connect, connect_from, exchange, percent_encode, Reply};
use homeostat_tests::served::Served;

/// A host: a tree with a few files, a signing key, a database, and its server.
struct Host {
    fx: Fixture,
    public_key: String,
    served: Served,
}

/// A file name no client may get wrong: a byte that is not UTF-8, a space, a comma.
const ODD_NAME: &[u8] = b"caf\xe9 x,y";

/// The key's file, beside the tree.
fn key_path(fx: &Fixture) -> std::path::PathBuf {
    fx.dir.path().join("db.key")
}

/// The config: the tree, the signing key, and `[peers]` listening at `listen`.
fn configure(fx: &Fixture, listen: &str, peers_extra: &str) {
    fx.write_config(
        &format!(
            "[database]\nkey = \"{}\"\n[peers]\nlisten = \"{listen}\"\nallow = [\"127.0.0.1\"]\n{peers_extra}\n",
            key_path(fx).display()
        ),
        "",
    );
}

/// A tree with a few files, a signing key and a database; the public key in hex.
fn prepared(peers_extra: &str) -> (Fixture, String) {
    let fx = Fixture::bare();
    std::fs::write(fx.tree.join("a.txt"), b"alpha contents\n").unwrap();
    std::fs::write(fx.tree.join("c.txt"), b"charlie contents\n").unwrap();
    std::fs::create_dir(fx.tree.join("sub")).unwrap();
    std::fs::write(fx.tree.join("sub/b"), b"bravo contents\n").unwrap();
    std::fs::write(fx.path(ODD_NAME), b"odd contents\n").unwrap();
    std::fs::write(fx.scratch.join("unwatched"), b"unwatched contents\n").unwrap();
    let kg = fx.run(&["keygen", "--out", key_path(&fx).to_str().unwrap()]);
    kg.expect_code(0);
    let public_key = kg
        .stdout_str()
        .lines()
        .find_map(|l| l.strip_prefix("public key: ").map(str::to_owned))
        .expect("keygen prints the public key");
    configure(&fx, "127.0.0.1:0", peers_extra);
    fx.init();
    (fx, public_key)
}

impl Host {
    fn new(peers_extra: &str) -> Host {
        let (fx, public_key) = prepared(peers_extra);
        let served = Served::start(&fx.config, &fx.state);
        Host {
            fx,
            public_key,
            served,
        }
    }

    fn port(&self) -> u16 {
        self.served.port
    }

    fn get(&self, target: &str) -> Reply {
        rawhttp::get(self.port(), target)
    }

    /// `/v1/file?path=` with every byte of the absolute path percent-encoded.
    fn file_target(&self, abs: &[u8]) -> String {
        format!("/v1/file?path={}", percent_encode(abs))
    }

    fn get_file(&self, abs: &[u8]) -> Reply {
        self.get(&self.file_target(abs))
    }

    /// Every log line has been read once the line of a later refusal is: the server
    /// writes a refusal's line before its answer, and requests here come one by one.
    fn sync_log(&self, marker: &str) {
        let target = format!("/v1/sync-{marker}");
        assert_eq!(self.get(&target).status, 404);
        self.served.await_line(&target);
    }
}

/// The status, and that none of `secrets` appears in the body.
fn refused(r: &Reply, secrets: &[&[u8]]) -> u16 {
    for s in secrets {
        assert!(
            !r.body.windows(s.len()).any(|w| w == *s),
            "the answer ({} {}) holds a file's bytes",
            r.status,
            r.head
        );
    }
    r.status
}

#[test]
fn serves_key_database_journal_and_matching_files() {
    let mut h = Host::new("");
    let key = h.get("/v1/key");
    assert_eq!(key.status, 200, "{}", key.head);
    assert_eq!(key.body, format!("{}\n", h.public_key).as_bytes());

    let db = h.get("/v1/files.db");
    assert_eq!(db.status, 200);
    assert_eq!(
        db.body,
        std::fs::read(h.fx.db()).unwrap(),
        "files.db as on disk"
    );

    // The journal (written by the agent's journal sink); absent, it is a 404.
    let journal = h.fx.state.join("journal.jsonl");
    if !journal.exists() {
        assert_eq!(h.get("/v1/journal").status, 404);
        std::fs::write(&journal, b"{\"seq\":1}\n{\"seq\":2}\n").unwrap();
    }
    let j = h.get("/v1/journal");
    assert_eq!(j.status, 200);
    assert_eq!(
        j.body,
        std::fs::read(&journal).unwrap(),
        "the journal as on disk"
    );

    for (rel, content) in [
        (&b"a.txt"[..], &b"alpha contents\n"[..]),
        (b"sub/b", b"bravo contents\n"),
        (ODD_NAME, b"odd contents\n"),
    ] {
        let r = h.get_file(&h.fx.abs(rel));
        assert_eq!(
            r.status,
            200,
            "{}: {}",
            String::from_utf8_lossy(rel),
            r.head
        );
        assert_eq!(r.body, content);
    }

    let mut refusals = 0;
    // Changed since the database was written: no bytes, old or new.
    std::fs::write(h.fx.tree.join("c.txt"), b"CHANGED\n").unwrap();
    let r = h.get_file(&h.fx.abs(b"c.txt"));
    assert_eq!(refused(&r, &[b"CHANGED", b"charlie"]), 404);
    refusals += 1;
    // In the tree but not in the database.
    std::fs::write(h.fx.tree.join("new.txt"), b"new contents\n").unwrap();
    assert_eq!(
        refused(&h.get_file(&h.fx.abs(b"new.txt")), &[b"new contents"]),
        404
    );
    refusals += 1;
    // Outside every tree.
    let outside = h.fx.scratch.join("unwatched");
    let r = h.get_file(outside.as_os_str().as_bytes());
    assert_eq!(refused(&r, &[b"unwatched contents"]), 404);
    refusals += 1;
    assert_eq!(refused(&h.get_file(b"/etc/passwd"), &[b"root:"]), 404);
    refusals += 1;
    // A directory of the database swapped for a symlink to a copy: the content still
    // matches, the path no longer is what was recorded.
    std::fs::rename(h.fx.tree.join("sub"), h.fx.tree.join("sub.real")).unwrap();
    std::os::unix::fs::symlink("sub.real", h.fx.tree.join("sub")).unwrap();
    assert_eq!(refused(&h.get_file(&h.fx.abs(b"sub/b")), &[b"bravo"]), 404);
    refusals += 1;

    h.sync_log("basic");
    let lines = h.served.lines_about(" 404 GET /v1/file");
    assert_eq!(
        lines.len(),
        refusals,
        "one log line per refusal:\n{lines:#?}"
    );
    assert!(lines.iter().all(|l| l.contains("127.0.0.1:")), "{lines:#?}");
    assert!(
        h.served
            .lines()
            .iter()
            .any(|l| l.contains("caf") || l.contains("sub/b")),
        "the refused path is named"
    );
    assert!(
        h.served.child.0.try_wait().unwrap().is_none(),
        "still serving"
    );
}

#[test]
fn hostile_clients_are_refused_and_do_not_stop_the_server() {
    let mut h = Host::new("max_connections = 64");
    let secrets: [&[u8]; 4] = [
        b"alpha contents",
        b"bravo contents",
        b"unwatched contents",
        b"root:",
    ];

    // Outside `allow`: 403 at accept, and exactly one log line naming the client.
    let outsider = connect_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9)), h.port());
    let r = exchange(outsider, b"GET /v1/key HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("an answer to the outsider");
    assert_eq!(r.status, 403, "{}", r.head);
    assert!(!String::from_utf8_lossy(&r.body).contains(&h.public_key));
    h.sync_log("outsider");
    let about = h.served.lines_about("127.0.0.9:");
    assert_eq!(about.len(), 1, "one log line for the outsider: {about:#?}");

    // `..`, relative, NUL and bad escapes, and files nobody watches: never bytes.
    let tree = h.fx.tree_str().to_owned();
    let dotdot = [
        h.file_target(format!("{tree}/sub/../a.txt").as_bytes()),
        format!("/v1/file?path={tree}/sub/../a.txt"),
        format!("/v1/file?path={tree}/sub/%2e%2e/a.txt"),
        h.file_target(format!("{tree}/../scratch/unwatched").as_bytes()),
        h.file_target(format!("{tree}/./a.txt").as_bytes()),
        h.file_target(b"a.txt"),
        h.file_target(format!("{tree}/a.txt\0").as_bytes()),
        format!("/v1/file?path={tree}/a.txt%"),
        format!("/v1/file?path={tree}/a.txt%zz"),
        "/v1/file".to_string(),
        "/v1/../v1/key".to_string(),
        h.file_target(b"/etc/passwd"),
        h.file_target(h.fx.scratch.join("unwatched").as_os_str().as_bytes()),
        h.file_target(format!("{tree}/sub").as_bytes()),
    ];
    for t in &dotdot {
        let s = refused(&h.get(t), &secrets);
        assert!(s == 404 || s == 400, "{t}: {s}");
    }

    // POST: 405.
    let r = exchange(
        connect(h.port()),
        b"POST /v1/key HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
    )
    .expect("an answer to POST");
    assert_eq!(r.status, 405, "{}", r.head);

    // A 10 MiB body: 413, read while the body is still being sent.
    let mut req =
        b"GET /v1/key HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10485760\r\n\r\n".to_vec();
    req.resize(req.len() + 10 * 1024 * 1024, b'x');
    let r = exchange(connect(h.port()), &req).expect("an answer to the 10 MiB body");
    assert_eq!(r.status, 413, "{}", r.head);

    // A head over 8 KiB: 431.
    let mut head = b"GET /v1/key HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ".to_vec();
    head.resize(9 * 1024, b'p');
    head.extend_from_slice(b"\r\n\r\n");
    let r = exchange(connect(h.port()), &head).expect("an answer to the long head");
    assert_eq!(r.status, 431, "{}", r.head);

    // The 431 is hyper's answer, logged once the connection has ended: wait for each.
    for what in [" 405 POST /v1/key", " 413 GET /v1/key", " 431 "] {
        h.served.await_line(what);
        let lines = h.served.lines_about(what);
        assert_eq!(lines.len(), 1, "{what}: {lines:#?}");
    }

    // 500 idle connections and 50 clients sending a head a byte at a time, all at once:
    // an allowed client is still served within 5 s.
    let idle: Vec<TcpStream> = (0..500).map(|_| connect(h.port())).collect();
    let slow: Vec<TcpStream> = (0..50).map(|_| connect(h.port())).collect();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| drip(&slow, &stop));
        let start = Instant::now();
        let db = h.get("/v1/files.db");
        let took = start.elapsed();
        stop.store(true, Ordering::Relaxed);
        assert_eq!(db.status, 200, "{}", db.head);
        assert_eq!(db.body, std::fs::read(h.fx.db()).unwrap());
        assert!(
            took < Duration::from_secs(5),
            "served in {took:?} beside 550 hostile connections"
        );
    });
    drop(idle);
    drop(slow);
    assert!(
        h.served.child.0.try_wait().unwrap().is_none(),
        "still serving"
    );
    let key = h.get("/v1/key");
    assert_eq!(key.status, 200, "served after the hostile clients left");
}

/// Sends a request head one byte per 100 ms on each of `slow` until `stop`.
fn drip(slow: &[TcpStream], stop: &AtomicBool) {
    use std::io::Write;
    let head = b"GET /v1/key HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: yes\r\n\r\n";
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) && i < head.len() {
        for mut s in slow {
            // Evicted connections fail: that is the server making room.
            let _ = s.write_all(&head[i..=i]);
        }
        i += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_client_without_its_request_head_is_closed_10_s_after_accept() {
    use std::io::{Read, Write};
    let h = Host::new("");
    let start = Instant::now();
    let mut s = connect(h.port());
    s.write_all(b"GET /v1/key HT").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut buf = [0u8; 256];
    let n = match s.read(&mut buf) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
        Err(e) => panic!("waiting for the server to close: {e}"),
    };
    assert_eq!(n, 0, "closed without an answer: {:?}", &buf[..n]);
    // The deadline runs from accept, which comes after `start`.
    assert!(
        start.elapsed() >= Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    let line = h.served.await_line("no request head within 10 s");
    assert!(line.contains("127.0.0.1:"), "{line}");
    assert_eq!(h.get("/v1/key").status, 200, "still serving");
}

#[test]
fn run_serves_too_and_a_taken_address_exits_18() {
    let (fx, public_key) = prepared("");
    let served = Served::start_command(&fx.config, &fx.state, "run");
    let key = rawhttp::get(served.port, "/v1/key");
    assert_eq!(key.status, 200, "{}", key.head);
    assert_eq!(key.body, format!("{public_key}\n").as_bytes());
    let db = rawhttp::get(served.port, "/v1/files.db");
    assert_eq!(db.status, 200, "{}", db.head);
    assert!(db.body.starts_with(b"HMSTDB"), "a database");
    drop(served);

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    configure(&fx, &addr, "");
    for command in ["serve", "run"] {
        let o = fx.run(&[command]);
        o.expect_code(18);
        assert!(
            o.stderr_str().contains(&format!("cannot listen on {addr}")),
            "{command}: {}",
            o.stderr_str()
        );
    }
}
