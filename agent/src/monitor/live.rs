//! One live sample: the platform's measurements through the learner, with source entropy
//! of each socket and packet observable and the peak snapshots `state` shows.

use std::collections::BTreeSet;
use std::io;
use std::net::IpAddr;

use homeostat_core::digest::{digest, Algorithm};
use homeostat_core::entropy::{observable_class_name, Counter, Key, Level};
use std::path::Path;

use crate::platform::monitor::{self, MonitorConfig};
use crate::platform::Feeds;
use crate::platform::StateDir;
use anyhow::Context;
use homeostat_core::stats::{ObsId, Report, Sample, DEFAULT_FORGET_RATE};

use super::clock_step::Source;
use super::events;
use super::peaks::Extras;
use super::store::Brain;
use crate::config::monitor::MonitorSettings;
use homeostat_core::event::{Event, Listening, Ports};
use homeostat_core::feed::Sink;

/// Distinct sources an entropy figure counts; more are counted as overflow.
const ENTROPY_KEYS: usize = 1024;

/// What a sample found besides the learner's outcomes.
pub struct Taken {
    /// Feeds that could not be read: `(feed, reason)`.
    pub unavailable: Vec<(String, String)>,
    /// The classes the sample raised (the learner's, entropy, persistent ones alive), for
    /// the round's `classes` event.
    pub classes: BTreeSet<String>,
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
    /// Where the learner's state and the peaks are kept.
    pub store: StateDir,
    pub brain: Brain,
    pub extras: Extras,
    /// The platform's feeds, when `[monitor]` is configured.
    pub monitor: Option<Feeds>,
    /// `[monitor] interval`: how far ahead of the boot clock a sample may be before the
    /// wall clock counts as stepped forward.
    pub interval: std::time::Duration,
}

impl Session {
    /// Loads the state of `dir` (a damaged state is set aside: `warn` says so).
    pub fn open(
        dir: &Path,
        settings: Option<&MonitorSettings>,
        warn: impl FnMut(String),
    ) -> anyhow::Result<Session> {
        let forget = settings.map_or(DEFAULT_FORGET_RATE, |s| s.forget_rate);
        let mut store = StateDir::new(dir);
        let brain = Brain::load(&mut store, forget, warn)
            .with_context(|| format!("cannot read the learner state in {}", dir.display()))?;
        let monitor = settings
            .map(feeds)
            .transpose()
            .context("[monitor] services")?;
        let extras = Extras::load(&mut store);
        Ok(Session {
            store,
            brain,
            extras,
            monitor,
            interval: settings.cloned().unwrap_or_default().interval,
        })
    }

    /// One sample at epoch `t`, read when the boot clock read `boot` (the daemon's rounds;
    /// `None` for a single `scan`): the platform's measurements (if any) and `extra` values
    /// (weekly log measurements), learned and printed.
    pub fn sample(
        &mut self,
        t: i64,
        boot: Option<std::time::Duration>,
        extra: &[(String, f64)],
        out: &mut impl Sink<Error = io::Error>,
    ) -> anyhow::Result<Taken> {
        let registry = self.brain.learner.registry_mut();
        let m = match self.monitor.as_mut() {
            Some(monitor) => monitor.sample(registry),
            None => monitor::Sample::default(),
        };
        let source = match boot {
            Some(boot) => Source::Live {
                boot,
                interval: self.interval,
            },
            None => Source::Recorded,
        };
        feed(
            &m,
            extra,
            &mut self.brain,
            &mut self.extras,
            (t, source),
            out,
        )
    }

    pub fn save(&mut self) -> std::io::Result<()> {
        self.brain.save(&mut self.store)?;
        self.extras.save(&mut self.store)
    }
}

/// The platform feeds `[monitor]` asks for (services, tcpdump).
pub fn feeds(settings: &MonitorSettings) -> Result<Feeds, monitor::MonitorError> {
    crate::platform::feeds(MonitorConfig {
        services: settings.services.clone(),
        tcpdump: settings.tcpdump,
        tcpdump_interface: settings.tcpdump_interface.clone(),
        ..MonitorConfig::default()
    })
}

/// Learns and prints one measured sample (tests feed it a made-up one).
pub fn feed(
    m: &monitor::Sample,
    extra: &[(String, f64)],
    brain: &mut Brain,
    extras: &mut Extras,
    (t, source): (i64, Source),
    out: &mut impl Sink<Error = io::Error>,
) -> anyhow::Result<Taken> {
    let mut sample = Sample::new();
    let mut unavailable = m.unavailable.clone();
    // The platform's observables come with their ids; only weekly log measurements are
    // named here, and get a slot by name.
    for (id, value) in &m.values {
        sample.set(*id, *value as f32);
    }
    for (name, value) in extra {
        match brain.learner.registry_mut().register(name) {
            Ok(id) => sample.set(id, *value as f32),
            Err(e) => unavailable.push((name.clone(), format!("no observable slot: {e:?}"))),
        }
    }
    let mut report = Report::new();
    let verdict = brain.learn(t, &sample, &mut report, source);
    if let Some(step) = verdict.step {
        super::events::step(out, t, &step)?;
    }

    let mut entropies: Vec<(ObsId, f32)> = Vec::new();
    let mut extra_classes = BTreeSet::new();
    let registry = brain.learner.registry();
    for k in &m.keys {
        let name = registry.name(k.id).unwrap_or("unnamed");
        let value = m.value(k.id).unwrap_or(0.0);
        // Sockets and packets of a service in one direction: the entropy of their sources.
        let e = match k.counted.flow() {
            Some(_) => entropy(&k.counts).inspect(|e| {
                if let Ok(c) = observable_class_name(name, Level::of(*e)) {
                    extra_classes.insert(c.as_str().to_string());
                }
            }),
            None => None,
        };
        if let Some(e) = e {
            entropies.push((k.id, e));
        }
        extras.offer(name, t, value, e, &k.counts);
    }
    let mut classes = events::sample(out, &brain.learner, &report, verdict.learn, |id| {
        entropies.iter().find(|(k, _)| *k == id).map(|(_, e)| *e)
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
    Ok(Taken {
        unavailable,
        classes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::monitor::{Counted, Keys};
    use homeostat_core::entropy::Direction;

    /// What a sample's events said: `(id, name, entropy)` per observable.
    #[derive(Default)]
    struct Seen {
        samples: Vec<(ObsId, String, Option<f32>)>,
    }

    impl Sink for Seen {
        type Error = io::Error;
        fn event(&mut self, e: &Event<'_>) -> io::Result<()> {
            if let Event::Sample(s) = e {
                self.samples.push((s.id, s.name.to_string(), s.entropy));
            }
            Ok(())
        }
        fn commit(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn counts(v: &[(&str, u32)]) -> Vec<(String, u32)> {
        v.iter().map(|(k, n)| (k.to_string(), *n)).collect()
    }

    #[test]
    fn ids_from_the_platform_to_the_events() {
        let mut brain = Brain::fresh(DEFAULT_FORGET_RATE);
        // As the monitor does for a service beyond the built-ins, at its first sample.
        let domain_in = brain.learner.registry_mut().register("domain_in").unwrap();
        let www_in = ObsId::service(7, Direction::In).unwrap();
        let m = monitor::Sample {
            values: vec![(ObsId::USERS, 2.0), (www_in, 4.0), (domain_in, 3.0)],
            keys: vec![
                Keys {
                    id: ObsId::USERS,
                    counted: Counted::Sessions,
                    counts: counts(&[("alice", 1), ("bob", 1)]),
                },
                Keys {
                    id: www_in,
                    counted: Counted::Service {
                        index: 7,
                        dir: Direction::In,
                    },
                    counts: counts(&[("192.0.2.1", 1), ("192.0.2.2", 1), ("192.0.2.3", 2)]),
                },
                Keys {
                    id: domain_in,
                    counted: Counted::Service {
                        index: 12,
                        dir: Direction::In,
                    },
                    counts: counts(&[("192.0.2.9", 3)]),
                },
            ],
            ..Default::default()
        };
        let (mut extras, mut seen) = (Extras::default(), Seen::default());
        let extra = [("ssh_failed".to_string(), 1.0)];
        let t = 1_704_067_200;
        let taken = feed(
            &m,
            &extra,
            &mut brain,
            &mut extras,
            (t, Source::Recorded),
            &mut seen,
        )
        .unwrap();
        assert!(taken.unavailable.is_empty());

        let failed = brain.learner.registry().lookup("ssh_failed").unwrap();
        let got: Vec<(usize, &str, bool)> = seen
            .samples
            .iter()
            .map(|(id, n, e)| (id.index(), n.as_str(), e.is_some()))
            .collect();
        assert_eq!(
            got,
            [
                (0, "users", false),
                (19, "www_in", true),
                (domain_in.index(), "domain_in", true),
                (failed.index(), "ssh_failed", false),
            ]
        );
        assert_eq!(seen.samples[2].2, Some(0.0));
        for class in ["entropy_www_in_high", "entropy_domain_in_low"] {
            assert!(
                taken.classes.contains(class),
                "{class}: {:?}",
                taken.classes
            );
        }
        assert!(!taken.classes.iter().any(|c| c.starts_with("entropy_users")));
        // The peak view keeps names: the file stays what it was.
        let peaks: Vec<&str> = extras.peaks.keys().map(String::as_str).collect();
        assert_eq!(peaks, ["domain_in", "users", "www_in"]);
        assert_eq!(extras.peaks["www_in"].value, 4.0);
    }

    #[test]
    fn entropy_low_for_one_source_high_for_many() {
        assert_eq!(entropy(&[("127.0.0.2".into(), 5)]), Some(0.0));
        let many: Vec<(String, u32)> = (2..10).map(|i| (format!("127.0.0.{i}"), 2)).collect();
        assert!(entropy(&many).unwrap() > 0.99);
        assert_eq!(entropy(&[("127.0.0.2".into(), 1)]), None);
    }
}
