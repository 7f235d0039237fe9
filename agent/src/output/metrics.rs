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
use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use homeostat_core::event::{Epoch, Event};
use homeostat_core::feed::{BlobWriter, Storage};
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
    realtime: realtime::Figures,
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
            Event::Coverage(c) => self.realtime = realtime::Figures::of(c),
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
        self.realtime.render(&mut o);
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
        let bytes = crate::state_dir::read_blob(&mut store, STATE, crate::limits::METRICS_STATE);
        if let Ok(Some(bytes)) = bytes {
            kept = serde_json::from_slice(&bytes).unwrap_or_default();
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
    #[cfg(feature = "http-metrics")]
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

/// `bytes` at `path` in one step: a temporary beside it, fsync'd, renamed over it. Mode
/// 0644 whatever the umask: node_exporter's textfile collector reads it as another user,
/// and it holds figures and class names, never a path or a digest.
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
        f.set_permissions(fs::Permissions::from_mode(0o644))?;
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

mod realtime;
#[cfg(test)]
mod tests;
