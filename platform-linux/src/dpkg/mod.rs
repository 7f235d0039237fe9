//! dpkg as a [`PackageSource`]: owners from `info/*.list` (and `diversions`), versions and
//! conffiles from `status`, transactions from `dpkg.log` and its rotations, digests from
//! `info/*.md5sums` and, stronger, from the `.deb` in apt's cache that apt's package lists
//! vouch for.
//!
//! Memory: the owner index is 16 bytes a listed path (a sorted array of path hashes and
//! package ids); MD5 lists and archives are read only for packages a finding concerns.
//! Damaged lines are [`Problem`]s named by file and line, never a reason to stop.

mod deb;
mod index;
mod info;
mod log;
mod status;
mod tar;

use std::collections::{HashMap, HashSet};
use std::hash::Hasher as _;
use std::path::{Path, PathBuf};

use homeostat_core::digest::Algorithm;
use homeostat_core::event::Epoch;
use homeostat_core::package::{Archived, Expected, PackageSource, TxKind};

/// Where dpkg and apt keep their files (configurable so tests use a root of their own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    /// `/var/lib/dpkg`: `status`, `diversions`, `info/`.
    pub dpkg_dir: PathBuf,
    /// `/var/log/dpkg.log` (rotations beside it).
    pub dpkg_log: PathBuf,
    /// `/var/cache/apt/archives`.
    pub apt_cache: PathBuf,
    /// `/var/lib/apt/lists`.
    pub apt_lists: PathBuf,
}

impl Default for Paths {
    fn default() -> Paths {
        Paths {
            dpkg_dir: "/var/lib/dpkg".into(),
            dpkg_log: "/var/log/dpkg.log".into(),
            apt_cache: "/var/cache/apt/archives".into(),
            apt_lists: "/var/lib/apt/lists".into(),
        }
    }
}

/// A damaged line or unreadable file of the package database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub file: PathBuf,
    /// Its line, from 1; 0 when it concerns the whole file.
    pub line: usize,
    /// What was expected.
    pub message: String,
}

impl Problem {
    pub(crate) fn at(file: &Path, line: usize, message: &str) -> Problem {
        Problem {
            file: file.to_path_buf(),
            line,
            message: message.to_owned(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            0 => write!(f, "{}: {}", self.file.display(), self.message),
            n => write!(f, "{}:{n}: {}", self.file.display(), self.message),
        }
    }
}

/// The index key of a path: SipHash with fixed keys. A collision can only lend a path an
/// owner, never a verdict: digests are looked up by the same key and must match content.
pub fn path_key(path: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    h.write(path);
    h.finish()
}

#[derive(Debug)]
struct Pkg {
    name: String,
    arch: String,
    version: Option<String>,
    /// `info/` base name of its `.list` and `.md5sums` (`name` or `name:arch`).
    info: Option<String>,
}

/// An archive read for one package: the algorithm its digests are in, and its members.
type Members = (Algorithm, HashMap<u64, Archived>);

/// The dpkg database of one root, loaded for one check.
pub struct Dpkg {
    paths: Paths,
    pkgs: Vec<Pkg>,
    by_name: HashMap<(String, String), u32>,
    owners: index::Owners,
    conffiles: HashMap<(u32, u64), [u8; 16]>,
    /// Each package's logged transactions, oldest first.
    txs: HashMap<u32, Vec<log::Tx>>,
    md5sums: HashMap<u32, HashMap<u64, [u8; 16]>>,
    listed: Option<HashMap<deb::Nva, [u8; 32]>>,
    debs: HashMap<u32, Option<Members>>,
    problems: Vec<Problem>,
}

impl Dpkg {
    /// Loads status, file lists, diversions and the transactions logged since `since`.
    /// Fails only when `status` cannot be read at all.
    pub fn open(paths: &Paths, since: Epoch) -> std::io::Result<Dpkg> {
        let mut problems = Vec::new();
        let status_file = paths.dpkg_dir.join("status");
        let stanzas = status::read(&status_file, &mut problems).map_err(|e| {
            std::io::Error::new(e.kind(), format!("{}: {e}", status_file.display()))
        })?;
        let mut by_name = status::by_name(&stanzas);
        let mut conffiles = HashMap::new();
        let mut pkgs: Vec<Pkg> = Vec::with_capacity(stanzas.len());
        for (i, s) in stanzas.into_iter().enumerate() {
            for (k, md5) in s.conffiles {
                conffiles.insert((i as u32, k), md5);
            }
            pkgs.push(Pkg {
                name: s.name,
                arch: s.arch,
                version: s.version,
                info: None,
            });
        }
        let lists = info::list_files(&paths.dpkg_dir.join("info"), &mut pkgs, &by_name);
        let named: Vec<(u32, &str, PathBuf)> = lists
            .iter()
            .map(|(id, p)| (*id, pkgs[*id as usize].name.as_str(), p.clone()))
            .collect();
        let owners =
            index::Owners::build(&named, &paths.dpkg_dir.join("diversions"), &mut problems);
        let txs = log::read(&paths.dpkg_log, since, &mut problems);
        // Packages purged since: known only by the log, and by the baseline's owners.
        let mut by_pkg: HashMap<u32, Vec<log::Tx>> = HashMap::new();
        for tx in txs {
            let key = (tx.name.clone(), tx.arch.clone());
            let next = pkgs.len();
            let id = *by_name.entry(key).or_insert(next);
            if id == next {
                pkgs.push(Pkg {
                    name: tx.name.clone(),
                    arch: tx.arch.clone(),
                    version: None,
                    info: None,
                });
            }
            by_pkg.entry(id as u32).or_default().push(tx);
        }
        let by_name = by_name.into_iter().map(|(k, v)| (k, v as u32)).collect();
        Ok(Dpkg {
            paths: paths.clone(),
            pkgs,
            by_name,
            owners,
            conffiles,
            txs: by_pkg,
            md5sums: HashMap::new(),
            listed: None,
            debs: HashMap::new(),
            problems,
        })
    }

    /// `path` as the package database knows it: itself, or its other name on a merged
    /// `/usr` (`/usr/sbin/x` is listed as `/sbin/x`, and the other way round).
    fn named<'p>(&self, path: &'p [u8]) -> std::borrow::Cow<'p, [u8]> {
        if self.owners.owner(path).is_some() {
            return path.into();
        }
        let alias = match path.strip_prefix(b"/usr") {
            Some(rest) if info::merged(rest) => rest.to_vec(),
            Some(_) => return path.into(),
            None if info::merged(path) => [b"/usr", path].concat(),
            None => return path.into(),
        };
        match self.owners.owner(&alias) {
            Some(_) => alias.into(),
            None => path.into(),
        }
    }

    /// Problems found since the last call.
    pub fn take_problems(&mut self) -> Vec<Problem> {
        std::mem::take(&mut self.problems)
    }

    /// Paths in the owner index.
    pub fn indexed(&self) -> usize {
        self.owners.len()
    }

    fn md5sum(&mut self, id: u32, path: &[u8]) -> Option<[u8; 16]> {
        if !self.md5sums.contains_key(&id) {
            let sums = self.read_md5sums(id);
            self.md5sums.insert(id, sums);
        }
        self.md5sums.get(&id)?.get(&path_key(path)).copied()
    }

    /// `info/P.md5sums`: `MD5  relative/path` lines.
    fn read_md5sums(&mut self, id: u32) -> HashMap<u64, [u8; 16]> {
        let Some(info) = &self.pkgs[id as usize].info else {
            return HashMap::new();
        };
        let file = self
            .paths
            .dpkg_dir
            .join("info")
            .join(format!("{info}.md5sums"));
        info::md5sums(&file, &mut self.problems)
    }

    /// The archive of `id` as installed, when apt's lists vouch for it.
    fn archive(&mut self, id: u32, alg: Algorithm) -> Option<&HashMap<u64, Archived>> {
        if self
            .debs
            .get(&id)
            .is_some_and(|d| d.as_ref().is_some_and(|(a, _)| *a != alg))
        {
            self.debs.remove(&id);
        }
        if !self.debs.contains_key(&id) {
            let m = self.read_archive(id, alg);
            self.debs.insert(id, m.map(|m| (alg, m)));
        }
        self.debs.get(&id)?.as_ref().map(|(_, m)| m)
    }

    fn read_archive(&mut self, id: u32, alg: Algorithm) -> Option<HashMap<u64, Archived>> {
        let p = &self.pkgs[id as usize];
        let nva = (p.name.clone(), p.version.clone()?, p.arch.clone());
        let file = deb::cached(&self.paths.apt_cache, &nva);
        if !file.exists() {
            return None;
        }
        if self.listed.is_none() {
            let wanted: HashSet<deb::Nva> = self
                .pkgs
                .iter()
                .filter_map(|p| Some((p.name.clone(), p.version.clone()?, p.arch.clone())))
                .collect();
            self.listed = Some(deb::listed_sha256(
                &self.paths.apt_lists,
                &wanted,
                &mut self.problems,
            ));
        }
        let want = self.listed.as_ref()?.get(&nva).copied()?;
        match deb::sha256_file(&file) {
            Ok(got) if got == want => {}
            Ok(_) => {
                let msg = "SHA-256 differs from apt's package lists: not used";
                self.problems.push(Problem::at(&file, 0, msg));
                return None;
            }
            Err(e) => {
                self.problems
                    .push(Problem::at(&file, 0, &format!("cannot be read: {e}")));
                return None;
            }
        }
        match deb::members(&file, alg) {
            Ok(m) => Some(m),
            Err(e) => {
                self.problems
                    .push(Problem::at(&file, 0, &format!("cannot be unpacked: {e}")));
                None
            }
        }
    }
}

impl PackageSource for Dpkg {
    fn owners(&mut self, path: &[u8]) -> impl Iterator<Item = u32> + '_ {
        let path = self.named(path).into_owned();
        self.owners.all(&path)
    }

    fn by_name(&mut self, name: &str, arch: &str) -> Option<u32> {
        self.by_name
            .get(&(name.to_owned(), arch.to_owned()))
            .copied()
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
        // The latest: a later line wins a tie within the second.
        let tx = self
            .txs
            .get(&id)?
            .iter()
            .rev()
            .find(|t| t.t >= since && t.t <= now)?;
        Some((tx.kind, tx.from.as_deref(), tx.to.as_deref()))
    }

    fn conffile(&mut self, id: u32, path: &[u8]) -> Option<[u8; 16]> {
        let path = &self.named(path).into_owned();
        self.conffiles.get(&(id, path_key(path))).copied()
    }

    fn expected(&mut self, id: u32, path: &[u8], alg: Algorithm) -> Option<Expected> {
        let path = &self.named(path).into_owned();
        // A diverted file is known to its package by its old name.
        let key = path_key(path);
        let name = self
            .owners
            .renamed
            .get(&key)
            .cloned()
            .unwrap_or_else(|| path.to_vec());
        if let Some(m) = self.archive(id, alg) {
            return m.get(&path_key(&name)).map(|a| Expected::Archive(*a));
        }
        if let Some(md5) = self.md5sum(id, &name) {
            return Some(Expected::Md5(md5));
        }
        self.owners.lists(id, path).then_some(Expected::Listed)
    }

    fn lists(&mut self, id: u32, path: &[u8]) -> bool {
        let path = &self.named(path).into_owned();
        self.owners.lists(id, path)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod prop_tests;
