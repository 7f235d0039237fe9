//! One live sample: the platform's measurements through the learner, with source entropy
//! of each socket and packet observable and the peak snapshots `state` shows.

use std::collections::BTreeSet;
use std::io;
use std::net::IpAddr;

use homeostat_core::digest::{digest, Algorithm};
use homeostat_core::entropy::{class_name, Counter, Direction, Key};
use std::path::{Path, PathBuf};

use anyhow::Context;
use homeostat_core::stats::{Report, Sample, DEFAULT_FORGET_RATE};
use homeostat_linux::monitor::{self, Monitor, MonitorConfig};

use super::peaks::Extras;
use super::render;
use super::settings::MonitorSettings;
use super::store::Brain;
use homeostat_core::event::{Event, Listening, Ports};
use homeostat_core::feed::Sink;

/// Distinct sources an entropy figure counts; more are counted as overflow.
const ENTROPY_KEYS: usize = 1024;

/// What a sample found besides the learner's outcomes.
pub struct Taken {
    /// Feeds that could not be read: `(feed, reason)`.
    pub unavailable: Vec<(String, String)>,
}

/// `<svc>` and direction of a socket or packet observable (`www_in` → `www`, in).
fn service_of(name: &str) -> Option<(&str, Direction)> {
    if let Some(s) = name.strip_suffix("_in") {
        Some((s, Direction::In))
    } else {
        name.strip_suffix("_out").map(|s| (s, Direction::Out))
    }
}

fn key_of(text: &str) -> Key {
    match text.parse::<IpAddr>() {
        Ok(a) => Key::from(a),
        // Not an address (a bucket like "(other)"): a stable 16-byte stand-in.
        Err(_) => Key::new(&digest(Algorithm::Sha256, text.as_bytes()).as_bytes()[..16])
            .unwrap_or(Key::from(IpAddr::from([0, 0, 0, 0]))),
    }
}

/// Normalised entropy 0..1 of `keys`, or `None` when fewer than two connections were
/// counted (no distribution to speak of).
pub fn entropy(keys: &[(String, u32)]) -> Option<f32> {
    let total: u64 = keys.iter().map(|(_, c)| u64::from(*c)).sum();
    if total < 2 {
        return None;
    }
    let mut counter: Counter<ENTROPY_KEYS> = Counter::new();
    for (k, c) in keys {
        counter.add_n(key_of(k), *c);
    }
    Some(counter.entropy())
}

/// The learner with everything around it that a host keeps between samples.
pub struct Session {
    pub dir: PathBuf,
    pub brain: Brain,
    pub extras: Extras,
    /// The platform's feeds, when `[monitor]` is configured.
    pub monitor: Option<Monitor>,
}

impl Session {
    /// Loads the state of `dir` (a damaged state is set aside: `warn` says so).
    pub fn open(
        dir: &Path,
        settings: Option<&MonitorSettings>,
        warn: impl FnMut(String),
    ) -> anyhow::Result<Session> {
        let forget = settings.map_or(DEFAULT_FORGET_RATE, |s| s.forget_rate);
        let brain = Brain::load(dir, forget, warn)
            .with_context(|| format!("cannot read the learner state in {}", dir.display()))?;
        let monitor = settings
            .map(feeds)
            .transpose()
            .context("[monitor] services")?;
        Ok(Session {
            dir: dir.to_owned(),
            brain,
            extras: Extras::load(dir),
            monitor,
        })
    }

    /// One sample at epoch `t`: the platform's measurements (if any) and `extra` values
    /// (weekly log measurements), learned and printed.
    pub fn sample(
        &mut self,
        t: i64,
        extra: &[(String, f64)],
        out: &mut impl Sink<Error = io::Error>,
    ) -> anyhow::Result<Taken> {
        let m = self
            .monitor
            .as_mut()
            .map(Monitor::sample)
            .unwrap_or_default();
        feed(&m, extra, &mut self.brain, &mut self.extras, t, out)
    }

    pub fn save(&self) -> std::io::Result<()> {
        self.brain.save(&self.dir)?;
        self.extras.save(&self.dir)
    }
}

/// The platform feeds `[monitor]` asks for (services, tcpdump).
pub fn feeds(settings: &MonitorSettings) -> Result<Monitor, monitor::MonitorError> {
    Monitor::new(MonitorConfig {
        services: settings.services.clone(),
        tcpdump: settings.tcpdump,
        ..MonitorConfig::default()
    })
}

/// Learns and prints one measured sample (tests feed it a made-up one).
pub fn feed(
    m: &monitor::Sample,
    extra: &[(String, f64)],
    brain: &mut Brain,
    extras: &mut Extras,
    t: i64,
    out: &mut impl Sink<Error = io::Error>,
) -> anyhow::Result<Taken> {
    let mut sample = Sample::new();
    let mut unavailable = m.unavailable.clone();
    for (name, value) in m.values.iter().chain(extra) {
        match brain.learner.registry_mut().register(name) {
            Ok(id) => sample.set(id, *value as f32),
            Err(e) => unavailable.push((name.clone(), format!("no observable slot: {e:?}"))),
        }
    }
    let mut report = Report::new();
    brain
        .learner
        .sample(&mut brain.table, t, &sample, &mut report);

    let mut entropies: Vec<(String, f32)> = Vec::new();
    let mut extra_classes = BTreeSet::new();
    for (name, keys) in &m.keys {
        let value = m.value(name).unwrap_or(0.0);
        let e = match service_of(name) {
            Some((svc, dir)) => entropy(keys).inspect(|e| {
                if let Ok(c) = class_name(svc, dir, homeostat_core::entropy::Level::of(*e)) {
                    extra_classes.insert(c.as_str().to_string());
                }
            }),
            None => None,
        };
        if let Some(e) = e {
            entropies.push((name.clone(), e));
        }
        extras.offer(name, t, value, e, keys);
    }
    let mut classes = render::sample(out, &brain.learner, &report, |n| {
        entropies.iter().find(|(k, _)| k == n).map(|(_, e)| *e)
    })?;
    classes.extend(extra_classes);

    extras.listening = m
        .listening
        .iter()
        .map(|l| (l.proto.to_string(), l.port, l.addr.clone()))
        .collect();
    if !m.values.is_empty() || !m.listening.is_empty() {
        let listening: Vec<Listening<'_>> = m
            .listening
            .iter()
            .map(|l| Listening {
                proto: l.proto,
                port: l.port,
                addr: &l.addr,
            })
            .collect();
        out.event(&Event::Ports(Ports {
            t,
            listening: &listening,
        }))?;
    }
    render::classes(out, t, &classes)?;
    extras.last_t = t;
    extras.last_classes = classes.into_iter().collect();
    Ok(Taken { unavailable })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_low_for_one_source_high_for_many() {
        assert_eq!(entropy(&[("127.0.0.2".into(), 5)]), Some(0.0));
        let many: Vec<(String, u32)> = (2..10).map(|i| (format!("127.0.0.{i}"), 2)).collect();
        assert!(entropy(&many).unwrap() > 0.99);
        assert_eq!(entropy(&[("127.0.0.2".into(), 1)]), None);
    }
}
