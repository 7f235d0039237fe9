//! `homeostat graph --out DIR [--obs NAME…] [--scale] [--bars]`: the learned week of each
//! observable as `NAME.csv` and `NAME.svg`, and `index.html` showing them all.
//!
//! - [`data`]: the week of one observable, read from the table and the recorded history.
//! - [`csv`], [`svg`], [`html`]: the three renderings; [`write`]: atomic file output.

pub mod csv;
pub mod data;
pub mod html;
pub mod svg;
pub mod write;

use std::path::Path;

use homeostat_core::stats::{table, ObsId};

use crate::exit::{Outcome, CONFIG, IO};
use crate::monitor::show::learning;
use crate::monitor::store::Brain;
use crate::output::escape::escape;
use crate::output::timefmt::utc;
use data::Series;
use svg::Deviation;

/// What `graph` was asked for.
pub struct Options<'a> {
    pub out: &'a Path,
    /// Observables to draw; none: every one measured (the system five on a fresh state).
    pub names: &'a [String],
    /// Scale each week to 0..1 (cfenvgraph's default; off here, true values are the default).
    pub scale: bool,
    /// Deviations as error bars instead of a band.
    pub bars: bool,
}

/// Said on a chart with nothing learned or recorded.
pub const EMPTY_NOTE: &str = "nothing learned yet: no sample of this observable";

/// The observables to draw, by id and name; an unknown name is an error naming it.
pub fn chosen(brain: &Brain, names: &[String]) -> anyhow::Result<Vec<(ObsId, String)>> {
    let r = brain.learner.registry();
    if names.is_empty() {
        let measured: Vec<(ObsId, String)> = r
            .iter()
            .filter(|(id, _)| brain.learner.last(*id).is_some())
            .map(|(id, n)| (id, n.to_string()))
            .collect();
        if !measured.is_empty() {
            return Ok(measured);
        }
        // A fresh state: the host's own five, drawn empty, say what is to come.
        return Ok(r
            .iter()
            .take(5)
            .map(|(id, n)| (id, n.to_string()))
            .collect());
    }
    names
        .iter()
        .map(|n| {
            r.lookup(n)
                .map(|id| (id, n.clone()))
                .ok_or_else(|| anyhow::anyhow!("no observable named {:?}", escape(n.as_bytes())))
        })
        .collect()
}

/// Writes the files of the `chosen` observables of `brain` (made at `now`) into
/// `opts.out` (created if missing).
pub fn write_all(
    brain: &Brain,
    extras: &crate::monitor::peaks::Extras,
    host: &str,
    now: i64,
    chosen: &[(ObsId, String)],
    opts: &Options<'_>,
) -> anyhow::Result<usize> {
    std::fs::create_dir_all(opts.out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", opts.out.display()))?;
    let deviation = if opts.bars {
        Deviation::Bars
    } else {
        Deviation::Band
    };
    // The recorded week is the one up to the newest sample (a replayed history, a host
    // that was off), not necessarily up to the wall clock.
    let last = brain.history.latest().unwrap_or(now);
    let now_slot = table::slot(last);
    let mut charts = Vec::with_capacity(chosen.len());
    for (id, name) in chosen {
        let mut series = Series::of(brain, *id, name, last);
        let note = series.is_empty().then(|| EMPTY_NOTE.to_string());
        if opts.scale {
            series.scale();
        }
        let title = format!(
            "{name} on {host}{}",
            if opts.scale { " (scaled to 0..1)" } else { "" }
        );
        let chart = svg::render(&series, &title, deviation, now_slot, note.as_deref())?;
        write::atomic(opts.out, &format!("{name}.svg"), chart.as_bytes())?;
        write::atomic(
            opts.out,
            &format!("{name}.csv"),
            csv::render(&series).as_bytes(),
        )?;
        charts.push((name.clone(), note));
    }
    let made = utc(now);
    let at = (extras.last_t != 0).then(|| utc(extras.last_t));
    let page = html::render(&html::Page {
        host,
        age: &learning(&brain.learner),
        made: &made,
        classes: &extras.last_classes,
        classes_at: at.as_deref(),
        charts: &charts,
    });
    write::atomic(opts.out, "index.html", page.as_bytes())?;
    Ok(charts.len())
}

/// `homeostat graph`.
pub fn command(
    cfg: &crate::config::Config,
    state: &Path,
    opts: &Options<'_>,
    out: &mut crate::output::Output,
) -> Outcome {
    let session = crate::round::open_session(cfg, state, out)?;
    let host = crate::state_dir::hostname();
    let brain = &session.brain;
    let chosen = chosen(brain, opts.names).map_err(|e| (CONFIG, format!("{e:#}")))?;
    let n = write_all(brain, &session.extras, &host, out.now(), &chosen, opts)
        .map_err(|e| (IO, format!("{e:#}")))?;
    if !out.json() {
        println!(
            "graph: {n} observables in {}",
            escape(opts.out.join("index.html").as_os_str().as_encoded_bytes())
        );
    }
    Ok(0)
}
