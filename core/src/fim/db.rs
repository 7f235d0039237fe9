//! The database codec, sans I/O: the caller moves the bytes, this module shapes them.
//!
//! Layout (all integers little-endian unless varint):
//!
//! ```text
//! preamble  "HMSTDB" | version u16 | header length u32          12 bytes
//! header    postcard Header                                       (created, host, trees)
//! frames    varint length | postcard record                      one per entry, sorted
//! end       varint 0                                              1 byte
//! trailer   "HMSTEND\0" | count u64 | SHA-256 of all above | signed u8 | ed25519 sig [64]
//! ```
//!
//! Records are sorted by tree index, then by [`path_cmp`]; paths are front-coded against
//! the previous record. The trailer's digest covers every byte before it, so a truncated,
//! bit-flipped or edited file is refused before a single record is believed.

use core::fmt;

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::entry::{Entry, Kind, Meta, Timestamp};
use super::order::path_cmp;
use crate::digest::{Algorithm, Digest};
use crate::fim::attrs::Attrs;

/// The first six bytes of every database.
pub const MAGIC: &[u8; 6] = b"HMSTDB";
/// The format version this build writes and reads.
pub const VERSION: u16 = 1;
/// Magic, version and header length.
pub const PREAMBLE_LEN: usize = 12;
/// The first eight bytes of the trailer.
pub const TRAILER_MAGIC: &[u8; 8] = b"HMSTEND\0";
/// Trailer magic, record count, body digest, signed flag, signature.
pub const TRAILER_LEN: usize = 8 + 8 + 32 + 1 + 64;
/// Longest path or symlink target a record holds (Linux `PATH_MAX`).
pub const MAX_PATH: usize = 4096;
/// Largest encoded record: two maximal byte strings plus the fixed fields.
pub const MAX_FRAME: usize = 2 * MAX_PATH + 512;
/// Most trees one database holds.
pub const MAX_TREES: usize = 64;
/// Longest header.
pub const MAX_HEADER: usize = 64 * 1024;

/// Why bytes are not a valid database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbError {
    /// Not a homeostat database at all.
    BadMagic,
    /// A database of another format version.
    Version {
        /// The version the preamble names.
        found: u16,
    },
    /// A field does not decode or holds an impossible value.
    Corrupt(&'static str),
    /// Records are not strictly in order (edited, or written by a buggy tool).
    OutOfOrder,
    /// A path or target longer than [`MAX_PATH`].
    PathTooLong,
    /// The caller's buffer cannot hold the encoded value.
    BufferTooSmall,
    /// More trees than [`MAX_TREES`].
    TooManyTrees,
    /// The bytes end before the database does.
    Truncated {
        /// The part that was being read: "the preamble", "a record", "the trailer", ….
        expected: &'static str,
    },
    /// Bytes follow the trailer.
    TrailingBytes,
    /// A frame length larger than [`MAX_FRAME`].
    FrameTooLarge {
        /// The length the frame claims.
        len: u32,
    },
    /// A header or frame split across fed chunks does not fit the reader's buffer.
    Capacity {
        /// Bytes the item needs.
        need: usize,
        /// Bytes the caller's buffer holds.
        capacity: usize,
    },
    /// The trailer's SHA-256 is not that of the bytes before it.
    DigestMismatch,
    /// The trailer's record count is not the number of records.
    CountMismatch {
        /// What the trailer says.
        trailer: u64,
        /// How many records there are.
        records: u64,
    },
    /// The signature hook refused the database; the reason is the hook's.
    Signature(&'static str),
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::BadMagic => f.write_str("not a homeostat database (no HMSTDB magic)"),
            DbError::Version { found } => write!(
                f,
                "database format version {found}, this homeostat reads version {VERSION}"
            ),
            DbError::Corrupt(what) => write!(f, "corrupt {what}"),
            DbError::OutOfOrder => f.write_str("records out of order"),
            DbError::PathTooLong => write!(f, "path longer than {MAX_PATH} bytes"),
            DbError::BufferTooSmall => f.write_str("buffer too small"),
            DbError::TooManyTrees => write!(f, "more than {MAX_TREES} trees"),
            DbError::Truncated { expected } => write!(f, "truncated: expected {expected}"),
            DbError::TrailingBytes => f.write_str("unexpected bytes after the trailer"),
            DbError::FrameTooLarge { len } => {
                write!(f, "frame of {len} bytes is larger than any record")
            }
            DbError::Capacity { need, capacity } => write!(
                f,
                "an item of {need} bytes does not fit the reader's buffer of {capacity} bytes"
            ),
            DbError::DigestMismatch => f.write_str(
                "SHA-256 of the contents does not match the trailer (edited or damaged)",
            ),
            DbError::CountMismatch { trailer, records } => write!(
                f,
                "trailer counts {trailer} records, the file holds {records}"
            ),
            DbError::Signature(reason) => f.write_str(reason),
        }
    }
}

impl core::error::Error for DbError {}

/// One watched tree as the header records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeInfo<'a> {
    /// The tree's root path as configured.
    #[serde(borrow)]
    pub root: &'a [u8],
    /// [`Algorithm::id`] of its content digests.
    pub algorithm: u8,
    /// [`Attrs::bits`] of what it watches.
    pub attrs: u16,
}

impl TreeInfo<'_> {
    /// The digest algorithm, refused when unknown.
    pub fn algorithm(&self) -> Result<Algorithm, DbError> {
        Algorithm::from_id(self.algorithm).ok_or(DbError::Corrupt("header: unknown hash algorithm"))
    }

    /// The watched attributes, refused when bits are unknown.
    pub fn attrs(&self) -> Result<Attrs, DbError> {
        Attrs::from_bits(self.attrs).ok_or(DbError::Corrupt("header: unknown attribute bits"))
    }
}

/// What a database says about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header<'a> {
    /// Seconds since the epoch when it was written.
    pub created: i64,
    /// The host that wrote it.
    #[serde(borrow)]
    pub host: &'a str,
    /// The trees it records, in record order (a record names its tree by index).
    #[serde(borrow)]
    pub trees: heapless::Vec<TreeInfo<'a>, MAX_TREES>,
}

#[derive(Serialize, Deserialize)]
struct WireRecord<'a> {
    tree: u16,
    shared: u16,
    #[serde(borrow)]
    suffix: &'a [u8],
    kind: u8,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: i64,
    mtime_ns: u32,
    ctime: i64,
    ctime_ns: u32,
    inode: u64,
    dev: u64,
    nlink: u64,
    flags: u8,
    #[serde(borrow)]
    target: Option<&'a [u8]>,
    xattrs: Option<[u8; 32]>,
    #[serde(borrow)]
    content: Option<&'a [u8]>,
}

/// Writes a varint (LEB128) into `out`, returning its length.
fn put_varint(mut v: u32, out: &mut [u8]) -> Result<usize, DbError> {
    let mut i = 0;
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        let slot = out.get_mut(i).ok_or(DbError::BufferTooSmall)?;
        if v == 0 {
            *slot = byte;
            return Ok(i + 1);
        }
        *slot = byte | 0x80;
        i += 1;
    }
}

/// Reads a frame-length varint from the front of `bytes`: `(value, bytes used)`, `None`
/// when more bytes are needed, an error when it is longer than any frame can be.
pub fn take_varint(bytes: &[u8]) -> Result<Option<(u32, usize)>, DbError> {
    let mut v: u32 = 0;
    for (i, b) in bytes.iter().enumerate() {
        if i >= 3 {
            return Err(DbError::Corrupt("frame length"));
        }
        v |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(Some((v, i + 1)));
        }
    }
    Ok(None)
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .take_while(|(x, y)| x == y)
        .count()
        .min(u16::MAX as usize)
}

/// The SHA-256 of a database's body (every byte before the trailer): what the trailer
/// records and what a signature signs. The writer, the reader and every caller use this
/// one computation.
#[derive(Clone, Default)]
pub struct BodyDigest(sha2::Sha256);

impl BodyDigest {
    /// An empty digest.
    pub fn new() -> BodyDigest {
        BodyDigest(sha2::Sha256::new())
    }

    /// Adds the next bytes of the body.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The 32-byte digest of everything added.
    pub fn finish(self) -> [u8; 32] {
        let mut d = [0u8; 32];
        d.copy_from_slice(&self.0.finalize());
        d
    }

    /// The digest of a whole body at once.
    pub fn of(body: &[u8]) -> [u8; 32] {
        let mut h = BodyDigest::new();
        h.update(body);
        h.finish()
    }
}

/// Writes a database as a stream of byte chunks the caller stores.
pub struct Encoder {
    body: BodyDigest,
    count: u64,
    tree: u16,
    prev: heapless::Vec<u8, MAX_PATH>,
    started: bool,
}

impl Encoder {
    /// Encodes the preamble and header into `out`; the caller writes `out[..n]`.
    pub fn begin(header: &Header<'_>, out: &mut [u8]) -> Result<(Encoder, usize), DbError> {
        if out.len() < PREAMBLE_LEN {
            return Err(DbError::BufferTooSmall);
        }
        let (pre, rest) = out.split_at_mut(PREAMBLE_LEN);
        let hlen = postcard::to_slice(header, rest)
            .map_err(|_| DbError::BufferTooSmall)?
            .len();
        pre[..6].copy_from_slice(MAGIC);
        pre[6..8].copy_from_slice(&VERSION.to_le_bytes());
        pre[8..12].copy_from_slice(&(hlen as u32).to_le_bytes());
        let n = PREAMBLE_LEN + hlen;
        let mut body = BodyDigest::new();
        body.update(&out[..n]);
        let enc = Encoder {
            body,
            count: 0,
            tree: 0,
            prev: heapless::Vec::new(),
            started: false,
        };
        Ok((enc, n))
    }

    /// Encodes one record of tree `tree` into `out` (at least [`MAX_FRAME`] bytes).
    /// Records must come in (tree, [`path_cmp`]) order.
    pub fn record<B: AsRef<[u8]>>(
        &mut self,
        tree: u16,
        e: &Entry<B>,
        out: &mut [u8],
    ) -> Result<usize, DbError> {
        let path = e.path();
        if path.len() > MAX_PATH || e.target().is_some_and(|t| t.len() > MAX_PATH) {
            return Err(DbError::PathTooLong);
        }
        if self.started
            && (tree < self.tree || (tree == self.tree && path_cmp(&self.prev, path).is_ge()))
        {
            return Err(DbError::OutOfOrder);
        }
        // Front coding restarts with each tree so that a reader can seek to a section.
        let shared = if self.started && tree == self.tree {
            common_prefix(&self.prev, path)
        } else {
            0
        };
        let m = &e.meta;
        let wire = WireRecord {
            tree,
            shared: shared as u16,
            suffix: &path[shared..],
            kind: m.kind as u8,
            mode: m.mode,
            uid: m.uid,
            gid: m.gid,
            size: m.size,
            mtime: m.mtime.sec,
            mtime_ns: m.mtime.nsec,
            ctime: m.ctime.sec,
            ctime_ns: m.ctime.nsec,
            inode: m.inode,
            dev: m.dev,
            nlink: m.nlink,
            flags: m.flags,
            target: e.target(),
            xattrs: m.xattrs,
            content: m.content.as_ref().map(|d| d.as_bytes()),
        };
        if out.len() < 4 {
            return Err(DbError::BufferTooSmall);
        }
        // Encode after a 3-byte gap, then move it up behind the real varint length.
        let len = postcard::to_slice(&wire, &mut out[3..])
            .map_err(|_| DbError::BufferTooSmall)?
            .len();
        let mut lenbuf = [0u8; 3];
        let vl = put_varint(len as u32, &mut lenbuf)?;
        out.copy_within(3..3 + len, vl);
        out[..vl].copy_from_slice(&lenbuf[..vl]);
        let n = vl + len;
        self.body.update(&out[..n]);
        self.count += 1;
        self.tree = tree;
        self.prev.clear();
        self.prev
            .extend_from_slice(path)
            .map_err(|_| DbError::PathTooLong)?;
        self.started = true;
        Ok(n)
    }

    /// Records encoded so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Closes the stream: the caller signs [`Finished::digest`] if it has a key, then
    /// writes [`Finished::tail`].
    pub fn finish(mut self) -> Finished {
        self.body.update(&[0u8]);
        Finished {
            count: self.count,
            digest: self.body.finish(),
        }
    }
}

/// A closed stream, waiting for its trailer.
pub struct Finished {
    /// Records written.
    pub count: u64,
    /// SHA-256 of every byte before the trailer: what a signature signs.
    pub digest: [u8; 32],
}

impl Finished {
    /// The end marker and trailer, optionally with an ed25519 signature of `digest`.
    pub fn tail(&self, signature: Option<&[u8; 64]>) -> [u8; 1 + TRAILER_LEN] {
        let mut t = [0u8; 1 + TRAILER_LEN];
        // t[0] = 0: the end marker
        t[1..9].copy_from_slice(TRAILER_MAGIC);
        t[9..17].copy_from_slice(&self.count.to_le_bytes());
        t[17..49].copy_from_slice(&self.digest);
        if let Some(sig) = signature {
            t[49] = 1;
            t[50..114].copy_from_slice(sig);
        }
        t
    }
}

/// The decoded trailer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trailer {
    /// Records the writer wrote.
    pub count: u64,
    /// SHA-256 of the body ([`BodyDigest`]).
    pub digest: [u8; 32],
    /// The ed25519 signature, when the writer had a key.
    pub signature: Option<[u8; 64]>,
}

/// Decodes the [`TRAILER_LEN`] bytes after the end marker.
pub fn decode_trailer(t: &[u8]) -> Result<Trailer, DbError> {
    if t.len() != TRAILER_LEN {
        return Err(DbError::Corrupt("trailer length"));
    }
    if &t[..8] != TRAILER_MAGIC {
        return Err(DbError::Corrupt("trailer (truncated or appended to)"));
    }
    let mut count = [0u8; 8];
    count.copy_from_slice(&t[8..16]);
    let mut digest = [0u8; 32];
    digest.copy_from_slice(&t[16..48]);
    let signature = match t[48] {
        0 if t[49..].iter().all(|b| *b == 0) => None,
        1 => {
            let mut s = [0u8; 64];
            s.copy_from_slice(&t[49..113]);
            Some(s)
        }
        _ => return Err(DbError::Corrupt("trailer signature flag")),
    };
    Ok(Trailer {
        count: u64::from_le_bytes(count),
        digest,
        signature,
    })
}

/// Checks the preamble; returns the header length that follows it.
pub fn decode_preamble(p: &[u8]) -> Result<usize, DbError> {
    if p.len() < PREAMBLE_LEN || &p[..6] != MAGIC {
        return Err(DbError::BadMagic);
    }
    let version = u16::from_le_bytes([p[6], p[7]]);
    if version != VERSION {
        return Err(DbError::Version { found: version });
    }
    let len = u32::from_le_bytes([p[8], p[9], p[10], p[11]]) as usize;
    if len > MAX_HEADER {
        return Err(DbError::Corrupt("header length"));
    }
    Ok(len)
}

/// Decodes the header that follows the preamble, checking each tree's algorithm and
/// attribute bits.
pub fn decode_header(bytes: &[u8]) -> Result<Header<'_>, DbError> {
    let (h, rest): (Header<'_>, &[u8]) =
        postcard::take_from_bytes(bytes).map_err(|_| DbError::Corrupt("header"))?;
    if !rest.is_empty() {
        return Err(DbError::Corrupt("header length"));
    }
    for t in &h.trees {
        t.algorithm()?;
        t.attrs()?;
    }
    Ok(h)
}

/// Decodes records one frame at a time, rebuilding front-coded paths in its own buffer.
///
/// A fresh decoder may start at the first record of any tree: front coding restarts there.
pub struct Decoder {
    path: heapless::Vec<u8, MAX_PATH>,
    tree: u16,
    started: bool,
    count: u64,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder at the first record of a tree.
    pub const fn new() -> Decoder {
        Decoder {
            path: heapless::Vec::new(),
            tree: 0,
            started: false,
            count: 0,
        }
    }

    /// Records decoded so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Decodes one frame body (without its length prefix). `trees` is the header's list,
    /// used for each tree's digest algorithm. Enforces strict order.
    pub fn decode<'a>(
        &'a mut self,
        frame: &'a [u8],
        trees: &[TreeInfo<'_>],
    ) -> Result<(u16, Entry<&'a [u8]>), DbError> {
        self.decode_with(frame, |t| {
            trees
                .get(usize::from(t))
                .ok_or(DbError::Corrupt("record tree index"))?
                .algorithm()
        })
    }

    /// [`Decoder::decode`] with the algorithm of tree `t` from `algorithm(t)`, which
    /// refuses an unknown tree index.
    pub fn decode_with<'a>(
        &'a mut self,
        frame: &'a [u8],
        algorithm: impl FnOnce(u16) -> Result<Algorithm, DbError>,
    ) -> Result<(u16, Entry<&'a [u8]>), DbError> {
        let (w, rest): (WireRecord<'a>, &[u8]) =
            postcard::take_from_bytes(frame).map_err(|_| DbError::Corrupt("record"))?;
        if !rest.is_empty() {
            return Err(DbError::Corrupt("record length"));
        }
        let alg = algorithm(w.tree)?;
        let shared = w.shared as usize;
        let fresh = !self.started || w.tree != self.tree;
        if shared > self.path.len() || (fresh && shared != 0) {
            return Err(DbError::Corrupt("record path prefix"));
        }
        if shared + w.suffix.len() > MAX_PATH {
            return Err(DbError::PathTooLong);
        }
        // The first `shared` bytes are equal, so the order is that of the rest.
        if self.started
            && (w.tree < self.tree
                || (w.tree == self.tree && path_cmp(&self.path[shared..], w.suffix).is_ge()))
        {
            return Err(DbError::OutOfOrder);
        }
        let kind = Kind::from_id(w.kind).ok_or(DbError::Corrupt("record kind"))?;
        let content = match w.content {
            None => None,
            Some(bytes) => Some(
                Digest::from_bytes(alg, bytes).ok_or(DbError::Corrupt("record digest length"))?,
            ),
        };
        if w.mtime_ns >= 1_000_000_000 || w.ctime_ns >= 1_000_000_000 || w.mode > 0o7777 {
            return Err(DbError::Corrupt("record attribute value"));
        }
        self.path.truncate(shared);
        self.path
            .extend_from_slice(w.suffix)
            .map_err(|_| DbError::PathTooLong)?;
        self.tree = w.tree;
        self.started = true;
        self.count += 1;
        let meta = Meta {
            kind,
            mode: w.mode,
            uid: w.uid,
            gid: w.gid,
            size: w.size,
            mtime: Timestamp {
                sec: w.mtime,
                nsec: w.mtime_ns,
            },
            ctime: Timestamp {
                sec: w.ctime,
                nsec: w.ctime_ns,
            },
            inode: w.inode,
            dev: w.dev,
            nlink: w.nlink,
            xattrs: w.xattrs,
            content,
            flags: w.flags,
        };
        Ok((
            w.tree,
            Entry {
                path: &self.path[..],
                target: w.target,
                meta,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::digest;
    extern crate std;
    use std::vec::Vec;

    fn header<'a>(root: &'a [u8]) -> Header<'a> {
        let mut trees = heapless::Vec::new();
        trees
            .push(TreeInfo {
                root,
                algorithm: Algorithm::Sha256.id(),
                attrs: Attrs::ALL.bits(),
            })
            .unwrap();
        Header {
            created: 1_700_000_000,
            host: "testhost",
            trees,
        }
    }

    fn entry(path: &'static [u8], n: u64) -> Entry<&'static [u8]> {
        let mut m = Meta::empty(Kind::File);
        m.mode = 0o644;
        m.size = n;
        m.inode = n;
        m.mtime = Timestamp {
            sec: -5,
            nsec: 999_999_999,
        };
        m.content = Some(digest(Algorithm::Sha256, &n.to_le_bytes()));
        Entry {
            path,
            target: if n == 2 { Some(b"\xfflink") } else { None },
            meta: m,
        }
    }

    /// Encodes, then decodes by hand the way a reader would.
    fn round_trip(entries: &[Entry<&'static [u8]>]) -> Vec<u8> {
        let h = header(b"/t");
        let mut file = Vec::new();
        let mut buf = [0u8; MAX_FRAME];
        let (mut enc, n) = Encoder::begin(&h, &mut buf).unwrap();
        file.extend_from_slice(&buf[..n]);
        for e in entries {
            let n = enc.record(0, e, &mut buf).unwrap();
            file.extend_from_slice(&buf[..n]);
        }
        let fin = enc.finish();
        file.extend_from_slice(&fin.tail(None));
        file
    }

    fn decode_all(file: &[u8]) -> Result<Vec<Entry<Vec<u8>>>, DbError> {
        let hlen = decode_preamble(file)?;
        let h = decode_header(&file[PREAMBLE_LEN..PREAMBLE_LEN + hlen])?;
        let mut pos = PREAMBLE_LEN + hlen;
        let mut dec = Decoder::new();
        let mut out = Vec::new();
        loop {
            let (len, used) = take_varint(&file[pos..])?.ok_or(DbError::Corrupt("eof"))?;
            pos += used;
            if len == 0 {
                break;
            }
            let (_, e) = dec.decode(&file[pos..pos + len as usize], &h.trees)?;
            out.push(Entry {
                path: e.path.to_vec(),
                target: e.target.map(|t| t.to_vec()),
                meta: e.meta,
            });
            pos += len as usize;
        }
        let t = decode_trailer(&file[pos..])?;
        let mut body = sha2::Sha256::new();
        body.update(&file[..pos]);
        assert_eq!(t.digest[..], body.finalize()[..]);
        assert_eq!(t.count, out.len() as u64);
        Ok(out)
    }

    #[test]
    fn records_round_trip_with_front_coding() {
        let es = [
            entry(b"/t", 1),
            entry(b"/t/a b", 2),
            entry(b"/t/a b/c\xe9", 3),
            entry(b"/t/a-b", 4),
        ];
        let file = round_trip(&es);
        let back = decode_all(&file).unwrap();
        assert_eq!(back.len(), 4);
        for (a, b) in es.iter().zip(&back) {
            assert_eq!(a.path, &b.path[..]);
            assert_eq!(a.target, b.target.as_deref());
            assert_eq!(a.meta, b.meta);
        }
    }

    #[test]
    fn out_of_order_is_refused_on_both_sides() {
        let h = header(b"/t");
        let mut buf = [0u8; MAX_FRAME];
        let (mut enc, _) = Encoder::begin(&h, &mut buf).unwrap();
        enc.record(0, &entry(b"/t/b", 1), &mut buf).unwrap();
        assert_eq!(
            enc.record(0, &entry(b"/t/a", 1), &mut buf),
            Err(DbError::OutOfOrder)
        );
        assert_eq!(
            enc.record(0, &entry(b"/t/b", 1), &mut buf),
            Err(DbError::OutOfOrder)
        );
    }

    #[test]
    fn version_and_magic_are_checked() {
        let mut file = round_trip(&[entry(b"/t", 1)]);
        file[6] = 9;
        assert_eq!(decode_all(&file).err(), Some(DbError::Version { found: 9 }));
        file[0] = b'X';
        assert_eq!(decode_all(&file).err(), Some(DbError::BadMagic));
    }

    #[test]
    fn trailer_detects_truncation() {
        let file = round_trip(&[entry(b"/t", 1), entry(b"/t/x", 2)]);
        let cut = &file[..file.len() - 1];
        let hlen = decode_preamble(cut).unwrap();
        let body_end = cut.len() - TRAILER_LEN;
        assert!(hlen < body_end);
        assert!(decode_trailer(&cut[body_end..]).is_err() || decode_all(cut).is_err());
    }

    #[test]
    fn varint_bounds() {
        let mut b = [0u8; 3];
        let n = put_varint(300, &mut b).unwrap();
        assert_eq!(take_varint(&b[..n]).unwrap(), Some((300, n)));
        assert_eq!(take_varint(&[0x80]).unwrap(), None);
        assert!(take_varint(&[0x80, 0x80, 0x80, 0x01]).is_err());
    }
}
