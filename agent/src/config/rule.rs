//! `[[rule]]`: a class expression (`when`) and what to do when it holds: an alert
//! (`report`, `severity`, rate-limited by `every`), persistent states to set or unset, and
//! a command to run. Everything is checked at load: the expression's syntax (the message
//! names its column) and every `$(…)` variable (an unknown one names the rule).

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use homeostat_core::classes::{class_name, expr, Policy};
use homeostat_core::event::Severity;
use serde::Deserialize;

use super::duration;

/// One `[[rule]]` block.
#[derive(Clone, Debug)]
pub struct Rule {
    /// `[A-Za-z0-9_]`, unique.
    pub name: String,
    /// The class expression that makes it fire.
    pub when: String,
    /// The alert's message; `None`: the rule raises no alert (only states, `run`).
    pub report: Option<Template>,
    pub severity: Severity,
    /// At most one firing per interval (kept in the state across processes).
    pub every: Option<Duration>,
    pub set_state: Option<SetState>,
    pub unset_state: Vec<String>,
    /// argv, no shell, each word expanded.
    pub run: Vec<Template>,
    pub run_timeout: Duration,
}

/// `set_state = { name, ttl, policy }` (CFEngine's `SetState`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetState {
    pub name: String,
    pub ttl: Duration,
    pub policy: Policy,
}

/// A text with `$(…)` variables, parsed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template(pub Vec<Piece>);

/// One piece of a [`Template`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Var(Var),
}

/// The variables a report or a command may name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Var {
    /// `$(mon.value_X)`: the observable's value in this round.
    MonValue(String),
    /// `$(mon.av_X)`: its weekly average.
    MonAv(String),
    /// `$(mon.dev_X)`: its weekly standard deviation.
    MonDev(String),
    /// `$(sys.host)`.
    Host,
    /// `$(rule.name)`.
    RuleName,
    /// `$(this.promiser)`.
    Promiser,
}

impl Template {
    /// Parses `text`; an unknown variable or an unclosed `$(` is an error naming it.
    pub fn parse(text: &str) -> Result<Template> {
        let mut pieces = Vec::new();
        let mut rest = text;
        let mut lit = String::new();
        while let Some(at) = rest.find("$(") {
            lit.push_str(&rest[..at]);
            let after = &rest[at + 2..];
            let end = after
                .find(')')
                .ok_or_else(|| anyhow!("`$(` without its `)` in {text:?}"))?;
            let name = &after[..end];
            let var = Var::parse(name).ok_or_else(|| {
                anyhow!(
                    "unknown variable $({name}): expected $(mon.value_X), $(mon.av_X), \
                     $(mon.dev_X), $(sys.host), $(rule.name) or $(this.promiser)"
                )
            })?;
            if !lit.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut lit)));
            }
            pieces.push(Piece::Var(var));
            rest = &after[end + 1..];
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            pieces.push(Piece::Text(lit));
        }
        Ok(Template(pieces))
    }

    /// The text with each variable replaced by `value(var)`.
    pub fn expand(&self, mut value: impl FnMut(&Var) -> String) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(v) => out.push_str(&value(v)),
            }
        }
        out
    }
}

impl Var {
    fn parse(name: &str) -> Option<Var> {
        let observable = |x: &str| {
            (!x.is_empty() && x.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
                .then(|| x.to_string())
        };
        match name {
            "sys.host" => Some(Var::Host),
            "rule.name" => Some(Var::RuleName),
            "this.promiser" => Some(Var::Promiser),
            _ => {
                if let Some(x) = name.strip_prefix("mon.value_") {
                    observable(x).map(Var::MonValue)
                } else if let Some(x) = name.strip_prefix("mon.av_") {
                    observable(x).map(Var::MonAv)
                } else if let Some(x) = name.strip_prefix("mon.dev_") {
                    observable(x).map(Var::MonDev)
                } else {
                    None
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<String>,
    when: Option<String>,
    report: Option<String>,
    severity: Option<String>,
    every: Option<toml::Value>,
    set_state: Option<RawSetState>,
    #[serde(default)]
    unset_state: Vec<String>,
    #[serde(default)]
    run: Vec<String>,
    run_timeout: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSetState {
    name: String,
    ttl: toml::Value,
    policy: Option<String>,
}

/// The default `run_timeout`.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(10);

/// The `[[rule]]` blocks of a config, in order.
pub fn rules(raw: Option<&toml::Value>, origin: &str) -> Result<Vec<Rule>> {
    let blocks = match raw {
        None => return Ok(Vec::new()),
        Some(toml::Value::Array(a)) => a.as_slice(),
        Some(_) => bail!("{origin}: `rule` must be [[rule]] blocks"),
    };
    let mut out: Vec<Rule> = Vec::new();
    for (i, v) in blocks.iter().enumerate() {
        let r = rule(v).with_context(|| format!("{origin}: [[rule]] block {}", i + 1))?;
        if let Some(j) = out.iter().position(|o| o.name == r.name) {
            bail!(
                "{origin}: [[rule]] block {}: name {:?} already used by block {}",
                i + 1,
                r.name,
                j + 1
            );
        }
        out.push(r);
    }
    Ok(out)
}

fn rule(v: &toml::Value) -> Result<Rule> {
    let raw: RawRule = v.clone().try_into().map_err(|e| anyhow!("{e}"))?;
    let name = raw.name.context("a rule needs a `name`")?;
    class_name(&name).map_err(|e| anyhow!("name {name:?}: {e}"))?;
    let ctx = |what: &str| format!("rule {name:?}: {what}");
    let when = raw.when.with_context(|| ctx("needs `when`"))?;
    expr::check(&when).map_err(|e| anyhow!("rule {name:?}: when {when:?}: {e}"))?;
    let report = raw
        .report
        .as_deref()
        .map(Template::parse)
        .transpose()
        .with_context(|| ctx("report"))?;
    let severity = match raw.severity.as_deref() {
        None => Severity::Warning,
        Some(s) => Severity::from_name(s).with_context(|| {
            ctx(&format!(
                "severity {s:?}: expected emerg, alert, crit, err, warning, notice, info or debug"
            ))
        })?,
    };
    let every = raw
        .every
        .as_ref()
        .map(duration::from_toml)
        .transpose()
        .with_context(|| ctx("every"))?;
    let set_state = raw
        .set_state
        .map(|s| -> Result<SetState> {
            class_name(&s.name).map_err(|e| anyhow!("name {:?}: {e}", s.name))?;
            let ttl = duration::from_toml(&s.ttl).context("ttl")?;
            let policy = match s.policy.as_deref() {
                None | Some("preserve") => Policy::Preserve,
                Some("reset") => Policy::Reset,
                Some(p) => bail!("policy {p:?}: expected preserve or reset"),
            };
            Ok(SetState {
                name: s.name,
                ttl,
                policy,
            })
        })
        .transpose()
        .with_context(|| ctx("set_state"))?;
    for s in &raw.unset_state {
        class_name(s).map_err(|e| anyhow!("rule {name:?}: unset_state {s:?}: {e}"))?;
    }
    let run = raw
        .run
        .iter()
        .map(|w| Template::parse(w))
        .collect::<Result<Vec<_>>>()
        .with_context(|| ctx("run"))?;
    if let Some(Piece::Text(prog)) = run.first().and_then(|t| t.0.first()) {
        if !prog.starts_with('/') {
            bail!("rule {name:?}: run: the program {prog:?} must be an absolute path (no shell, no PATH search)");
        }
    }
    let run_timeout = raw
        .run_timeout
        .as_ref()
        .map(duration::from_toml)
        .transpose()
        .with_context(|| ctx("run_timeout"))?
        .unwrap_or(RUN_TIMEOUT);
    if report.is_none() && set_state.is_none() && raw.unset_state.is_empty() && run.is_empty() {
        bail!(
            "rule {name:?} does nothing: give it a `report`, `set_state`, `unset_state` or `run`"
        );
    }
    Ok(Rule {
        name,
        when,
        report,
        severity,
        every,
        set_state,
        unset_state: raw.unset_state,
        run,
        run_timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Rule>> {
        let v: toml::Table = toml::from_str(text).unwrap();
        rules(v.get("rule"), "cfg")
    }

    #[test]
    fn a_full_rule() {
        let r = parse(
            r#"
[[rule]]
name = "low_entropy_flood"
when = "entropy_www_in_low.www_in_high_anomaly"
report = "LOW ENTROPY: $(mon.value_www_in) (normal $(mon.av_www_in) ± $(mon.dev_www_in)) on $(sys.host)"
severity = "crit"
every = "15m"
set_state = { name = "incident", ttl = "60m", policy = "reset" }
unset_state = ["calm"]
run = ["/usr/local/bin/notify", "$(rule.name)", "by $(this.promiser)"]
run_timeout = "1s"
"#,
        )
        .unwrap();
        let r = &r[0];
        assert_eq!(r.severity, Severity::Critical);
        assert_eq!(r.every, Some(Duration::from_secs(900)));
        assert_eq!(
            r.set_state,
            Some(SetState {
                name: "incident".into(),
                ttl: Duration::from_secs(3600),
                policy: Policy::Reset
            })
        );
        assert_eq!(r.run_timeout, Duration::from_secs(1));
        let text = r.report.as_ref().unwrap().expand(|v| format!("<{v:?}>"));
        assert_eq!(
            text,
            "LOW ENTROPY: <MonValue(\"www_in\")> (normal <MonAv(\"www_in\")> ± <MonDev(\"www_in\")>) on <Host>"
        );
        assert_eq!(
            r.run[2].0,
            [Piece::Text("by ".into()), Piece::Var(Var::Promiser)]
        );
    }

    #[test]
    fn defaults() {
        let r = parse("[[rule]]\nname = \"a\"\nwhen = \"any\"\nreport = \"x\"\n").unwrap();
        assert_eq!(r[0].severity, Severity::Warning);
        assert_eq!(r[0].every, None);
        assert_eq!(r[0].run_timeout, RUN_TIMEOUT);
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn bad_rules_say_why() {
        for (bad, what) in [
            ("name = \"r\"\nwhen = \"a.(b\"\nreport = \"x\"", "column 3"),
            ("name = \"r\"\nwhen = \"a\"\nreport = \"$(mon.foo)\"", "rule \"r\""),
            ("name = \"r\"\nwhen = \"a\"\nreport = \"$(mon.foo)\"", "$(mon.foo)"),
            ("name = \"r\"\nwhen = \"a\"\nreport = \"$(sys.host\"", "without its `)`"),
            ("name = \"r\"\nwhen = \"a\"\nrun = [\"/x\", \"$(env.PATH)\"]", "$(env.PATH)"),
            ("name = \"r\"\nwhen = \"a\"\nrun = [\"notify\"]", "absolute"),
            ("name = \"r\"\nwhen = \"a\"\nreport = \"x\"\nseverity = \"loud\"", "severity"),
            ("name = \"r\"\nwhen = \"a\"\nreport = \"x\"\nevery = \"10\"", "every"),
            ("name = \"r\"\nwhen = \"a\"\nset_state = { name = \"s\", ttl = \"1m\", policy = \"keep\" }", "policy"),
            ("name = \"r\"\nwhen = \"a\"\nset_state = { name = \"a b\", ttl = \"1m\" }", "set_state"),
            ("name = \"r\"\nwhen = \"a\"", "does nothing"),
            ("name = \"r\"\nreport = \"x\"", "needs `when`"),
            ("when = \"a\"\nreport = \"x\"", "needs a `name`"),
            ("name = \"r-1\"\nwhen = \"a\"\nreport = \"x\"", "name"),
            ("name = \"r\"\nwhen = \"a\"\nreport = \"x\"\nbogus = 1", "bogus"),
        ] {
            let e = format!("{:#}", parse(&format!("[[rule]]\n{bad}\n")).unwrap_err());
            assert!(e.contains("[[rule]] block 1"), "{bad}: {e}");
            assert!(e.contains(what), "{bad}: {e}");
        }
        let e = format!(
            "{:#}",
            parse("[[rule]]\nname = \"r\"\nwhen = \"a\"\nreport = \"x\"\n[[rule]]\nname = \"r\"\nwhen = \"a\"\nreport = \"x\"\n")
                .unwrap_err()
        );
        assert!(e.contains("already used by block 1"), "{e}");
    }
}
