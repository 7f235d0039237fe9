//! `[[files]] realtime = true` under `run --json`: each kind of change reported within
//! 2 s, once, with the writer when fanotify names it (and by inotify); a stop followed by
//! a gap event and a rescan; the figures in metrics and `state`; a reload that starts
//! the watch. Every wait has a deadline. The floods are in `realtime_flood.rs`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::time::Duration;

use homeostat_tests::daemon::findings;
use homeostat_tests::procs::wait_for;
use homeostat_tests::realtime::{
    count, has, heartbeat_t, p, settle, start, start_with, stop_and_check_clean, watched,
    Mechanism, REALTIME,
};
use homeostat_tests::run::is_root;
use homeostat_tests::serde_json::Value;

#[test]
fn each_change_is_reported_once_in_real_time() {
    each_change(Mechanism::Best);
}

#[test]
fn each_change_is_reported_once_by_inotify() {
    each_change(Mechanism::Inotify);
}

fn each_change(m: Mechanism) {
    let fx = watched(&["a", "b", "e", "r", "s", "m/x"]);
    let d = start_with(&fx, m);
    let me = u64::from(std::process::id());
    let fanotify = is_root() && m == Mechanism::Best;
    let step = |what: &str, expect: &[(&str, &str)], change: &dyn Fn()| {
        change();
        let took = d.wait(what, REALTIME, |l| {
            expect
                .iter()
                .all(|(rel, ch)| has(l, &p(&fx, rel), ch, "realtime"))
        });
        eprintln!("{what}: reported after {took:?}");
    };

    step("append", &[("a", "changed")], &|| {
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(fx.tree.join("a"))
            .unwrap();
        f.write_all(b" more").unwrap();
    });
    step("chmod", &[("b", "changed")], &|| {
        fs::set_permissions(fx.tree.join("b"), fs::Permissions::from_mode(0o600)).unwrap()
    });
    step("create", &[("n", "added")], &|| {
        fs::write(fx.tree.join("n"), b"new").unwrap()
    });
    step("delete", &[("e", "removed")], &|| {
        fs::remove_file(fx.tree.join("e")).unwrap()
    });
    step("rename", &[("r", "removed"), ("r2", "added")], &|| {
        fs::rename(fx.tree.join("r"), fx.tree.join("r2")).unwrap()
    });
    step("file replaced by a symlink", &[("s", "changed")], &|| {
        let staged = fx.scratch.join("s");
        symlink("/etc/hostname", &staged).unwrap();
        fs::rename(&staged, fx.tree.join("s")).unwrap();
    });
    step(
        "new directory with a file",
        &[("d", "added"), ("d/f", "added")],
        &|| {
            fs::create_dir(fx.tree.join("d")).unwrap();
            fs::write(fx.tree.join("d/f"), b"inside").unwrap();
        },
    );
    step(
        "directory renamed with a file inside",
        &[
            ("m", "removed"),
            ("m/x", "removed"),
            ("m2", "added"),
            ("m2/x", "added"),
        ],
        &|| fs::rename(fx.tree.join("m"), fx.tree.join("m2")).unwrap(),
    );
    step(
        "new file in the renamed directory",
        &[("m2/y", "added")],
        &|| fs::write(fx.tree.join("m2/y"), b"y").unwrap(),
    );
    // A hostile name is one escaped line, like any other report.
    let evil = b"evil\nname\x1b[31m\xff";
    let evil_path = fx.path(evil);
    let evil_json = homeostat_tests::text::esc(&fx.abs(evil));
    fs::write(&evil_path, b"x").unwrap();
    d.wait("a hostile name", REALTIME, |l| {
        has(l, &evil_json, "added", "realtime")
    });
    settle(&d, &fx, "zz-end");

    let l = d.lines();
    let one = |rel: &str, change: &str| -> Value {
        let path = p(&fx, rel);
        assert_eq!(
            count(&l, &path, change),
            1,
            "{rel} {change}: {:?}",
            findings(&l, &path)
        );
        findings(&l, &path)
            .into_iter()
            .find(|v| v["change"] == change)
            .unwrap()
            .clone()
    };
    let a = one("a", "changed");
    for attr in ["size", "mtime", "content"] {
        assert!(
            a["attrs"].as_array().unwrap().iter().any(|x| x == attr),
            "{a}"
        );
    }
    if fanotify {
        assert_eq!(a["process"]["pid"], me, "the writer is this test: {a}");
        assert_eq!(a["process"]["uid"], 0, "{a}");
        let exe = std::env::current_exe().unwrap();
        assert_eq!(a["process"]["exe"], exe.to_str().unwrap(), "{a}");
    } else {
        assert!(a.get("process").is_none(), "inotify names no writer: {a}");
    }
    let b = one("b", "changed");
    assert_eq!(b["new"]["mode"], "0600", "{b}");
    let s = one("s", "changed");
    for attr in ["type", "target", "content"] {
        assert!(
            s["attrs"].as_array().unwrap().iter().any(|x| x == attr),
            "{s}"
        );
    }
    assert_eq!(s["new"]["type"], "symlink", "{s}");
    assert_eq!(s["new"]["target"], "/etc/hostname", "{s}");
    one("e", "removed");
    for (rel, change) in [("m", "removed"), ("m/x", "removed"), ("m2/x", "added")] {
        one(rel, change);
    }
    one("r", "removed");
    one("r2", "added");
    // A new file may be seen before it is written: added, then changed at most once.
    for rel in ["n", "d", "d/f", "m2", "m2/y"] {
        one(rel, "added");
        assert!(count(&l, &p(&fx, rel), "changed") <= 1, "{rel}");
    }
    assert!(
        l.iter().all(|v| v["type"] != "gap"),
        "a first start has no gap"
    );
    stop_and_check_clean(d, &fx);
}

#[test]
fn a_stop_is_a_gap_then_a_rescan() {
    let fx = watched(&["one", "two", "three", "four"]);
    let d = start(&fx);
    d.stop();
    let last = heartbeat_t(&fx);
    for rel in ["one", "two", "three"] {
        fs::write(fx.tree.join(rel), b"changed while stopped").unwrap();
    }
    let d = start(&fx);
    let paths: Vec<String> = ["one", "two", "three"].iter().map(|r| p(&fx, r)).collect();
    d.wait(
        "the gap and the three changes",
        Duration::from_secs(10),
        |l| {
            l.iter().any(|v| v["type"] == "gap")
                && paths.iter().all(|p| has(l, p, "changed", "rescan"))
        },
    );
    settle(&d, &fx, "zz-end");
    let l = d.lines();
    let gaps: Vec<&Value> = l.iter().filter(|v| v["type"] == "gap").collect();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0]["from"], last, "{}", gaps[0]);
    assert!(gaps[0]["to"].as_i64() >= gaps[0]["from"].as_i64());
    assert_eq!(gaps[0]["t"], gaps[0]["to"]);
    for p in &paths {
        assert_eq!(count(&l, p, "changed"), 1, "{p}: {:?}", findings(&l, p));
    }
    assert!(findings(&l, &p(&fx, "four")).is_empty());

    // A crash is a stop too: the gap runs from the last heartbeat.
    drop(d);
    fs::write(fx.tree.join("four"), b"changed after a crash").unwrap();
    let d = start(&fx);
    let four = p(&fx, "four");
    d.wait("the gap after a crash", Duration::from_secs(10), |l| {
        l.iter().any(|v| v["type"] == "gap") && has(l, &four, "changed", "rescan")
    });
    stop_and_check_clean(d, &fx);
}

/// The watch's figures: Prometheus families that pass promtool, and `state`'s line.
#[test]
fn coverage_in_metrics_and_state() {
    let fx = watched(&["a"]);
    let prom = fx.dir.path().join("homeostat.prom");
    let top = format!(
        "update = true\n[monitor]\ninterval = \"1s\"\n[output]\nmetrics_file = \"{}\"\n",
        prom.display()
    );
    fx.write_config(&top, "realtime = true");
    let d = start(&fx);
    fs::write(fx.tree.join("a"), b"changed").unwrap();
    let a = p(&fx, "a");
    d.wait("the change", REALTIME, |l| {
        has(l, &a, "changed", "realtime")
    });
    // The next round renders the batch's figures.
    let text = wait_for(Duration::from_secs(10), Duration::from_millis(50), || {
        let t = fs::read_to_string(&prom).ok()?;
        let events = homeostat_tests::prom::sample(&t, "homeostat_realtime_events_total")?;
        (events >= 1.0).then_some(t)
    })
    .expect("homeostat_realtime_events_total ≥ 1 in the metrics file within 10 s");
    homeostat_tests::prom::promtool_check(&text);
    let mechanism = if is_root() { "fanotify" } else { "inotify" };
    assert!(
        text.contains(&format!(
            "homeostat_realtime_watches{{mechanism=\"{mechanism}\"}}"
        )),
        "{text}"
    );
    for f in ["overflows_total", "rescans_total"] {
        assert!(
            text.contains(&format!("homeostat_realtime_{f} 0\n")),
            "{text}"
        );
    }
    d.stop();
    let o = fx.run(&["--json", "state"]);
    o.expect_code(0);
    let rt: Vec<Value> = o
        .json()
        .into_iter()
        .filter(|v| v["type"] == "realtime")
        .collect();
    assert_eq!(rt.len(), 1, "{}", o.stdout_str());
    assert_eq!(rt[0]["mechanism"], mechanism);
    assert!(rt[0]["events"].as_u64() >= Some(1), "{}", rt[0]);
}

/// SIGHUP with `realtime = true` newly set starts the watch without a restart.
#[test]
fn a_reload_starts_the_watch() {
    let fx = watched(&["a"]);
    fx.write_config("update = true", "");
    let d = start(&fx);
    fx.write_config("update = true", "realtime = true");
    d.signal("HUP");
    let a = p(&fx, "a");
    // The reload's moment is not visible: write until a write is seen, 10 s at most.
    let seen = wait_for(Duration::from_secs(10), Duration::from_millis(300), || {
        fs::OpenOptions::new()
            .append(true)
            .open(fx.tree.join("a"))
            .unwrap()
            .write_all(b"+")
            .unwrap();
        has(&d.lines(), &a, "changed", "realtime").then_some(())
    });
    assert!(
        seen.is_some(),
        "no real-time finding after the reload: {:?}",
        d.lines()
    );
    // The last write may still be in a batch: wait for one after it.
    settle(&d, &fx, "zz-end");
    stop_and_check_clean(d, &fx);
}
