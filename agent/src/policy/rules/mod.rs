//! The rules step of a round, after every other finding: each `[[rule]]` in config order,
//! its `when` against the round's classes, the persistent states alive and the hard
//! classes; a rule that holds (and is not held back by `every`) raises its alert, sets and
//! unsets its states (seen by the rules after it) and runs its command.
//!
//! Also here: the round's file classes and monitor values, captured from the events as
//! they pass ([`Capture`]), and the promise hook for `$(this.promiser)` ([`Promisers`]).

pub mod hard;
pub mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use homeostat_core::classes::{canonify, expr};
use homeostat_core::event::{Alert, Change, Event};
use homeostat_core::feed::Sink;

use crate::config::rule::{Rule, Var};
use crate::output::Output;
use crate::platform::command;
use crate::platform::StateDir;

pub use state::RulesState;

/// What the rules see of the round besides its classes: the file classes and each
/// observable's value, weekly average and deviation (from the events that passed).
#[derive(Debug, Default)]
pub struct Facts {
    /// `<handle>_added`, `_removed`, `_changed`, `setuid_new`.
    pub classes: BTreeSet<String>,
    /// Observable → (value, weekly average, weekly standard deviation).
    pub mon: BTreeMap<String, (f32, f32, f32)>,
}

/// A sink that records the [`Facts`] of the events it sees; the round reads them back
/// after its steps.
#[derive(Clone, Debug, Default)]
pub struct Capture(pub Arc<Mutex<Facts>>);

impl Capture {
    /// What was captured so far, taken out.
    pub fn take(&self) -> Facts {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The class of a file finding in the tree `handle`: `files_etc_changed`.
pub fn file_class(handle: &str, change: Change) -> Option<String> {
    let what = match change {
        Change::Added => "added",
        Change::Removed => "removed",
        Change::Changed => "changed",
    };
    canonify(&format!("{handle}_{what}"))
        .ok()
        .map(|c| c.as_str().to_string())
}

impl Sink for Capture {
    type Error = io::Error;

    fn event(&mut self, e: &Event<'_>) -> io::Result<()> {
        let mut f = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match e {
            // What `[packages] accept` took is no alert: it raises no class either.
            Event::File(c) if c.accepted => {}
            Event::File(c) => {
                if let Some(class) = file_class(c.handle, c.change) {
                    f.classes.insert(class);
                }
            }
            // Set-user-id and set-group-id alike: CFEngine's call-out covers both.
            Event::SetId(_) => {
                f.classes.insert("setuid_new".to_string());
            }
            Event::Sample(s) => {
                let o = s.outcome;
                f.mon
                    .insert(s.name.to_string(), (o.value, o.expect, o.stddev));
            }
            _ => {}
        }
        Ok(())
    }

    fn commit(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Which promise raised which class, in config order: `(class, promise name)`. The
/// process and port producers push to it; `$(this.promiser)` reads it.
#[derive(Clone, Debug, Default)]
pub struct Promisers(pub Vec<(String, String)>);

impl Promisers {
    /// The name of the first promise (in config order) whose class `when` names; empty
    /// when none does.
    pub fn promiser(&self, when: &str) -> &str {
        let mut named = Vec::new();
        // The evaluator reads every name of the expression, both sides of each operator.
        let _ = expr::eval(when, |n| {
            named.push(n.to_string());
            false
        });
        self.0
            .iter()
            .find(|(class, _)| named.iter().any(|n| n == class))
            .map_or("", |(_, p)| p.as_str())
    }
}

/// The round's context for the rules.
pub struct Round<'a> {
    pub rules: &'a [Rule],
    pub store: StateDir,
    pub host: &'a str,
    pub now: i64,
    pub facts: &'a Facts,
    pub promisers: &'a Promisers,
}

/// Runs the rules; `raised` gains the states alive (and set) and loses those unset. A
/// failed `run` is a warning; only writing the report or the state is an error.
pub fn step(r: Round<'_>, raised: &mut BTreeSet<String>, out: &mut Output) -> Result<(), String> {
    let mut store = r.store;
    let mut st = match RulesState::load(&mut store) {
        Ok(s) => s,
        Err(e) => {
            let _ = out.warning(
                store.path(state::FILE).as_os_str().as_encoded_bytes(),
                &format!("damaged rules state set aside, starting afresh: {e}"),
            );
            RulesState::default()
        }
    };
    st.states.expire(r.now);
    raised.extend(st.states.alive(r.now).map(|p| p.name.as_str().to_string()));
    let hard = hard::Hard::at(r.host, r.now);
    for rule in r.rules {
        let holds = expr::eval(&rule.when, |n| raised.contains(n) || hard.has(n))
            // Checked at load; never false for a syntax error here.
            .unwrap_or(false);
        if !holds {
            continue;
        }
        if let (Some(every), Some(last)) = (rule.every, st.last_fired.get(&rule.name)) {
            let every = i64::try_from(every.as_secs()).unwrap_or(i64::MAX);
            if r.now < last.saturating_add(every) {
                continue;
            }
        }
        st.last_fired.insert(rule.name.clone(), r.now);
        let promiser = r.promisers.promiser(&rule.when);
        let value = |v: &Var| -> String {
            let mon = |x: &str, pick: fn(&(f32, f32, f32)) -> f32| {
                r.facts
                    .mon
                    .get(x)
                    .map_or_else(String::new, |t| format!("{}", pick(t)))
            };
            match v {
                Var::MonValue(x) => mon(x, |t| t.0),
                Var::MonAv(x) => mon(x, |t| t.1),
                Var::MonDev(x) => mon(x, |t| t.2),
                Var::Host => r.host.to_string(),
                Var::RuleName => rule.name.clone(),
                Var::Promiser => promiser.to_string(),
            }
        };
        if let Some(report) = &rule.report {
            let message = report.expand(value);
            out.emit(&Event::Alert(Alert {
                t: r.now,
                rule: &rule.name,
                severity: rule.severity,
                message: &message,
            }))
            .map_err(|e| format!("cannot write report: {e}"))?;
        }
        if let Some(s) = &rule.set_state {
            let ttl = u32::try_from(s.ttl.as_secs()).unwrap_or(u32::MAX);
            match st.states.set_state(&s.name, r.now, ttl, s.policy) {
                Ok(()) => {
                    raised.insert(s.name.clone());
                }
                Err(e) => {
                    let _ =
                        out.warning(rule.name.as_bytes(), &format!("set_state {}: {e}", s.name));
                }
            }
        }
        for name in &rule.unset_state {
            st.states.unset_state(name);
            raised.remove(name);
        }
        if !rule.run.is_empty() {
            let argv: Vec<String> = rule.run.iter().map(|w| w.expand(value)).collect();
            let said = match command::run(&argv, rule.run_timeout) {
                Ok(ran) if ran.status.success() => None,
                Ok(ran) => Some(format!("run {:?}: exited with {}", argv[0], ran.status)),
                Err(e) => Some(format!("run {:?}: {e}", argv[0])),
            };
            if let Some(m) = said {
                let _ = out.warning(rule.name.as_bytes(), &m);
            }
        }
    }
    st.last_t = r.now;
    st.last_classes = raised.iter().cloned().collect();
    st.save(&mut store).map_err(|e| {
        format!(
            "cannot save the rules state in {}: {e}",
            store.path(state::FILE).display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_promise_named_is_the_promiser() {
        let p = Promisers(vec![
            ("rogue_sleep_out_of_range".into(), "rogue_sleep".into()),
            ("ssh_up_violated".into(), "ssh_up".into()),
            ("other_out_of_range".into(), "other".into()),
        ]);
        assert_eq!(
            p.promiser("ssh_up_violated|rogue_sleep_out_of_range"),
            "rogue_sleep"
        );
        assert_eq!(p.promiser("any.!(x|ssh_up_violated)"), "ssh_up");
        assert_eq!(p.promiser("other_out_of_range"), "other");
        // A name that merely contains a class is not it.
        assert_eq!(p.promiser("ssh_up_violated_not"), "");
        assert_eq!(p.promiser("any"), "");
        assert_eq!(Promisers::default().promiser("ssh_up_violated"), "");
    }

    #[test]
    fn capture_records_file_classes() {
        use homeostat_core::event::{FileChange, SetId};
        use homeostat_core::fim::Attrs;
        let cap = Capture::default();
        let mut sink = cap.clone();
        let change = |c| {
            Event::File(FileChange {
                change: c,
                path: b"/etc/passwd",
                diff: Attrs::default(),
                watched: Attrs::default(),
                old: None,
                new: None,
                handle: "files_etc",
                package: None,
                accepted: false,
                via: Default::default(),
            })
        };
        sink.event(&change(Change::Changed)).unwrap();
        sink.event(&change(Change::Added)).unwrap();
        if let Event::File(mut upgrade) = change(Change::Removed) {
            upgrade.accepted = true;
            sink.event(&Event::File(upgrade)).unwrap();
        }
        sink.event(&Event::SetId(SetId {
            t: 0,
            path: b"/usr/bin/x",
            setuid: false,
            mode: 0o2755,
            uid: 0,
        }))
        .unwrap();
        let f = cap.take();
        let got: Vec<&str> = f.classes.iter().map(String::as_str).collect();
        assert_eq!(got, ["files_etc_added", "files_etc_changed", "setuid_new"]);
        assert!(cap.take().classes.is_empty());
    }

    #[test]
    fn file_classes_name_the_tree() {
        assert_eq!(
            file_class("files_etc", Change::Changed).as_deref(),
            Some("files_etc_changed")
        );
        assert_eq!(
            file_class("files_usr-bin", Change::Added).as_deref(),
            Some("files_usr_bin_added")
        );
    }
}
