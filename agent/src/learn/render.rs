//! How samples and classes are shown: JSON lines (`docs/json.md`) or aligned text.

use std::collections::BTreeSet;
use std::io::{self, Write};

use homeostat_core::stats::{Learner, Outcome, Report};

use crate::escape::json_str;

/// One sample's outcomes; returns the classes of the run (this sample's and the
/// persistent ones alive at its epoch), which the caller prints with [`classes`] after
/// adding its own. `entropy` gives an observable's source entropy, if measured.
pub fn sample(
    out: &mut impl Write,
    json: bool,
    learner: &Learner,
    report: &Report,
    entropy: impl Fn(&str) -> Option<f32>,
) -> io::Result<BTreeSet<String>> {
    let t = report.t();
    let mut all = BTreeSet::new();
    for (id, o) in report.iter() {
        let name = learner.registry().name(id).unwrap_or("unnamed");
        let classes: Vec<String> = o
            .classes
            .names(name)
            .map(|c| c.as_str().to_string())
            .collect();
        let e = entropy(name);
        if json {
            writeln!(out, "{}", sample_json(t, name, o, &classes, e))?;
        } else {
            writeln!(out, "{}", sample_text(name, o, &classes, e))?;
        }
        all.extend(classes);
    }
    all.extend(learner.persistent_names(t).map(|c| c.as_str().to_string()));
    Ok(all)
}

pub fn classes(out: &mut impl Write, json: bool, t: i64, all: &BTreeSet<String>) -> io::Result<()> {
    if json {
        let list: Vec<String> = all.iter().map(|c| json_str(c)).collect();
        writeln!(
            out,
            "{{\"type\":\"classes\",\"t\":{t},\"classes\":[{}]}}",
            list.join(",")
        )
    } else {
        let list: Vec<&str> = all.iter().map(String::as_str).collect();
        writeln!(out, "classes: {}", list.join(" "))
    }
}

fn sample_json(
    t: i64,
    name: &str,
    o: &Outcome,
    classes: &[String],
    entropy: Option<f32>,
) -> String {
    let list: Vec<String> = classes.iter().map(|c| json_str(c)).collect();
    let mut s = format!(
        "{{\"type\":\"sample\",\"t\":{t},\"observable\":{},\"value\":{},\"expect\":{},\"stddev\":{},\"local_expect\":{},\"local_stddev\":{},\"dev\":{},\"classes\":[{}]",
        json_str(name),
        o.value,
        o.expect,
        o.stddev,
        o.local_expect,
        o.local_stddev,
        o.dev,
        list.join(",")
    );
    if let Some(e) = entropy {
        s.push_str(&format!(",\"entropy\":{e}"));
    }
    s.push('}');
    s
}

fn sample_text(name: &str, o: &Outcome, classes: &[String], entropy: Option<f32>) -> String {
    let e = entropy.map_or_else(String::new, |e| format!(" entropy {:.0}%", e * 100.0));
    format!(
        "{name:<16} {:>10.2}  week {:>10.2} ± {:<8.2} local {:>10.2} ± {:<8.2} dev {:>6.2}{e}  {}",
        o.value,
        o.expect,
        o.stddev,
        o.local_expect,
        o.local_stddev,
        o.dev,
        classes.join(" ")
    )
}
