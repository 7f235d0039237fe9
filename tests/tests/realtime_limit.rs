//! The inotify fallback out of watches: reported once, naming the limit and how many
//! directories are unwatched; the watched ones still reported in real time; the daemon
//! running on; a check afterwards finds the rest. The limit is lowered for the daemon
//! alone, in a user namespace of its own (`user.max_inotify_watches`, Linux 5.11+), never
//! system-wide, where it would starve tests running beside it.

use std::fs;
use std::process::Command;
use std::time::Duration;

use homeostat_tests::daemon::findings;
use homeostat_tests::fixture::Fixture;
use homeostat_tests::realtime::{has, p, settle, start_cmd, REALTIME};
use homeostat_tests::serde_json::Value;

/// The daemon's watch limit: fewer than the tree's directories.
const LIMIT: u64 = 20;
/// Directories below the root, each with one file.
const DIRS: u64 = 60;

/// Runs `sh -c script` in a new user namespace as its root; `None` when this host
/// allows none.
fn in_user_ns(script: &str) -> Option<String> {
    let o = Command::new("unshare")
        .args(["--user", "--map-root-user", "sh", "-c", script])
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

/// `cmd` run by `unshare` in a new user namespace whose inotify watch limit is `limit`
/// (`exec`ed, so the daemon keeps the pid the kit signals).
fn limited(cmd: &Command, limit: u64) -> Command {
    let mut w = Command::new("unshare");
    w.args(["--user", "--map-root-user", "sh", "-c"])
        .arg("echo \"$1\" > /proc/sys/user/max_inotify_watches && shift && exec \"$@\"")
        .arg("sh")
        .arg(limit.to_string())
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => w.env(k, v),
            None => w.env_remove(k),
        };
    }
    w
}

fn dir(i: u64) -> String {
    format!("d{i:02}")
}

#[test]
fn the_inotify_watch_limit_is_reported_once_and_the_rest_watched() {
    let probe = format!("echo {LIMIT} > /proc/sys/user/max_inotify_watches && cat /proc/sys/user/max_inotify_watches");
    if in_user_ns(&probe).as_deref() != Some(&LIMIT.to_string()) {
        eprintln!("skipped: no user namespace with its own inotify watch limit here");
        return;
    }
    let fx = Fixture::bare();
    fs::write(fx.tree.join("top"), b"top").unwrap();
    for i in 0..DIRS {
        fs::create_dir(fx.tree.join(dir(i))).unwrap();
        fs::write(fx.tree.join(dir(i)).join("f"), b"f").unwrap();
    }
    fx.write_config("update = true", "realtime = true");
    let mut cmd = fx.command(&["--json", "run"]);
    cmd.env("HOMEOSTAT_WATCH", "inotify");
    let mut d = start_cmd(&fx, limited(&cmd, LIMIT));

    let is_limit = |v: &Value| {
        v["type"] == "warning"
            && v["message"]
                .as_str()
                .is_some_and(|m| m.contains("inotify watch limit reached"))
    };
    d.wait("the warning of the watch limit", REALTIME, |l| {
        l.iter().any(is_limit)
    });
    let warning = d.lines().into_iter().find(is_limit).unwrap();
    let message = warning["message"].as_str().unwrap().to_owned();
    eprintln!("the warning: {message}");
    assert!(
        message.contains(&format!(
            "user.max_inotify_watches = {LIMIT} in this user namespace"
        )),
        "{warning}"
    );
    assert!(
        message.contains("changes there are seen only by scheduled checks"),
        "{warning}"
    );
    // "…): N directories are not watched (the first: PATH); …"
    let unwatched: u64 = message
        .split("): ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of unwatched directories: {warning}"));
    let first = message
        .split("(the first: ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .unwrap_or_else(|| panic!("no first unwatched directory: {warning}"));
    assert!(
        (0..DIRS).any(|i| first == p(&fx, &dir(i))),
        "the first unwatched is one of the tree's: {warning}"
    );
    // The root and LIMIT - 1 directories at most are watched (the daemon has no other
    // watch in its namespace), every other one counted.
    assert!(
        (DIRS + 1 - LIMIT..=DIRS).contains(&unwatched),
        "{unwatched} unwatched of {}: {warning}",
        DIRS + 1
    );
    let watched_dirs = DIRS - unwatched;

    // The root is watched first: its changes are reported in real time.
    fs::write(fx.tree.join("top"), b"top changed").unwrap();
    fs::write(fx.tree.join("new"), b"new").unwrap();
    let (top, new) = (p(&fx, "top"), p(&fx, "new"));
    d.wait("changes in the watched root", REALTIME, |l| {
        has(l, &top, "changed", "realtime") && has(l, &new, "added", "realtime")
    });
    // A change in every directory: those watched are reported in real time, only they.
    for i in 0..DIRS {
        fs::write(fx.tree.join(dir(i)).join("f"), b"f changed").unwrap();
    }
    let files: Vec<String> = (0..DIRS)
        .map(|i| p(&fx, &format!("{}/f", dir(i))))
        .collect();
    let realtime = |l: &[Value]| {
        files
            .iter()
            .filter(|f| has(l, f, "changed", "realtime"))
            .count() as u64
    };
    d.wait(
        "the changes in the watched directories",
        Duration::from_secs(10),
        |l| realtime(l) == watched_dirs,
    );
    settle(&d, &fx, "zz-end");
    let l = d.lines();
    assert_eq!(realtime(&l), watched_dirs, "only the watched are seen");
    for f in &files {
        assert!(findings(&l, f).len() <= 1, "{f}: {:?}", findings(&l, f));
    }
    let warnings: Vec<&Value> = l.iter().filter(|v| is_limit(v)).collect();
    assert_eq!(
        warnings.len(),
        1,
        "one warning, not one per directory: {warnings:?}"
    );
    assert!(d.running(), "the daemon runs on");

    d.stop();
    let o = fx.run(&["--json", "state"]);
    o.expect_code(0);
    let rt: Vec<Value> = o
        .json()
        .into_iter()
        .filter(|v| v["type"] == "realtime")
        .collect();
    assert_eq!(rt.len(), 1, "{}", o.stdout_str());
    assert_eq!(rt[0]["mechanism"], "inotify", "{}", rt[0]);
    assert_eq!(rt[0]["watches"], watched_dirs + 1, "{}", rt[0]);

    // A check (as the scheduled ones) finds the changes the watch could not see: each
    // file of an unwatched directory, and nothing else.
    let o = fx.run(&["--json", "check"]);
    o.expect_code(4); // changed, nothing added or removed
    let found = o.files();
    assert_eq!(found.len() as u64, unwatched, "{found:?}");
    for v in &found {
        assert_eq!(v["change"], "changed", "{v}");
        let path = v["path"].as_str().unwrap();
        assert!(files.iter().any(|f| f == path), "{v}");
        assert!(!has(&l, path, "changed", "realtime"), "{v}");
    }
}
