//! `init`, `check` and `update`: drives the walk (any [`FileSource`]: the platform's is
//! `platform::Pool`) and the database's file I/O through the core's merge-join
//! (`homeostat_core::fim::join`), which makes every decision, and renders and writes what
//! it decides.

pub mod database;
pub mod origin;
pub mod packages;
pub mod realtime;
pub mod restore;
pub mod signing;
pub mod touched;

use std::path::Path;

use crate::platform::TreeSpec;
use homeostat_core::fim::db::{Header, TreeInfo, MAX_PATH, MAX_TREES};
use homeostat_core::fim::join::{self, Baseline, Decision, Examined, Finding, Join, Keep, Live};
use homeostat_core::fim::{Attrs, Entry};

use self::database::{DbFileError, DbWriter, Section, Verified};
pub use self::origin::Origin;
use self::packages::Packages;
use self::signing::Keys;
use crate::config::{Config, Tree};
use crate::output::progress::Progress;
use crate::output::Output;
use homeostat_core::event::{self, Change, Event, FileChange, SetId, Side};
use homeostat_core::feed::{FileSource, Found, Sink};

/// What the run does with the database.
#[derive(Clone, Debug)]
pub enum Mode {
    /// Record a new baseline; report nothing but set-id programs.
    Init,
    /// Compare; with `update`, accept what was reported into the database.
    Check { update: bool },
    /// Accept the current state of `only` (all when empty) into the database.
    Update { only: Vec<Vec<u8>> },
    /// Check the paths `only` alone (real time), as tidied by [`join::tidy`]; with
    /// `update`, accept what was reported.
    Paths {
        update: bool,
        only: Vec<join::Touched<Vec<u8>>>,
    },
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

impl Mode {
    /// The core's view of the mode, which decides everything.
    fn core(&self) -> join::Mode<'_, Vec<u8>> {
        match self {
            Mode::Init => join::Mode::Init,
            Mode::Check { update } => join::Mode::Check { update: *update },
            Mode::Update { only } => join::Mode::Update { only },
            Mode::Paths { update, only } => join::Mode::Paths {
                update: *update,
                only,
            },
        }
    }
}

/// The paths of `update PATH…`, each in a configured tree (or above one, which it then
/// covers); an error naming the first that is neither, and the trees, since accepting
/// it would silently accept nothing.
pub fn within_trees(trees: &[Tree], paths: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, String> {
    let roots = || trees.iter().map(|t| &t.spec.root[..]);
    for p in &paths {
        let covered = roots().any(|r| p[..] == *r || join::is_under(p, r) || join::is_under(r, p));
        if !covered {
            let listed: Vec<String> = roots()
                .map(|r| crate::output::escape::escape(r).to_string())
                .collect();
            return Err(format!(
                "update {}: not in any configured tree ({}); nothing to update",
                crate::output::escape::escape(p),
                match listed.is_empty() {
                    true => String::from("no [[files]] configured"),
                    false => listed.join(", "),
                }
            ));
        }
    }
    Ok(paths)
}

/// One run of `mode` over the configured trees, walked by `source`, against the database
/// at `db_path`; its findings were found as `origin` says (on schedule, in real time, by
/// a rescan).
#[allow(clippy::too_many_arguments)]
pub fn run_via<F: FileSource<Tree = TreeSpec, Item: Found<Path = Vec<u8>>>>(
    source: &mut F,
    keys: &Keys,
    cfg: &Config,
    db_path: &Path,
    host: &str,
    now: i64,
    mode: &Mode,
    origin: &Origin<'_>,
    rep: &mut Output,
) -> Result<(), Failure> {
    // Integrity before belief: the whole database is verified before any finding.
    let old = match mode {
        Mode::Init => None,
        _ => Some(database::verify(db_path, keys)?),
    };
    // A real-time check says once per start what a scheduled one says every time.
    let quiet = matches!(mode, Mode::Paths { .. });
    if let Some(v) = old.as_ref().filter(|_| !quiet) {
        rep.emit(&Event::Baseline(event::Baseline {
            created: v.created,
            host: &v.host,
            count: v.count,
            signed: v.signed,
        }))
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
    let mut packages = match &cfg.packages {
        None => None,
        Some(s) => {
            let since = old.as_ref().map_or(now, |v| v.created);
            Some(Packages::load(s, db_path, since, now, rep).map_err(out_err)?)
        }
    };
    // `accept = "verified"` writes the database of a plain check too, for what it accepts.
    let accept_only = matches!(mode, Mode::Check { update: false })
        && packages.as_ref().is_some_and(Packages::accepts);
    // A database that cannot be written (a read-only state directory, a full disk) does
    // not blind the run: everything is still compared and reported, and the run fails at
    // the end naming it; the old database stays as it was.
    let mut unwritten: Option<String> = None;
    let mut writer = match mode.core().writes() || accept_only {
        false => None,
        true => match DbWriter::create(db_path, &header) {
            Ok(w) => Some(w),
            Err(e) => {
                unwritten = Some(not_written(db_path, &e));
                None
            }
        },
    };
    if let Some(v) = old.as_ref().filter(|_| !quiet) {
        for t in &v.trees {
            let roots = cfg.trees.iter().map(|c| &c.spec.root[..]);
            if !join::still_configured(&t.root, roots) {
                rep.warning(
                    &t.root,
                    "in the database but no longer configured: dropped from it on the next update",
                )
                .map_err(out_err)?;
            }
        }
    }
    if let (Some(p), Some(_)) = (packages.as_mut(), &writer) {
        // As for the database: a full disk stops the recording, not the report.
        if let Err(e) = p.begin() {
            unwritten = Some(format!(
                "cannot write owners beside {}: {e}; so the database was not written: what \
                 was reported will be reported again",
                db_path.display()
            ));
            writer = None;
        }
    }
    let progress = Progress::new(!rep.json());
    let mut any_accepted = false;
    let mut any_change = false;
    let mut sbuf = Section::buffer();
    for (i, tree) in cfg.trees.iter().enumerate() {
        let writing = match unwritten {
            None => writer.as_mut(),
            Some(_) => None,
        };
        let mut out = Out {
            tree,
            index: i as u16,
            rep: &mut *rep,
            writer: writing,
            db: db_path,
            packages: packages.as_mut(),
            accept_only,
            accepted: false,
            origin,
            unwritten: &mut unwritten,
        };
        let section = match &old {
            None => None,
            Some(v) => out.section(v, &mut sbuf)?,
        };
        let mut join = Join::new(mode.core(), tree.spec.attrs);
        out.merge(&mut join, section, source.walk(&tree.spec), &progress)?;
        any_change |= join.changed();
        any_accepted |= out.accepted;
    }
    progress.finish();
    if unwritten.is_some() {
        // Dropped unfinished: its temporary goes, the old database stays.
        writer = None;
    }
    if let Some(w) = writer {
        // A check that found nothing leaves the database as it was: same content, no
        // rewrite. Init and update always write.
        if mode.core().commits(any_change) || any_accepted {
            // Every sink has the findings (written, and on disk for files) before the
            // baseline accepts them: a crash in between reports them again next time.
            rep.commit().map_err(|e| {
                Failure::Io(format!(
                    "cannot write report: {e}; so database {} was not written: what was \
                     reported will be reported again",
                    db_path.display()
                ))
            })?;
            // The journal holds them now too: the database signs its head as it is.
            let journal = crate::journal::file::beside(db_path);
            let head = crate::journal::file::head(&journal)
                .map_err(io_fail("cannot read the journal's head from", &journal))?;
            w.commit(keys, head)
                .map_err(|e| Failure::Io(not_written(db_path, &e)))?;
            if let Some(p) = packages.as_mut() {
                p.commit()
                    .map_err(io_fail("cannot write owners beside", db_path))?;
            }
        }
    }
    match unwritten {
        Some(why) => Err(Failure::Io(why)),
        None => Ok(()),
    }
}

/// The failure of a database that could not be written, after the run reported all.
fn not_written(db: &Path, e: &std::io::Error) -> String {
    format!(
        "cannot write database {}: {e}; what was reported was not recorded and will be \
         reported again",
        db.display()
    )
}

fn out_err(e: std::io::Error) -> Failure {
    Failure::Io(format!("cannot write report: {e}"))
}

/// Where one tree's decisions go: the reporter and the new database.
struct Out<'a, 'w> {
    tree: &'a Tree,
    index: u16,
    rep: &'a mut Output,
    writer: Option<&'w mut DbWriter>,
    db: &'a Path,
    /// The package view, with `[packages]`.
    packages: Option<&'a mut Packages>,
    /// The writer is there only for what `accept` takes: the rest keeps its record.
    accept_only: bool,
    /// Something was accepted by `accept`.
    accepted: bool,
    origin: &'a Origin<'a>,
    /// Why the new database could not be written: nothing more is pushed to it.
    unwritten: &'a mut Option<String>,
}

impl Out<'_, '_> {
    /// The database's records of this tree, if it has the tree; warns as the core's
    /// [`join::baseline`] says.
    fn section<'b>(
        &mut self,
        v: &Verified,
        buf: &'b mut [u8],
    ) -> Result<Option<Section<'b>>, Failure> {
        let root = &self.tree.spec.root;
        match join::baseline(&v.infos(), root, self.tree.spec.algorithm) {
            Baseline::Absent => {
                self.rep
                    .warning(
                        root,
                        "not in the database yet: every entry is reported as new",
                    )
                    .map_err(out_err)?;
                Ok(None)
            }
            Baseline::Recorded {
                index,
                same_algorithm,
            } => {
                if !same_algorithm {
                    self.rep
                        .warning(root, "hash algorithm changed since the baseline: content not compared; run `homeostat update`")
                        .map_err(out_err)?;
                }
                Ok(Some(Section::open(v, index, buf)?))
            }
        }
    }

    /// Drives the core's join over the database's records and the walk, rendering and
    /// writing what it decides.
    fn merge(
        &mut self,
        join: &mut Join<'_, Vec<u8>>,
        mut section: Option<Section<'_>>,
        mut walk: impl Iterator<Item = impl Found<Path = Vec<u8>>>,
        progress: &Progress,
    ) -> Result<(), Failure> {
        let db = self.db.to_owned();
        let mut next_old = || -> Result<Option<Entry<Vec<u8>>>, Failure> {
            match section.as_mut() {
                None => Ok(None),
                Some(s) => Ok(s.next_entry(&db)?),
            }
        };
        let mut o = next_old()?;
        let mut n = walk.next();
        while let Some(step) = join.step(o.as_ref(), n.as_ref().map(Found::live)) {
            if let (Some(examined), Some(s)) = (step.live, &n) {
                progress.tick(&s.live());
                self.examined(s, examined)?;
            }
            // Only a record is an entry; an unseen object's decision never uses one.
            let new = n
                .as_ref()
                .filter(|_| step.new)
                .and_then(|s| match s.live() {
                    Live::Seen(e) => Some(e),
                    Live::Unseen { .. } => None,
                });
            let old = o.as_ref().filter(|_| step.old);
            self.decided(&step.decision, old, new)?;
            if step.old {
                o = next_old()?;
            }
            if step.new {
                n = walk.next();
            }
        }
        Ok(())
    }

    /// Counts the live entry and says what went wrong with it.
    fn examined(
        &mut self,
        s: &impl Found<Path = Vec<u8>>,
        examined: Examined,
    ) -> Result<(), Failure> {
        let live = s.live();
        match examined {
            Examined::Unseen => {
                let p = s.problem().unwrap_or("cannot be examined");
                self.rep.warning(live.path(), p).map_err(out_err)?;
            }
            Examined::Entry { unreadable } => {
                self.rep
                    .emit(&Event::Examined { unreadable })
                    .map_err(out_err)?;
                if let Some(p) = s.problem() {
                    self.rep.warning(live.path(), p).map_err(out_err)?;
                }
            }
        }
        Ok(())
    }

    /// Renders a decision: the finding, the set-id call-outs, then the record kept.
    fn decided<'e>(
        &mut self,
        d: &Decision,
        old: Option<&'e Entry<Vec<u8>>>,
        new: Option<&'e Entry<Vec<u8>>>,
    ) -> Result<(), Failure> {
        let mut accepted = false;
        if let Some(finding) = d.finding {
            let (change, diff, old, new) = match finding {
                Finding::Added => (Change::Added, Attrs::EMPTY, None, new),
                Finding::Removed => (Change::Removed, Attrs::EMPTY, old, None),
                Finding::Changed(diff) => (Change::Changed, diff, old, new),
            };
            let path = new.or(old).map(|e| &e.path[..]).unwrap_or_default();
            let side = |e: &'e Entry<Vec<u8>>| Side {
                meta: &e.meta,
                target: e.target(),
            };
            let verdict = match self.packages.as_deref_mut() {
                None => None,
                Some(p) => p
                    .explain(change, diff, path, new, self.tree.spec.algorithm, self.rep)
                    .map_err(out_err)?,
            };
            let accepts = self.packages.as_deref().is_some_and(Packages::accepts);
            accepted = accepts
                && verdict
                    .as_ref()
                    .is_some_and(|v| v.package().verified_change());
            self.accepted |= accepted;
            let f = FileChange {
                change,
                path,
                diff,
                watched: self.tree.spec.attrs,
                old: old.map(side),
                new: new.map(side),
                handle: &self.tree.handle,
                package: verdict.as_ref().map(packages::Verdict::package),
                accepted,
                via: self.origin.via(path),
            };
            self.rep.emit(&Event::File(f)).map_err(out_err)?;
        }
        if let Some(new) = new {
            for (setuid, raised) in [(true, d.setuid), (false, d.setgid)] {
                if raised {
                    let e = SetId {
                        t: self.rep.now(),
                        path: &new.path,
                        setuid,
                        mode: new.meta.mode,
                        uid: new.meta.uid,
                    };
                    self.rep.emit(&Event::SetId(e)).map_err(out_err)?;
                }
            }
        }
        // What `accept` did not take keeps its record, to be reported again.
        let keep = match (d.finding, self.accept_only && !accepted) {
            (Some(Finding::Added), true) => Keep::Nothing,
            (Some(_), true) => Keep::Old,
            _ => d.keep,
        };
        let kept = match keep {
            Keep::Nothing => None,
            Keep::Old => old,
            Keep::New => new,
            Keep::TooLong => {
                // Longer than a record holds (db::MAX_PATH, 32 KiB): say so, keep going.
                let path = new.map(|e| &e.path[..]).unwrap_or_default();
                self.rep
                    .warning(
                        &path[..path.len().min(256)],
                        &format!("path or link target longer than {MAX_PATH} bytes: not recorded"),
                    )
                    .map_err(out_err)?;
                None
            }
        };
        if let (Some(e), Some(w)) = (kept, self.writer.as_deref_mut()) {
            if let Err(err) = w.push(self.index, e) {
                // A full disk: keep comparing and reporting; the writer is dropped after.
                *self.unwritten = Some(not_written(self.db, &err));
                self.writer = None;
                return Ok(());
            }
            if let Some(p) = self.packages.as_deref_mut() {
                p.keep(&e.path, keep == Keep::Old, self.rep)
                    .map_err(out_err)?;
            }
        }
        Ok(())
    }
}
