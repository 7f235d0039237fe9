#![cfg(target_os = "linux")]
//! `[[port]]` promises and `ports_changed`, end to end on loopback: a port the test
//! listens on keeps a `listening = true` promise and breaks a `listening = false` one; a
//! listener opened between two scans on one state directory is in the second scan's
//! `ports_changed` `opened`, and in `closed` at the scan after it is closed.
//!
//! Other sockets of the host come and go meanwhile (other tests): every assertion is about
//! this test's own ports, chosen so that no other socket of the host uses them.

use std::ffi::OsString;
use std::net::{TcpListener, UdpSocket};

use homeostat_tests::net::{quiet, quiet_listener};
use homeostat_tests::run::{homeostat_bin, json_scan, run_cmd, Output};
use homeostat_tests::serde_json::{json, Value};
use homeostat_tests::tempfile::TempDir;

fn of_type(o: &Output, t: &str) -> Vec<Value> {
    o.json().into_iter().filter(|v| v["type"] == t).collect()
}

fn classes(o: &Output) -> Vec<String> {
    let c = of_type(o, "classes");
    assert_eq!(c.len(), 1, "not one classes line:\n{}", o.stdout_str());
    c[0]["classes"]
        .as_array()
        .expect("classes array")
        .iter()
        .map(|x| x.as_str().expect("class string").to_owned())
        .collect()
}

/// The `port` event of promise `name`.
fn promise(o: &Output, name: &str) -> Value {
    let p: Vec<Value> = of_type(o, "port")
        .into_iter()
        .filter(|v| v["name"] == name)
        .collect();
    assert_eq!(
        p.len(),
        1,
        "not one port line for {name}:\n{}",
        o.stdout_str()
    );
    p[0].clone()
}

#[test]
fn promises_kept_and_broken() {
    let dir = TempDir::new().unwrap();
    let (tcp, p) = quiet_listener(1, &[]);
    let (udp, q) = quiet(2, &[p], |q| UdpSocket::bind(("127.0.0.1", q)).ok());
    // IPv6 alike, where the host has it.
    let v6 = TcpListener::bind(("::1", 0))
        .is_ok()
        .then(|| quiet(3, &[p, q], |r| TcpListener::bind(("::1", r)).ok()));
    let mut config = format!(
        "[[port]]\nname = \"tcp_up\"\nport = {p}\nlistening = true\n\
         [[port]]\nname = \"tcp_banned\"\nport = {p}\nproto = \"tcp\"\nlistening = false\n\
         [[port]]\nname = \"udp_up\"\nport = {q}\nproto = \"udp\"\n\
         [[port]]\nname = \"tcp_on_udp_port\"\nport = {q}\nproto = \"tcp\"\n"
    );
    if let Some((_, r)) = &v6 {
        config.push_str(&format!("[[port]]\nname = \"v6_up\"\nport = {r}\n"));
    }
    let o = json_scan(dir.path(), &config);
    let t = promise(&o, "tcp_up")["t"].clone();
    assert_eq!(
        promise(&o, "tcp_up"),
        json!({"type": "port", "t": t, "name": "tcp_up", "proto": "tcp", "port": p,
               "listening": true, "expected": true, "ok": true})
    );
    assert_eq!(
        promise(&o, "tcp_banned"),
        json!({"type": "port", "t": t, "name": "tcp_banned", "proto": "tcp", "port": p,
               "listening": true, "expected": false, "ok": false})
    );
    assert_eq!(promise(&o, "udp_up")["ok"], true);
    assert_eq!(promise(&o, "udp_up")["proto"], "udp");
    assert_eq!(promise(&o, "tcp_on_udp_port")["listening"], false);
    if v6.is_some() {
        assert_eq!(promise(&o, "v6_up")["ok"], true);
    } else {
        eprintln!("no IPv6 on this host: the ::1 promise is not tested");
    }
    let c = classes(&o);
    for want in [
        "tcp_up_ok",
        "tcp_banned_violated",
        "udp_up_ok",
        "tcp_on_udp_port_violated",
    ]
    .into_iter()
    .chain(v6.as_ref().map(|_| "v6_up_ok"))
    {
        assert!(c.iter().any(|x| x == want), "no {want} in {c:?}");
    }
    for not in ["tcp_up_violated", "tcp_banned_ok", "udp_up_violated"] {
        assert!(!c.iter().any(|x| x == not), "{not} in {c:?}");
    }
    // The first scan of a state directory has nothing to compare with.
    assert_eq!(of_type(&o, "ports_changed"), Vec::<Value>::new());
    // Broken promises do not change the exit status (checked by `scan`), and the text
    // rendering says which.
    let args: Vec<OsString> = vec![
        "--config".into(),
        dir.path().join("homeostat.toml").into(),
        "--state-dir".into(),
        dir.path().join("state").into(),
        "scan".into(),
    ];
    let text = run_cmd(homeostat_bin(), &args, &[]);
    text.expect_code(0);
    let want = format!("port tcp_banned: tcp/{p} listening, promised not listening: BROKEN");
    assert!(
        text.lines().contains(&want),
        "no {want:?} in\n{}",
        text.stdout_str()
    );

    drop((tcp, udp, v6));
    let o = json_scan(dir.path(), &config);
    assert_eq!(promise(&o, "tcp_up")["listening"], false);
    let c = classes(&o);
    let had_v6 = config.contains("v6_up");
    for want in ["tcp_up_violated", "tcp_banned_ok", "udp_up_violated"]
        .into_iter()
        .chain(had_v6.then_some("v6_up_violated"))
    {
        assert!(c.iter().any(|x| x == want), "no {want} in {c:?}");
    }
}

/// The `(proto, port, address)` entries of `list` (`opened` or `closed`) of every
/// `ports_changed` event that name `port`.
fn changed(o: &Output, list: &str, port: u16) -> Vec<Value> {
    of_type(o, "ports_changed")
        .iter()
        .flat_map(|v| {
            v[list]
                .as_array()
                .unwrap_or_else(|| panic!("no {list} array in {v}"))
                .clone()
        })
        .filter(|e| e["port"] == port)
        .collect()
}

#[test]
fn a_new_listener_is_in_ports_changed_and_goes_when_closed() {
    let dir = TempDir::new().unwrap();
    // The daemon's monitor is enough for the watch; no [[port]] is needed.
    let config = "[monitor]\ninterval = \"150s\"\n";
    let o = json_scan(dir.path(), config);
    assert_eq!(of_type(&o, "ports_changed"), Vec::<Value>::new());

    let (listener, p) = quiet_listener(4, &[]);
    let o = json_scan(dir.path(), config);
    let entry = json!({"proto": "tcp", "port": p, "address": "127.0.0.1"});
    assert_eq!(
        changed(&o, "opened", p),
        vec![entry.clone()],
        "\n{}",
        o.stdout_str()
    );
    assert_eq!(changed(&o, "closed", p), Vec::<Value>::new());
    assert!(classes(&o).iter().any(|c| c == "listening_ports_changed"));
    let ev = &of_type(&o, "ports_changed")[0];
    assert_eq!(
        ev.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["closed", "opened", "t", "type"]
    );

    // Nothing of this test's changed: no mention of its port.
    let o = json_scan(dir.path(), config);
    assert_eq!(changed(&o, "opened", p), Vec::<Value>::new());
    assert_eq!(changed(&o, "closed", p), Vec::<Value>::new());

    drop(listener);
    let o = json_scan(dir.path(), config);
    assert_eq!(
        changed(&o, "closed", p),
        vec![entry],
        "\n{}",
        o.stdout_str()
    );
    assert_eq!(changed(&o, "opened", p), Vec::<Value>::new());
    assert!(classes(&o).iter().any(|c| c == "listening_ports_changed"));
}

#[test]
fn bad_port_blocks_are_config_errors() {
    let dir = TempDir::new().unwrap();
    for (block, what) in [
        (
            "name = \"x\"\nport = 70000\n",
            "port: 70000 is not 1..65535",
        ),
        ("name = \"x y\"\nport = 22\n", "name:"),
        ("name = \"x\"\nport = 22\nproto = \"icmp\"\n", "proto:"),
    ] {
        let cfg = dir.path().join("bad.toml");
        std::fs::write(&cfg, format!("[[port]]\n{block}")).unwrap();
        let args: Vec<OsString> = vec![
            "--config".into(),
            cfg.into(),
            "--state-dir".into(),
            dir.path().join("state").into(),
            "scan".into(),
        ];
        let o = run_cmd(homeostat_bin(), &args, &[]);
        o.expect_code(16);
        let err = o.stderr_str();
        assert!(
            err.contains("[[port]] block 1") && err.contains(what),
            "{block}: {err}"
        );
    }
}
