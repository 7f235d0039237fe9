//! `homeostat state [OBS…]`: CFEngine's ShowState view, and `--vars`, the `mon.` variables.

use std::io::{self, Write};

use homeostat_core::stats::{table, ObsId};

use super::peaks::{Extras, Peak};
use super::store::Brain;
use crate::output::escape::{escape, json_str};
use crate::output::timefmt::utc;

/// Prints the state of the named observables (all that have been measured when none).
pub fn show(
    out: &mut impl Write,
    brain: &Brain,
    extras: &Extras,
    now: i64,
    names: &[String],
    vars: bool,
    json: bool,
) -> anyhow::Result<()> {
    let l = &brain.learner;
    let slot = table::slot(now);
    let chosen: Vec<(ObsId, String)> = if names.is_empty() {
        l.registry()
            .iter()
            .filter(|(id, _)| l.last(*id).is_some())
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
    }
    for (id, name) in chosen {
        let w = brain.table[slot][id.index()];
        let loc = l.local(id);
        let value = l.last(id);
        // CFEngine's dev_X: the square root of both variances.
        let dev = (w.var + loc.var).sqrt();
        let prefix = format!("{name}_");
        let classes: Vec<&String> = extras
            .last_classes
            .iter()
            .filter(|c| c.starts_with(&prefix) || c.starts_with(&format!("entropy_{name}_")))
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
        names,
        vars,
        out.json(),
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
