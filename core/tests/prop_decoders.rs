//! Property tests of the core's small decoders and parsers, through the public API: log
//! positions, journal lines, escaped text, log values, the line splitter and class
//! expressions. Arbitrary input never panics; encoders round-trip; escaping never lets a
//! control byte through.

use homeostat_core::classes::{self, expr};
use homeostat_core::journal::{self, Verifier};
use homeostat_core::logscan::value::{parse_int, parse_real};
use homeostat_core::logscan::{Anchor, Mtime, Piece, Splitter, TailPos, HEAD_MAX, TAIL_MAX};
use homeostat_core::text::{escaped_len, Escaped};
use proptest::collection::vec;
use proptest::prelude::*;

fn tail_pos() -> impl Strategy<Value = TailPos> {
    (
        any::<(u64, u64, u64, i64)>(),
        0u32..1_000_000_000,
        (0..=HEAD_MAX as u16, any::<[u8; 32]>(), any::<bool>()),
        (0..=TAIL_MAX as u16, any::<[u8; 32]>(), any::<bool>()),
    )
        .prop_map(
            |((dev, ino, offset, sec), nsec, (hl, hd, done), (tl, td, skip))| {
                let tl = if u64::from(tl) > offset {
                    offset as u16
                } else {
                    tl
                };
                TailPos {
                    dev,
                    ino,
                    offset,
                    mtime: Mtime { sec, nsec },
                    head: Anchor {
                        len: hl,
                        digest: hd,
                    },
                    head_done: done,
                    tail: Anchor {
                        len: tl,
                        digest: td,
                    },
                    skipping: skip,
                }
            },
        )
}

/// Unescapes `\xNN`; everything else is itself.
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < b.len() {
        if b[i] == b'\\' {
            out.push(u8::from_str_radix(&s[i + 2..i + 4], 16).unwrap());
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

proptest! {
    /// A position encodes and decodes to itself.
    #[test]
    fn prop_tailpos_round_trips(p in tail_pos()) {
        prop_assert_eq!(TailPos::decode(&p.encode()), Ok(p));
    }

    /// Any bytes: refused, or a position that encodes back to exactly those bytes.
    #[test]
    fn prop_tailpos_decode_is_exact_or_refuses(
        mut bytes in vec(any::<u8>(), 0..=TailPos::ENCODED_LEN + 2),
        valid_version in any::<bool>(),
    ) {
        if valid_version && !bytes.is_empty() {
            bytes[0] = 1;
        }
        if let Ok(p) = TailPos::decode(&bytes) {
            prop_assert_eq!(&p.encode()[..], &bytes[..]);
        }
    }

    /// A flipped bit of a valid position: refused, or a different position (never
    /// silently the same one).
    #[test]
    fn prop_tailpos_bit_flip_changes_or_refuses(
        p in tail_pos(),
        at in 0..TailPos::ENCODED_LEN,
        bit in 0u8..8,
    ) {
        let mut b = p.encode();
        b[at] ^= 1 << bit;
        if let Ok(q) = TailPos::decode(&b) {
            prop_assert_ne!(q, p);
        }
    }

    /// Arbitrary journal lines: parse and the verifier never panic, and the verifier's
    /// verdict, once broken, stays broken.
    #[test]
    fn prop_journal_lines_never_panic(
        lines in vec(vec(any::<u8>(), 0..120), 0..6),
        prefix in any::<bool>(),
    ) {
        let mut v = Verifier::new(None);
        let mut broken = None;
        for (i, mut line) in lines.into_iter().enumerate() {
            if prefix {
                let mut p = [0u8; journal::PREFIX_MAX];
                let n = journal::prefix(i as u64 + 1, &[0; 32], &mut p);
                line.splice(0..0, p[..n].iter().copied());
            }
            let _ = journal::parse(&line);
            let r = v.line(&line);
            if let Some(b) = broken {
                prop_assert_eq!(r, Err(b));
            }
            broken = broken.or(r.err());
        }
        prop_assert_eq!(v.finish().err(), broken);
    }

    /// Escaped text holds printable ASCII only (no newline, no terminal escape), has the
    /// length `escaped_len` says, and unescapes to the original bytes.
    #[test]
    fn prop_escaped_text_has_no_control_bytes(
        bytes in vec(any::<u8>(), 0..200),
        extra in vec(any::<u8>(), 0..3),
    ) {
        let s = Escaped::with_extra(&bytes, &extra).to_string();
        prop_assert!(s.bytes().all(|b| (0x20..0x7f).contains(&b)), "{:?}", s);
        // Outside its `\xNN` sequences, no byte of `extra` is left.
        let mut plain = s.as_bytes().to_vec();
        while let Some(i) = plain.iter().position(|b| *b == b'\\') {
            plain.drain(i..i + 4);
        }
        prop_assert!(!extra.iter().any(|e| plain.contains(e)), "{:?}", s);
        prop_assert_eq!(s.len(), escaped_len(&bytes, &extra));
        prop_assert_eq!(unescape(&s), bytes);
    }

    /// Log values: never a panic; integers agree with Rust's parser on what they accept.
    #[test]
    fn prop_log_values_parse_or_refuse(
        bytes in prop_oneof![
            vec(any::<u8>(), 0..30),
            "[ +\\-0-9.eE]{0,30}".prop_map(String::into_bytes),
        ],
    ) {
        if let Some(v) = parse_int(&bytes) {
            let s = std::str::from_utf8(&bytes).unwrap().trim();
            prop_assert_eq!(s.parse::<i64>(), Ok(v));
        }
        if let Some(v) = parse_real(&bytes) {
            prop_assert!(v.is_finite());
        }
    }

    /// The splitter, fed arbitrary bytes in arbitrary pieces: every line is given once,
    /// whole when it fits `max` and cut to `max` otherwise, and nothing else is given.
    #[test]
    fn prop_splitter_gives_each_line_once(
        bytes in vec(prop_oneof![Just(b'\n'), Just(b'a'), any::<u8>()], 0..300),
        max in 1usize..40,
        cuts in vec(any::<usize>(), 0..5),
    ) {
        let mut s = Splitter::with_max(max, false);
        let mut got: Vec<Vec<u8>> = Vec::new();
        // The caller's buffer: what was not consumed stays for the next feed.
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        bounds.push(bytes.len());
        bounds.sort_unstable();
        let (mut buf, mut from) = (Vec::new(), 0);
        for (k, to) in bounds.iter().enumerate() {
            buf.extend_from_slice(&bytes[from..*to]);
            from = *to;
            let eof = k + 1 == bounds.len();
            let fed = s.feed(&buf, eof, |p| {
                let b = p.bytes();
                assert!(b.len() <= max);
                assert!(matches!(p, Piece::Line(_)) || b.len() == max);
                got.push(b.to_vec());
            });
            buf.drain(..fed.consumed);
        }
        let want: Vec<Vec<u8>> = {
            let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
            if bytes.last() == Some(&b'\n') || bytes.is_empty() {
                lines.pop();
            }
            lines.iter().map(|l| l[..l.len().min(max)].to_vec()).collect()
        };
        prop_assert_eq!(got, want);
    }

    /// Class expressions and names of any characters: a value or an error, never a
    /// panic; `check` and `eval` agree on what is well formed.
    #[test]
    fn prop_class_expressions_never_panic(s in "\\PC{0,40}|[a-z0-9_!.&|() ]{0,40}") {
        let checked = expr::check(&s);
        let evaluated = expr::eval(&s, |n| n.len() % 2 == 0);
        prop_assert_eq!(checked.is_ok(), evaluated.is_ok(), "{:?}", s);
        let mut out = String::new();
        let _ = expr::canonical(&s, &mut out);
        let _ = classes::class_name(&s);
        if let Ok(c) = classes::canonify(&s) {
            prop_assert!(c.bytes().all(classes::is_name_byte));
        }
    }
}
