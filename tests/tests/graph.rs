#![cfg(target_os = "linux")]
//! `homeostat graph` end to end: two replayed weeks with a spike give a CSV and an SVG per
//! observable and an index.html that headless Chromium renders with every chart visible;
//! a fresh state gives empty charts with a note; the recorded history is the same after a
//! replay split in two as after one.
//!
//! Needs Debian's `chromium` (`.ci/run` installs it); without it the browser test fails
//! and says so.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use homeostat_tests::run::{homeostat_bin, run_cmd, Output};
use homeostat_tests::tempfile::TempDir;

/// Monday 2024-01-01 00:00 UTC.
const T0: i64 = 1_704_067_200;
const STEP: i64 = 300;
const DAYS: i64 = 14;
/// The spike: Sunday of the second week, 12:00, on www_in.
const SPIKE: i64 = T0 + 13 * 86_400 + 12 * 3600;
const OBSERVABLES: [&str; 3] = ["www_in", "users", "ssh_failed"];

fn hs(state: &Path, args: &[&str]) -> Output {
    let mut a: Vec<OsString> = vec!["--state-dir".into(), state.into()];
    a.extend(args.iter().map(OsString::from));
    run_cmd(homeostat_bin(), &a, &[])
}

/// Deterministic noise in [-2, 2].
fn noise(i: i64) -> f64 {
    ((i * 7919) % 401) as f64 / 100.0 - 2.0
}

/// Two weeks: www_in 80 in weekday business hours and 20 otherwise, users 3..5,
/// ssh_failed 0 with a failure every hour; one spike of 400 on www_in.
fn lines() -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..DAYS * 86_400 / STEP {
        let t = T0 + i * STEP;
        let (day, sec) = ((t - T0) / 86_400 % 7, (t - T0) % 86_400);
        let busy = day < 5 && (9 * 3600..17 * 3600).contains(&sec);
        let www = if t == SPIKE {
            400.0
        } else {
            (if busy { 80.0 } else { 20.0 }) + noise(i)
        };
        out.push(format!("{t},www_in,{www:.2}"));
        out.push(format!("{t},users,{}", 3 + i % 3));
        out.push(format!("{t},ssh_failed,{}", u8::from(i % 12 == 0)));
    }
    out
}

fn write_csv(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, lines.join("\n") + "\n").expect("write replay file");
    p
}

fn replayed(work: &Path) -> PathBuf {
    let state = work.join("state");
    let csv = write_csv(work, "weeks.csv", &lines());
    hs(&state, &["--json", "replay", csv.to_str().unwrap()]).expect_code(0);
    state
}

fn graph(state: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut a = vec!["graph", "--out", out.to_str().unwrap()];
    a.extend_from_slice(extra);
    hs(state, &a)
}

/// The CSV rows of `name` as fields.
fn csv_rows(dir: &Path, name: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(dir.join(format!("{name}.csv"))).expect("csv");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("observable,slot,start,average,deviation,value,recorded,anomaly")
    );
    lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

#[test]
fn graph_writes_csv_and_svg_per_observable() {
    let work = TempDir::new().unwrap();
    let state = replayed(work.path());
    let out = work.path().join("graphs");
    graph(&state, &out, &[]).expect_code(0);
    for name in OBSERVABLES {
        let rows = csv_rows(&out, name);
        assert_eq!(rows.len(), 2016, "{name}: one row per slot");
        // The second week was recorded: every slot has its value.
        let recorded = rows.iter().filter(|r| !r[5].is_empty()).count();
        assert_eq!(recorded, 2016, "{name}: recorded values");
        let anomalies = rows.iter().filter(|r| r[7] == "1").count();
        let svg = std::fs::read_to_string(out.join(format!("{name}.svg"))).expect("svg");
        assert!(
            (20_000..2_000_000).contains(&svg.len()),
            "{name}.svg is {} bytes",
            svg.len()
        );
        assert!(svg.starts_with("<svg") && svg.contains(&format!("{name} on ")));
        assert!(svg.contains("<polyline"), "{name}: the average line");
        assert_eq!(
            svg.matches("<circle").count(),
            recorded,
            "{name}: a dot per value"
        );
        assert_eq!(
            svg.matches("#D21E1E").count(),
            2 * anomalies,
            "{name}: crosses"
        );
        if name == "www_in" {
            let slot = ((SPIKE - T0) / STEP) as usize % 2016;
            assert_eq!(rows[slot][5], "400", "the spike is recorded");
            assert_eq!(rows[slot][7], "1", "and marked an anomaly");
            assert_eq!(rows[slot][2], "Sun 12:00");
        }
    }
    let index = std::fs::read_to_string(out.join("index.html")).expect("index.html");
    assert_eq!(index.matches("<img ").count(), 3);
    assert!(index.contains("learning: 7 of 7 days") || index.contains("learned from 4032"));
    // --scale: every figure within 0..1.
    let scaled = work.path().join("scaled");
    graph(&state, &scaled, &["--scale", "--bars", "--obs", "www_in"]).expect_code(0);
    for r in csv_rows(&scaled, "www_in") {
        for f in [&r[3], &r[4], &r[5]] {
            let v: f32 = f.parse().unwrap();
            assert!((0.0..=1.0).contains(&v), "scaled figure {v}");
        }
    }
    assert!(!scaled.join("users.svg").exists());
}

#[test]
fn fresh_state_gives_empty_charts_with_a_note() {
    let work = TempDir::new().unwrap();
    let out = work.path().join("g");
    let o = graph(&work.path().join("state"), &out, &[]);
    o.expect_code(0);
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(index.contains("No sample taken yet."));
    for name in ["users", "rootprocs", "otherprocs", "diskfree", "loadavg"] {
        let svg = std::fs::read_to_string(out.join(format!("{name}.svg"))).unwrap();
        assert!(
            svg.contains("nothing learned yet"),
            "{name}.svg has the note"
        );
        assert_eq!(svg.matches("<circle").count(), 0);
        assert!(index.contains(&format!("src=\"{name}.svg\"")));
    }
    let bad = graph(&work.path().join("state"), &out, &["--obs", "no_such"]);
    bad.expect_code(16);
    assert!(bad.stderr_str().contains("no observable named \"no_such\""));
}

#[test]
fn history_is_the_same_after_a_split_replay() {
    let work = TempDir::new().unwrap();
    let all = lines();
    // Cut between two samples (three lines each) in the middle of a slot's week.
    let cut = 3 * 2000;
    let whole = write_csv(work.path(), "whole.csv", &all);
    let a = write_csv(work.path(), "a.csv", &all[..cut]);
    let b = write_csv(work.path(), "b.csv", &all[cut..]);
    let (one, two) = (work.path().join("one"), work.path().join("two"));
    hs(&one, &["--json", "replay", whole.to_str().unwrap()]).expect_code(0);
    hs(&two, &["--json", "replay", a.to_str().unwrap()]).expect_code(0);
    hs(&two, &["--json", "replay", b.to_str().unwrap()]).expect_code(0);
    let h1 = std::fs::read(one.join("history.state")).unwrap();
    let h2 = std::fs::read(two.join("history.state")).unwrap();
    assert_eq!(h1.len(), 822_576, "the stated size");
    assert!(h1 == h2, "history.state differs between one run and two");
}

/// Rows of the screenshot holding the charts' average line (its blue, 31,90,170), grouped
/// where they are more than 20 rows apart: one group per chart drawn.
fn chart_bands(rgb: &[[u8; 3]], width: usize) -> Vec<(usize, usize)> {
    let blue = |p: &[u8; 3]| {
        (p[0] as i32 - 31).abs() < 24
            && (p[1] as i32 - 90).abs() < 24
            && (p[2] as i32 - 170).abs() < 24
    };
    let mut bands: Vec<(usize, usize)> = Vec::new();
    for (y, row) in rgb.chunks(width).enumerate() {
        if row.iter().filter(|p| blue(p)).count() >= 3 {
            match bands.last_mut() {
                Some((_, end)) if y - *end <= 20 => *end = y,
                _ => bands.push((y, y)),
            }
        }
    }
    bands
}

#[test]
fn chromium_renders_every_chart() {
    let work = TempDir::new().unwrap();
    let state = replayed(work.path());
    let out = work.path().join("graphs");
    graph(&state, &out, &[]).expect_code(0);
    let shot = work.path().join("shot.png");
    let profile = work.path().join("profile");
    let url = format!("file://{}", out.join("index.html").display());
    let run = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1040,1500",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .unwrap_or_else(|e| panic!("cannot run chromium (apt-get install chromium): {e}"));
    assert!(
        run.status.success() && shot.exists(),
        "chromium failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let decoder = png::Decoder::new(std::fs::File::open(&shot).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = match info.color_type {
        png::ColorType::Rgba => 4,
        png::ColorType::Rgb => 3,
        other => panic!("screenshot colour type {other:?}"),
    };
    let (w, h) = (info.width as usize, info.height as usize);
    let rgb: Vec<[u8; 3]> = buf[..w * h * step]
        .chunks(step)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    let non_white = |rows: std::ops::Range<usize>| {
        let px = &rgb[rows.start * w..rows.end * w];
        px.iter().filter(|p| p.iter().any(|c| *c < 235)).count() as f64 / px.len() as f64
    };
    let whole = non_white(0..h);
    assert!(whole > 0.02, "screenshot is blank: {:.4} non-white", whole);
    let bands = chart_bands(&rgb, w);
    assert_eq!(bands.len(), 3, "one chart band per observable: {bands:?}");
    for (top, bottom) in bands {
        // The plot around its line: axes, band, dots and labels.
        let cover = non_white(top..bottom + 1);
        assert!(
            cover > 0.05,
            "chart rows {top}..{bottom}: {cover:.4} non-white"
        );
    }
}
