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
        // The restore events are journaled (committed by the caller): sign the head as it is.
        let journal = crate::journal::file::beside(&v.path);
        let head = crate::journal::file::head(&journal).map_err(|e| {
            format!(
                "cannot read the journal's head from {}: {e}",
                journal.display()
            )
        })?;
        writer.commit(keys, head).map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::database;
    use homeostat_core::fim::{Kind, Meta};

    fn entry(path: &str, inode: u64) -> Entry<Vec<u8>> {
        Entry {
            path: path.as_bytes().to_vec(),
            target: None,
            meta: Meta {
                inode,
                ..Meta::empty(Kind::File)
            },
        }
    }

    fn records(v: &Verified, tree: usize) -> Vec<(String, u64)> {
        let mut buf = Section::buffer();
        let mut s = Section::open(v, tree, &mut buf).unwrap();
        let mut out = Vec::new();
        while let Some(e) = s.next_entry(&v.path).unwrap() {
            out.push((String::from_utf8(e.path).unwrap(), e.meta.inode));
        }
        out
    }

    #[test]
    fn puts_replace_or_insert_in_order_and_nothing_else_moves() {
        let t = tempfile::tempdir().unwrap();
        let db = t.path().join("files.db");
        let keys = Keys {
            signing: None,
            verifying: None,
        };
        let mut trees = heapless::Vec::new();
        for root in [&b"/a"[..], b"/z"] {
            let info = TreeInfo {
                root,
                algorithm: 1,
                attrs: 0,
            };
            trees.push(info).unwrap();
        }
        let header = Header {
            created: 1,
            host: "h",
            trees,
        };
        let mut w = DbWriter::create(&db, &header).unwrap();
        for (tree, e) in [
            (0, entry("/a", 1)),
            (0, entry("/a/f", 2)),
            (0, entry("/a/g", 3)),
        ] {
            w.push(tree, &e).unwrap();
        }
        w.push(1, &entry("/z", 9)).unwrap();
        w.commit(&keys, None).unwrap();

        let v = database::verify(&db, &keys).unwrap();
        let mut acc = Accepted::default();
        acc.put(0, entry("/a/f", 20));
        acc.put(0, entry("/a/f.cfbackup", 21));
        acc.put(0, entry("/a/f", 22)); // a later put of the same path wins
        assert_eq!(acc.record(&v, 0, b"/a/f").unwrap().unwrap().meta.inode, 22);
        assert_eq!(acc.record(&v, 0, b"/a/g").unwrap().unwrap().meta.inode, 3);
        assert!(acc.record(&v, 0, b"/a/h").unwrap().is_none());
        acc.write(&v, &keys, "h", 2).unwrap();

        let v = database::verify(&db, &keys).unwrap();
        let want = |r: &[(&str, u64)]| -> Vec<(String, u64)> {
            r.iter().map(|(p, i)| (p.to_string(), *i)).collect()
        };
        assert_eq!(
            records(&v, 0),
            want(&[("/a", 1), ("/a/f", 22), ("/a/f.cfbackup", 21), ("/a/g", 3)])
        );
        assert_eq!(records(&v, 1), want(&[("/z", 9)]));
        assert_eq!(v.created, 2);
    }
}
