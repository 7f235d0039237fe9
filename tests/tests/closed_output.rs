//! Whoever reads the output may go away, and the command line may name a path no tree
//! holds: a one-shot command ends quietly (killed by SIGPIPE, status 141 in a shell, no
//! panic and no message); the daemon outlives its log reader and goes on journaling;
//! `update PATH` outside every tree is refused naming the path and the trees.

use std::fs;
use std::process::{Command, Stdio};
use std::time::Duration;

use homeostat_tests::fixture::Fixture;
use homeostat_tests::procs::wait_for;
use homeostat_tests::run::homeostat_bin;

/// Files enough that the report outgrows a pipe's buffer many times over (~600 KB).
const FILES: usize = 4000;

fn many_added() -> Fixture {
    let fx = Fixture::bare();
    fx.write_config("", "");
    fx.init();
    for i in 0..FILES {
        fs::write(
            fx.tree.join(format!("added-{i:05}-{}", "y".repeat(100))),
            "x",
        )
        .unwrap();
    }
    fx
}

/// `homeostat ARGS 2>&1 | head -1` in bash: (homeostat's status, what head printed).
fn piped_into_head(fx: &Fixture, args: &str) -> (i32, String) {
    let script = format!(
        "'{}' --config '{}' --state-dir '{}' {args} 2>&1 | head -1; exit \"${{PIPESTATUS[0]}}\"",
        homeostat_bin().display(),
        fx.config.display(),
        fx.state.display()
    );
    let o = Command::new("bash")
        .args(["-c", &script])
        .env("RUST_BACKTRACE", "0")
        .stderr(Stdio::piped())
        .output()
        .expect("run bash");
    let shown =
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    (o.status.code().expect("bash exits"), shown)
}

#[test]
fn a_closed_stdout_or_stderr_ends_the_command_quietly_without_a_panic() {
    let fx = many_added();
    for args in [
        "scan --no-update",
        "check --no-update",
        "--json check --no-update",
    ] {
        let (status, shown) = piped_into_head(&fx, args);
        assert_eq!(
            status,
            128 + 13,
            "`{args} | head -1` ended with {status}: {shown}"
        );
        assert_eq!(shown.lines().count(), 1, "`{args}`: {shown}");
        assert!(!shown.contains("panicked"), "`{args}`: {shown}");
    }
    // Nothing was accepted: a full check still reports every file.
    let o = fx.run(&["--json", "check", "--no-update"]);
    o.expect_code(5);
    assert_eq!(o.files().len(), FILES + 1);
}

/// The daemon's stdout and stderr are pipes whose readers are gone from the start: it
/// samples on, journaling each round (the first one already wrote to the closed pipe),
/// accepts what it journaled, and stops cleanly on SIGTERM.
#[test]
fn the_daemon_outlives_a_closed_stdout_and_journals_on() {
    let fx = Fixture::bare();
    fs::write(fx.tree.join("f"), "x").unwrap();
    fx.write_config(
        "[monitor]\ninterval = \"1s\"\nfiles_interval = \"1s\"\n",
        "",
    );
    fx.init();
    fs::write(fx.tree.join("g"), "new").unwrap();
    let mut child = fx
        .command(&["--json", "run"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn run");
    drop(child.stdout.take());
    drop(child.stderr.take());
    let journal = fx.state.join("journal.jsonl");
    let rounds = || {
        let bytes = fs::read(&journal).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| l.contains("\"type\":\"classes\""))
            .count()
    };
    // Generous: a debug build's sample of every socket takes seconds on a loaded machine.
    let two = wait_for(Duration::from_secs(240), Duration::from_millis(50), || {
        (rounds() >= 2).then_some(())
    });
    let alive = child.try_wait().expect("try_wait").is_none();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = wait_for(Duration::from_secs(120), Duration::from_millis(50), || {
        child.try_wait().unwrap()
    });
    assert!(two.is_some(), "fewer than 2 rounds journaled in 240 s");
    assert!(alive, "the daemon died when its stdout closed");
    let status = status.expect("the daemon did not stop within 120 s of SIGTERM");
    assert!(status.success(), "the daemon ended with {status}");
    let text = fs::read_to_string(&journal).unwrap();
    let g = fx.tree.join("g");
    let reports = text
        .lines()
        .filter(|l| l.contains(&format!("\"path\":\"{}\"", g.display())))
        .count();
    // Journaled once, then accepted: stdout is the daemon's view, not its record.
    assert_eq!(reports, 1, "the new file was journaled {reports} times");
    fx.run(&["check"]).expect_code(0);
}

#[test]
fn update_of_a_path_outside_every_tree_is_refused_naming_it() {
    let fx = Fixture::bare();
    fs::write(fx.tree.join("f"), "x").unwrap();
    fx.write_config("", "");
    fx.init();
    let db = fs::read(fx.db()).unwrap();
    let outside = fx.scratch.join("elsewhere");
    let o = fx.run(&["update", outside.to_str().unwrap()]);
    o.expect_code(16);
    let err = o.stderr_str();
    assert!(err.contains(outside.to_str().unwrap()), "{err}");
    assert!(
        err.contains(fx.tree_str()),
        "the trees are not named: {err}"
    );
    assert_eq!(fs::read(fx.db()).unwrap(), db, "the database was rewritten");
    // In a tree, or above one (covering it), is accepted.
    fx.run(&["update", fx.tree.join("f").to_str().unwrap()])
        .expect_code(0);
    fx.run(&["update", fx.dir.path().to_str().unwrap()])
        .expect_code(0);
}
