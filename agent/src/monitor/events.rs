//! A sample's outcomes as events: one `sample` per observable, then the run's `classes`.

use std::collections::BTreeSet;
use std::io;

use homeostat_core::event::{ClassList, Event, Sampled, Warning};
use homeostat_core::feed::Sink;
use homeostat_core::stats::{Learner, ObsId, Report};

use super::clock_step::Step;

/// Emits one sample's outcomes; returns the classes of the run (this sample's and the
/// persistent ones alive at its epoch), which the caller emits with [`classes`] after
/// adding its own. `entropy` gives an observable's source entropy, if measured.
/// Names appear only here, rendered by the learner's registry. `learned`: the report is
/// of a sample learned; one only judged (clock set back) lists no persistent class, as
/// their expiry is on the learner's time, not the clock's.
pub fn sample(
    out: &mut (impl Sink<Error = io::Error> + ?Sized),
    learner: &Learner,
    report: &Report,
    learned: bool,
    entropy: impl Fn(ObsId) -> Option<f32>,
) -> io::Result<BTreeSet<String>> {
    let t = report.t();
    let mut all = BTreeSet::new();
    for (id, o) in report.iter() {
        let name = learner.registry().name(id).unwrap_or("unnamed");
        all.extend(o.classes.names(name).map(|c| c.as_str().to_string()));
        out.event(&Event::Sample(Sampled {
            t,
            id,
            name,
            outcome: o,
            entropy: entropy(id),
        }))?;
    }
    if learned {
        all.extend(learner.persistent_names(t).map(|c| c.as_str().to_string()));
    }
    Ok(all)
}

/// Reports a step of the clock ([`super::clock_step`]) as a warning from `clock`.
pub fn step(
    out: &mut (impl Sink<Error = io::Error> + ?Sized),
    t: i64,
    step: &Step,
) -> io::Result<()> {
    out.event(&Event::Warning(Warning {
        t,
        source: b"clock",
        measurement: None,
        message: &step.message(),
    }))
}

/// Emits the classes of a run.
pub fn classes(
    out: &mut (impl Sink<Error = io::Error> + ?Sized),
    t: i64,
    all: &BTreeSet<String>,
) -> io::Result<()> {
    let names: Vec<&str> = all.iter().map(String::as_str).collect();
    out.event(&Event::Classes(ClassList { t, names: &names }))
}
