//! Splitting bytes into lines with a bound.
//!
//! A line is the bytes before a `\n`. A line longer than the bound is given once as
//! [`Piece::Cut`] (its first `max` bytes) as soon as `max + 1` of its bytes are there, and
//! the rest of it, up to and including its newline, is skipped: it is counted and cut,
//! never lost silently, and the memory needed stays bounded. A last line without its
//! newline is not consumed (it waits for the newline) unless the input is final.

use super::LINE_MAX;

/// One line as the splitter gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// A whole line, without its newline.
    Line(&'a [u8]),
    /// The first `max` bytes of a longer line.
    Cut(&'a [u8]),
}

impl<'a> Piece<'a> {
    /// The line's bytes, whole or cut, without a newline.
    pub fn bytes(&self) -> &'a [u8] {
        match *self {
            Piece::Line(b) | Piece::Cut(b) => b,
        }
    }
}

/// What one [`Splitter::feed`] consumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Fed {
    /// Bytes consumed from the front of the buffer; the caller keeps the rest.
    pub consumed: usize,
    /// Where the last line given (whole or cut) starts in the buffer, if one was given.
    pub last_start: Option<usize>,
}

/// Bounded line splitting that carries its state (inside a cut line or not) between
/// buffers, and between runs through [`super::TailPos::skipping`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Splitter {
    /// Inside a line that was already given as cut: bytes are skipped up to its newline.
    pub skipping: bool,
    max: usize,
}

impl Splitter {
    /// A splitter with the [`LINE_MAX`] bound.
    pub fn new(skipping: bool) -> Splitter {
        Splitter::with_max(LINE_MAX, skipping)
    }

    /// A splitter with bound `max` (at least 1).
    pub fn with_max(max: usize, skipping: bool) -> Splitter {
        Splitter {
            skipping,
            max: max.max(1),
        }
    }

    /// The bound: the longest line given whole, in bytes (at least 1).
    pub fn max(&self) -> usize {
        self.max
    }

    /// Skips the rest of a cut line, if inside one. Returns the bytes consumed.
    pub fn skip(&mut self, buf: &[u8], eof: bool) -> usize {
        if !self.skipping {
            return 0;
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.skipping = false;
                i + 1
            }
            None => {
                if eof {
                    self.skipping = false;
                }
                buf.len()
            }
        }
    }

    /// Gives each complete line at the front of `buf` to `f`. With `eof` the input is final
    /// (a compressed rotated file, a command's output): a last line without a newline is
    /// given too. The caller's buffer must be able to hold more than `max` bytes, or a
    /// partial line of exactly `max` bytes could never be decided.
    pub fn feed(&mut self, buf: &[u8], eof: bool, mut f: impl FnMut(Piece<'_>)) -> Fed {
        let mut at = self.skip(buf, eof);
        let mut last_start = None;
        while at < buf.len() {
            let rest = &buf[at..];
            match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let line = &rest[..i];
                    f(if line.len() > self.max {
                        Piece::Cut(&line[..self.max])
                    } else {
                        Piece::Line(line)
                    });
                    last_start = Some(at);
                    at += i + 1;
                }
                None if rest.len() > self.max => {
                    f(Piece::Cut(&rest[..self.max]));
                    last_start = Some(at);
                    self.skipping = !eof;
                    at = buf.len();
                }
                None if eof => {
                    f(Piece::Line(rest));
                    last_start = Some(at);
                    at = buf.len();
                }
                None => break,
            }
        }
        Fed {
            consumed: at,
            last_start,
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn run(s: &mut Splitter, buf: &[u8], eof: bool) -> (Vec<(bool, Vec<u8>)>, Fed) {
        let mut out = Vec::new();
        let fed = s.feed(buf, eof, |p| {
            out.push((matches!(p, Piece::Cut(_)), p.bytes().to_vec()))
        });
        (out, fed)
    }

    #[test]
    fn whole_lines_and_a_waiting_partial_one() {
        let mut s = Splitter::with_max(8, false);
        let (lines, fed) = run(&mut s, b"ab\n\ncd\nef", false);
        assert_eq!(
            lines,
            [
                (false, b"ab".to_vec()),
                (false, b"".to_vec()),
                (false, b"cd".to_vec())
            ]
        );
        assert_eq!(fed.consumed, 7);
        assert_eq!(fed.last_start, Some(4));
        // At the end of a final input the partial line is a line.
        let (lines, fed) = run(&mut s, b"ef", true);
        assert_eq!(lines, [(false, b"ef".to_vec())]);
        assert_eq!(fed.consumed, 2);
    }

    #[test]
    fn long_lines_are_cut_once_and_skipped_across_buffers() {
        let mut s = Splitter::with_max(4, false);
        // Complete long line in one buffer.
        let (lines, fed) = run(&mut s, b"0123456789\nok\n", false);
        assert_eq!(lines, [(true, b"0123".to_vec()), (false, b"ok".to_vec())]);
        assert_eq!(fed.consumed, 14);
        assert!(!s.skipping);
        // A partial line of exactly max bytes waits; one byte more decides it.
        let (lines, fed) = run(&mut s, b"abcd", false);
        assert!(lines.is_empty());
        assert_eq!(fed.consumed, 0);
        let (lines, fed) = run(&mut s, b"abcde", false);
        assert_eq!(lines, [(true, b"abcd".to_vec())]);
        assert_eq!(fed.consumed, 5);
        assert!(s.skipping);
        // Still the same line: skipped, nothing given.
        let (lines, fed) = run(&mut s, b"fghij", false);
        assert!(lines.is_empty());
        assert_eq!(
            fed,
            Fed {
                consumed: 5,
                last_start: None
            }
        );
        let (lines, _) = run(&mut s, b"xyz\nnext\n", false);
        assert_eq!(lines, [(false, b"next".to_vec())]);
        assert!(!s.skipping);
    }

    #[test]
    fn splitting_does_not_depend_on_buffer_boundaries() {
        let text: &[u8] = b"a\nbbbbbbbbbbbb\ncc\n\nddddd\neeeeeeeeeeeeeeeeeeeeeeee\nf";
        let mut whole = Splitter::with_max(5, false);
        let (expect, _) = run(&mut whole, text, false);
        for chunk in 6..text.len() {
            let mut s = Splitter::with_max(5, false);
            let mut got = Vec::new();
            let mut pending: Vec<u8> = Vec::new();
            for part in text.chunks(chunk) {
                pending.extend_from_slice(part);
                let (l, fed) = run(&mut s, &pending, false);
                got.extend(l);
                pending.drain(..fed.consumed);
            }
            assert_eq!(got, expect, "chunk {chunk}");
            assert_eq!(pending, b"f");
        }
    }
}
