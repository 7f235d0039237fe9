#![cfg(target_os = "linux")]
//! `[[rule]]` end to end: a rule on a file class fires an alert with its variables
//! expanded (JSON and text), `every` holds it back across processes, `set_state` outlives
//! the process and expires on time, a hanging `run` is killed at its timeout without
//! changing the exit status, and a report cannot add a line or an escape.

use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, Instant};

use homeostat_tests::run::{homeostat_bin, run_cmd, Output};
use homeostat_tests::serde_json::Value;
use homeostat_tests::tempfile::TempDir;

fn homeostat(dir: &Path, args: &[&str]) -> Output {
    let mut a: Vec<OsString> = vec![
        "--config".into(),
        dir.join("homeostat.toml").into(),
        "--state-dir".into(),
        dir.join("state").into(),
    ];
    a.extend(args.iter().map(OsString::from));
    run_cmd(homeostat_bin(), &a, &[])
}

/// A tree of one file watched as `files_web`, and `rules` after it.
fn setup(rules: &str) -> TempDir {
    let dir = TempDir::new().unwrap();
    let tree = dir.path().join("web");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    std::fs::write(tree.join("index.html"), "hello\n").unwrap();
    std::fs::write(
        dir.path().join("homeostat.toml"),
        format!(
            "[[files]]\npath = {:?}\nhandle = \"files_web\"\nhash = \"sha256\"\n\n{rules}",
            tree.display().to_string()
        ),
    )
    .unwrap();
    dir
}

fn tamper(dir: &Path, text: &str) {
    std::fs::write(dir.join("web/index.html"), text).unwrap();
}

fn alerts(o: &Output) -> Vec<Value> {
    o.json()
        .into_iter()
        .filter(|v| v["type"] == "alert")
        .collect()
}

fn host_class() -> String {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    h.trim()
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                b as char
            } else {
                '_'
            }
        })
        .collect()
}

#[test]
fn a_file_class_fires_once_per_interval_and_its_state_expires() {
    let dir = setup(
        r#"
[[rule]]
name = "web_tampered"
when = "files_web_changed.any"
report = "web tree changed on $(sys.host) ($(rule.name)) by [$(this.promiser)]"
severity = "crit"
every = "1h"
set_state = { name = "tampered", ttl = "3s", policy = "preserve" }
"#,
    );
    let d = dir.path();
    // The baseline: nothing changed, nothing fires.
    let o = homeostat(d, &["scan", "--json"]);
    o.expect_code(0);
    assert!(alerts(&o).is_empty(), "{}", o.stdout_str());
    homeostat(d, &["eval", "tampered"]).expect_code(1);

    tamper(d, "defaced\n");
    let o = homeostat(d, &["scan", "--json"]);
    o.expect_code(4);
    let a = alerts(&o);
    assert_eq!(a.len(), 1, "{}", o.stdout_str());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(a[0]["rule"], "web_tampered");
    assert_eq!(a[0]["severity"], "crit");
    assert_eq!(
        a[0]["message"],
        format!("web tree changed on {} (web_tampered) by []", host.trim())
    );
    // The classes event lists the file class and the state, not the hard classes.
    let classes: Vec<Value> = o
        .json()
        .into_iter()
        .filter(|v| v["type"] == "classes")
        .collect();
    assert_eq!(classes.len(), 1, "{}", o.stdout_str());
    let names = classes[0]["classes"].as_array().unwrap();
    assert!(
        names.contains(&Value::from("files_web_changed")),
        "{names:?}"
    );
    assert!(names.contains(&Value::from("tampered")), "{names:?}");
    assert!(!names.contains(&Value::from("any")), "{names:?}");
    let set_at = Instant::now();

    // A new process: the state is alive, the rule is held back by `every`.
    homeostat(d, &["eval", "tampered.files_web_changed.any"]).expect_code(0);
    homeostat(d, &["eval", &format!("tampered.{}", host_class())]).expect_code(0);
    tamper(d, "defaced again\n");
    let o = homeostat(d, &["scan", "--json"]);
    o.expect_code(4);
    assert!(alerts(&o).is_empty(), "{}", o.stdout_str());

    // Expired after its ttl (alive while now <= set + 3 s): wait it out, bounded.
    let deadline = set_at + Duration::from_secs(10);
    loop {
        let o = homeostat(d, &["eval", "tampered"]);
        if o.code == 1 {
            break;
        }
        o.expect_code(0);
        assert!(Instant::now() < deadline, "state still alive after 10 s");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(set_at.elapsed() >= Duration::from_secs(2));
}

#[test]
fn text_alert_and_no_injection() {
    let dir = setup(
        "[[rule]]\nname = \"inject\"\nwhen = \"files_web_changed\"\nreport = \"line one\\nALERT fake: \\u001b[31mred $(rule.name)\"\n",
    );
    let d = dir.path();
    homeostat(d, &["scan"]).expect_code(0);
    tamper(d, "x\n");
    let o = homeostat(d, &["scan", "--no-update"]);
    o.expect_code(4);
    let text = o.stdout_str();
    // Rule alerts are `ALERT <rule>: …`; the file findings' own are `ALERT: …`.
    let alerts: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("ALERT") && !l.starts_with("ALERT:"))
        .collect();
    // One line, starting where a rule's alert does; the newline and the escape are shown
    // escaped, never raw.
    assert_eq!(alerts.len(), 1, "{text}");
    assert!(alerts[0].starts_with("ALERT inject: line one"), "{text}");
    assert!(alerts[0].ends_with("red inject"), "{text}");
    assert!(!o.stdout.contains(&0x1b), "{text}");
    let o = homeostat(d, &["scan", "--json", "--no-update"]);
    o.expect_code(4);
    let a: Vec<Value> = o
        .json()
        .into_iter()
        .filter(|v| v["type"] == "alert")
        .collect();
    assert_eq!(a.len(), 1);
    let m = a[0]["message"].as_str().unwrap();
    assert!(!m.contains('\n') && !m.contains('\u{1b}'), "{m:?}");
    assert_eq!(a[0]["severity"], "warning");
}

#[test]
fn a_hanging_run_is_killed_and_the_scan_still_succeeds() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("state")).unwrap();
    std::fs::write(
        d.join("homeostat.toml"),
        "[[rule]]\nname = \"hang\"\nwhen = \"any\"\nreport = \"running $(rule.name)\"\nrun = [\"/bin/sleep\", \"60\"]\nrun_timeout = \"1s\"\n",
    )
    .unwrap();
    let start = Instant::now();
    let o = homeostat(d, &["scan", "--json"]);
    o.expect_code(0);
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    let v = o.json();
    assert!(
        v.iter()
            .any(|e| e["type"] == "alert" && e["message"] == "running hang"),
        "{}",
        o.stdout_str()
    );
    assert!(
        v.iter()
            .any(|e| e["type"] == "warning"
                && e["message"].as_str().unwrap_or("").contains("killed")),
        "{}",
        o.stdout_str()
    );
}

#[test]
fn bad_rules_are_config_errors_at_load() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("state")).unwrap();
    for (rule, what) in [
        ("when = \"a.(b\"\nreport = \"x\"", "column 3"),
        ("when = \"a\"\nreport = \"$(mon.nope)\"", "$(mon.nope)"),
    ] {
        std::fs::write(
            d.join("homeostat.toml"),
            format!("[[rule]]\nname = \"broken\"\n{rule}\n"),
        )
        .unwrap();
        let o = homeostat(d, &["scan"]);
        o.expect_code(16);
        let e = o.stderr_str();
        assert!(e.contains("broken") && e.contains(what), "{e}");
    }
    std::fs::write(d.join("homeostat.toml"), "").unwrap();
    let o = homeostat(d, &["eval", "a.(b"]);
    o.expect_code(16);
    assert!(o.stderr_str().contains("column 3"), "{}", o.stderr_str());
}

#[test]
fn states_set_and_unset_are_seen_by_the_rules_after_them_and_mon_values_expand() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("state")).unwrap();
    let log = d.join("app.log");
    std::fs::write(&log, "hit\nmiss\nhit\nhit\n").unwrap();
    std::fs::write(
        d.join("homeostat.toml"),
        format!(
            r#"
[[measure]]
name = "hits"
file = {:?}
match = "^hit$"

[[rule]]
name = "arm"
when = "any"
set_state = {{ name = "armed", ttl = "1h", policy = "reset" }}

[[rule]]
name = "seen"
when = "armed"
report = "armed; hits $(mon.value_hits)"
unset_state = ["armed"]

[[rule]]
name = "gone"
when = "!armed"
report = "disarmed"
"#,
            log.display().to_string()
        ),
    )
    .unwrap();
    let o = homeostat(d, &["scan", "--json"]);
    o.expect_code(0);
    let a = alerts(&o);
    let got: Vec<(&str, &str)> = a
        .iter()
        .map(|v| (v["rule"].as_str().unwrap(), v["message"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [("seen", "armed; hits 3"), ("gone", "disarmed")],
        "{}",
        o.stdout_str()
    );
    homeostat(d, &["eval", "armed"]).expect_code(1);
    // Hard classes: always `any`, the OS, and exactly one weekday.
    homeostat(d, &["eval", "any.linux.!freebsd"]).expect_code(0);
    let days = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    // One `eval` reads the clock once, so each expression holds at one moment even across
    // midnight: at least one weekday, and no two at once.
    homeostat(d, &["eval", &days.join("|")]).expect_code(0);
    let mut pairs = Vec::new();
    for (i, a) in days.iter().enumerate() {
        for b in &days[i + 1..] {
            pairs.push(format!("{a}.{b}"));
        }
    }
    homeostat(d, &["eval", &format!("!({})", pairs.join("|"))]).expect_code(0);
}

#[test]
fn eval_time_classes_follow_tz() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("state")).unwrap();
    std::fs::write(d.join("homeostat.toml"), "").unwrap();
    let eval = |tz: &str, expr: &str| {
        let a: Vec<OsString> = vec![
            "--config".into(),
            d.join("homeostat.toml").into(),
            "--state-dir".into(),
            d.join("state").into(),
            "eval".into(),
            expr.into(),
        ];
        run_cmd(homeostat_bin(), &a, &[("TZ", tz.as_ref())]).code
    };
    // Twelve hours apart (POSIX TZ strings need no zone files). The test and the binary
    // read the clock separately: only when an hour boundary passed between the test's two
    // readings may the result differ, and then the next hour, with no boundary near, decides.
    let hour = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            / 3600
    };
    loop {
        let before = hour();
        let utc = before % 24;
        let east = (utc + 12) % 24;
        let (a, b) = (
            eval("UTC0", &format!("Hr{utc:02}")),
            eval("XYZ-12", &format!("Hr{east:02}.!Hr{utc:02}")),
        );
        if hour() == before {
            assert_eq!((a, b), (0, 0), "Hr classes do not follow TZ");
            return;
        }
    }
}
