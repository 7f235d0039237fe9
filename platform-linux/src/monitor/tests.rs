//! Unit tests of the monitor's shared helpers.

use super::*;

#[test]
fn printable_escapes() {
    assert_eq!(printable(b"ab c~"), "ab c~");
    assert_eq!(printable(b"\x00\n\x7f\xff"), "\\x00\\x0a\\x7f\\xff");
    assert_eq!(printable(b"DOMAIN\\user"), "DOMAIN\\x5cuser");
}

/// Hermetic: every feed reads from a directory that does not exist.
#[cfg(target_os = "linux")]
fn nowhere(tcpdump: bool) -> Monitor {
    let none = std::path::PathBuf::from("/nonexistent/homeostat-test");
    let config = MonitorConfig {
        tcpdump,
        proc_root: none.clone(),
        utmp: none.join("utmp"),
        passwd: none.join("passwd"),
        disk: none,
        ..Default::default()
    };
    let procs = procs::Processes::new(&config.proc_root, &config.passwd);
    let sockets = net::Sockets::new(&config.proc_root);
    let system = system::System::new(&config.proc_root, &config.disk, &config.utmp);
    Monitor::build(config, procs, sockets, system, MISSING_TCPDUMP).unwrap()
}

#[cfg(target_os = "linux")]
const MISSING_TCPDUMP: &str = "/nonexistent/homeostat-test/tcpdump";

#[cfg(target_os = "linux")]
#[test]
fn a_feed_turned_off_is_not_unavailable_one_on_that_fails_is() {
    let tcpsyn_in = ObsId::builtin("tcpsyn_in").unwrap();
    let s = nowhere(false).sample(&mut Registry::new());
    assert!(
        !s.unavailable.iter().any(|(f, _)| f == "packets"),
        "{:?}",
        s.unavailable
    );
    assert!(!s.notes.iter().any(|(f, _)| f == "packets"));
    assert_eq!(s.value(tcpsyn_in), None);
    // The other feeds of this configuration fail, and say so.
    assert!(s.unavailable.iter().any(|(f, _)| f == "processes"));

    let s = nowhere(true).sample(&mut Registry::new());
    assert!(
        s.unavailable.contains(&(
            "packets".to_string(),
            format!("{MISSING_TCPDUMP} not found")
        )),
        "{:?}",
        s.unavailable
    );
    assert_eq!(s.value(tcpsyn_in), None);
}

#[test]
fn config_checks() {
    let with = |name: &str, port| MonitorConfig {
        services: vec![(name.to_string(), port)],
        ..Default::default()
    };
    assert!(Monitor::new(with("www_alt", 8080)).is_ok());
    for (name, port) in [
        ("", 1),
        ("WWW", 1),
        ("a-b", 1),
        ("www", 1),
        ("dns", 1),
        ("ok", 0),
    ] {
        assert!(Monitor::new(with(name, port)).is_err(), "{name} {port}");
    }
    let e = Monitor::new(with("tcpsyn", 9)).err().map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some("service \"tcpsyn\": the name is already an observable")
    );
    let long = "x".repeat(33);
    assert!(Monitor::new(with(&long, 1)).is_err());
    let m = Monitor::new(with("mysql", 3306)).unwrap();
    assert_eq!(m.services().len(), SERVICES.len() + 1);
    assert_eq!(m.services().last(), Some(&("mysql".to_string(), 3306)));
}

#[test]
fn builtin_lists_are_the_cores() {
    use homeostat_core::stats::observables;
    let names: Vec<&str> = SERVICES.iter().map(|(n, _)| *n).collect();
    assert_eq!(names[..observables::SERVICES.len()], observables::SERVICES);
    assert_eq!(packets::KINDS, observables::PACKETS);
    for (i, (name, _)) in SERVICES.iter().enumerate() {
        let id = ObsId::service(i, Direction::Out);
        let want = ObsId::builtin(&format!("{name}_out"));
        assert_eq!(id, want, "{name}");
    }
}

/// Issue 20, load: `read_into` zeroed its whole spare capacity before every `read`, time
/// quadratic in the file's size where each `read` returns a page, as `/proc/net/tcp` does
/// (10 s of CPU for 50,000 sockets). 50,000 such lines through a FIFO written a page at a
/// time, read twice into one buffer, come back exact and in linear time.
#[cfg(target_os = "linux")]
#[test]
fn reading_a_large_proc_table_is_not_quadratic() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tcp");
    let ok = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(ok.success());
    let line = "  123: 0200007F:A0A1 0200007F:9C41 01 00000000:00000000 00:00000000 00000000     0        0 1234567 1 0000000000000000 20 4 30 10 -1                     \n";
    let text = line.repeat(50_000);
    let mut buf = Vec::new();
    let t = std::time::Instant::now();
    for _ in 0..2 {
        let (p, data) = (path.clone(), text.clone());
        let writer = std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
            for page in data.as_bytes().chunks(4096) {
                f.write_all(page).unwrap();
            }
        });
        read_into(&path, &mut buf).unwrap();
        writer.join().unwrap();
        assert!(buf == text.as_bytes());
    }
    // Generous for a debug build on a busy machine: the quadratic version took seconds.
    assert!(
        t.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        t.elapsed()
    );
}
