//! A dpkg root of the test's own: packages built by `dpkg-deb --build`, installed,
//! upgraded and purged with `dpkg --root`, an apt cache and package list that vouch for
//! the archives put in them, and the `[packages]` config that points homeostat there. The
//! machine's own package state is never touched.

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};
use tempfile::TempDir;

use crate::run::{run_with, Output};

/// One file of a package: path inside the root (`usr/bin/x`), content, conffile or not.
pub struct PkgFile<'a> {
    pub path: &'a str,
    pub content: &'a [u8],
    pub conffile: bool,
}

/// A test directory with `root/` (dpkg's instdir and admindir), `debs/`, `cache/`,
/// `lists/` and `state/`.
pub struct DpkgRoot {
    pub dir: TempDir,
}

impl Default for DpkgRoot {
    fn default() -> Self {
        Self::new()
    }
}

impl DpkgRoot {
    pub fn new() -> DpkgRoot {
        let dir = tempfile::Builder::new()
            .prefix("hs-dpkg")
            .tempdir()
            .unwrap();
        let d = DpkgRoot { dir };
        for sub in [
            "root/var/lib/dpkg/info",
            "root/var/lib/dpkg/updates",
            "root/var/log",
        ] {
            fs::create_dir_all(d.p(sub)).unwrap();
        }
        for sub in ["debs", "cache", "lists", "state"] {
            fs::create_dir_all(d.p(sub)).unwrap();
        }
        fs::write(d.p("root/var/lib/dpkg/status"), "").unwrap();
        fs::write(d.p("root/var/lib/dpkg/available"), "").unwrap();
        d
    }

    /// A path under the test directory.
    pub fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A path inside the dpkg root.
    pub fn root(&self, rel: &str) -> PathBuf {
        self.p("root").join(rel)
    }

    pub fn admin(&self) -> PathBuf {
        self.root("var/lib/dpkg")
    }

    pub fn log(&self) -> PathBuf {
        self.root("var/log/dpkg.log")
    }

    /// Builds `NAME_VERSION_all.deb` in `debs/` (files owned by root, mode 0755 for
    /// `usr/bin/*`, 0644 else).
    pub fn build(&self, name: &str, version: &str, files: &[PkgFile<'_>]) -> PathBuf {
        let src = self.p(&format!("src-{name}-{version}"));
        fs::create_dir_all(src.join("DEBIAN")).unwrap();
        fs::write(
            src.join("DEBIAN/control"),
            format!(
                "Package: {name}\nVersion: {version}\nArchitecture: all\n\
                 Maintainer: test <test@example.org>\nDescription: test package\n"
            ),
        )
        .unwrap();
        let mut conffiles = String::new();
        for f in files {
            let p = src.join(f.path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, f.content).unwrap();
            let mode = if f.path.starts_with("usr/bin/") {
                0o755
            } else {
                0o644
            };
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
            if f.conffile {
                conffiles.push_str(&format!("/{}\n", f.path));
            }
        }
        if !conffiles.is_empty() {
            fs::write(src.join("DEBIAN/conffiles"), conffiles).unwrap();
        }
        let deb = self.p(&format!("debs/{name}_{version}_all.deb"));
        let out = Command::new("dpkg-deb")
            .args(["--root-owner-group", "--build"])
            .arg(&src)
            .arg(&deb)
            .output()
            .expect("dpkg-deb (package dpkg) is installed");
        assert!(
            out.status.success(),
            "dpkg-deb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        deb
    }

    /// `dpkg --root=ROOT ARGS…`, which must succeed; the old conffile is kept on upgrade.
    pub fn dpkg(&self, args: &[&OsString]) {
        let out = Command::new("dpkg")
            .arg(format!("--root={}", self.p("root").display()))
            .arg(format!("--log={}", self.log().display()))
            .args([
                "--force-not-root",
                "--force-script-chrootless",
                "--force-confold",
            ])
            .args(args)
            .output()
            .expect("dpkg");
        assert!(
            out.status.success(),
            "dpkg {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn install(&self, deb: &Path) {
        self.dpkg(&[&"-i".into(), &deb.as_os_str().to_owned()]);
    }

    pub fn purge(&self, name: &str) {
        self.dpkg(&[&"--purge".into(), &name.into()]);
    }

    /// Puts `deb` in apt's cache and its SHA-256 in a package list, as `apt-get` leaves
    /// them after a download.
    pub fn cache(&self, deb: &Path, name: &str, version: &str) {
        let bytes = fs::read(deb).unwrap();
        let sha = Sha256::digest(&bytes);
        let hex: String = sha.iter().map(|b| format!("{b:02x}")).collect();
        fs::write(self.p("cache").join(deb.file_name().unwrap()), &bytes).unwrap();
        let mut lists = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.p("lists/test_dists_stable_main_binary-amd64_Packages"))
            .unwrap();
        writeln!(
            lists,
            "Package: {name}\nVersion: {version}\nArchitecture: all\nSHA256: {hex}\n"
        )
        .unwrap();
    }

    /// The config: `[[files]]` on the root's `usr` and `etc`, `update = false`, and
    /// `[packages]` pointing at this root.
    pub fn config(&self, accept: bool) -> PathBuf {
        let root = self.p("root");
        let accept = if accept {
            "accept = \"verified\"\n"
        } else {
            ""
        };
        let text = format!(
            "update = false\n[[files]]\npath = \"{r}/usr\"\n[[files]]\npath = \"{r}/etc\"\n\
             [packages]\n{accept}root = \"{r}\"\ndpkg_dir = \"{a}\"\ndpkg_log = \"{l}\"\n\
             apt_cache = \"{c}\"\napt_lists = \"{s}\"\n",
            r = root.display(),
            a = self.admin().display(),
            l = self.log().display(),
            c = self.p("cache").display(),
            s = self.p("lists").display(),
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
