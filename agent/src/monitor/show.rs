//! `homeostat state [OBS…]`: CFEngine's ShowState view, and `--vars`, the `mon.` variables.

use std::io::{self, Write};

use homeostat_core::stats::learner::YOUNG_SAMPLES;
use homeostat_core::stats::{table, Learner, ObsId};

use super::peaks::{Extras, Peak};
use super::store::Brain;
use crate::output::escape::{escape, json_str};
use crate::output::timefmt::utc;

/// How far the learning is: while the table is young (its first [`YOUNG_SAMPLES`], a week
/// at the default 150 s interval) in days of that week, with the warning that classes
/// are provisional.
pub fn learning(l: &Learner) -> String {
    let age = l.age();
    if age < YOUNG_SAMPLES {
        format!(
            "learning: {} of 7 days ({age} of {YOUNG_SAMPLES} samples); classes are provisional",
            age * 7 / YOUNG_SAMPLES
        )
    } else {
        format!("learned from {age} samples (a week or more)")
    }
}

/// Prints the state of the named observables (all that have been measured when none).
pub fn show(
    out: &mut impl Write,
    brain: &Brain,
    extras: &Extras,
    now: i64,
    view: &View<'_>,
) -> anyhow::Result<()> {
    let View {
        names,
        vars,
        json,
        all,
    } = *view;
    let l = &brain.learner;
    let slot = table::slot(now);
    // The text view leaves out idle observables (value 0, no class) unless `--all`.
    let idle = |id: ObsId, name: &str| {
        l.last(id) == Some(0.0) && !extras.last_classes.iter().any(|c| classes_of(c, name))
    };
    let chosen: Vec<(ObsId, String)> = if names.is_empty() {
        l.registry()
            .iter()
            .filter(|(id, _)| l.last(*id).is_some())
            .filter(|(id, n)| all || vars || json || !idle(*id, n))
            .map(|(id, n)| (id, n.to_string()))
            .collect()
    } else {
        let mut v = Vec::new();
        for n in names {
            let id = l
                .registry()
                .lookup(n)
                .ok_or_else(|| anyhow::anyhow!("no observable named {:?}", escape(n.as_bytes())))?;
            v.push((id, n.clone()));
        }
        v
    };
    if !json && !vars {
        writeln!(
            out,
            "learner: {} samples, slot {slot} ({}), forget rate {}",
            l.age(),
            utc(now),
            l.forget_rate()
        )?;
        if l.is_young() {
            writeln!(out, "{}", learning(l))?;
        }
    }
    for (id, name) in chosen {
        let w = brain.table[slot][id.index()];
        let loc = l.local(id);
        let value = l.last(id);
        // CFEngine's dev_X: the square root of both variances.
        let dev = (w.var + loc.var).sqrt();
        let classes: Vec<&String> = extras
            .last_classes
            .iter()
            .filter(|c| classes_of(c, &name))
            .collect();
        if vars {
            writeln!(out, "mon.value_{name} = {:.2}", value.unwrap_or(0.0))?;
            writeln!(out, "mon.av_{name} = {:.2}", w.expect)?;
            writeln!(out, "mon.dev_{name} = {dev:.2}")?;
            continue;
        }
        if json {
            let list: Vec<String> = classes.iter().map(|c| json_str(c)).collect();
            writeln!(
                out,
                "{{\"type\":\"state\",\"observable\":{},\"value\":{},\"expect\":{},\"stddev\":{},\"local_expect\":{},\"local_stddev\":{},\"classes\":[{}]}}",
                json_str(&name),
                value.map_or("null".to_string(), |v| v.to_string()),
                w.expect,
                w.var.sqrt(),
                loc.expect,
                loc.var.sqrt(),
                list.join(",")
            )?;
            continue;
        }
        writeln!(
            out,
            "{name:<16} {:>10}  weekly {:.2} ± {:.2}  local {:.2} ± {:.2}  {}",
            value.map_or("-".to_string(), |v| format!("{v:.2}")),
            w.expect,
            w.var.sqrt(),
            loc.expect,
            loc.var.sqrt(),
            classes
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        )?;
        recent(out, brain, id)?;
        if let Some(p) = extras.peaks.get(&name) {
            peak(out, p)?;
        }
    }
    if !vars && !json && names.is_empty() && !extras.listening.is_empty() {
        let items: Vec<String> = extras
            .listening
            .iter()
            .map(|(p, port, a)| format!("{p}/{port} on {}", escape(a.as_bytes())))
            .collect();
        writeln!(out, "listening: {}", items.join(", "))?;
    }
    Ok(())
}

/// What `state` was asked for.
#[derive(Clone, Copy)]
pub struct View<'a> {
    /// Observables to show; none: every one measured (`all`) or those with a value or a
    /// class (the text view's default).
    pub names: &'a [String],
    pub vars: bool,
    pub json: bool,
    pub all: bool,
}

/// Whether class `c` belongs to observable `name` (its own or its entropy classes).
pub fn classes_of(c: &str, name: &str) -> bool {
    let own = c.strip_prefix(name).is_some_and(|r| r.starts_with('_'));
    let entropy = c
        .strip_prefix("entropy_")
        .and_then(|r| r.strip_prefix(name))
        .is_some_and(|r| r.starts_with('_'));
    own || entropy
}

/// Slots of recorded history `state` shows per observable: the last hour.
const RECENT_SLOTS: usize = 12;

/// The values recorded in the hour up to the newest sample, one bar per five-minute slot
/// (blank where none was recorded), and their range; `None` when nothing was recorded.
pub fn last_hour(brain: &Brain, id: ObsId) -> Option<(String, f32, f32)> {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let last = brain.history.latest()?;
    let newest = table::slot(last);
    let values: Vec<Option<f32>> = (0..RECENT_SLOTS)
        .rev()
        .map(|back| {
            let s = (newest + table::SLOTS - back) % table::SLOTS;
            brain.history.recent_value(s, id, last).map(|(v, _, _)| v)
        })
        .collect();
    let seen = values.iter().flatten().copied();
    let lo = seen.clone().reduce(f32::min)?;
    let hi = seen.reduce(f32::max)?;
    let bars: String = values
        .iter()
        .map(|v| match v {
            None => ' ',
            Some(_) if hi <= lo => BARS[3],
            Some(v) => BARS[(((v - lo) / (hi - lo)) * 7.0).round().clamp(0.0, 7.0) as usize],
        })
        .collect();
    Some((bars, lo, hi))
}

fn recent(out: &mut impl Write, brain: &Brain, id: ObsId) -> io::Result<()> {
    match last_hour(brain, id) {
        Some((bars, lo, hi)) => writeln!(out, "    recorded, last hour: {bars} ({lo:.2}..{hi:.2})"),
        None => Ok(()),
    }
}

/// The peak snapshot with CFEngine's frequency bar chart (48 `*`, then `+`, capped at 50).
fn peak(out: &mut impl Write, p: &Peak) -> io::Result<()> {
    writeln!(
        out,
        "    peak of the last 40 minutes at {}: q = {}",
        utc(p.t),
        p.value
    )?;
    let max = p.keys.iter().map(|(_, c)| *c).max().unwrap_or(1).max(1);
    for (k, c) in &p.keys {
        let width = (u64::from(*c) * 50 / u64::from(max)) as usize;
        let bar: String = (0..width).map(|i| if i < 48 { '*' } else { '+' }).collect();
        writeln!(out, "    {:>6} {:<40} {bar}", c, escape(k.as_bytes()))?;
    }
    if let Some(e) = p.entropy {
        writeln!(
            out,
            "    variability/entropy of addresses = {:.1} %",
            e * 100.0
        )?;
    }
    Ok(())
}

/// `homeostat state [OBS…] [--vars]`.
pub fn command(
    cfg: &crate::config::Config,
    state: &std::path::Path,
    names: &[String],
    vars: bool,
    all: bool,
    out: &mut crate::output::Output,
) -> crate::exit::Outcome {
    use crate::exit::{CONFIG, IO};
    let session = crate::round::open_session(cfg, state, out)?;
    // `state` is a view of the learned table, not a stream of findings: it prints itself.
    let mut stdout = io::BufWriter::new(io::stdout());
    show(
        &mut stdout,
        &session.brain,
        &session.extras,
        out.now(),
        &View {
            names,
            vars,
            json: out.json(),
            all,
        },
    )
    .map_err(|e| (CONFIG, format!("{e:#}")))?;
    if names.is_empty() && !vars {
        if let Some(h) = crate::daemon::Heartbeat::load(state) {
            h.show(&mut stdout, out.json())
                .map_err(|e| (IO, format!("cannot write report: {e}")))?;
        }
    }
    stdout
        .flush()
        .map_err(|e| (IO, format!("cannot write report: {e}")))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use homeostat_core::stats::{Report, Sample, DEFAULT_FORGET_RATE};

    #[test]
    fn last_hour_bars_what_was_recorded() {
        let mut brain = Brain::fresh(DEFAULT_FORGET_RATE);
        assert!(last_hour(&brain, ObsId::USERS).is_none());
        let (mut s, mut r) = (Sample::new(), Report::new());
        // Slots 0, 1 and 3 of a Monday; slot 2 has no sample.
        for (slot, v) in [(0, 1.0), (1, 5.0), (3, 9.0)] {
            s.set(ObsId::USERS, v);
            brain.learn(
                1_704_067_200 + slot * 300,
                &s,
                &mut r,
                crate::monitor::clock_step::Source::Recorded,
            );
        }
        let (bars, lo, hi) = last_hour(&brain, ObsId::USERS).unwrap();
        assert_eq!((lo, hi), (1.0, 9.0));
        // Twelve slots up to the newest: eight from last week (none), then 1, 5, -, 9.
        assert_eq!(bars, "        ▁▅ █");
        assert!(learning(&brain.learner).starts_with("learning: 0 of 7 days (3 of 4032"));
    }
}
