//! The package view of a file check: which package owns each finding's path, whether a
//! transaction in its window explains it (the core's [`judge`]), and the owners recorded
//! with the baseline (`<database>.owners`, rewritten with the database), so a path that is
//! gone keeps the owner it had.
//!
//! `<database>.owners` holds one line per owned entry: `KEY T NAME ARCH [VERSION]`, the
//! path's index key in hex, the epoch its entry was recorded, the owner and the version
//! installed then. Names are checked on the way in and out, so no byte of a forged file
//! reaches a report unescaped.
//!
//! The source is dpkg or rpm (`[packages] source`). rpm logs no transactions: a package
//! installed in the window comes as an install with no `from`; when the path's recorded
//! owner is the same package with a recorded version, it is an upgrade from that version.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use homeostat_core::digest::{digest, Algorithm, Hasher};
use homeostat_core::event::{Change, Epoch};
use homeostat_core::fim::{Attrs, Entry};
use homeostat_core::package::TxKind;
use homeostat_core::package::{
    judge, Cause, Expected, Facts, Live, Package, PackageSource, Verified,
};
use homeostat_linux::dpkg::{path_key, Dpkg, Problem};
use homeostat_linux::rpm::Rpm;

use crate::config::packages::{Accept, PackageSettings, SourceKind};

/// The configured package database.
enum Source {
    Dpkg(Box<Dpkg>),
    Rpm(Rpm),
}

impl Source {
    fn take_problems(&mut self) -> Vec<Problem> {
        match self {
            Source::Dpkg(d) => d.take_problems(),
            Source::Rpm(r) => r.take_problems(),
        }
    }

    /// What vouches for a removal's file list.
    fn list(&self) -> Verified {
        match self {
            Source::Dpkg(_) => Verified::Md5sums,
            Source::Rpm(_) => Verified::Rpm,
        }
    }
}

impl PackageSource for Source {
    fn owners(&mut self, path: &[u8]) -> impl Iterator<Item = u32> + '_ {
        let all: Vec<u32> = match self {
            Source::Dpkg(d) => d.owners(path).collect(),
            Source::Rpm(r) => r.owners(path).collect(),
        };
        all.into_iter()
    }
    fn by_name(&mut self, name: &str, arch: &str) -> Option<u32> {
        match self {
            Source::Dpkg(d) => d.by_name(name, arch),
            Source::Rpm(r) => r.by_name(name, arch),
        }
    }
    fn name(&self, id: u32) -> (&str, &str) {
        match self {
            Source::Dpkg(d) => d.name(id),
            Source::Rpm(r) => r.name(id),
        }
    }
    fn installed(&self, id: u32) -> Option<&str> {
        match self {
            Source::Dpkg(d) => d.installed(id),
            Source::Rpm(r) => r.installed(id),
        }
    }
    fn transaction(
        &mut self,
        id: u32,
        since: Epoch,
        now: Epoch,
    ) -> Option<(TxKind, Option<&str>, Option<&str>)> {
        match self {
            Source::Dpkg(d) => d.transaction(id, since, now),
            Source::Rpm(r) => r.transaction(id, since, now),
        }
    }
    fn lists(&mut self, id: u32, path: &[u8]) -> bool {
        match self {
            Source::Dpkg(d) => d.lists(id, path),
            Source::Rpm(r) => r.lists(id, path),
        }
    }
    fn conffile(&mut self, id: u32, path: &[u8]) -> Option<[u8; 16]> {
        match self {
            Source::Dpkg(d) => d.conffile(id, path),
            Source::Rpm(r) => r.conffile(id, path),
        }
    }
    fn expected(&mut self, id: u32, path: &[u8], alg: Algorithm) -> Option<Expected> {
        match self {
            Source::Dpkg(d) => d.expected(id, path, alg),
            Source::Rpm(r) => r.expected(id, path, alg),
        }
    }
}
use crate::output::Output;

/// An owner recorded with the baseline (keyed by the path inside the root).
#[derive(Clone, Copy)]
struct Recorded {
    name: u32,
    t: Epoch,
    /// The owner's version then (`None` in lines written before versions were).
    version: Option<u32>,
}

/// A finding's `package`, owned (the event borrows it).
pub struct Verdict {
    name: String,
    arch: String,
    from: Option<String>,
    to: Option<String>,
    verified: Verified,
    cause: Cause,
}

impl Verdict {
    /// The event's view.
    pub fn package(&self) -> Package<'_> {
        Package {
            name: &self.name,
            arch: &self.arch,
            from: self.from.as_deref(),
            to: self.to.as_deref(),
            verified: self.verified,
            cause: self.cause,
        }
    }
}

/// What the check knows of packages, for one run.
pub struct Packages {
    settings: PackageSettings,
    /// Opened at the first question; `None` inside when it cannot be read (said once).
    src: Option<Option<Source>>,
    recorded: HashMap<u64, Recorded>,
    names: Vec<(String, String)>,
    versions: Vec<String>,
    /// The window's start for paths with no recorded owner: the baseline's creation.
    since: Epoch,
    now: Epoch,
    sidecar: PathBuf,
    out: Option<(PathBuf, BufWriter<File>)>,
}

/// `path` as the package database knows it: with the configured root taken off.
fn in_root<'p>(root: &Path, path: &'p [u8]) -> Option<std::borrow::Cow<'p, [u8]>> {
    let root = root.as_os_str().as_encoded_bytes();
    let root = root.strip_suffix(b"/").unwrap_or(root);
    if root.is_empty() {
        return Some(path.into());
    }
    match path.strip_prefix(root) {
        Some([]) => Some(b"/".to_vec().into()),
        Some(rest) if rest.starts_with(b"/") => Some(rest.into()),
        _ => None,
    }
}

/// MD5 of the file at `path`, if it still holds what the check hashed for `e` (the same
/// read hashes both): a file rewritten since is not verified.
fn live_md5(path: &[u8], e: &Entry<Vec<u8>>) -> Option<[u8; 16]> {
    use std::io::Read;
    use std::os::unix::ffi::OsStrExt;
    let seen = e.meta.content?;
    let mut f = File::open(std::ffi::OsStr::from_bytes(path)).ok()?;
    let (mut md5, mut same) = (Hasher::new(Algorithm::Md5), Hasher::new(seen.algorithm()));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match f.read(&mut buf).ok()? {
            0 => break,
            n => {
                md5.update(&buf[..n]);
                same.update(&buf[..n]);
            }
        }
    }
    let md5 = md5.finalize();
    (same.finalize() == seen).then(|| md5.as_bytes().try_into().ok())?
}

/// `<database>.owners`.
fn sidecar_of(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".owners");
    db.with_file_name(name)
}

/// dpkg's package name and architecture characters: nothing that could break a line.
fn plain(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.~_".contains(&b))
}

/// A version's characters (dpkg's and rpm's, with an epoch).
fn plain_version(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.~_:^".contains(&b))
}

impl Packages {
    /// Reads the owners recorded beside `db` (none at `init`); a damaged line is a warning
    /// naming file and line.
    pub fn load(
        settings: &PackageSettings,
        db: &Path,
        since: Epoch,
        now: Epoch,
        rep: &mut Output,
    ) -> io::Result<Packages> {
        let mut p = Packages {
            settings: settings.clone(),
            src: None,
            recorded: HashMap::new(),
            names: Vec::new(),
            versions: Vec::new(),
            since,
            now,
            sidecar: sidecar_of(db),
            out: None,
        };
        let f = match crate::state_file::read(&p.sidecar) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(p),
            Err(e) => {
                let msg = format!("cannot read the owners recorded with the baseline: {e}");
                rep.warning(p.sidecar.as_os_str().as_encoded_bytes(), &msg)?;
                return Ok(p);
            }
        };
        let mut ids: HashMap<(String, String), u32> = HashMap::new();
        let f = crate::limits::Limited::new(f, &p.sidecar, crate::limits::OWNERS);
        for (i, line) in io::BufReader::new(f).lines().enumerate() {
            let line = match line {
                Ok(l) => Some(l),
                // A read error repeats (one past the limit always does): stop here.
                Err(e) if e.kind() != io::ErrorKind::InvalidData => {
                    let msg = format!("line {}: cannot read the rest: {e}", i + 1);
                    rep.warning(p.sidecar.as_os_str().as_encoded_bytes(), &msg)?;
                    break;
                }
                // Not UTF-8: a damaged line, and the next one is read.
                Err(_) => None,
            };
            let parsed = line.and_then(|l| {
                let w: Vec<&str> = l.split(' ').collect();
                let (key, t, name, arch, version) = match w[..] {
                    [key, t, name, arch] => (key, t, name, arch, None),
                    [key, t, name, arch, v] => (key, t, name, arch, Some(v)),
                    _ => return None,
                };
                let ok = plain(name) && plain(arch) && version.is_none_or(plain_version);
                ok.then_some(())?;
                Some((
                    u64::from_str_radix(key, 16).ok()?,
                    t.parse::<Epoch>().ok()?,
                    (name.to_owned(), arch.to_owned()),
                    version.map(str::to_owned),
                ))
            });
            let Some((key, t, owner, version)) = parsed else {
                let msg = format!("line {}: expected `KEY EPOCH NAME ARCH [VERSION]`", i + 1);
                rep.warning(p.sidecar.as_os_str().as_encoded_bytes(), &msg)?;
                continue;
            };
            let next = p.names.len() as u32;
            let name = *ids.entry(owner.clone()).or_insert(next);
            if name == next {
                p.names.push(owner);
            }
            let version = version.map(|v| {
                p.versions.push(v);
                p.versions.len() as u32 - 1
            });
            p.recorded.insert(key, Recorded { name, t, version });
        }
        Ok(p)
    }

    /// Whether verified changes are accepted by themselves.
    pub fn accepts(&self) -> bool {
        self.settings.accept == Accept::Verified
    }

    /// The package database, opened once with every transaction the oldest window needs.
    fn source(&mut self, rep: &mut Output) -> io::Result<Option<&mut Source>> {
        if self.src.is_none() {
            let since = self
                .recorded
                .values()
                .map(|r| r.t)
                .fold(self.since, Epoch::min);
            let opened = match self.settings.source {
                SourceKind::Dpkg => {
                    Dpkg::open(&self.settings.paths, since).map(|d| Source::Dpkg(Box::new(d)))
                }
                SourceKind::Rpm => Rpm::open(&self.settings.rpm).map(Source::Rpm),
            };
            let opened = match opened {
                Ok(d) => Some(d),
                Err(e) => {
                    let dir = match self.settings.source {
                        SourceKind::Dpkg => &self.settings.paths.dpkg_dir,
                        SourceKind::Rpm => &self.settings.rpm.dbpath,
                    };
                    let dir = dir.as_os_str().as_encoded_bytes();
                    let msg = format!("package database not read, findings carry no package: {e}");
                    rep.warning(dir, &msg)?;
                    None
                }
            };
            self.src = Some(opened);
        }
        let Some(Some(src)) = self.src.as_mut() else {
            return Ok(None);
        };
        // Damaged lines: each a warning naming its file and line; the finding goes on.
        for p in src.take_problems() {
            let msg = match p.line {
                0 => p.message,
                n => format!("line {n}: {}", p.message),
            };
            rep.warning(p.file.as_os_str().as_encoded_bytes(), &msg)?;
        }
        Ok(Some(src))
    }

    /// The `package` of a finding on `path`, if a package owns it (or owned it).
    pub fn explain(
        &mut self,
        change: Change,
        diff: Attrs,
        path: &[u8],
        new: Option<&Entry<Vec<u8>>>,
        alg: Algorithm,
        rep: &mut Output,
    ) -> io::Result<Option<Verdict>> {
        let live_path = path;
        let Some(path) = in_root(&self.settings.root, path) else {
            return Ok(None);
        };
        let path = &path[..];
        let rec = self.recorded.get(&path_key(path)).copied();
        let since = rec.map_or(self.since, |r| r.t);
        let (now, names) = (self.now, &self.names);
        let recorded_name = rec.map(|r| names[r.name as usize].clone());
        let recorded_version = rec
            .and_then(|r| r.version)
            .map(|v| self.versions[v as usize].clone());
        let Some(src) = self.source(rep)? else {
            return Ok(None);
        };
        let by_record = |src: &mut Source| {
            let (n, a) = recorded_name.as_ref()?;
            src.by_name(n, a)
        };
        // A gone path keeps the owner recorded with it; a live one has today's: of several
        // (a shared directory), one with a transaction in the window.
        let id = match change {
            Change::Removed => by_record(src).or_else(|| src.owner(path)),
            _ => {
                let all: Vec<u32> = src.owners(path).collect();
                let active = all
                    .iter()
                    .copied()
                    .find(|&id| src.transaction(id, since, now).is_some());
                active.or(all.first().copied()).or_else(|| by_record(src))
            }
        };
        let Some(id) = id else { return Ok(None) };
        let mut tx = src
            .transaction(id, since, now)
            .map(|(k, f, t)| (k, f.map(str::to_owned), t.map(str::to_owned)));
        // rpm has no log to give `from`: the version recorded with the owner. An install of
        // the package that owned the path before is an upgrade from it.
        if let (Source::Rpm(_), Some((k, from @ None, _)), Some((n, a)), Some(v)) =
            (&*src, tx.as_mut(), recorded_name.as_ref(), recorded_version)
        {
            if src.name(id) == (n.as_str(), a.as_str()) {
                if *k == TxKind::Install {
                    *k = TxKind::Upgrade;
                }
                *from = Some(v);
            }
        }
        let listed = src.lists(id, path);
        let conffile = new.and_then(|_| src.conffile(id, path));
        let expected = match (new, &tx, conffile) {
            (Some(_), Some(_), None) => src.expected(id, path, alg),
            _ => None,
        };
        let needs_md5 = conffile.is_some() || matches!(expected, Some(Expected::Md5(_)));
        let live_md5 = match (needs_md5, new) {
            (true, Some(e)) => live_md5(live_path, e),
            _ => None,
        };
        let target = new
            .and_then(|e| e.target())
            .and_then(|t| digest(Algorithm::Sha256, t).as_bytes().try_into().ok());
        let facts = Facts {
            change,
            diff,
            tx: tx.as_ref().map(|t| t.0),
            listed,
            live: new.map(|e| Live {
                meta: &e.meta,
                target,
            }),
            expected,
            conffile,
            live_md5,
            list: src.list(),
        };
        let (cause, verified) = judge(&facts);
        let (name, arch) = src.name(id);
        let (from, to) = match tx {
            Some((_, f, t)) => (f, t),
            None => (None, src.installed(id).map(str::to_owned)),
        };
        Ok(Some(Verdict {
            name: name.to_owned(),
            arch: arch.to_owned(),
            from,
            to,
            verified,
            cause,
        }))
    }

    /// Starts the owners file of a database being written.
    pub fn begin(&mut self) -> io::Result<()> {
        let tmp = self
            .sidecar
            .with_extension(format!("owners.tmp.{}", std::process::id()));
        // 0600 like the database it describes, whatever the umask.
        let f = crate::state_file::open_with(
            &tmp,
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600),
        )?;
        self.out = Some((tmp, BufWriter::new(f)));
        Ok(())
    }

    /// Records the owner of an entry kept in the new database: the recorded one for a
    /// record kept as it was, today's for a new record.
    pub fn keep(&mut self, path: &[u8], as_was: bool, rep: &mut Output) -> io::Result<()> {
        if self.out.is_none() {
            return Ok(());
        }
        let Some(path) = in_root(&self.settings.root, path) else {
            return Ok(());
        };
        let path = &path[..];
        let key = path_key(path);
        let line = if as_was {
            self.recorded.get(&key).map(|r| {
                let (n, a) = &self.names[r.name as usize];
                match r.version {
                    Some(v) => {
                        format!("{key:016x} {} {n} {a} {}\n", r.t, self.versions[v as usize])
                    }
                    None => format!("{key:016x} {} {n} {a}\n", r.t),
                }
            })
        } else {
            let now = self.now;
            match self.source(rep)? {
                None => None,
                Some(src) => src.owner(path).and_then(|id| {
                    let (n, a) = src.name(id);
                    let v = src.installed(id).filter(|v| plain_version(v));
                    (plain(n) && plain(a)).then(|| match v {
                        Some(v) => format!("{key:016x} {now} {n} {a} {v}\n"),
                        None => format!("{key:016x} {now} {n} {a}\n"),
                    })
                }),
            }
        };
        if let (Some(line), Some((_, w))) = (line, self.out.as_mut()) {
            w.write_all(line.as_bytes())?;
        }
        Ok(())
    }

    /// Puts the owners file in place, after its database.
    pub fn commit(&mut self) -> io::Result<()> {
        if let Some((tmp, w)) = self.out.take() {
            let f = w.into_inner().map_err(|e| e.into_error())?;
            f.sync_data()?;
            fs::rename(&tmp, &self.sidecar)?;
        }
        Ok(())
    }
}

impl Drop for Packages {
    fn drop(&mut self) {
        if let Some((tmp, _)) = self.out.take() {
            let _ = fs::remove_file(tmp);
        }
    }
}
