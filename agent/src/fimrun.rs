//! `init`, `check` and `update`: the merge-join of the database with the live tree.

use std::cmp::Ordering;
use std::path::Path;

use homeostat_core::fim::db::{Header, TreeInfo, MAX_PATH, MAX_TREES};
use homeostat_core::fim::entry::FLAG_UNREADABLE;
use homeostat_core::fim::{compare, path_cmp, setid_root, Entry, Kind};
use homeostat_linux::{scan, Unseen};

use crate::config::{Config, Tree};
use crate::database::{self, DbFileError, DbWriter, Section, Verified};
use crate::progress::Progress;
use crate::report::{Change, FileFinding, Reporter};
use crate::signing::Keys;

/// What the run does with the database.
#[derive(Clone, Debug)]
pub enum Mode {
    /// Record a new baseline; report nothing but set-id programs.
    Init,
    /// Compare; with `update`, accept what was reported into the database.
    Check { update: bool },
    /// Accept the current state of `only` (all when empty) into the database.
    Update { only: Vec<Vec<u8>> },
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Database(#[from] DbFileError),
    #[error("{0}")]
    Io(String),
}

fn io_fail(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Failure {
    let path = path.display().to_string();
    move |e| Failure::Io(format!("{what} {path}: {e}"))
}

pub fn run(
    keys: &Keys,
    cfg: &Config,
    db_path: &Path,
    host: &str,
    now: i64,
    mode: &Mode,
    rep: &mut Reporter,
) -> Result<(), Failure> {
    let old = match mode {
        Mode::Init => None,
        _ => Some(database::verify(db_path, keys)?),
    };
    if let Some(v) = &old {
        let signed = if v.signed { ", signed" } else { "" };
        rep.note(&format!(
            "homeostat: baseline of {} on {}, {} entries{signed}",
            crate::timefmt::utc(v.created),
            crate::escape::sanitize(&v.host),
            v.count
        ))
        .map_err(out_err)?;
    }
    let mut trees: heapless::Vec<TreeInfo<'_>, MAX_TREES> = heapless::Vec::new();
    for t in &cfg.trees {
        trees
            .push(TreeInfo {
                root: &t.spec.root,
                algorithm: t.spec.algorithm.id(),
                attrs: t.spec.attrs.bits(),
            })
            .map_err(|_| Failure::Io(format!("more than {MAX_TREES} [[files]] trees")))?;
    }
    let header = Header {
        created: now,
        host,
        trees,
    };
    let mut writer = match mode {
        Mode::Check { update: false } => None,
        _ => Some(
            DbWriter::create(db_path, &header)
                .map_err(io_fail("cannot write database", db_path))?,
        ),
    };
    if let Some(v) = &old {
        for t in &v.trees {
            if !cfg.trees.iter().any(|c| c.spec.root == t.root) {
                rep.warning(
                    &t.root,
                    "in the database but no longer configured: dropped from it on the next update",
                )
                .map_err(out_err)?;
            }
        }
    }
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let progress = Progress::new(!rep.json());
    let mut any_change = false;
    let mut sbuf = Section::buffer();
    for (i, tree) in cfg.trees.iter().enumerate() {
        let mut join = Join {
            tree,
            index: i as u16,
            mode,
            rep: &mut *rep,
            writer: writer.as_mut(),
            db: db_path,
            changed: false,
        };
        let section = match &old {
            None => None,
            Some(v) => join.section(v, &mut sbuf)?,
        };
        join.merge(section, scan(tree.spec.clone(), workers), &progress)?;
        any_change |= join.changed;
    }
    progress.finish();
    if let Some(w) = writer {
        // A check that found nothing leaves the database as it was: same content, no
        // rewrite. Init and update always write.
        let keep_old = matches!(mode, Mode::Check { .. }) && !any_change;
        if !keep_old {
            w.commit(keys)
                .map_err(io_fail("cannot write database", db_path))?;
        }
    }
    Ok(())
}

fn out_err(e: std::io::Error) -> Failure {
    Failure::Io(format!("cannot write report: {e}"))
}

struct Join<'a, 'w> {
    tree: &'a Tree,
    index: u16,
    mode: &'a Mode,
    rep: &'a mut Reporter,
    writer: Option<&'w mut DbWriter>,
    db: &'a Path,
    /// Something was reported or accepted.
    changed: bool,
}

impl Join<'_, '_> {
    fn section<'b>(
        &mut self,
        v: &Verified,
        buf: &'b mut [u8],
    ) -> Result<Option<(Section<'b>, bool)>, Failure> {
        let root = &self.tree.spec.root;
        match v.find(root) {
            None => {
                self.rep
                    .warning(
                        root,
                        "not in the database yet: every entry is reported as new",
                    )
                    .map_err(out_err)?;
                Ok(None)
            }
            Some(k) => {
                let same_alg = v.trees[k].algorithm == self.tree.spec.algorithm.id();
                if !same_alg {
                    self.rep
                        .warning(root, "hash algorithm changed since the baseline: content not compared; run `homeostat update`")
                        .map_err(out_err)?;
                }
                Ok(Some((Section::open(v, k, buf)?, same_alg)))
            }
        }
    }

    fn merge(
        &mut self,
        section: Option<(Section<'_>, bool)>,
        mut live: impl Iterator<Item = homeostat_linux::Scanned>,
        progress: &Progress,
    ) -> Result<(), Failure> {
        let mut section = section.map(|(s, _)| s);
        let db = self.db.to_owned();
        let next_old = |s: &mut Option<Section<'_>>| -> Result<Option<Entry<Vec<u8>>>, Failure> {
            match s {
                None => Ok(None),
                Some(s) => Ok(s.next_entry(&db)?),
            }
        };
        let mut o = next_old(&mut section)?;
        let mut n = live.next();
        // A directory that could not be listed now: what the baseline has below it is
        // unknown, not removed.
        let mut blind: Option<Vec<u8>> = None;
        loop {
            let ord = match (&o, &n) {
                (None, None) => break,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(a), Some(b)) => path_cmp(&a.path, &b.entry.path),
            };
            match ord {
                Ordering::Less => {
                    let Some(old) = o.take() else { break };
                    if blind.as_ref().is_some_and(|b| under(&old.path, b)) {
                        self.keep(&old)?;
                    } else {
                        self.removed(&old)?;
                    }
                    o = next_old(&mut section)?;
                }
                Ordering::Greater => {
                    let Some(s) = n.take() else { break };
                    progress.tick(&s.entry);
                    if self.problem(&s, &mut blind)? {
                        self.added(&s.entry)?;
                    }
                    n = live.next();
                }
                Ordering::Equal => {
                    let (Some(old), Some(s)) = (o.take(), n.take()) else {
                        break;
                    };
                    progress.tick(&s.entry);
                    if self.problem(&s, &mut blind)? {
                        self.both(&old, &s.entry)?;
                    } else if blind.is_some() {
                        self.keep(&old)?;
                    } else {
                        self.removed(&old)?;
                    }
                    o = next_old(&mut section)?;
                    n = live.next();
                }
            }
        }
        Ok(())
    }

    /// Reports what went wrong with `s`, tracks blind subtrees, and says whether `s`
    /// holds a record to compare.
    fn problem(
        &mut self,
        s: &homeostat_linux::Scanned,
        blind: &mut Option<Vec<u8>>,
    ) -> Result<bool, Failure> {
        if blind.as_ref().is_some_and(|b| !under(&s.entry.path, b)) {
            *blind = None;
        }
        if let Some(unseen) = s.unseen {
            if unseen == Unseen::Unknown {
                *blind = Some(s.entry.path.clone());
            }
            let p = s.problem.as_deref().unwrap_or("cannot be examined");
            self.rep.warning(&s.entry.path, p).map_err(out_err)?;
            return Ok(false);
        }
        self.rep.counts.entries += 1;
        if s.entry.meta.unreadable() {
            self.rep.counts.unreadable += 1;
            if s.entry.meta.kind == Kind::Dir && s.entry.meta.flags & FLAG_UNREADABLE != 0 {
                *blind = Some(s.entry.path.clone());
            }
        }
        if let Some(p) = &s.problem {
            self.rep.warning(&s.entry.path, p).map_err(out_err)?;
        }
        Ok(true)
    }

    fn selected(&self, path: &[u8]) -> bool {
        match self.mode {
            Mode::Update { only } => {
                only.is_empty() || only.iter().any(|p| path == &p[..] || under(path, p))
            }
            _ => true,
        }
    }

    fn write(&mut self, e: &Entry<Vec<u8>>) -> Result<(), Failure> {
        if e.path.len() > MAX_PATH || e.target().is_some_and(|t| t.len() > MAX_PATH) {
            // Deeper than PATH_MAX: no tool can open it by name either; say so, keep going.
            return self
                .rep
                .warning(
                    &e.path[..e.path.len().min(256)],
                    "path or link target longer than 4096 bytes: not recorded",
                )
                .map_err(out_err);
        }
        if let Some(w) = self.writer.as_deref_mut() {
            w.push(self.index, e)
                .map_err(io_fail("cannot write database", self.db))?;
        }
        Ok(())
    }

    fn keep(&mut self, old: &Entry<Vec<u8>>) -> Result<(), Failure> {
        self.write(old)
    }

    fn report(
        &mut self,
        change: Change,
        diff: homeostat_core::fim::Attrs,
        old: Option<&Entry<Vec<u8>>>,
        new: Option<&Entry<Vec<u8>>>,
    ) -> Result<(), Failure> {
        self.changed = true;
        let path = new.or(old).map(|e| &e.path[..]).unwrap_or_default();
        let f = FileFinding {
            change,
            path,
            diff,
            watched: self.tree.spec.attrs,
            old,
            new,
            handle: &self.tree.handle,
        };
        self.rep.file(&f).map_err(out_err)
    }

    fn removed(&mut self, old: &Entry<Vec<u8>>) -> Result<(), Failure> {
        match self.mode {
            Mode::Init => Ok(()),
            Mode::Check { .. } => self.report(Change::Removed, Default::default(), Some(old), None),
            Mode::Update { .. } if self.selected(&old.path) => {
                self.report(Change::Removed, Default::default(), Some(old), None)
            }
            Mode::Update { .. } => self.keep(old),
        }
    }

    fn added(&mut self, new: &Entry<Vec<u8>>) -> Result<(), Failure> {
        match self.mode {
            Mode::Init => {
                self.setid(None, new)?;
                self.write(new)
            }
            Mode::Check { .. } => {
                self.report(Change::Added, Default::default(), None, Some(new))?;
                self.setid(None, new)?;
                self.write(new)
            }
            Mode::Update { .. } if self.selected(&new.path) => {
                self.report(Change::Added, Default::default(), None, Some(new))?;
                self.write(new)
            }
            Mode::Update { .. } => Ok(()),
        }
    }

    fn both(&mut self, old: &Entry<Vec<u8>>, new: &Entry<Vec<u8>>) -> Result<(), Failure> {
        let diff = compare(old, new, self.tree.spec.attrs);
        match self.mode {
            Mode::Init => self.write(new),
            Mode::Check { .. } => {
                if !diff.is_empty() {
                    self.report(Change::Changed, diff, Some(old), Some(new))?;
                    self.setid(Some(old), new)?;
                }
                self.write(new)
            }
            Mode::Update { .. } if self.selected(&new.path) => {
                if !diff.is_empty() {
                    self.report(Change::Changed, diff, Some(old), Some(new))?;
                }
                self.write(new)
            }
            Mode::Update { .. } => self.keep(old),
        }
    }

    /// Says "NEW SETUID root PROGRAM" when `new` meets CFEngine's rule and `old` did not.
    fn setid(&mut self, old: Option<&Entry<Vec<u8>>>, new: &Entry<Vec<u8>>) -> Result<(), Failure> {
        let (was_uid, was_gid) = old.map_or((false, false), |o| setid_root(&o.meta));
        let (is_uid, is_gid) = setid_root(&new.meta);
        if is_uid && !was_uid {
            self.rep.setid(&new.path, true, new).map_err(out_err)?;
        }
        if is_gid && !was_gid {
            self.rep.setid(&new.path, false, new).map_err(out_err)?;
        }
        Ok(())
    }
}

/// `path` lies strictly below directory `dir`.
fn under(path: &[u8], dir: &[u8]) -> bool {
    let dir = if dir.len() > 1 {
        dir.strip_suffix(b"/").unwrap_or(dir)
    } else {
        dir
    };
    path.len() > dir.len() && path.starts_with(dir) && (dir == b"/" || path[dir.len()] == b'/')
}

#[cfg(test)]
mod tests {
    use super::under;

    #[test]
    fn under_is_component_wise() {
        assert!(under(b"/a/b/c", b"/a/b"));
        assert!(!under(b"/a/bc", b"/a/b"));
        assert!(!under(b"/a/b", b"/a/b"));
        assert!(under(b"/x", b"/"));
    }
}
