//! Property tests of the FreeBSD parsers (run on every host): `ps`, the process table,
//! `sockstat`, `df`, `vm.loadavg`, `utx.active` and extended attribute lists. Arbitrary
//! bytes and mutated captures give values and bad lines, never a panic; every line is
//! either read or named; what is shown of a bad line is escaped.

use homeostat_bsd::{df, extattr, loadavg, ps, pstable, shown, sockstat, utx};
use proptest::collection::vec;
use proptest::prelude::*;

const PS: &[u8] = b"    0     0     0   0    0 530 DLs  -          0   4192 864012 kernel
    1     0     1   0    0   1 ILs  -      11824   1088 864010 init
 1203   812  1203   0 1001   1 Ss   pts/0  14364   4120   3605 tcsh
 4411     1  4411   3   80   4 S    -     219340  51236 400020 php-fpm
 6001     1  6001   0 1001   1 S    -      12000   1000     30 my daemon name
";

const PSTABLE: &[u8] =
    b"    0     0     0    0 530   0 DLs  -          0   4192   12:03.45 864012 [kernel]
 4411     1  4411   80   4 -20 S    -     219340  51236 1234:56.78 400020 php-fpm: pool www
 1203   812  1203 1001   1   5 Ss+  pts/0  14364   4120    0:00.02   3605 -tcsh (tcsh)
";

const SOCKSTAT: &[u8] = b"root     sshd       812   3  tcp6   *:22                  *:*
root     unbound    4002  5  udp4   127.0.0.1:53          *:*
root     ntpd       900   21 udp6   fe80::1%lo0:123       *:*
?        ?          ?     ?  tcp4   10.0.3.5:25           *:*
alice    my app     7000  4  tcp6   [2001:db8::10]:8080   [2001:db8::99]:61000
root     sshd       1312  6  tcp6   ::ffff:192.168.1.10:22 ::ffff:192.168.1.78:50001
";

const DF: &[u8] = b"Filesystem         1024-blocks    Used    Avail Capacity  Mounted on\nzroot/ROOT/default    98566144 4411232 94154912     4%    /\n";

/// `base` with bytes set or inserted and cut somewhere, or arbitrary bytes.
fn mutated(base: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        Just(b' '),
        Just(b'\n'),
        Just(b':'),
        Just(b'-'),
        Just(b'%'),
        Just(b'['),
        any::<u8>()
    ];
    prop_oneof![
        3 => (
            vec((any::<usize>(), byte, any::<bool>()), 0..8),
            proptest::option::of(any::<usize>()),
        )
            .prop_map(move |(edits, cut)| {
                let mut b = base.to_vec();
                for (at, x, insert) in edits {
                    let i = at % (b.len() + 1);
                    if insert || i == b.len() {
                        b.insert(i, x);
                    } else {
                        b[i] = x;
                    }
                }
                if let Some(c) = cut {
                    b.truncate(c % (b.len() + 1));
                }
                b
            }),
        1 => vec(any::<u8>(), 0..300),
    ]
}

fn lines(b: &[u8]) -> usize {
    b.split(|c| *c == b'\n').filter(|l| !l.is_empty()).count()
}

fn printable(s: &str) -> bool {
    s.chars().all(|c| (' '..='~').contains(&c) || c == '…')
}

proptest! {
    /// `ps`: each non-empty line is a process or a bad line whose text is escaped.
    #[test]
    fn prop_bsd_ps_never_panics(b in mutated(PS)) {
        let (procs, bads) = ps::parse(&b);
        prop_assert!(procs.len() + bads.len() <= lines(&b));
        for bad in &bads {
            prop_assert!(printable(&bad.text) && printable(&bad.to_string()), "{:?}", bad);
        }
        let (_, bads) = ps::parse_cmdline(&b);
        prop_assert!(bads.iter().all(|x| printable(&x.text)));
        let _ = ps::passwd_names(&b);
    }

    /// The process table (`ps` with times and arguments).
    #[test]
    fn prop_bsd_pstable_never_panics(b in mutated(PSTABLE), w in "[0-9:.-]{0,12}") {
        let (rows, bads) = pstable::parse(&b);
        prop_assert!(rows.len() + bads.len() <= lines(&b));
        prop_assert!(bads.iter().all(|x| printable(&x.text)));
        let _ = pstable::parse_cputime(w.as_bytes());
    }

    /// `sockstat`, listening and connected.
    #[test]
    fn prop_bsd_sockstat_never_panics(b in mutated(SOCKSTAT), listen in any::<bool>()) {
        let (socks, bads) = sockstat::parse(&b, listen);
        prop_assert!(socks.len() + bads.len() <= lines(&b));
        prop_assert!(bads.iter().all(|x| printable(&x.text)));
    }

    /// `df -k`: a disk space or a reason.
    #[test]
    fn prop_bsd_df_never_panics(b in mutated(DF)) {
        let _ = df::parse(&b);
    }

    /// `sysctl vm.loadavg`: three finite non-negative loads or a reason.
    #[test]
    fn prop_bsd_loadavg_never_panics(b in mutated(b"{ 0.52 0.41 0.38 }\n")) {
        if let Ok(l) = loadavg::parse(&b) {
            prop_assert!(l.iter().all(|v| v.is_finite() && *v >= 0.0), "{:?}", l);
        }
    }

    /// `utx.active`: records written by `record` read back; any bytes after them are
    /// counted as trailing, never a panic.
    #[test]
    fn prop_bsd_utx_reads_back(
        recs in vec((
            prop_oneof![Just(utx::USER_PROCESS), any::<u8>()],
            any::<u64>(),
            any::<u16>(),
            "[a-z]{1,8}",
            "pts/[0-9]",
            "[a-z.]{0,20}",
        ), 0..5),
        tail in vec(any::<u8>(), 0..400),
    ) {
        let mut file = Vec::new();
        for (k, tv, pid, user, line, host) in &recs {
            file.extend_from_slice(&utx::record(*k, *tv, *pid, user.as_bytes(), line.as_bytes(), host.as_bytes()));
        }
        let (sessions, _) = utx::parse(&file);
        let want: Vec<_> = recs.iter().filter(|r| r.0 == utx::USER_PROCESS).collect();
        prop_assert_eq!(sessions.len(), want.len());
        for (s, r) in sessions.iter().zip(want) {
            prop_assert_eq!((s.user, s.pid, s.tv), (r.3.as_bytes(), r.2, r.1));
        }
        file.extend_from_slice(&tail);
        let _ = utx::parse(&file);
        let _ = utx::parse(&tail);
    }

    /// Extended attribute name lists: names written length-prefixed read back; any
    /// bytes give names or a reason.
    #[test]
    fn prop_bsd_extattr_lists(names in vec(vec(1u8..=255, 1..20), 0..5), raw in vec(any::<u8>(), 0..100)) {
        let mut buf = Vec::new();
        for n in &names {
            buf.push(n.len() as u8);
            buf.extend_from_slice(n);
        }
        let got = extattr::parse_list(&buf);
        prop_assert_eq!(got, Ok(names.iter().map(Vec::as_slice).collect::<Vec<_>>()));
        let _ = extattr::parse_list(&raw);
    }

    /// What a bad line shows is printable and bounded, whatever the line.
    #[test]
    fn prop_bsd_shown_is_escaped(b in vec(any::<u8>(), 0..300)) {
        let s = shown(&b);
        prop_assert!(printable(&s), "{:?}", s);
        prop_assert!(s.chars().count() <= 4 * 120 + 1);
    }
}
