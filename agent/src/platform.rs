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
