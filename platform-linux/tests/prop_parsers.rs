//! Property tests of the Linux feeds' parsers: `/proc/<pid>/stat` and `status`,
//! `/proc/stat`'s btime, `/proc/net/{tcp,udp}{,6}`, `/proc/loadavg`, `fib_trie`,
//! `if_inet6`, `/etc/passwd`, utmp and tcpdump lines. Arbitrary bytes and mutated real
//! captures (the fixtures) give a value or a clean error, never a panic; what the
//! parsers print escapes every control byte.

use std::collections::BTreeSet;
use std::path::PathBuf;

use homeostat_linux::logtail::rotated_name;
use homeostat_linux::monitor::{local, net, packets, procs, system, utmp};
use homeostat_linux::proctable::{parse_btime, parse_stat, Units};
use proptest::collection::vec;
use proptest::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

/// One edit of a byte string: what a torn read, a hostile name or a kernel of another
/// version does to a capture.
#[derive(Clone, Debug)]
enum Edit {
    Flip(usize, u8),
    Set(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Repeat(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let interesting = prop_oneof![
        Just(b' '),
        Just(b'\n'),
        Just(b'\t'),
        Just(b':'),
        Just(b'('),
        Just(b')'),
        Just(b'0'),
        Just(b'F'),
        Just(0u8),
        Just(0xff),
        Just(b'-'),
        any::<u8>(),
    ];
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(i, b)| Edit::Flip(i, b)),
        (any::<usize>(), interesting.clone()).prop_map(|(i, b)| Edit::Set(i, b)),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), vec(interesting, 1..12)).prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<usize>(), 1usize..40).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<usize>(), 1usize..40).prop_map(|(i, n)| Edit::Repeat(i, n)),
    ]
}

fn apply(mut b: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
        match e {
            Edit::Flip(i, bit) if !b.is_empty() => {
                let i = i % b.len();
                b[i] ^= 1 << bit;
            }
            Edit::Set(i, v) if !b.is_empty() => {
                let i = i % b.len();
                b[i] = *v;
            }
            Edit::Truncate(i) => b.truncate(at(*i, b.len())),
            Edit::Insert(i, bytes) => {
                let i = at(*i, b.len());
                b.splice(i..i, bytes.iter().copied());
            }
            Edit::Delete(i, n) => {
                let i = at(*i, b.len());
                let j = (i + n).min(b.len());
                b.drain(i..j);
            }
            Edit::Repeat(i, n) => {
                let i = at(*i, b.len());
                let j = (i + n).min(b.len());
                let dup = b[i..j].to_vec();
                b.splice(j..j, dup);
            }
            _ => {}
        }
    }
    b
}

/// A fixture under up to six edits, or arbitrary bytes.
fn mutated(names: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => (proptest::sample::select(names), vec(edit(), 0..6))
            .prop_map(|(n, edits)| apply(fixture(n), &edits)),
        1 => vec(any::<u8>(), 0..400),
    ]
}

const STAT: &str = "4242 (evil) name)) S 1 4242 4242 0 -1 4194560 1180 0 0 0 12 7 0 0 20 0 1 0 \
    31337 10260480 1325 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0";

const UNITS: Units = Units {
    hz: 100,
    page: 4096,
    btime: 1_700_000_000,
};

/// A utmp record (glibc x86-64 layout, 384 bytes): type at 0, user at 44.
fn utmp_record(ty: i16, user: &[u8]) -> Vec<u8> {
    let mut r = vec![0u8; 384];
    r[..2].copy_from_slice(&ty.to_le_bytes());
    let n = user.len().min(32);
    r[44..44 + n].copy_from_slice(&user[..n]);
    r
}

fn printable(s: &str) -> bool {
    s.bytes().all(|b| (0x20..0x7f).contains(&b))
}

proptest! {
    /// `/proc/<pid>/stat`: a record or `None`, never a panic.
    #[test]
    fn prop_proc_stat_never_panics(
        bytes in prop_oneof![
            vec(edit(), 0..6).prop_map(|e| apply(STAT.as_bytes().to_vec(), &e)),
            vec(any::<u8>(), 0..200),
        ],
        hz in 0u64..1000,
        page in 0u64..70_000,
    ) {
        let _ = parse_stat(&bytes, Units { hz, page, btime: u64::MAX - 1 });
        let _ = parse_stat(&bytes, UNITS);
        let _ = parse_btime(&bytes);
    }

    /// `/proc/<pid>/status`: a name and uid or an error, never a panic; the name is
    /// printable.
    #[test]
    fn prop_proc_status_never_panics(bytes in mutated(&[
        "proc-status-self.txt",
        "proc-status-hostile.txt",
        "proc-status-setuid.txt",
        "proc-status-sleep.txt",
    ])) {
        let _ = procs::parse_status_raw(&bytes);
        if let Ok(s) = procs::parse_status(&bytes) {
            prop_assert!(printable(&s.name), "{:?}", s.name);
        }
    }

    /// `/etc/passwd`: names are printable (escaped), never a panic.
    #[test]
    fn prop_passwd_never_panics(bytes in mutated(&["etc-passwd.txt", "etc-passwd-hostile.txt"])) {
        let _ = procs::parse_passwd_raw(&bytes);
        for name in procs::parse_passwd(&bytes).values() {
            prop_assert!(printable(name), "{:?}", name);
        }
    }

    /// `/proc/net/{tcp,udp}{,6}`: sockets and line errors, never a panic; every line is
    /// either a socket, an error or the header.
    #[test]
    fn prop_proc_net_never_panics(bytes in mutated(&[
        "proc-net-tcp.txt",
        "proc-net-tcp6.txt",
        "proc-net-udp.txt",
        "proc-net-udp6.txt",
        "proc-net-tcp-hostile.txt",
        "proc-net-tcp-no-newline.txt",
    ])) {
        let mut out = Vec::new();
        let errors = net::parse_proc_net(&bytes, &mut out);
        let lines = bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count();
        prop_assert!(out.len() + errors.len() <= lines);
        for e in &errors {
            prop_assert!(printable(&e.to_string()), "{}", e);
        }
    }

    /// `/proc/loadavg`: a finite, non-negative load or an error.
    #[test]
    fn prop_loadavg_never_panics(bytes in mutated(&["proc-loadavg.txt"])) {
        match system::parse_loadavg(&bytes) {
            Ok(v) => prop_assert!(v.is_finite() && v >= 0.0, "{}", v),
            Err(e) => prop_assert!(printable(&e.to_string())),
        }
    }

    /// `fib_trie` and `if_inet6`: addresses or nothing, never a panic.
    #[test]
    fn prop_local_addresses_never_panic(
        bytes in mutated(&["proc-net-fib_trie.txt", "proc-net-if_inet6.txt"]),
    ) {
        let mut out = BTreeSet::new();
        local::parse_fib_trie(&bytes, &mut out);
        local::parse_if_inet6(&bytes, &mut out);
    }

    /// utmp: any bytes give a count of records and trailing bytes that add up, and user
    /// names that are printable and non-empty.
    #[test]
    fn prop_utmp_never_panics(
        recs in vec((prop_oneof![Just(7i16), any::<i16>()], vec(any::<u8>(), 0..40)), 0..5),
        tail in vec(any::<u8>(), 0..400),
    ) {
        let mut bytes: Vec<u8> = recs.iter().flat_map(|(t, u)| utmp_record(*t, u)).collect();
        bytes.extend_from_slice(&tail);
        let l = utmp::parse_utmp(&bytes);
        prop_assert_eq!(l.records * 384 + l.trailing, bytes.len());
        for (name, n) in &l.users {
            prop_assert!(!name.is_empty() && printable(name) && *n > 0, "{:?}", name);
        }
    }

    /// Rotated log names: `LOG.N` and `LOG.N.gz` give their generation back; any other
    /// name gives a value or `None`, never a panic.
    #[test]
    fn prop_rotated_log_names(
        base in "[a-z.]{1,10}",
        n in any::<u64>(),
        gz in any::<bool>(),
        other in vec(any::<u8>(), 0..30),
    ) {
        let name = format!("{base}.{n}{}", if gz { ".gz" } else { "" });
        prop_assert_eq!(rotated_name(base.as_bytes(), name.as_bytes()), Some((Some(n), gz)));
        let _ = rotated_name(base.as_bytes(), &[base.as_bytes(), &other].concat());
        let _ = rotated_name(&other, base.as_bytes());
    }

    /// tcpdump lines: a packet, ignored, or an error, never a panic.
    #[test]
    fn prop_tcpdump_lines_never_panic(
        bytes in prop_oneof![
            3 => (proptest::sample::select(
                    String::from_utf8(fixture("tcpdump-any.txt")).unwrap()
                        .lines().map(str::to_owned).collect::<Vec<_>>()),
                  vec(edit(), 0..6))
                .prop_map(|(l, e)| apply(l.into_bytes(), &e)),
            1 => "(eth0 +(In|Out) +)?IP6? [0-9a-f.:]{0,45} > [0-9a-f.:]{0,45}:? ?[A-Za-z0-9 ,\\[\\]().:]{0,40}"
                .prop_map(String::into_bytes),
        ],
    ) {
        let line = String::from_utf8_lossy(&bytes);
        let _ = packets::parse_line(&line);
    }
}

/// Found by `prop_proc_stat_never_panics`: utime + stime, btime + starttime and
/// rss × page size overflowed (a panic in debug builds, a wrapped value in release) on
/// fields near `u64::MAX`.
#[test]
fn regression_proc_stat_huge_counters_overflow() {
    let max = u64::MAX;
    let line = format!("1 (x) S 0 1 1 0 -1 0 0 0 0 0 {max} {max} 0 0 20 0 1 0 {max} 0 {max}");
    let s = parse_stat(
        line.as_bytes(),
        Units {
            hz: 1,
            page: 4096,
            btime: max,
        },
    )
    .expect("a well-formed line parses");
    assert_eq!(s.record.ttime, max);
    assert_eq!(s.record.stime, max);
    assert_eq!(s.record.rss, max / 1024);
}
