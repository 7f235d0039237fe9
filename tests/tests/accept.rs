#![cfg(target_os = "linux")]
//! Accepting changes: plain check accepts once, `--no-update` / `update = false` keep
//! reporting until `update`, and `update PATH…` accepts exactly those paths.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use homeostat_tests::filelog::parse_log;
use homeostat_tests::fixture::Fixture;
use homeostat_tests::fs::{chmod, tick};
use homeostat_tests::run::Output;
use homeostat_tests::text::esc;
use homeostat_tests::tree::t;

fn paths(o: &Output) -> Vec<String> {
    let mut v: Vec<String> = o
        .files()
        .iter()
        .map(|e| e["path"].as_str().unwrap_or("").to_owned())
        .collect();
    v.sort();
    v
}

/// Paths named by any JSON line (whatever its type): what `update` says it accepted.
fn any_paths(o: &Output) -> Vec<String> {
    let mut v: Vec<String> = o
        .json()
        .iter()
        .filter_map(|e| e["path"].as_str().map(str::to_owned))
        .collect();
    v.sort();
    v.dedup();
    v
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn s_lines(fx: &Fixture) -> Vec<(String, String)> {
    parse_log(&fx.log_bytes())
        .into_iter()
        .map(|l| (l.path, l.letter))
        .collect()
}

#[test]
fn plain_check_reports_once_then_is_clean() {
    let fx = Fixture::new();
    fx.init();
    tick();
    chmod(&fx.path(t::HOSTS), 0o600);
    let first = fx.run(&["--json", "check"]);
    first.expect_code(4);
    assert_eq!(paths(&first), vec![esc(&fx.abs(t::HOSTS))]);
    let second = fx.run(&["--json", "check"]);
    second.expect_code(0);
    assert!(
        second.files().is_empty(),
        "reported twice: {}",
        second.stdout_str()
    );
    let third = fx.run(&["check"]);
    third.expect_code(0);
    assert_eq!(
        s_lines(&fx),
        vec![(esc(&fx.abs(t::HOSTS)), "S".to_owned())],
        "log"
    );
}

#[test]
fn no_update_reports_until_update() {
    let fx = Fixture::new();
    fx.init();
    tick();
    chmod(&fx.path(t::HOSTS), 0o600);
    chmod(&fx.path(t::MOTD), 0o600);
    let want = sorted(vec![esc(&fx.abs(t::HOSTS)), esc(&fx.abs(t::MOTD))]);
    for _ in 0..3 {
        let o = fx.run(&["--json", "check", "--no-update"]);
        o.expect_code(4);
        assert_eq!(paths(&o), want);
    }
    let text = fx.run(&["check", "--no-update"]);
    text.expect_code(4);
    assert_eq!(
        s_lines(&fx).len(),
        8,
        "each of 4 checks appends its 2 S lines"
    );
    let log_before = fx.log_bytes();

    let up = fx.run(&["--json", "update"]);
    up.expect_code(0);
    assert_eq!(any_paths(&up), want, "update prints what it accepts");
    assert_eq!(
        fx.log_bytes(),
        log_before,
        "update wrote file_changes.log lines"
    );

    let o = fx.run(&["--json", "check", "--no-update"]);
    o.expect_code(0);
    assert!(
        o.files().is_empty(),
        "still reported after update: {}",
        o.stdout_str()
    );
}

#[test]
fn config_update_false_means_no_update() {
    let fx = Fixture::new();
    fx.write_config("update = false", "");
    fx.init();
    tick();
    chmod(&fx.path(t::PASSWD), 0o640);
    for _ in 0..2 {
        let o = fx.run(&["--json", "check"]);
        o.expect_code(4);
        assert_eq!(paths(&o), vec![esc(&fx.abs(t::PASSWD))]);
    }
    fx.run(&["update"]).expect_code(0);
    let o = fx.run(&["--json", "check"]);
    o.expect_code(0);
    assert!(o.files().is_empty(), "{}", o.stdout_str());
}

#[test]
fn update_path_accepts_only_that_path() {
    let fx = Fixture::new();
    fx.init();
    tick();
    chmod(&fx.path(t::HOSTS), 0o600);
    chmod(&fx.path(t::MOTD), 0o600);
    let hosts = esc(&fx.abs(t::HOSTS));
    let motd = esc(&fx.abs(t::MOTD));

    let up = fx.run(&["--json", "update", &hosts]);
    up.expect_code(0);
    assert_eq!(
        any_paths(&up),
        vec![hosts.clone()],
        "update PATH prints only what it accepts"
    );

    let o = fx.run(&["--json", "check", "--no-update"]);
    o.expect_code(4);
    assert_eq!(
        paths(&o),
        vec![motd.clone()],
        "only the other path is still reported"
    );

    fx.run(&["update", &motd]).expect_code(0);
    let o = fx.run(&["--json", "check", "--no-update"]);
    o.expect_code(0);
    assert!(o.files().is_empty(), "{}", o.stdout_str());
}

/// Partial acceptance of an added and a removed entry: the directory that holds them
/// stays reported until it is accepted too.
#[test]
fn update_paths_accepts_added_and_removed_entries() {
    let fx = Fixture::new();
    fx.init();
    tick();
    std::fs::write(fx.path(b"etc/new.conf"), b"new").unwrap();
    std::fs::remove_file(fx.path(t::MOTD)).unwrap();
    let etc = esc(&fx.abs(t::ETC));
    let new = esc(&fx.abs(b"etc/new.conf"));
    let motd = esc(&fx.abs(t::MOTD));

    let o = fx.run(&["--json", "check", "--no-update"]);
    o.expect_code(7);
    assert_eq!(
        paths(&o),
        sorted(vec![etc.clone(), new.clone(), motd.clone()])
    );

    fx.run(&["update", &new, &motd]).expect_code(0);
    let o = fx.run(&["--json", "check", "--no-update"]);
    o.expect_code(4);
    assert_eq!(paths(&o), vec![etc.clone()], "only the directory is left");
    // One entry added and one removed: even where a directory's size counts its entries
    // (tmpfs) it is unchanged, so mtime and ctime are all that differ.
    assert_eq!(o.files()[0]["attrs"], serde_json::json!(["mtime", "ctime"]));

    fx.run(&["update", &etc]).expect_code(0);
    let o = fx.run(&["--json", "check", "--no-update"]);
    o.expect_code(0);
    assert!(o.files().is_empty(), "{}", o.stdout_str());
}

/// `update PATH` with a non-UTF-8 path given as raw bytes on the command line.
#[test]
fn update_non_utf8_path() {
    let fx = Fixture::new();
    fx.init();
    tick();
    chmod(&fx.path(t::CAFE), 0o600);
    chmod(&fx.path(t::BADUTF), 0o600);
    let up = fx.run_os(vec!["update".into(), OsString::from_vec(fx.abs(t::CAFE))]);
    up.expect_code(0);
    let o = fx.run(&["--json", "check", "--no-update"]);
    o.expect_code(4);
    assert_eq!(paths(&o), vec![esc(&fx.abs(t::BADUTF))]);
}
