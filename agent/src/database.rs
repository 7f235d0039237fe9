//! The file database on disk: atomic writes, and reads that verify before they believe.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use homeostat_core::fim::db::{
    self, DbError, Decoder, Encoder, Header, TreeInfo, MAX_FRAME, PREAMBLE_LEN, TRAILER_LEN,
};
use homeostat_core::fim::Entry;
use sha2_shim::Sha256;

use crate::signing::Keys;

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

/// Reads and hashes, counting the offset.
struct Source {
    inner: BufReader<File>,
    offset: u64,
    hasher: Option<Sha256>,
}

impl Source {
    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.inner.read_exact(buf)?;
        if let Some(h) = self.hasher.as_mut() {
            h.update(buf);
        }
        self.offset += buf.len() as u64;
        Ok(())
    }

    /// Reads one frame into `buf`; `Ok(false)` at the end marker.
    fn frame(&mut self, buf: &mut Vec<u8>) -> Result<bool, (u64, String)> {
        let at = self.offset;
        let mut lenbytes = [0u8; 3];
        let mut n = 0;
        let len = loop {
            let mut b = [0u8; 1];
            self.read_exact(&mut b).map_err(|e| (at, short(e)))?;
            lenbytes[n] = b[0];
            n += 1;
            match db::take_varint(&lenbytes[..n]) {
                Ok(Some((len, _))) => break len as usize,
                Ok(None) if n < 3 => continue,
                _ => return Err((at, String::from("corrupt frame length"))),
            }
        };
        if len == 0 {
            return Ok(false);
        }
        if len > MAX_FRAME {
            return Err((
                at,
                format!("frame of {len} bytes is larger than any record"),
            ));
        }
        buf.resize(len, 0);
        self.read_exact(buf).map_err(|e| (at, short(e)))?;
        Ok(true)
    }
}

fn short(e: io::Error) -> String {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        String::from("truncated")
    } else {
        e.to_string()
    }
}

/// What the verification pass learned: the header (owned) and where each tree starts.
pub struct Verified {
    pub path: PathBuf,
    pub created: i64,
    pub host: String,
    pub trees: Vec<OwnedTree>,
    pub count: u64,
    pub signed: bool,
}

#[derive(Clone, Debug)]
pub struct OwnedTree {
    pub root: Vec<u8>,
    pub algorithm: u8,
    pub attrs: u16,
    /// Offset of its first record, if it has any.
    pub start: Option<u64>,
}

/// Pass one: streams the whole file, checking the trailer's digest and count, that every
/// record decodes, and the order. Memory is constant in the number of records.
pub fn verify(path: &Path, keys: &Keys) -> Result<Verified, DbFileError> {
    let invalid = |offset: u64, reason: String| DbFileError::Invalid {
        path: path.to_owned(),
        offset,
        reason,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(DbFileError::Missing(path.to_owned()))
        }
        Err(e) => {
            return Err(DbFileError::Io {
                path: path.to_owned(),
                source: e,
            })
        }
    };
    let len = file
        .metadata()
        .map_err(|e| DbFileError::Io {
            path: path.to_owned(),
            source: e,
        })?
        .len();
    let mut src = Source {
        inner: BufReader::with_capacity(64 * 1024, file),
        offset: 0,
        hasher: Some(Sha256::new()),
    };
    let mut pre = [0u8; PREAMBLE_LEN];
    src.read_exact(&mut pre).map_err(|e| invalid(0, short(e)))?;
    let hlen = db::decode_preamble(&pre).map_err(|e| invalid(0, e.to_string()))?;
    let mut hbytes = vec![0u8; hlen];
    src.read_exact(&mut hbytes)
        .map_err(|e| invalid(PREAMBLE_LEN as u64, short(e)))?;
    let header =
        db::decode_header(&hbytes).map_err(|e| invalid(PREAMBLE_LEN as u64, e.to_string()))?;
    let mut trees: Vec<OwnedTree> = header
        .trees
        .iter()
        .map(|t| OwnedTree {
            root: t.root.to_vec(),
            algorithm: t.algorithm,
            attrs: t.attrs,
            start: None,
        })
        .collect();
    let mut dec = Decoder::new();
    let mut buf = Vec::with_capacity(1024);
    loop {
        let at = src.offset;
        if at + 1 + TRAILER_LEN as u64 > len {
            return Err(invalid(at, String::from("truncated")));
        }
        match src.frame(&mut buf) {
            Ok(true) => {}
            Ok(false) => break,
            Err((o, r)) => return Err(invalid(o, r)),
        }
        let (tree, _) = dec
            .decode(&buf, &header.trees)
            .map_err(|e| invalid(at, e.to_string()))?;
        let t = &mut trees[tree as usize];
        if t.start.is_none() {
            t.start = Some(at);
        }
    }
    let body_end = src.offset;
    let digest = src.hasher.take().map(|h| h.finalize()).unwrap_or_default();
    let mut tail = [0u8; TRAILER_LEN];
    src.read_exact(&mut tail)
        .map_err(|e| invalid(body_end, short(e)))?;
    if src.offset != len {
        return Err(invalid(
            src.offset,
            format!("{} unexpected bytes after the trailer", len - src.offset),
        ));
    }
    let trailer = db::decode_trailer(&tail).map_err(|e| invalid(body_end, e.to_string()))?;
    if trailer.digest != digest {
        return Err(invalid(
            body_end,
            String::from("SHA-256 of the contents does not match the trailer (edited or damaged)"),
        ));
    }
    keys.check(&digest, trailer.signature.as_ref())
        .map_err(|reason| invalid(body_end, reason))?;
    if trailer.count != dec.count() {
        return Err(invalid(
            body_end,
            format!(
                "trailer counts {} records, the file holds {}",
                trailer.count,
                dec.count()
            ),
        ));
    }
    Ok(Verified {
        path: path.to_owned(),
        created: header.created,
        host: header.host.to_string(),
        trees,
        count: dec.count(),
        signed: trailer.signature.is_some(),
    })
}

/// Pass two: the records of one tree, in order, from a database [`verify`] accepted.
pub struct Section {
    src: Source,
    tree: u16,
    infos: Vec<OwnedTree>,
    dec: Decoder,
    buf: Vec<u8>,
    done: bool,
}

impl Section {
    pub fn open(v: &Verified, tree: usize) -> Result<Section, DbFileError> {
        let io = |e| DbFileError::Io {
            path: v.path.clone(),
            source: e,
        };
        let mut file = File::open(&v.path).map_err(io)?;
        let done = match v.trees[tree].start {
            Some(start) => {
                file.seek(SeekFrom::Start(start)).map_err(io)?;
                false
            }
            None => true,
        };
        let src = Source {
            inner: BufReader::with_capacity(64 * 1024, file),
            offset: v.trees[tree].start.unwrap_or(0),
            hasher: None,
        };
        Ok(Section {
            src,
            tree: tree as u16,
            infos: v.trees.clone(),
            dec: Decoder::new(),
            buf: Vec::new(),
            done,
        })
    }

    /// The next record of this tree, owned.
    pub fn next_entry(&mut self, path: &Path) -> Result<Option<Entry<Vec<u8>>>, DbFileError> {
        if self.done {
            return Ok(None);
        }
        let invalid = |offset: u64, reason: String| DbFileError::Invalid {
            path: path.to_owned(),
            offset,
            reason,
        };
        let at = self.src.offset;
        match self.src.frame(&mut self.buf) {
            Ok(true) => {}
            Ok(false) => {
                self.done = true;
                return Ok(None);
            }
            Err((o, r)) => return Err(invalid(o, r)),
        }
        let mut infos: heapless::Vec<TreeInfo<'_>, { db::MAX_TREES }> = heapless::Vec::new();
        for t in &self.infos {
            let _ = infos.push(TreeInfo {
                root: &t.root,
                algorithm: t.algorithm,
                attrs: t.attrs,
            });
        }
        let (tree, e) = self
            .dec
            .decode(&self.buf, &infos)
            .map_err(|e| invalid(at, e.to_string()))?;
        if tree != self.tree {
            self.done = true;
            return Ok(None);
        }
        Ok(Some(Entry {
            path: e.path.to_vec(),
            target: e.target.map(<[u8]>::to_vec),
            meta: e.meta,
        }))
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
        let file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
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

    /// Trailer, flush, fsync, rename, fsync of the directory: the old database or the new
    /// one, never a torn one.
    pub fn commit(mut self, keys: &Keys) -> io::Result<u64> {
        let enc = self
            .enc
            .take()
            .ok_or_else(|| io::Error::other("database already committed"))?;
        let fin = enc.finish();
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
    /// The index of the tree rooted at `root`.
    pub fn find(&self, root: &[u8]) -> Option<usize> {
        self.trees.iter().position(|t| t.root == root)
    }
}

/// The SHA-256 used for the whole-file check, from the core's digest module.
mod sha2_shim {
    use homeostat_core::digest::{Algorithm, Hasher};

    pub struct Sha256(Hasher);

    impl Sha256 {
        pub fn new() -> Sha256 {
            Sha256(Hasher::new(Algorithm::Sha256))
        }
        pub fn update(&mut self, b: &[u8]) {
            self.0.update(b)
        }
        pub fn finalize(self) -> [u8; 32] {
            let mut o = [0u8; 32];
            o.copy_from_slice(self.0.finalize().as_bytes());
            o
        }
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
