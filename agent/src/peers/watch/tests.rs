//! One watch against a stand-in neighbour: a tiny HTTP server whose key and database
//! the test swaps between watches.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;

use ed25519_dalek::SigningKey;
use homeostat_core::digest::{digest, Algorithm};
use homeostat_core::fim::attrs::Attrs;
use homeostat_core::fim::db::{Header, TreeInfo};
use homeostat_core::fim::{Entry, Kind, Meta};

use super::*;
use crate::files::database::DbWriter;

/// What the stand-in serves, by request target.
type Routes = Arc<Mutex<HashMap<&'static str, Vec<u8>>>>;

/// Serves `routes` on a loopback port until the test process ends; 404 for the rest.
fn neighbour_at() -> (String, Routes) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let routes: Routes = Arc::default();
    let served = routes.clone();
    thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && s.read(&mut b).unwrap_or(0) == 1 {
                head.push(b[0]);
            }
            let target = String::from_utf8_lossy(&head)
                .split(' ')
                .nth(1)
                .unwrap_or("")
                .to_string();
            let body = served.lock().unwrap().get(target.as_str()).cloned();
            let reply = match body {
                Some(body) => {
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend(body);
                    r
                }
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
            };
            let _ = s.write_all(&reply);
        }
    });
    (addr, routes)
}

fn file(path: &str, content: &str) -> Entry<Vec<u8>> {
    let mut meta = Meta::empty(Kind::File);
    meta.mode = 0o644;
    meta.size = content.len() as u64;
    meta.content = Some(digest(Algorithm::Sha256, content.as_bytes()));
    Entry {
        path: path.as_bytes().to_vec(),
        target: None,
        meta,
    }
}

/// A database of one tree `/t` holding `files` (name, content; in path order), signed
/// with `key` when given.
fn database(dir: &Path, key: Option<&SigningKey>, files: &[(&str, &str)]) -> Vec<u8> {
    let mut trees = heapless::Vec::new();
    trees
        .push(TreeInfo {
            root: b"/t",
            algorithm: Algorithm::Sha256.id(),
            attrs: Attrs::ALL.bits(),
        })
        .unwrap();
    let header = Header {
        created: 1,
        host: "neighbour",
        trees,
    };
    let dest = dir.join("made.db");
    let mut w = DbWriter::create(&dest, &header).unwrap();
    for (name, content) in files {
        w.push(0, &file(&format!("/t/{name}"), content)).unwrap();
    }
    let keys = Keys {
        signing: key.cloned(),
        verifying: None,
    };
    w.commit(&keys, None).unwrap();
    std::fs::read(&dest).unwrap()
}

fn serve(routes: &Routes, key: &SigningKey, db: Vec<u8>) {
    let mut r = routes.lock().unwrap();
    r.insert(
        "/v1/key",
        format!("{}\n", key_hex(&key.verifying_key())).into_bytes(),
    );
    r.insert("/v1/files.db", db);
}

/// One watch of the single neighbour `host`.
fn once(host: &str, state: &Path) -> Found {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let quick = Timeouts {
        connect: Duration::from_secs(5),
        idle: Duration::from_secs(5),
        total: Duration::from_secs(30),
    };
    let mut w = rt.block_on(watch(&[host.to_string()], state, quick));
    assert_eq!(w.len(), 1);
    w.pop().unwrap().unwrap()
}

fn counts(added: u64, removed: u64, changed: u64) -> Counts {
    Counts {
        added,
        removed,
        changed,
    }
}

#[test]
fn new_then_unchanged_then_changed_with_counts() {
    let (host, routes) = neighbour_at();
    let (state, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let key = SigningKey::from_bytes(&[7; 32]);
    serve(
        &routes,
        &key,
        database(work.path(), Some(&key), &[("a", "1"), ("b", "2")]),
    );
    let f = once(&host, state.path());
    assert_eq!(
        (f.state, f.counts),
        (PeerState::New, Counts::default()),
        "{f:?}"
    );
    let pins = Pins::open(state.path()).unwrap();
    assert_eq!(pins.pinned(&host).unwrap(), Pin::Key(key.verifying_key()));
    assert!(pins.copy(&host).exists() && !pins.download(&host).exists());

    let f = once(&host, state.path());
    assert_eq!(f.state, PeerState::Unchanged, "{f:?}");

    let db = database(
        work.path(),
        Some(&key),
        &[("a", "one"), ("c", "3"), ("d", "4")],
    );
    serve(&routes, &key, db.clone());
    let f = once(&host, state.path());
    assert_eq!(
        (f.state, f.counts),
        (PeerState::Changed, counts(2, 1, 1)),
        "{f:?}"
    );
    assert!(
        f.message.contains("2 added, 1 removed, 1 changed"),
        "{}",
        f.message
    );
    assert_eq!(
        std::fs::read(pins.copy(&host)).unwrap(),
        db,
        "the copy is replaced"
    );
}

#[test]
fn forged_or_unsigned_databases_are_refused_and_the_copy_kept() {
    let (host, routes) = neighbour_at();
    let (state, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let key = SigningKey::from_bytes(&[7; 32]);
    let pins = Pins::open(state.path()).unwrap();

    serve(&routes, &key, database(work.path(), None, &[("a", "1")]));
    let f = once(&host, state.path());
    assert_eq!(
        f.state,
        PeerState::BadSignature,
        "unsigned, first fetch: {f:?}"
    );
    assert_eq!(pins.pinned(&host).unwrap(), Pin::None, "nothing pinned");
    assert!(!pins.copy(&host).exists() && !pins.download(&host).exists());

    serve(
        &routes,
        &key,
        database(work.path(), Some(&key), &[("a", "1")]),
    );
    assert_eq!(once(&host, state.path()).state, PeerState::New);
    let kept = std::fs::read(pins.copy(&host)).unwrap();

    let mut forged = database(work.path(), Some(&key), &[("a", "2")]);
    let middle = forged.len() / 2;
    forged[middle] ^= 1;
    let other = SigningKey::from_bytes(&[9; 32]);
    for (what, db) in [
        ("a flipped byte", forged),
        (
            "another key's signature",
            database(work.path(), Some(&other), &[("a", "2")]),
        ),
        ("unsigned", database(work.path(), None, &[("a", "2")])),
        ("not a database", b"<html>hello</html>".to_vec()),
    ] {
        serve(&routes, &key, db);
        let f = once(&host, state.path());
        assert_eq!(f.state, PeerState::BadSignature, "{what}: {f:?}");
        assert!(
            f.message.contains("refused at byte"),
            "{what}: {}",
            f.message
        );
        assert_eq!(std::fs::read(pins.copy(&host)).unwrap(), kept, "{what}");
        assert!(
            !pins.download(&host).exists(),
            "{what}: the bad download is deleted"
        );
    }
}

#[test]
fn a_changed_key_stays_changed_until_the_pin_is_removed() {
    let (host, routes) = neighbour_at();
    let (state, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (key, other) = (
        SigningKey::from_bytes(&[7; 32]),
        SigningKey::from_bytes(&[9; 32]),
    );
    let pins = Pins::open(state.path()).unwrap();
    serve(
        &routes,
        &key,
        database(work.path(), Some(&key), &[("a", "1")]),
    );
    assert_eq!(once(&host, state.path()).state, PeerState::New);
    let kept = std::fs::read(pins.copy(&host)).unwrap();

    serve(
        &routes,
        &other,
        database(work.path(), Some(&other), &[("a", "2")]),
    );
    for _ in 0..2 {
        let f = once(&host, state.path());
        assert_eq!(f.state, PeerState::KeyChanged, "{f:?}");
        assert!(
            f.message.contains(&key_hex(&other.verifying_key())),
            "{}",
            f.message
        );
        assert_eq!(std::fs::read(pins.copy(&host)).unwrap(), kept);
    }
    routes
        .lock()
        .unwrap()
        .insert("/v1/key", b"\x1b[2J\nforged line\n".to_vec());
    let f = once(&host, state.path());
    assert_eq!(f.state, PeerState::KeyChanged, "{f:?}");
    assert!(f.message.contains("serves no valid key"), "{}", f.message);
    assert!(!f.message.contains(char::is_control), "{:?}", f.message);

    serve(
        &routes,
        &other,
        database(work.path(), Some(&other), &[("a", "2")]),
    );
    std::fs::remove_file(pins.key_file(&host)).unwrap();
    let f = once(&host, state.path());
    assert_eq!(
        f.state,
        PeerState::New,
        "re-pinned after the operator removed the pin: {f:?}"
    );
    assert_eq!(pins.pinned(&host).unwrap(), Pin::Key(other.verifying_key()));
}

#[test]
fn refused_missing_or_garbled_answers_are_unreachable() {
    let (host, routes) = neighbour_at();
    let state = tempfile::tempdir().unwrap();
    let f = once(&host, state.path());
    assert_eq!(f.state, PeerState::Unreachable, "404 for the key: {f:?}");
    assert!(f.message.contains("HTTP status 404"), "{}", f.message);

    let key = SigningKey::from_bytes(&[7; 32]);
    routes
        .lock()
        .unwrap()
        .insert("/v1/key", key_hex(&key.verifying_key()).into_bytes());
    let f = once(&host, state.path());
    assert_eq!(
        f.state,
        PeerState::Unreachable,
        "404 for the database: {f:?}"
    );
    assert!(f.message.contains("/v1/files.db"), "{}", f.message);

    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let f = once(&closed, state.path());
    assert_eq!(f.state, PeerState::Unreachable, "{f:?}");
    assert!(f.message.contains(&closed), "{}", f.message);
}

#[test]
fn a_watch_reports_every_neighbour_in_list_order() {
    let (a, routes_a) = neighbour_at();
    let (b, _routes_b) = neighbour_at();
    let (state, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let key = SigningKey::from_bytes(&[7; 32]);
    serve(
        &routes_a,
        &key,
        database(work.path(), Some(&key), &[("a", "1")]),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let w = rt.block_on(watch(
        &[b.clone(), a.clone()],
        state.path(),
        Timeouts::PEERS,
    ));
    let seen: Vec<_> = w
        .iter()
        .map(|r| r.as_ref().map(|f| (f.host.clone(), f.state)))
        .collect();
    assert_eq!(
        seen,
        [Ok((b, PeerState::Unreachable)), Ok((a, PeerState::New))]
    );
}

#[test]
fn run_watches_once_hosts_are_set_and_again_at_each_change() {
    let (host, routes) = neighbour_at();
    let (state, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let key = SigningKey::from_bytes(&[7; 32]);
    serve(
        &routes,
        &key,
        database(work.path(), Some(&key), &[("a", "1")]),
    );
    let me = "127.0.0.1:1".to_string();
    let settings = |interval: u64| PeerSettings {
        hosts: vec![me.clone(), host.clone()],
        me: Some(me.clone()),
        group_size: 2,
        interval: Duration::from_secs(interval),
        ..PeerSettings::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (tx, rx) = tokio::sync::watch::channel(None);
        let mut watches = every(rx, state.path().to_owned());
        // An hour apart: the second watch comes only from the change of settings.
        let bound = Duration::from_secs(60);
        for (interval, want) in [(3600, PeerState::New), (7200, PeerState::Unchanged)] {
            tx.send(Some(settings(interval))).unwrap();
            let w = tokio::time::timeout(bound, watches.recv())
                .await
                .expect("a watch after the settings changed")
                .expect("the watch task runs");
            let states: Vec<_> = w.into_iter().map(|r| r.unwrap().state).collect();
            assert_eq!(states, [want]);
        }
    });
}
