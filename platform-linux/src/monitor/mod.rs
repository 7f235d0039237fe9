//! The Linux measurement feeds of the learned normal state: one [`Monitor::sample`] gives
//! every observable's value, the per-address (or per-command) counts behind the entropy
//! and peak views, the listening ports, and which feeds could not be read and why.
//!
//! | feed | source | observables |
//! |---|---|---|
//! | users | utmp `USER_PROCESS` records ([`utmp`]) | `users` (distinct names) |
//! | processes | `/proc/<pid>/status`, `/etc/passwd` ([`procs`]) | `rootprocs`, `otherprocs` |
//! | diskfree | `statvfs("/")` ([`system`]) | `diskfree` |
//! | loadavg | `/proc/loadavg` ([`system`]) | `loadavg` |
//! | sockets | `/proc/net/{tcp,tcp6,udp,udp6}` ([`net`]) | `<svc>_in`, `<svc>_out` |
//! | packets | a `tcpdump` child ([`packets`]) | `icmp dns udp tcpsyn tcpack tcpfin tcpmisc` × `_in`/`_out` |
//!
//! Every parser is a pure function over bytes, tested on captured and hostile fixtures in
//! `tests/fixtures/`; only the thin readers touch the live system. A feed that fails is
//! left out of `values` and named in `unavailable`; nothing here panics on input.

pub mod local;
pub mod net;
pub mod packets;
pub mod procs;
pub mod system;
pub mod utmp;

use std::fmt;
use std::path::PathBuf;

pub use net::ListeningPort;
pub use procs::ProcessEntry;

/// The seed's services (port 443 for wwws, not cf-monitord's 433), then DNS. DNS sockets
/// are `domain_in`/`domain_out` (its `/etc/services` name): `dns_in`/`dns_out` are the
/// packet counts of the tcpdump feed, as in cf-monitord.
pub const SERVICES: &[(&str, u16)] = &[
    ("netbiosns", 137),
    ("netbiosdgm", 138),
    ("netbiosssn", 139),
    ("irc", 194),
    ("cfengine", 5308),
    ("nfsd", 2049),
    ("smtp", 25),
    ("www", 80),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("wwws", 443),
    ("domain", 53),
];

/// Names that `<svc>` of an extra service may not take (their `_in`/`_out` exist).
const RESERVED: &[&str] = &[
    "icmp", "dns", "udp", "tcpsyn", "tcpack", "tcpfin", "tcpmisc",
];

/// What to measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorConfig {
    /// Services besides [`SERVICES`]: `(name, port)`; the name is `[a-z0-9_]`, at most
    /// 32 bytes, and the port is not 0.
    pub services: Vec<(String, u16)>,
    /// Run `tcpdump` for the packet observables.
    pub tcpdump: bool,
    /// Where procfs is mounted (`/proc`).
    pub proc_root: PathBuf,
    /// The utmp file (`/var/run/utmp`).
    pub utmp: PathBuf,
    /// The user database (`/etc/passwd`).
    pub passwd: PathBuf,
    /// The file system whose free space is `diskfree` (`/`).
    pub disk: PathBuf,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            services: Vec::new(),
            tcpdump: false,
            proc_root: PathBuf::from("/proc"),
            utmp: PathBuf::from("/var/run/utmp"),
            passwd: PathBuf::from("/etc/passwd"),
            disk: PathBuf::from("/"),
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MonitorError {
    #[error("service {name:?}: {reason}")]
    BadService { name: String, reason: &'static str },
}

/// One sample of every feed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// Observable name → value, in a fixed order: `users rootprocs otherprocs diskfree
    /// loadavg`, `<svc>_in <svc>_out` for each service, then `<kind>_in <kind>_out` for
    /// each packet kind. Observables of an unavailable feed are absent.
    pub values: Vec<(String, f64)>,
    /// Observable name → counts behind it: per user name for `users`, per command for
    /// `rootprocs`/`otherprocs`, per remote address for `<svc>_in`/`<svc>_out` and the
    /// packet observables. Sorted by key.
    pub keys: Vec<(String, Vec<(String, u32)>)>,
    /// Listening ports, sorted by protocol, port and address.
    pub listening: Vec<ListeningPort>,
    /// The process snapshot (pid order), for the peak view.
    pub processes: Vec<ProcessEntry>,
    /// Feeds that could not be read: `(feed, reason)`; feeds are `users`, `processes`,
    /// `diskfree`, `loadavg`, `sockets`, `packets`. A feed the configuration turned off
    /// (`packets` without `tcpdump`) is not read and not listed: that is no problem.
    pub unavailable: Vec<(String, String)>,
    /// Things worth knowing that did not stop a feed: `(feed, note)` (no utmp file, so
    /// `users` is 0; malformed lines skipped; a missing `tcp6` when IPv6 is off).
    pub notes: Vec<(String, String)>,
}

impl Sample {
    /// The value of one observable.
    pub fn value(&self, name: &str) -> Option<f64> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    /// The keys of one observable.
    pub fn keys_of(&self, name: &str) -> Option<&[(String, u32)]> {
        self.keys
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, k)| k.as_slice())
    }

    fn unavailable(&mut self, feed: &str, why: impl fmt::Display) {
        self.unavailable.push((feed.to_string(), why.to_string()));
    }

    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    fn note(&mut self, feed: &str, what: impl fmt::Display) {
        self.notes.push((feed.to_string(), what.to_string()));
    }

    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    fn value_of(&mut self, name: impl Into<String>, v: f64) {
        self.values.push((name.into(), v));
    }
}

/// The Linux feeds, with the tcpdump child when configured.
pub struct Monitor {
    config: MonitorConfig,
    services: Vec<(String, u16)>,
    sniffer: Option<packets::Sniffer>,
    /// The tcpdump program: `tcpdump` on `PATH` (tests name one that is missing).
    tcpdump: &'static str,
    /// Why the last attempt to start tcpdump failed.
    sniffer_error: Option<String>,
    /// The sniffer was started since the previous sample: its counts cover no interval.
    sniffer_fresh: bool,
    /// Kept between samples for reading /proc files.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    buf: Vec<u8>,
}

impl Monitor {
    /// Check the configuration and, if asked, start tcpdump (so the first sample already
    /// covers an interval). A tcpdump that cannot start is not an error: the packet feed
    /// is then reported unavailable, and started again at the next sample.
    pub fn new(config: MonitorConfig) -> Result<Monitor, MonitorError> {
        Monitor::with_tcpdump(config, "tcpdump")
    }

    fn with_tcpdump(config: MonitorConfig, tcpdump: &'static str) -> Result<Monitor, MonitorError> {
        let mut services: Vec<(String, u16)> =
            SERVICES.iter().map(|(n, p)| (n.to_string(), *p)).collect();
        for (name, port) in &config.services {
            let bad = |reason| MonitorError::BadService {
                name: name.clone(),
                reason,
            };
            if name.is_empty() || name.len() > 32 {
                return Err(bad("the name must be 1 to 32 bytes"));
            }
            if !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(bad("the name must be lowercase letters, digits and `_`"));
            }
            if services.iter().any(|(n, _)| n == name) || RESERVED.contains(&name.as_str()) {
                return Err(bad("the name is already an observable"));
            }
            if *port == 0 {
                return Err(bad("port 0 would match every unconnected socket"));
            }
            services.push((name.clone(), *port));
        }
        let mut m = Monitor {
            config,
            services,
            sniffer: None,
            tcpdump,
            sniffer_error: None,
            sniffer_fresh: false,
            buf: Vec::new(),
        };
        m.start_sniffer();
        Ok(m)
    }

    /// Every service measured, built-in first: `(name, port)`.
    pub fn services(&self) -> &[(String, u16)] {
        &self.services
    }

    fn start_sniffer(&mut self) {
        // Elsewhere than Linux no sample reads it: do not start it at all.
        if !cfg!(target_os = "linux") || !self.config.tcpdump || self.sniffer.is_some() {
            return;
        }
        match packets::Sniffer::tcpdump_at(self.tcpdump) {
            Ok(s) => {
                self.sniffer = Some(s);
                self.sniffer_error = None;
                self.sniffer_fresh = true;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let on = if self.tcpdump.contains('/') {
                    ""
                } else {
                    " on PATH"
                };
                self.sniffer_error = Some(format!("{} not found{on}", self.tcpdump));
            }
            Err(e) => self.sniffer_error = Some(format!("tcpdump could not be started: {e}")),
        }
    }

    /// Measure everything once.
    pub fn sample(&mut self) -> Sample {
        let mut s = Sample::default();
        #[cfg(target_os = "linux")]
        self.sample_linux(&mut s);
        #[cfg(not(target_os = "linux"))]
        for feed in [
            "users",
            "processes",
            "diskfree",
            "loadavg",
            "sockets",
            "packets",
        ] {
            if feed != "packets" || self.config.tcpdump {
                s.unavailable(feed, "this build has no Linux feeds (not a Linux target)");
            }
        }
        s
    }

    #[cfg(target_os = "linux")]
    fn sample_linux(&mut self, s: &mut Sample) {
        let cfg = &self.config;
        // users
        match std::fs::read(&cfg.utmp) {
            Ok(bytes) => {
                let l = utmp::parse_utmp(&bytes);
                if l.trailing != 0 {
                    let why = format!(
                        "{}: {} bytes after the last record ignored",
                        cfg.utmp.display(),
                        l.trailing
                    );
                    s.note("users", why);
                }
                s.value_of("users", l.users.len() as f64);
                s.keys.push(("users".into(), l.users));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                s.note(
                    "users",
                    format!(
                        "{}: no such file, so no one is logged in: users = 0",
                        cfg.utmp.display()
                    ),
                );
                s.value_of("users", 0.0);
                s.keys.push(("users".into(), Vec::new()));
            }
            Err(e) => s.unavailable("users", format!("{}: {e}", cfg.utmp.display())),
        }

        // processes
        let passwd = match std::fs::read(&cfg.passwd) {
            Ok(b) => procs::parse_passwd(&b),
            Err(e) => {
                s.note(
                    "processes",
                    format!("{}: {e}; no user names", cfg.passwd.display()),
                );
                Default::default()
            }
        };
        match procs::live::read_processes(&cfg.proc_root, &passwd) {
            Ok((list, failed)) => {
                if failed > 0 {
                    s.note("processes", format!("{failed} processes could not be read"));
                }
                let root = list.iter().filter(|p| p.uid == 0).count();
                s.value_of("rootprocs", root as f64);
                s.value_of("otherprocs", (list.len() - root) as f64);
                let rk = procs::command_counts(list.iter().filter(|p| p.uid == 0));
                let ok = procs::command_counts(list.iter().filter(|p| p.uid != 0));
                s.keys.push(("rootprocs".into(), rk));
                s.keys.push(("otherprocs".into(), ok));
                s.processes = list;
            }
            Err(e) => s.unavailable("processes", format!("{}: {e}", cfg.proc_root.display())),
        }

        // diskfree
        match system::live::statvfs(&cfg.disk) {
            Ok((bavail, blocks, bfree)) => match system::percent_free(bavail, blocks, bfree) {
                Some(p) => s.value_of("diskfree", p as f64),
                None => s.unavailable(
                    "diskfree",
                    format!("{}: the file system reports no blocks", cfg.disk.display()),
                ),
            },
            Err(e) => s.unavailable("diskfree", format!("statvfs {}: {e}", cfg.disk.display())),
        }

        // loadavg
        let path = cfg.proc_root.join("loadavg");
        match std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display())) {
            Ok(b) => match system::parse_loadavg(&b) {
                Ok(v) => s.value_of("loadavg", v),
                Err(e) => s.unavailable("loadavg", e),
            },
            Err(e) => s.unavailable("loadavg", e),
        }

        self.sample_sockets(s);
        self.sample_packets(s);
    }

    #[cfg(target_os = "linux")]
    fn sample_sockets(&mut self, s: &mut Sample) {
        let mut sockets = Vec::new();
        let mut listening = Vec::new();
        let mut read_any = false;
        let mut one = Vec::new();
        for (file, proto) in [
            ("tcp", "tcp4"),
            ("tcp6", "tcp6"),
            ("udp", "udp4"),
            ("udp6", "udp6"),
        ] {
            let path = self.config.proc_root.join("net").join(file);
            if let Err(e) = read_into(&path, &mut self.buf) {
                s.note("sockets", format!("{}: {e}", path.display()));
                continue;
            }
            read_any = true;
            one.clear();
            let errors = net::parse_proc_net(&self.buf, &mut one);
            if let Some(first) = errors.first() {
                let n = errors.len();
                s.note(
                    "sockets",
                    format!(
                        "{}: {n} malformed lines skipped (first: {first})",
                        path.display()
                    ),
                );
            }
            net::listening(&one, proto, &mut listening);
            sockets.append(&mut one);
        }
        if !read_any {
            s.unavailable(
                "sockets",
                format!(
                    "none of {}/net/{{tcp,tcp6,udp,udp6}} could be read",
                    self.config.proc_root.display()
                ),
            );
            return;
        }
        listening.sort();
        listening.dedup();
        s.listening = listening;
        let ports: Vec<u16> = self.services.iter().map(|(_, p)| *p).collect();
        for ((name, _), t) in self.services.iter().zip(net::tally(&sockets, &ports)) {
            s.value_of(format!("{name}_in"), f64::from(t.inbound));
            s.value_of(format!("{name}_out"), f64::from(t.outbound));
            s.keys.push((format!("{name}_in"), t.in_keys));
            s.keys.push((format!("{name}_out"), t.out_keys));
        }
    }

    #[cfg(target_os = "linux")]
    fn sample_packets(&mut self, s: &mut Sample) {
        if !self.config.tcpdump {
            return; // turned off, so nothing is missing
        }
        self.start_sniffer();
        let Some(sniffer) = self.sniffer.as_mut() else {
            let why = self.sniffer_error.clone().unwrap_or_default();
            s.unavailable("packets", why);
            return;
        };
        let mut local = std::collections::BTreeSet::new();
        let net = self.config.proc_root.join("net");
        if let Ok(b) = std::fs::read(net.join("fib_trie")) {
            local::parse_fib_trie(&b, &mut local);
        }
        if let Ok(b) = std::fs::read(net.join("if_inet6")) {
            local::parse_if_inet6(&b, &mut local);
        }
        sniffer.set_local(local);
        match sniffer.take() {
            Err(why) => {
                // Try again at the next sample.
                self.sniffer = None;
                s.unavailable("packets", why);
            }
            Ok(_) if self.sniffer_fresh => {
                self.sniffer_fresh = false;
                s.unavailable(
                    "packets",
                    "tcpdump has just started: no interval counted yet",
                );
            }
            Ok(c) => {
                if c.malformed > 0 {
                    s.note(
                        "packets",
                        format!("{} tcpdump lines not understood", c.malformed),
                    );
                }
                let kinds = packets::KINDS.iter().zip(c.counts).zip(c.keys);
                for ((kind, [n_in, n_out]), [kin, kout]) in kinds {
                    s.value_of(format!("{kind}_in"), n_in as f64);
                    s.value_of(format!("{kind}_out"), n_out as f64);
                    s.keys
                        .push((format!("{kind}_in"), kin.into_iter().collect()));
                    s.keys
                        .push((format!("{kind}_out"), kout.into_iter().collect()));
                }
            }
        }
    }
}

/// Read a whole file into `buf`, straight into its spare capacity. Every `read` of
/// `/proc/net/tcp{,6}` that reaches the end walks the kernel's whole established-socket
/// hash table (its cost grows with the machine's memory, not with its sockets), so the
/// file is read in as few calls as possible: one with the data, one that sees the end.
#[cfg(target_os = "linux")]
fn read_into(path: &std::path::Path, buf: &mut Vec<u8>) -> std::io::Result<()> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    buf.clear();
    loop {
        if buf.capacity() - buf.len() < 16 * 1024 {
            buf.reserve(64 * 1024);
        }
        let len = buf.len();
        buf.resize(buf.capacity(), 0);
        let r = f.read(&mut buf[len..]);
        match r {
            Ok(0) => {
                buf.truncate(len);
                return Ok(());
            }
            Ok(n) => buf.truncate(len + n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => buf.truncate(len),
            Err(e) => {
                buf.truncate(len);
                return Err(e);
            }
        }
    }
}

/// Bytes as text, escaped as the core's [`homeostat_core::text::Escaped`]: printable
/// ASCII but `\` kept, every other byte written `\xNN`.
pub(crate) fn printable(b: &[u8]) -> String {
    homeostat_core::text::Escaped::new(b).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes() {
        assert_eq!(printable(b"ab c~"), "ab c~");
        assert_eq!(printable(b"\x00\n\x7f\xff"), "\\x00\\x0a\\x7f\\xff");
        assert_eq!(printable(b"DOMAIN\\user"), "DOMAIN\\x5cuser");
    }

    /// Hermetic: every feed reads from a directory that does not exist.
    #[cfg(target_os = "linux")]
    fn nowhere(tcpdump: bool) -> MonitorConfig {
        let none = std::path::PathBuf::from("/nonexistent/homeostat-test");
        MonitorConfig {
            tcpdump,
            proc_root: none.clone(),
            utmp: none.join("utmp"),
            passwd: none.join("passwd"),
            disk: none,
            ..Default::default()
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_feed_turned_off_is_not_unavailable_one_on_that_fails_is() {
        let missing = "/nonexistent/homeostat-test/tcpdump";
        let mut off = Monitor::with_tcpdump(nowhere(false), missing).unwrap();
        let s = off.sample();
        assert!(
            !s.unavailable.iter().any(|(f, _)| f == "packets"),
            "{:?}",
            s.unavailable
        );
        assert!(!s.notes.iter().any(|(f, _)| f == "packets"));
        assert_eq!(s.value("tcpsyn_in"), None);
        // The other feeds of this configuration fail, and say so.
        assert!(s.unavailable.iter().any(|(f, _)| f == "processes"));

        let mut on = Monitor::with_tcpdump(nowhere(true), missing).unwrap();
        let s = on.sample();
        assert!(
            s.unavailable
                .contains(&("packets".to_string(), format!("{missing} not found"))),
            "{:?}",
            s.unavailable
        );
        assert_eq!(s.value("tcpsyn_in"), None);
    }

    #[test]
    fn config_checks() {
        let with = |name: &str, port| MonitorConfig {
            services: vec![(name.to_string(), port)],
            ..Default::default()
        };
        assert!(Monitor::new(with("www_alt", 8080)).is_ok());
        for (name, port) in [
            ("", 1),
            ("WWW", 1),
            ("a-b", 1),
            ("www", 1),
            ("dns", 1),
            ("ok", 0),
        ] {
            assert!(Monitor::new(with(name, port)).is_err(), "{name} {port}");
        }
        let e = Monitor::new(with("tcpsyn", 9)).err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("service \"tcpsyn\": the name is already an observable")
        );
        let long = "x".repeat(33);
        assert!(Monitor::new(with(&long, 1)).is_err());
        let m = Monitor::new(with("mysql", 3306)).unwrap();
        assert_eq!(m.services().len(), SERVICES.len() + 1);
        assert_eq!(m.services().last(), Some(&("mysql".to_string(), 3306)));
    }
}
