//! One full Linux monitor sample (without tcpdump) on this machine, and the
//! `/proc/net/tcp` parser on a generated 1000-socket file.
//!
//! The machine's process and socket counts are printed beside the figures, with the CPU
//! time of one sample (from `/proc/thread-self/schedstat`, so time spent waiting is not
//! counted). Target: a full sample under 5 ms of CPU.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use homeostat_core::stats::Registry;
use homeostat_linux::monitor::{net, Monitor, MonitorConfig};

/// A `/proc/net/tcp` file with `n` sockets: listeners, established connections and
/// TIME_WAIT, on a spread of addresses and ports.
fn generated_tcp(n: usize) -> String {
    let mut s = String::from(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n",
    );
    for i in 0..n {
        let local = 0x0200_00C0u32; // 192.0.2.2
        let remote = 0x0000_640Au32 | ((i as u32 & 0xffff) << 16); // 10.100.x.y
        let (lport, rport, st) = match i % 10 {
            0 => (22 + (i as u32 % 3), 0, 0x0A),
            1..=6 => (443, 32768 + (i as u32 % 28000), 0x01),
            _ => (32768 + (i as u32 % 28000), 80, 0x06),
        };
        let r = if rport == 0 { 0 } else { remote };
        s.push_str(&format!(
            "{i:4}: {local:08X}:{lport:04X} {r:08X}:{rport:04X} {st:02X} 00000000:00000000 00:00000000 00000000  1000        0 {} 1 0000000000000000 100 0 0 10 0\n",
            10000 + i
        ));
    }
    s
}

/// CPU time of this thread so far, in nanoseconds (Linux only).
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn full_sample(c: &mut Criterion) {
    let mut m = match Monitor::new(MonitorConfig::default()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("monitor: {e}");
            return;
        }
    };
    let mut reg = Registry::new();
    let s = m.sample(&mut reg);
    let mut sockets = 0;
    for f in ["tcp", "tcp6", "udp", "udp6"] {
        if let Ok(b) = std::fs::read(format!("/proc/net/{f}")) {
            let mut v = Vec::new();
            let _ = net::parse_proc_net(&b, &mut v);
            sockets += v.len();
        }
    }
    const N: u64 = 200;
    let cpu = thread_cpu_ns().and_then(|t0| {
        for _ in 0..N {
            black_box(m.sample(&mut reg));
        }
        Some((thread_cpu_ns()? - t0) / N)
    });
    eprintln!(
        "machine: {} processes, {} sockets, {} listening ports, {} values; CPU per sample: {}",
        s.processes.len(),
        sockets,
        s.listening.len(),
        s.values.len(),
        cpu.map_or("unknown".to_string(), |ns| format!(
            "{:.3} ms",
            ns as f64 / 1e6
        )),
    );
    c.bench_function("monitor_sample_full", |b| {
        b.iter(|| black_box(m.sample(&mut reg)))
    });
}

fn parse_tcp_1000(c: &mut Criterion) {
    let text = generated_tcp(1000);
    let mut g = c.benchmark_group("proc_net_tcp");
    g.throughput(Throughput::Elements(1000));
    {
        let mut out = Vec::with_capacity(1000);
        g.bench_function("parse_1000_sockets", |b| {
            b.iter(|| {
                out.clear();
                let e = net::parse_proc_net(black_box(text.as_bytes()), &mut out);
                assert!(e.is_empty() && out.len() == 1000);
            })
        });
        let mut sockets = Vec::new();
        let _ = net::parse_proc_net(text.as_bytes(), &mut sockets);
        let ports: Vec<u16> = homeostat_linux::monitor::SERVICES
            .iter()
            .map(|(_, p)| *p)
            .collect();
        g.bench_function("tally_1000_sockets_13_services", |b| {
            b.iter(|| black_box(net::tally(black_box(&sockets), &ports)))
        });
    }
    g.finish();
}

/// The reference machine: a `/proc` tree made up for the bench with 300
/// processes and 1000 TCP sockets (plus the system files), so the figure does not depend
/// on what this machine happens to run.
fn reference_sample(c: &mut Criterion) {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("tempdir: {e}");
            return;
        }
    };
    let root = dir.path();
    let write = |rel: &str, text: &str| {
        let p = root.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create fake /proc dir");
        }
        std::fs::write(p, text).expect("write fake /proc file");
    };
    for pid in 1..=300u32 {
        let uid = if pid % 3 == 0 { 0 } else { 1000 + pid % 7 };
        write(
            &format!("{pid}/status"),
            &format!("Name:\tproc{}\nState:\tS (sleeping)\nPid:\t{pid}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\nGid:\t{uid}\t{uid}\t{uid}\t{uid}\n", pid % 40),
        );
    }
    write("loadavg", "0.42 0.30 0.25 2/300 12345\n");
    write("net/tcp", &generated_tcp(1000));
    let empty = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
    write("net/tcp6", empty);
    write("net/udp", empty);
    write("net/udp6", empty);
    let config = MonitorConfig {
        proc_root: root.to_path_buf(),
        utmp: root.join("utmp-none"),
        ..MonitorConfig::default()
    };
    let mut m = match Monitor::new(config) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("monitor: {e}");
            return;
        }
    };
    let mut reg = Registry::new();
    let s = m.sample(&mut reg);
    const N: u64 = 100;
    let cpu = thread_cpu_ns().and_then(|t0| {
        for _ in 0..N {
            black_box(m.sample(&mut reg));
        }
        Some((thread_cpu_ns()? - t0) / N)
    });
    eprintln!(
        "reference /proc: {} processes, {} values; CPU per sample: {}",
        s.processes.len(),
        s.values.len(),
        cpu.map_or("unknown".to_string(), |ns| format!(
            "{:.3} ms",
            ns as f64 / 1e6
        )),
    );
    c.bench_function("monitor_sample_300_procs_1000_sockets", |b| {
        b.iter(|| black_box(m.sample(&mut reg)))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = full_sample, reference_sample, parse_tcp_1000
}
criterion_main!(benches);
