//! [`Fixture`]: a temporary directory with a tree, state and scratch dirs and a config,
//! the binary run against it, and the oracle's snapshots of its tree.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::fs::bpath;
use crate::json::assert_summary_last;
use crate::run::{homeostat_bin, is_root, run_cmd, Output};
use crate::snapshot::{stat_obj_inner, Snapshot};
use crate::text::canonify;
use crate::tree::{build_tree, t, TreeInfo};

/// A temporary directory holding a tree, a state dir, a scratch dir (same file system,
/// outside the tree, for staging replacements) and a config.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub tree: PathBuf,
    pub state: PathBuf,
    pub scratch: PathBuf,
    pub config: PathBuf,
    pub info: TreeInfo,
}

impl Fixture {
    /// The standard hostile tree with the standard config.
    pub fn new() -> Fixture {
        let fx = Fixture::bare();
        let info = build_tree(&fx.tree);
        let fx = Fixture { info, ..fx };
        fx.write_config("", "");
        fx
    }

    /// An empty tree directory; the caller fills it and writes the config.
    pub fn bare() -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix("homeostat-e2e-")
            .tempdir()
            .expect("tempdir");
        let tree = dir.path().join("tree");
        let state = dir.path().join("state");
        let scratch = dir.path().join("scratch");
        for d in [&tree, &state, &scratch] {
            std::fs::create_dir(d).expect("mkdir");
        }
        let config = dir.path().join("homeostat.toml");
        Fixture {
            dir,
            tree,
            state,
            scratch,
            config,
            info: TreeInfo {
                as_root: is_root(),
                xattrs: false,
            },
        }
    }

    /// Writes the config: `top` goes before the `[[files]]` block, `files_extra` inside it.
    pub fn write_config(&self, top: &str, files_extra: &str) {
        let root = self.tree_str();
        let cfg = format!(
            "{top}\n[[files]]\npath = \"{root}\"\nhash = \"sha256\"\nattrs = \"all\"\ndepth = \"inf\"\n\
             exclude = [\"*.swp\", \"{root}/skip\"]\n{files_extra}\n"
        );
        std::fs::write(&self.config, cfg).expect("write config");
    }

    pub fn tree_str(&self) -> &str {
        self.tree.to_str().expect("temp dir path is UTF-8")
    }

    /// Absolute path bytes of `rel` (`b""` is the tree root).
    pub fn abs(&self, rel: &[u8]) -> Vec<u8> {
        let mut v = self.tree.as_os_str().as_bytes().to_vec();
        if !rel.is_empty() {
            v.push(b'/');
            v.extend_from_slice(rel);
        }
        v
    }

    pub fn path(&self, rel: &[u8]) -> PathBuf {
        bpath(&self.abs(rel))
    }

    pub fn db(&self) -> PathBuf {
        self.state.join("files.db")
    }

    pub fn log_path(&self) -> PathBuf {
        self.state.join("file_changes.log")
    }

    /// The log's bytes (empty when it does not exist).
    pub fn log_bytes(&self) -> Vec<u8> {
        match std::fs::read(self.log_path()) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("read log: {e}"),
        }
    }

    /// The handle the log uses for the tree: `files` + canonified root.
    pub fn handle(&self) -> String {
        format!("files{}", canonify(self.tree.as_os_str().as_bytes()))
    }

    /// `homeostat --config CFG --state-dir DIR ARGS…`
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_os(args.iter().map(OsString::from).collect())
    }

    pub fn run_os(&self, args: Vec<OsString>) -> Output {
        let all = self.with_dirs(args);
        let xdg = self.xdg();
        let o = run_cmd(
            homeostat_bin(),
            &all,
            &[
                ("XDG_STATE_HOME", xdg.as_os_str()),
                ("HOME", self.dir.path().as_os_str()),
            ],
        );
        if all.iter().any(|a| a == "--json") {
            o.json(); // every line must be a JSON object with a "type"
        }
        o
    }

    /// Starts `homeostat --config CFG --state-dir DIR ARGS…` in the background (output
    /// discarded), for tests that kill it.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        Command::new(homeostat_bin())
            .args(self.with_dirs(args.iter().map(OsString::from).collect()))
            .env("XDG_STATE_HOME", self.xdg())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn homeostat")
    }

    /// `homeostat --config CFG --state-dir DIR ARGS…` with the environment of [`Self::run`],
    /// not started: for tests that read a daemon's output as it comes.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(homeostat_bin());
        c.args(self.with_dirs(args.iter().map(OsString::from).collect()))
            .env("XDG_STATE_HOME", self.xdg())
            .env("HOME", self.dir.path());
        c
    }

    /// `--config CFG --state-dir DIR` followed by `args`.
    fn with_dirs(&self, args: Vec<OsString>) -> Vec<OsString> {
        let mut all: Vec<OsString> = vec![
            "--config".into(),
            self.config.clone().into(),
            "--state-dir".into(),
            self.state.clone().into(),
        ];
        all.extend(args);
        all
    }

    /// The `XDG_STATE_HOME` every run gets: inside the fixture, never the user's.
    fn xdg(&self) -> PathBuf {
        self.dir.path().join("xdg")
    }

    /// `init --json`, which must exit 0 and end with a summary.
    pub fn init(&self) -> Output {
        let o = self.run(&["--json", "init"]);
        o.expect_code(0);
        assert_summary_last(&o);
        o
    }

    /// Is this absolute path excluded by the standard config?
    pub fn excluded(&self, abs: &[u8]) -> bool {
        abs.ends_with(b".swp") || abs == self.abs(t::SKIP).as_slice()
    }

    /// The oracle's view of the whole tree (excluded entries left out, like the config).
    pub fn snapshot(&self, prev: Option<&Snapshot>) -> Snapshot {
        let mut out = Snapshot::new();
        let root = self.abs(b"");
        self.walk(&root, prev, &mut out);
        out
    }

    fn walk(&self, abs: &[u8], prev: Option<&Snapshot>, out: &mut Snapshot) {
        let path = bpath(abs);
        let o = stat_obj_inner(&path, prev.and_then(|p| p.get(abs)), prev.is_some());
        let is_dir = o.kind == "directory";
        out.insert(abs.to_vec(), o);
        if is_dir {
            let mut names: Vec<Vec<u8>> = std::fs::read_dir(&path)
                .expect("read_dir")
                .map(|e| e.expect("dirent").file_name().into_vec())
                .collect();
            names.sort();
            for n in names {
                let mut child = abs.to_vec();
                child.push(b'/');
                child.extend_from_slice(&n);
                if !self.excluded(&child) {
                    self.walk(&child, prev, out);
                }
            }
        }
    }

    /// The oracle's snapshot after init: the baseline the binary should have recorded.
    pub fn baseline(&self) -> Snapshot {
        self.snapshot(None)
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}
