//! SHA-256 throughput of every multi-message kernel this CPU runs (sixteen AVX-512 lanes,
//! eight AVX2 lanes, two SHA-NI messages interleaved) against one message at a time with
//! sha2 (SHA-NI where present, else its portable code), on 64 KiB per message, the size a
//! hashing worker reads at a time. Every kernel hashes the same bytes: sixteen messages.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use homeostat_core::digest::lanes::Sha256Lanes;
use homeostat_core::digest::sha256x16::Sha256x16;
use homeostat_core::digest::sha256x2::Sha256x2;
use homeostat_core::digest::sha256x8::Sha256x8;
use homeostat_core::digest::{Algorithm, Hasher};

const MESSAGES: usize = 16;
const PER_LANE: usize = 64 * 1024;

fn bench(c: &mut Criterion) {
    let data: Vec<Vec<u8>> = (0..MESSAGES)
        .map(|l| (0..PER_LANE).map(|i| (i * 31 + l * 7) as u8).collect())
        .collect();
    let mut g = c.benchmark_group("sha256");
    g.throughput(Throughput::Bytes((MESSAGES * PER_LANE) as u64));
    g.bench_function("one_at_a_time", |b| {
        b.iter(|| {
            for d in &data {
                let mut h = Hasher::new(Algorithm::Sha256);
                h.update(d);
                std::hint::black_box(h.finalize());
            }
        })
    });
    let kernels: [(&str, Option<Box<dyn Sha256Lanes>>); 3] = [
        ("avx512x16", Sha256x16::new().map(|x| Box::new(x) as _)),
        ("shanix2", Sha256x2::new().map(|x| Box::new(x) as _)),
        ("avx2x8", Sha256x8::new().map(|x| Box::new(x) as _)),
    ];
    for (name, x) in kernels {
        let Some(mut x) = x else {
            eprintln!("{name}: this CPU cannot run it, not measured");
            continue;
        };
        let n = x.lanes();
        g.bench_function(name, |b| {
            b.iter(|| {
                for group in data.chunks(n) {
                    let input: Vec<&[u8]> = group.iter().map(|d| &d[..]).collect();
                    x.compress(&input, PER_LANE / 64);
                    std::hint::black_box(x.digest(0));
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
