#![cfg(target_os = "linux")]
//! `homeostat restore PATH… --from DIR`: exact bytes, mode, owner and mtime put back from a
//! mirror after checking them against the database, the old file kept as `PATH.cfbackup`,
//! the next `check` clean; refusals (a mismatching source, a symlink component, a path
//! outside the trees, a damaged database) leave everything as it was.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use homeostat_tests::content::rand_bytes;
use homeostat_tests::fixture::Fixture;
use homeostat_tests::fs::{chmod, lchown, list_xattrs, set_mtime, set_xattr, tick};
use homeostat_tests::json::{assert_summary_last, of_type};
use homeostat_tests::run::{is_root, Output};
use homeostat_tests::serde_json::Value;

const CONF: &[u8] = b"etc/app.conf";
const SECRET: &[u8] = b"etc/secret";
const TOOL: &[u8] = b"bin/tool";

/// A small tree: two files in one directory (one spanning several copy chunks), one in
/// another, each with its own mode and mtime; then the baseline and a pristine mirror.
fn setup() -> (Fixture, PathBuf) {
    setup_with(|_| {})
}

/// [`setup`], with `before_init` run on the tree just before the baseline is taken.
fn setup_with(before_init: impl FnOnce(&Fixture)) -> (Fixture, PathBuf) {
    let fx = Fixture::bare();
    for d in ["etc", "bin"] {
        std::fs::create_dir(fx.tree.join(d)).expect("mkdir");
    }
    let files: [(&[u8], Vec<u8>, u32, i64); 3] = [
        (CONF, b"listen = 80\n".to_vec(), 0o644, 1_600_000_000),
        (SECRET, rand_bytes(7, 300_000), 0o600, 1_600_000_100),
        (TOOL, rand_bytes(8, 5_000), 0o755, 1_600_000_200),
    ];
    for (rel, data, mode, mtime) in &files {
        let p = fx.path(rel);
        std::fs::write(&p, data).expect("write");
        chmod(&p, *mode);
        set_mtime(&p, (*mtime, 123_456_789), false);
    }
    fx.write_config("", "");
    before_init(&fx);
    fx.init();
    let mirror = fx.dir.path().join("mirror");
    copy_tree(
        &fx.tree,
        &mirror.join(fx.tree.strip_prefix("/").expect("absolute")),
    );
    (fx, mirror)
}

/// Copies the regular files and directories of `from` to `to` (bytes only).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir mirror");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("dirent");
        let ft = e.file_type().expect("file type");
        if ft.is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else if ft.is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
        }
    }
}

/// What a restore must put back of a file, and what must stay untouched.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    bytes: Vec<u8>,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: (i64, i64),
}

fn seen(p: &Path) -> Seen {
    let m = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert!(m.is_file(), "{} is not a regular file", p.display());
    Seen {
        bytes: std::fs::read(p).expect("read"),
        mode: m.mode() & 0o7777,
        uid: m.uid(),
        gid: m.gid(),
        mtime: (m.mtime(), m.mtime_nsec()),
    }
}

fn restore(fx: &Fixture, from: &Path, rels: &[&[u8]]) -> Output {
    let mut args: Vec<OsString> = vec!["--json".into(), "restore".into()];
    args.extend(rels.iter().map(|r| fx.path(r).into_os_string()));
    args.push("--from".into());
    args.push(from.as_os_str().to_owned());
    let o = fx.run_os(args);
    assert_summary_last(&o);
    o
}

/// The `restore` event of `abs`, holding exactly the fields DESIGN lists.
fn event(o: &Output, abs: &[u8]) -> Value {
    let path = std::str::from_utf8(abs).expect("UTF-8 test path");
    let all = of_type(&o.json(), "restore");
    let e = all
        .iter()
        .find(|e| e["path"] == path)
        .unwrap_or_else(|| panic!("no restore event for {path}: {}", o.stdout_str()))
        .clone();
    let mut keys: Vec<&str> = e
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["message", "ok", "path", "t", "type"], "{e}");
    assert!(
        e["t"].is_i64() && e["message"].is_string() && e["ok"].is_boolean(),
        "{e}"
    );
    e
}

fn expect_refused(o: &Output, abs: &[u8], why: &str) {
    o.expect_code(1);
    let e = event(o, abs);
    assert_eq!(e["ok"], false, "{e}");
    let m = e["message"].as_str().unwrap_or_default();
    assert!(m.contains(why), "message {m:?} does not say {why:?}");
}

/// The next `check` exits 0 and reports no file at all.
fn expect_clean(fx: &Fixture) {
    let o = fx.run(&["--json", "check"]);
    o.expect_code(0);
    assert!(
        o.files().is_empty(),
        "check after restore: {}",
        o.stdout_str()
    );
}

fn listing(dir: &Path) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("dirent").file_name().as_bytes().to_vec())
        .collect();
    v.sort();
    v
}

fn backup(p: &Path) -> PathBuf {
    let mut b = p.as_os_str().to_owned();
    b.push(".cfbackup");
    PathBuf::from(b)
}

#[test]
fn puts_back_bytes_mode_owner_and_mtime_and_the_next_check_is_clean() {
    let (fx, mirror) = setup();
    let before: Vec<Seen> = [CONF, SECRET, TOOL]
        .iter()
        .map(|r| seen(&fx.path(r)))
        .collect();
    tick();
    // Content, mode, owner and mtime of two files in one directory; content of a third.
    let conf = fx.path(CONF);
    std::fs::write(&conf, b"listen = 6666\n").expect("tamper");
    chmod(&conf, 0o4755);
    if is_root() {
        lchown(&conf, Some(4242), Some(4343));
    }
    set_mtime(&conf, (1_700_000_000, 0), false);
    let secret = fx.path(SECRET);
    std::fs::write(&secret, b"shorter").expect("tamper");
    std::fs::write(fx.path(TOOL), rand_bytes(9, 5_000)).expect("tamper");

    let o = restore(&fx, &mirror, &[CONF, SECRET, TOOL]);
    o.expect_code(0);
    for (rel, want) in [CONF, SECRET, TOOL].iter().zip(&before) {
        let e = event(&o, &fx.abs(rel));
        assert_eq!(e["ok"], true, "{e}");
        assert_eq!(
            &seen(&fx.path(rel)),
            want,
            "{}",
            String::from_utf8_lossy(rel)
        );
    }
    // The tampered file is kept, and not runnable as the set-id program it was made.
    let kept = backup(&conf);
    assert_eq!(std::fs::read(&kept).expect("backup"), b"listen = 6666\n");
    assert_eq!(
        std::fs::metadata(&kept).expect("backup").mode() & 0o7777,
        0o600
    );
    assert_eq!(std::fs::read(backup(&secret)).expect("backup"), b"shorter");
    // No temporary is left behind.
    let names = listing(&fx.tree.join("etc"));
    let want: Vec<Vec<u8>> = ["app.conf", "app.conf.cfbackup", "secret", "secret.cfbackup"]
        .iter()
        .map(|n| n.as_bytes().to_vec())
        .collect();
    assert_eq!(names, want);
    expect_clean(&fx);
}

#[test]
fn a_deleted_file_is_restored() {
    let (fx, mirror) = setup();
    let want = seen(&fx.path(TOOL));
    std::fs::remove_file(fx.path(TOOL)).expect("rm");
    let o = restore(&fx, &mirror, &[TOOL]);
    o.expect_code(0);
    assert_eq!(event(&o, &fx.abs(TOOL))["ok"], true);
    assert_eq!(seen(&fx.path(TOOL)), want);
    assert!(!backup(&fx.path(TOOL)).exists(), "nothing to back up");
    expect_clean(&fx);
}

#[test]
fn a_mismatching_source_is_refused_and_nothing_is_written() {
    let (fx, mirror) = setup();
    let conf = fx.path(CONF);
    std::fs::write(&conf, b"listen = 6666\n").expect("tamper");
    let mirrored = mirror.join(conf.strip_prefix("/").expect("absolute"));
    std::fs::write(&mirrored, b"listen = 8080\n").expect("forge mirror");
    let tampered = seen(&conf);
    let ino = std::fs::metadata(&conf).expect("stat").ino();
    let names = listing(&fx.tree.join("etc"));
    let db = std::fs::read(fx.db()).expect("db");

    let o = restore(&fx, &mirror, &[CONF]);
    expect_refused(&o, &fx.abs(CONF), "does not match the database");
    assert_eq!(seen(&conf), tampered);
    assert_eq!(std::fs::metadata(&conf).expect("stat").ino(), ino);
    assert_eq!(
        listing(&fx.tree.join("etc")),
        names,
        "no backup, no temporary"
    );
    assert_eq!(
        std::fs::read(fx.db()).expect("db"),
        db,
        "database untouched"
    );
    // Another path in the same command is restored all the same.
    std::fs::write(fx.path(TOOL), b"x").expect("tamper");
    let o = restore(&fx, &mirror, &[CONF, TOOL]);
    o.expect_code(1);
    assert_eq!(event(&o, &fx.abs(CONF))["ok"], false);
    assert_eq!(event(&o, &fx.abs(TOOL))["ok"], true);
}

#[test]
fn a_symlink_component_is_refused() {
    let (fx, mirror) = setup();
    // The directory is replaced by a symlink to a look-alike elsewhere.
    let elsewhere = fx.scratch.join("etc");
    std::fs::create_dir(&elsewhere).expect("mkdir");
    std::fs::write(elsewhere.join("app.conf"), b"decoy\n").expect("write");
    std::fs::rename(fx.tree.join("etc"), fx.scratch.join("etc.real")).expect("mv");
    std::os::unix::fs::symlink(&elsewhere, fx.tree.join("etc")).expect("symlink");

    let o = restore(&fx, &mirror, &[CONF]);
    expect_refused(&o, &fx.abs(CONF), "is a symlink");
    assert_eq!(
        std::fs::read(elsewhere.join("app.conf")).expect("read"),
        b"decoy\n"
    );
    assert_eq!(listing(&elsewhere), vec![b"app.conf".to_vec()]);
}

#[test]
fn paths_outside_the_trees_are_refused() {
    let (fx, mirror) = setup();
    let outside = fx.scratch.join("app.conf");
    std::fs::write(&outside, b"mine\n").expect("write");
    let escape = fx.tree.join("..").join("scratch").join("app.conf");
    let mut args: Vec<OsString> = vec!["--json".into(), "restore".into()];
    args.push(outside.clone().into_os_string());
    args.push(escape.clone().into_os_string());
    args.extend(["--from".into(), mirror.clone().into_os_string()]);
    let o = fx.run_os(args);
    expect_refused(
        &o,
        outside.as_os_str().as_bytes(),
        "outside the watched trees",
    );
    expect_refused(&o, escape.as_os_str().as_bytes(), "no `.`, `..`");
    assert_eq!(std::fs::read(&outside).expect("read"), b"mine\n");
}

#[test]
fn a_leaf_symlink_is_replaced_not_followed() {
    let (fx, mirror) = setup();
    let want = seen(&fx.path(CONF));
    let target = fx.scratch.join("precious");
    std::fs::write(&target, b"do not touch\n").expect("write");
    chmod(&target, 0o640);
    let conf = fx.path(CONF);
    std::fs::remove_file(&conf).expect("rm");
    std::os::unix::fs::symlink(&target, &conf).expect("symlink");
    let target_before = seen(&target);

    let o = restore(&fx, &mirror, &[CONF]);
    o.expect_code(0);
    assert_eq!(event(&o, &fx.abs(CONF))["ok"], true);
    assert_eq!(seen(&conf), want);
    assert_eq!(
        seen(&target),
        target_before,
        "the symlink's target is untouched"
    );
    let kept = std::fs::read_link(backup(&conf)).expect("the backup is the symlink itself");
    assert_eq!(kept, target);
    expect_clean(&fx);
}

#[test]
fn a_damaged_database_stops_it() {
    let (fx, mirror) = setup();
    std::fs::write(fx.path(CONF), b"listen = 6666\n").expect("tamper");
    let mut db = std::fs::read(fx.db()).expect("db");
    let mid = db.len() / 2;
    db[mid] ^= 0x40;
    std::fs::write(fx.db(), &db).expect("damage db");
    let o = fx.run_os(vec![
        "--json".into(),
        "restore".into(),
        fx.path(CONF).into_os_string(),
        "--from".into(),
        mirror.into_os_string(),
    ]);
    o.expect_code(17);
    assert!(
        of_type(&o.json(), "restore").is_empty(),
        "{}",
        o.stdout_str()
    );
    assert_eq!(
        std::fs::read(fx.path(CONF)).expect("read"),
        b"listen = 6666\n"
    );
}

fn tag(fx: &Fixture) {
    let ok = set_xattr(&fx.path(CONF), "user.tag", b"blue").expect("setxattr");
    assert!(ok, "user xattrs are not supported on the test file system");
}

#[test]
fn extended_attributes_still_as_recorded_are_carried_over() {
    let (fx, mirror) = setup_with(tag);
    let want = seen(&fx.path(CONF));
    // Content only: the inode, and its extended attributes, stay.
    std::fs::write(fx.path(CONF), b"listen = 6666\n").expect("tamper");
    let o = restore(&fx, &mirror, &[CONF]);
    o.expect_code(0);
    let m = event(&o, &fx.abs(CONF))["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(m.contains("extended attributes carried over"), "{m}");
    assert_eq!(seen(&fx.path(CONF)), want);
    assert_eq!(
        list_xattrs(&fx.path(CONF)),
        Some(vec![(b"user.tag".to_vec(), b"blue".to_vec())])
    );
    expect_clean(&fx);
}

#[test]
fn extended_attributes_lost_are_reported_not_hidden() {
    let (fx, mirror) = setup_with(tag);
    // A new file in its place: the attributes are gone and only their digest is recorded.
    std::fs::remove_file(fx.path(CONF)).expect("rm");
    std::fs::write(fx.path(CONF), b"listen = 6666\n").expect("replace");
    let o = restore(&fx, &mirror, &[CONF]);
    o.expect_code(0);
    let m = event(&o, &fx.abs(CONF))["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        m.contains("still differs from the database in xattrs"),
        "{m}"
    );
    let check = fx.run(&["--json", "check"]);
    check.expect_code(4);
    let files = check.files();
    assert_eq!(files.len(), 1, "{}", check.stdout_str());
    assert_eq!(
        files[0]["path"],
        std::str::from_utf8(&fx.abs(CONF)).expect("UTF-8")
    );
    assert_eq!(files[0]["attrs"], Value::from(vec!["xattrs"]));
}

#[test]
fn other_pending_changes_are_still_reported() {
    let (fx, mirror) = setup();
    tick();
    chmod(&fx.path(TOOL), 0o700);
    chmod(&fx.tree.join("etc"), 0o750);
    std::fs::write(fx.path(SECRET), b"tampered").expect("tamper");
    let o = restore(&fx, &mirror, &[SECRET]);
    o.expect_code(0);
    let m = event(&o, &fx.abs(SECRET))["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(m.contains("its directory differs from the database"), "{m}");
    // The restored file is clean; the other file and the directory are still reported.
    let check = fx.run(&["--json", "check"]);
    check.expect_code(4);
    let mut paths: Vec<String> = check
        .files()
        .iter()
        .map(|e| e["path"].as_str().unwrap_or_default().to_owned())
        .collect();
    paths.sort();
    let want: Vec<String> = [b"bin/tool", &b"etc"[..]]
        .iter()
        .map(|r| String::from_utf8(fx.abs(r)).expect("UTF-8"))
        .collect();
    assert_eq!(paths, want, "{}", check.stdout_str());
}

#[test]
fn a_signed_database_stays_signed() {
    let (fx, mirror) = setup_with(|fx| {
        let key = fx.dir.path().join("db.key");
        let out = fx.run_os(vec![
            "keygen".into(),
            "--out".into(),
            key.clone().into_os_string(),
        ]);
        out.expect_code(0);
        let top = format!("[database]\nkey = {:?}\n", key.to_str().expect("UTF-8"));
        fx.write_config(&top, "");
    });
    std::fs::write(fx.path(CONF), b"listen = 6666\n").expect("tamper");
    let o = restore(&fx, &mirror, &[CONF]);
    o.expect_code(0);
    // A key verifies every database read: an unsigned one would be refused with 17.
    expect_clean(&fx);
}
