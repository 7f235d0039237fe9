//! The process table for promises, on captured and hand-written `/proc` files, and live.

use homeostat_linux::proctable::{command_line, parse_stat, tty_name, ProcTable, Units};
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

const UNITS: Units = Units {
    hz: 100,
    page: 4096,
    btime: 1_796_425_516,
};

#[test]
fn fixture_table() {
    let t = ProcTable::new(
        fixtures().join("proc-promises"),
        fixtures().join("etc-passwd.txt"),
    )
    .with_units(UNITS);
    let (recs, failed) = t.read().unwrap();
    assert_eq!(failed, 0);
    let pids: Vec<u32> = recs.iter().map(|r| r.pid).collect();
    assert_eq!(pids, [2, 18090, 31338, 31339]);

    // kthreadd: no command line
    assert_eq!(recs[0].command, "[kthreadd]");
    assert_eq!((recs[0].uid, recs[0].owner.as_str()), (0, "root"));
    assert_eq!((recs[0].ppid, recs[0].tty.as_str()), (0, "?"));

    // `nice -n 5 sleep 300` as nobody, captured
    let s = &recs[1];
    assert_eq!(s.command, "sleep 300");
    assert_eq!((s.uid, s.owner.as_str()), (65534, "nobody"));
    assert_eq!((s.ppid, s.pgid), (1, 18086));
    assert_eq!(s.status, "S");
    assert_eq!(s.priority, 5);
    assert_eq!(s.threads, 1);
    assert_eq!(s.vsize, 2_990_080 / 1024);
    assert_eq!(s.rss, 444 * 4);
    assert_eq!(s.ttime, 0);
    assert_eq!(s.stime, UNITS.btime + 504_185 / 100);

    // hostile name and command line, a pts, effective uid 0 from real uid 1000
    let h = &recs[2];
    assert_eq!(h.command, "evil\nline \u{1b}[31mred");
    assert_eq!((h.uid, h.owner.as_str()), (0, "root"));
    assert_eq!((h.status.as_str(), h.tty.as_str()), ("R", "pts/0"));
    assert_eq!((h.ppid, h.pgid, h.threads, h.ttime), (18090, 31338, 3, 2));

    // zombie with an unnamed uid, on tty1, short stat line
    let z = &recs[3];
    assert_eq!(z.command, "[zombie]");
    assert_eq!((z.uid, z.owner.as_str()), (4242, ""));
    assert_eq!(
        (z.status.as_str(), z.tty.as_str(), z.priority),
        ("Z", "tty1", -5)
    );
}

#[test]
fn pieces() {
    assert_eq!(command_line(b"a\0b\0\0", "x"), "a b");
    assert_eq!(command_line(b"\0\0", "x"), "[x]");
    assert_eq!(command_line(b"a\0\0b", "x"), "a  b");
    assert_eq!(tty_name(0), "?");
    assert_eq!(tty_name(4 << 8 | 65), "ttyS1");
    assert_eq!(tty_name(137 << 8 | 2), "pts/258");
    for bad in [
        &b""[..],
        b"1 (x",
        b"1 x) S",
        b"x (a) S 1 2",
        b"1 (a) S 1 2 3",
    ] {
        assert!(parse_stat(bad, UNITS).is_none(), "{bad:?}");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn live_table_has_this_process() {
    let (recs, _) = ProcTable::new("/proc", "/etc/passwd").read().unwrap();
    let me = std::process::id();
    let r = recs.iter().find(|r| r.pid == me).expect("own pid");
    assert!(r.threads >= 1);
    assert!(r.command.contains("proctable"), "{}", r.command);
    assert!(recs.windows(2).all(|w| w[0].pid < w[1].pid));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        r.stime <= now + 1 && r.stime + 3600 > now,
        "{} vs {now}",
        r.stime
    );
}
