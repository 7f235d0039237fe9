//! Reading a database's parts: the preamble, the header, one frame's record at a time and
//! the trailer.

use super::{
    DbError, Header, TreeInfo, WireRecord, HEAD_LEN, MAGIC, MAX_HEADER, MAX_PATH, PREAMBLE_LEN,
    TRAILER_LEN, TRAILER_MAGIC, VERSION, VERSION_NO_HEAD,
};
use crate::digest::{Algorithm, Digest};
use crate::fim::entry::{Entry, Kind, Meta, Timestamp};
use crate::fim::order::path_cmp;
use crate::journal::Head;

/// The decoded trailer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trailer {
    /// Records the writer wrote.
    pub count: u64,
    /// SHA-256 of the body ([`BodyDigest`](super::BodyDigest)).
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
        // The flag and signature are outside the digest: a flag set over no signature (one
        // flipped byte of an unsigned trailer) is damage, never a signature.
        1 if t[49..].iter().all(|b| *b == 0) => {
            return Err(DbError::Corrupt(
                "trailer signature flag set but no signature",
            ))
        }
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

/// Decodes the [`HEAD_LEN`] bytes after the end marker (version 2 on): the journal head
/// the database signs, or `None` when it recorded none.
pub fn decode_head(b: &[u8]) -> Result<Option<Head>, DbError> {
    if b.len() != HEAD_LEN {
        return Err(DbError::Corrupt("journal head length"));
    }
    match b[0] {
        0 if b[1..].iter().all(|b| *b == 0) => Ok(None),
        1 => {
            let mut seq = [0u8; 8];
            seq.copy_from_slice(&b[1..9]);
            let mut hash = [0u8; 32];
            hash.copy_from_slice(&b[9..]);
            Ok(Some(Head {
                seq: u64::from_le_bytes(seq),
                hash,
            }))
        }
        _ => Err(DbError::Corrupt("journal head flag")),
    }
}

/// Checks the preamble's magic and returns its format version, refusing one this build
/// does not read.
pub fn decode_version(p: &[u8]) -> Result<u16, DbError> {
    if p.len() < PREAMBLE_LEN || &p[..6] != MAGIC {
        return Err(DbError::BadMagic);
    }
    let version = u16::from_le_bytes([p[6], p[7]]);
    if !(VERSION_NO_HEAD..=VERSION).contains(&version) {
        return Err(DbError::Version { found: version });
    }
    Ok(version)
}

/// Checks the preamble; returns the header length that follows it.
pub fn decode_preamble(p: &[u8]) -> Result<usize, DbError> {
    decode_version(p)?;
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
