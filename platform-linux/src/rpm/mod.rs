//! The rpm database as a [`PackageSource`], read through rpm's own tool: one
//! `rpm [--root R] --dbpath D -qa --qf …` gives every installed package's name, arch,
//! version, `INSTALLTIME`, and for each of its files the header's digest, mode, owner,
//! flags and link target (what `rpm -V` checks against).
//!
//! rpm keeps no transaction log, so:
//! - a package whose `INSTALLTIME` is in the window was installed or upgraded in it: the
//!   source says `Install` with `to` the version installed now and no `from` (the caller,
//!   which recorded the owner's version with the baseline, tells an upgrade from it);
//! - a package asked for by name ([`PackageSource::by_name`], an owner recorded with the
//!   baseline) that is no longer installed was removed since it was recorded: `Remove`,
//!   with no versions.
//!
//! `%config` files are checked like every file, against the header's SHA-256, type, mode
//! and owner, which is the conffile rule's guarantee (only the package's own content
//! passes) and more: [`PackageSource::conffile`] (an MD5) is never given.
//!
//! A file's content is verified only when the tree hashes with SHA-256 (the header's
//! algorithm, `FILEDIGESTALGO` 8); with another algorithm, files are not verified.
//! Damaged lines are [`Problem`]s, never a reason to stop.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use homeostat_core::digest::{digest, Algorithm, Digest};
use homeostat_core::event::Epoch;
use homeostat_core::fim::Kind;
use homeostat_core::package::{Archived, Expected, PackageSource, TxKind};

use crate::dpkg::{path_key, Problem};

/// Where the rpm database is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    /// rpm's `--root` (`/` on a host): where the packages are installed.
    pub root: PathBuf,
    /// rpm's `--dbpath`, inside the root (`/var/lib/rpm`).
    pub dbpath: PathBuf,
    /// The `rpm` program (an absolute path by default: the agent runs as root).
    pub rpm: PathBuf,
}

impl Default for Paths {
    fn default() -> Paths {
        Paths {
            root: "/".into(),
            dbpath: "/var/lib/rpm".into(),
            rpm: "/usr/bin/rpm".into(),
        }
    }
}

/// The query: a `P` line a package, an `F` line a file, fields split by tabs.
const QF: &str = "P\\t%{NAME}\\t%{ARCH}\\t%{EPOCHNUM}\\t%{VERSION}-%{RELEASE}\\t%{INSTALLTIME}\\t\
%{FILEDIGESTALGO}\\n[F\\t%{FILENAMES}\\t%{FILEDIGESTS}\\t%{FILEMODES}\\t%{FILEUSERNAME}\\t\
%{FILEGROUPNAME}\\t%{FILEFLAGS}\\t%{FILELINKTOS}\\n]";

/// `RPMFILE_GHOST`: listed, not shipped.
const GHOST: u32 = 1 << 6;
/// `PGPHASHALGO_SHA256`.
const SHA256: u32 = 8;

#[derive(Debug)]
struct Pkg {
    name: String,
    arch: String,
    version: Option<String>,
    installed_at: Option<Epoch>,
}

/// One file of a header.
#[derive(Clone, Copy, Debug)]
struct File {
    kind: Kind,
    mode: u32,
    uid: Option<u32>,
    gid: Option<u32>,
    sha256: Option<[u8; 32]>,
    target: Option<[u8; 32]>,
    ghost: bool,
}

/// The rpm database of one root, loaded for one check.
pub struct Rpm {
    pkgs: Vec<Pkg>,
    by_name: HashMap<(String, String), u32>,
    owners: HashMap<u64, Vec<u32>>,
    files: HashMap<(u32, u64), File>,
    problems: Vec<Problem>,
}

/// `name:x:uid:…` lines of `passwd` or `group`.
fn ids(file: &Path) -> HashMap<String, u32> {
    let mut m = HashMap::from([("root".to_owned(), 0)]);
    if let Ok(s) = crate::bounded::read_to_string(file, crate::bounded::limits::PASSWD) {
        for l in s.lines() {
            let w: Vec<&str> = l.split(':').collect();
            if let (Some(n), Some(Ok(id))) = (w.first(), w.get(2).map(|i| i.parse())) {
                m.insert((*n).to_owned(), id);
            }
        }
    }
    m
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn kind_of(mode: u32) -> Option<Kind> {
    Some(match mode & 0o170000 {
        0o100000 => Kind::File,
        0o040000 => Kind::Dir,
        0o120000 => Kind::Symlink,
        0o010000 => Kind::Fifo,
        0o140000 => Kind::Socket,
        0o020000 => Kind::CharDevice,
        0o060000 => Kind::BlockDevice,
        _ => return None,
    })
}

impl Rpm {
    /// Runs the query. Fails when rpm cannot be run or says the database cannot be read.
    pub fn open(paths: &Paths) -> std::io::Result<Rpm> {
        let mut cmd = Command::new(&paths.rpm);
        cmd.env("LC_ALL", "C");
        if paths.root != Path::new("/") {
            cmd.arg("--root").arg(&paths.root);
        }
        cmd.arg("--dbpath")
            .arg(&paths.dbpath)
            .args(["-qa", "--qf", QF]);
        let out = cmd
            .output()
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", paths.rpm.display())))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(std::io::Error::other(format!(
                "rpm -qa failed ({}): {}",
                out.status,
                err.trim()
            )));
        }
        let etc = paths.root.join("etc");
        Ok(Rpm::parse(
            &out.stdout,
            &ids(&etc.join("passwd")),
            &ids(&etc.join("group")),
            &paths.dbpath,
        ))
    }

    /// Reads the query's output; `what` names it in problems.
    fn parse(
        out: &[u8],
        users: &HashMap<String, u32>,
        groups: &HashMap<String, u32>,
        what: &Path,
    ) -> Rpm {
        let mut r = Rpm {
            pkgs: Vec::new(),
            by_name: HashMap::new(),
            owners: HashMap::new(),
            files: HashMap::new(),
            problems: Vec::new(),
        };
        // The package the `F` lines belong to, and whether its digests are SHA-256.
        let mut cur: Option<(u32, bool)> = None;
        for (i, line) in out.split(|&b| b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let Ok(line) = std::str::from_utf8(line) else {
                r.problems
                    .push(Problem::at(what, i + 1, "not UTF-8: line skipped"));
                continue;
            };
            let w: Vec<&str> = line.split('\t').collect();
            match w[..] {
                ["P", name, arch, epoch, vr, t, algo] => {
                    let version = match epoch {
                        "0" => vr.to_owned(),
                        e => format!("{e}:{vr}"),
                    };
                    let id = r.pkgs.len() as u32;
                    r.pkgs.push(Pkg {
                        name: name.to_owned(),
                        arch: arch.to_owned(),
                        version: Some(version),
                        installed_at: t.parse().ok(),
                    });
                    r.by_name.insert((name.to_owned(), arch.to_owned()), id);
                    cur = Some((id, algo.parse() == Ok(SHA256)));
                }
                ["F", path, dig, mode, user, group, flags, link] => {
                    let (Some((id, sha)), Ok(mode), Ok(flags)) =
                        (cur, mode.parse::<u32>(), flags.parse::<u32>())
                    else {
                        r.problems
                            .push(Problem::at(what, i + 1, "expected a file of a package"));
                        continue;
                    };
                    let Some(kind) = kind_of(mode) else {
                        r.problems
                            .push(Problem::at(what, i + 1, "unknown file type"));
                        continue;
                    };
                    let f = File {
                        kind,
                        mode: mode & 0o7777,
                        uid: users.get(user).copied(),
                        gid: groups.get(group).copied(),
                        sha256: sha.then(|| hex32(dig)).flatten(),
                        target: (kind == Kind::Symlink).then(|| {
                            digest(Algorithm::Sha256, link.as_bytes())
                                .as_bytes()
                                .try_into()
                                .unwrap_or([0; 32])
                        }),
                        ghost: flags & GHOST != 0,
                    };
                    let key = path_key(path.as_bytes());
                    let owners = r.owners.entry(key).or_default();
                    if !owners.contains(&id) {
                        owners.push(id);
                    }
                    r.files.insert((id, key), f);
                }
                _ => r.problems.push(Problem::at(
                    what,
                    i + 1,
                    "expected a package or a file of the query (a tab or newline in a name?)",
                )),
            }
        }
        r
    }

    /// Problems found since the last call.
    pub fn take_problems(&mut self) -> Vec<Problem> {
        std::mem::take(&mut self.problems)
    }
}

impl PackageSource for Rpm {
    fn owners(&mut self, path: &[u8]) -> impl Iterator<Item = u32> + '_ {
        self.owners
            .get(&path_key(path))
            .into_iter()
            .flatten()
            .copied()
    }

    fn by_name(&mut self, name: &str, arch: &str) -> Option<u32> {
        let key = (name.to_owned(), arch.to_owned());
        if let Some(&id) = self.by_name.get(&key) {
            return Some(id);
        }
        // Recorded with the baseline and not installed now: removed since.
        let id = self.pkgs.len() as u32;
        self.pkgs.push(Pkg {
            name: key.0.clone(),
            arch: key.1.clone(),
            version: None,
            installed_at: None,
        });
        self.by_name.insert(key, id);
        Some(id)
    }

    fn name(&self, id: u32) -> (&str, &str) {
        let p = &self.pkgs[id as usize];
        (&p.name, &p.arch)
    }

    fn installed(&self, id: u32) -> Option<&str> {
        self.pkgs[id as usize].version.as_deref()
    }

    fn transaction(
        &mut self,
        id: u32,
        since: Epoch,
        now: Epoch,
    ) -> Option<(TxKind, Option<&str>, Option<&str>)> {
        let p = &self.pkgs[id as usize];
        match (&p.version, p.installed_at) {
            (None, _) => Some((TxKind::Remove, None, None)),
            (Some(v), Some(t)) if t >= since && t <= now => {
                Some((TxKind::Install, None, Some(v.as_str())))
            }
            _ => None,
        }
    }

    fn lists(&mut self, id: u32, path: &[u8]) -> bool {
        self.files.contains_key(&(id, path_key(path)))
    }

    fn conffile(&mut self, _id: u32, _path: &[u8]) -> Option<[u8; 16]> {
        None
    }

    fn expected(&mut self, id: u32, path: &[u8], alg: Algorithm) -> Option<Expected> {
        let f = self.files.get(&(id, path_key(path)))?;
        let (Some(uid), Some(gid), false) = (f.uid, f.gid, f.ghost) else {
            return Some(Expected::Listed);
        };
        let content = match (f.kind, f.sha256, alg) {
            (Kind::File, Some(d), Algorithm::Sha256) => Digest::from_bytes(alg, &d),
            (Kind::File, _, _) => return Some(Expected::Listed),
            _ => None,
        };
        Some(Expected::Header(Archived {
            kind: f.kind,
            mode: f.mode,
            uid,
            gid,
            content,
            target: f.target,
        }))
    }
}

#[cfg(test)]
mod prop_tests;

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "P\talpha\tnoarch\t0\t1.0-1\t100\t8\n\
F\t/etc/alpha.conf\t8d0d4c8a1e6ab75ae2f81abf1e1e66ce1ab7be53c7b8f245a41907fc45b3a801\t33188\troot\troot\t17\t\n\
F\t/usr/bin/alpha\t716269d16f6dab02eee206f253f49afa8ee4f36efcd38ef9f65310edd5a1c61f\t33261\troot\troot\t0\t\n\
P\tbeta\tnoarch\t2\t3-4\t200\t8\n\
F\t/usr/lib/l\t\t41471\tnobody\troot\t0\tx\n\
garbage\n";

    fn rpm() -> Rpm {
        Rpm::parse(
            OUT.as_bytes(),
            &ids(Path::new("/nonexistent")),
            &ids(Path::new("/nonexistent")),
            Path::new("q"),
        )
    }

    #[test]
    fn owners_versions_digests_and_windows() {
        let mut r = rpm();
        assert_eq!(r.take_problems().len(), 1);
        let a = r.owner(b"/usr/bin/alpha").unwrap();
        assert_eq!(r.name(a), ("alpha", "noarch"));
        let b = r.by_name("beta", "noarch").unwrap();
        assert_eq!(r.installed(b), Some("2:3-4"));
        assert_eq!(
            r.transaction(a, 50, 150),
            Some((TxKind::Install, None, Some("1.0-1")))
        );
        assert_eq!(r.transaction(a, 101, 150), None);
        let Some(Expected::Header(h)) = r.expected(a, b"/usr/bin/alpha", Algorithm::Sha256) else {
            panic!("no header record");
        };
        assert_eq!((h.kind, h.mode, h.uid), (Kind::File, 0o755, 0));
        // Unknown user: listed only; another tree algorithm: listed only.
        assert_eq!(
            r.expected(b, b"/usr/lib/l", Algorithm::Sha256),
            Some(Expected::Listed)
        );
        assert_eq!(
            r.expected(a, b"/usr/bin/alpha", Algorithm::Blake3),
            Some(Expected::Listed)
        );
        assert!(r.conffile(a, b"/etc/alpha.conf").is_none());
        // A recorded owner gone from the database was removed.
        let gone = r.by_name("gamma", "noarch").unwrap();
        assert_eq!(
            r.transaction(gone, 0, 1),
            Some((TxKind::Remove, None, None))
        );
        assert!(r.owner(b"/nowhere").is_none());
    }
}
