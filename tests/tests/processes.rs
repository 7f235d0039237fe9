#![cfg(target_os = "linux")]
//! Process promises end to end: a `sleep` run as `nobody` breaks a promise of none, in
//! JSON and in text; killed, the promise is kept again at the next scan. Needs root (to
//! run the sleep as `nobody`); skipped otherwise.

use std::ffi::OsString;

use homeostat_tests::json::{classes, of_type};
use homeostat_tests::procs::sleeper;
use homeostat_tests::run::{homeostat_bin, is_root, run_cmd, Output};
use homeostat_tests::serde_json::json;
use homeostat_tests::tempfile::TempDir;

const CONFIG: &str = r#"
[[process]]
name = "rogue_sleep"
command = '^sleep( |$)'
owner = ["nobody"]
count = [0, 0]
in_range_define = ["no_rogue"]
out_of_range_define = ["rogue_seen", "page_me"]
"#;

fn scan(dir: &TempDir, json: bool) -> Output {
    let cfg = dir.path().join("homeostat.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let mut args: Vec<OsString> = vec!["scan".into()];
    if json {
        args.push("--json".into());
    }
    args.extend([
        "--config".into(),
        cfg.into_os_string(),
        "--state-dir".into(),
        dir.path().join("state").into_os_string(),
    ]);
    let o = run_cmd(homeostat_bin(), &args, &[]);
    // a broken promise does not change scan's exit status
    o.expect_code(0);
    o
}

#[test]
fn sleep_as_nobody_breaks_the_promise_and_killing_it_keeps_it() {
    if !is_root() {
        eprintln!("skipped: needs root to run sleep as nobody");
        return;
    }
    let dir = TempDir::new().unwrap();
    let s = sleeper("sleep", "300");
    let pid = s.pid();

    let events = scan(&dir, true).json();
    let p = of_type(&events, "process");
    assert_eq!(p.len(), 1, "{events:?}");
    assert_eq!(
        p[0],
        json!({"type": "process", "t": p[0]["t"], "name": "rogue_sleep", "count": 1,
               "range": [0, 0], "in_range": false, "pids": [pid]})
    );
    let c = classes(&events);
    for want in ["rogue_sleep_out_of_range", "rogue_seen", "page_me"] {
        assert!(c.iter().any(|x| x == want), "{want} missing from {c:?}");
    }
    assert!(
        !c.iter()
            .any(|x| x == "rogue_sleep_in_range" || x == "no_rogue"),
        "{c:?}"
    );
    // the process event comes before the classes event, which comes before the summary
    let pos = |t: &str| events.iter().position(|e| e["type"] == t).unwrap();
    assert!(pos("process") < pos("classes") && pos("classes") < pos("summary"));

    let text = scan(&dir, false).text();
    let want = format!("process rogue_sleep: 1 running, promised 0..0: BROKEN (pids {pid})");
    assert!(text.lines().any(|l| l == want), "{want:?} not in\n{text}");
    let cl = text
        .lines()
        .find(|l| l.starts_with("classes:"))
        .unwrap_or_else(|| panic!("no classes line in\n{text}"));
    assert!(
        cl.split(' ').any(|w| w == "rogue_sleep_out_of_range"),
        "{cl}"
    );

    drop(s);
    let events = scan(&dir, true).json();
    let p = of_type(&events, "process");
    assert_eq!(
        p[0],
        json!({"type": "process", "t": p[0]["t"], "name": "rogue_sleep", "count": 0,
               "range": [0, 0], "in_range": true, "pids": []})
    );
    let c = classes(&events);
    assert_eq!(c, ["no_rogue", "rogue_sleep_in_range"]);
}

#[test]
fn bad_promises_are_config_errors() {
    let dir = TempDir::new().unwrap();
    let cfg = dir.path().join("bad.toml");
    for (body, want) in [
        (
            "[[process]]\nname = \"x\"\ncount = [0, 0]\nselect = \"command.(owner\"\n",
            "column 9",
        ),
        ("[[process]]\nname = \"x y\"\ncount = [0, 0]\n", "name"),
        (
            "[[process]]\nname = \"x\"\ncount = [0, 0]\nrss = [5]\n",
            "rss",
        ),
    ] {
        std::fs::write(&cfg, body).unwrap();
        let args: Vec<OsString> = vec![
            "scan".into(),
            "--config".into(),
            cfg.clone().into_os_string(),
            "--state-dir".into(),
            dir.path().join("state").into_os_string(),
        ];
        let o = run_cmd(homeostat_bin(), &args, &[]);
        assert_ne!(o.code, 0, "{body:?} accepted");
        let err = o.stderr_str();
        assert!(
            err.contains("[[process]] block 1") && err.contains(want),
            "{body:?}: {err}"
        );
    }
}
