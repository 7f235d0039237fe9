//! The database side of a restore: reading the records of the paths it touches, and
//! writing a new signed database in which only the records it put differ.
//!
//! Not the join of `update`: that would walk every tree and accept whatever is live under
//! the paths. A restore accepts only what it did itself (the restored file's new inode
//! and ctime, its directory's ctime, the backup), so every other pending change stays in
//! the database as it was and the next `check` still reports it.

use std::cmp::Ordering;

use homeostat_core::fim::db::{Header, TreeInfo, MAX_TREES};
use homeostat_core::fim::{path_cmp, Entry};

use crate::files::database::{DbFileError, DbWriter, Section, Verified};
use crate::files::signing::Keys;

/// Records for the new database, each replacing the record of the same path in its
/// tree or inserted in path order.
#[derive(Default)]
pub struct Accepted {
    puts: Vec<(usize, Entry<Vec<u8>>)>,
}

impl Accepted {
    /// The record of `path` in tree `tree` (the database's index): the one put by this
    /// restore, else the database's.
    pub fn record(
        &self,
        v: &Verified,
        tree: usize,
        path: &[u8],
    ) -> Result<Option<Entry<Vec<u8>>>, DbFileError> {
        if let Some((_, e)) = self.puts.iter().find(|(t, e)| *t == tree && e.path == path) {
            return Ok(Some(e.clone()));
        }
        let mut buf = Section::buffer();
        let mut section = Section::open(v, tree, &mut buf)?;
        while let Some(e) = section.next_entry(&v.path)? {
            match path_cmp(&e.path, path) {
                Ordering::Less => {}
                Ordering::Equal => return Ok(Some(e)),
                Ordering::Greater => break,
            }
        }
        Ok(None)
    }

    /// Puts `e` into tree `tree`, replacing what an earlier put of this path said.
    pub fn put(&mut self, tree: usize, e: Entry<Vec<u8>>) {
        self.puts.retain(|(t, p)| !(*t == tree && p.path == e.path));
        self.puts.push((tree, e));
    }

    pub fn is_empty(&self) -> bool {
        self.puts.is_empty()
    }

    /// Writes the database `v` again, signed with `keys`, with the records put; every
    /// other record, and every tree (configured or not), as it was.
    pub fn write(mut self, v: &Verified, keys: &Keys, host: &str, now: i64) -> Result<u64, String> {
        let fail = |e: std::io::Error| format!("cannot write database {}: {e}", v.path.display());
        let mut trees: heapless::Vec<TreeInfo<'_>, MAX_TREES> = heapless::Vec::new();
        for t in v.infos() {
            trees
                .push(t)
                .map_err(|_| format!("more than {MAX_TREES} trees"))?;
        }
        let header = Header {
            created: now,
            host,
            trees,
        };
        self.puts
            .sort_by(|(ta, a), (tb, b)| ta.cmp(tb).then_with(|| path_cmp(&a.path, &b.path)));
        let mut writer = DbWriter::create(&v.path, &header).map_err(fail)?;
        let mut buf = Section::buffer();
        for tree in 0..v.trees.len() {
            let index = tree as u16;
            let mut mine = self
                .puts
                .iter()
                .filter(|(t, _)| *t == tree)
                .map(|(_, e)| e)
                .peekable();
            let mut section = Section::open(v, tree, &mut buf).map_err(|e| e.to_string())?;
            while let Some(old) = section.next_entry(&v.path).map_err(|e| e.to_string())? {
                while let Some(e) = mine.next_if(|e| path_cmp(&e.path, &old.path).is_lt()) {
                    writer.push(index, e).map_err(fail)?;
                }
                match mine.next_if(|e| e.path == old.path) {
                    Some(e) => writer.push(index, e).map_err(fail)?,
                    None => writer.push(index, &old).map_err(fail)?,
                }
            }
            for e in mine {
                writer.push(index, e).map_err(fail)?;
            }
        }
        writer.commit(keys).map_err(fail)
    }
}
