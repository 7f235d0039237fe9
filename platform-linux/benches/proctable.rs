//! Reading the live process table for process promises (`/proc/<pid>/{stat,status,cmdline}`
//! of every process, owners named once): the feed's share of a promise round.

use criterion::{criterion_group, criterion_main, Criterion};
use homeostat_linux::proctable::ProcTable;
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let t = ProcTable::new("/proc", "/etc/passwd");
    let n = t.read().map(|(r, _)| r.len()).unwrap_or(0);
    c.bench_function(&format!("proctable/read live /proc ({n} processes)"), |b| {
        b.iter(|| black_box(t.read().map(|(r, _)| r.len()).unwrap_or(0)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
