//! The dpkg source over a small database written here.

use super::*;

fn root() -> (tempfile::TempDir, Paths) {
    let dir = tempfile::tempdir().unwrap();
    let admin = dir.path().join("dpkg");
    std::fs::create_dir_all(admin.join("info")).unwrap();
    std::fs::write(
        admin.join("status"),
        "Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.0\n\
         Conffiles:\n /etc/a.conf 0123456789abcdef0123456789abcdef\n\n\
         Package: b\nStatus: install ok installed\nArchitecture: all\nVersion: 1\n\n",
    )
    .unwrap();
    std::fs::write(
        admin.join("info/a:amd64.list"),
        "/usr\n/usr/bin\n/bin/x\n/etc/a.conf\n",
    )
    .unwrap();
    std::fs::write(admin.join("info/b.list"), "/usr\n/usr/bin\n/usr/bin/y\n").unwrap();
    std::fs::write(
        admin.join("info/a:amd64.md5sums"),
        "00112233445566778899aabbccddeeff  bin/x\nshort\n",
    )
    .unwrap();
    let log = dir.path().join("dpkg.log");
    std::fs::write(
        &log,
        "2026-01-01 10:00:00 upgrade a:amd64 1.0 2.0\n2026-01-02 10:00:00 purge c:all 3 <none>\n",
    )
    .unwrap();
    let paths = Paths {
        dpkg_dir: admin,
        dpkg_log: log,
        apt_cache: dir.path().join("cache"),
        apt_lists: dir.path().join("lists"),
    };
    (dir, paths)
}

#[test]
fn merged_usr_aliases_md5sums_and_transactions() {
    let (_dir, paths) = root();
    let mut d = Dpkg::open(&paths, 0).unwrap();
    // Listed as /bin/x, found at /usr/bin/x on a merged /usr.
    let a = d.owner(b"/usr/bin/x").unwrap();
    assert_eq!(d.name(a), ("a", "amd64"));
    assert!(d.lists(a, b"/usr/bin/x"));
    assert_eq!(
        d.expected(a, b"/usr/bin/x", Algorithm::Sha256),
        Some(Expected::Md5([
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff
        ]))
    );
    let problems = d.take_problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].line, 2);
    // A shared directory has both owners.
    assert_eq!(d.owners(b"/usr/bin").count(), 2);
    assert!(d.conffile(a, b"/etc/a.conf").is_some());
    let (kind, from, to) = d.transaction(a, 0, i64::MAX).unwrap();
    assert_eq!(
        (kind, from, to),
        (TxKind::Upgrade, Some("1.0"), Some("2.0"))
    );
    // A package purged since is known by name, for the owners recorded with a baseline.
    let c = d.by_name("c", "all").unwrap();
    assert_eq!(d.installed(c), None);
    assert_eq!(
        d.transaction(c, 0, i64::MAX).map(|t| t.0),
        Some(TxKind::Purge)
    );
    assert!(d.transaction(c, i64::MAX - 1, i64::MAX).is_none());
}
