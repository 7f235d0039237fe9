//! `homeostat replay FILE`: feeds recorded `epoch,observable,value` lines through the
//! learner, so a new machine can start from history instead of from nothing.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use anyhow::{bail, Context, Result};
use homeostat_core::feed::Sink;
use homeostat_core::stats::{ObsId, Report, Sample};

use super::clock_step::Source;
use super::events;
use super::store::Brain;

/// One parsed line.
struct Line {
    t: i64,
    name: String,
    value: f32,
}

fn parse(line: &str, file: &Path, n: usize) -> Result<Option<Line>> {
    let text = line.trim();
    if text.is_empty() || text.starts_with('#') {
        return Ok(None);
    }
    let place = || format!("{}:{n}", file.display());
    let mut parts = text.splitn(3, ',').map(str::trim);
    let (Some(t), Some(name), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        bail!("{}: expected `epoch,observable,value`", place());
    };
    let t: i64 = t
        .parse()
        .with_context(|| format!("{}: epoch {t:?} is not a whole number of seconds", place()))?;
    let value: f32 = value
        .parse()
        .with_context(|| format!("{}: value {value:?} is not a number", place()))?;
    if !value.is_finite() {
        bail!("{}: value {value} is not finite", place());
    }
    if name.is_empty() {
        bail!("{}: empty observable name", place());
    }
    Ok(Some(Line {
        t,
        name: name.to_string(),
        value,
    }))
}

fn lines(file: &Path) -> Result<impl Iterator<Item = Result<Option<Line>>> + '_> {
    let f = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    Ok(BufReader::new(f).lines().enumerate().map(move |(i, l)| {
        let l =
            l.with_context(|| format!("{}:{}: cannot read (not text?)", file.display(), i + 1))?;
        parse(&l, file, i + 1)
    }))
}

/// Replays `file` into `brain`, printing each sample. Consecutive lines with the same
/// epoch are one sample. The whole file is checked before the first sample is learned,
/// so a bad line changes nothing.
/// The epoch and classes of a sample.
pub type Classified = (i64, BTreeSet<String>);

/// Returns the number of samples and the epoch and classes of the last one.
pub fn run(
    file: &Path,
    brain: &mut Brain,
    out: &mut dyn Sink<Error = io::Error>,
) -> Result<(u64, Option<Classified>)> {
    for l in lines(file)? {
        if let Some(l) = l? {
            if ObsId::builtin(&l.name).is_none() {
                homeostat_core::stats::observables::check_name(&l.name).map_err(|e| {
                    anyhow::anyhow!("{}: observable {:?}: {e:?}", file.display(), l.name)
                })?;
            }
        }
    }
    let (mut sample, mut report) = (Sample::new(), Report::new());
    let mut current: Option<i64> = None;
    let mut samples = 0u64;
    let mut last = None;
    let mut flush = |t: i64,
                     sample: &mut Sample,
                     brain: &mut Brain,
                     out: &mut dyn Sink<Error = io::Error>|
     -> Result<()> {
        let v = brain.learn(t, sample, &mut report, Source::Recorded);
        if let Some(step) = v.step {
            events::step(out, t, &step)?;
        }
        let all = events::sample(out, &brain.learner, &report, v.learn, |_| None)?;
        events::classes(out, t, &all)?;
        last = Some((t, all));
        sample.clear();
        samples += 1;
        Ok(())
    };
    for l in lines(file)? {
        let Some(l) = l? else { continue };
        if current.is_some_and(|t| t != l.t) {
            if let Some(t) = current {
                flush(t, &mut sample, brain, out)?;
            }
        }
        current = Some(l.t);
        let id = brain
            .learner
            .registry_mut()
            .register(&l.name)
            .map_err(|e| anyhow::anyhow!("{}: observable {:?}: {e:?}", file.display(), l.name))?;
        sample.set(id, l.value);
    }
    if let Some(t) = current {
        flush(t, &mut sample, brain, out)?;
    }
    Ok((samples, last))
}

/// `homeostat replay FILE`: learns from `file` in the state of `state`, emitting each
/// sample's outcomes, and saves the state.
pub fn command(
    cfg: &crate::config::Config,
    state: &Path,
    file: &Path,
    out: &mut crate::output::Output,
) -> crate::exit::Outcome {
    use crate::exit::{CONFIG, IO};
    let mut session = crate::round::open_session(cfg, state, out)?;
    let (_, last) = run(file, &mut session.brain, out).map_err(|e| (CONFIG, format!("{e:#}")))?;
    out.commit()
        .map_err(|e| (IO, format!("cannot write report: {e}")))?;
    if let Some((t, classes)) = last {
        // `eval` and `state` see the classes of the last replayed sample, as after `run`.
        session.extras.last_t = t;
        session.extras.last_classes = classes.into_iter().collect();
    }
    session.save().map_err(|e| {
        (
            IO,
            format!("cannot save the learner state in {}: {e}", state.display()),
        )
    })?;
    Ok(0)
}
