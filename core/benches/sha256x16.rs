//! SHA-256 throughput: sixteen messages in step (AVX-512) against one at a time (SHA-NI
//! where present), on 64 KiB per message, the size a hashing worker reads at a time.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use homeostat_core::digest::sha256x16::{Sha256x16, LANES};
use homeostat_core::digest::{Algorithm, Hasher};

const PER_LANE: usize = 64 * 1024;

fn bench(c: &mut Criterion) {
    let data: Vec<Vec<u8>> = (0..LANES)
        .map(|l| (0..PER_LANE).map(|i| (i * 31 + l * 7) as u8).collect())
        .collect();
    let mut g = c.benchmark_group("sha256");
    g.throughput(Throughput::Bytes((LANES * PER_LANE) as u64));
    g.bench_function("one_at_a_time", |b| {
        b.iter(|| {
            for d in &data {
                let mut h = Hasher::new(Algorithm::Sha256);
                h.update(d);
                std::hint::black_box(h.finalize());
            }
        })
    });
    if let Some(mut x) = Sha256x16::new() {
        let input: [&[u8]; LANES] = core::array::from_fn(|l| &data[l][..]);
        g.bench_function("sixteen_in_step", |b| {
            b.iter(|| {
                x.compress(&input, PER_LANE / 64);
                std::hint::black_box(x.digest(0));
            })
        });
    } else {
        eprintln!("no AVX-512F/BW on this CPU: sixteen_in_step not measured");
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
