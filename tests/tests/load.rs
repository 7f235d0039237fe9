#![cfg(target_os = "linux")]
//! Issue 20, load: "the daemon holds its sample interval with 5,000 processes and 50,000
//! sockets". The test starts 5,000 `sleep` processes and 25,000 loopback TCP connections
//! (50,000 sockets, both ends held by a few more `sleep`s that inherit them in batches), runs `homeostat run` at a
//! 3 s interval and checks that eight rounds take eight intervals (one of slip in all),
//! that the samples saw the load, and reports the CPU per round (from `/proc/PID/stat`)
//! and the wall time of one `scan` round under the same load. Everything is killed,
//! reaped and closed in `Drop`, also when the test fails.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use homeostat_tests::daemon::Daemon;
use homeostat_tests::fixture::Fixture;
use homeostat_tests::serde_json::Value;

const PROCESSES: usize = 5_000;
/// Connections: each is two sockets (the connecting and the accepted end).
const CONNECTIONS: usize = 25_000;
/// Loopback addresses the listeners are spread over (5,000 connections each), so no one
/// destination uses up the ephemeral ports.
const LISTENERS: u8 = 5;
const INTERVAL: u64 = 3;
const ROUNDS: usize = 8;

fn sleep() -> Child {
    Command::new("sleep")
        .arg("600")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sleep")
}

/// `sleep` processes, children of the test: killed and reaped when dropped.
struct Sleepers(Vec<Child>);

impl Sleepers {
    fn start(n: usize) -> Sleepers {
        Sleepers((0..n).map(|_| sleep()).collect())
    }
}

impl Drop for Sleepers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
        }
        for c in &mut self.0 {
            let _ = c.wait();
        }
    }
}

/// Established loopback connections, both ends, held by `sleep` processes that inherit
/// them in batches (one process may hold fewer descriptors than 50,000: RLIMIT_NOFILE's
/// hard limit, which only a privileged process raises). Closed with an RST (linger 0) as
/// the holders are killed, so no TIME_WAIT is left behind to hold ports.
struct Connections {
    _holders: Sleepers,
    _listeners: Vec<TcpListener>,
    port: u16,
    sockets: usize,
}

impl Connections {
    fn open(n: usize) -> Connections {
        let per_batch = nofile_room() / 2;
        let (listeners, port) = listeners();
        let mut holders = Sleepers(Vec::new());
        let mut sockets = 0;
        let mut batch = Vec::with_capacity(2 * per_batch);
        for i in 0..n {
            let l = &listeners[i % listeners.len()];
            let c = TcpStream::connect(l.local_addr().unwrap())
                .unwrap_or_else(|e| panic!("connection {i}: {e}"));
            let (a, _) = l.accept().unwrap();
            for s in [c, a] {
                homeostat_tests::socket2::SockRef::from(&s)
                    .set_linger(Some(Duration::ZERO))
                    .unwrap();
                // Inherited by the next holder (std opens every socket close-on-exec).
                rustix::io::fcntl_setfd(&s, rustix::io::FdFlags::empty()).unwrap();
                batch.push(s);
            }
            if batch.len() >= 2 * per_batch || i + 1 == n {
                holders.0.push(sleep());
                sockets += batch.len();
                // The holder has them now; this process's copies go.
                batch.clear();
            }
        }
        Connections {
            _holders: holders,
            _listeners: listeners,
            port,
            sockets,
        }
    }
}

/// One listener on each of 127.0.0.2.., all on one port (the service the daemon counts).
fn listeners() -> (Vec<TcpListener>, u16) {
    for _ in 0..20 {
        let first = TcpListener::bind((Ipv4Addr::new(127, 0, 0, 2), 0)).unwrap();
        let port = first.local_addr().unwrap().port();
        let mut all = vec![first];
        for k in 1..LISTENERS {
            let at = SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2 + k), port));
            match TcpListener::bind(at) {
                Ok(l) => all.push(l),
                Err(_) => break,
            }
        }
        if all.len() == usize::from(LISTENERS) {
            return (all, port);
        }
    }
    panic!("no port free on all of 127.0.0.2..{}", 1 + LISTENERS);
}

/// Descriptors this process may open for a batch of sockets: the soft RLIMIT_NOFILE
/// raised to the hard one (no privilege needed), less room for everything else.
fn nofile_room() -> usize {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let have = getrlimit(Resource::Nofile);
    if have.current != have.maximum {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: have.maximum,
                maximum: have.maximum,
            },
        )
        .unwrap_or_else(|e| panic!("cannot raise RLIMIT_NOFILE to its hard limit {have:?}: {e}"));
    }
    let limit = getrlimit(Resource::Nofile).current.unwrap_or(1 << 20);
    let room = usize::try_from(limit).unwrap_or(usize::MAX).min(40_000) - 256;
    assert!(
        room >= 512,
        "RLIMIT_NOFILE {limit} leaves no room for sockets"
    );
    room
}

/// utime + stime of `pid`, in clock ticks (`/proc/PID/stat` fields 14 and 15).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name may hold spaces: count fields after its closing parenthesis.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// The clock ticks per second of `/proc/PID/stat` (USER_HZ, 100 on Linux).
const TICKS: f64 = 100.0;

fn rounds(lines: &[Value]) -> usize {
    lines.iter().filter(|v| v["type"] == "classes").count()
}

/// The last `sample` value of `name`.
fn value(lines: &[Value], name: &str) -> f64 {
    lines
        .iter()
        .rev()
        .find(|v| v["type"] == "sample" && v["observable"] == name)
        .and_then(|v| v["value"].as_f64())
        .unwrap_or_else(|| panic!("no sample of {name}"))
}

#[test]
fn the_daemon_holds_its_interval_with_5000_processes_and_50000_sockets() {
    let t = Instant::now();
    let sleepers = Sleepers::start(PROCESSES);
    let conns = Connections::open(CONNECTIONS);
    let setup = t.elapsed();
    assert_eq!(conns.sockets, 2 * CONNECTIONS);

    let fx = Fixture::bare();
    std::fs::write(
        &fx.config,
        format!(
            "[monitor]\ninterval = \"{INTERVAL}s\"\nservices = {{ load = {} }}\n",
            conns.port
        ),
    )
    .unwrap();

    // One round as `scan`: a sample's wall time under this load (process start and the
    // state's load and save included).
    let mut scans = Vec::new();
    for _ in 0..2 {
        let t = Instant::now();
        fx.run(&["--json", "scan"]).expect_code(0);
        scans.push(t.elapsed());
    }

    let d = Daemon::start(&fx);
    let limit = Duration::from_secs(120);
    d.wait("two rounds", limit, |l| rounds(l) >= 2);
    let (t0, n0, cpu0) = (Instant::now(), rounds(&d.lines()), cpu_ticks(d.pid()));
    d.wait("eight more rounds", limit, |l| rounds(l) >= n0 + ROUNDS);
    let (took, cpu1) = (t0.elapsed(), cpu_ticks(d.pid()));
    let n = rounds(&d.lines()) - n0;
    let lines = d.lines();
    d.stop();

    let procs = value(&lines, "rootprocs") + value(&lines, "otherprocs");
    let (load_in, load_out) = (value(&lines, "load_in"), value(&lines, "load_out"));
    let cpu = (cpu1 - cpu0) as f64 / TICKS / n as f64;
    eprintln!(
        "load: {PROCESSES} sleepers and {} sockets set up in {setup:?}; the samples saw \
         {procs} processes, load_in {load_in}, load_out {load_out}; {n} rounds at {INTERVAL} s \
         took {took:?}; CPU per round {cpu:.3} s; scan (one round) {scans:?}",
        conns.sockets
    );
    assert!(procs >= PROCESSES as f64, "{procs}");
    assert!(load_in >= CONNECTIONS as f64, "{load_in}");
    assert!(load_out >= CONNECTIONS as f64, "{load_out}");
    // On time: n rounds in n intervals, with one interval of slip in all for a busy
    // machine (a round late by more than the interval shows as a whole interval lost).
    let budget = Duration::from_secs(INTERVAL * (n as u64 + 1));
    assert!(
        took <= budget,
        "{n} rounds took {took:?} (budget {budget:?})"
    );
    assert!(
        cpu < INTERVAL as f64 / 2.0,
        "a round costs {cpu:.3} s of CPU: more than half the interval"
    );
    drop(conns);
    drop(sleepers);
}
