//! The database codec, sans I/O: the caller moves the bytes, this module shapes them.
//!
//! Layout (all integers little-endian unless varint):
//!
//! ```text
//! preamble  "HMSTDB" | version u16 | header length u32          12 bytes
//! header    postcard Header                                       (created, host, trees)
//! frames    varint length | postcard record                      one per entry, sorted
//! end       varint 0                                              1 byte
//! head      present u8 | seq u64 | SHA-256 [32]                   41 bytes, version 2 on
//! trailer   "HMSTEND\0" | count u64 | SHA-256 of all above | signed u8 | ed25519 sig [64]
//! ```
//!
//! The head is the journal's last line when the database was written
//! ([`crate::journal::Head`]; all zeros when there was no journal). It comes after the
//! records, not in the header, because the run's own findings are journaled while the
//! records are written; being before the trailer, it is covered by the digest and so by
//! the signature. Version 1 databases have no head and are still read.
//!
//! Records are sorted by tree index, then by [`path_cmp`](super::order::path_cmp); paths
//! are front-coded against the previous record. The trailer's digest covers every byte
//! before it, so a truncated, bit-flipped or edited file is refused before a single record
//! is believed.
//!
//! Here: the format's constants, errors, header and record shapes, varints and the body
//! digest; `db/encode.rs` writes a database ([`Encoder`]), `db/decode.rs` reads its parts
//! ([`Decoder`] and the preamble, header and trailer).
//!
//! # Example
//!
//! ```
//! use homeostat_core::fim::db::{Encoder, Header, TreeInfo, MAX_FRAME};
//!
//! use homeostat_core::fim::{reader::{Event, NoSignature, Reader}, Attrs, Entry, Kind, Meta};
//!
//! // Write a database of two records into a buffer…
//! let mut trees = heapless::Vec::new();
//! trees.push(TreeInfo { root: b"/etc", algorithm: 1, attrs: Attrs::ALL.bits() }).unwrap();
//! let header = Header { created: 1_704_067_200, host: "gw", trees };
//! let mut db = vec![0u8; 1024];
//! let (mut enc, mut n) = Encoder::begin(&header, &mut db).unwrap();
//! let mut frame = vec![0u8; MAX_FRAME];
//! for path in [&b"/etc"[..], b"/etc/hosts"] {
//!     let e = Entry { path, target: None, meta: Meta::empty(Kind::Dir) };
//!     let len = enc.record(0, &e, &mut frame).unwrap();
//!     db.truncate(n);
//!     db.extend_from_slice(&frame[..len]);
//!     n += len;
//! }
//! db.truncate(n);
//! db.extend_from_slice(&enc.finish(None).tail(None));
//!
//! // …and read it back: two records, then the trailer verifies.
//! let mut reader = Reader::new(&mut [], NoSignature);
//! let (mut rest, mut records, mut verified) = (&db[..], 0, false);
//! while let (used, Some(event)) = reader.feed(rest).unwrap() {
//!     rest = &rest[used..];
//!     match event {
//!         Event::Record { .. } => records += 1,
//!         Event::Verified(t) => verified = t.count == 2,
//!         _ => {}
//!     }
//! }
//! reader.end().unwrap();
//! assert!(verified && records == 2);
//! // One flipped bit and the database is refused.
//! db[20] ^= 1;
//! let mut reader = Reader::new(&mut [], NoSignature);
//! let mut rest = &db[..];
//! let refused = loop {
//!     match reader.feed(rest) {
//!         Ok((used, Some(_))) => rest = &rest[used..],
//!         Ok((_, None)) => break reader.end().is_err(),
//!         Err(_) => break true,
//!     }
//! };
//! assert!(refused);
//! ```

use core::fmt;

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::digest::Algorithm;
use crate::fim::attrs::Attrs;

mod decode;
mod encode;

pub use decode::{
    decode_head, decode_header, decode_preamble, decode_trailer, decode_version, Decoder, Trailer,
};
pub use encode::{encode_head, Encoder, Finished};

/// The first six bytes of every database.
pub const MAGIC: &[u8; 6] = b"HMSTDB";
/// The format version this build writes; it reads this one and [`VERSION_NO_HEAD`].
pub const VERSION: u16 = 2;
/// The first format, without the journal head.
pub const VERSION_NO_HEAD: u16 = 1;
/// The journal head: present flag, seq, SHA-256 of the line.
pub const HEAD_LEN: usize = 1 + 8 + 32;
/// Magic, version and header length.
pub const PREAMBLE_LEN: usize = 12;
/// The first eight bytes of the trailer.
pub const TRAILER_MAGIC: &[u8; 8] = b"HMSTEND\0";
/// Trailer magic, record count, body digest, signed flag, signature.
pub const TRAILER_LEN: usize = 8 + 8 + 32 + 1 + 64;
/// Longest path or symlink target a record holds. Hosts (`alloc`) hold 32 KiB, so that
/// a tree deeper than Linux's `PATH_MAX` (walked relative to each directory) is recorded
/// down to some 16,000 levels of one-letter names; without `alloc` (firmware, its frame
/// buffers static) 4 KiB, Linux's `PATH_MAX`. The format itself has no limit: a build
/// refuses a record longer than its own as [`DbError::PathTooLong`].
#[cfg(feature = "alloc")]
pub const MAX_PATH: usize = 32 * 1024;
/// Longest path or symlink target a record holds (Linux `PATH_MAX`; 32 KiB with `alloc`).
#[cfg(not(feature = "alloc"))]
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
                "database format version {found}, this homeostat reads versions {VERSION_NO_HEAD} to {VERSION}"
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

#[cfg(test)]
mod tests;
