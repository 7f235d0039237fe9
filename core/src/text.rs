//! Making attacker-controlled bytes (file names, link targets, user and process names,
//! a child's error output) safe to print.
//!
//! Every byte outside printable ASCII, `\` itself, and any byte of a caller's extra set
//! becomes `\xNN` (lowercase hex), so the text carries no newline, terminal escape or
//! invalid UTF-8, and the original bytes can be recovered exactly. [`Escaped`] writes
//! into any [`core::fmt::Write`] (a `String`, a `heapless::String`, a formatter) and
//! allocates nothing.
//!
//! # Example
//!
//! ```
//! use homeostat_core::text::{escaped_len, Escaped};
//!
//! let name = b"evil\x1b[2J\nname\\";
//! assert_eq!(Escaped::new(name).to_string(), r"evil\x1b[2J\x0aname\x5c");
//! assert_eq!(escaped_len(name, &[]), Escaped::new(name).to_string().len());
//! assert_eq!(Escaped::with_extra(b"a,b", b",").to_string(), r"a\x2cb");
//! ```

use core::fmt;

/// Whether `b` is written as itself: printable ASCII, not `\`, not in `extra`.
pub fn is_plain(b: u8, extra: &[u8]) -> bool {
    (0x20..0x7f).contains(&b) && b != b'\\' && !extra.contains(&b)
}

/// The length of the escaped form of `bytes`, for sizing a caller's buffer.
pub fn escaped_len(bytes: &[u8], extra: &[u8]) -> usize {
    bytes
        .iter()
        .map(|&b| if is_plain(b, extra) { 1 } else { 4 })
        .sum()
}

/// `bytes` displayed escaped: `format!("{}", Escaped::new(b"a\\b"))` is `a\x5cb`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Escaped<'a> {
    bytes: &'a [u8],
    extra: &'a [u8],
}

impl<'a> Escaped<'a> {
    /// Escapes every byte outside printable ASCII, and `\`.
    pub const fn new(bytes: &'a [u8]) -> Escaped<'a> {
        Escaped { bytes, extra: &[] }
    }

    /// Escapes the bytes in `extra` too (`,` for `file_changes.log`).
    pub const fn with_extra(bytes: &'a [u8], extra: &'a [u8]) -> Escaped<'a> {
        Escaped { bytes, extra }
    }
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.bytes;
        while !rest.is_empty() {
            let plain = rest
                .iter()
                .position(|&b| !is_plain(b, self.extra))
                .unwrap_or(rest.len());
            let (run, tail) = rest.split_at(plain);
            // A run of printable ASCII is always UTF-8.
            if let Ok(s) = core::str::from_utf8(run) {
                f.write_str(s)?;
            }
            rest = match tail.split_first() {
                Some((&b, tail)) => {
                    write!(f, "\\x{b:02x}")?;
                    tail
                }
                None => tail,
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    fn esc(b: &[u8]) -> std::string::String {
        Escaped::new(b).to_string()
    }

    #[test]
    fn hostile_bytes() {
        assert_eq!(esc(b"ab c~"), "ab c~");
        assert_eq!(esc(b""), "");
        assert_eq!(esc(b"caf\xe9"), "caf\\xe9");
        assert_eq!(esc(b"a\nb\x1b[31m"), "a\\x0ab\\x1b[31m");
        assert_eq!(esc(b"\x00\n\x7f\xff"), "\\x00\\x0a\\x7f\\xff");
        assert_eq!(esc(b"back\\slash"), "back\\x5cslash");
        assert_eq!(
            Escaped::with_extra(b"a,b,", b",").to_string(),
            "a\\x2cb\\x2c"
        );
    }

    #[test]
    fn without_allocation_and_length_known() {
        let mut s: heapless::String<32> = heapless::String::new();
        use core::fmt::Write;
        write!(s, "{}", Escaped::new(b"\\x\xff")).unwrap();
        assert_eq!(s, "\\x5cx\\xff");
        assert_eq!(escaped_len(b"\\x\xff", &[]), s.len());
        assert_eq!(escaped_len(b"a,b", b","), 6);
    }

    #[test]
    fn every_byte_round_trips() {
        let all: std::vec::Vec<u8> = (0..=255).collect();
        let text = esc(&all);
        assert!(text.bytes().all(|b| (0x20..0x7f).contains(&b)));
        let mut back = std::vec::Vec::new();
        let mut t = text.as_bytes();
        while let Some((&b, rest)) = t.split_first() {
            if b == b'\\' {
                let hex = core::str::from_utf8(&rest[1..3]).unwrap();
                back.push(u8::from_str_radix(hex, 16).unwrap());
                t = &rest[3..];
            } else {
                back.push(b);
                t = rest;
            }
        }
        assert_eq!(back, all);
    }
}
