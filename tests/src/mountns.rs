//! [`MountNs`]: a private mount namespace held open by a sleeping process, so a test can
//! mount a small tmpfs or a read-only bind over a fixture's state directory, run the
//! binary inside it as many times as it likes (`nsenter`), and read and write the files
//! there through `/proc/PID/root` — all without touching the host's mounts.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::fixture::Fixture;
use crate::run::{homeostat_bin, run_cmd, Output};

/// A mount namespace of its own; its holder is killed when dropped.
pub struct MountNs {
    holder: Child,
}

impl MountNs {
    /// A new private mount namespace, or `None` (with the reason) where this host gives
    /// none (not root, no `unshare`).
    pub fn new() -> Result<MountNs, String> {
        let holder = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sleep", "3600"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run unshare: {e}"))?;
        let ns = MountNs { holder };
        // The namespace exists once `sleep` runs in it: its mount namespace differs.
        let mine = std::fs::read_link("/proc/self/ns/mnt").map_err(|e| e.to_string())?;
        for _ in 0..500 {
            let theirs = std::fs::read_link(format!("/proc/{}/ns/mnt", ns.pid()));
            match theirs {
                Ok(t) if t != mine => return Ok(ns),
                _ => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        }
        Err(String::from(
            "unshare -m made no mount namespace (not root?)",
        ))
    }

    pub fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// Runs `sh -c script` in the namespace; panics naming it when it fails.
    pub fn sh(&self, script: &str) {
        let o = Command::new("nsenter")
            .args([
                "-t",
                &self.pid().to_string(),
                "-m",
                "--",
                "sh",
                "-c",
                script,
            ])
            .output()
            .expect("run nsenter");
        assert!(
            o.status.success(),
            "in the mount namespace: `{script}` failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// A tmpfs of `kib` KiB over `dir` (which stays empty outside).
    pub fn tmpfs(&self, dir: &Path, kib: u64) {
        self.sh(&format!(
            "mount -t tmpfs -o size={kib}k,mode=0700 homeostat-test '{}'",
            dir.display()
        ));
    }

    /// `dir` bound over itself, then made read-only (`ro`) or writable again.
    pub fn bind(&self, dir: &Path) {
        self.sh(&format!("mount --bind '{0}' '{0}'", dir.display()));
    }

    pub fn read_only(&self, dir: &Path, ro: bool) {
        let how = if ro { "ro" } else { "rw" };
        self.sh(&format!("mount -o remount,bind,{how} '{}'", dir.display()));
    }

    /// `path` as the namespace sees it, for this process to read and write.
    pub fn path(&self, path: &Path) -> PathBuf {
        let rel = path.strip_prefix("/").unwrap_or(path);
        PathBuf::from(format!("/proc/{}/root", self.pid())).join(rel)
    }

    /// `homeostat --config CFG --state-dir DIR ARGS…` on `fx`, in the namespace.
    pub fn run(&self, fx: &Fixture, args: &[&str]) -> Output {
        let mut all: Vec<OsString> = ["-t", &self.pid().to_string(), "-m", "--"]
            .iter()
            .map(OsString::from)
            .collect();
        all.push(homeostat_bin().into());
        all.extend([
            "--config".into(),
            fx.config.clone().into(),
            "--state-dir".into(),
            fx.state.clone().into(),
        ]);
        all.extend(args.iter().map(OsString::from));
        let xdg = fx.dir.path().join("xdg");
        run_cmd(
            Path::new("nsenter"),
            &all,
            &[
                ("XDG_STATE_HOME", xdg.as_os_str()),
                ("HOME", fx.dir.path().as_os_str()),
            ],
        )
    }
}

impl Drop for MountNs {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
