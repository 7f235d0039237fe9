//! Writing a database: the preamble and header, one front-coded frame per record, the end
//! marker and the trailer.

use super::{
    put_varint, BodyDigest, DbError, Header, WireRecord, HEAD_LEN, MAGIC, MAX_PATH, PREAMBLE_LEN,
    TRAILER_LEN, TRAILER_MAGIC, VERSION,
};
use crate::fim::entry::Entry;
use crate::fim::order::path_cmp;
use crate::journal::Head;

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

    /// Encodes one record of tree `tree` into `out` (at least [`MAX_FRAME`](super::MAX_FRAME) bytes).
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

    /// Closes the stream with the journal's `head` as it is now (`None`: no journal): the
    /// caller signs [`Finished::digest`] if it has a key, then writes [`Finished::tail`].
    pub fn finish(mut self, head: Option<Head>) -> Finished {
        self.body.update(&[0u8]);
        self.body.update(&encode_head(head.as_ref()));
        Finished {
            count: self.count,
            head,
            digest: self.body.finish(),
        }
    }
}

/// The [`HEAD_LEN`] bytes recording the journal's head; all zeros for none.
pub fn encode_head(head: Option<&Head>) -> [u8; HEAD_LEN] {
    let mut b = [0u8; HEAD_LEN];
    if let Some(h) = head {
        b[0] = 1;
        b[1..9].copy_from_slice(&h.seq.to_le_bytes());
        b[9..].copy_from_slice(&h.hash);
    }
    b
}

/// A closed stream, waiting for its trailer.
pub struct Finished {
    /// Records written.
    pub count: u64,
    /// The journal head recorded after the records.
    pub head: Option<Head>,
    /// SHA-256 of every byte before the trailer: what a signature signs.
    pub digest: [u8; 32],
}

impl Finished {
    /// The end marker, the journal head and the trailer, optionally with an ed25519
    /// signature of `digest`.
    pub fn tail(&self, signature: Option<&[u8; 64]>) -> [u8; 1 + HEAD_LEN + TRAILER_LEN] {
        let mut t = [0u8; 1 + HEAD_LEN + TRAILER_LEN];
        // t[0] = 0: the end marker
        t[1..1 + HEAD_LEN].copy_from_slice(&encode_head(self.head.as_ref()));
        let tr = &mut t[1 + HEAD_LEN..];
        tr[..8].copy_from_slice(TRAILER_MAGIC);
        tr[8..16].copy_from_slice(&self.count.to_le_bytes());
        tr[16..48].copy_from_slice(&self.digest);
        if let Some(sig) = signature {
            tr[48] = 1;
            tr[49..113].copy_from_slice(sig);
        }
        t
    }
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .take_while(|(x, y)| x == y)
        .count()
        .min(u16::MAX as usize)
}
