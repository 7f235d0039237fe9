//! The journal's hash chain, sans I/O: how a line is linked to the one before it, and a
//! verifier fed one line at a time.
//!
//! A journal line is an event's JSON object with two members put first:
//!
//! ```text
//! {"seq":N,"prev":"HEX","type":…}
//! ```
//!
//! `seq` counts lines from 1 (so it is the 1-based line number of an intact journal) and
//! `prev` is the lowercase hex SHA-256 of the previous line's bytes without its newline
//! ([`link`]), 64 zeros on the first line. They come first so that a line can be checked
//! without a JSON parser, and there is exactly one way to write them (no spaces, no
//! leading zeros), so a line's bytes, and hence its link, are fixed by its content.
//!
//! The chain alone shows a line removed, inserted or edited in the middle, but not the
//! last lines cut off or rewritten together with every line after them: for that each
//! database signs a [`Head`], the seq and link of the journal's last line when it was
//! written, and the [`Verifier`] checks the journal against it.
//!
//! # Example
//!
//! ```
//! use homeostat_core::journal::{link, prefix, Head, Verifier, GENESIS, PREFIX_MAX};
//!
//! // Two lines chained: the second's prev is the link of the first.
//! let mut buf = [0u8; PREFIX_MAX];
//! let n = prefix(1, &GENESIS, &mut buf);
//! let first = [&buf[..n], &br#""type":"warning"}"#[..]].concat();
//! let n = prefix(2, &link(&first), &mut buf);
//! let second = [&buf[..n], &br#""type":"summary"}"#[..]].concat();
//!
//! let mut v = Verifier::new(Some(Head { seq: 2, hash: link(&second) }));
//! v.line(&first).unwrap();
//! v.line(&second).unwrap();
//! assert_eq!(v.finish().unwrap(), Some(Head { seq: 2, hash: link(&second) }));
//!
//! // The first line edited: the chain breaks at the second.
//! let mut v = Verifier::new(None);
//! v.line(&first.iter().map(|&b| if b == b'w' { b'W' } else { b }).collect::<Vec<_>>()).unwrap();
//! assert!(v.line(&second).is_err());
//! ```

use core::fmt;

use sha2::Digest as _;

/// The `prev` of the first line: no line before it.
pub const GENESIS: [u8; 32] = [0; 32];

/// Longest prefix [`prefix`] writes: `{"seq":` 20 digits `,"prev":"` 64 hex `",`.
pub const PREFIX_MAX: usize = 7 + 20 + 9 + 64 + 2;

/// What the JSON object of an event must start with after the prefix.
const TYPE_FIRST: &[u8] = b"\"type\":\"";

/// The journal's last line as a database records it: its seq and its [`link`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Head {
    /// The line's seq (its 1-based line number).
    pub seq: u64,
    /// SHA-256 of the line's bytes without its newline.
    pub hash: [u8; 32],
}

/// The SHA-256 of one line's bytes (without its newline): the next line's `prev`.
pub fn link(line: &[u8]) -> [u8; 32] {
    let mut d = [0u8; 32];
    d.copy_from_slice(&sha2::Sha256::digest(line));
    d
}

/// Writes `{"seq":SEQ,"prev":"HEX",` into `out` and returns its length. The journal line is
/// this followed by the event's JSON object without its opening `{`.
pub fn prefix(seq: u64, prev: &[u8; 32], out: &mut [u8; PREFIX_MAX]) -> usize {
    let mut n = 0;
    let mut put = |bytes: &[u8]| {
        out[n..n + bytes.len()].copy_from_slice(bytes);
        n += bytes.len();
    };
    put(b"{\"seq\":");
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = seq;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    put(&digits[i..]);
    put(b",\"prev\":\"");
    let mut hex = [0u8; 64];
    for (pair, b) in hex.chunks_exact_mut(2).zip(prev) {
        pair[0] = HEX[usize::from(b >> 4)];
        pair[1] = HEX[usize::from(b & 0xf)];
    }
    put(&hex);
    put(b"\",");
    n
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The chain members of a well-formed line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fields {
    /// Its `seq`.
    pub seq: u64,
    /// Its `prev`, decoded.
    pub prev: [u8; 32],
}

/// Reads the chain members of `line` (without its newline), checking that it is one
/// JSON object of this journal's shape: the canonical prefix, then `"type":"`, UTF-8 with
/// no control character, closed by `}`. It is not a full JSON parse: the agent wrote the
/// line through serde, and any edit of it shows in the chain.
pub fn parse(line: &[u8]) -> Result<Fields, Defect> {
    let rest = line.strip_prefix(b"{\"seq\":").ok_or(Defect::NoChain)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 20 || (digits > 1 && rest[0] == b'0') {
        return Err(Defect::NoChain);
    }
    let mut seq: u64 = 0;
    for d in &rest[..digits] {
        seq = seq
            .checked_mul(10)
            .and_then(|s| s.checked_add(u64::from(d - b'0')))
            .ok_or(Defect::NoChain)?;
    }
    let rest = rest[digits..]
        .strip_prefix(b",\"prev\":\"")
        .ok_or(Defect::NoChain)?;
    if rest.len() < 64 + 2 {
        return Err(Defect::NoChain);
    }
    let mut prev = [0u8; 32];
    for (b, pair) in prev.iter_mut().zip(rest[..64].chunks_exact(2)) {
        *b = (nibble(pair[0]).ok_or(Defect::NoChain)? << 4)
            | nibble(pair[1]).ok_or(Defect::NoChain)?;
    }
    let event = rest[64..].strip_prefix(b"\",").ok_or(Defect::NoChain)?;
    let json_ish = event.starts_with(TYPE_FIRST)
        && event.ends_with(b"}")
        && !event.iter().any(|b| *b < 0x20 || *b == 0x7f)
        && core::str::from_utf8(event).is_ok();
    if !json_ish {
        return Err(Defect::NotJson);
    }
    Ok(Fields { seq, prev })
}

/// A lowercase hex digit's value (uppercase is not canonical, so it is refused).
fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Why a line breaks the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Defect {
    /// It does not start with the `{"seq":N,"prev":"HEX",` of a journal line.
    NoChain,
    /// After the chain members, it is not an event's JSON object.
    NotJson,
    /// Its seq is not its line number: a line was removed or inserted above it.
    Seq {
        /// Its line number, the seq it should have.
        expected: u64,
        /// The seq it has.
        found: u64,
    },
    /// The first line's prev is not 64 zeros: lines before it were cut.
    NotFirst,
    /// Its SHA-256 is not the prev of the next line: this line was edited (or that prev).
    Edited,
    /// Its SHA-256 is not the one the database signed for it: edited.
    Signed,
    /// The journal ends before the line the database signed: cut.
    Missing {
        /// The seq the database signed.
        signed: u64,
    },
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Defect::NoChain => f.write_str("not a journal line (no \"seq\" and \"prev\" first)"),
            Defect::NotJson => f.write_str("not an event's JSON object after \"seq\" and \"prev\""),
            Defect::Seq { expected, found } => write!(
                f,
                "seq {found} where {expected} belongs (a line removed or inserted above)"
            ),
            Defect::NotFirst => {
                f.write_str("prev of the first line is not 64 zeros (lines before it cut)")
            }
            Defect::Edited => f.write_str(
                "its SHA-256 is not the prev of the next line (this line or that prev edited)",
            ),
            Defect::Signed => {
                f.write_str("its SHA-256 is not the one the database signed for it (edited)")
            }
            Defect::Missing { signed } => write!(
                f,
                "missing: the database signs the journal up to line {signed} (cut)"
            ),
        }
    }
}

/// The first line that breaks a journal (1-based) and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Broken {
    /// The 1-based line number.
    pub line: u64,
    /// What is wrong with it.
    pub defect: Defect,
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.defect)
    }
}

/// Checks a journal fed one line at a time, in order, against the head a database signed.
///
/// Constant memory: the line count and the previous line's link. After the first
/// [`Broken`] the verdict is final; feeding more lines does not change it.
#[derive(Clone, Debug)]
pub struct Verifier {
    signed: Option<Head>,
    lines: u64,
    last: [u8; 32],
    broken: Option<Broken>,
}

impl Verifier {
    /// A verifier of a whole journal from its first line; `signed` is the head the
    /// database signed (`None`: it signed none, so only the chain is checked).
    pub fn new(signed: Option<Head>) -> Verifier {
        Verifier {
            signed,
            lines: 0,
            last: GENESIS,
            broken: None,
        }
    }

    /// Lines fed so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Feeds the next line (its bytes without the newline); `Err` with the first broken
    /// line, which may be the line before it ([`Defect::Edited`]).
    pub fn line(&mut self, line: &[u8]) -> Result<(), Broken> {
        if let Some(b) = self.broken {
            return Err(b);
        }
        let n = self.lines + 1;
        let r = self.check(n, line);
        self.lines = n;
        self.last = link(line);
        r.map_err(|b| *self.broken.insert(b))
    }

    fn check(&self, n: u64, line: &[u8]) -> Result<(), Broken> {
        let at = |defect| Broken { line: n, defect };
        let f = parse(line).map_err(at)?;
        if f.seq != n {
            return Err(at(Defect::Seq {
                expected: n,
                found: f.seq,
            }));
        }
        if f.prev != self.last {
            return Err(if n == 1 {
                at(Defect::NotFirst)
            } else {
                Broken {
                    line: n - 1,
                    defect: Defect::Edited,
                }
            });
        }
        match self.signed {
            Some(h) if h.seq == n && h.hash != link(line) => Err(at(Defect::Signed)),
            _ => Ok(()),
        }
    }

    /// Says the journal has ended: its head (`None` when empty), or the first broken line,
    /// which is the first missing one when the journal ends below the signed head.
    pub fn finish(&self) -> Result<Option<Head>, Broken> {
        if let Some(b) = self.broken {
            return Err(b);
        }
        if let Some(h) = self.signed {
            if h.seq > self.lines {
                return Err(Broken {
                    line: self.lines + 1,
                    defect: Defect::Missing { signed: h.seq },
                });
            }
        }
        Ok((self.lines > 0).then_some(Head {
            seq: self.lines,
            hash: self.last,
        }))
    }
}

#[cfg(test)]
mod tests;
