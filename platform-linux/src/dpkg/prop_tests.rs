//! Property tests of dpkg's data readers: the status file, `.md5sums`, `dpkg.log` lines,
//! apt's `Packages` lists and the tar stream of a `.deb`. Arbitrary and mutated input
//! gives values and named problems, never a panic; well-formed input reads back whole.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;

use homeostat_core::digest::{digest, Algorithm};
use proptest::collection::vec;
use proptest::prelude::*;

use super::{deb, info, log, path_key, status, tar, Problem};

fn file(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(bytes).unwrap();
    f
}

/// Inserts `edits` (offset, byte) into `b`, then cuts it at `cut`.
fn mutate(mut b: Vec<u8>, edits: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
    for (at, x) in edits {
        let i = at % (b.len() + 1);
        if i < b.len() && x & 1 == 0 {
            b[i] = *x;
        } else {
            b.insert(i, *x);
        }
    }
    if let Some(c) = cut {
        b.truncate(c % (b.len() + 1));
    }
    b
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8)>> {
    vec(
        (
            any::<usize>(),
            prop_oneof![Just(b'\n'), Just(b' '), Just(b':'), Just(0xc3), any::<u8>()],
        ),
        0..6,
    )
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A status paragraph: name, arch, installed or not, conffiles.
type Paragraph = (String, String, bool, Vec<(String, [u8; 16])>);

fn paragraph() -> impl Strategy<Value = Paragraph> {
    (
        "[a-z][a-z0-9+.-]{0,10}",
        "(amd64|all|i386)",
        any::<bool>(),
        vec(("/etc/[a-z/]{1,12}", any::<[u8; 16]>()), 0..3),
    )
}

fn status_text(ps: &[Paragraph]) -> String {
    let mut s = String::new();
    for (name, arch, installed, conf) in ps {
        let st = if *installed {
            "installed"
        } else {
            "config-files"
        };
        s.push_str(&format!(
            "Package: {name}\nStatus: install ok {st}\nArchitecture: {arch}\nVersion: 1.0-1\n"
        ));
        if !conf.is_empty() {
            s.push_str("Conffiles:\n");
            for (p, m) in conf {
                s.push_str(&format!(" {p} {}\n", hex(m)));
            }
        }
        s.push('\n');
    }
    s
}

/// A ustar header for a regular file of `size` bytes named `name`.
fn ustar(name: &[u8], size: usize, flag: u8) -> [u8; 512] {
    let mut h = [0u8; 512];
    let n = name.len().min(100);
    h[..n].copy_from_slice(&name[..n]);
    h[100..107].copy_from_slice(b"0000644");
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
    h[156] = flag;
    h[257..262].copy_from_slice(b"ustar");
    h
}

fn problems_are_named(ps: &[Problem], path: &Path) -> bool {
    ps.iter().all(|p| p.file == path && !p.message.is_empty())
}

proptest! {
    /// A well-formed status file reads back: every paragraph, its installed version and
    /// conffiles, and no problem.
    #[test]
    fn prop_dpkg_status_reads_back(ps in vec(paragraph(), 0..5)) {
        let f = file(status_text(&ps).as_bytes());
        let mut problems = Vec::new();
        let got = status::read(f.path(), &mut problems).unwrap();
        prop_assert_eq!(problems, Vec::new());
        prop_assert_eq!(got.len(), ps.len());
        for (g, (name, arch, installed, conf)) in got.iter().zip(&ps) {
            prop_assert_eq!(&g.name, name);
            prop_assert_eq!(&g.arch, arch);
            prop_assert_eq!(g.version.is_some(), *installed);
            let want: Vec<(u64, [u8; 16])> =
                conf.iter().map(|(p, m)| (path_key(p.as_bytes()), *m)).collect();
            prop_assert_eq!(&g.conffiles, &want);
        }
    }

    /// A status file mutated, or arbitrary bytes: paragraphs and named problems, never a
    /// panic.
    #[test]
    fn prop_dpkg_status_never_panics(
        ps in vec(paragraph(), 0..4),
        e in edits(),
        cut in proptest::option::of(any::<usize>()),
        raw in proptest::option::of(vec(any::<u8>(), 0..300)),
    ) {
        let bytes = raw.unwrap_or_else(|| mutate(status_text(&ps).into_bytes(), &e, cut));
        let f = file(&bytes);
        let mut problems = Vec::new();
        let _ = status::read(f.path(), &mut problems).unwrap();
        prop_assert!(problems_are_named(&problems, f.path()));
    }

    /// `.md5sums`: well-formed lines all read back; mutated ones never panic and give
    /// at most one problem a line.
    #[test]
    fn prop_dpkg_md5sums(
        lines in vec(("[a-z][a-z/ .]{0,20}", any::<[u8; 16]>()), 0..6),
        e in edits(),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let text: String = lines.iter().map(|(p, m)| format!("{}  {p}\n", hex(m))).collect();
        let f = file(text.as_bytes());
        let mut problems = Vec::new();
        let got = info::md5sums(f.path(), &mut problems);
        prop_assert_eq!(problems, Vec::new());
        // The last line of a path wins.
        let want: HashMap<u64, [u8; 16]> = lines
            .iter()
            .map(|(p, m)| (path_key(["/", p.as_str()].concat().as_bytes()), *m))
            .collect();
        prop_assert_eq!(got, want);
        let bad = mutate(text.into_bytes(), &e, cut);
        let f = file(&bad);
        let mut problems = Vec::new();
        let _ = info::md5sums(f.path(), &mut problems);
        prop_assert!(problems.len() <= bad.split(|b| *b == b'\n').count());
        prop_assert!(problems_are_named(&problems, f.path()));
    }

    /// `dpkg.log` lines: a transaction, `None` or a reason, never a panic; well-formed
    /// upgrade lines give their package and versions.
    #[test]
    fn prop_dpkg_log_lines(
        y in 1970u32..2100, mo in 1u32..=12, d in 1u32..=28, h in 0u32..24, mi in 0u32..60,
        name in "[a-z][a-z0-9+.-]{0,10}",
        e in edits(),
        raw in vec(any::<u8>(), 0..80),
    ) {
        let line = format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:00 upgrade {name}:amd64 1.0 2.0");
        let tx = log::parse(line.as_bytes()).expect("a well-formed line").expect("a transaction");
        prop_assert_eq!((&tx.name[..], tx.from.as_deref(), tx.to.as_deref()), (&name[..], Some("1.0"), Some("2.0")));
        let _ = log::parse(&mutate(line.into_bytes(), &e, None));
        let _ = log::parse(&raw);
    }

    /// apt's `Packages` lists: the SHA-256 of each wanted package, whatever else the
    /// list holds; mutated lists never panic.
    #[test]
    fn prop_apt_packages_lists(
        pkgs in vec(("[a-z][a-z0-9]{0,8}", "[0-9][0-9.]{0,5}", any::<[u8; 32]>()), 0..5),
        e in edits(),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let text: String = pkgs.iter().map(|(n, v, s)| format!(
            "Package: {n}\nVersion: {v}\nArchitecture: amd64\nSHA256: {}\n\n", hex(s))).collect();
        let wanted: HashSet<deb::Nva> = pkgs.iter()
            .map(|(n, v, _)| (n.clone(), v.clone(), "amd64".to_owned())).collect();
        let mut out = HashMap::new();
        let mut problems = Vec::new();
        deb::stanzas(text.as_bytes(), Path::new("Packages"), &wanted, &mut out, &mut problems);
        prop_assert_eq!(&problems, &Vec::new());
        // The last stanza of a name, version and arch wins.
        for (n, v, s) in pkgs.iter().rev() {
            let k = (n.clone(), v.clone(), "amd64".to_owned());
            if let Some(got) = out.remove(&k) {
                prop_assert_eq!(got, *s);
            }
        }
        prop_assert!(out.is_empty());
        let bad = mutate(text.into_bytes(), &e, cut);
        let mut out = HashMap::new();
        deb::stanzas(&bad[..], Path::new("Packages"), &wanted, &mut out, &mut problems);
    }

    /// A tar stream of regular files reads back with each member's digest; the same
    /// stream mutated, or arbitrary bytes, gives members or an error, never a panic (nor
    /// an allocation the size a header claims).
    #[test]
    fn prop_deb_tar_members(
        members in vec(("[a-z]{1,8}(/[a-z]{1,8}){0,3}", vec(any::<u8>(), 0..700)), 0..4),
        e in vec((any::<usize>(), any::<u8>()), 0..8),
        raw in vec(any::<u8>(), 0..1500),
    ) {
        let mut t = Vec::new();
        for (name, data) in &members {
            t.extend_from_slice(&ustar(format!("./{name}").as_bytes(), data.len(), b'0'));
            t.extend_from_slice(data);
            t.resize(t.len().div_ceil(512) * 512, 0);
        }
        t.extend_from_slice(&[0u8; 1024]);
        let got = tar::members(&t[..], Algorithm::Sha256).unwrap();
        // The last member of a path wins.
        let want: HashMap<u64, _> = members
            .iter()
            .map(|(n, d)| (path_key(["/", n.as_str()].concat().as_bytes()), Some(digest(Algorithm::Sha256, d))))
            .collect();
        let got: HashMap<u64, _> = got.into_iter().map(|(k, a)| (k, a.content)).collect();
        prop_assert_eq!(got, want);
        let mut bad = t.clone();
        for (at, x) in e {
            if !bad.is_empty() {
                let i = at % bad.len();
                bad[i] = x;
            }
        }
        let _ = tar::members(&bad[..], Algorithm::Sha256);
        let _ = tar::members(&raw[..], Algorithm::Md5);
    }
}
