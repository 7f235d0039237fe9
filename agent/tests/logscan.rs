//! End-to-end log measurements: a log is written while it is rotated in every way, with
//! `homeostat scan` run (a separate process each time, so every scan is a restart) between
//! or during the steps; the counter values summed over all scans must equal the matching
//! lines written, exactly.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_homeostat");

struct Env {
    _dir: tempfile::TempDir,
    root: PathBuf,
    log: PathBuf,
    cfg: PathBuf,
    state: PathBuf,
}

/// What one scan printed.
#[derive(Debug, Default)]
struct Scan {
    code: i32,
    measurements: Vec<Value>,
    warnings: Vec<Value>,
    /// Text-mode warnings and errors (kept for failure messages).
    #[allow(dead_code)]
    stderr: String,
}

impl Scan {
    fn value(&self, name: &str) -> Option<&Value> {
        self.measurements
            .iter()
            .find(|m| m["name"] == name)
            .map(|m| &m["value"])
    }
    fn count(&self, name: &str) -> u64 {
        self.value(name)
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("no counter {name}: {self:?}"))
    }
    fn warned(&self, text: &str) -> bool {
        self.warnings
            .iter()
            .any(|w| w["message"].as_str().unwrap_or("").contains(text))
    }
}

impl Env {
    fn new(extra: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let log = root.join("logs/auth.log");
        std::fs::create_dir_all(log.parent().unwrap()).unwrap();
        let cfg = root.join("homeostat.toml");
        std::fs::write(
            &cfg,
            format!(
                "[[measure]]\nuse = \"ssh\"\nfile = {:?}\n{extra}",
                log.display().to_string()
            ),
        )
        .unwrap();
        Env {
            state: root.join("state"),
            _dir: dir,
            root,
            log,
            cfg,
        }
    }

    fn rotated(&self, suffix: &str) -> PathBuf {
        PathBuf::from(format!("{}{suffix}", self.log.display()))
    }

    fn scan(&self) -> Scan {
        let out = Command::new(BIN)
            .arg("--config")
            .arg(&self.cfg)
            .arg("--state-dir")
            .arg(&self.state)
            .arg("--json")
            .arg("scan")
            .output()
            .unwrap();
        let code = out.status.code().unwrap_or(-1);
        assert!(
            (0..16).contains(&code),
            "scan exited {code}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stdout
                .iter()
                .all(|&b| b == b'\n' || (0x20..0x7f).contains(&b)),
            "raw bytes in the report: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let mut s = Scan {
            code,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            ..Scan::default()
        };
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            match v["type"].as_str() {
                Some("measurement") => s.measurements.push(v),
                Some("warning") => s.warnings.push(v),
                _ => {}
            }
        }
        s
    }
}

/// A syslog-style sshd line; every third one is a failed login (a match).
fn line(n: u64) -> (String, bool) {
    if n.is_multiple_of(3) {
        (
            format!(
                "Jan  1 00:00:00 host sshd[{}]: Failed password for invalid user u{n} from 10.0.{}.{} port 22 ssh2\n",
                1000 + n % 50,
                n % 7,
                n % 11
            ),
            true,
        )
    } else {
        (
            format!("Jan  1 00:00:00 host sshd[{}]: Accepted publickey for root from 10.1.1.1 port 22 ssh2 #{n}\n", 1000 + n % 50),
            false,
        )
    }
}

/// Appends lines `from..to` to `path`; returns how many match.
fn append(path: &Path, from: u64, to: u64) -> u64 {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let mut matching = 0;
    let mut text = String::new();
    for n in from..to {
        let (l, m) = line(n);
        text.push_str(&l);
        matching += m as u64;
    }
    f.write_all(text.as_bytes()).unwrap();
    matching
}

fn gzip(from: &Path, to: &Path) {
    let data = std::fs::read(from).unwrap();
    let mut e =
        flate2::write::GzEncoder::new(File::create(to).unwrap(), flate2::Compression::fast());
    e.write_all(&data).unwrap();
    e.finish().unwrap().sync_all().unwrap();
    std::fs::remove_file(from).unwrap();
}

/// Renames `LOG.N[.gz]` to `LOG.N+1[.gz]` for every N, newest last.
fn shift(env: &Env) {
    let mut n = 1;
    while env.rotated(&format!(".{n}")).exists() || env.rotated(&format!(".{n}.gz")).exists() {
        n += 1;
    }
    for k in (1..n).rev() {
        for sfx in ["", ".gz"] {
            let a = env.rotated(&format!(".{k}{sfx}"));
            if a.exists() {
                std::fs::rename(&a, env.rotated(&format!(".{}{sfx}", k + 1))).unwrap();
            }
        }
    }
}

/// A small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn log_that_does_not_exist_yet() {
    let env = Env::new("");
    let s = env.scan();
    assert_eq!(s.code, 0);
    assert!(s.warned("does not exist"), "{s:?}");
    assert_eq!(s.count("ssh_breakin"), 0);
    assert_eq!(s.warnings[0]["measurement"], "ssh_breakin");
    let expect = append(&env.log, 0, 30);
    let s = env.scan();
    assert_eq!(s.count("ssh_breakin"), expect);
    assert!(s.warnings.is_empty(), "{s:?}");
    let keys = s.measurements[0]["keys"].as_object().unwrap();
    assert_eq!(
        keys.values().map(|v| v.as_u64().unwrap()).sum::<u64>(),
        expect
    );
    assert_eq!(env.scan().count("ssh_breakin"), 0);
}

#[test]
fn rename_then_gzip_at_once() {
    let env = Env::new("");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut n, mut written, mut counted) = (0u64, 0u64, 0u64);
    counted += env.scan().count("ssh_breakin");
    for step in 0..60 {
        match rng.next(5) {
            0 | 1 => {
                let k = rng.next(40);
                written += append(&env.log, n, n + k);
                n += k;
            }
            2 => {
                let s = env.scan();
                assert!(s.warnings.is_empty(), "step {step}: {s:?}");
                counted += s.count("ssh_breakin");
            }
            _ => {
                // logrotate with `compress` and no `delaycompress`.
                shift(&env);
                if env.log.exists() {
                    std::fs::rename(&env.log, env.rotated(".1")).unwrap();
                    gzip(&env.rotated(".1"), &env.rotated(".1.gz"));
                }
                File::create(&env.log).unwrap();
            }
        }
    }
    counted += env.scan().count("ssh_breakin");
    assert!(written > 50);
    assert_eq!(counted, written);
}

#[test]
fn several_rotations_between_scans_plain_and_compressed() {
    let env = Env::new("");
    let mut written = append(&env.log, 0, 10);
    let mut counted = env.scan().count("ssh_breakin");
    written += append(&env.log, 10, 20);
    // delaycompress: .1 stays plain, older generations are compressed.
    for g in 0..4u64 {
        shift(&env);
        if env.rotated(".2").exists() {
            gzip(&env.rotated(".2"), &env.rotated(".2.gz"));
        }
        std::fs::rename(&env.log, env.rotated(".1")).unwrap();
        written += append(&env.log, 100 * (g + 1), 100 * (g + 1) + 17);
    }
    counted += env.scan().count("ssh_breakin");
    counted += env.scan().count("ssh_breakin");
    assert_eq!(counted, written);
}

#[test]
fn truncation_in_place() {
    let env = Env::new("");
    let mut written = append(&env.log, 0, 60);
    let mut counted = env.scan().count("ssh_breakin");
    // Truncated, then fewer bytes than were read.
    OpenOptions::new()
        .write(true)
        .open(&env.log)
        .unwrap()
        .set_len(0)
        .unwrap();
    written += append(&env.log, 60, 70);
    let s = env.scan();
    assert!(s.warned("truncated"), "{s:?}");
    counted += s.count("ssh_breakin");
    // Truncated, then grown past the old offset before the next scan: the content says so.
    OpenOptions::new()
        .write(true)
        .open(&env.log)
        .unwrap()
        .set_len(0)
        .unwrap();
    written += append(&env.log, 1000, 1100);
    let s = env.scan();
    assert!(s.warned("truncated"), "{s:?}");
    counted += s.count("ssh_breakin");
    written += append(&env.log, 1100, 1110);
    counted += env.scan().count("ssh_breakin");
    assert_eq!(counted, written);
}

#[test]
fn delete_and_recreate() {
    let env = Env::new("");
    let mut written = append(&env.log, 0, 40);
    let mut counted = env.scan().count("ssh_breakin");
    std::fs::remove_file(&env.log).unwrap();
    let s = env.scan();
    assert!(s.warned("no longer exists"), "{s:?}");
    counted += s.count("ssh_breakin");
    written += append(&env.log, 40, 45);
    let s = env.scan();
    // "truncated or replaced" when the new file got the old inode number.
    assert!(s.warned("replaced"), "{s:?}");
    counted += s.count("ssh_breakin");
    // Deleted and re-created at once (the inode number may well be reused), longer.
    std::fs::remove_file(&env.log).unwrap();
    written += append(&env.log, 500, 600);
    counted += env.scan().count("ssh_breakin");
    written += append(&env.log, 600, 606);
    counted += env.scan().count("ssh_breakin");
    assert_eq!(counted, written);
}

/// Runs `scan` in a loop until `done`, summing the counter and counting scans in `scans`;
/// checks no scan lost anything.
fn scan_while(env: &Env, done: &AtomicBool, scans: &AtomicU64) -> u64 {
    let mut counted = 0;
    while !done.load(Ordering::SeqCst) {
        let s = env.scan();
        assert!(
            !s.warned("lost") && !s.warned("truncated") && !s.warned("replaced"),
            "{s:?}"
        );
        counted += s.count("ssh_breakin");
        scans.fetch_add(1, Ordering::SeqCst);
    }
    for _ in 0..2 {
        let s = env.scan();
        assert!(s.warnings.is_empty(), "{s:?}");
        counted += s.count("ssh_breakin");
    }
    counted
}

/// The writers run at least this long, and on until the scanner has run five times (a
/// loaded machine makes scans slow), but never longer than 30 s.
fn keep_writing(start: Instant, scans: &AtomicU64) -> bool {
    let t = start.elapsed();
    t < Duration::from_secs(30)
        && (t < Duration::from_millis(2500) || scans.load(Ordering::SeqCst) < 5)
}

#[test]
fn copytruncate_racing_a_writer_thread() {
    copytruncate_race(false);
}

/// The same with a copy that takes a while, as on a large log: the copy stays empty for a
/// moment, is written in pieces, and the log is truncated a little after it is complete; a
/// scan may look at any point in between (the copy is then the log's content, or part of
/// it, not an older generation).
#[test]
fn copytruncate_caught_while_copying() {
    copytruncate_race(true);
}

fn copytruncate_race(slow_copy: bool) {
    let env = Arc::new(Env::new(""));
    File::create(&env.log).unwrap();
    let lock = Arc::new(Mutex::new(()));
    let done = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let scans = Arc::new(AtomicU64::new(0));
    let writer = {
        let (env, lock, written, scans) =
            (env.clone(), lock.clone(), written.clone(), scans.clone());
        std::thread::spawn(move || {
            let mut f = OpenOptions::new().append(true).open(&env.log).unwrap();
            let start = Instant::now();
            let mut n = 0u64;
            while keep_writing(start, &scans) {
                let (l, m) = line(n);
                let g = lock.lock().unwrap();
                if n.is_multiple_of(7) {
                    // A line written in two parts: a scan may see half of it.
                    let (a, b) = l.split_at(l.len() / 2);
                    f.write_all(a.as_bytes()).unwrap();
                    std::thread::sleep(Duration::from_micros(300));
                    f.write_all(b.as_bytes()).unwrap();
                } else {
                    f.write_all(l.as_bytes()).unwrap();
                }
                drop(g);
                written.fetch_add(m as u64, Ordering::SeqCst);
                n += 1;
                if n.is_multiple_of(20) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        })
    };
    let rotator = {
        let (env, lock, done) = (env.clone(), lock.clone(), done.clone());
        std::thread::spawn(move || {
            let mut rotations = 0;
            while !done.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(120));
                // logrotate's copytruncate, done under the writer's lock so that the
                // rotation itself loses no line (real copytruncate can).
                let g = lock.lock().unwrap();
                shift(&env);
                if slow_copy {
                    let data = std::fs::read(&env.log).unwrap();
                    let mut copy = File::create(env.rotated(".1")).unwrap();
                    let pause = || std::thread::sleep(Duration::from_millis(2));
                    pause();
                    for piece in data.chunks(data.len() / 3 + 1) {
                        copy.write_all(piece).unwrap();
                        pause();
                    }
                    pause();
                } else {
                    std::fs::copy(&env.log, env.rotated(".1")).unwrap();
                }
                OpenOptions::new()
                    .write(true)
                    .open(&env.log)
                    .unwrap()
                    .set_len(0)
                    .unwrap();
                drop(g);
                rotations += 1;
            }
            rotations
        })
    };
    let scanner_done = Arc::new(AtomicBool::new(false));
    let scanner = {
        let (env, sd, scans) = (env.clone(), scanner_done.clone(), scans.clone());
        std::thread::spawn(move || scan_while(&env, &sd, &scans))
    };
    writer.join().unwrap();
    done.store(true, Ordering::SeqCst);
    let rotations = rotator.join().unwrap();
    scanner_done.store(true, Ordering::SeqCst);
    let counted = scanner.join().unwrap();
    let scans = scans.load(Ordering::SeqCst);
    assert!(
        rotations >= 5 && scans >= 5,
        "{rotations} rotations, {scans} scans"
    );
    assert_eq!(counted, written.load(Ordering::SeqCst));
}

#[test]
fn rename_and_create_while_the_writer_keeps_the_old_file() {
    let env = Arc::new(Env::new(""));
    File::create(&env.log).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let reopen = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let scans = Arc::new(AtomicU64::new(0));
    let writer = {
        let (env, reopen, written, scans) =
            (env.clone(), reopen.clone(), written.clone(), scans.clone());
        std::thread::spawn(move || {
            let mut f = OpenOptions::new().append(true).open(&env.log).unwrap();
            let start = Instant::now();
            let mut n = 0u64;
            while keep_writing(start, &scans) {
                // Like a daemon that reopens its log a while after the HUP.
                if n.is_multiple_of(40) && reopen.load(Ordering::SeqCst) {
                    f = OpenOptions::new().append(true).open(&env.log).unwrap();
                    reopen.store(false, Ordering::SeqCst);
                }
                let (l, m) = line(n);
                f.write_all(l.as_bytes()).unwrap();
                written.fetch_add(m as u64, Ordering::SeqCst);
                n += 1;
                if n.is_multiple_of(20) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        })
    };
    let rotator = {
        let (env, done, reopen) = (env.clone(), done.clone(), reopen.clone());
        std::thread::spawn(move || {
            let mut rotations = 0;
            while !done.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
                // logrotate waits for postrotate: the writer has reopened before the next
                // rotation. delaycompress: the previous generation is compressed now.
                if reopen.load(Ordering::SeqCst) {
                    continue;
                }
                shift(&env);
                if env.rotated(".2").exists() {
                    gzip(&env.rotated(".2"), &env.rotated(".2.gz"));
                }
                std::fs::rename(&env.log, env.rotated(".1")).unwrap();
                File::create(&env.log).unwrap();
                reopen.store(true, Ordering::SeqCst);
                rotations += 1;
            }
            rotations
        })
    };
    let scanner_done = Arc::new(AtomicBool::new(false));
    let scanner = {
        let (env, sd, scans) = (env.clone(), scanner_done.clone(), scans.clone());
        std::thread::spawn(move || scan_while(&env, &sd, &scans))
    };
    writer.join().unwrap();
    done.store(true, Ordering::SeqCst);
    let rotations = rotator.join().unwrap();
    scanner_done.store(true, Ordering::SeqCst);
    let counted = scanner.join().unwrap();
    let scans = scans.load(Ordering::SeqCst);
    assert!(
        rotations >= 5 && scans >= 5,
        "{rotations} rotations, {scans} scans"
    );
    assert_eq!(counted, written.load(Ordering::SeqCst));
}

#[test]
fn empty_log_rotated_before_the_next_scan() {
    let env = Env::new("");
    File::create(&env.log).unwrap();
    let mut counted = env.scan().count("ssh_breakin");
    std::thread::sleep(Duration::from_millis(20));
    let mut written = append(&env.log, 0, 12);
    std::fs::rename(&env.log, env.rotated(".1")).unwrap();
    gzip(&env.rotated(".1"), &env.rotated(".1.gz"));
    File::create(&env.log).unwrap();
    written += append(&env.log, 12, 15);
    counted += env.scan().count("ssh_breakin");
    assert_eq!(counted, written);
}

#[test]
fn partial_and_long_lines_across_scans() {
    let env = Env::new("");
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&env.log)
        .unwrap();
    let (l, _) = line(3);
    let (a, b) = l.split_at(40);
    f.write_all(a.as_bytes()).unwrap();
    assert_eq!(env.scan().count("ssh_breakin"), 0);
    f.write_all(b.as_bytes()).unwrap();
    assert_eq!(env.scan().count("ssh_breakin"), 1);
    // A 1 MiB matching line written in pieces: counted once, when first seen long.
    f.write_all(l.trim_end().as_bytes()).unwrap();
    f.write_all(&vec![b'A'; 100 * 1024]).unwrap();
    let s = env.scan();
    assert_eq!(s.count("ssh_breakin"), 1);
    assert!(s.warned("longer than 65536"), "{s:?}");
    f.write_all(&vec![b'A'; 900 * 1024]).unwrap();
    f.write_all(b"\n").unwrap();
    f.write_all(l.as_bytes()).unwrap();
    assert_eq!(env.scan().count("ssh_breakin"), 1);
    assert_eq!(env.scan().count("ssh_breakin"), 0);
}

#[test]
fn bad_input_is_reported_and_scanning_goes_on() {
    let env = Env::new("");
    let mut rng = Rng(42);
    let mut junk: Vec<u8> = (0..300_000).map(|_| rng.next(256) as u8).collect();
    junk.push(b'\n');
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&env.log)
        .unwrap();
    f.write_all(&junk).unwrap();
    // Matching lines with attacker bytes in the user name.
    f.write_all(b"Jan  1 00:00:00 h sshd[1]: Failed password for invalid user \xff\xfe\x1b[31m\x07 from 192.0.2.1 port 22 ssh2\n").unwrap();
    f.write_all(
        b"Jan  1 00:00:00 h sshd[1]: Invalid user \xc3\x28\x00evil from 192.0.2.2 port 22\n",
    )
    .unwrap();
    // A 1 MiB line that matches in its first 64 KiB, and one that matches only after.
    let (l, _) = line(0);
    f.write_all(l.trim_end().as_bytes()).unwrap();
    f.write_all(&vec![b'x'; 1 << 20]).unwrap();
    f.write_all(b"\n").unwrap();
    f.write_all(&vec![b'y'; 1 << 20]).unwrap();
    f.write_all(l.as_bytes()).unwrap();
    let s = env.scan();
    assert_eq!(s.count("ssh_breakin"), 3, "{s:?}");
    assert!(s.warned("2 line(s) longer than 65536"), "{s:?}");
    let keys = s.measurements[0]["keys"].as_object().unwrap();
    assert_eq!(keys["192.0.2.1"], 1);

    // The log replaced by a FIFO: never opened, the position is kept.
    std::fs::remove_file(&env.log).unwrap();
    assert!(Command::new("mkfifo")
        .arg(&env.log)
        .status()
        .unwrap()
        .success());
    let t = Instant::now();
    let s = env.scan();
    assert!(t.elapsed() < Duration::from_secs(20));
    assert!(s.warned("fifo"), "{s:?}");
    assert_eq!(s.count("ssh_breakin"), 0);
    std::fs::remove_file(&env.log).unwrap();
    // … then by a directory.
    std::fs::create_dir(&env.log).unwrap();
    let s = env.scan();
    assert!(s.warned("directory"), "{s:?}");
    assert_eq!(s.count("ssh_breakin"), 0);
    std::fs::remove_dir(&env.log).unwrap();
    // A regular file again: read from its start.
    let written = append(&env.log, 0, 31);
    let s = env.scan();
    assert_eq!(s.count("ssh_breakin"), written);
    assert_eq!(env.scan().count("ssh_breakin"), 0);

    // Text mode: warnings on stderr, escaped.
    let out = Command::new(BIN)
        .args([
            "--config".as_ref(),
            env.cfg.as_os_str(),
            "--state-dir".as_ref(),
            env.state.as_os_str(),
            "scan".as_ref(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("ssh_breakin = 0 (counter)"), "{text}");
}

#[test]
fn kinds_commands_and_a_measurement_added_later() {
    let env = Env::new(&format!(
        r#"
[[measure]]
name = "port_sum"
file = {log:?}
match = 'port ([0-9]+) ssh2$'
kind = "int"
[[measure]]
name = "port_last"
file = {log:?}
match = 'port ([0-9]+)'
kind = "int"
aggregate = "last"
[[measure]]
name = "ratio"
command = "printf 'load 0.5\nload 1.25\nnothing\n'"
match = 'load ([0-9.]+)'
kind = "real"
[[measure]]
name = "banner"
command = ["/bin/echo", "hello", "world"]
match = 'hello (.*)'
kind = "string"
history = "scalar"
[[measure]]
name = "slow"
command = "sleep 20"
match = "x"
timeout = "300ms"
"#,
        log = "LOG"
    ));
    let cfg = std::fs::read_to_string(&env.cfg)
        .unwrap()
        .replace("\"LOG\"", &format!("{:?}", env.log.display().to_string()));
    std::fs::write(&env.cfg, &cfg).unwrap();
    append(&env.log, 0, 6);
    let t = Instant::now();
    let s = env.scan();
    assert!(t.elapsed() < Duration::from_secs(15));
    assert_eq!(s.count("ssh_breakin"), 2);
    assert_eq!(s.value("port_sum").unwrap(), 22 * 2);
    assert_eq!(s.value("port_last").unwrap(), 22);
    assert_eq!(s.value("ratio").unwrap().as_f64(), Some(1.75));
    assert_eq!(s.value("banner").unwrap(), "world");
    assert!(s.value("slow").is_none());
    assert!(s.warned("did not finish"), "{s:?}");
    assert_eq!(s.code, 0);
    // Nothing new: sums are 0, last values persist.
    let s = env.scan();
    assert_eq!(s.value("port_sum").unwrap(), 0);
    assert_eq!(s.value("port_last").unwrap(), 22);
    // A measurement added later reads the log from its start; the others go on.
    std::fs::write(
        &env.cfg,
        format!(
            "{cfg}\n[[measure]]\nname = \"all\"\nfile = {:?}\nmatch = \"sshd\"\n",
            env.log.display().to_string()
        ),
    )
    .unwrap();
    append(&env.log, 6, 9);
    let s = env.scan();
    assert_eq!(s.count("all"), 9);
    assert_eq!(s.count("ssh_breakin"), 1);
}

#[test]
fn unusable_state_stops_the_scan() {
    let env = Env::new("");
    append(&env.log, 0, 3);
    env.scan();
    std::fs::write(
        env.state.join("logscan.state"),
        "homeostat-logscan 1\npos x y z\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args([
            "--config".as_ref(),
            env.cfg.as_os_str(),
            "--state-dir".as_ref(),
            env.state.as_os_str(),
            "--json".as_ref(),
            "scan".as_ref(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(17));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("logscan.state line 2"), "{err}");
    let _ = &env.root;
}
