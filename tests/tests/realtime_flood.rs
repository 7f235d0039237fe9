//! A flood under `run --json` with a real-time tree: 40,000 new files and 100 changes,
//! every one reported exactly once, whether the kernel's queue overflowed or not (the
//! daemon stopped through the flood makes sure it does once), and `check` clean after.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::time::Duration;

use homeostat_tests::realtime::{p, settle, start, stop_and_check_clean, watched};

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
