//! The process promises' step of a round: one `process` event per `[[process]]` block and
//! its classes (`<name>_in_range` or `<name>_out_of_range`, plus `in_range_define` or
//! `out_of_range_define`), each class recorded with the promise that raised it (for
//! `$(this.promiser)`).

use homeostat_core::event::{Event, ProcessCount};
use homeostat_core::procs::{self, Counted, Owner, ProcessInfo, Select};

use crate::config::process::{OwnerSpec, ProcessPromise, Re};

/// A class a promise raised, and the promise's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Raised {
    /// The class.
    pub class: String,
    /// The `[[process]]` block's `name`.
    pub promiser: String,
}

/// The outcome of one promise this round.
#[derive(Clone, Debug)]
pub struct Outcome<'a> {
    /// The promise.
    pub promise: &'a ProcessPromise,
    /// What was counted.
    pub counted: Counted,
}

/// Evaluates every promise over `table` (pure: no I/O).
pub fn evaluate<'a>(promises: &'a [ProcessPromise], table: &[ProcessInfo<'_>]) -> Vec<Outcome<'a>> {
    promises
        .iter()
        .map(|p| {
            let owners: Vec<Owner<'_>> = p
                .owner
                .iter()
                .map(|o| match o {
                    OwnerSpec::Name(n) => Owner::Name(n),
                    OwnerSpec::Uid(u) => Owner::Uid(*u),
                })
                .collect();
            let select: Select<'_, Re> = Select {
                owner: &owners,
                command: p.command.as_ref(),
                pid: p.pid,
                ppid: p.ppid,
                pgid: p.pgid,
                vsize: p.vsize,
                rss: p.rss,
                ttime: p.ttime,
                stime: p.stime,
                status: p.status.as_ref(),
                tty: p.tty.as_ref(),
                priority: p.priority,
                threads: p.threads,
                result: p.select.as_deref(),
            };
            // `select` was checked at load, so counting cannot fail; a failure would count 0.
            let counted = procs::count(&select, p.count, table).unwrap_or(Counted {
                count: 0,
                range: p.count,
                in_range: p.count.contains(0),
                pids: procs::Pids::default(),
            });
            Outcome {
                promise: p,
                counted,
            }
        })
        .collect()
}

/// The classes of the outcomes, in promise order, each with its promiser.
pub fn classes(outcomes: &[Outcome<'_>]) -> Vec<Raised> {
    let mut out = Vec::new();
    for o in outcomes {
        let p = o.promise;
        let (own, extra) = if o.counted.in_range {
            ("in_range", &p.in_range_define)
        } else {
            ("out_of_range", &p.out_of_range_define)
        };
        for class in std::iter::once(format!("{}_{own}", p.name)).chain(extra.iter().cloned()) {
            out.push(Raised {
                class,
                promiser: p.name.clone(),
            });
        }
    }
    out
}

/// Reads the process table, emits one `process` event per promise (pids ascending, at
/// most 32) and returns the classes raised. Nothing to do without promises.
pub fn run(
    promises: &[ProcessPromise],
    out: &mut crate::output::Output,
) -> Result<Vec<Raised>, String> {
    if promises.is_empty() {
        return Ok(Vec::new());
    }
    let records = crate::platform::process_table()?;
    let table: Vec<ProcessInfo<'_>> = records.iter().map(|r| r.info()).collect();
    let outcomes = evaluate(promises, &table);
    let t = out.now();
    for o in &outcomes {
        out.emit(&Event::Process(ProcessCount {
            t,
            name: &o.promise.name,
            count: o.counted.count,
            range: (o.counted.range.lo, o.counted.range.hi),
            in_range: o.counted.in_range,
            pids: o.counted.pids.as_slice(),
        }))
        .map_err(|e| format!("cannot write report: {e}"))?;
    }
    Ok(classes(&outcomes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn outcomes_and_promisers_in_config_order() {
        let cfg = Config::parse(
            r#"
[[process]]
name = "rogue"
command = '^sleep( |$)'
owner = ["nobody"]
count = [0, 0]
out_of_range_define = ["page_me"]
[[process]]
name = "web"
command = "apache2"
select = "command.!owner"
owner = [0]
count = [1, 10]
in_range_define = ["web_ok"]
"#,
            "t.toml",
        )
        .unwrap();
        let base = ProcessInfo {
            status: "S",
            tty: "?",
            ..ProcessInfo::default()
        };
        let table = [
            ProcessInfo {
                pid: 7,
                uid: 65534,
                owner: "nobody",
                command: "sleep 300",
                ..base
            },
            ProcessInfo {
                pid: 3,
                uid: 0,
                owner: "root",
                command: "sleep 1",
                ..base
            },
            ProcessInfo {
                pid: 9,
                uid: 33,
                owner: "www-data",
                command: "/usr/sbin/apache2 -k",
                ..base
            },
            ProcessInfo {
                pid: 2,
                uid: 0,
                owner: "root",
                command: "/usr/sbin/apache2 -k",
                ..base
            },
        ];
        let o = evaluate(&cfg.processes, &table);
        assert_eq!((o[0].counted.count, o[0].counted.in_range), (1, false));
        assert_eq!(o[0].counted.pids.as_slice(), &[7]);
        assert_eq!((o[1].counted.count, o[1].counted.in_range), (1, true));
        assert_eq!(o[1].counted.pids.as_slice(), &[9]);
        assert_eq!(
            classes(&o),
            [
                ("rogue_out_of_range", "rogue"),
                ("page_me", "rogue"),
                ("web_in_range", "web"),
                ("web_ok", "web"),
            ]
            .map(|(c, p)| Raised {
                class: c.into(),
                promiser: p.into()
            })
        );
    }
}
