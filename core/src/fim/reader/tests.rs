//! Unit tests of the streaming database reader.

use super::*;
use crate::digest::digest;
use crate::fim::attrs::Attrs;
use crate::fim::db::{encode_head, Encoder, Finished, HEAD_LEN};
use crate::fim::entry::{Kind, Meta};
extern crate std;
use std::vec::Vec;

fn header() -> Header<'static> {
    let mut trees = heapless::Vec::new();
    for root in [&b"/a"[..], b"/b"] {
        trees
            .push(TreeInfo {
                root,
                algorithm: Algorithm::Sha256.id(),
                attrs: Attrs::ALL.bits(),
            })
            .unwrap();
    }
    Header {
        created: 1_700_000_000,
        host: "h",
        trees,
    }
}

fn entry(path: &'static [u8], n: u64) -> Entry<&'static [u8]> {
    let mut m = Meta::empty(Kind::File);
    m.size = n;
    m.content = Some(digest(Algorithm::Sha256, &n.to_le_bytes()));
    Entry {
        path,
        target: None,
        meta: m,
    }
}

const ENTRIES: [(u16, &[u8]); 4] = [(0, b"/a"), (0, b"/a/x"), (1, b"/b"), (1, b"/b/y")];

/// Preamble and header, then each record framed by a fresh encoder (no front coding),
/// so that tests can splice them.
fn parts(records: &[(u16, &'static [u8])]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut buf = [0u8; MAX_FRAME];
    let (_, n) = Encoder::begin(&header(), &mut buf).unwrap();
    let head = buf[..n].to_vec();
    let frames = records
        .iter()
        .enumerate()
        .map(|(i, (tree, path))| {
            let (mut enc, _) = Encoder::begin(&header(), &mut [0u8; 256]).unwrap();
            let n = enc.record(*tree, &entry(path, i as u64), &mut buf).unwrap();
            buf[..n].to_vec()
        })
        .collect();
    (head, frames)
}

/// Head, frames, end marker, and a trailer with `count` and the true body digest.
fn seal(head: &[u8], frames: &[Vec<u8>], count: u64, sig: Option<&[u8; 64]>) -> Vec<u8> {
    let mut file = head.to_vec();
    for f in frames {
        file.extend_from_slice(f);
    }
    file.push(0);
    file.extend_from_slice(&encode_head(None));
    let fin = Finished {
        count,
        head: None,
        digest: BodyDigest::of(&file),
    };
    file.extend_from_slice(&fin.tail(sig)[1 + HEAD_LEN..]);
    file
}

fn good() -> Vec<u8> {
    let mut file = Vec::new();
    let mut buf = [0u8; MAX_FRAME];
    let (mut enc, n) = Encoder::begin(&header(), &mut buf).unwrap();
    file.extend_from_slice(&buf[..n]);
    for (i, (tree, path)) in ENTRIES.iter().enumerate() {
        let n = enc.record(*tree, &entry(path, i as u64), &mut buf).unwrap();
        file.extend_from_slice(&buf[..n]);
    }
    file.extend_from_slice(&enc.finish(None).tail(None));
    file
}

#[derive(Debug, PartialEq)]
struct Seen {
    host: std::string::String,
    records: Vec<(u64, u16, Vec<u8>, u64)>,
    verified: bool,
}

/// Feeds `file` in chunks of `chunk` bytes; returns what was seen or the error.
fn read<S: SignatureCheck>(
    file: &[u8],
    chunk: usize,
    buf: &mut [u8],
    sig: S,
) -> Result<Seen, ReadError> {
    let mut r = Reader::new(buf, sig);
    let mut seen = Seen {
        host: std::string::String::new(),
        records: Vec::new(),
        verified: false,
    };
    for piece in file.chunks(chunk.max(1)) {
        let mut rest = piece;
        loop {
            let (used, ev) = r.feed(rest)?;
            rest = &rest[used..];
            match ev {
                Some(Event::Header(h)) => seen.host = h.decode().unwrap().host.into(),
                Some(Event::Record {
                    offset,
                    tree,
                    entry,
                }) => seen
                    .records
                    .push((offset, tree, entry.path.to_vec(), entry.meta.size)),
                Some(Event::Verified(t)) => {
                    assert_eq!(t.count, seen.records.len() as u64);
                    seen.verified = true;
                }
                Some(Event::End) => unreachable!("full reads verify"),
                None => break,
            }
        }
    }
    r.end()?;
    Ok(seen)
}

#[test]
fn whole_slice_without_buffer_and_byte_by_byte_read_the_same() {
    let file = good();
    let whole = read(&file, file.len(), &mut [], NoSignature).unwrap();
    assert!(whole.verified);
    assert_eq!(whole.host, "h");
    let paths: Vec<&[u8]> = whole.records.iter().map(|r| &r.2[..]).collect();
    assert_eq!(paths, [&b"/a"[..], b"/a/x", b"/b", b"/b/y"]);
    let mut buf = [0u8; MAX_FRAME];
    for chunk in [1, 2, 3, 7, 64] {
        assert_eq!(
            read(&file, chunk, &mut buf, NoSignature),
            Ok(whole.clone_seen())
        );
    }
}

impl Seen {
    fn clone_seen(&self) -> Seen {
        Seen {
            host: self.host.clone(),
            records: self.records.clone(),
            verified: self.verified,
        }
    }
}

#[test]
fn every_truncation_is_refused_at_the_item_it_cuts() {
    let file = good();
    let hlen = decode_preamble(&file).unwrap();
    let body_end = (file.len() - TRAILER_LEN) as u64;
    let head_start = body_end - HEAD_LEN as u64;
    for cut in 0..file.len() {
        let e = read(&file[..cut], 5, &mut [0u8; MAX_FRAME], NoSignature).unwrap_err();
        let DbError::Truncated { expected } = e.error else {
            panic!("cut {cut}: {e}");
        };
        let want = if cut < PREAMBLE_LEN {
            (0, "the preamble")
        } else if cut < PREAMBLE_LEN + hlen {
            (PREAMBLE_LEN as u64, "the header")
        } else if (cut as u64) < head_start {
            (e.offset, "a record or the end marker")
        } else if (cut as u64) < body_end {
            (head_start, "the journal head")
        } else {
            (body_end, "the trailer")
        };
        assert_eq!((e.offset, expected), want, "cut at {cut}");
        assert!(e.offset <= cut as u64);
    }
    let s = std::format!(
        "{}",
        read(&file[..20], 64, &mut [0u8; 64], NoSignature).unwrap_err()
    );
    assert!(s.starts_with("at byte 12: truncated"), "{s}");
}

#[test]
fn bytes_after_the_trailer_are_refused() {
    let mut file = good();
    file.push(b'\n');
    let e = read(&file, file.len(), &mut [], NoSignature).unwrap_err();
    assert_eq!(e, fail(file.len() as u64 - 1, DbError::TrailingBytes));
}

#[test]
fn records_out_of_order_are_refused_at_their_offset() {
    let (head, frames) = parts(&[(0, b"/a/y"), (0, b"/a/x")]);
    let file = seal(&head, &frames, 2, None);
    let e = read(&file, file.len(), &mut [], NoSignature).unwrap_err();
    let second = (head.len() + frames[0].len()) as u64;
    assert_eq!(e, fail(second, DbError::OutOfOrder));
    // A tree index going back is out of order too.
    let (head, frames) = parts(&[(1, b"/b"), (0, b"/a")]);
    let file = seal(&head, &frames, 2, None);
    let e = read(&file, 3, &mut [0u8; MAX_FRAME], NoSignature).unwrap_err();
    assert_eq!(e.error, DbError::OutOfOrder);
}

#[test]
fn a_wrong_count_is_refused_at_the_end_of_the_body() {
    let (head, frames) = parts(&ENTRIES);
    let file = seal(&head, &frames, 5, None);
    let e = read(&file, file.len(), &mut [], NoSignature).unwrap_err();
    let body_end = (file.len() - TRAILER_LEN) as u64;
    assert_eq!(
        e,
        fail(
            body_end,
            DbError::CountMismatch {
                trailer: 5,
                records: 4
            }
        )
    );
    assert!(read(
        &seal(&head, &frames, 4, None),
        9,
        &mut [0u8; MAX_FRAME],
        NoSignature
    )
    .is_ok());
}

#[test]
fn a_wrong_digest_is_refused() {
    let mut file = good();
    let body_end = file.len() - TRAILER_LEN;
    file[body_end + 16] ^= 1;
    let e = read(&file, file.len(), &mut [], NoSignature).unwrap_err();
    assert_eq!(e, fail(body_end as u64, DbError::DigestMismatch));
    // An edit in the body without a new trailer: the digest catches it.
    let mut file = good();
    let at = file.iter().rposition(|b| *b == b'y').unwrap();
    file[at] = b'z';
    let e = read(&file, file.len(), &mut [], NoSignature).unwrap_err();
    assert_eq!(e, fail(body_end as u64, DbError::DigestMismatch));
}

#[test]
fn the_signature_hook_sees_the_body_digest_and_can_refuse() {
    let (head, frames) = parts(&ENTRIES);
    let sig = [7u8; 64];
    let file = seal(&head, &frames, 4, Some(&sig));
    let body_end = file.len() - TRAILER_LEN;
    let want = BodyDigest::of(&file[..body_end]);
    let mut calls = 0;
    let accept = |d: &[u8; 32], s: Option<&[u8; 64]>| {
        calls += 1;
        assert_eq!((d, s), (&want, Some(&sig)));
        Ok(())
    };
    assert!(
        read(&file, 11, &mut [0u8; MAX_FRAME], accept)
            .unwrap()
            .verified
    );
    assert_eq!(calls, 1);
    let refuse = |_: &[u8; 32], _: Option<&[u8; 64]>| Err("forged");
    let e = read(&file, file.len(), &mut [], refuse).unwrap_err();
    assert_eq!(e, fail(body_end as u64, DbError::Signature("forged")));
    assert_eq!(
        std::format!("{e}"),
        std::format!("at byte {body_end}: forged")
    );
    // An unsigned database is the hook's call too.
    let unsigned = seal(&head, &frames, 4, None);
    let want_signed = |_: &[u8; 32], s: Option<&[u8; 64]>| s.map(|_| ()).ok_or("not signed");
    let e = read(&unsigned, 64, &mut [0u8; MAX_FRAME], want_signed).unwrap_err();
    assert_eq!(e.error, DbError::Signature("not signed"));
}

#[test]
fn a_damaged_record_names_its_frame() {
    let (head, frames) = parts(&ENTRIES);
    let mut file = seal(&head, &frames, 4, None);
    let third = head.len() + frames[0].len() + frames[1].len();
    file[third + 2] = 0x7f; // tree index 127
    let e = read(&file, 4, &mut [0u8; MAX_FRAME], NoSignature).unwrap_err();
    assert_eq!(e.offset, third as u64);
    assert!(matches!(e.error, DbError::Corrupt(_)), "{e}");
}

#[test]
fn magic_version_frame_length_and_capacity() {
    let mut file = good();
    file[0] = b'X';
    assert_eq!(
        read(&file, 3, &mut [], NoSignature).unwrap_err(),
        fail(0, DbError::BadMagic)
    );
    let mut file = good();
    file[6] = 3;
    let e = read(&file, 100, &mut [], NoSignature).unwrap_err();
    assert_eq!(e.error, DbError::Version { found: 3 });
    let (head, _) = parts(&[]);
    let mut file = head.clone();
    file.extend_from_slice(&[0xff, 0xff, 0x7f]);
    let e = read(&file, file.len(), &mut [], NoSignature).unwrap_err();
    assert_eq!(
        e,
        fail(
            head.len() as u64,
            DbError::FrameTooLarge { len: (1 << 21) - 1 }
        )
    );
    // A header split across chunks needs a buffer that holds it.
    let file = good();
    let e = read(&file, 16, &mut [0u8; 8], NoSignature).unwrap_err();
    assert_eq!(e.offset, PREAMBLE_LEN as u64);
    assert!(
        matches!(e.error, DbError::Capacity { capacity: 8, .. }),
        "{e}"
    );
}

#[test]
fn a_records_read_starts_at_a_tree() {
    let file = good();
    let seen = read(&file, file.len(), &mut [], NoSignature).unwrap();
    let (start, _, _, _) = seen.records[2];
    let h = header();
    let mut buf = [0u8; MAX_FRAME];
    let mut r = Reader::records(&mut buf, &h.trees, start).unwrap();
    let mut rest = &file[start as usize..];
    let mut got = Vec::new();
    loop {
        let (used, ev) = r.feed(rest).unwrap();
        rest = &rest[used..];
        match ev {
            Some(Event::Record { tree, entry, .. }) => got.push((tree, entry.path.to_vec())),
            Some(Event::End) => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, [(1, b"/b".to_vec()), (1, b"/b/y".to_vec())]);
    assert!(r.end().is_ok());
}

/// [`good`] with the journal head `head`, and the reader that read it whole.
fn with_head(head: Option<Head>) -> Vec<u8> {
    let mut file = Vec::new();
    let mut buf = [0u8; MAX_FRAME];
    let (mut enc, n) = Encoder::begin(&header(), &mut buf).unwrap();
    file.extend_from_slice(&buf[..n]);
    for (i, (tree, path)) in ENTRIES.iter().enumerate() {
        let n = enc.record(*tree, &entry(path, i as u64), &mut buf).unwrap();
        file.extend_from_slice(&buf[..n]);
    }
    file.extend_from_slice(&enc.finish(head).tail(None));
    file
}

fn head_read(file: &[u8], chunk: usize) -> Result<Option<Head>, ReadError> {
    let mut buf = [0u8; MAX_FRAME];
    let mut r = Reader::new(&mut buf, NoSignature);
    for piece in file.chunks(chunk) {
        let mut rest = piece;
        loop {
            let (used, ev) = r.feed(rest)?;
            rest = &rest[used..];
            if ev.is_none() {
                break;
            }
        }
    }
    r.end()?;
    Ok(r.journal_head())
}

#[test]
fn the_journal_head_is_read_and_covered_by_the_digest() {
    let head = Head {
        seq: 42,
        hash: [0xab; 32],
    };
    let file = with_head(Some(head));
    for chunk in [1, 5, file.len()] {
        assert_eq!(head_read(&file, chunk), Ok(Some(head)));
    }
    assert_eq!(head_read(&with_head(None), 7), Ok(None));
    // A head edited on disk (a cut journal made to look whole): the digest refuses it.
    let body_end = file.len() - TRAILER_LEN;
    let mut edited = file.clone();
    edited[body_end - 32] ^= 1;
    assert_eq!(
        head_read(&edited, 9),
        Err(fail(body_end as u64, DbError::DigestMismatch))
    );
    let mut flag = file.clone();
    flag[body_end - HEAD_LEN] = 2;
    assert_eq!(
        head_read(&flag, 9),
        Err(fail(
            (body_end - HEAD_LEN) as u64,
            DbError::Corrupt("journal head flag")
        ))
    );
}

#[test]
fn a_version_1_database_has_no_head_and_still_reads() {
    // Version 1: the same bytes without the head, the digest over what is left.
    let file = good();
    let body_end = file.len() - TRAILER_LEN;
    let mut v1 = file[..body_end - HEAD_LEN].to_vec();
    v1[6..8].copy_from_slice(&1u16.to_le_bytes());
    let fin = Finished {
        count: ENTRIES.len() as u64,
        head: None,
        digest: BodyDigest::of(&v1),
    };
    v1.extend_from_slice(&fin.tail(None)[1 + HEAD_LEN..]);
    for chunk in [1, 3, v1.len()] {
        assert_eq!(head_read(&v1, chunk), Ok(None));
    }
    let seen = read(&v1, 5, &mut [0u8; MAX_FRAME], NoSignature).unwrap();
    assert!(seen.verified);
    assert_eq!(seen.records.len(), ENTRIES.len());
}

/// The flag and signature lie outside the digest, so a flipped bit there is the one
/// damage the digest cannot see: every byte of the end (marker, journal head, trailer)
/// of an unsigned database, flipped by three masks, is refused, and the hook is never
/// handed a signature (a reader without a key must not call it signed).
#[test]
fn every_flipped_trailer_byte_of_an_unsigned_database_is_refused() {
    let file = good();
    let end = 1 + HEAD_LEN + TRAILER_LEN;
    let mut tried = 0;
    for at in file.len() - end..file.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut bad = file.clone();
            bad[at] ^= mask;
            let mut handed_a_signature = false;
            let hook = |_: &[u8; 32], s: Option<&[u8; 64]>| {
                handed_a_signature |= s.is_some();
                Ok(())
            };
            let r = read(&bad, 64, &mut [0u8; MAX_FRAME], hook);
            assert!(r.is_err(), "byte {at} ^ {mask:#04x} accepted");
            assert!(
                !handed_a_signature,
                "byte {at} ^ {mask:#04x} read as signed"
            );
            tried += 1;
        }
    }
    assert_eq!(tried, 3 * end);
}
