#![cfg(target_os = "linux")]
//! The policy chain end to end: a `sleep` run as `nobody` breaks a `[[process]]` promise
//! of none, its `_out_of_range` class fires a `[[rule]]`, and the alert, its variables
//! expanded, reaches every sink: JSON, text, syslog (a datagram socket bound here) and
//! the metrics (the file after `scan`, `GET /metrics` under `run`, both passing
//! `promtool check metrics`). Killing the sleep brings the `_in_range` class back and
//! fires nothing. A command line holding a newline and an escape cannot put either into
//! any sink.
//!
//! Needs root (to run the sleeps as uid/gid 65534); skipped otherwise. Each test matches
//! its own `sleep 314N`, so the tests (run in parallel) and any other sleep on the host
//! never see each other's. Loopback only; every wait is bounded and polls a condition;
//! every child is killed and reaped on drop, also when an assertion fails.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use homeostat_tests::json::{classes, of_type};
use homeostat_tests::net::{free_port, http_get};
use homeostat_tests::procs::{sleeper, wait_for, Killed};
use homeostat_tests::prom::{promtool_check, sample};
use homeostat_tests::run::{homeostat_bin, is_root, run_cmd, Output};
use homeostat_tests::serde_json::{self, json, Value};
use homeostat_tests::tempfile::TempDir;

/// local3 (19) × 8 + err (3): the PRI of the rule's alerts.
const PRI_ALERT: &str = "<155>1 ";
/// local3 × 8 + warning (4): a broken process promise.
const PRI_BROKEN: &str = "<156>1 ";

/// The host name as `gethostname` gives it (Linux: the UTS node name).
fn host() -> String {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let h = h.trim().to_string();
    if let Ok(o) = Command::new("hostname").output() {
        if o.status.success() {
            assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), h);
        }
    }
    h
}

/// One temporary directory: config, state, syslog socket and metrics file.
struct Setup {
    dir: TempDir,
    sock: UnixDatagram,
}

impl Setup {
    /// `[[process]]` promises `promises` (name, command regex), each owner nobody and count
    /// [0, 0], and one rule `<name>_alert` on each promise's out-of-range class; syslog
    /// (facility local3) to the test socket, metrics to a file, `output_extra` added to
    /// `[output]`, `top` (e.g. `[monitor]`) before it all.
    fn new(top: &str, promises: &[(&str, &str)], output_extra: &str) -> Setup {
        let dir = TempDir::new().unwrap();
        let sock_path = dir.path().join("log.sock");
        let sock = UnixDatagram::bind(&sock_path).unwrap();
        sock.set_nonblocking(true).unwrap();
        let mut cfg = format!(
            "{top}[output]\nsyslog = true\nsyslog_socket = {:?}\nsyslog_facility = \"local3\"\nmetrics_file = {:?}\n{output_extra}\n",
            sock_path.display().to_string(),
            dir.path().join("homeostat.prom").display().to_string()
        );
        for (name, command) in promises {
            cfg.push_str(&format!(
                "\n[[process]]\nname = \"{name}\"\ncommand = '{command}'\nowner = [\"nobody\"]\ncount = [0, 0]\n\n[[rule]]\nname = \"{name}_alert\"\nwhen = \"{name}_out_of_range\"\nreport = \"rogue process $(this.promiser) on $(sys.host) rule $(rule.name)\"\nseverity = \"err\"\n"
            ));
        }
        std::fs::write(dir.path().join("homeostat.toml"), cfg).unwrap();
        std::fs::create_dir(dir.path().join("state")).unwrap();
        Setup { dir, sock }
    }

    fn args(&self, args: &[&str]) -> Vec<OsString> {
        let d = self.dir.path();
        let mut a: Vec<OsString> = vec![
            "--config".into(),
            d.join("homeostat.toml").into(),
            "--state-dir".into(),
            d.join("state").into(),
        ];
        a.extend(args.iter().map(OsString::from));
        a
    }

    /// `homeostat ARGS`, which must exit 0 (a broken promise and an alert do not change
    /// `scan`'s status).
    fn scan(&self, args: &[&str]) -> Output {
        let o = run_cmd(homeostat_bin(), &self.args(args), &[]);
        o.expect_code(0);
        o
    }

    /// Every datagram queued on the socket, without waiting: a datagram sent to a Unix
    /// socket is queued before `send` returns, so all a finished `scan` sent is here (and,
    /// under `run`, all of a round whose metrics are served: syslog is sent first).
    fn datagrams(&self) -> Vec<String> {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536];
        loop {
            match self.sock.recv(&mut buf) {
                Ok(n) => got.push(String::from_utf8(buf[..n].to_vec()).expect("UTF-8 datagram")),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return got,
                Err(e) => panic!("recv: {e}"),
            }
        }
    }

    fn metrics_file(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("homeostat.prom")).unwrap()
    }
}

/// A datagram's RFC 5424 fields: PRI+VERSION, TIMESTAMP, HOSTNAME, APP-NAME, PROCID,
/// MSGID, STRUCTURED-DATA, MSG; checked for one line and no escape.
fn fields(d: &str) -> Vec<&str> {
    assert!(!d.contains(['\n', '\r', '\u{1b}']), "{d:?}");
    let f: Vec<&str> = d.splitn(8, ' ').collect();
    assert_eq!(f.len(), 8, "{d}");
    assert!(f[1].ends_with('Z') && f[1].len() == 20, "{d}");
    assert_eq!(f[2], host(), "{d}");
    assert_eq!(f[3], "homeostat", "{d}");
    assert!(f[4].parse::<u32>().is_ok(), "{d}");
    assert_eq!(f[6], "-", "{d}");
    f
}

/// The datagrams of MSGID `msgid`.
fn with_msgid<'a>(got: &'a [String], msgid: &str) -> Vec<&'a String> {
    got.iter().filter(|d| fields(d)[5] == msgid).collect()
}

/// Every line of a metrics text is a comment or a `homeostat_` sample, and no byte is an
/// escape or outside printable ASCII.
fn assert_clean_metrics(text: &str) {
    assert!(
        text.bytes()
            .all(|b| b == b'\n' || (0x20..=0x7e).contains(&b)),
        "{text:?}"
    );
    for l in text.lines() {
        assert!(l.starts_with("# ") || l.starts_with("homeostat_"), "{l:?}");
    }
}

fn expected_message(promise: &str) -> String {
    format!("rogue process {promise} on {} rule {promise}_alert", host())
}

#[test]
fn a_sleep_as_nobody_alerts_in_json_text_syslog_and_metrics_and_stopping_it_restores() {
    if !is_root() {
        eprintln!("SKIPPED: needs root to run sleep as nobody");
        return;
    }
    let s = Setup::new("", &[("rogue_sleep", "^sleep 3141$")], "");
    let sleep = sleeper("sleep", "3141");
    let pid = sleep.pid();
    let message = expected_message("rogue_sleep");

    // 1. JSON: the promise is broken, its class raised, the rule fires.
    let o = s.scan(&["--json", "scan"]);
    let events = o.json();
    let p = of_type(&events, "process");
    assert_eq!(
        p,
        [
            json!({"type": "process", "t": p[0]["t"], "name": "rogue_sleep", "count": 1,
                "range": [0, 0], "in_range": false, "pids": [pid]})
        ],
        "{}",
        o.stdout_str()
    );
    let c = classes(&events);
    assert!(c.contains(&"rogue_sleep_out_of_range".into()), "{c:?}");
    assert!(!c.contains(&"rogue_sleep_in_range".into()), "{c:?}");
    let a = of_type(&events, "alert");
    assert_eq!(
        a,
        [
            json!({"type": "alert", "t": a[0]["t"], "rule": "rogue_sleep_alert",
                "severity": "err", "message": message})
        ],
        "{}",
        o.stdout_str()
    );
    // The alert comes after the promise and its classes were decided.
    let pos = |t: &str| events.iter().position(|e| e["type"] == t).unwrap();
    assert!(pos("process") < pos("alert"), "{}", o.stdout_str());

    // Syslog: the alert at err, the broken promise at warning, no sample.
    let got = s.datagrams();
    let alerts = with_msgid(&got, "alert");
    assert_eq!(alerts.len(), 1, "{got:#?}");
    assert!(alerts[0].starts_with(PRI_ALERT), "{}", alerts[0]);
    let msg = fields(alerts[0])[7];
    assert!(msg.contains(&message), "{msg:?} lacks {message:?}");
    let broken = with_msgid(&got, "process");
    assert_eq!(broken.len(), 1, "{got:#?}");
    assert!(broken[0].starts_with(PRI_BROKEN), "{}", broken[0]);
    for quiet in ["sample", "ports", "classes", "summary"] {
        assert!(with_msgid(&got, quiet).is_empty(), "{quiet}: {got:#?}");
    }

    // The metrics file.
    let m = s.metrics_file();
    promtool_check(&m);
    assert_clean_metrics(&m);
    for (series, want) in [
        ("homeostat_alerts_total{rule=\"rogue_sleep_alert\"}", 1.0),
        ("homeostat_process_matches{promise=\"rogue_sleep\"}", 1.0),
        (
            "homeostat_class_active{class=\"rogue_sleep_out_of_range\"}",
            1.0,
        ),
    ] {
        assert_eq!(sample(&m, series), Some(want), "{series} in\n{m}");
    }

    // 2. Text, same state: the alert line, and the counter goes on counting.
    let o = s.scan(&["scan"]);
    let text = o.text();
    let want = format!("ALERT rogue_sleep_alert: {message}");
    assert_eq!(
        text.lines().filter(|l| *l == want).count(),
        1,
        "{want:?} not in\n{text}"
    );
    let broken = format!("process rogue_sleep: 1 running, promised 0..0: BROKEN (pids {pid})");
    assert!(
        text.lines().any(|l| l == broken),
        "{broken:?} not in\n{text}"
    );
    let got = s.datagrams();
    let alerts = with_msgid(&got, "alert");
    assert_eq!(alerts.len(), 1, "{got:#?}");
    assert!(fields(alerts[0])[7].contains(&message), "{}", alerts[0]);
    let m = s.metrics_file();
    promtool_check(&m);
    assert_eq!(
        sample(&m, "homeostat_alerts_total{rule=\"rogue_sleep_alert\"}"),
        Some(2.0),
        "{m}"
    );

    // 3. Stopped: in range again, nothing fires, the class reads 0.
    sleep.stop();
    let o = s.scan(&["--json", "scan"]);
    let events = o.json();
    let p = of_type(&events, "process");
    assert_eq!(
        p,
        [
            json!({"type": "process", "t": p[0]["t"], "name": "rogue_sleep", "count": 0,
                "range": [0, 0], "in_range": true, "pids": []})
        ],
        "{}",
        o.stdout_str()
    );
    let c = classes(&events);
    assert!(c.contains(&"rogue_sleep_in_range".into()), "{c:?}");
    assert!(!c.contains(&"rogue_sleep_out_of_range".into()), "{c:?}");
    assert!(of_type(&events, "alert").is_empty(), "{}", o.stdout_str());
    let got = s.datagrams();
    assert!(with_msgid(&got, "alert").is_empty(), "{got:#?}");
    assert!(with_msgid(&got, "process").is_empty(), "{got:#?}");
    let m = s.metrics_file();
    promtool_check(&m);
    for (series, want) in [
        ("homeostat_alerts_total{rule=\"rogue_sleep_alert\"}", 2.0),
        ("homeostat_process_matches{promise=\"rogue_sleep\"}", 0.0),
        (
            "homeostat_class_active{class=\"rogue_sleep_out_of_range\"}",
            0.0,
        ),
        (
            "homeostat_class_active{class=\"rogue_sleep_in_range\"}",
            1.0,
        ),
    ] {
        assert_eq!(sample(&m, series), Some(want), "{series} in\n{m}");
    }
}

/// `GET /metrics` on 127.0.0.1:`port`: the body of a 200, or `None`.
fn get_metrics(port: u16) -> Option<String> {
    http_get(port, "/metrics")
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body)
}

/// `homeostat run --json`, its stdout lines collected by a thread; killed on drop unless
/// stopped.
struct Daemon {
    child: Killed,
    lines: mpsc::Receiver<Vec<u8>>,
    /// The lines read so far.
    seen: Vec<Value>,
}

impl Daemon {
    fn spawn(s: &Setup) -> Daemon {
        let mut child = Command::new(homeostat_bin())
            .args(s.args(&["--json", "run"]))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn homeostat run");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).split(b'\n') {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Daemon {
            child: Killed(child),
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads stdout lines (each printable ASCII and JSON) into `seen` until one satisfies
    /// `pred` or `limit` passes; true when one did.
    fn until(&mut self, limit: Duration, pred: impl Fn(&Value) -> bool) -> bool {
        if self.seen.iter().any(&pred) {
            return true;
        }
        let end = Instant::now() + limit;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            let Ok(l) = self.lines.recv_timeout(left) else {
                return false;
            };
            assert!(
                l.iter().all(|b| (0x20..=0x7e).contains(b)),
                "{:?}",
                String::from_utf8_lossy(&l)
            );
            let v: Value = serde_json::from_slice(&l).unwrap();
            let hit = pred(&v);
            self.seen.push(v);
            if hit {
                return true;
            }
        }
        false
    }

    /// SIGTERM, then a clean exit within 20 s.
    #[allow(unsafe_code)]
    fn stop(mut self) {
        let pid = libc::pid_t::try_from(self.child.pid()).unwrap();
        // SAFETY: a signal to our own child, which has not been waited for yet.
        let r = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(r, 0, "kill: {}", std::io::Error::last_os_error());
        let st = wait_for(Duration::from_secs(20), Duration::from_millis(50), || {
            self.child.0.try_wait().unwrap()
        })
        .expect("homeostat run did not stop within 20 s of SIGTERM");
        assert!(st.success(), "homeostat run ended with {st}");
    }
}

#[test]
fn under_run_the_alert_reaches_metrics_and_stopping_the_sleep_clears_its_class() {
    if !is_root() {
        eprintln!("SKIPPED: needs root to run sleep as nobody");
        return;
    }
    let port = free_port();
    let s = Setup::new(
        "[monitor]\ninterval = \"1s\"\n\n",
        &[("daemon_sleep", "^sleep 3142$")],
        &format!("metrics = \"127.0.0.1:{port}\""),
    );
    let sleep = sleeper("sleep", "3142");
    let mut daemon = Daemon::spawn(&s);
    let alerts = "homeostat_alerts_total{rule=\"daemon_sleep_alert\"}";
    let text = wait_for(Duration::from_secs(20), Duration::from_millis(200), || {
        get_metrics(port).filter(|b| sample(b, alerts).is_some_and(|n| n >= 1.0))
    })
    .expect("homeostat_alerts_total for the rule on /metrics within 20 s");
    promtool_check(&text);
    assert_clean_metrics(&text);
    for (series, want) in [
        ("homeostat_process_matches{promise=\"daemon_sleep\"}", 1.0),
        (
            "homeostat_class_active{class=\"daemon_sleep_out_of_range\"}",
            1.0,
        ),
    ] {
        assert_eq!(sample(&text, series), Some(want), "{series} in\n{text}");
    }
    let message = expected_message("daemon_sleep");
    let got = s.datagrams();
    let a = with_msgid(&got, "alert");
    assert!(!a.is_empty(), "{got:#?}");
    assert!(
        a.iter()
            .all(|d| d.starts_with(PRI_ALERT) && fields(d)[7].contains(&message)),
        "{a:#?}"
    );

    // Stopped: the next rounds show the class gone and no match.
    sleep.stop();
    let gone = "homeostat_class_active{class=\"daemon_sleep_out_of_range\"}";
    let text = wait_for(Duration::from_secs(20), Duration::from_millis(200), || {
        get_metrics(port).filter(|b| sample(b, gone) == Some(0.0))
    })
    .expect("the out-of-range class at 0 on /metrics within 20 s of the kill");
    promtool_check(&text);
    assert_eq!(
        sample(&text, "homeostat_process_matches{promise=\"daemon_sleep\"}"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "homeostat_class_active{class=\"daemon_sleep_in_range\"}"
        ),
        Some(1.0),
        "{text}"
    );

    // Its stdout: the in-range class of the rounds after the kill, and every alert before
    // it the rule's, expanded.
    let back = |e: &Value| {
        e["type"] == "classes"
            && e["classes"]
                .as_array()
                .unwrap()
                .contains(&"daemon_sleep_in_range".into())
    };
    assert!(
        daemon.until(Duration::from_secs(10), back),
        "{:#?}",
        daemon.seen
    );
    let fired: Vec<&Value> = daemon
        .seen
        .iter()
        .filter(|e| e["type"] == "alert")
        .collect();
    assert!(!fired.is_empty(), "{:#?}", daemon.seen);
    for a in &fired {
        assert_eq!(a["rule"], "daemon_sleep_alert");
        assert_eq!(a["severity"], "err");
        assert_eq!(a["message"], message.as_str());
    }
    daemon.stop();
}

#[test]
fn a_hostile_command_line_reaches_no_sink_raw() {
    if !is_root() {
        eprintln!("SKIPPED: needs root to run sleep as nobody");
        return;
    }
    // The promise selects the hostile process by the tail of its command line.
    let s = Setup::new("", &[("hostile_sleep", "31mX 3143$")], "");
    let arg0 = "sleep\n\u{1b}[31mX";
    let hostile = sleeper(arg0, "3143");
    let pid = hostile.pid();
    let message = expected_message("hostile_sleep");

    let o = s.scan(&["--json", "scan"]);
    let events = o.json();
    let p = of_type(&events, "process");
    assert_eq!(p.len(), 1, "{}", o.stdout_str());
    assert_eq!(p[0]["pids"], json!([pid]), "{}", o.stdout_str());
    let a = of_type(&events, "alert");
    assert_eq!(a.len(), 1, "{}", o.stdout_str());
    assert_eq!(a[0]["message"], message.as_str());
    let text_out = s.scan(&["scan"]);
    for out in [&o, &text_out] {
        // run_cmd holds stdout to printable ASCII and newlines; the text mode's lines are
        // whole lines of its own.
        assert!(!out.stdout.contains(&0x1b), "{}", out.stdout_str());
        for l in out.text().lines() {
            assert!(!l.contains("[31mX"), "{l:?}");
        }
    }
    assert!(text_out
        .text()
        .lines()
        .any(|l| l == format!("ALERT hostile_sleep_alert: {message}")));

    let got = s.datagrams();
    assert!(!got.is_empty());
    for d in &got {
        // one line, no escape, the RFC 5424 frame intact
        fields(d);
    }
    assert_eq!(with_msgid(&got, "alert").len(), 2, "{got:#?}");

    let m = s.metrics_file();
    promtool_check(&m);
    assert_clean_metrics(&m);
    assert_eq!(
        sample(&m, "homeostat_process_matches{promise=\"hostile_sleep\"}"),
        Some(1.0),
        "{m}"
    );
    drop(hostile);
}
