#![cfg(target_os = "linux")]
//! Who may read homeostat's state: the state directory is 0700 and every file in it 0600
//! (digests of every watched file, the journal, the learned state); a state directory
//! others can write, or a signing key others can read, is refused with exit 16 naming it.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use homeostat_tests::fixture::Fixture;
use homeostat_tests::fs::overwrite_in_place;
use homeostat_tests::tree::t;

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .mode()
        & 0o7777
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Every directory and file below `dir` (not `dir` itself).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    for e in fs::read_dir(dir).expect("read state dir") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            all.extend(walk(&p));
        }
        all.push(p);
    }
    all
}

/// A state dir homeostat creates itself, after `scan` (database, learner state, metrics
/// counters, journal) and a `check` that finds a change (`file_changes.log`): 0700, and
/// every file in it 0600. The metrics file for node_exporter is the one file meant for
/// another reader: 0644.
#[test]
fn fresh_state_dir_is_0700_with_0600_files() {
    let fx = Fixture::new();
    fs::remove_dir(&fx.state).expect("the fixture's state dir is empty");
    let prom = fx.dir.path().join("homeostat.prom");
    let prom_str = prom.to_str().expect("UTF-8 temp path");
    fx.write_config(
        &format!("[monitor]\ninterval = \"150s\"\n[output]\nmetrics_file = \"{prom_str}\"\n"),
        "",
    );
    fx.run(&["--json", "scan"]).expect_code(0);
    overwrite_in_place(&fx.path(t::HOSTS), b"changed content\n");
    let check = fx.run(&["--json", "check"]);
    assert!(
        check.code > 0 && check.code < 16,
        "check must find the change: {}",
        check.stderr_str()
    );

    assert_eq!(mode(&fx.state), 0o700, "state dir {}", fx.state.display());
    let names: Vec<PathBuf> = walk(&fx.state);
    for want in ["files.db", "journal.jsonl", "file_changes.log"] {
        assert!(
            names.iter().any(|p| p.file_name() == Some(want.as_ref())),
            "{want} missing from the state dir: {names:?}"
        );
    }
    assert!(
        names.len() > 3,
        "a monitor sample writes learner state: {names:?}"
    );
    for p in &names {
        let want = if p.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(p), want, "{} is {:04o}", p.display(), mode(p));
    }
    assert_eq!(
        mode(&prom),
        0o644,
        "the node_exporter file {}",
        prom.display()
    );
}

/// A state dir left readable by an older version (0755) is made private, not refused.
#[test]
fn readable_state_dir_is_narrowed_to_0700() {
    let fx = Fixture::new();
    chmod(&fx.state, 0o755);
    fx.init();
    assert_eq!(mode(&fx.state), 0o700);
    assert_eq!(mode(&fx.db()), 0o600);
}

/// A world-writable state dir: exit 16, the message names it, nothing written into it.
#[test]
fn world_writable_state_dir_is_refused() {
    let fx = Fixture::new();
    chmod(&fx.state, 0o777);
    for cmd in ["init", "scan", "check", "run"] {
        let o = fx.run(&[cmd]);
        o.expect_code(16);
        let err = o.stderr_str();
        assert!(
            err.contains(&fx.state.display().to_string()) && err.contains("writable"),
            "`{cmd}` does not name the state dir and why: {err}"
        );
    }
    assert!(
        walk(&fx.state).is_empty(),
        "something was written: {:?}",
        walk(&fx.state)
    );
    assert_eq!(
        mode(&fx.state),
        0o777,
        "a refused directory is left as it was"
    );
}

/// A signing key the group can read is refused (exit 16, named); at 0600 it is used.
#[test]
fn group_readable_signing_key_is_refused() {
    let fx = Fixture::new();
    let key = fx.dir.path().join("db.key");
    let key_str = key.to_str().expect("UTF-8 temp path");
    fx.run(&["keygen", "--out", key_str]).expect_code(0);
    assert_eq!(mode(&key), 0o600, "keygen writes the key 0600");
    fx.write_config(&format!("[database]\nkey = \"{key_str}\"\n"), "");

    for bad in [0o640, 0o604, 0o660] {
        chmod(&key, bad);
        let o = fx.run(&["init"]);
        o.expect_code(16);
        let err = o.stderr_str();
        assert!(
            err.contains(key_str) && err.contains(&format!("{bad:04o}")),
            "mode {bad:04o}: the message does not name the key and its mode: {err}"
        );
        assert!(
            !fx.db().exists(),
            "a database was written with a refused key"
        );
    }
    chmod(&key, 0o600);
    fx.init();
    assert!(fx.db().exists());
}
