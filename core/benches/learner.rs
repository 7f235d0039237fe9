//! One sample of all 128 observables: table update, local averages, classification and
//! leap detection. Target: under 20 µs.

use criterion::{criterion_group, criterion_main, Criterion};
use homeostat_core::stats::{table, Learner, ObsId, Report, Sample, OBSERVABLES, SLOTS};

fn heap_table() -> Box<table::Table> {
    let rows = vec![[table::Pair::ZERO; OBSERVABLES]; SLOTS].into_boxed_slice();
    rows.try_into().unwrap_or_else(|_| unreachable!())
}

/// xorshift: reproducible noise without a dependency.
fn noise(state: &mut u32) -> f32 {
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    (*state % 1000) as f32 / 100.0
}

fn bench(c: &mut Criterion) {
    let mut table = heap_table();
    let mut learner = Learner::default();
    let (mut sample, mut report) = (Sample::new(), Report::new());
    let mut rng = 1u32;
    let mut t = 1_704_067_200i64;
    let fill = |sample: &mut Sample, rng: &mut u32| {
        for i in 0..OBSERVABLES {
            let id = ObsId::new(i).unwrap_or(ObsId::USERS);
            sample.set(id, 10.0 * (i % 7) as f32 + noise(rng));
        }
    };
    // Two weeks of history first, so the table is grown and the classes are real.
    for _ in 0..2 * 4032 {
        fill(&mut sample, &mut rng);
        learner.sample(&mut table, t, &sample, &mut report);
        t += 150;
    }
    c.bench_function("sample of 128 observables", |b| {
        b.iter(|| {
            fill(&mut sample, &mut rng);
            learner.sample(&mut table, t, std::hint::black_box(&sample), &mut report);
            t += 150;
            std::hint::black_box(&report);
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
