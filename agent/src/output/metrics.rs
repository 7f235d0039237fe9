//! Prometheus metrics (text exposition format 0.0.4): a sink that keeps the state the
//! events of each round describe, rendered after every round for `GET /metrics`
//! ([`super::serve`]) and the metrics file (node_exporter's textfile collector).
//!
//! Gauges show the last round; counters (`_total`) and the set of classes ever seen are
//! kept in the state directory (`metrics.state`), so they count across restarts and `scan`s
//! and a class that has gone reads 0 rather than vanishing. Label values are escaped
//! (`\\`, `\"`, `\n`), so no name can add a label or a line.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use homeostat_core::event::{Epoch, Event};
use homeostat_core::feed::{BlobWriter, Storage};
use hyper::body::Bytes;
use serde::{Deserialize, Serialize};

use super::BoxedSink;
use crate::platform::StateDir;

/// The blob in the state directory that keeps the counters and the classes seen.
pub const STATE: &str = "metrics.state";

/// What survives a restart.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
struct Persisted {
    rounds: u64,
    /// tree handle → change → count.
    file_findings: BTreeMap<String, BTreeMap<String, u64>>,
    alerts: BTreeMap<String, u64>,
    classes_seen: BTreeSet<String>,
}

/// One observable's last sample.
#[derive(Clone, Copy, Debug, Default)]
struct Obs {
    value: f64,
    expect: f64,
    stddev: f64,
    dev: f64,
    entropy: Option<f64>,
}

/// Which figure of an observable a family shows.
type ObsField = fn(&Obs) -> f64;

/// Everything `/metrics` shows.
#[derive(Debug, Default)]
pub struct State {
    kept: Persisted,
    observables: BTreeMap<String, Obs>,
    active: BTreeSet<String>,
    processes: BTreeMap<String, u64>,
    ports: BTreeSet<(&'static str, u16)>,
    measurements: BTreeMap<String, f64>,
    last_round: Option<Epoch>,
}

impl State {
    /// Takes in one event.
    pub fn event(&mut self, e: &Event<'_>) {
        match e {
            Event::Sample(s) => {
                let o = s.outcome;
                self.observables.insert(
                    s.name.to_string(),
                    Obs {
                        value: widen(o.value),
                        expect: widen(o.expect),
                        stddev: widen(o.stddev),
                        dev: widen(o.dev),
                        entropy: s.entropy.map(widen),
                    },
                );
            }
            Event::Classes(c) => {
                self.active = c.names.iter().map(|n| n.to_string()).collect();
                self.kept.classes_seen.extend(self.active.iter().cloned());
            }
            Event::Process(p) => {
                self.processes.insert(p.name.to_string(), p.count);
            }
            Event::Ports(p) => {
                self.ports = p
                    .listening
                    .iter()
                    .map(|l| {
                        let proto = if l.proto.starts_with("udp") {
                            "udp"
                        } else {
                            "tcp"
                        };
                        (proto, l.port)
                    })
                    .collect();
            }
            Event::Measurement(m) => match m.value.number() {
                Some(v) => {
                    self.measurements.insert(m.name.to_string(), v);
                }
                None => {
                    self.measurements.remove(m.name);
                }
            },
            Event::File(f) => {
                *self
                    .kept
                    .file_findings
                    .entry(f.handle.to_string())
                    .or_default()
                    .entry(f.change.name().to_string())
                    .or_default() += 1;
            }
            Event::Alert(a) => {
                *self.kept.alerts.entry(a.rule.to_string()).or_default() += 1;
            }
            _ => {}
        }
    }

    /// The end of a round at `now`.
    pub fn round_done(&mut self, now: Epoch) {
        self.kept.rounds += 1;
        self.last_round = Some(now);
    }

    /// The text exposition format, version 0.0.4.
    pub fn render(&self) -> String {
        let mut o = String::with_capacity(
            4096 + self.observables.len() * 400 + self.kept.classes_seen.len() * 64,
        );
        let obs: [(&str, &str, ObsField); 4] = [
            (
                "homeostat_observable_value",
                "Last sampled value of the observable.",
                |x| x.value,
            ),
            (
                "homeostat_observable_expect",
                "Learned weekly expectation of the observable at this time of week.",
                |x| x.expect,
            ),
            (
                "homeostat_observable_stddev",
                "Learned weekly standard deviation of the observable at this time of week.",
                |x| x.stddev,
            ),
            (
                "homeostat_observable_dev",
                "Deviation of the last value from the expectation, in standard deviations.",
                |x| x.dev,
            ),
        ];
        for (name, help, f) in obs {
            family(&mut o, name, help, "gauge");
            for (k, v) in &self.observables {
                sample(&mut o, name, &[("observable", k)], f(v));
            }
        }
        family(
            &mut o,
            "homeostat_entropy",
            "Normalised entropy (0 to 1) of the sources of the observable.",
            "gauge",
        );
        for (k, v) in &self.observables {
            if let Some(e) = v.entropy {
                sample(&mut o, "homeostat_entropy", &[("observable", k)], e);
            }
        }
        family(
            &mut o,
            "homeostat_class_active",
            "1 while the class is raised, 0 once it has gone.",
            "gauge",
        );
        for c in &self.kept.classes_seen {
            let v = if self.active.contains(c) { 1.0 } else { 0.0 };
            sample(&mut o, "homeostat_class_active", &[("class", c)], v);
        }
        family(
            &mut o,
            "homeostat_process_matches",
            "Processes matching the process promise in the last round.",
            "gauge",
        );
        for (k, v) in &self.processes {
            sample(
                &mut o,
                "homeostat_process_matches",
                &[("promise", k)],
                *v as f64,
            );
        }
        family(
            &mut o,
            "homeostat_port_listening",
            "1 for every TCP or UDP port listening on the host.",
            "gauge",
        );
        let mut port = String::new();
        for (proto, p) in &self.ports {
            port.clear();
            let _ = write!(port, "{p}");
            sample(
                &mut o,
                "homeostat_port_listening",
                &[("proto", proto), ("port", &port)],
                1.0,
            );
        }
        family(
            &mut o,
            "homeostat_measurement_value",
            "Last value of the log or command measurement.",
            "gauge",
        );
        for (k, v) in &self.measurements {
            sample(&mut o, "homeostat_measurement_value", &[("name", k)], *v);
        }
        family(
            &mut o,
            "homeostat_last_round_timestamp_seconds",
            "When the last round ran, in seconds since the epoch.",
            "gauge",
        );
        if let Some(t) = self.last_round {
            sample(
                &mut o,
                "homeostat_last_round_timestamp_seconds",
                &[],
                t as f64,
            );
        }
        family(
            &mut o,
            "homeostat_build_info",
            "The version of homeostat, as a label; always 1.",
            "gauge",
        );
        sample(
            &mut o,
            "homeostat_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))],
            1.0,
        );
        family(
            &mut o,
            "homeostat_file_findings_total",
            "File findings reported, per tree and change.",
            "counter",
        );
        for (tree, changes) in &self.kept.file_findings {
            for (change, n) in changes {
                sample(
                    &mut o,
                    "homeostat_file_findings_total",
                    &[("tree", tree), ("change", change)],
                    *n as f64,
                );
            }
        }
        family(
            &mut o,
            "homeostat_alerts_total",
            "Alerts fired, per rule.",
            "counter",
        );
        for (rule, n) in &self.kept.alerts {
            sample(
                &mut o,
                "homeostat_alerts_total",
                &[("rule", rule)],
                *n as f64,
            );
        }
        family(
            &mut o,
            "homeostat_rounds_total",
            "Rounds run (scan and run alike).",
            "counter",
        );
        sample(
            &mut o,
            "homeostat_rounds_total",
            &[],
            self.kept.rounds as f64,
        );
        o
    }
}

/// An `f32` as the `f64` its shortest decimal reads as (`0.1`, not `0.10000000149011612`).
fn widen(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::from(x))
}

fn family(o: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn sample(o: &mut String, name: &str, labels: &[(&str, &str)], v: f64) {
    o.push_str(name);
    if !labels.is_empty() {
        o.push('{');
        for (i, (k, val)) in labels.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            o.push_str(k);
            o.push_str("=\"");
            label_value(o, val);
            o.push('"');
        }
        o.push('}');
    }
    o.push(' ');
    number(o, v);
    o.push('\n');
}

/// A label value escaped as the exposition format says: `\\`, `\"`, `\n`.
pub fn label_value(o: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
}

fn number(o: &mut String, v: f64) {
    if v.is_nan() {
        o.push_str("NaN");
    } else if v.is_infinite() {
        o.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(o, "{v}");
    }
}

/// The metrics of a daemon or a `scan`: the state, and its last rendering for the server.
#[derive(Clone)]
pub struct Metrics {
    state: Arc<Mutex<State>>,
    text: Arc<Mutex<Bytes>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Metrics {
    /// The metrics kept in `state_dir` (a damaged or missing state starts from zero).
    pub fn open(state_dir: &Path) -> Metrics {
        let mut store = StateDir::new(state_dir);
        let mut kept = Persisted::default();
        if let Ok(Some(r)) = store.load(STATE) {
            let mut bytes = Vec::new();
            if crate::state_dir::Reading(r).read_to_end(&mut bytes).is_ok() {
                kept = serde_json::from_slice(&bytes).unwrap_or_default();
            }
        }
        let state = State {
            kept,
            ..State::default()
        };
        let text = Bytes::from(state.render());
        Metrics {
            state: Arc::new(Mutex::new(state)),
            text: Arc::new(Mutex::new(text)),
        }
    }

    /// A sink feeding these metrics, for one run or round's [`super::Output`].
    pub fn sink(&self) -> BoxedSink {
        Box::new(MetricsSink(self.state.clone()))
    }

    /// The last rendering, shared with the server.
    pub fn text(&self) -> Arc<Mutex<Bytes>> {
        self.text.clone()
    }

    /// The end of a round at `now`: counted, kept in `state_dir`, rendered, and written to
    /// `file` when there is one.
    pub fn round_done(&self, now: Epoch, state_dir: &Path, file: Option<&Path>) -> io::Result<()> {
        let (text, kept) = {
            let mut s = lock(&self.state);
            s.round_done(now);
            (
                s.render(),
                serde_json::to_vec(&s.kept).map_err(io::Error::other)?,
            )
        };
        *lock(&self.text) = Bytes::from(text.clone());
        let mut store = StateDir::new(state_dir);
        let mut w = store.store(STATE)?;
        w.write(&kept)?;
        w.commit()?;
        if let Some(f) = file {
            write_atomically(f, text.as_bytes())?;
        }
        Ok(())
    }
}

/// `bytes` at `path` in one step: a temporary beside it, fsync'd, renamed over it.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let written = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

struct MetricsSink(Arc<Mutex<State>>);

impl homeostat_core::feed::Sink for MetricsSink {
    type Error = io::Error;

    fn event(&mut self, e: &Event<'_>) -> io::Result<()> {
        lock(&self.0).event(e);
        Ok(())
    }

    fn commit(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!(&lock(&m.text())[..], t.as_bytes());
    }

    /// 128 observables and 500 classes, as the issue's benchmark asks.
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

    fn percentile(mut v: Vec<std::time::Duration>, p: usize) -> std::time::Duration {
        v.sort();
        v[(v.len() - 1) * p / 100]
    }

    /// The render and `GET /metrics` on loopback (a fresh connection per request, as curl
    /// makes), timed beside curl's own `time_total` in the same run. Figures on stderr
    /// (`cargo test --release -p homeostat metrics_response_time -- --nocapture`); the
    /// bound is 1 ms for the median in release builds, looser in debug ones.
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
}
