//! Unit tests of the database codec: format, encoder and decoder.

use super::*;
use crate::digest::digest;
use crate::fim::entry::{Entry, Kind, Meta, Timestamp};
extern crate std;
use std::vec::Vec;

fn header<'a>(root: &'a [u8]) -> Header<'a> {
    let mut trees = heapless::Vec::new();
    trees
        .push(TreeInfo {
            root,
            algorithm: Algorithm::Sha256.id(),
            attrs: Attrs::ALL.bits(),
        })
        .unwrap();
    Header {
        created: 1_700_000_000,
        host: "testhost",
        trees,
    }
}

fn entry(path: &'static [u8], n: u64) -> Entry<&'static [u8]> {
    let mut m = Meta::empty(Kind::File);
    m.mode = 0o644;
    m.size = n;
    m.inode = n;
    m.mtime = Timestamp {
        sec: -5,
        nsec: 999_999_999,
    };
    m.content = Some(digest(Algorithm::Sha256, &n.to_le_bytes()));
    Entry {
        path,
        target: if n == 2 { Some(b"\xfflink") } else { None },
        meta: m,
    }
}

/// Encodes, then decodes by hand the way a reader would.
fn round_trip(entries: &[Entry<&'static [u8]>]) -> Vec<u8> {
    let h = header(b"/t");
    let mut file = Vec::new();
    let mut buf = [0u8; MAX_FRAME];
    let (mut enc, n) = Encoder::begin(&h, &mut buf).unwrap();
    file.extend_from_slice(&buf[..n]);
    for e in entries {
        let n = enc.record(0, e, &mut buf).unwrap();
        file.extend_from_slice(&buf[..n]);
    }
    let fin = enc.finish(None);
    file.extend_from_slice(&fin.tail(None));
    file
}

fn decode_all(file: &[u8]) -> Result<Vec<Entry<Vec<u8>>>, DbError> {
    let hlen = decode_preamble(file)?;
    let h = decode_header(&file[PREAMBLE_LEN..PREAMBLE_LEN + hlen])?;
    let mut pos = PREAMBLE_LEN + hlen;
    let mut dec = Decoder::new();
    let mut out = Vec::new();
    loop {
        let (len, used) = take_varint(&file[pos..])?.ok_or(DbError::Corrupt("eof"))?;
        pos += used;
        if len == 0 {
            break;
        }
        let (_, e) = dec.decode(&file[pos..pos + len as usize], &h.trees)?;
        out.push(Entry {
            path: e.path.to_vec(),
            target: e.target.map(|t| t.to_vec()),
            meta: e.meta,
        });
        pos += len as usize;
    }
    assert_eq!(decode_head(&file[pos..pos + HEAD_LEN])?, None);
    pos += HEAD_LEN;
    let t = decode_trailer(&file[pos..])?;
    let mut body = sha2::Sha256::new();
    body.update(&file[..pos]);
    assert_eq!(t.digest[..], body.finalize()[..]);
    assert_eq!(t.count, out.len() as u64);
    Ok(out)
}

#[test]
fn records_round_trip_with_front_coding() {
    let es = [
        entry(b"/t", 1),
        entry(b"/t/a b", 2),
        entry(b"/t/a b/c\xe9", 3),
        entry(b"/t/a-b", 4),
    ];
    let file = round_trip(&es);
    let back = decode_all(&file).unwrap();
    assert_eq!(back.len(), 4);
    for (a, b) in es.iter().zip(&back) {
        assert_eq!(a.path, &b.path[..]);
        assert_eq!(a.target, b.target.as_deref());
        assert_eq!(a.meta, b.meta);
    }
}

#[test]
fn out_of_order_is_refused_on_both_sides() {
    let h = header(b"/t");
    let mut buf = [0u8; MAX_FRAME];
    let (mut enc, _) = Encoder::begin(&h, &mut buf).unwrap();
    enc.record(0, &entry(b"/t/b", 1), &mut buf).unwrap();
    assert_eq!(
        enc.record(0, &entry(b"/t/a", 1), &mut buf),
        Err(DbError::OutOfOrder)
    );
    assert_eq!(
        enc.record(0, &entry(b"/t/b", 1), &mut buf),
        Err(DbError::OutOfOrder)
    );
}

#[test]
fn version_and_magic_are_checked() {
    let mut file = round_trip(&[entry(b"/t", 1)]);
    file[6] = 9;
    assert_eq!(decode_all(&file).err(), Some(DbError::Version { found: 9 }));
    file[0] = b'X';
    assert_eq!(decode_all(&file).err(), Some(DbError::BadMagic));
}

#[test]
fn trailer_detects_truncation() {
    let file = round_trip(&[entry(b"/t", 1), entry(b"/t/x", 2)]);
    let cut = &file[..file.len() - 1];
    let hlen = decode_preamble(cut).unwrap();
    let body_end = cut.len() - TRAILER_LEN;
    assert!(hlen < body_end);
    assert!(decode_trailer(&cut[body_end..]).is_err() || decode_all(cut).is_err());
}

#[test]
fn varint_bounds() {
    let mut b = [0u8; 3];
    let n = put_varint(300, &mut b).unwrap();
    assert_eq!(take_varint(&b[..n]).unwrap(), Some((300, n)));
    assert_eq!(take_varint(&[0x80]).unwrap(), None);
    assert!(take_varint(&[0x80, 0x80, 0x80, 0x01]).is_err());
}

#[test]
fn the_journal_head_encodes_in_fixed_bytes() {
    let head = crate::journal::Head {
        seq: 0x0102_0304_0506_0708,
        hash: [9; 32],
    };
    let b = encode_head(Some(&head));
    assert_eq!(b[0], 1);
    assert_eq!(b[1..9], [8, 7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(decode_head(&b), Ok(Some(head)));
    assert_eq!(decode_head(&encode_head(None)), Ok(None));
    assert_eq!(encode_head(None), [0u8; HEAD_LEN]);
    let mut stray = encode_head(None);
    stray[5] = 1; // "none" with bytes in it
    assert!(decode_head(&stray).is_err());
    assert!(decode_head(&b[1..]).is_err());
}
