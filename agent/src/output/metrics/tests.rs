//! Unit tests of `metrics`.

use super::*;
use homeostat_core::event::{Alert, ClassList, Severity};

fn classes(s: &mut State, names: &[&str]) {
    s.event(&Event::Classes(ClassList { t: 0, names }));
}

#[test]
fn every_family_has_help_and_type() {
    let text = State::default().render();
    let mut help = 0;
    for l in text.lines() {
        if let Some(r) = l.strip_prefix("# HELP ") {
            help += 1;
            let name = r.split(' ').next().unwrap();
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
        }
    }
    assert_eq!(help, 14);
    assert!(text.contains("homeostat_rounds_total 0\n"));
    assert!(text.contains(&format!(
        "homeostat_build_info{{version=\"{}\"}} 1\n",
        env!("CARGO_PKG_VERSION")
    )));
}

#[test]
fn class_goes_to_zero_when_gone() {
    let mut s = State::default();
    classes(&mut s, &["a_high", "b"]);
    s.round_done(10);
    let t = s.render();
    assert!(
        t.contains("homeostat_class_active{class=\"a_high\"} 1\n"),
        "{t}"
    );
    classes(&mut s, &["b"]);
    s.round_done(20);
    let t = s.render();
    assert!(
        t.contains("homeostat_class_active{class=\"a_high\"} 0\n"),
        "{t}"
    );
    assert!(t.contains("homeostat_class_active{class=\"b\"} 1\n"), "{t}");
    assert!(t.contains("homeostat_rounds_total 2\n"));
    assert!(t.contains("homeostat_last_round_timestamp_seconds 20\n"));
}

#[test]
fn labels_cannot_add_a_label_or_a_line() {
    let mut s = State::default();
    classes(&mut s, &["x\"} 1\nevil{a=\"\\"]);
    s.event(&Event::Alert(Alert {
        t: 0,
        rule: "r\n",
        severity: Severity::Warning,
        message: "m",
    }));
    let t = s.render();
    assert!(
        t.contains("homeostat_class_active{class=\"x\\\"} 1\\nevil{a=\\\"\\\\\"} 1\n"),
        "{t}"
    );
    assert!(
        t.contains("homeostat_alerts_total{rule=\"r\\n\"} 1\n"),
        "{t}"
    );
    assert!(!t.lines().any(|l| l.starts_with("evil")));
}

#[test]
fn numbers_in_the_format() {
    let mut o = String::new();
    for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1.5, 3.0] {
        number(&mut o, v);
        o.push(' ');
    }
    assert_eq!(o, "NaN +Inf -Inf 1.5 3 ");
}

#[test]
fn counters_survive_reopening() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("h.prom");
    let m = Metrics::open(d.path());
    let mut sink = m.sink();
    sink.event(&Event::Alert(Alert {
        t: 0,
        rule: "r",
        severity: Severity::Warning,
        message: "m",
    }))
    .unwrap();
    m.round_done(5, d.path(), Some(&file)).unwrap();
    let m = Metrics::open(d.path());
    m.round_done(6, d.path(), Some(&file)).unwrap();
    let t = fs::read_to_string(&file).unwrap();
    assert!(t.contains("homeostat_rounds_total 2\n"), "{t}");
    assert!(t.contains("homeostat_alerts_total{rule=\"r\"} 1\n"), "{t}");
    assert_eq!(&lock(&m.text)[..], t.as_bytes());
}

/// 128 observables and 500 classes, as the issue's benchmark asks.
#[cfg(feature = "http-metrics")]
fn big() -> State {
    let mut s = State::default();
    for i in 0..128 {
        s.observables.insert(
            format!("observable_{i}"),
            Obs {
                value: i as f64 * 1.25,
                expect: 3.5,
                stddev: 0.75,
                dev: 1.5,
                entropy: (i % 2 == 0).then_some(0.5),
            },
        );
    }
    let names: Vec<String> = (0..500).map(|i| format!("class_number_{i}_high")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    classes(&mut s, &names);
    s.round_done(1_700_000_000);
    s
}

#[cfg(feature = "http-metrics")]
fn percentile(mut v: Vec<std::time::Duration>, p: usize) -> std::time::Duration {
    v.sort();
    v[(v.len() - 1) * p / 100]
}

/// The render and `GET /metrics` on loopback (a fresh connection per request, as curl
/// makes), timed beside curl's own `time_total` in the same run. Figures on stderr
/// (`cargo test --release -p homeostat metrics_response_time -- --nocapture`); the
/// bound is 1 ms for the median in release builds, looser in debug ones.
#[cfg(feature = "http-metrics")]
#[test]
fn metrics_response_time() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let state = big();
    let mut render = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        std::hint::black_box(state.render());
        render.push(t.elapsed());
    }
    let text = state.render();
    assert_eq!(text.matches("homeostat_class_active{").count(), 500);
    let shared = Arc::new(Mutex::new(Bytes::from(text.clone())));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = shared.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            super::super::serve::serve(l, served).await;
        });
    });
    let mut get = Vec::new();
    for i in 0..300 {
        let t = Instant::now();
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut body = Vec::new();
        c.read_to_end(&mut body).unwrap();
        let took = t.elapsed();
        assert!(body.ends_with(text.as_bytes()));
        if i >= 20 {
            get.push(took); // the first ones warm up
        }
    }
    let mut curl = Vec::new();
    for _ in 0..20 {
        let o = std::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{time_total}"])
            .arg(format!("http://127.0.0.1:{port}/metrics"))
            .output();
        if let Some(o) = o.ok().filter(|o| o.status.success()) {
            let secs: f64 = String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse()
                .unwrap_or(0.0);
            curl.push(Duration::from_secs_f64(secs));
        }
    }
    let (r50, g50, g99) = (
        percentile(render.clone(), 50),
        percentile(get.clone(), 50),
        percentile(get.clone(), 99),
    );
    eprintln!(
        "metrics: {} bytes; render p50 {r50:?} p99 {:?}; GET /metrics p50 {g50:?} p99 {g99:?} max {:?}; curl time_total p50 {:?} ({} runs)",
        text.len(),
        percentile(render, 99),
        percentile(get.clone(), 100),
        if curl.is_empty() { Duration::ZERO } else { percentile(curl.clone(), 50) },
        curl.len(),
    );
    let bound = if cfg!(debug_assertions) {
        Duration::from_millis(50)
    } else {
        Duration::from_millis(1)
    };
    assert!(g50 < bound, "GET /metrics p50 {g50:?}");
}
