//! Property tests of the database codec and the streaming reader: arbitrary bytes never
//! panic, an encoded database reads back record for record however it is chunked, and a
//! flipped bit is never accepted — above all never as signed.

extern crate std;
use std::vec::Vec;

use proptest::collection::vec;
use proptest::prelude::*;

use super::attrs::Attrs;
use super::db::{
    decode_head, decode_header, decode_preamble, decode_trailer, Decoder, Encoder, Header,
    TreeInfo, MAX_FRAME, MAX_HEADER,
};
use super::entry::{Entry, Kind, Meta, Timestamp};
use super::order::path_cmp;
use super::reader::{Event, NoSignature, ReadError, Reader, SignatureCheck};
use crate::digest::{digest, Algorithm};

/// `n` cases unless PROPTEST_CASES says otherwise (the soak run raises it).
fn cases(n: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n);
    ProptestConfig::with_cases(n)
}

const ALGS: [Algorithm; 5] = [
    Algorithm::Sha256,
    Algorithm::Sha512,
    Algorithm::Blake3,
    Algorithm::Sha1,
    Algorithm::Md5,
];

fn header(algs: &[Algorithm]) -> Header<'static> {
    const ROOTS: [&[u8]; 3] = [b"/etc", b"/usr/bin", b"/"];
    let mut trees = heapless::Vec::new();
    for (i, a) in algs.iter().enumerate() {
        trees
            .push(TreeInfo {
                root: ROOTS[i % ROOTS.len()],
                algorithm: a.id(),
                attrs: Attrs::ALL.bits(),
            })
            .unwrap();
    }
    Header {
        created: 1_700_000_000,
        host: "host",
        trees,
    }
}

/// An owned record as a test generates it.
#[derive(Clone, Debug, PartialEq)]
struct Rec {
    tree: u16,
    path: Vec<u8>,
    target: Option<Vec<u8>>,
    meta: Meta,
}

fn meta() -> impl Strategy<Value = Meta> {
    (
        0u8..7,
        0u32..=0o7777,
        any::<(u32, u32, u64)>(),
        any::<(i64, i64, u64, u64, u64)>(),
        (0u32..1_000_000_000, 0u32..1_000_000_000),
        any::<Option<[u8; 32]>>(),
        any::<Option<Vec<u8>>>(),
        any::<u8>(),
    )
        .prop_map(
            |(kind, mode, (uid, gid, size), (ms, cs, inode, dev, nlink), (mn, cn), x, c, flags)| {
                Meta {
                    kind: Kind::from_id(kind).unwrap_or(Kind::File),
                    mode,
                    uid,
                    gid,
                    size,
                    mtime: Timestamp { sec: ms, nsec: mn },
                    ctime: Timestamp { sec: cs, nsec: cn },
                    inode,
                    dev,
                    nlink,
                    xattrs: x,
                    // the content digest is filled in per tree (its length is the algorithm's)
                    content: c.map(|c| digest(Algorithm::Sha256, &c)),
                    flags,
                }
            },
        )
}

/// Up to three trees and up to twelve records in (tree, path) order with unique paths.
fn database() -> impl Strategy<Value = (Vec<Algorithm>, Vec<Rec>)> {
    (
        vec(proptest::sample::select(&ALGS[..]), 1..4),
        vec(
            (
                0u16..3,
                vec(proptest::sample::select(&b"/ab\xffz."[..]), 1..40),
                proptest::option::of(vec(any::<u8>(), 0..20)),
                meta(),
            ),
            0..12,
        ),
    )
        .prop_map(|(algs, raw)| {
            let mut recs: Vec<Rec> = raw
                .into_iter()
                .map(|(t, path, target, mut meta)| {
                    let tree = t % algs.len() as u16;
                    if let Some(c) = meta.content {
                        meta.content = Some(digest(algs[usize::from(tree)], c.as_bytes()));
                    }
                    Rec {
                        tree,
                        path,
                        target,
                        meta,
                    }
                })
                .collect();
            recs.sort_by(|a, b| a.tree.cmp(&b.tree).then(path_cmp(&a.path, &b.path)));
            recs.dedup_by(|a, b| a.tree == b.tree && path_cmp(&a.path, &b.path).is_eq());
            (algs, recs)
        })
}

/// The encoded database; `sign` makes the signature from the body digest.
/// Makes a trailer signature from the body digest.
type Sign = fn(&[u8; 32]) -> [u8; 64];

fn encode(algs: &[Algorithm], recs: &[Rec], sign: Option<Sign>) -> Vec<u8> {
    let mut buf = std::vec![0u8; MAX_FRAME];
    let (mut enc, n) = Encoder::begin(&header(algs), &mut buf).unwrap();
    let mut file = buf[..n].to_vec();
    for r in recs {
        let e = Entry {
            path: &r.path[..],
            target: r.target.as_deref(),
            meta: r.meta,
        };
        let n = enc.record(r.tree, &e, &mut buf).unwrap();
        file.extend_from_slice(&buf[..n]);
    }
    let fin = enc.finish(None);
    let sig = sign.map(|s| s(&fin.digest));
    file.extend_from_slice(&fin.tail(sig.as_ref()));
    file
}

/// A stand-in for the agent's ed25519 key: the "signature" is a keyed function of the
/// digest that no bit flip of the body can keep matching.
fn mac(d: &[u8; 32]) -> [u8; 64] {
    let mut s = [0u8; 64];
    s[..32]
        .copy_from_slice(&digest(Algorithm::Sha256, &[&b"key"[..], d].concat()).as_bytes()[..32]);
    s[32..].copy_from_slice(d);
    s
}

fn keyed(d: &[u8; 32], s: Option<&[u8; 64]>) -> Result<(), &'static str> {
    match s {
        Some(s) if *s == mac(d) => Ok(()),
        Some(_) => Err("bad signature"),
        None => Err("unsigned"),
    }
}

/// What a full read saw: records and whether (and how) the trailer verified.
#[derive(Debug, PartialEq)]
struct Seen {
    records: Vec<Rec>,
    signed: Option<bool>,
}

/// Feeds `file` split at `cuts` (offsets, any order) through a full read.
fn read<S: SignatureCheck>(file: &[u8], cuts: &[usize], sig: S) -> Result<Seen, ReadError> {
    let mut buf = std::vec![0u8; MAX_HEADER.max(MAX_FRAME)];
    let mut r = Reader::new(&mut buf, sig);
    let mut seen = Seen {
        records: Vec::new(),
        signed: None,
    };
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (file.len() + 1)).collect();
    bounds.push(0);
    bounds.push(file.len());
    bounds.sort_unstable();
    for w in bounds.windows(2) {
        let mut rest = &file[w[0]..w[1]];
        loop {
            let (used, ev) = r.feed(rest)?;
            rest = &rest[used..];
            match ev {
                Some(Event::Header(h)) => {
                    h.decode().expect("a header the reader yielded decodes");
                }
                Some(Event::Record { tree, entry, .. }) => seen.records.push(Rec {
                    tree,
                    path: entry.path.to_vec(),
                    target: entry.target.map(<[u8]>::to_vec),
                    meta: entry.meta,
                }),
                Some(Event::Verified(t)) => seen.signed = Some(t.signature.is_some()),
                Some(Event::End) => panic!("a full read ends with Verified"),
                None => break,
            }
        }
    }
    r.end()?;
    Ok(seen)
}

proptest! {
    #![proptest_config(cases(256))]

    /// Encode then read, chunked anywhere: the same records, verified, signed as written.
    #[test]
    fn prop_db_round_trips_in_any_chunking(
        (algs, recs) in database(),
        cuts in vec(any::<usize>(), 0..6),
        signed in any::<bool>(),
    ) {
        let file = encode(&algs, &recs, signed.then_some(mac as Sign));
        let seen = if signed {
            read(&file, &cuts, keyed)
        } else {
            read(&file, &cuts, NoSignature)
        };
        prop_assert_eq!(seen, Ok(Seen { records: recs, signed: Some(signed) }));
    }

    /// One flipped bit anywhere in a signed database: refused by a keyed check, always.
    #[test]
    fn prop_db_signed_bit_flip_is_never_accepted(
        (algs, recs) in database(),
        at in any::<proptest::sample::Index>(),
        bit in 0u8..8,
    ) {
        let mut file = encode(&algs, &recs, Some(mac));
        let i = at.index(file.len());
        file[i] ^= 1 << bit;
        let got = read(&file, &[], keyed);
        prop_assert!(got.is_err(), "flip of bit {} at byte {} accepted: {:?}", bit, i, got);
    }

    /// One flipped bit anywhere in an unsigned database, no key: refused, and in
    /// particular never turned into a "signed" one (the trailer's flag byte).
    #[test]
    fn prop_db_unsigned_bit_flip_is_never_accepted(
        (algs, recs) in database(),
        at in any::<proptest::sample::Index>(),
        bit in 0u8..8,
    ) {
        let mut file = encode(&algs, &recs, None);
        let i = at.index(file.len());
        file[i] ^= 1 << bit;
        let got = read(&file, &[], NoSignature);
        prop_assert!(got.is_err(), "flip of bit {} at byte {} accepted: {:?}", bit, i, got);
    }

    /// A database cut short anywhere, or with bytes appended, is refused.
    #[test]
    fn prop_db_truncated_or_extended_is_refused(
        (algs, recs) in database(),
        at in any::<proptest::sample::Index>(),
        extra in vec(any::<u8>(), 1..16),
    ) {
        let file = encode(&algs, &recs, None);
        let cut = at.index(file.len());
        prop_assert!(read(&file[..cut], &[], NoSignature).is_err());
        let mut longer = file.clone();
        longer.extend_from_slice(&extra);
        prop_assert!(read(&longer, &[], NoSignature).is_err());
    }

    /// Arbitrary bytes, and a valid preamble followed by arbitrary bytes, never panic
    /// the full reader.
    #[test]
    fn prop_db_reader_never_panics_on_arbitrary_bytes(
        bytes in vec(any::<u8>(), 0..600),
        cuts in vec(any::<usize>(), 0..4),
        preamble in any::<bool>(),
    ) {
        let mut file = Vec::new();
        if preamble {
            file.extend_from_slice(b"HMSTDB\x02\x00");
            let n = bytes.len().min(300) as u32;
            file.extend_from_slice(&n.to_le_bytes());
        }
        file.extend_from_slice(&bytes);
        let _ = read(&file, &cuts, NoSignature);
        let _ = read(&file, &cuts, keyed);
    }

    /// A records-only reader over arbitrary bytes from an arbitrary offset never panics.
    #[test]
    fn prop_db_records_reader_never_panics(
        bytes in vec(any::<u8>(), 0..600),
        offset in any::<u64>(),
        n in 1usize..4,
    ) {
        let h = header(&ALGS[..n]);
        let mut buf = std::vec![0u8; MAX_FRAME];
        let mut r = Reader::records(&mut buf, &h.trees, offset).unwrap();
        let mut rest = &bytes[..];
        while let Ok((used, Some(_))) = r.feed(rest) {
            rest = &rest[used..];
        }
        let _ = r.end();
    }

    /// Each part decoder on arbitrary bytes: a value or an error, never a panic.
    #[test]
    fn prop_db_part_decoders_never_panic(bytes in vec(any::<u8>(), 0..300)) {
        let _ = decode_preamble(&bytes);
        let _ = decode_header(&bytes);
        let _ = decode_head(&bytes);
        let _ = decode_trailer(&bytes);
        let h = header(&ALGS);
        let mut d = Decoder::new();
        let _ = d.decode(&bytes, &h.trees);
        let _ = d.decode(&bytes, &h.trees);
    }

    /// The trailer and head decoders at their exact lengths: flag bytes other than 0 and
    /// 1 are refused, and a zero flag with any non-zero byte after it too.
    #[test]
    fn prop_db_trailer_fixed_length_is_strict(
        mut t in vec(any::<u8>(), 113..=113),
        mut h in vec(any::<u8>(), 41..=41),
    ) {
        t[..8].copy_from_slice(b"HMSTEND\0");
        match decode_trailer(&t) {
            Ok(tr) => {
                prop_assert!(t[48] <= 1);
                prop_assert_eq!(tr.signature.is_some(), t[48] == 1);
                prop_assert!(t[48] == 1 || t[49..].iter().all(|b| *b == 0));
            }
            Err(_) => {
                let zero = t[49..].iter().all(|b| *b == 0);
                prop_assert!(t[48] > 1 || (t[48] == 0) != zero);
            }
        }
        match decode_head(&h) {
            Ok(Some(_)) => prop_assert_eq!(h[0], 1),
            Ok(None) => prop_assert!(h.iter().all(|b| *b == 0)),
            Err(_) => {}
        }
        h[0] = 0;
        h[1..].fill(0);
        prop_assert_eq!(decode_head(&h), Ok(None));
    }
}

proptest! {
    // 1,240 reads a case
    #![proptest_config(cases(32))]

    /// The same, every bit of the journal head and trailer (the last 155 bytes) in turn:
    /// one of them is the signed flag, which a blind flip over the whole file rarely hits.
    #[test]
    fn prop_db_unsigned_tail_bit_flip_is_never_accepted((algs, recs) in database()) {
        let file = encode(&algs, &recs, None);
        for i in file.len() - 155..file.len() {
            for bit in 0..8 {
                let mut bad = file.clone();
                bad[i] ^= 1 << bit;
                let got = read(&bad, &[], NoSignature);
                prop_assert!(got.is_err(), "flip of bit {} at byte {} accepted: {:?}", bit, i, got);
            }
        }
    }
}

/// Found by `prop_db_unsigned_tail_bit_flip_is_never_accepted`: with no key configured, an
/// unsigned database whose trailer flag byte went from 0 to 1 was accepted and reported as
/// signed (the signature bytes, all zero, are not covered by the digest).
#[test]
fn regression_db_unsigned_trailer_flag_flip_accepted_as_signed() {
    let mut file = encode(&[Algorithm::Sha256], &[], None);
    let flag = file.len() - 113 + 48;
    assert_eq!(file[flag], 0);
    file[flag] = 1;
    let got = read(&file, &[], NoSignature);
    assert!(
        matches!(
            got,
            Err(ReadError {
                error: super::db::DbError::Corrupt(_),
                ..
            })
        ),
        "{got:?}"
    );
}
