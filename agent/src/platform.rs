//! The one place the agent names its platform crate; every other module uses what this
//! one re-exports.
//!
//! FreeBSD builds use the same walker and readers (plain POSIX where they can be), and the
//! monitor's process, socket, load, disk and user feeds of `platform-bsd` ([`Feeds`],
//! [`sockets`]); the Linux-only feeds left (tcpdump, the real-time watch) report
//! themselves unavailable there.

#[cfg(any(target_os = "linux", target_os = "freebsd"))]
pub use homeostat_linux::proctable;
/// The real-time watch: Linux only (fanotify, inotify).
#[cfg(target_os = "linux")]
pub use homeostat_linux::watch;
#[cfg(any(target_os = "linux", target_os = "freebsd"))]
pub use homeostat_linux::{
    command, logtail, monitor, Exclude, Pool, StateDir, SystemClock, TreeSpec,
};
#[cfg(any(target_os = "linux", target_os = "freebsd"))]
pub use homeostat_linux::{scan_one, Scan, Scanned, Unseen};

/// The monitor's feeds on this platform: the Linux readers, or FreeBSD's
/// (`ps`, `sockstat`, `sysctl`, `df`, `utx.active`) through the same [`monitor::Monitor`].
#[cfg(target_os = "linux")]
pub type Feeds = monitor::Monitor;
/// The monitor's feeds on this platform: the Linux readers, or FreeBSD's
/// (`ps`, `sockstat`, `sysctl`, `df`, `utx.active`) through the same [`monitor::Monitor`].
#[cfg(target_os = "freebsd")]
pub type Feeds = monitor::Monitor<
    homeostat_bsd::live::Processes,
    homeostat_bsd::live::Sockets,
    homeostat_bsd::live::System,
>;

/// This platform's [`Feeds`] as `config` asks (of its paths FreeBSD reads `passwd` and
/// `disk`; procfs and utmp are Linux's).
#[cfg(target_os = "linux")]
pub fn feeds(config: monitor::MonitorConfig) -> Result<Feeds, monitor::MonitorError> {
    monitor::Monitor::new(config)
}

/// This platform's [`Feeds`] as `config` asks (of its paths FreeBSD reads `passwd` and
/// `disk`; procfs and utmp are Linux's).
#[cfg(target_os = "freebsd")]
pub fn feeds(config: monitor::MonitorConfig) -> Result<Feeds, monitor::MonitorError> {
    use homeostat_bsd::live;
    let procs = live::Processes::new(&config.passwd);
    let system = live::System::new(&config.disk, homeostat_bsd::utx::ACTIVE);
    monitor::Monitor::with_sources(config, procs, live::Sockets, system)
}

/// The socket list of this platform (`/proc/net` on Linux, `sockstat` on FreeBSD).
#[cfg(target_os = "linux")]
pub fn sockets() -> monitor::net::Sockets {
    monitor::net::Sockets::new(std::path::Path::new("/proc"))
}

/// The socket list of this platform (`/proc/net` on Linux, `sockstat` on FreeBSD).
#[cfg(target_os = "freebsd")]
pub fn sockets() -> homeostat_bsd::live::Sockets {
    homeostat_bsd::live::Sockets
}

/// The process table of the `[processes]` promises: `/proc` on Linux.
#[cfg(target_os = "linux")]
pub fn process_table() -> Result<Vec<proctable::ProcRecord>, String> {
    proctable::ProcTable::new("/proc", "/etc/passwd")
        .read()
        .map(|(records, _vanished)| records)
        .map_err(|e| format!("/proc: {e}"))
}

/// The process table of the `[processes]` promises: one `ps` listing on FreeBSD, owners
/// named from `/etc/passwd`, lines `ps` printed that are not a process left out.
#[cfg(target_os = "freebsd")]
pub fn process_table() -> Result<Vec<proctable::ProcRecord>, String> {
    use homeostat_bsd::{live, ps, pstable};
    let out = live::process_table(&mut |_| {}).map_err(|e| e.to_string())?;
    let passwd = std::path::Path::new("/etc/passwd");
    let db =
        crate::limits::read(passwd, homeostat_linux::bounded::limits::PASSWD).unwrap_or_default();
    let names = ps::passwd_names(&db);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut records: Vec<proctable::ProcRecord> = pstable::parse(&out)
        .0
        .iter()
        .map(|r| proctable::ProcRecord {
            pid: r.pid,
            ppid: r.ppid,
            pgid: r.pgid,
            uid: r.uid,
            owner: names
                .get(&r.uid)
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .unwrap_or_default(),
            command: String::from_utf8_lossy(r.args).into_owned(),
            vsize: r.vsz,
            rss: r.rss,
            ttime: r.cpu,
            stime: now.saturating_sub(r.elapsed),
            status: String::from_utf8_lossy(&r.state[..r.state.len().min(1)]).into_owned(),
            tty: r.tty.map_or_else(
                || "?".to_string(),
                |t| String::from_utf8_lossy(t).into_owned(),
            ),
            priority: r.nice,
            threads: r.threads,
        })
        .collect();
    records.sort_unstable_by_key(|r| r.pid);
    Ok(records)
}
