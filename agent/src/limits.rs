//! The size limits of the agent's own inputs, in one place (the Linux inputs' are in
//! `homeostat_linux::bounded::limits`). Each is far above what a working host holds and
//! far below what would hurt it; past it the input is refused with an error naming the
//! file and the limit, never cut silently. See docs/reliability.md for the whole table.

#[cfg(any(test, target_os = "freebsd"))]
pub use homeostat_linux::bounded::read;
pub use homeostat_linux::bounded::{read_to_string, Limited};

/// The config file: hand-written TOML; the built-in default is ~10 KiB.
pub const CONFIG: u64 = 1 << 20;
/// `[database] key`: 64 hex digits and a newline.
pub const SIGNING_KEY: u64 = 4 << 10;
/// `[peers] hosts_file`: one `HOST:PORT` a line; 1 MiB is ~40,000 peers.
pub const HOSTS_FILE: u64 = 1 << 20;
/// `heartbeat.json`: one small JSON object.
pub const HEARTBEAT: u64 = 64 << 10;
/// `metrics.json`: counters of one host, a few KiB.
pub const METRICS_STATE: u64 = 16 << 20;
/// `measurements.state`: one line (~200 bytes) per measured log.
pub const MEASURE_STATE: u64 = 64 << 20;
/// `ports.json`: one entry per listening socket.
pub const PORTS_STATE: u64 = 64 << 20;
/// `rules.json`: the states of the `[[rule]]` blocks (at most 256 each).
pub const RULES_STATE: u64 = 64 << 20;
/// `peaks.json`: at most 64 keys per observable.
pub const PEAKS_STATE: u64 = 64 << 20;
/// The owners recorded with a baseline: one line (~100 bytes) per file of a package.
pub const OWNERS: u64 = 1 << 30;
/// One line of a `replay` file: `epoch,observable,value` needs < 80 bytes.
pub const REPLAY_LINE: u64 = 4 << 10;

#[cfg(test)]
mod tests {
    use super::*;

    /// Each whole-file limit as the agent reads it: the limit accepted, a byte over refused
    /// with the file and the limit named.
    #[test]
    fn inputs_read_without_a_bound_are_bounded() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("in");
        for limit in [SIGNING_KEY, HEARTBEAT, CONFIG, HOSTS_FILE] {
            std::fs::write(&p, vec![b'#'; limit as usize]).unwrap();
            assert_eq!(read(&p, limit).unwrap().len() as u64, limit);
            std::fs::write(&p, vec![b'#'; limit as usize + 1]).unwrap();
            let e = read(&p, limit).unwrap_err().to_string();
            assert!(
                e.contains(&format!(
                    "{} is larger than its limit of {limit} bytes",
                    p.display()
                )),
                "{e}"
            );
        }
    }
}
