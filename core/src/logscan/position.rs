//! The tail position of one log and its fixed-size encoding.

use sha2::Digest as _;

use super::{HEAD_MAX, TAIL_MAX};

/// A SHA-256 digest of a byte range of a file, with the range's length. A zero length
/// anchors nothing: every file matches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Anchor {
    /// Length of the range in bytes, from its start; 0 anchors nothing.
    pub len: u16,
    /// SHA-256 of those `len` bytes.
    pub digest: [u8; 32],
}

impl Anchor {
    /// Anchors nothing.
    pub const NONE: Anchor = Anchor {
        len: 0,
        digest: [0; 32],
    };

    /// The anchor of `bytes` (at most 65,535 of them; longer input is cut).
    pub fn of(bytes: &[u8]) -> Anchor {
        let b = &bytes[..bytes.len().min(u16::MAX as usize)];
        Anchor {
            len: b.len() as u16,
            digest: sha256(b),
        }
    }

    /// Whether a digest the caller computed over this anchor's range matches. `None` (the
    /// range could not be read: the file is shorter) never matches, unless the anchor is
    /// empty.
    pub fn matches(&self, digest: Option<[u8; 32]>) -> bool {
        self.len == 0 || digest == Some(self.digest)
    }
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&sha2::Sha256::digest(bytes));
    out
}

/// The head of a file whose first bytes are `prefix` (at most [`HEAD_MAX`] of them are
/// looked at): its first line including the newline, or the first `HEAD_MAX` bytes of a
/// longer line, or everything there is when the first line has no newline yet. The flag is
/// true when the head is final: it cannot grow as the file grows.
pub fn head(prefix: &[u8]) -> (&[u8], bool) {
    let p = &prefix[..prefix.len().min(HEAD_MAX)];
    match p.iter().position(|&b| b == b'\n') {
        Some(i) => (&p[..=i], true),
        None => (p, p.len() == HEAD_MAX),
    }
}

/// Where the tail anchor of a position at `offset` starts, when the last line read began at
/// `line_start`: that line, at most its last [`TAIL_MAX`] bytes.
pub fn tail_start(offset: u64, line_start: u64) -> u64 {
    line_start
        .min(offset)
        .max(offset.saturating_sub(TAIL_MAX as u64))
}

/// A modification time, seconds and nanoseconds since the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Mtime {
    /// Seconds since the epoch.
    pub sec: i64,
    /// Nanoseconds within the second, `0..1_000_000_000`.
    pub nsec: u32,
}

/// How far one file of a log has been read, and what identifies that file.
///
/// A file is the one a position belongs to when its device and inode are the ones saved
/// (or, once renamed, compressed or copied, when its content says so), it is at least
/// `offset` bytes long, its first `head.len` bytes hash to `head`, and the `tail.len` bytes
/// before `offset` hash to `tail`. The anchors make an inode number reused by a new file,
/// and a file truncated and written again past the offset, show as what they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TailPos {
    /// Device of the file (`st_dev`).
    pub dev: u64,
    /// Inode of the file (`st_ino`); 0 in a marker position.
    pub ino: u64,
    /// Bytes consumed: everything before is counted, nothing after is.
    pub offset: u64,
    /// The file's modification time when it was last read.
    pub mtime: Mtime,
    /// The file's first line (see [`head`]), as far as it existed when last read.
    pub head: Anchor,
    /// The head is final (a whole first line, or [`HEAD_MAX`] bytes).
    pub head_done: bool,
    /// The last line read before `offset` (see [`tail_start`]).
    pub tail: Anchor,
    /// `offset` lies inside a line longer than [`super::LINE_MAX`] that was already counted:
    /// the bytes up to its newline are skipped.
    pub skipping: bool,
}

/// Why a stored position could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DecodeError {
    /// Not [`TailPos::ENCODED_LEN`] bytes.
    Length,
    /// An encoding version this code does not know.
    Version(u8),
    /// An anchor longer than its bound, an offset before its tail anchor, or unknown flags.
    Invalid,
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecodeError::Length => write!(f, "wrong length for a tail position"),
            DecodeError::Version(v) => write!(f, "unknown tail position version {v}"),
            DecodeError::Invalid => write!(f, "inconsistent tail position"),
        }
    }
}

const VERSION: u8 = 1;
const FLAG_HEAD_DONE: u8 = 1;
const FLAG_SKIPPING: u8 = 2;

impl TailPos {
    /// The size of [`TailPos::encode`]'s output.
    pub const ENCODED_LEN: usize = 1 + 8 + 8 + 8 + 8 + 4 + 2 + 32 + 2 + 32 + 1;

    /// A position at the start of a file that has not been read.
    pub fn start(dev: u64, ino: u64, mtime: Mtime) -> TailPos {
        TailPos {
            dev,
            ino,
            offset: 0,
            mtime,
            head: Anchor::NONE,
            head_done: false,
            tail: Anchor::NONE,
            skipping: false,
        }
    }

    /// A position for a log that has not been seen yet: no file (inode 0, which no file
    /// has), watched since `since`.
    pub fn marker(since: Mtime) -> TailPos {
        TailPos::start(0, 0, since)
    }

    /// Whether this is a [`TailPos::marker`]: no file, nothing read.
    pub fn is_marker(&self) -> bool {
        self.ino == 0 && self.offset == 0
    }

    /// Little-endian fields in declaration order after a version byte.
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        let mut w = Writer {
            buf: &mut out,
            at: 0,
        };
        w.put(&[VERSION]);
        w.put(&self.dev.to_le_bytes());
        w.put(&self.ino.to_le_bytes());
        w.put(&self.offset.to_le_bytes());
        w.put(&self.mtime.sec.to_le_bytes());
        w.put(&self.mtime.nsec.to_le_bytes());
        w.put(&self.head.len.to_le_bytes());
        w.put(&self.head.digest);
        w.put(&self.tail.len.to_le_bytes());
        w.put(&self.tail.digest);
        let flags = if self.head_done { FLAG_HEAD_DONE } else { 0 }
            | if self.skipping { FLAG_SKIPPING } else { 0 };
        w.put(&[flags]);
        out
    }

    /// Decodes [`TailPos::encode`]'s output, checking its length, version and consistency.
    pub fn decode(bytes: &[u8]) -> Result<TailPos, DecodeError> {
        if bytes.len() != Self::ENCODED_LEN {
            return Err(DecodeError::Length);
        }
        let mut r = Reader { buf: bytes, at: 0 };
        let v = r.take::<1>()[0];
        if v != VERSION {
            return Err(DecodeError::Version(v));
        }
        let dev = u64::from_le_bytes(r.take());
        let ino = u64::from_le_bytes(r.take());
        let offset = u64::from_le_bytes(r.take());
        let sec = i64::from_le_bytes(r.take());
        let nsec = u32::from_le_bytes(r.take());
        let head = Anchor {
            len: u16::from_le_bytes(r.take()),
            digest: r.take(),
        };
        let tail = Anchor {
            len: u16::from_le_bytes(r.take()),
            digest: r.take(),
        };
        let flags = r.take::<1>()[0];
        if flags & !(FLAG_HEAD_DONE | FLAG_SKIPPING) != 0
            || head.len as usize > HEAD_MAX
            || tail.len as usize > TAIL_MAX
            || (tail.len as u64) > offset
            || nsec >= 1_000_000_000
        {
            return Err(DecodeError::Invalid);
        }
        Ok(TailPos {
            dev,
            ino,
            offset,
            mtime: Mtime { sec, nsec },
            head,
            head_done: flags & FLAG_HEAD_DONE != 0,
            tail,
            skipping: flags & FLAG_SKIPPING != 0,
        })
    }
}

struct Writer<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, b: &[u8]) {
        self.buf[self.at..self.at + b.len()].copy_from_slice(b);
        self.at += b.len();
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    /// The caller checked the total length, so every take is in bounds.
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        out.copy_from_slice(&self.buf[self.at..self.at + N]);
        self.at += N;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TailPos {
        TailPos {
            dev: 0x801,
            ino: 1234567,
            offset: 9000,
            mtime: Mtime {
                sec: 1_700_000_000,
                nsec: 5,
            },
            head: Anchor::of(b"first line\n"),
            head_done: true,
            tail: Anchor::of(b"last line\n"),
            skipping: true,
        }
    }

    #[test]
    fn encoding_round_trips_and_rejects_damage() {
        let p = sample();
        let e = p.encode();
        assert_eq!(TailPos::decode(&e), Ok(p));
        assert_eq!(TailPos::decode(&e[1..]), Err(DecodeError::Length));
        let mut bad = e;
        bad[0] = 9;
        assert_eq!(TailPos::decode(&bad), Err(DecodeError::Version(9)));
        let mut bad = e;
        *bad.last_mut().unwrap() = 0x80;
        assert_eq!(TailPos::decode(&bad), Err(DecodeError::Invalid));
        let mut q = p;
        q.offset = 3;
        assert_eq!(TailPos::decode(&q.encode()), Err(DecodeError::Invalid));
    }

    #[test]
    fn head_is_the_first_line_bounded() {
        assert_eq!(head(b"ab\ncd\n"), (&b"ab\n"[..], true));
        assert_eq!(head(b"abc"), (&b"abc"[..], false));
        assert_eq!(head(b""), (&b""[..], false));
        let long = [b'x'; HEAD_MAX + 10];
        assert_eq!(head(&long), (&long[..HEAD_MAX], true));
    }

    #[test]
    fn tail_is_the_last_line_bounded() {
        assert_eq!(tail_start(100, 90), 90);
        assert_eq!(tail_start(10_000, 10), 10_000 - TAIL_MAX as u64);
        assert_eq!(tail_start(0, 0), 0);
        assert_eq!(tail_start(5, 9), 5);
    }

    #[test]
    fn empty_anchor_matches_anything() {
        assert!(Anchor::NONE.matches(None));
        let a = Anchor::of(b"x");
        assert!(a.matches(Some(sha256(b"x"))));
        assert!(!a.matches(Some(sha256(b"y"))));
        assert!(!a.matches(None));
    }
}
