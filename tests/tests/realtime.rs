//! `[[files]] realtime = true` under `run --json`: each kind of change reported within
//! 2 s, once, with the writer when fanotify names it; a flood reported whole, overflow
//! or not; a stop followed by a gap event and a rescan. Every wait has a deadline.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::time::Duration;

use homeostat_tests::daemon::{findings, Daemon};
use homeostat_tests::fixture::Fixture;
use homeostat_tests::procs::wait_for;
use homeostat_tests::run::is_root;
use homeostat_tests::serde_json::Value;

/// The contract: a change is reported within this.
const REALTIME: Duration = Duration::from_secs(2);

/// A fixture whose tree is watched in real time, with what is reported accepted.
fn watched(files: &[&str]) -> Fixture {
    let fx = Fixture::bare();
    for f in files {
        let p = fx.tree.join(f);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, f.as_bytes()).unwrap();
    }
    fx.write_config("update = true", "realtime = true");
    fx
}

/// Starts `run` and waits for its first round (which records the baseline, the watch
/// already set): its heartbeat.
fn start(fx: &Fixture) -> Daemon {
    start_with(fx, Mechanism::Best)
}

#[derive(Clone, Copy, PartialEq)]
enum Mechanism {
    /// fanotify as root.
    Best,
    Inotify,
}

fn start_with(fx: &Fixture, m: Mechanism) -> Daemon {
    let beat = fx.state.join("heartbeat");
    let before = fs::metadata(&beat).and_then(|m| m.modified()).ok();
    let env: &[(&str, &str)] = match m {
        Mechanism::Best => &[],
        Mechanism::Inotify => &[("HOMEOSTAT_WATCH", "inotify")],
    };
    let d = Daemon::start_env(fx, env);
    wait_for(Duration::from_secs(20), Duration::from_millis(20), || {
        let now = fs::metadata(&beat).and_then(|m| m.modified()).ok();
        (now.is_some() && now != before).then_some(())
    })
    .expect("run's first round (its heartbeat) within 20 s");
    d
}

fn p(fx: &Fixture, rel: &str) -> String {
    fx.tree.join(rel).to_str().unwrap().to_owned()
}

/// A finding of `path` with this change and `via`.
fn has(lines: &[Value], path: &str, change: &str, via: &str) -> bool {
    findings(lines, path)
        .iter()
        .any(|v| v["change"] == change && v["via"] == via)
}

fn count(lines: &[Value], path: &str, change: &str) -> usize {
    findings(lines, path)
        .iter()
        .filter(|v| v["change"] == change)
        .count()
}

/// Makes one last change and waits for it: every batch before it has been reported.
fn settle(d: &Daemon, fx: &Fixture, name: &str) {
    fs::write(fx.tree.join(name), b"end").unwrap();
    let path = p(fx, name);
    d.wait("the last change", Duration::from_secs(30), |l| {
        findings(l, &path).iter().any(|v| v["change"] == "added")
    });
}

/// Stops `run` and checks that a `check` finds nothing left unaccepted.
fn stop_and_check_clean(d: Daemon, fx: &Fixture) {
    d.stop();
    let o = fx.run(&["--json", "check"]);
    o.expect_code(0);
    assert!(o.files().is_empty(), "check after run: {:?}", o.files());
}

#[test]
fn each_change_is_reported_once_in_real_time() {
    each_change(Mechanism::Best);
}

#[test]
fn each_change_is_reported_once_by_inotify() {
    each_change(Mechanism::Inotify);
}

fn each_change(m: Mechanism) {
    let fx = watched(&["a", "b", "e", "r", "s"]);
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
    one("r", "removed");
    one("r2", "added");
    // A new file may be seen before it is written: added, then changed at most once.
    for rel in ["n", "d", "d/f"] {
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
fn a_flood_is_reported_whole_and_once() {
    flood(false);
}

/// The daemon stopped (SIGSTOP) through the flood: the kernel's queue (16384 events)
/// overflows, which must be said and made good by a rescan.
#[test]
fn a_flood_past_an_overflow_is_reported_whole_and_once() {
    flood(true);
}

fn flood(stopped: bool) {
    const NEW: usize = 40_000;
    const CHANGED: usize = 100;
    let old: Vec<String> = (0..CHANGED).map(|i| format!("c/{i:03}")).collect();
    let refs: Vec<&str> = old.iter().map(String::as_str).collect();
    let fx = watched(&refs);
    fs::create_dir(fx.tree.join("flood")).unwrap();
    let d = start(&fx);
    if stopped {
        d.signal("STOP");
    }
    for i in 0..NEW {
        fs::write(fx.tree.join(format!("flood/{i:05}")), b"x").unwrap();
    }
    for rel in &old {
        fs::OpenOptions::new()
            .append(true)
            .open(fx.tree.join(rel))
            .unwrap()
            .write_all(b"+")
            .unwrap();
    }
    if stopped {
        d.signal("CONT");
    }
    let new: Vec<String> = (0..NEW).map(|i| p(&fx, &format!("flood/{i:05}"))).collect();
    let changed: Vec<String> = old.iter().map(|r| p(&fx, r)).collect();
    let took = d.wait(
        "every flooded file and change",
        Duration::from_secs(45),
        |l| {
            let mut seen: BTreeSet<(&str, &str)> = BTreeSet::new();
            for v in l.iter().filter(|v| v["type"] == "file") {
                if let (Some(p), Some(c)) = (v["path"].as_str(), v["change"].as_str()) {
                    seen.insert((p, c));
                }
            }
            new.iter().all(|p| seen.contains(&(p.as_str(), "added")))
                && changed
                    .iter()
                    .all(|p| seen.contains(&(p.as_str(), "changed")))
        },
    );
    settle(&d, &fx, "zz-end");
    let l = d.lines();
    let overflows = l
        .iter()
        .filter(|v| {
            v["type"] == "warning" && v["message"].as_str().unwrap_or("").contains("overflow")
        })
        .count();
    eprintln!("flood reported in {took:?} after the writes; {overflows} overflow warnings");
    if stopped {
        assert!(
            overflows >= 1,
            "a queue of 16384 events cannot hold 40,000 creates"
        );
        assert!(
            l.iter().any(|v| v["via"] == "rescan"),
            "the rescan reports what was lost"
        );
    }
    let mut per: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for v in l.iter().filter(|v| v["type"] == "file") {
        *per.entry((v["path"].as_str().unwrap(), v["change"].as_str().unwrap()))
            .or_default() += 1;
        assert!(v["via"] == "realtime" || v["via"] == "rescan", "{v}");
    }
    for p in &new {
        assert_eq!(per.get(&(p.as_str(), "added")), Some(&1), "{p} added");
        assert!(
            per.get(&(p.as_str(), "changed")).is_none_or(|n| *n <= 1),
            "{p}"
        );
        assert!(!per.contains_key(&(p.as_str(), "removed")), "{p}");
    }
    for p in &changed {
        assert_eq!(per.get(&(p.as_str(), "changed")), Some(&1), "{p} changed");
    }
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

fn heartbeat_t(fx: &Fixture) -> i64 {
    let b = fs::read(fx.state.join("heartbeat")).expect("heartbeat after a stop");
    let v: Value = homeostat_tests::serde_json::from_slice(&b).unwrap();
    v["t"].as_i64().expect("heartbeat t")
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
