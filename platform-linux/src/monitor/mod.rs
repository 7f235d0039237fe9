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
//! Users, processes, disk, load and sockets come through the core's source traits
//! ([`ProcessSource`], [`SocketSource`], [`SystemSource`]; here [`procs::Processes`],
//! [`net::Sockets`], [`system::System`]), so [`Monitor::with_sources`] samples made-up
//! sources as well. Observables are ids ([`ObsId`]): the built-ins fixed, further
//! services given a slot by the learner's registry; names are the registry's to render.
//!
//! Every parser is a pure function over bytes, tested on captured and hostile fixtures in
//! `tests/fixtures/`; only the thin readers touch the live system. A feed that fails is
//! left out of `values` and named in `unavailable`; nothing here panics on input.

pub mod local;
pub mod net;
pub mod packets;
pub mod procs;
mod sample;
pub mod system;
pub mod utmp;

use std::fmt;
use std::path::PathBuf;

use homeostat_core::entropy::Direction;
use homeostat_core::feed::{ProcessSource, SocketSource, SystemSource};
use homeostat_core::stats::{ObsId, Registry};

pub use net::ListeningPort;
pub use procs::ProcessEntry;
pub use sample::{Counted, Keys, Sample};

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
    /// The interface tcpdump listens on (`-i IFACE`; `any` for all); `None`: tcpdump's
    /// default. Checked with [`packets::valid_interface`].
    pub tcpdump_interface: Option<String>,
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
            tcpdump_interface: None,
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
    #[error("tcpdump interface {0:?}: {1}")]
    BadInterface(String, &'static str),
}

/// Why a Linux feed could not be read, for a person: what, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

impl Unreadable {
    /// Every feed of a build for another system.
    pub fn not_linux() -> Unreadable {
        Unreadable(NOT_LINUX.to_string())
    }
}

const NOT_LINUX: &str = "this build has no Linux feeds (not a Linux target)";

/// Where a source's notes go: `(feed, note)` in `notes`.
fn noter<'a>(
    notes: &'a mut Vec<(String, String)>,
    feed: &'static str,
) -> impl FnMut(&dyn fmt::Display) + 'a {
    move |n| notes.push((feed.to_string(), n.to_string()))
}

/// The monitor's feeds: processes, sockets and the system figures through the core's
/// source traits (the Linux readers by default; a test gives its own), and the tcpdump
/// child when configured.
pub struct Monitor<P = procs::Processes, K = net::Sockets, Y = system::System> {
    config: MonitorConfig,
    services: Vec<(String, u16)>,
    procs: P,
    sockets: K,
    system: Y,
    sniffer: Option<packets::Sniffer>,
    /// The tcpdump program: `tcpdump` on `PATH` (tests name one that is missing).
    tcpdump: &'static str,
    /// Why the last attempt to start tcpdump failed.
    sniffer_error: Option<String>,
    /// The sniffer was started since the previous sample: its counts cover no interval.
    sniffer_fresh: bool,
}

impl Monitor {
    /// Check the configuration and, if asked, start tcpdump (so the first sample already
    /// covers an interval). A tcpdump that cannot start is not an error: the packet feed
    /// is then reported unavailable, and started again at the next sample.
    pub fn new(config: MonitorConfig) -> Result<Monitor, MonitorError> {
        let procs = procs::Processes::new(&config.proc_root, &config.passwd);
        let sockets = net::Sockets::new(&config.proc_root);
        let system = system::System::new(&config.proc_root, &config.disk, &config.utmp);
        Monitor::with_sources(config, procs, sockets, system)
    }
}

impl<P, K, Y> Monitor<P, K, Y>
where
    P: ProcessSource,
    P::Error: fmt::Display,
    K: SocketSource,
    K::Error: fmt::Display,
    Y: SystemSource,
    Y::Error: fmt::Display,
{
    /// [`Monitor::new`] with these sources instead of the Linux readers; of `config`'s
    /// paths only `proc_root` is still read (`net/fib_trie`, `net/if_inet6` for tcpdump).
    pub fn with_sources(
        config: MonitorConfig,
        procs: P,
        sockets: K,
        system: Y,
    ) -> Result<Monitor<P, K, Y>, MonitorError> {
        Monitor::build(config, procs, sockets, system, "tcpdump")
    }

    fn build(
        config: MonitorConfig,
        procs: P,
        sockets: K,
        system: Y,
        tcpdump: &'static str,
    ) -> Result<Monitor<P, K, Y>, MonitorError> {
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
        if let Some(iface) = &config.tcpdump_interface {
            packets::valid_interface(iface)
                .map_err(|why| MonitorError::BadInterface(iface.clone(), why))?;
        }
        let mut m = Monitor {
            config,
            services,
            procs,
            sockets,
            system,
            sniffer: None,
            tcpdump,
            sniffer_error: None,
            sniffer_fresh: false,
        };
        m.start_sniffer();
        Ok(m)
    }

    /// Every service measured, built-in first: `(name, port)`.
    pub fn services(&self) -> &[(String, u16)] {
        &self.services
    }

    /// The id of `<svc>_in`/`<svc>_out` of service `index`: fixed for the core's built-in
    /// services (the first ones), else the slot `registry` gives the name (the same slot
    /// at every sample: slots never move).
    fn service_id(
        &self,
        index: usize,
        dir: Direction,
        registry: &mut Registry,
    ) -> Result<ObsId, (String, String)> {
        if let Some(id) = ObsId::service(index, dir) {
            return Ok(id);
        }
        let name = format!("{}_{}", self.services[index].0, dir.name());
        registry
            .register(&name)
            .map_err(|e| (name, format!("no observable slot: {e:?}")))
    }

    fn start_sniffer(&mut self) {
        // Elsewhere than Linux no sample reads it: do not start it at all.
        if !cfg!(target_os = "linux") || !self.config.tcpdump || self.sniffer.is_some() {
            return;
        }
        let iface = self.config.tcpdump_interface.as_deref();
        match packets::Sniffer::tcpdump_on(self.tcpdump, iface) {
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

    /// Measure everything once. Services beyond the core's built-in list get their
    /// observables' ids from `registry` (registered at their first sample).
    pub fn sample(&mut self, registry: &mut Registry) -> Sample {
        let mut s = Sample::default();
        self.sample_users(&mut s);
        self.sample_processes(&mut s);
        self.sample_disk(&mut s);
        self.sample_load(&mut s);
        let no_slot = self.sample_sockets(&mut s, registry);
        #[cfg(target_os = "linux")]
        self.sample_packets(&mut s);
        #[cfg(not(target_os = "linux"))]
        if self.config.tcpdump {
            s.unavailable("packets", NOT_LINUX);
        }
        s.unavailable.extend(no_slot);
        s
    }

    fn sample_users(&mut self, s: &mut Sample) {
        let mut users: Vec<(String, u32)> = Vec::new();
        let count = &mut |name: &[u8]| {
            let name = printable(name);
            match users.binary_search_by(|(n, _)| n.as_str().cmp(&name)) {
                Ok(i) => users[i].1 += 1,
                Err(i) => users.insert(i, (name, 1)),
            }
        };
        let listed = self.system.users(count, &mut noter(&mut s.notes, "users"));
        match listed {
            Ok(()) => {
                s.value_of(ObsId::USERS, users.len() as f64);
                s.keys_for(ObsId::USERS, Counted::Sessions, users);
            }
            Err(e) => s.unavailable("users", e),
        }
    }

    fn sample_processes(&mut self, s: &mut Sample) {
        let mut list = Vec::new();
        let add = &mut |p: &homeostat_core::feed::Process<'_>| {
            list.push(ProcessEntry {
                pid: p.pid,
                uid: p.uid,
                user: p.user.map(printable),
                command: printable(p.command),
            })
        };
        let listed = self
            .procs
            .processes(add, &mut noter(&mut s.notes, "processes"));
        match listed {
            Ok(()) => {
                list.sort_unstable_by_key(|p| p.pid);
                let root = list.iter().filter(|p| p.uid == 0).count();
                s.value_of(ObsId::ROOTPROCS, root as f64);
                s.value_of(ObsId::OTHERPROCS, (list.len() - root) as f64);
                let rk = procs::command_counts(list.iter().filter(|p| p.uid == 0));
                let ok = procs::command_counts(list.iter().filter(|p| p.uid != 0));
                s.keys_for(ObsId::ROOTPROCS, Counted::Commands, rk);
                s.keys_for(ObsId::OTHERPROCS, Counted::Commands, ok);
                s.processes = list;
            }
            Err(e) => s.unavailable("processes", e),
        }
    }

    fn sample_disk(&mut self, s: &mut Sample) {
        match self.system.disk() {
            Ok(space) => match space.percent_free() {
                Some(p) => s.value_of(ObsId::DISKFREE, f64::from(p)),
                None => s.unavailable(
                    "diskfree",
                    format!(
                        "{}: the file system reports no blocks",
                        self.config.disk.display()
                    ),
                ),
            },
            Err(e) => s.unavailable("diskfree", e),
        }
    }

    fn sample_load(&mut self, s: &mut Sample) {
        match self.system.load() {
            Ok(v) => s.value_of(ObsId::LOADAVG, f64::from(v)),
            Err(e) => s.unavailable("loadavg", e),
        }
    }

    /// Returns the service observables that got no id, as `unavailable` entries.
    fn sample_sockets(&mut self, s: &mut Sample, registry: &mut Registry) -> Vec<(String, String)> {
        let ports: Vec<u16> = self.services.iter().map(|(_, p)| *p).collect();
        let mut tally = net::Tally::new(&ports);
        let mut listening = Vec::new();
        let each = &mut |sock: &homeostat_core::feed::Socket| {
            tally.add(sock.local.1, sock.remote);
            if sock.listening {
                listening.push(ListeningPort {
                    proto: net::proto_name(sock.transport, sock.family),
                    port: sock.local.1,
                    addr: sock.local.0.to_string(),
                });
            }
        };
        let listed = self
            .sockets
            .sockets(each, &mut noter(&mut s.notes, "sockets"));
        if let Err(e) = listed {
            s.unavailable("sockets", e);
            return Vec::new();
        }
        listening.sort();
        listening.dedup();
        s.listening = listening;
        let mut no_slot = Vec::new();
        for (index, t) in tally.finish().into_iter().enumerate() {
            let counts = [
                (Direction::In, t.inbound, t.in_keys),
                (Direction::Out, t.outbound, t.out_keys),
            ];
            for (dir, n, keys) in counts {
                match self.service_id(index, dir, registry) {
                    Ok(id) => {
                        s.value_of(id, f64::from(n));
                        s.keys_for(id, Counted::Service { index, dir }, keys);
                    }
                    Err(e) => no_slot.push(e),
                }
            }
        }
        no_slot
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
        use crate::bounded::{limits::PROC_TABLE, read};
        if let Ok(b) = read(&net.join("fib_trie"), PROC_TABLE) {
            local::parse_fib_trie(&b, &mut local);
        }
        if let Ok(b) = read(&net.join("if_inet6"), PROC_TABLE) {
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
                let kinds = c.counts.into_iter().zip(c.keys).enumerate();
                for (index, ([n_in, n_out], [kin, kout])) in kinds {
                    let flows = [(Direction::In, n_in, kin), (Direction::Out, n_out, kout)];
                    for (dir, n, keys) in flows {
                        // KINDS is the core's PACKETS, in order (a test holds them equal).
                        let Some(id) = ObsId::packet(index, dir) else {
                            continue;
                        };
                        s.value_of(id, n as f64);
                        s.keys_for(
                            id,
                            Counted::Packets { index, dir },
                            keys.into_iter().collect(),
                        );
                    }
                }
            }
        }
    }
}

/// Read a whole file into `buf` in as few `read` calls as possible: every `read` of
/// `/proc/net/tcp{,6}` that does not start at 0 makes the kernel find its place again by
/// position in a hash table that other processes are changing, so a table read in small
/// chunks can repeat or skip sockets (seen: 11 sockets counted for 3 when 8 others came
/// and went meanwhile). Each `read` asks for all the room left in a buffer zeroed once
/// per call and doubled when full: linear in the table's size (zeroing the spare room
/// before every page-sized read, as an earlier version did, was quadratic: 10 s of CPU
/// for 50,000 sockets; `read_to_end` reads 8 KiB chunks and repeats sockets).
#[cfg(target_os = "linux")]
fn read_into(path: &std::path::Path, buf: &mut Vec<u8>) -> std::io::Result<()> {
    use std::io::Read;
    let limit = crate::bounded::limits::PROC_TABLE;
    let mut f = std::fs::File::open(path)?;
    let room = buf.capacity().max(64 * 1024);
    buf.clear();
    buf.resize(room, 0);
    let mut filled = 0;
    let r = loop {
        if filled == buf.len() {
            buf.resize(filled * 2, 0);
        }
        match f.read(&mut buf[filled..]) {
            Ok(0) => break Ok(()),
            Ok(n) if (filled + n) as u64 > limit => {
                break Err(crate::bounded::too_big(path, limit))
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    buf.truncate(if r.is_ok() { filled } else { 0 });
    r
}

/// Bytes as text, escaped as the core's [`homeostat_core::text::Escaped`]: printable
/// ASCII but `\` kept, every other byte written `\xNN`.
pub(crate) fn printable(b: &[u8]) -> String {
    homeostat_core::text::Escaped::new(b).to_string()
}

#[cfg(test)]
mod tests;
