//! One round of 20 process promises over 300 processes (synthetic table, real regexes):
//! the issue's target is under 2 ms of CPU.

use criterion::{criterion_group, criterion_main, Criterion};
use homeostat_core::procs::{count, Matcher, Owner, ProcessInfo, Range, Select};
use regex_automata::meta::Regex;
use std::hint::black_box;

struct Re(Regex);

impl Matcher for Re {
    fn is_match(&self, text: &str) -> bool {
        self.0.is_match(text)
    }
}

fn table(commands: &[String]) -> Vec<ProcessInfo<'_>> {
    const OWNERS: [(&str, u32); 5] = [
        ("root", 0),
        ("www-data", 33),
        ("nobody", 65534),
        ("alice", 1000),
        ("postgres", 110),
    ];
    const STATES: [&str; 4] = ["S", "R", "S", "I"];
    commands
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (owner, uid) = OWNERS[i % OWNERS.len()];
            ProcessInfo {
                pid: 100 + i as u32 * 7,
                ppid: if i % 3 == 0 {
                    1
                } else {
                    100 + (i as u32 / 3) * 7
                },
                pgid: 100 + (i as u32 / 4) * 7,
                uid,
                owner,
                command: c,
                vsize: 1000 + i as u64 * 977,
                rss: 100 + i as u64 * 131,
                ttime: i as u64 % 50,
                stime: 1_796_000_000 + i as u64 * 60,
                status: STATES[i % 4],
                tty: if i % 10 == 0 { "pts/0" } else { "?" },
                priority: (i as i64 % 40) - 20,
                threads: 1 + i as u64 % 16,
            }
        })
        .collect()
}

fn commands() -> Vec<String> {
    (0..300)
        .map(|i| match i % 6 {
            0 => format!("[kworker/{}:{}-events]", i % 4, i),
            1 => format!("/usr/sbin/apache2 -k start -DFOREGROUND --worker {i}"),
            2 => format!("python3 /srv/app/worker_{i}.py --queue jobs --concurrency 4"),
            3 => format!("sleep {i}"),
            4 => "/lib/systemd/systemd-journald".to_string(),
            _ => format!("postgres: {i} main: checkpointer"),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let cmds = commands();
    let procs = table(&cmds);
    let patterns = [
        "^sleep( |$)",
        "apache2",
        r"^python3 .*worker_\d+\.py",
        "^/usr/sbin/sshd",
        "postgres: .* (checkpointer|walwriter)",
        "nc -l",
        r"^\[kworker",
        "cryptominer|xmrig|kdevtmpfsi",
        "systemd-journald$",
        "--concurrency [0-9]+",
    ];
    let res: Vec<Re> = patterns
        .iter()
        .map(|p| Re(Regex::new(p).unwrap()))
        .collect();
    let status = Re(Regex::new("^(?:R|D)$").unwrap());
    let nobody = [Owner::Name("nobody")];
    let root = [Owner::Uid(0), Owner::Name("root")];
    let web = [Owner::Name("www-data"), Owner::Name("alice")];
    let owners: [&[Owner<'_>]; 3] = [&nobody, &root, &web];
    let selects: Vec<Select<'_, Re>> = (0..20)
        .map(|i| {
            let mut s = Select {
                command: Some(&res[i % res.len()]),
                owner: owners[i % 3],
                ..Select::default()
            };
            match i % 4 {
                1 => {
                    s.rss = Some(Range::new(0, 20_000));
                    s.result = Some("command.(owner|rss)");
                }
                2 => {
                    s.status = Some(&status);
                    s.threads = Some(Range::new(2, 8));
                    s.priority = Some(Range::new(-20, 0));
                }
                3 => {
                    s.result = Some("command.!owner");
                    s.ttime = Some(Range::new(10, 1000));
                }
                _ => {}
            }
            s
        })
        .collect();
    c.bench_function("procs/20 promises x 300 processes", |b| {
        b.iter(|| {
            let mut total = 0;
            for s in &selects {
                let r = count(s, Range::new(0, 0), black_box(&procs)).unwrap();
                total += r.count;
            }
            black_box(total)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
