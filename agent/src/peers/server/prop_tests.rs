//! Property tests of the peer server's request handling: the `/v1/file?path=` query of
//! any bytes is refused (nothing is served outside a verified tree) with a message that
//! carries the decoded path escaped; and arbitrary bytes sent to a server listening on
//! 127.0.0.1 get an HTTP answer or a closed connection, never a crash, after which the
//! server still answers.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;

use super::file::{open_matching, Refused};
use super::Shared;
use crate::config::peers::PeerSettings;
use crate::files::signing::Keys;
use crate::output::escape::escape;
use crate::prop_tests::cases;

const ROOT: &str = "/nonexistent-tree";

fn shared(state: &std::path::Path) -> Shared {
    Shared {
        state: state.to_owned(),
        keys: Keys::default(),
        roots: vec![ROOT.as_bytes().to_vec()],
        settings: PeerSettings::default(),
    }
}

fn percent_encode(b: &[u8], all: bool) -> String {
    b.iter()
        .map(|&c| match c {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'/' | b'.' | b'-' | b'_' if !all => {
                (c as char).to_string()
            }
            _ => format!("%{c:02X}"),
        })
        .collect()
}

/// A server on 127.0.0.1 for the whole test run, on its own runtime thread, with an
/// empty state directory (no database: every file is refused).
fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let state = tempfile::tempdir().unwrap().keep();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = super::runtime().unwrap();
            rt.block_on(async move {
                let l = super::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
                tx.send(l.local_addr().unwrap()).unwrap();
                super::serve(l, Arc::new(shared(&state))).await;
            });
        });
        rx.recv().unwrap()
    })
}

/// Sends `bytes` and reads the answer to the end. The sending side stays open (hyper
/// drops a connection whose client half-closes before it answers); the server ends it
/// after one answer, or at its 10 s head deadline.
fn exchange(bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(server()).unwrap();
    // Generous: the server answers at once; this only bounds a broken one.
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    // The server may answer and close before reading everything (a refused head).
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let _ = s.shutdown(Shutdown::Both);
    out
}

fn request() -> impl Strategy<Value = Vec<u8>> {
    let valid = prop_oneof![
        Just("GET /v1/key HTTP/1.1\r\nHost: a\r\n\r\n".to_owned()),
        Just("GET /v1/files.db HTTP/1.1\r\nHost: a\r\n\r\n".to_owned()),
        Just("GET /v1/journal HTTP/1.0\r\n\r\n".to_owned()),
        vec(any::<u8>(), 0..30).prop_map(|p| format!(
            "GET /v1/file?path={} HTTP/1.1\r\nHost: a\r\n\r\n",
            percent_encode(&p, false)
        )),
        Just("POST /v1/key HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc".to_owned()),
    ];
    let byte = prop_oneof![
        Just(b'\r'),
        Just(b'\n'),
        Just(b' '),
        Just(b':'),
        Just(b'%'),
        Just(0u8),
        Just(0xff),
        any::<u8>()
    ];
    prop_oneof![
        3 => (valid, vec((any::<usize>(), byte, any::<bool>()), 0..6)).prop_map(|(r, edits)| {
            let mut b = r.into_bytes();
            for (at, x, insert) in edits {
                let i = at % (b.len() + 1);
                if insert || i == b.len() { b.insert(i, x) } else { b[i] = x }
            }
            b
        }),
        1 => vec(any::<u8>(), 0..300),
    ]
}

proptest! {
    /// Any query: refused, and a well-formed `path=` is named, escaped, in the refusal.
    #[test]
    fn prop_peer_file_query_is_refused_and_escaped(
        query in prop_oneof!["\\PC{0,40}", "(path=|&|%[0-9a-fA-F]{0,2}|[a-z/.]){0,12}"],
        path in vec(any::<u8>(), 0..40),
        all in any::<bool>(),
    ) {
        let d = tempfile::tempdir().unwrap();
        let s = shared(d.path());
        match open_matching(&s, Some(&query)) {
            Ok(_) => prop_assert!(false, "{:?} was served", query),
            Err(Refused::BadRequest(m) | Refused::NotServed(m)) => {
                prop_assert!(!m.chars().any(char::is_control), "{:?}", m);
            }
        }
        let mut full = ROOT.as_bytes().to_vec();
        full.push(b'/');
        full.extend_from_slice(&path);
        let q = format!("path={}", percent_encode(&full, all));
        match open_matching(&s, Some(&q)) {
            Err(Refused::NotServed(m)) => prop_assert!(m.starts_with(&format!("{}: ", escape(&full))), "{:?}", m),
            Err(Refused::BadRequest(m)) => prop_assert!(false, "{:?}: {}", q, m),
            Ok(_) => prop_assert!(false, "{:?} was served", q),
        }
    }
}

proptest! {
    #![proptest_config(cases(64))]

    /// Raw bytes on a socket: an HTTP/1.x answer or nothing; the server answers the next
    /// well-formed request.
    #[test]
    fn prop_peer_server_survives_raw_requests(mut req in request()) {
        // A head always ends, so that the server answers now rather than at its deadline
        // (leading blank lines are skipped by HTTP parsers: one byte of something first).
        if req.iter().all(u8::is_ascii_whitespace) {
            req.insert(0, b'X');
        }
        req.extend_from_slice(b"\r\n\r\n");
        let answer = exchange(&req);
        prop_assert!(answer.is_empty() || answer.starts_with(b"HTTP/1.1 ") || answer.starts_with(b"HTTP/1.0 "), "{:?}", String::from_utf8_lossy(&answer));
        let next = exchange(b"GET /v1/key HTTP/1.1\r\nHost: a\r\n\r\n");
        prop_assert!(next.starts_with(b"HTTP/1.1 404 "), "{:?}", String::from_utf8_lossy(&next));
    }
}
