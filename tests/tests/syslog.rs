#![cfg(target_os = "linux")]
//! `[output] syslog`: `scan` sends RFC 5424 datagrams to the configured socket, one per
//! finding (MSGID `file` for a tampered file), none for samples, and a file name with a
//! newline cannot make two datagrams or a newline in one.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use homeostat_tests::fixture::Fixture;

/// Every datagram waiting on `sock` (each read waits at most 2 s for the next).
fn drain(sock: &UnixDatagram) -> Vec<String> {
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = sock.recv(&mut buf) {
        got.push(String::from_utf8(buf[..n].to_vec()).expect("UTF-8 datagram"));
    }
    got
}

#[test]
fn scan_after_tampering_sends_file_datagrams() {
    let fx = Fixture::bare();
    std::fs::write(fx.tree.join("passwd"), "root:x:0:0\n").unwrap();
    let sock_path = fx.dir.path().join("log.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    let top = format!(
        "[monitor]\ninterval = \"1s\"\n[output]\nsyslog = true\nsyslog_socket = \"{}\"\nsyslog_facility = \"local1\"\n",
        sock_path.display()
    );
    fx.write_config(&top, "");
    fx.run(&["--json", "scan"]).expect_code(0);
    let first = drain(&sock);
    assert!(
        first.iter().all(|d| !d.contains(" sample - ")
            && !d.contains(" ports - ")
            && !d.contains(" classes - ")),
        "{first:#?}"
    );

    std::fs::write(fx.tree.join("passwd"), "root:x:0:0\nevil:x:0:0\n").unwrap();
    std::fs::write(fx.tree.join("new\nline <13>1 forged"), "x").unwrap();
    let o = fx.run(&["--json", "scan"]);
    assert_eq!(o.code & 16, 0, "{}", o.stderr_str());
    let got = drain(&sock);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let host = host.trim();
    let files: Vec<&String> = got.iter().filter(|d| d.contains(" file - ")).collect();
    assert!(files.len() >= 2, "{got:#?}");
    for d in &got {
        // local1 (17) * 8 + warning (4) or notice (5).
        assert!(d.starts_with("<140>1 ") || d.starts_with("<141>1 "), "{d}");
        assert!(!d.contains('\n') && !d.contains('\r'), "{d:?}");
        let f: Vec<&str> = d.splitn(8, ' ').collect();
        assert_eq!(f.len(), 8, "{d}");
        assert!(f[1].ends_with('Z') && f[1].len() == 20, "{d}");
        assert_eq!(f[2], host, "{d}");
        assert_eq!(f[3], "homeostat");
        assert!(f[4].parse::<u32>().is_ok(), "{d}");
        assert_eq!(f[6], "-");
        assert!(
            !["sample", "ports", "classes", "summary"].contains(&f[5]),
            "{d}"
        );
    }
    assert!(
        files
            .iter()
            .any(|d| d.contains("ALERT: Hash (sha256) for ") && d.contains("/passwd changed!")),
        "{got:#?}"
    );
    let new: Vec<_> = files
        .iter()
        .filter(|d| d.contains("New file found"))
        .collect();
    assert_eq!(new.len(), 1, "{got:#?}");
    assert!(new[0].ends_with("/new\\x0aline <13>1 forged"), "{}", new[0]);
}

#[test]
fn unreachable_socket_is_a_warning_not_a_failure() {
    let fx = Fixture::bare();
    std::fs::write(fx.tree.join("a"), "1").unwrap();
    let top = format!(
        "[output]\nsyslog = true\nsyslog_socket = \"{}/nobody-listens.sock\"\n",
        fx.dir.path().display()
    );
    fx.write_config(&top, "");
    fx.run(&["scan"]).expect_code(0);
    std::fs::write(fx.tree.join("a"), "2").unwrap();
    let o = fx.run(&["scan"]);
    assert_eq!(o.code, 4, "{}", o.stderr_str());
    let err = o.stderr_str();
    assert_eq!(err.matches("syslog socket unreachable").count(), 1, "{err}");
}
