//! The database reader, sans I/O: the caller feeds bytes in whatever chunks its storage
//! hands over, the reader verifies and decodes them.
//!
//! A full read ([`Reader::new`]) checks the preamble and header, decodes every record,
//! holds them to strict order, reads the journal head after them (version 2 on,
//! [`Reader::journal_head`]), and at the end checks the trailer: record count, the
//! [`BodyDigest`] of every byte before it, the magic, and the signature through the
//! caller's [`SignatureCheck`]. Until it yields [`Event::Verified`] nothing it yielded may be
//! believed: callers that act on records ("integrity before belief") read twice, first to
//! verify, then ([`Reader::records`]) to use the records of a tree from its offset.
//!
//! Memory is the caller's: a header or frame that arrives whole in one chunk is decoded in
//! place; one split across chunks is gathered in the buffer given to the constructor, which
//! must then hold it (the header, at most [`MAX_HEADER`](super::db::MAX_HEADER), or one frame, at most
//! [`MAX_FRAME`], or the [`TRAILER_LEN`]-byte trailer). A reader fed the whole database in
//! one slice needs no buffer at all.
//!
//! ```
//! # use homeostat_core::fim::reader::{Event, NoSignature, Reader};
//! # fn count(file: &[u8]) -> Result<u64, homeostat_core::fim::reader::ReadError> {
//! let mut reader = Reader::new(&mut [], NoSignature);
//! let mut rest = file;
//! loop {
//!     let (used, event) = reader.feed(rest)?;
//!     rest = &rest[used..];
//!     match event {
//!         Some(Event::Record { .. }) => {} // not to be believed before `Verified`
//!         Some(_) => {}
//!         None => break, // every byte fed (bytes after the trailer are refused)
//!     }
//! }
//! reader.end()?; // refuses a database that stops short
//! # Ok(reader.count()) }
//! ```

use core::fmt;

use super::db::{
    decode_head, decode_header, decode_preamble, decode_trailer, decode_version, take_varint,
    BodyDigest, DbError, Decoder, Header, Trailer, TreeInfo, HEAD_LEN, MAX_FRAME, MAX_TREES,
    PREAMBLE_LEN, TRAILER_LEN, VERSION_NO_HEAD,
};
use super::entry::Entry;
use crate::digest::Algorithm;
use crate::journal::Head;

/// Verifies the signature over a database's body digest (what the trailer records).
///
/// The agent plugs in ed25519; a board without keys passes [`NoSignature`]. Any
/// `FnMut(&[u8; 32], Option<&[u8; 64]>) -> Result<(), &'static str>` is one too.
pub trait SignatureCheck {
    /// `Ok` to accept `digest` with `signature` (`None`: the database is unsigned), or the
    /// reason it is refused.
    fn check(
        &mut self,
        digest: &[u8; 32],
        signature: Option<&[u8; 64]>,
    ) -> Result<(), &'static str>;
}

/// Accepts every database, signed or not: the trailer's digest still catches damage.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoSignature;

impl SignatureCheck for NoSignature {
    fn check(&mut self, _: &[u8; 32], _: Option<&[u8; 64]>) -> Result<(), &'static str> {
        Ok(())
    }
}

impl<F> SignatureCheck for F
where
    F: FnMut(&[u8; 32], Option<&[u8; 64]>) -> Result<(), &'static str>,
{
    fn check(
        &mut self,
        digest: &[u8; 32],
        signature: Option<&[u8; 64]>,
    ) -> Result<(), &'static str> {
        self(digest, signature)
    }
}

/// Why the bytes are refused, and at which byte of the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadError {
    /// Offset from the start of the database of the item that is wrong (for trailer
    /// checks, the end of the body).
    pub offset: u64,
    /// What is wrong, and what was expected.
    pub error: DbError,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.error)
    }
}

impl core::error::Error for ReadError {}

/// What one call of [`Reader::feed`] produced.
#[derive(Debug)]
pub enum Event<'a> {
    /// The preamble and header are read and valid (full reads only).
    Header(HeaderBytes<'a>),
    /// One record, in order.
    Record {
        /// Offset of its frame: where [`Reader::records`] may start when it is the first
        /// record of its tree.
        offset: u64,
        /// Index of its tree in the header.
        tree: u16,
        /// The record; the path is the reader's, valid until the next call.
        entry: Entry<&'a [u8]>,
    },
    /// Full read: the trailer matches (count, digest, signature). The database is whole.
    Verified(Trailer),
    /// Records-only read: the end marker after the last record.
    End,
}

/// The bytes of a header the reader has checked. Decoding it is left to the caller, so
/// that an [`Event`] stays small (a decoded [`Header`] is over a kilobyte).
#[derive(Clone, Copy, Debug)]
pub struct HeaderBytes<'a>(&'a [u8]);

impl<'a> HeaderBytes<'a> {
    /// The header, borrowing these bytes. The reader has decoded them once already, so
    /// this does not fail for bytes it yielded.
    pub fn decode(&self) -> Result<Header<'a>, DbError> {
        decode_header(self.0)
    }

    /// The encoded header.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Preamble,
    Header(usize),
    FrameLen,
    Frame(usize),
    /// The journal head after the end marker (version 2 on).
    Head,
    Trailer,
    Done,
}

/// Where a gathered item's bytes are.
enum Src {
    Input(usize, usize),
    Buf(usize),
}

/// What a step found ready to hand out.
enum Ready {
    Header(Src),
    Frame(Src, u64),
    Verified(Trailer),
    End,
}

/// A streaming database reader over caller-owned storage (see the module docs).
pub struct Reader<'b, S = NoSignature> {
    buf: &'b mut [u8],
    fill: usize,
    lenbuf: [u8; 3],
    lenfill: usize,
    /// The preamble or trailer, gathered.
    small: [u8; TRAILER_LEN],
    state: State,
    /// Bytes consumed from the start of the database.
    offset: u64,
    /// Where the item being gathered starts.
    item: u64,
    body: Option<BodyDigest>,
    /// The preamble's format version (full reads).
    version: u16,
    /// The journal head the database records, once read.
    head: Option<Head>,
    algorithms: heapless::Vec<Algorithm, MAX_TREES>,
    decoder: Decoder,
    signature: S,
}

impl<'b, S: SignatureCheck> Reader<'b, S> {
    /// A full, verifying read from the first byte of a database. `buf` gathers items split
    /// across chunks; `signature` judges the trailer's signature.
    pub fn new(buf: &'b mut [u8], signature: S) -> Reader<'b, S> {
        Reader {
            buf,
            fill: 0,
            lenbuf: [0; 3],
            lenfill: 0,
            small: [0; TRAILER_LEN],
            state: State::Preamble,
            offset: 0,
            item: 0,
            body: Some(BodyDigest::new()),
            version: VERSION_NO_HEAD,
            head: None,
            algorithms: heapless::Vec::new(),
            decoder: Decoder::new(),
            signature,
        }
    }

    /// Records decoded so far.
    pub fn count(&self) -> u64 {
        self.decoder.count()
    }

    /// The journal head the database signs (`None`: it recorded none, or it is a version 1
    /// database). Believe it only after [`Event::Verified`].
    pub fn journal_head(&self) -> Option<Head> {
        self.head
    }

    /// Bytes consumed so far: the offset of the next byte to feed.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Consumes bytes from the front of `input`: returns how many it used and what they
    /// completed, if anything. Call again with the rest; `(n, None)` with `n` equal to the
    /// input's length asks for more bytes. After an error the reader is spent.
    pub fn feed<'a>(
        &'a mut self,
        input: &'a [u8],
    ) -> Result<(usize, Option<Event<'a>>), ReadError> {
        let mut used = 0;
        let ready = loop {
            match self.step(&input[used..], &mut used)? {
                Some(r) => break r,
                None if used == input.len() => return Ok((used, None)),
                None => {}
            }
        };
        let at = self.item;
        let event = match ready {
            Ready::Verified(t) => Event::Verified(t),
            Ready::End => Event::End,
            Ready::Header(src) => {
                let bytes = match src {
                    Src::Input(a, b) => &input[a..b],
                    Src::Buf(n) => &self.buf[..n],
                };
                let h = decode_header(bytes).map_err(|e| fail(at, e))?;
                self.algorithms.clear();
                for t in &h.trees {
                    let alg = t.algorithm().map_err(|e| fail(at, e))?;
                    self.algorithms
                        .push(alg)
                        .map_err(|_| fail(at, DbError::TooManyTrees))?;
                }
                Event::Header(HeaderBytes(bytes))
            }
            Ready::Frame(src, offset) => {
                let bytes = match src {
                    Src::Input(a, b) => &input[a..b],
                    Src::Buf(n) => &self.buf[..n],
                };
                let algs = &self.algorithms;
                let (tree, entry) = self
                    .decoder
                    .decode_with(bytes, |t| {
                        algs.get(usize::from(t))
                            .copied()
                            .ok_or(DbError::Corrupt("record tree index"))
                    })
                    .map_err(|e| fail(offset, e))?;
                Event::Record {
                    offset,
                    tree,
                    entry,
                }
            }
        };
        Ok((used, Some(event)))
    }

    /// Says the input has ended: `Ok` only after [`Event::Verified`] (or [`Event::End`]),
    /// else the error names where the bytes stopped and what was expected.
    pub fn end(&self) -> Result<(), ReadError> {
        let expected = match self.state {
            State::Done => return Ok(()),
            State::Preamble => "the preamble",
            State::Header(_) => "the header",
            State::FrameLen | State::Frame(_) => "a record or the end marker",
            State::Head => "the journal head",
            State::Trailer => "the trailer",
        };
        Err(fail(self.item, DbError::Truncated { expected }))
    }

    /// Hashes the body bytes consumed.
    fn consume(&mut self, bytes: &[u8], used: &mut usize) {
        if let Some(h) = self.body.as_mut() {
            if self.state != State::Trailer {
                h.update(bytes);
            }
        }
        self.offset += bytes.len() as u64;
        *used += bytes.len();
    }

    /// Gathers `need` bytes of the current item from `input`; `None` until it has them.
    fn gather(
        &mut self,
        input: &[u8],
        need: usize,
        used: &mut usize,
    ) -> Result<Option<Src>, ReadError> {
        if self.fill == 0 && input.len() >= need {
            let start = *used;
            self.consume(&input[..need], used);
            return Ok(Some(Src::Input(start, start + need)));
        }
        if need > self.buf.len() {
            return Err(fail(
                self.item,
                DbError::Capacity {
                    need,
                    capacity: self.buf.len(),
                },
            ));
        }
        let take = (need - self.fill).min(input.len());
        self.buf[self.fill..self.fill + take].copy_from_slice(&input[..take]);
        self.fill += take;
        self.consume(&input[..take], used);
        if self.fill < need {
            return Ok(None);
        }
        self.fill = 0;
        Ok(Some(Src::Buf(need)))
    }

    /// Advances through one state; `Some` when an item is ready to hand out.
    fn step(&mut self, input: &[u8], used: &mut usize) -> Result<Option<Ready>, ReadError> {
        match self.state {
            State::Done => {
                if input.is_empty() {
                    Ok(None)
                } else {
                    Err(fail(self.offset, DbError::TrailingBytes))
                }
            }
            State::Preamble => {
                let Some(src) = self.gather_small::<PREAMBLE_LEN>(input, used) else {
                    return Ok(None);
                };
                let hlen = decode_preamble(&src).map_err(|e| fail(0, e))?;
                self.version = decode_version(&src).map_err(|e| fail(0, e))?;
                self.item = self.offset;
                self.state = State::Header(hlen);
                Ok(None)
            }
            State::Header(len) => {
                let Some(src) = self.gather(input, len, used)? else {
                    return Ok(None);
                };
                self.state = State::FrameLen;
                Ok(Some(Ready::Header(src)))
            }
            State::FrameLen => {
                self.item = self.offset - self.lenfill as u64;
                let mut i = 0;
                while let Some(&b) = input.get(i) {
                    i += 1;
                    self.lenbuf[self.lenfill] = b;
                    self.lenfill += 1;
                    match take_varint(&self.lenbuf[..self.lenfill]) {
                        Ok(Some((len, _))) => {
                            self.consume(&input[..i], used);
                            self.lenfill = 0;
                            return self.frame_len(len);
                        }
                        Ok(None) if self.lenfill < 3 => {}
                        _ => return Err(fail(self.item, DbError::Corrupt("frame length"))),
                    }
                }
                self.consume(input, used);
                Ok(None)
            }
            State::Frame(len) => {
                let Some(src) = self.gather(input, len, used)? else {
                    return Ok(None);
                };
                self.state = State::FrameLen;
                Ok(Some(Ready::Frame(src, self.item)))
            }
            State::Head => {
                let Some(src) = self.gather_small::<HEAD_LEN>(input, used) else {
                    return Ok(None);
                };
                self.head = decode_head(&src).map_err(|e| fail(self.item, e))?;
                self.item = self.offset;
                self.state = State::Trailer;
                Ok(None)
            }
            State::Trailer => {
                let Some(src) = self.gather_small::<TRAILER_LEN>(input, used) else {
                    return Ok(None);
                };
                let at = self.item;
                self.state = State::Done;
                let t = decode_trailer(&src).map_err(|e| fail(at, e))?;
                let digest = self.body.take().map(BodyDigest::finish).unwrap_or_default();
                if t.digest != digest {
                    return Err(fail(at, DbError::DigestMismatch));
                }
                self.signature
                    .check(&digest, t.signature.as_ref())
                    .map_err(|r| fail(at, DbError::Signature(r)))?;
                if t.count != self.decoder.count() {
                    return Err(fail(
                        at,
                        DbError::CountMismatch {
                            trailer: t.count,
                            records: self.decoder.count(),
                        },
                    ));
                }
                Ok(Some(Ready::Verified(t)))
            }
        }
    }

    /// After a frame length: the frame, or at the end marker the trailer (full read) or
    /// the end (records-only read).
    fn frame_len(&mut self, len: u32) -> Result<Option<Ready>, ReadError> {
        if len == 0 {
            if self.body.is_some() {
                self.item = self.offset;
                self.state = match self.version {
                    VERSION_NO_HEAD => State::Trailer,
                    _ => State::Head,
                };
                return Ok(None);
            }
            self.state = State::Done;
            return Ok(Some(Ready::End));
        }
        if len as usize > MAX_FRAME {
            return Err(fail(self.item, DbError::FrameTooLarge { len }));
        }
        self.state = State::Frame(len as usize);
        Ok(None)
    }

    /// Gathers a small fixed-size item (preamble, trailer) in the reader's own array, so
    /// that a reader without a buffer can still take it in pieces.
    fn gather_small<const N: usize>(&mut self, input: &[u8], used: &mut usize) -> Option<[u8; N]> {
        let take = (N - self.fill).min(input.len());
        self.small[self.fill..self.fill + take].copy_from_slice(&input[..take]);
        self.fill += take;
        self.consume(&input[..take], used);
        if self.fill < N {
            return None;
        }
        self.fill = 0;
        let mut out = [0u8; N];
        out.copy_from_slice(&self.small[..N]);
        Some(out)
    }
}

impl<'b> Reader<'b, NoSignature> {
    /// A records-only read of a database a full read has verified: starts at `offset`, the
    /// first record of a tree (front coding restarts there), decodes with the header's
    /// `trees`, and ends with [`Event::End`] at the end marker. Nothing is hashed.
    pub fn records(
        buf: &'b mut [u8],
        trees: &[TreeInfo<'_>],
        offset: u64,
    ) -> Result<Reader<'b, NoSignature>, ReadError> {
        let mut algorithms = heapless::Vec::new();
        for t in trees {
            let alg = t.algorithm().map_err(|e| fail(PREAMBLE_LEN as u64, e))?;
            algorithms
                .push(alg)
                .map_err(|_| fail(PREAMBLE_LEN as u64, DbError::TooManyTrees))?;
        }
        Ok(Reader {
            buf,
            fill: 0,
            lenbuf: [0; 3],
            lenfill: 0,
            small: [0; TRAILER_LEN],
            state: State::FrameLen,
            offset,
            item: offset,
            body: None,
            version: VERSION_NO_HEAD,
            head: None,
            algorithms,
            decoder: Decoder::new(),
            signature: NoSignature,
        })
    }
}

fn fail(offset: u64, error: DbError) -> ReadError {
    ReadError { offset, error }
}

#[cfg(test)]
mod tests;
