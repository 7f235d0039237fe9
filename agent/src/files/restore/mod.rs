//! `homeostat restore PATH… --from DIR|http://HOST:PORT`: put watched files back from a
//! trusted copy (the seed's reversion), believing the copy only when it hashes to this
//! host's verified database.
//!
//! - [`at`]: directory-relative calls, so no path component is followed or swapped;
//! - [`source`]: where the bytes come from (a mirror directory, a peer);
//! - [`write`]: one file put back beside its old self, kept as `NAME.cfbackup`;
//! - [`xattrs`]: extended attributes carried over from the old file;
//! - [`accept`]: the new signed database accepting only what the restore changed.

mod accept;
// Directory-relative libc calls, each with a SAFETY note.
#[allow(unsafe_code)]
mod at;
#[cfg(feature = "peers")]
mod peer;
mod source;
mod write;
// Extended attributes by file descriptor (libc), each call with a SAFETY note.
#[allow(unsafe_code)]
mod xattrs;

use std::fs::{FileTimes, Metadata};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use homeostat_core::event::{Event, Restored, Summary};
use homeostat_core::feed::{FileSource, Found, Sink};
use homeostat_core::fim::join::{self, is_under, Baseline, Live};
use homeostat_core::fim::{compare, Attr, Entry, Kind, Timestamp};

use self::accept::Accepted;
use self::at::{descend, Blocked, Dir};
#[cfg(feature = "peers")]
use self::peer::Peer;
use self::source::{From, Mirror, Source};
use self::write::{put_back, system_time, Backup, BACKUP_SUFFIX};
use self::xattrs::Pairs;
use crate::config::{Config, Tree};
use crate::exit::{Outcome, CONFIG, DATABASE, IO};
use crate::files::database::{self, Verified};
use crate::files::signing::Keys;
use crate::output::Output;
use crate::platform::{Exclude, Pool, TreeSpec};

/// `homeostat restore PATH… --from DIR|URL`: one `restore` event per path, then the
/// summary. Exit 0 when all were restored, 1 when one was refused.
pub fn command(
    cfg: &Config,
    keys: &Keys,
    state: &Path,
    paths: &[Vec<u8>],
    from: &str,
    out: &mut Output,
) -> Outcome {
    let parsed = From::parse(from).map_err(|e| (CONFIG, e))?;
    if keys.verifying.is_some() && keys.signing.is_none() {
        // The database written after the files would be unsigned, and refused from then on.
        return Err((
            CONFIG,
            "restore needs [database] key: the database it writes must be signed".into(),
        ));
    }
    let db = state.join("files.db");
    let v = database::verify(&db, keys).map_err(|e| (DATABASE, e.to_string()))?;
    let mut run = Run {
        cfg,
        v: &v,
        accepted: Accepted::default(),
        from,
    };
    let all_ok = match parsed {
        From::Dir(dir) => {
            let mut mirror = Mirror::open(&dir)
                .map_err(|e| (CONFIG, format!("--from {}: {e}", dir.display())))?;
            run.each(&mut mirror, paths, out)?
        }
        #[cfg(feature = "peers")]
        From::Peer(host) => {
            let mut peer = Peer::new(host).map_err(|e| (IO, format!("tokio runtime: {e}")))?;
            run.each(&mut peer, paths, out)?
        }
        #[cfg(not(feature = "peers"))]
        From::Peer(host) => {
            return Err((
                CONFIG,
                format!("--from http://{host}: this build cannot fetch from a peer (built without the `peers` feature); use a directory"),
            ))
        }
    };
    let report = |e: std::io::Error| (IO, format!("cannot write report: {e}"));
    // The events are out before the database accepts what they say was done.
    out.commit().map_err(report)?;
    if !run.accepted.is_empty() {
        let host = crate::state_dir::hostname();
        run.accepted
            .write(&v, keys, &host, out.now())
            .map_err(|e| (IO, format!("{e} (the restored files are in place; the next check reports their new inode and ctime)")))?;
    }
    let summary = Summary {
        t: out.now(),
        command: "restore",
        counts: out.counts,
    };
    out.emit(&Event::Summary(summary))
        .and_then(|()| out.commit())
        .map_err(report)?;
    Ok(if all_ok { 0 } else { 1 })
}

/// One `restore` command over its paths.
struct Run<'a> {
    cfg: &'a Config,
    v: &'a Verified,
    accepted: Accepted,
    /// `--from`, as given, for messages.
    from: &'a str,
}

/// A configured tree and its index in the database.
struct Watched<'a> {
    tree: &'a Tree,
    index: usize,
}

impl<'a> Run<'a> {
    /// Restores each path, emitting its event; whether all were restored.
    fn each<S: Source>(
        &mut self,
        src: &mut S,
        paths: &[Vec<u8>],
        out: &mut Output,
    ) -> Result<bool, (u8, String)> {
        let mut all_ok = true;
        for path in paths {
            let (ok, message) = match self.one(src, path) {
                Ok(m) => (true, m),
                Err(Stop::Refused(m)) => (false, m),
                Err(Stop::Database(m)) => return Err((DATABASE, m)),
            };
            all_ok &= ok;
            let e = Restored {
                t: out.now(),
                path,
                ok,
                message: &message,
            };
            out.emit(&Event::Restore(e))
                .map_err(|e| (IO, format!("cannot write report: {e}")))?;
        }
        Ok(all_ok)
    }

    /// Restores `path`: what was done, or why not.
    fn one<S: Source>(&mut self, src: &mut S, path: &[u8]) -> Result<String, Stop> {
        let names = components(path).ok_or_else(|| {
            refused("not an absolute path of plain components (no `.`, `..` or `//`)")
        })?;
        let w = self.watched(path)?;
        let rec = self
            .accepted
            .record(self.v, w.index, path)
            .map_err(|e| Stop::Database(e.to_string()))?
            .ok_or_else(|| refused("not in the database"))?;
        if rec.meta.kind != Kind::File {
            return Err(Stop::Refused(format!(
                "a {} in the database, not a regular file",
                rec.meta.kind.name()
            )));
        }
        let (leaf, parents) = names.split_last().ok_or_else(|| refused("no file name"))?;
        let root = Dir::root().map_err(|e| Stop::Refused(format!("cannot open /: {e}")))?;
        let dir = descend(root, parents).map_err(|b| match b {
            Blocked::Symlink(i) => Stop::Refused(format!(
                "path component {} is a symlink",
                lossy(&names[..=i])
            )),
            Blocked::Other(i, e) => Stop::Refused(format!(
                "cannot open directory {}: {e}",
                lossy(&names[..=i])
            )),
        })?;
        let dir_before = dir
            .file()
            .metadata()
            .map_err(|e| Stop::Refused(format!("cannot examine its directory: {e}")))?;
        let carried = old_xattrs(&dir, leaf, rec.meta.xattrs);
        let reader = src.open(&names).map_err(Stop::Refused)?;
        let placed = put_back(&dir, leaf, &rec.meta, &carried, reader).map_err(Stop::Refused)?;
        // The restore's own changes: a new inode, hence a new ctime, dev and link count.
        let mut restored = rec.clone();
        restored.meta.inode = placed.stat.ino();
        restored.meta.dev = placed.stat.dev();
        restored.meta.nlink = placed.stat.nlink();
        restored.meta.ctime = ctime(&placed.stat);
        self.accepted.put(w.index, restored.clone());

        let mut said = vec![format!(
            "put back from {} ({})",
            self.from,
            rec.meta.content.map(|d| d.to_string()).unwrap_or_default()
        )];
        if !carried.is_empty() {
            said.push("its extended attributes carried over from the old file, which still had the recorded ones".into());
        }
        let parent = &path[..path.len() - leaf.len() - 1];
        let parent = if parent.is_empty() { &b"/"[..] } else { parent };
        said.extend(self.settle_parent(&w, &dir, &dir_before, parent)?);
        said.extend(self.record_backup(&w, path, placed.backup));
        if let Some(live) = single(&w.tree.spec, path) {
            let diff = compare(&restored, &live, w.tree.spec.attrs);
            if !diff.is_empty() {
                let attrs: Vec<&str> = diff.iter().map(|a| a.name()).collect();
                let why = if diff.contains(Attr::Xattrs) {
                    " (the database keeps only a digest of extended attributes, so they cannot be put back from it)"
                } else {
                    ""
                };
                said.push(format!(
                    "it still differs from the database in {}{why}: the next check reports it",
                    attrs.join(", ")
                ));
            }
        } else {
            said.push("it could not be examined again after the restore".into());
        }
        Ok(said.join("; "))
    }

    /// The configured tree holding `path` and its section of the database.
    fn watched(&self, path: &[u8]) -> Result<Watched<'a>, Stop> {
        let cfg: &'a Config = self.cfg;
        let tree = cfg
            .trees
            .iter()
            .find(|t| path == &t.spec.root[..] || is_under(path, &t.spec.root))
            .ok_or_else(|| refused("outside the watched trees"))?;
        match join::baseline(&self.v.infos(), &tree.spec.root, tree.spec.algorithm) {
            Baseline::Absent => Err(refused("its tree is not in the database yet")),
            Baseline::Recorded {
                same_algorithm: false,
                ..
            } => Err(refused(
                "its tree's hash algorithm changed since the baseline (run `homeostat update` first)",
            )),
            Baseline::Recorded { index, .. } => Ok(Watched { tree, index }),
        }
    }

    /// Renaming into a directory changes its mtime and ctime. When the directory is
    /// otherwise as recorded (type, mode, owner, inode), its mtime is put back from the
    /// database and its new ctime, size and link count accepted: a change of its listing
    /// is still reported on the entries themselves. Otherwise its record is left as it
    /// is, and the next check reports it.
    fn settle_parent(
        &mut self,
        w: &Watched<'_>,
        dir: &Dir,
        before: &Metadata,
        parent: &[u8],
    ) -> Result<Option<String>, Stop> {
        let Some(mut rec) = self
            .accepted
            .record(self.v, w.index, parent)
            .map_err(|e| Stop::Database(e.to_string()))?
        else {
            return Ok(None);
        };
        let m = &rec.meta;
        let as_recorded = m.kind == Kind::Dir
            && before.is_dir()
            && before.mode() & 0o7777 == m.mode
            && before.uid() == m.uid
            && before.gid() == m.gid
            && before.ino() == m.inode;
        if !as_recorded {
            return Ok(Some(
                "its directory differs from the database in more than its times: left for the next check to report".into(),
            ));
        }
        let f = dir.file();
        let after = f
            .set_times(FileTimes::new().set_modified(system_time(m.mtime)))
            .and_then(|()| f.sync_all())
            .and_then(|()| f.metadata());
        let after = match after {
            Ok(a) => a,
            Err(e) => {
                return Ok(Some(format!(
                    "its directory's mtime could not be put back ({e}): the next check reports it"
                )))
            }
        };
        rec.meta.ctime = ctime(&after);
        rec.meta.size = after.size();
        rec.meta.nlink = after.nlink();
        self.accepted.put(w.index, rec);
        Ok(None)
    }

    /// Records `PATH.cfbackup` as it now is, so that the next check does not report the
    /// backup as added, when it lies in the tree and is not excluded.
    fn record_backup(&mut self, w: &Watched<'_>, path: &[u8], backup: Backup) -> Option<String> {
        let mut bpath = path.to_vec();
        bpath.extend_from_slice(BACKUP_SUFFIX);
        let name = bpath.rsplit(|b| *b == b'/').next().unwrap_or_default();
        let kept = match backup {
            Backup::None => return Some("it was missing: no backup kept".into()),
            Backup::Linked => "the old file is kept as .cfbackup beside it (mode 0600)",
            Backup::Moved => "the directory that was there is kept as .cfbackup beside it",
        };
        let spec = &w.tree.spec;
        if !is_under(&bpath, &spec.root) || spec.exclude.matches(&bpath, name) {
            return Some(kept.into());
        }
        match single(spec, &bpath) {
            Some(e) => {
                self.accepted.put(w.index, e);
                Some(format!("{kept} and recorded in the database"))
            }
            None => Some(format!(
                "{kept}; it could not be recorded: the next check reports it"
            )),
        }
    }
}

/// The extended attributes of the regular file `name` when they hash to `recorded`,
/// else none: the database holds only their digest, so the old file is the one place
/// they can come from.
fn old_xattrs(dir: &Dir, name: &[u8], recorded: Option<[u8; 32]>) -> Pairs {
    if recorded.is_none() || !matches!(dir.kind(name), Ok(Some(at::Kind::File))) {
        return Pairs::new();
    }
    let pairs = dir.open_read(name).and_then(|f| xattrs::read(&f));
    match pairs {
        Ok(p) if xattrs::digest(&p) == recorded => p,
        _ => Pairs::new(),
    }
}

/// Why a path was not restored.
enum Stop {
    /// This path only: a `restore` event with `ok: false`.
    Refused(String),
    /// The database could not be read: the command stops (17).
    Database(String),
}

fn refused(m: &str) -> Stop {
    Stop::Refused(m.to_owned())
}

/// The components of an absolute path, each a plain name; `None` for `/` itself, a
/// relative path, an empty component, `.` or `..`.
fn components(path: &[u8]) -> Option<Vec<&[u8]>> {
    let rest = path.strip_prefix(b"/")?;
    let names: Vec<&[u8]> = rest.split(|b| *b == b'/').collect();
    let plain = |n: &&[u8]| !n.is_empty() && *n != b"." && *n != b"..";
    names.iter().all(plain).then_some(names)
}

/// `/a/b` from its components, for messages (which renderers escape).
fn lossy(names: &[&[u8]]) -> String {
    let mut p = Vec::new();
    for n in names {
        p.push(b'/');
        p.extend_from_slice(n);
    }
    String::from_utf8_lossy(&p).into_owned()
}

fn ctime(m: &Metadata) -> Timestamp {
    Timestamp {
        sec: m.ctime(),
        nsec: m.ctime_nsec() as u32,
    }
}

/// `path` as a check of `spec` records it now (the same walker, stat and hash), or
/// `None` when it cannot be recorded whole.
fn single(spec: &TreeSpec, path: &[u8]) -> Option<Entry<Vec<u8>>> {
    let one = TreeSpec {
        root: path.to_vec(),
        depth: Some(0),
        exclude: Exclude::default(),
        ..spec.clone()
    };
    let found = Pool::new(1).walk(&one).next()?;
    if found.problem().is_some() {
        return None;
    }
    match found.live() {
        Live::Seen(e) => Some(e.clone()),
        Live::Unseen { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_absolute_paths() {
        assert_eq!(
            components(b"/etc/hosts"),
            Some(vec![&b"etc"[..], &b"hosts"[..]])
        );
        for bad in [
            &b"etc/hosts"[..],
            b"/",
            b"/etc//hosts",
            b"/etc/./hosts",
            b"/etc/../root/x",
            b"/etc/",
        ] {
            assert_eq!(components(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}
