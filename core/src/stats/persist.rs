//! The learner's state and table as one fixed-size, versioned, checksummed blob, so that a
//! restart changes nothing: decoding what was encoded gives back every bit.
//!
//! Layout (every number little-endian, whatever the machine):
//!
//! ```text
//! header   "HMSTNORM" | version u16 | slots u16 | observables u16 | 0u16          16 bytes
//! learner  forget rate f32 | age u64 | iterations u64 | rejected u64 | seen u128
//!          local pairs [expect f32, var f32; 128] | last values [f32; 128]
//!          LDT [window [f32; 10], pos u8, filled u8, max f32, limit f32; 128]
//!          persistent: count u16 | overflow u32 | [obs u8, kind u8, expiry i64; 256]
//!          names: count u8 | [len u8, name [u8; 32]; 85]
//! table    [slot 0..2016][observable 0..128] expect f32, var f32          2,064,384 bytes
//! trailer  SHA-256 of every byte above                                          32 bytes
//! ```
//!
//! Unused persistent entries and name bytes are zero, so equal states encode to equal bytes.

use core::fmt;

use sha2::{Digest as _, Sha256};

use super::ldt::{Ldt, WINDOW};
use super::learner::{sane_forget_rate, Learner, Live, PERSISTENT_CAP};
use super::observables::{ObsId, BUILTIN_COUNT, DYNAMIC, NAME_LEN, OBSERVABLES};
use super::table::{Pair, Table, SLOTS, TABLE_BYTES};
use crate::stats::classify::Kinds;

/// The first eight bytes of every encoded state.
pub const MAGIC: &[u8; 8] = b"HMSTNORM";
/// The format version this code writes and reads.
pub const VERSION: u16 = 1;

const HEADER_LEN: usize = 16;
const LDT_LEN: usize = WINDOW * 4 + 1 + 1 + 4 + 4;
const LIVE_LEN: usize = 1 + 1 + 8;
const LEARNER_LEN: usize = 4
    + 8
    + 8
    + 8
    + 16
    + OBSERVABLES * (8 + 4 + LDT_LEN)
    + 2
    + 4
    + PERSISTENT_CAP * LIVE_LEN
    + 1
    + DYNAMIC * (1 + NAME_LEN);
const DIGEST_LEN: usize = 32;
/// Where the table starts.
pub const TABLE_OFFSET: usize = HEADER_LEN + LEARNER_LEN;

/// The size of every encoded state.
pub const ENCODED_LEN: usize = TABLE_OFFSET + TABLE_BYTES + DIGEST_LEN;
const _: () = assert!(
    2 * ENCODED_LEN < 3 * TABLE_BYTES,
    "the rest stays under half the table"
);

/// Why bytes are not a learner state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PersistError {
    /// Not a learner state at all.
    BadMagic,
    /// A state of another format version.
    Version {
        /// The version the state says it is.
        found: u16,
    },
    /// Not [`ENCODED_LEN`] bytes (truncated, or something else).
    Size {
        /// [`ENCODED_LEN`].
        expected: usize,
        /// The length given; from a stream, 0 when it ended early and `expected + 1` when
        /// it went on past the end.
        found: usize,
    },
    /// The trailer's SHA-256 does not match: damaged.
    Checksum,
    /// The checksum matches but a field holds an impossible value.
    Corrupt(&'static str),
    /// The caller's buffer is smaller than [`ENCODED_LEN`].
    BufferTooSmall {
        /// [`ENCODED_LEN`].
        needed: usize,
        /// The buffer's length.
        found: usize,
    },
}

impl fmt::Display for PersistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PersistError::BadMagic => {
                f.write_str("not a homeostat learner state (no HMSTNORM magic)")
            }
            PersistError::Version { found } => write!(
                f,
                "learner state format version {found}; this build reads version {VERSION}"
            ),
            PersistError::Size { expected, found } => {
                write!(f, "learner state is {found} bytes, expected {expected}")
            }
            PersistError::Checksum => {
                f.write_str("learner state checksum mismatch (damaged or edited)")
            }
            PersistError::Corrupt(what) => write!(f, "corrupt learner state: {what}"),
            PersistError::BufferTooSmall { needed, found } => {
                write!(
                    f,
                    "buffer of {found} bytes cannot hold the learner state ({needed})"
                )
            }
        }
    }
}

impl core::error::Error for PersistError {}

/// Batches small writes, hashing what passes.
struct Out<F> {
    write: F,
    buf: [u8; 512],
    len: usize,
    hash: Sha256,
}

impl<E, F: FnMut(&[u8]) -> Result<(), E>> Out<F> {
    fn bytes(&mut self, mut b: &[u8]) -> Result<(), E> {
        while !b.is_empty() {
            let n = b.len().min(self.buf.len() - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&b[..n]);
            self.len += n;
            b = &b[n..];
            if self.len == self.buf.len() {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), E> {
        let chunk = &self.buf[..self.len];
        self.hash.update(chunk);
        (self.write)(chunk)?;
        self.len = 0;
        Ok(())
    }

    fn f32(&mut self, v: f32) -> Result<(), E> {
        self.bytes(&v.to_le_bytes())
    }
}

/// Encodes the state, handing it to `write` in chunks (of up to 512 bytes): a file, a
/// flash writer, a socket. [`ENCODED_LEN`] bytes in all.
pub fn encode_with<E>(
    learner: &Learner,
    table: &Table,
    write: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<(), E> {
    let mut o = Out {
        write,
        buf: [0; 512],
        len: 0,
        hash: Sha256::new(),
    };
    o.bytes(MAGIC)?;
    o.bytes(&VERSION.to_le_bytes())?;
    o.bytes(&(SLOTS as u16).to_le_bytes())?;
    o.bytes(&(OBSERVABLES as u16).to_le_bytes())?;
    o.bytes(&[0, 0])?;

    let l = learner;
    o.f32(l.forget_rate)?;
    o.bytes(&l.age.to_le_bytes())?;
    o.bytes(&l.iterations.to_le_bytes())?;
    o.bytes(&l.rejected.to_le_bytes())?;
    o.bytes(&l.seen.to_le_bytes())?;
    for p in &l.local {
        o.f32(p.expect)?;
        o.f32(p.var)?;
    }
    for v in &l.last {
        o.f32(*v)?;
    }
    for d in &l.ldt {
        for v in &d.buf {
            o.f32(*v)?;
        }
        o.bytes(&[d.pos, d.filled])?;
        o.f32(d.max)?;
        o.f32(d.limit)?;
    }
    o.bytes(&(l.live.len() as u16).to_le_bytes())?;
    o.bytes(&l.overflow.to_le_bytes())?;
    for i in 0..PERSISTENT_CAP {
        let e = l.live.get(i).copied().unwrap_or(Live {
            obs: 0,
            kind: 0,
            expiry: 0,
        });
        o.bytes(&[e.obs, e.kind])?;
        o.bytes(&e.expiry.to_le_bytes())?;
    }
    let names = l.registry.dynamic();
    o.bytes(&[names.len() as u8])?;
    for i in 0..DYNAMIC {
        let name = names.get(i).map_or(&[][..], |n| n.as_bytes());
        let mut field = [0u8; NAME_LEN];
        field[..name.len()].copy_from_slice(name);
        o.bytes(&[name.len() as u8])?;
        o.bytes(&field)?;
    }

    for row in table {
        for p in row {
            o.f32(p.expect)?;
            o.f32(p.var)?;
        }
    }
    o.flush()?;
    let digest = o.hash.finalize();
    (o.write)(&digest)
}

/// Encodes the state into `out`, which must hold [`ENCODED_LEN`] bytes; returns that length.
pub fn encode(learner: &Learner, table: &Table, out: &mut [u8]) -> Result<usize, PersistError> {
    let found = out.len();
    let dest = out
        .get_mut(..ENCODED_LEN)
        .ok_or(PersistError::BufferTooSmall {
            needed: ENCODED_LEN,
            found,
        })?;
    let mut at = 0;
    encode_with(learner, table, |chunk: &[u8]| {
        let to = dest
            .get_mut(at..at + chunk.len())
            .ok_or(PersistError::BufferTooSmall {
                needed: ENCODED_LEN,
                found,
            })?;
        to.copy_from_slice(chunk);
        at += chunk.len();
        Ok(())
    })?;
    Ok(at)
}

/// Reads fields off a slice whose length was already checked.
struct In<'a> {
    b: &'a [u8],
    pos: usize,
}

impl In<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], PersistError> {
        let s = self
            .b
            .get(self.pos..self.pos + N)
            .ok_or(PersistError::Corrupt("truncated"))?;
        self.pos += N;
        let mut a = [0; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, PersistError> {
        Ok(self.take::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, PersistError> {
        self.take().map(u16::from_le_bytes)
    }
    fn u32(&mut self) -> Result<u32, PersistError> {
        self.take().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Result<u64, PersistError> {
        self.take().map(u64::from_le_bytes)
    }
    fn f32(&mut self) -> Result<f32, PersistError> {
        self.take().map(f32::from_le_bytes)
    }
}

/// Checks magic, version, shape, size and checksum, in that order.
pub fn verify(bytes: &[u8]) -> Result<(), PersistError> {
    let size = PersistError::Size {
        expected: ENCODED_LEN,
        found: bytes.len(),
    };
    let header = bytes.get(..HEADER_LEN).ok_or(size)?;
    if &header[..8] != MAGIC {
        return Err(PersistError::BadMagic);
    }
    let mut r = In { b: header, pos: 8 };
    let version = r.u16()?;
    if version != VERSION {
        return Err(PersistError::Version { found: version });
    }
    if usize::from(r.u16()?) != SLOTS || usize::from(r.u16()?) != OBSERVABLES {
        return Err(PersistError::Corrupt("table shape"));
    }
    if bytes.len() != ENCODED_LEN {
        return Err(size);
    }
    let (body, digest) = bytes.split_at(ENCODED_LEN - DIGEST_LEN);
    if Sha256::digest(body).as_slice() != digest {
        return Err(PersistError::Checksum);
    }
    Ok(())
}

/// Restores a state encoded by [`encode`] or [`encode_with`]. The bytes are checked whole
/// before anything is written; on error `table` is untouched and `learner` is left new.
pub fn decode(bytes: &[u8], learner: &mut Learner, table: &mut Table) -> Result<(), PersistError> {
    verify(bytes)?;
    let mut r = In {
        b: bytes,
        pos: HEADER_LEN,
    };
    *learner = Learner::default();
    if let Err(e) = read_learner(&mut r, learner) {
        *learner = Learner::default();
        return Err(e);
    }
    for row in table.iter_mut() {
        for p in row.iter_mut() {
            *p = Pair {
                expect: r.f32()?,
                var: r.f32()?,
            };
        }
    }
    Ok(())
}

fn read_learner(r: &mut In<'_>, l: &mut Learner) -> Result<(), PersistError> {
    let f = r.f32()?;
    if sane_forget_rate(f).to_bits() != f.to_bits() {
        return Err(PersistError::Corrupt("forget rate"));
    }
    l.forget_rate = f;
    l.age = r.u64()?;
    l.iterations = r.u64()?;
    l.rejected = r.u64()?;
    l.seen = u128::from_le_bytes(r.take()?);
    for p in l.local.iter_mut() {
        *p = Pair {
            expect: r.f32()?,
            var: r.f32()?,
        };
    }
    for v in l.last.iter_mut() {
        *v = r.f32()?;
    }
    for d in l.ldt.iter_mut() {
        let mut buf = [0.0; WINDOW];
        for v in buf.iter_mut() {
            *v = r.f32()?;
        }
        let (pos, filled) = (r.u8()?, r.u8()?);
        *d = Ldt {
            buf,
            pos,
            filled,
            max: r.f32()?,
            limit: r.f32()?,
        };
        if !d.is_valid() {
            return Err(PersistError::Corrupt("leap detection window"));
        }
    }
    let count = usize::from(r.u16()?);
    l.overflow = r.u32()?;
    if count > PERSISTENT_CAP {
        return Err(PersistError::Corrupt("persistent class count"));
    }
    for i in 0..PERSISTENT_CAP {
        let (obs, kind) = (r.u8()?, r.u8()?);
        let expiry = i64::from_le_bytes(r.take()?);
        if i < count {
            if ObsId::new(usize::from(obs)).is_none() || kind >= Kinds::COUNT {
                return Err(PersistError::Corrupt("persistent class"));
            }
            // count ≤ capacity, so this push always fits.
            let _ = l.live.push(Live { obs, kind, expiry });
        }
    }
    let count = usize::from(r.u8()?);
    if count > DYNAMIC {
        return Err(PersistError::Corrupt("observable name count"));
    }
    for i in 0..DYNAMIC {
        let len = usize::from(r.u8()?);
        let field = r.take::<NAME_LEN>()?;
        if i >= count {
            continue;
        }
        let name = field
            .get(..len)
            .and_then(|n| core::str::from_utf8(n).ok())
            .ok_or(PersistError::Corrupt("observable name"))?;
        // Re-registering in order must give back the recorded id, or ids would move.
        match l.registry.register(name) {
            Ok(id) if id.index() == BUILTIN_COUNT + i => {}
            _ => return Err(PersistError::Corrupt("observable name")),
        }
    }
    Ok(())
}

/// Writes the state to `w` ([`ENCODED_LEN`] bytes).
#[cfg(feature = "std")]
pub fn write_to<W: std::io::Write>(
    learner: &Learner,
    table: &Table,
    w: &mut W,
) -> std::io::Result<()> {
    encode_with(learner, table, |b: &[u8]| w.write_all(b))
}

/// Reads a state from `r` in 64 KiB pieces, never holding the whole blob (a host agent's
/// memory budget has room for one table, not two). The table is filled as the bytes
/// arrive and the checksum is checked at the end: on any error `table` is zeroed and
/// `learner` left new. A bad state is an `InvalidData` error carrying the
/// [`PersistError`].
#[cfg(feature = "std")]
pub fn read_from<R: std::io::Read>(
    r: &mut R,
    learner: &mut Learner,
    table: &mut Table,
) -> std::io::Result<()> {
    let result = read_streaming(r, learner, table);
    if result.is_err() {
        *learner = Learner::default();
        for row in table.iter_mut() {
            *row = [Pair::ZERO; OBSERVABLES];
        }
    }
    result
}

#[cfg(feature = "std")]
fn read_streaming<R: std::io::Read>(
    r: &mut R,
    learner: &mut Learner,
    table: &mut Table,
) -> std::io::Result<()> {
    use std::io::{Error, ErrorKind};
    let bad = |e: PersistError| Error::new(ErrorKind::InvalidData, e);
    let short = |e: Error| {
        if e.kind() == ErrorKind::UnexpectedEof {
            bad(PersistError::Size {
                expected: ENCODED_LEN,
                found: 0,
            })
        } else {
            e
        }
    };
    let mut head = std::vec![0u8; TABLE_OFFSET];
    r.read_exact(&mut head).map_err(short)?;
    if &head[..8] != MAGIC {
        return Err(bad(PersistError::BadMagic));
    }
    let mut h = In { b: &head, pos: 8 };
    let version = h.u16().map_err(bad)?;
    if version != VERSION {
        return Err(bad(PersistError::Version { found: version }));
    }
    if usize::from(h.u16().map_err(bad)?) != SLOTS
        || usize::from(h.u16().map_err(bad)?) != OBSERVABLES
    {
        return Err(bad(PersistError::Corrupt("table shape")));
    }
    let mut hasher = Sha256::new();
    hasher.update(&head);
    // One row of the table at a time: 128 pairs of two f32.
    let mut row_bytes = [0u8; OBSERVABLES * 8];
    for row in table.iter_mut() {
        r.read_exact(&mut row_bytes).map_err(short)?;
        hasher.update(row_bytes);
        for (p, b) in row.iter_mut().zip(row_bytes.chunks_exact(8)) {
            *p = Pair {
                expect: f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                var: f32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            };
        }
    }
    let mut digest = [0u8; DIGEST_LEN];
    r.read_exact(&mut digest).map_err(short)?;
    let mut extra = [0u8; 1];
    if r.read(&mut extra)? != 0 {
        return Err(bad(PersistError::Size {
            expected: ENCODED_LEN,
            found: ENCODED_LEN + 1,
        }));
    }
    if hasher.finalize().as_slice() != digest {
        return Err(bad(PersistError::Checksum));
    }
    *learner = Learner::default();
    let mut lr = In {
        b: &head,
        pos: HEADER_LEN,
    };
    read_learner(&mut lr, learner).map_err(bad)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod prop_tests;
