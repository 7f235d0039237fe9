//! An rpm root of the test's own: packages built by `rpmbuild` (noarch, a minimal spec,
//! `%config(noreplace)` for configuration files), installed, upgraded and erased with
//! `rpm --root DIR --dbpath /var/lib/rpm`, and the `[packages]` config that points
//! homeostat there. The machine's own package state is never touched.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::run::{run_with, Output};

/// One file of a package: path inside the root (`usr/bin/x`), content, `%config` or not.
pub struct RpmFile<'a> {
    pub path: &'a str,
    pub content: &'a [u8],
    pub config: bool,
}

/// The database inside the root.
pub const DBPATH: &str = "/var/lib/rpm";

/// A test directory with `root/` (rpm's `--root`), `build/` and `state/`.
pub struct RpmRoot {
    pub dir: TempDir,
}

impl Default for RpmRoot {
    fn default() -> Self {
        Self::new()
    }
}

impl RpmRoot {
    pub fn new() -> RpmRoot {
        let dir = tempfile::Builder::new().prefix("hs-rpm").tempdir().unwrap();
        let d = RpmRoot { dir };
        for sub in ["root/usr", "root/etc", "build", "state"] {
            fs::create_dir_all(d.p(sub)).unwrap();
        }
        d
    }

    /// A path under the test directory.
    pub fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A path inside the rpm root.
    pub fn root(&self, rel: &str) -> PathBuf {
        self.p("root").join(rel)
    }

    /// Builds `NAME-VERSION-1.noarch.rpm` (files owned by root, mode 0755 for `usr/bin/`,
    /// 0644 otherwise) and returns its path.
    pub fn build(&self, name: &str, version: &str, files: &[RpmFile<'_>]) -> PathBuf {
        let top = self.p(&format!("build/{name}-{version}"));
        let sources = top.join("SOURCES");
        fs::create_dir_all(&sources).unwrap();
        let (mut install, mut list) = (String::new(), String::new());
        for (i, f) in files.iter().enumerate() {
            fs::write(sources.join(format!("f{i}")), f.content).unwrap();
            let mode = if f.path.starts_with("usr/bin/") {
                "0755"
            } else {
                "0644"
            };
            writeln!(
                install,
                "install -D -m {mode} %{{_sourcedir}}/f{i} %{{buildroot}}/{}",
                f.path
            )
            .unwrap();
            let config = if f.config { "%config(noreplace) " } else { "" };
            writeln!(list, "{config}/{}", f.path).unwrap();
        }
        let spec = format!(
            "Name: {name}\nVersion: {version}\nRelease: 1\nSummary: test\nLicense: MIT\n\
             BuildArch: noarch\n%description\ntest\n%install\n{install}\n\
             %files\n%defattr(-,root,root,-)\n{list}"
        );
        let spec_file = top.join(format!("{name}.spec"));
        fs::write(&spec_file, spec).unwrap();
        let out = Command::new("rpmbuild")
            .arg("--define")
            .arg(format!("_topdir {}", top.display()))
            .args([
                "--define",
                "_build_id_links none",
                "--nodeps",
                "--quiet",
                "-bb",
            ])
            .arg(&spec_file)
            .env("LC_ALL", "C")
            .output()
            .expect("rpmbuild (apt-get install rpm)");
        assert!(
            out.status.success(),
            "rpmbuild: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        top.join(format!("RPMS/noarch/{name}-{version}-1.noarch.rpm"))
    }

    /// `rpm --root ROOT --dbpath /var/lib/rpm ARGS…`, which must succeed.
    pub fn rpm(&self, args: &[&OsString]) {
        let out = Command::new("rpm")
            .arg("--root")
            .arg(self.p("root"))
            .args(["--dbpath", DBPATH])
            .args(args)
            .env("LC_ALL", "C")
            .output()
            .expect("rpm (apt-get install rpm)");
        assert!(
            out.status.success(),
            "rpm {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Installs or upgrades (`-U`).
    pub fn install(&self, rpm: &Path) {
        let args: Vec<OsString> = ["-U", "--nodeps", "--ignoreos", "--ignorearch"]
            .iter()
            .map(OsString::from)
            .chain([rpm.as_os_str().to_owned()])
            .collect();
        self.rpm(&args.iter().collect::<Vec<_>>());
    }

    /// Erases `name` (`-e`).
    pub fn erase(&self, name: &str) {
        self.rpm(&[&"-e".into(), &"--nodeps".into(), &name.into()]);
    }

    /// The config: `[[files]]` on the root's `usr` and `etc`, `update = false`, and
    /// `[packages] source = "rpm"` pointing at this root.
    pub fn config(&self, accept: bool) -> PathBuf {
        let root = self.p("root");
        let accept = if accept {
            "accept = \"verified\"\n"
        } else {
            ""
        };
        let text = format!(
            "update = false\n[[files]]\npath = \"{r}/usr\"\n[[files]]\npath = \"{r}/etc\"\n\
             [packages]\nsource = \"rpm\"\n{accept}root = \"{r}\"\nrpm_dbpath = \"{DBPATH}\"\n",
            r = root.display(),
        );
        let cfg = self.p("homeostat.toml");
        fs::write(&cfg, text).unwrap();
        cfg
    }

    /// `homeostat --config … --state-dir … ARGS…`.
    pub fn run(&self, cfg: &Path, args: &[&str]) -> Output {
        run_with(cfg, &self.p("state"), args)
    }
}
