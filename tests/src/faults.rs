//! The kit of the fault loops (`tests/fault_loops*.rs`): a seeded xorshift so that every
//! run can be repeated from the seed it prints, the number of faults per loop from
//! `HOMEOSTAT_FAULT_RUNS`, SIGKILL after a delay or while the victim is blocked writing
//! to a pipe, the temporary files a killed writer leaves, and the tally each loop prints.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// xorshift64*: small, fast, and the same sequence on every machine for a seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // Zero is xorshift's one fixed point; any other value works.
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (`n > 0`; the modulo bias is irrelevant at test sizes).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// How many faults each loop injects: `HOMEOSTAT_FAULT_RUNS`, else `default` (small, for
/// `ci/test.sh`; `ci/soak.sh` sets hundreds).
pub fn runs(default: usize) -> usize {
    match std::env::var("HOMEOSTAT_FAULT_RUNS") {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("HOMEOSTAT_FAULT_RUNS={v:?} is not a whole number")),
        Err(_) => default,
    }
}

/// The loop's generator: from `HOMEOSTAT_FAULT_SEED` when set (to repeat a run), else
/// from the clock; printed either way, mixed with the loop's name so that loops sharing
/// one seed still draw different sequences.
pub fn rng_for(name: &str) -> Rng {
    let seed = match std::env::var("HOMEOSTAT_FAULT_SEED") {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("HOMEOSTAT_FAULT_SEED={v:?} is not a whole number")),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    };
    eprintln!("fault loop {name}: seed {seed} (HOMEOSTAT_FAULT_SEED={seed} repeats the draws)");
    // FNV-1a of the name.
    let mix = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    Rng::new(seed ^ mix)
}

/// What one loop did, printed as one line at its end (the figures the reliability
/// document quotes).
pub struct Tally {
    name: String,
    start: Instant,
    /// SIGKILLs sent.
    pub faults: usize,
    /// Of those, how many found the victim still running.
    pub running: usize,
    /// Items of data the loop's invariant calls lost (every loop asserts this stays 0).
    pub lost: usize,
    /// Further counts, named.
    pub notes: Vec<(String, usize)>,
}

impl Tally {
    pub fn new(name: &str) -> Tally {
        Tally {
            name: name.to_owned(),
            start: Instant::now(),
            faults: 0,
            running: 0,
            lost: 0,
            notes: Vec::new(),
        }
    }

    /// Records one SIGKILL.
    pub fn fault(&mut self, was_running: bool) {
        self.faults += 1;
        self.running += usize::from(was_running);
    }

    /// Adds `n` to the count called `what`.
    pub fn note(&mut self, what: &str, n: usize) {
        match self.notes.iter_mut().find(|(w, _)| w == what) {
            Some((_, c)) => *c += n,
            None => self.notes.push((what.to_owned(), n)),
        }
    }

    pub fn get(&self, what: &str) -> usize {
        self.notes
            .iter()
            .find(|(w, _)| w == what)
            .map_or(0, |(_, c)| *c)
    }

    /// Prints the line; asserts that nothing was lost and that some kills landed while
    /// the victim ran (else the loop tested nothing).
    pub fn finish(&self) {
        let notes: Vec<String> = self.notes.iter().map(|(w, c)| format!("{w} {c}")).collect();
        let line = format!(
            "fault loop {}: {} faults injected ({} while running), data lost {}{}{}, {:.1} s",
            self.name,
            self.faults,
            self.running,
            self.lost,
            if notes.is_empty() { "" } else { "; " },
            notes.join(", "),
            self.start.elapsed().as_secs_f64()
        );
        // stderr for `cargo test -- --nocapture`, and a file ci/soak.sh collects.
        eprintln!("{line}");
        if let Some(f) = std::env::var_os("HOMEOSTAT_FAULT_REPORT") {
            let mut out = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&f)
                .unwrap_or_else(|e| panic!("HOMEOSTAT_FAULT_REPORT {f:?}: {e}"));
            writeln!(out, "{line}").unwrap();
        }
        assert_eq!(self.lost, 0, "{line}");
        assert!(
            self.running >= 1 || self.faults == 0,
            "test precondition: no kill found the victim running: {line}"
        );
    }
}

/// Has the child exited (left a zombie)? Does not reap it.
#[allow(unsafe_code)] // one libc call, with its SAFETY note
pub fn exited(child: &Child) -> bool {
    // SAFETY: a zeroed siginfo_t is a valid out-parameter; WNOWAIT leaves the child alone.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(
            libc::P_PID,
            child.id() as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        assert_eq!(r, 0, "waitid: {}", std::io::Error::last_os_error());
        info.si_pid() != 0
    }
}

/// SIGKILLs the child and reaps it; returns whether it was still running.
pub fn kill_now(child: &mut Child) -> bool {
    let running = !exited(child);
    child.kill().expect("SIGKILL");
    child.wait().expect("reap the killed child");
    running
}

/// Sleeps `delay`, then [`kill_now`]. Where the kill lands is up to the scheduler; the
/// loops' assertions hold wherever it lands.
pub fn kill_after(child: &mut Child, delay: Duration) -> bool {
    std::thread::sleep(delay);
    kill_now(child)
}

/// `total × frac`, `frac` drawn in `[lo, hi)`.
pub fn delay_in(rng: &mut Rng, total: Duration, lo: f64, hi: f64) -> Duration {
    total.mul_f64(lo + (hi - lo) * rng.unit())
}

/// Temporary files a blob writer leaves in `dir` when killed: `NAME.tmp.PID` (the state
/// directory's writer and the pin writer), sorted.
pub fn temp_files(dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp."))
        .collect();
    v.sort();
    v
}

/// The temporaries of [`temp_files`] whose writer is dead: those a later write must clear.
///
/// A writer clears `NAME.tmp.PID` only when no process PID exists; with pid_max at 32768 a
/// busy machine can hand a killed writer's pid to another process before the next write,
/// and that file then stays until its new owner exits. Such a file is not counted here
/// (its pid is alive at the time of the check), so that the loops stay deterministic.
pub fn stale_temps(dir: &Path) -> Vec<String> {
    temp_files(dir)
        .into_iter()
        .filter(|n| {
            let pid = n.rsplit(".tmp.").next().and_then(|p| p.parse::<u32>().ok());
            !pid.is_some_and(pid_alive)
        })
        .collect()
}

#[allow(unsafe_code)] // one libc call, with its SAFETY note
fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists; no memory is passed.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Asserts that no blob has more than one stale temporary in `dir`: each writer clears
/// the ones dead writers left before making its own, so one killed writer's file at most
/// survives until the next write. Returns how many there are.
pub fn at_most_one_temp_each(dir: &Path, what: &str) -> usize {
    let temps = stale_temps(dir);
    let mut names: Vec<&str> = temps
        .iter()
        .map(|t| t.split(".tmp.").next().unwrap())
        .collect();
    names.dedup();
    assert_eq!(
        names.len(),
        temps.len(),
        "{what}: stale temporary files accumulate in {}: {temps:?}",
        dir.display()
    );
    temps.len()
}

/// The prefix of `bytes` made of complete lines.
pub fn complete_len(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
}

/// The complete, non-empty lines of `bytes` (a half-written last line counts for
/// nothing).
pub fn complete_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes[..complete_len(bytes)]
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
}

/// The JSON objects of the complete lines of a killed run's stdout.
pub fn complete_json(bytes: &[u8], what: &str) -> Vec<serde_json::Value> {
    complete_lines(bytes)
        .map(|l| {
            serde_json::from_slice(l).unwrap_or_else(|e| {
                panic!(
                    "{what}: a complete stdout line is not JSON ({e}): {:?}",
                    String::from_utf8_lossy(l)
                )
            })
        })
        .collect()
}

/// `/proc/PID/task/*/syscall`: is a thread of `pid` blocked in `write(1, …)`? `None`
/// when this kernel does not say.
pub fn blocked_writing_stdout(pid: u32) -> Option<bool> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let write_nr = libc::SYS_write.to_string();
    let mut any = false;
    for t in tasks.flatten() {
        let Ok(sc) = std::fs::read_to_string(t.path().join("syscall")) else {
            continue;
        };
        any = true;
        let mut f = sc.split_whitespace();
        if f.next() == Some(write_nr.as_str()) && f.next() == Some("0x1") {
            return Some(true);
        }
    }
    any.then_some(false)
}

/// A pipe for a victim's stdout with only `room` bytes free: the victim writes that much
/// and then blocks, so a kill lands before whatever it does after its report.
pub struct TightPipe {
    pub reader: std::io::PipeReader,
    /// Bytes the test put in first (newlines, which no line parser counts).
    pub filler: usize,
}

impl TightPipe {
    /// The pipe and the writer end to hand to the victim as stdout.
    pub fn new(room: usize) -> (TightPipe, std::io::PipeWriter) {
        let (reader, mut writer) = std::io::pipe().expect("pipe");
        let cap = pipe_capacity(&writer);
        let filler = cap.saturating_sub(room);
        writer.write_all(&vec![b'\n'; filler]).expect("fill pipe");
        (TightPipe { reader, filler }, writer)
    }

    /// Waits (at most `limit`) until the victim blocks writing stdout or exits; says which.
    pub fn wait_blocked(&self, child: &Child, limit: Duration) -> &'static str {
        let end = Instant::now() + limit;
        loop {
            if exited(child) {
                return "exited";
            }
            match blocked_writing_stdout(child.id()) {
                Some(true) => return "blocked writing stdout",
                Some(false) => {}
                None => {
                    if pipe_fill(&self.reader) >= pipe_capacity(&self.reader) {
                        return "pipe full";
                    }
                }
            }
            assert!(
                Instant::now() < end,
                "the victim neither blocked nor exited within {limit:?}"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Everything the victim wrote (after the filler), once it is dead.
    pub fn drain(mut self) -> Vec<u8> {
        let mut all = Vec::new();
        std::io::Read::read_to_end(&mut self.reader, &mut all).expect("read pipe");
        all.split_off(self.filler.min(all.len()))
    }
}

#[allow(unsafe_code)] // one libc call, with its SAFETY note
fn pipe_capacity(fd: &impl AsRawFd) -> usize {
    // SAFETY: F_GETPIPE_SZ takes no argument and only reads the descriptor's pipe.
    let cap = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETPIPE_SZ) };
    assert!(cap > 0, "F_GETPIPE_SZ: {}", std::io::Error::last_os_error());
    cap as usize
}

#[allow(unsafe_code)] // one libc call, with its SAFETY note
fn pipe_fill(fd: &impl AsRawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int into `n`.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    assert_eq!(r, 0, "FIONREAD: {}", std::io::Error::last_os_error());
    n as usize
}

/// Copies the regular files of `from` into `to` (created), for a test's saved state.
pub fn copy_files(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Did the writer `pid` leave a temporary in `dir` (was it killed inside a write)?
pub fn left_temp(dir: &Path, pid: u32) -> bool {
    let own = format!(".tmp.{pid}");
    temp_files(dir).iter().any(|t| t.ends_with(&own))
}
