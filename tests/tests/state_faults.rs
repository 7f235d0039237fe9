//! The state directory when it fails under the monitor: read-only, full, torn by an
//! interrupted write. Whatever cannot be recorded is still reported whole (stdout, JSON),
//! then named, with exit 18; the database is the old one or the new one, never torn; the
//! run after the fault is fixed reports, and records, what was not recorded.
//!
//! Faults are real: a read-only bind mount or a small tmpfs over the fixture's state
//! directory, in a mount namespace of the test's own (`kit::mountns`), never the host's
//! (as root `chmod` does not stop a write). Where the host gives no mount namespace
//! (not root), these tests say so and pass without checking anything.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::time::Duration;

use homeostat_tests::daemon::{findings, Daemon};
use homeostat_tests::fixture::Fixture;
use homeostat_tests::mountns::MountNs;
use homeostat_tests::run::homeostat_bin;
use homeostat_tests::serde_json::Value;

/// A fixture of `n` files `f0000`… in a plain tree, watched with all attributes.
fn plain(n: usize, top: &str) -> Fixture {
    let fx = Fixture::bare();
    for i in 0..n {
        fs::write(fx.tree.join(name(i)), format!("{i}\n")).unwrap();
    }
    fx.write_config(top, "");
    fx
}

/// File `i`'s name: long, so that a few hundred findings outgrow a small disk.
fn name(i: usize) -> String {
    format!("f{i:04}-{}", "x".repeat(100))
}

fn mount_ns() -> Option<MountNs> {
    match MountNs::new() {
        Ok(ns) => Some(ns),
        Err(why) => {
            eprintln!("skipped: no private mount namespace here ({why})");
            None
        }
    }
}

/// The paths of the `file` events of a run's JSON lines.
fn paths(lines: &[Value]) -> BTreeSet<String> {
    lines
        .iter()
        .filter(|v| v["type"] == "file")
        .map(|v| v["path"].as_str().unwrap().to_owned())
        .collect()
}

/// Every line of a `file_changes.log` has its five fields and its newline; the set of
/// paths it names.
fn whole_log(bytes: &[u8]) -> BTreeSet<String> {
    assert!(
        bytes.is_empty() || bytes.ends_with(b"\n"),
        "file_changes.log ends mid-line: {:?}",
        String::from_utf8_lossy(&bytes[bytes.len().saturating_sub(200)..])
    );
    let text = std::str::from_utf8(bytes).expect("log is ASCII");
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 5, "a log line without its five fields: {l:?}");
            assert!(f[0].parse::<i64>().is_ok(), "a torn epoch: {l:?}");
            assert!(["N", "R", "C", "S"].contains(&f[3]), "a torn letter: {l:?}");
            f[2].to_owned()
        })
        .collect()
}

/// Fills the file system of `dir` (seen through the namespace) but for about `free`
/// bytes, with one filler file; returns its path.
fn fill(dir: &Path, free: u64) -> std::path::PathBuf {
    let filler = dir.join("filler");
    let st = nix_statvfs(dir);
    let avail = st.saturating_sub(free);
    fs::write(&filler, vec![0u8; avail as usize]).expect("write the filler");
    filler
}

/// Bytes free on the file system of `dir`.
fn nix_statvfs(dir: &Path) -> u64 {
    let out = std::process::Command::new("stat")
        .args(["-f", "-c", "%a %S"])
        .arg(dir)
        .output()
        .expect("stat -f");
    let s = String::from_utf8(out.stdout).unwrap();
    let mut it = s.split_whitespace().map(|x| x.parse::<u64>().unwrap());
    it.next().unwrap() * it.next().unwrap()
}

#[test]
fn a_read_only_state_dir_still_reports_findings() {
    let Some(ns) = mount_ns() else { return };
    let fx = plain(3, "[monitor]\ninterval = \"1s\"\nfiles_interval = \"1s\"\n");
    fx.init();
    let db_before = fs::read(fx.db()).unwrap();
    fs::write(fx.tree.join(name(1)), "changed\n").unwrap();
    fs::write(fx.tree.join("new"), "new\n").unwrap();
    let changed = fx.tree.join(name(1)).to_str().unwrap().to_owned();
    let added = fx.tree.join("new").to_str().unwrap().to_owned();
    ns.bind(&fx.state);
    ns.read_only(&fx.state, true);

    // `check --no-update` writes no database, only the log and the journal.
    let o = ns.run(&fx, &["--json", "check", "--no-update"]);
    o.expect_code(18);
    let seen = paths(&o.json());
    assert!(seen.contains(&changed) && seen.contains(&added), "{seen:?}");
    let err = o.stderr_str();
    for file in ["file_changes.log", "journal.jsonl"] {
        assert!(err.contains(file), "the error does not name {file}: {err}");
    }
    assert!(err.contains("Read-only file system"), "{err}");

    // `check` (updating) names the database too, and leaves it as it was.
    let o = ns.run(&fx, &["check"]);
    o.expect_code(18);
    let text = o.stdout_str();
    assert!(text.contains(&format!("New file found: {added}")), "{text}");
    assert!(text.contains(&format!("for {changed} changed")), "{text}");
    assert!(
        o.stderr_str().contains("cannot write database"),
        "{}",
        o.stderr_str()
    );
    assert!(o.stderr_str().contains("files.db"), "{}", o.stderr_str());
    assert_eq!(
        fs::read(fx.db()).unwrap(),
        db_before,
        "the database changed"
    );

    // The daemon reports the change every round it cannot record it, and stays up.
    let mut cmd = std::process::Command::new("nsenter");
    cmd.args(["-t", &ns.pid().to_string(), "-m", "--"])
        .arg(homeostat_bin())
        .arg("--config")
        .arg(&fx.config)
        .arg("--state-dir")
        .arg(&fx.state)
        .args(["--json", "run"])
        .env("XDG_STATE_HOME", fx.dir.path().join("xdg"))
        .env("HOME", fx.dir.path());
    let mut d = Daemon::spawn(cmd);
    d.wait(
        "two rounds reporting the added file",
        Duration::from_secs(60),
        |l| findings(l, &added).len() >= 2,
    );
    assert!(
        d.running(),
        "the daemon died on a read-only state directory"
    );
    d.stop();

    // Writable again: the next check reports, and records, what was not recorded.
    ns.read_only(&fx.state, false);
    let o = ns.run(&fx, &["--json", "check"]);
    o.expect_code(5);
    let seen = paths(&o.json());
    let logged = whole_log(&fs::read(fx.log_path()).unwrap());
    for p in [&changed, &added] {
        assert!(seen.contains(p), "not reported again: {p}");
        assert!(logged.contains(p), "not in the log: {p}");
    }
    ns.run(&fx, &["check"]).expect_code(0);
}

/// A torn last line (a crash or a full disk mid-write) is cut back to the last newline
/// with a warning naming the log and the bytes; the next records start on a line of
/// their own.
#[test]
fn a_torn_change_log_line_is_cut_never_glued_onto() {
    let fx = plain(2, "");
    fx.init();
    let torn = b"1700000000,files_x,/etc/passwd,C,Content cha";
    let whole = b"1700000000,files_x,/etc/hosts,C,Content changed\n";
    let mut before = whole.to_vec();
    before.extend_from_slice(torn);
    // Mended at the next open, even by a check that finds nothing to append.
    fs::write(fx.log_path(), &before).unwrap();
    let o = fx.run(&["check"]);
    o.expect_code(0);
    assert!(o.stderr_str().contains(&format!("({} bytes)", torn.len())));
    assert_eq!(fs::read(fx.log_path()).unwrap(), whole);
    fs::write(fx.tree.join(name(0)), "changed\n").unwrap();
    fs::write(fx.log_path(), &before).unwrap();
    let o = fx.run(&["check"]);
    o.expect_code(4);
    let err = o.stderr_str();
    assert!(
        err.contains("file_changes.log") && err.contains(&format!("({} bytes)", torn.len())),
        "no warning naming the log and the bytes cut: {err}"
    );
    let log = fs::read(fx.log_path()).unwrap();
    assert!(log.starts_with(whole), "a whole line was lost");
    let logged = whole_log(&log);
    assert!(!logged.contains("/etc/passwd"));
    assert!(logged.contains(fx.tree.join(name(0)).to_str().unwrap()));
}

/// Findings that outgrow the disk: the log holds whole lines only, stdout has every
/// finding, the database stays the old one; once space is freed the next check
/// reports and records them all.
#[test]
fn a_full_disk_never_tears_the_change_log_nor_cuts_the_report() {
    let Some(ns) = mount_ns() else { return };
    let n = 400;
    let fx = plain(0, "");
    ns.tmpfs(&fx.state, 512);
    ns.run(&fx, &["init"]).expect_code(0);
    for i in 0..n {
        fs::write(fx.tree.join(name(i)), "new\n").unwrap();
    }
    let state = ns.path(&fx.state);
    let db = fs::read(state.join("files.db")).unwrap();
    // Room for a few log lines, not for 400 (about 180 bytes each).
    let filler = fill(&state, 12 * 1024);
    let o = ns.run(&fx, &["--json", "check"]);
    o.expect_code(18);
    let reported = paths(&o.json());
    assert_eq!(reported.len(), n + 1, "the report was cut short"); // + the root
    assert!(
        o.stderr_str().contains("No space left on device"),
        "{}",
        o.stderr_str()
    );
    assert_eq!(
        fs::read(state.join("files.db")).unwrap(),
        db,
        "database changed"
    );
    let logged = whole_log(&fs::read(state.join("file_changes.log")).unwrap_or_default());
    assert!(logged.len() < n, "the log should not have had room for all");
    let leftovers: Vec<_> = fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.contains(".tmp."))
        .collect();
    assert!(leftovers.is_empty(), "temporaries left: {leftovers:?}");

    fs::remove_file(&filler).unwrap();
    let o = ns.run(&fx, &["--json", "check"]);
    o.expect_code(5);
    assert_eq!(
        paths(&o.json()),
        reported,
        "the next check reported otherwise"
    );
    let logged = whole_log(&fs::read(state.join("file_changes.log")).unwrap());
    assert!(
        reported.iter().all(|p| logged.contains(p)),
        "not all recorded"
    );
    ns.run(&fx, &["check"]).expect_code(0);
    ns.run(&fx, &["verify-journal"]).expect_code(0);
}

/// `init` and `update` on a full disk: exit 18 naming the database, no database or the
/// old one (never a torn one), no temporary left; with space again, they succeed.
#[test]
fn a_full_disk_during_init_or_update_leaves_the_old_database_whole() {
    let Some(ns) = mount_ns() else { return };
    let n = 600;
    let fx = plain(n, "");
    // Room for the database, its temporary and the journal of 600 changes.
    ns.tmpfs(&fx.state, 2048);
    let state = ns.path(&fx.state);
    let filler = fill(&state, 8 * 1024);
    let o = ns.run(&fx, &["init"]);
    o.expect_code(18);
    assert!(o.stderr_str().contains("files.db"), "{}", o.stderr_str());
    assert!(!state.join("files.db").exists(), "a database appeared");
    fs::remove_file(&filler).unwrap();
    ns.run(&fx, &["init"]).expect_code(0);
    ns.run(&fx, &["check"]).expect_code(0);

    for i in 0..n {
        fs::write(fx.tree.join(name(i)), "changed\n").unwrap();
    }
    let db = fs::read(state.join("files.db")).unwrap();
    let filler = fill(&state, 8 * 1024);
    let o = ns.run(&fx, &["--json", "update"]);
    o.expect_code(18);
    assert!(o.stderr_str().contains("files.db"), "{}", o.stderr_str());
    assert_eq!(
        fs::read(state.join("files.db")).unwrap(),
        db,
        "database changed"
    );
    for e in fs::read_dir(&state).unwrap() {
        let f = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!f.contains(".tmp."), "temporary left: {f}");
    }
    // The old database still verifies: every change is reported against it.
    let o = ns.run(&fx, &["--json", "check", "--no-update"]);
    o.expect_code(18); // the log and journal still have no room
    assert_eq!(paths(&o.json()).len(), n);
    fs::remove_file(&filler).unwrap();
    ns.run(&fx, &["update"]).expect_code(0);
    ns.run(&fx, &["check"]).expect_code(0);
    // No torn line in the journal either: the failed batches were given back whole.
    ns.run(&fx, &["verify-journal"]).expect_code(0);
}

/// A symlink planted for a state file is refused, named, and its target left alone: the
/// learner state is not read from it nor copied aside; the change log and the journal
/// are not appended through it (the findings are still reported on stdout).
#[test]
fn a_symlinked_state_file_is_refused_not_followed() {
    let fx = plain(2, "[monitor]\ninterval = \"150s\"\n");
    fx.init();
    let victim = fx.scratch.join("victim");
    fs::write(&victim, "not homeostat's\n").unwrap();
    let link = |name: &str| {
        let p = fx.state.join(name);
        let _ = fs::remove_file(&p);
        std::os::unix::fs::symlink(&victim, &p).unwrap();
        p
    };
    let learner = link("learner.state");
    let o = fx.run(&["--json", "scan", "--no-update"]);
    o.expect_code(17);
    assert!(
        o.stderr_str().contains("learner.state is a symbolic link"),
        "{}",
        o.stderr_str()
    );
    assert!(
        !fx.state.join("learner.state.damaged").exists(),
        "target copied aside"
    );
    fs::remove_file(&learner).unwrap();

    fs::write(fx.tree.join(name(0)), "changed\n").unwrap();
    let changed = fx.tree.join(name(0)).to_str().unwrap().to_owned();
    for file in ["file_changes.log", "journal.jsonl"] {
        let l = link(file);
        let o = fx.run(&["--json", "check", "--no-update"]);
        o.expect_code(18);
        assert!(paths(&o.json()).contains(&changed), "finding not reported");
        let err = o.stderr_str();
        assert!(err.contains(&format!("{file} is a symbolic link")), "{err}");
        fs::remove_file(&l).unwrap();
    }
    assert_eq!(fs::read(&victim).unwrap(), b"not homeostat's\n");
    fx.run(&["check"]).expect_code(4);
}
