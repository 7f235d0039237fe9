//! The file database on disk: atomic writes, and reads that verify before they believe.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use homeostat_core::fim::db::{self, DbError, Encoder, Header, TreeInfo, MAX_FRAME, PREAMBLE_LEN};
use homeostat_core::fim::reader::{Event, ReadError, Reader};
use homeostat_core::fim::Entry;
use homeostat_core::journal::Head;

use crate::files::signing::Keys;

/// A database that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum DbFileError {
    #[error("no database at {0} (run `homeostat init` first)")]
    Missing(PathBuf),
    #[error("cannot read database {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("database {path} refused at byte {offset}: {reason}")]
    Invalid {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
}

/// Bytes read from the file at a time.
const CHUNK: usize = 64 * 1024;

/// The file's bytes in chunks, fed to the core's reader.
struct Source {
    file: File,
    chunk: Vec<u8>,
    pos: usize,
    filled: usize,
}

impl Source {
    fn new(file: File) -> Source {
        Source {
            file,
            chunk: vec![0u8; CHUNK],
            pos: 0,
            filled: 0,
        }
    }

    /// The unread bytes of the chunk, reading the next one when it is used up; empty at
    /// the end of the file.
    fn refill(&mut self) -> io::Result<()> {
        if self.pos == self.filled {
            self.filled = loop {
                match self.file.read(&mut self.chunk) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    r => break r?,
                }
            };
            self.pos = 0;
        }
        Ok(())
    }
}

/// The reader's buffer for a header or frame split across chunks.
fn item_buffer() -> Vec<u8> {
    vec![0u8; db::MAX_HEADER.max(MAX_FRAME)]
}

fn invalid(path: &Path, e: ReadError) -> DbFileError {
    DbFileError::Invalid {
        path: path.to_owned(),
        offset: e.offset,
        reason: e.error.to_string(),
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> DbFileError + '_ {
    move |source| DbFileError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What the verification pass learned: the header (owned) and where each tree starts.
pub struct Verified {
    pub path: PathBuf,
    pub created: i64,
    pub host: String,
    pub trees: Vec<OwnedTree>,
    pub count: u64,
    /// Signed, and the signature verified with a configured key: without a key nothing
    /// vouches for the bytes the trailer calls a signature (they are outside the digest).
    pub signed: bool,
    /// The journal head the database signs (none in version 1 databases).
    pub journal: Option<Head>,
}

#[derive(Clone, Debug)]
pub struct OwnedTree {
    pub root: Vec<u8>,
    pub algorithm: u8,
    pub attrs: u16,
    /// Offset of its first record, if it has any.
    pub start: Option<u64>,
}

/// Pass one: streams the whole file through the core's reader, which checks the
/// trailer's digest, count and signature, that every record decodes, and the order.
/// Memory is constant in the number of records.
pub fn verify(path: &Path, keys: &Keys) -> Result<Verified, DbFileError> {
    let file = match crate::state_file::read(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(DbFileError::Missing(path.to_owned()))
        }
        Err(e) => return Err(io_error(path)(e)),
    };
    let mut src = Source::new(file);
    let mut buf = item_buffer();
    let mut reader = Reader::new(&mut buf, |d: &[u8; 32], s: Option<&[u8; 64]>| {
        keys.check(d, s)
    });
    let mut v = Verified {
        path: path.to_owned(),
        created: 0,
        host: String::new(),
        trees: Vec::new(),
        count: 0,
        signed: false,
        journal: None,
    };
    loop {
        src.refill().map_err(io_error(path))?;
        let (used, event) = reader
            .feed(&src.chunk[src.pos..src.filled])
            .map_err(|e| invalid(path, e))?;
        src.pos += used;
        match event {
            Some(Event::Header(h)) => {
                let h = h.decode().map_err(|e| {
                    invalid(
                        path,
                        ReadError {
                            offset: PREAMBLE_LEN as u64,
                            error: e,
                        },
                    )
                })?;
                v.created = h.created;
                v.host = h.host.to_string();
                v.trees = h
                    .trees
                    .iter()
                    .map(|t| OwnedTree {
                        root: t.root.to_vec(),
                        algorithm: t.algorithm,
                        attrs: t.attrs,
                        start: None,
                    })
                    .collect();
            }
            Some(Event::Record { offset, tree, .. }) => {
                if let Some(t) = v.trees.get_mut(usize::from(tree)) {
                    t.start.get_or_insert(offset);
                }
            }
            Some(Event::Verified(t)) => {
                v.count = t.count;
                v.signed = t.signature.is_some() && keys.verifying.is_some();
            }
            Some(Event::End) => {}
            // Every byte fed: whole, or cut short (`end` says where).
            None if src.filled == 0 => break,
            None => {}
        }
    }
    reader.end().map_err(|e| invalid(path, e))?;
    v.journal = reader.journal_head();
    Ok(v)
}

/// Pass two: the records of one tree, in order, from a database [`verify`] accepted.
pub struct Section<'b> {
    src: Option<Source>,
    tree: u16,
    reader: Reader<'b>,
}

impl<'b> Section<'b> {
    /// Opens tree `tree` of `v`; `buf` (from [`Section::buffer`]) holds a frame split
    /// across reads.
    pub fn open(v: &Verified, tree: usize, buf: &'b mut [u8]) -> Result<Section<'b>, DbFileError> {
        let infos = v.infos();
        let start = v.trees[tree].start;
        let reader =
            Reader::records(buf, &infos, start.unwrap_or(0)).map_err(|e| invalid(&v.path, e))?;
        let src = match start {
            Some(start) => {
                let mut file = crate::state_file::read(&v.path).map_err(io_error(&v.path))?;
                file.seek(SeekFrom::Start(start))
                    .map_err(io_error(&v.path))?;
                Some(Source::new(file))
            }
            None => None,
        };
        Ok(Section {
            src,
            tree: tree as u16,
            reader,
        })
    }

    /// A buffer for [`Section::open`].
    pub fn buffer() -> Vec<u8> {
        vec![0u8; MAX_FRAME]
    }

    /// The next record of this tree, owned.
    pub fn next_entry(&mut self, path: &Path) -> Result<Option<Entry<Vec<u8>>>, DbFileError> {
        let Some(src) = self.src.as_mut() else {
            return Ok(None);
        };
        loop {
            src.refill().map_err(io_error(path))?;
            if src.filled == 0 {
                self.reader.end().map_err(|e| invalid(path, e))?;
                self.src = None;
                return Ok(None);
            }
            let (used, event) = self
                .reader
                .feed(&src.chunk[src.pos..src.filled])
                .map_err(|e| invalid(path, e))?;
            src.pos += used;
            match event {
                Some(Event::Record { tree, entry, .. }) if tree == self.tree => {
                    return Ok(Some(Entry {
                        path: entry.path.to_vec(),
                        target: entry.target.map(<[u8]>::to_vec),
                        meta: entry.meta,
                    }))
                }
                Some(_) => {
                    // The next tree's first record, or the end marker.
                    self.src = None;
                    return Ok(None);
                }
                None => {}
            }
        }
    }
}

/// Writes a new database next to `dest`, replacing it only on [`DbWriter::commit`].
pub struct DbWriter {
    out: BufWriter<File>,
    enc: Option<Encoder>,
    buf: Vec<u8>,
    tmp: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl DbWriter {
    pub fn create(dest: &Path, header: &Header<'_>) -> io::Result<DbWriter> {
        let dir = dest.parent().unwrap_or(Path::new("."));
        remove_stale_temporaries(dir, dest);
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!("{name}.tmp.{}", std::process::id()));
        // 0600: the digests of every watched file are nobody else's business (AIDE too).
        let file = crate::state_file::create_new(&tmp)?;
        let mut buf = vec![0u8; MAX_FRAME.max(db::MAX_HEADER + PREAMBLE_LEN)];
        let (enc, n) = Encoder::begin(header, &mut buf).map_err(to_io)?;
        let mut out = BufWriter::with_capacity(256 * 1024, file);
        out.write_all(&buf[..n])?;
        buf.truncate(MAX_FRAME);
        Ok(DbWriter {
            out,
            enc: Some(enc),
            buf,
            tmp,
            dest: dest.to_owned(),
            committed: false,
        })
    }

    pub fn push(&mut self, tree: u16, e: &Entry<Vec<u8>>) -> io::Result<()> {
        let enc = self
            .enc
            .as_mut()
            .ok_or_else(|| io::Error::other("database already committed"))?;
        let n = enc.record(tree, e, &mut self.buf).map_err(to_io)?;
        self.out.write_all(&self.buf[..n])
    }

    /// The journal's `head`, the trailer, flush, fsync, rename, fsync of the directory: the
    /// old database or the new one, never a torn one.
    pub fn commit(mut self, keys: &Keys, head: Option<Head>) -> io::Result<u64> {
        let enc = self
            .enc
            .take()
            .ok_or_else(|| io::Error::other("database already committed"))?;
        let fin = enc.finish(head);
        self.out
            .write_all(&fin.tail(keys.sign(&fin.digest).as_ref()))?;
        self.out.flush()?;
        self.out.get_ref().sync_data()?;
        fs::rename(&self.tmp, &self.dest)?;
        if let Some(dir) = self.dest.parent() {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        self.committed = true;
        Ok(fin.count)
    }
}

impl Drop for DbWriter {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

fn to_io(e: DbError) -> io::Error {
    io::Error::other(e.to_string())
}

/// Temporaries left by a run that was killed (their process no longer exists).
fn remove_stale_temporaries(dir: &Path, dest: &Path) {
    let Some(name) = dest.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let prefix = format!("{name}.tmp.");
    let Ok(rd) = fs::read_dir(dir) else { return };
    for de in rd.flatten() {
        let fname = de.file_name().to_string_lossy().into_owned();
        if let Some(pid) = fname
            .strip_prefix(&prefix)
            .and_then(|p| p.parse::<u32>().ok())
        {
            if !process_exists(pid) {
                let _ = fs::remove_file(de.path());
            }
        }
    }
}

impl Verified {
    /// The header's trees, borrowed.
    pub fn infos(&self) -> Vec<TreeInfo<'_>> {
        self.trees
            .iter()
            .map(|t| TreeInfo {
                root: &t.root,
                algorithm: t.algorithm,
                attrs: t.attrs,
            })
            .collect()
    }
}

fn process_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks that the process exists.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;
    use homeostat_core::fim::entry::{Kind, Meta};

    /// A database of two records at `dest`, signed when `keys` can sign.
    fn write(dest: &Path, keys: &Keys) {
        let mut trees = heapless::Vec::new();
        trees
            .push(TreeInfo {
                root: b"/t",
                algorithm: 1,
                attrs: 0xff,
            })
            .unwrap();
        let h = Header {
            created: 1_700_000_000,
            host: "h",
            trees,
        };
        let mut w = DbWriter::create(dest, &h).unwrap();
        for p in [&b"/t"[..], b"/t/a"] {
            let e = Entry {
                path: p.to_vec(),
                target: None,
                meta: Meta::empty(Kind::File),
            };
            w.push(0, &e).unwrap();
        }
        w.commit(keys, None).unwrap();
    }

    /// "Signed" means verified: a signed database read without a key is not called
    /// signed, and no flipped byte at the end of an unsigned one is ever called signed.
    #[test]
    fn an_unsigned_database_with_a_flipped_trailer_byte_is_never_called_signed() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("files.db");
        let key = dir.path().join("key");
        let public = crate::files::signing::keygen(&key).unwrap();
        let signer = Keys::load(Some(&key), Some(&public)).unwrap();
        write(&db, &signer);
        assert!(verify(&db, &signer).unwrap().signed);
        assert!(!verify(&db, &Keys::default()).unwrap().signed);

        write(&db, &Keys::default());
        let file = fs::read(&db).unwrap();
        assert!(!verify(&db, &Keys::default()).unwrap().signed);
        // The end marker, the journal head and the trailer.
        let end = 1 + db::HEAD_LEN + db::TRAILER_LEN;
        for at in file.len() - end..file.len() {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut bad = file.clone();
                bad[at] ^= mask;
                fs::write(&db, &bad).unwrap();
                for keys in [&Keys::default(), &signer] {
                    if let Ok(v) = verify(&db, keys) {
                        panic!("byte {at} ^ {mask:#04x} accepted (signed: {})", v.signed);
                    }
                }
            }
        }
    }
}
