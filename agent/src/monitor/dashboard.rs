//! What `state --watch` shows, read afresh from the state directory at each refresh: the
//! observables with their last value, weekly average ± deviation and distance, the live
//! classes, and the last findings of the journal. Drawn with ratatui; every string from
//! outside (names, paths, messages) passes through [`sanitize`] first.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use homeostat_core::stats::classify::classify;
use homeostat_core::stats::{table, DEFAULT_FORGET_RATE};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::peaks::Extras;
use super::show::learning;
use super::store::Brain;
use crate::output::escape::sanitize;
use crate::output::timefmt::utc;
use crate::platform::StateDir;

/// The journal's tail read for the last findings; they are short lines.
const TAIL_BYTES: u64 = 64 * 1024;
/// Findings listed.
const FINDINGS: usize = 8;

/// One observable's row.
pub struct Obs {
    pub name: String,
    pub value: f32,
    pub expect: f32,
    pub stddev: f32,
    pub dev: f32,
    /// The recorded last hour as bars (`show::last_hour`), blank when none.
    pub last_hour: String,
    pub classes: Vec<String>,
}

/// Everything one screen shows.
pub struct Snapshot {
    pub host: String,
    pub learning: String,
    pub last_t: i64,
    pub observables: Vec<Obs>,
    pub classes: Vec<String>,
    pub findings: Vec<String>,
}

impl Snapshot {
    /// Reads the state in `dir`; `all`: idle observables (value 0, no class) too.
    pub fn read(dir: &Path, all: bool) -> anyhow::Result<Snapshot> {
        let mut store = StateDir::new(dir);
        let brain = Brain::load(&mut store, DEFAULT_FORGET_RATE, |_| {}).map_err(|e| {
            anyhow::anyhow!("cannot read the learner state in {}: {e}", dir.display())
        })?;
        let extras = Extras::load(&mut store);
        let l = &brain.learner;
        let slot = table::slot(extras.last_t);
        let mut observables = Vec::new();
        for (id, name) in l.registry().iter() {
            let Some(value) = l.last(id) else { continue };
            let w = brain.table[slot][id.index()];
            let (_, dev) = classify(value, w, l.local(id));
            let classes: Vec<String> = extras
                .last_classes
                .iter()
                .filter(|c| super::show::classes_of(c, name))
                .cloned()
                .collect();
            if all || value != 0.0 || !classes.is_empty() {
                observables.push(Obs {
                    name: name.to_string(),
                    value,
                    expect: w.expect,
                    stddev: w.stddev(),
                    dev,
                    last_hour: super::show::last_hour(&brain, id).map_or(String::new(), |b| b.0),
                    classes,
                });
            }
        }
        Ok(Snapshot {
            host: crate::state_dir::hostname(),
            learning: learning(l),
            last_t: extras.last_t,
            observables,
            classes: extras.last_classes.clone(),
            findings: findings(&crate::journal::file::path(dir)),
        })
    }
}

/// The last findings in the journal (files, alerts, warnings, ports, peers), newest last.
fn findings(journal: &Path) -> Vec<String> {
    let Ok(mut f) = crate::state_file::read(journal) else {
        return Vec::new();
    };
    let len = f.metadata().map_or(0, |m| m.len());
    let mut text = String::new();
    if f.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))
        .is_err()
        || f.take(TAIL_BYTES).read_to_string(&mut text).is_err()
    {
        return vec![format!(
            "cannot read {}",
            sanitize(&journal.display().to_string())
        )];
    }
    let mut out: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| finding(&v))
        .collect();
    let cut = out.len().saturating_sub(FINDINGS);
    out.drain(..cut);
    out
}

/// One journal event as a line, if it is a finding.
fn finding(v: &serde_json::Value) -> Option<String> {
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("");
    let what = match s("type") {
        "file" => format!("file {} {}", s("change"), s("path")),
        "setid" => format!("new {} {}", s("bit"), s("path")),
        "alert" => format!("ALERT {}: {}", s("rule"), s("message")),
        "warning" => format!("warning {}: {}", s("source"), s("message")),
        "ports_changed" => "listening ports changed".to_string(),
        "peer" => format!("peer {} {}", s("host"), s("event")),
        "restore" => format!("restore {} {}", s("path"), s("message")),
        _ => return None,
    };
    let t = v
        .get("t")
        .and_then(|t| t.as_i64())
        .map_or(String::new(), utc);
    Some(printable(&format!("{t} {what}")))
}

/// Journal text is in the contract's form already (paths with `\xNN`, a `\` written
/// `\x5c`): only what is not printable ASCII is escaped here, `\` left as it is.
fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x20..0x7f).contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Draws `snap` on the whole frame.
pub fn draw(f: &mut Frame<'_>, snap: &Snapshot) {
    let [head, body, classes, found] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(4),
        Constraint::Length(4),
        Constraint::Length(FINDINGS as u16 + 2),
    ])
    .areas(f.area());
    let when = if snap.last_t == 0 {
        "no sample yet".to_string()
    } else {
        format!("last sample {}", utc(snap.last_t))
    };
    f.render_widget(
        Paragraph::new(format!("{}  ·  {when}", snap.learning)).block(
            Block::bordered().title(format!(" homeostat · {} · q quits ", sanitize(&snap.host))),
        ),
        head,
    );
    let rows = snap.observables.iter().map(|o| {
        let style = if o.classes.iter().any(|c| c.ends_with("_anomaly")) {
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
        } else {
            Style::default()
        };
        Row::new(vec![
            sanitize(&o.name),
            format!("{:.2}", o.value),
            format!("{:.2} ± {:.2}", o.expect, o.stddev),
            format!("{:.2}", o.dev),
            o.last_hour.clone(),
            sanitize(&o.classes.join(" ")),
        ])
        .style(style)
    });
    let widths = [
        Constraint::Length(18),
        Constraint::Length(12),
        Constraint::Length(22),
        Constraint::Length(7),
        Constraint::Length(13),
        Constraint::Min(10),
    ];
    f.render_widget(
        Table::new(rows, widths)
            .header(
                Row::new([
                    "observable",
                    "value",
                    "weekly avg ± dev",
                    "dev",
                    "last hour",
                    "classes",
                ])
                .style(Style::default().add_modifier(Modifier::BOLD)),
            )
            .block(Block::bordered().title(" observables ")),
        body,
    );
    f.render_widget(
        Paragraph::new(sanitize(&snap.classes.join(" ")))
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(" classes ")),
        classes,
    );
    let lines = if snap.findings.is_empty() {
        "none".to_string()
    } else {
        snap.findings.join("\n")
    };
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" last findings ")),
        found,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_are_named_and_sanitized() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"type":"file","t":0,"change":"added","path":"/etc/x\u001b[31m"}"#,
        )
        .unwrap();
        assert_eq!(
            finding(&v).unwrap(),
            "1970-01-01T00:00:00Z file added /etc/x\\x1b[31m"
        );
        let c: serde_json::Value =
            serde_json::from_str(r#"{"type":"classes","t":0,"classes":[]}"#).unwrap();
        assert!(finding(&c).is_none());
        // A path as the journal holds it (already escaped) is shown as it is.
        let j: serde_json::Value = serde_json::from_str(
            r#"{"type":"file","t":0,"change":"changed","path":"/etc/caf\\xe9"}"#,
        )
        .unwrap();
        assert_eq!(
            finding(&j).unwrap(),
            "1970-01-01T00:00:00Z file changed /etc/caf\\xe9"
        );
    }
}
