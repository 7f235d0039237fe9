//! Package-aware verdicts for 100,000 changed paths: a dpkg database of 1,000 packages of
//! 100 files each (status, `.list`, `.md5sums`, a log with an upgrade of every package),
//! then owner, transaction, expected digest and the core's verdict for every path. The
//! live MD5 is given (the check has read each file once already; reading them again is
//! I/O, not this). Also the cost of opening the database (index build).

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use homeostat_core::digest::Algorithm;
use homeostat_core::event::Change;
use homeostat_core::fim::{Attr, Attrs, Kind, Meta};
use homeostat_core::package::{judge, Expected, Facts, Live, PackageSource};
use homeostat_linux::dpkg::{Dpkg, Paths};

const PACKAGES: usize = 1_000;
const FILES: usize = 100;

fn path(p: usize, f: usize) -> String {
    format!("/usr/lib/pkg{p:04}/file{f:03}")
}

fn md5_of(p: usize, f: usize) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[..8].copy_from_slice(&((p * FILES + f) as u64).to_le_bytes());
    m
}

fn fake_root(dir: &std::path::Path) -> Paths {
    let admin = dir.join("dpkg");
    std::fs::create_dir_all(admin.join("info")).unwrap();
    let (mut status, mut log) = (String::new(), String::new());
    for p in 0..PACKAGES {
        let name = format!("pkg{p:04}");
        let _ = write!(
            status,
            "Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.0\n\n"
        );
        let _ = writeln!(log, "2026-01-01 10:00:00 upgrade {name}:amd64 1.0 2.0");
        let (mut list, mut sums) = (String::new(), String::new());
        for f in 0..FILES {
            let _ = writeln!(list, "{}", path(p, f));
            let hex: String = md5_of(p, f).iter().map(|b| format!("{b:02x}")).collect();
            let _ = writeln!(sums, "{hex}  {}", &path(p, f)[1..]);
        }
        std::fs::write(admin.join(format!("info/{name}.list")), list).unwrap();
        std::fs::write(admin.join(format!("info/{name}.md5sums")), sums).unwrap();
    }
    std::fs::write(admin.join("status"), status).unwrap();
    std::fs::write(dir.join("dpkg.log"), log).unwrap();
    Paths {
        dpkg_dir: admin,
        dpkg_log: dir.join("dpkg.log"),
        apt_cache: dir.join("cache"),
        apt_lists: dir.join("lists"),
    }
}

/// Verdicts for every path; returns how many were verified.
fn verdicts(src: &mut Dpkg, paths: &[(String, [u8; 16])], meta: &Meta) -> usize {
    let diff = Attrs::EMPTY.with(Attr::Content).with(Attr::Mtime);
    let mut verified = 0;
    for (p, live_md5) in paths {
        let Some(id) = src.owner(p.as_bytes()) else {
            continue;
        };
        let tx = src.transaction(id, 0, i64::MAX).map(|t| t.0);
        let listed = src.lists(id, p.as_bytes());
        let conffile = src.conffile(id, p.as_bytes());
        let expected = src.expected(id, p.as_bytes(), Algorithm::Sha256);
        let needs = matches!(expected, Some(Expected::Md5(_)));
        let facts = Facts {
            change: Change::Changed,
            diff,
            tx,
            listed,
            live: Some(Live { meta, target: None }),
            expected,
            conffile,
            live_md5: needs.then_some(*live_md5),
            list: homeostat_core::package::Verified::Md5sums,
        };
        verified += usize::from(judge(&facts).1 != homeostat_core::package::Verified::None);
    }
    verified
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let paths = fake_root(dir.path());
    let changed: Vec<(String, [u8; 16])> = (0..PACKAGES)
        .flat_map(|p| (0..FILES).map(move |f| (path(p, f), md5_of(p, f))))
        .collect();
    let meta = Meta::empty(Kind::File);
    let mut g = c.benchmark_group("packages");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("open dpkg database (1,000 packages, 100,000 paths)", |b| {
        b.iter(|| black_box(Dpkg::open(&paths, 0).unwrap().indexed()))
    });
    g.bench_function("open + owner and verdict of 100,000 changed paths", |b| {
        b.iter(|| {
            let mut src = Dpkg::open(&paths, 0).unwrap();
            let n = verdicts(&mut src, &changed, &meta);
            assert_eq!(n, changed.len());
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
