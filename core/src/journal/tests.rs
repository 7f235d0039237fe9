//! Unit tests of the journal's chain and verifier.

use super::*;
extern crate std;
use std::format;
use std::vec::Vec;

/// Line `seq` of a chain after `prev`, holding event number `k`.
fn line(seq: u64, prev: &[u8; 32], k: u64) -> Vec<u8> {
    let mut p = [0u8; PREFIX_MAX];
    let n = prefix(seq, prev, &mut p);
    let mut l = p[..n].to_vec();
    l.extend_from_slice(
        format!("\"type\":\"warning\",\"t\":{k},\"message\":\"m{k}\"}}").as_bytes(),
    );
    l
}

/// An intact journal of `n` lines.
fn journal(n: u64) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    let mut prev = GENESIS;
    for seq in 1..=n {
        let l = line(seq, &prev, seq);
        prev = link(&l);
        lines.push(l);
    }
    lines
}

fn verify(lines: &[Vec<u8>], signed: Option<Head>) -> Result<Option<Head>, Broken> {
    let mut v = Verifier::new(signed);
    for l in lines {
        v.line(l)?;
    }
    v.finish()
}

fn head_of(lines: &[Vec<u8>]) -> Option<Head> {
    lines.last().map(|l| Head {
        seq: lines.len() as u64,
        hash: link(l),
    })
}

fn broken(line: u64, defect: Defect) -> Result<Option<Head>, Broken> {
    Err(Broken { line, defect })
}

#[test]
fn prefix_is_canonical_and_parses_back() {
    for seq in [0, 1, 9, 10, 12345, u64::MAX] {
        let prev = link(&seq.to_le_bytes());
        let mut p = [0u8; PREFIX_MAX];
        let n = prefix(seq, &prev, &mut p);
        let mut l = p[..n].to_vec();
        l.extend_from_slice(b"\"type\":\"summary\"}");
        assert_eq!(parse(&l), Ok(Fields { seq, prev }));
    }
    let first = line(1, &GENESIS, 1);
    let text = core::str::from_utf8(&first).unwrap();
    assert!(text.starts_with(&format!(
        "{{\"seq\":1,\"prev\":\"{}\",\"type\":",
        "0".repeat(64)
    )));
}

#[test]
fn lines_not_in_the_one_shape_are_refused() {
    let good = line(7, &GENESIS, 1);
    let edit = |from: &str, to: &str| -> Vec<u8> {
        let s = core::str::from_utf8(&good).unwrap();
        assert!(s.contains(from), "{from}");
        s.replacen(from, to, 1).into_bytes()
    };
    let zeros = "0".repeat(64);
    for bad in [
        edit("\"seq\":7", "\"seq\":07"),
        edit("\"seq\":7", "\"seq\": 7"),
        edit("\"seq\":7", "\"seq\":"),
        edit("\"seq\":7", "\"seq\":99999999999999999999"),
        edit(&zeros, &format!("A{}", &zeros[1..])),
        edit(&zeros, &zeros[1..]),
        edit("{\"seq\"", "{\"type\":\"x\",\"seq\""),
        b"".to_vec(),
        b"garbage".to_vec(),
    ] {
        assert_eq!(
            parse(&bad),
            Err(Defect::NoChain),
            "{}",
            std::string::String::from_utf8_lossy(&bad)
        );
    }
    for bad in [
        edit("\"type\"", "\"kind\""),
        good[..good.len() - 1].to_vec(),
        edit("m1", "m\n1"),
        edit("m1", "m\x1b1"),
        edit("m1", "m\u{7f}1"),
        {
            let mut l = good.clone();
            let at = l.len() - 3;
            l[at] = 0xff; // not UTF-8
            l
        },
    ] {
        assert_eq!(parse(&bad), Err(Defect::NotJson));
    }
}

#[test]
fn an_intact_journal_verifies_with_and_without_its_head() {
    for n in 0..6 {
        let j = journal(n);
        assert_eq!(verify(&j, None), Ok(head_of(&j)));
        assert_eq!(verify(&j, head_of(&j)), Ok(head_of(&j)));
        // A head signed earlier, with lines appended since.
        for k in 1..=n as usize {
            assert_eq!(verify(&j, head_of(&j[..k])), Ok(head_of(&j)), "n {n} k {k}");
        }
    }
}

#[test]
fn every_deleted_line_is_named_where_it_was() {
    for n in 1..8u64 {
        let j = journal(n);
        for del in 0..n as usize {
            let mut cut = j.clone();
            cut.remove(del);
            let line = del as u64 + 1;
            let signed = head_of(&j);
            let want = if line == n {
                // The last line: only the signed head shows it.
                broken(line, Defect::Missing { signed: n })
            } else {
                broken(
                    line,
                    Defect::Seq {
                        expected: line,
                        found: line + 1,
                    },
                )
            };
            assert_eq!(verify(&cut, signed), want, "n {n} deleted {line}");
            if line < n {
                assert_eq!(verify(&cut, None), want, "n {n} deleted {line}, unsigned");
            }
        }
    }
}

#[test]
fn every_edited_line_is_named() {
    for n in 1..8u64 {
        let j = journal(n);
        for ed in 0..n as usize {
            let mut forged = j.clone();
            // Same shape, other content: only the chain can tell.
            let s = std::string::String::from_utf8(forged[ed].clone()).unwrap();
            forged[ed] = s.replace("\"message\":\"m", "\"message\":\"M").into_bytes();
            let line = ed as u64 + 1;
            let defect = if line == n {
                Defect::Signed
            } else {
                Defect::Edited
            };
            assert_eq!(
                verify(&forged, head_of(&j)),
                broken(line, defect),
                "n {n} line {line}"
            );
        }
    }
}

#[test]
fn a_cut_below_the_signed_head_is_broken_at_the_first_missing_line() {
    for n in 1..8u64 {
        let j = journal(n);
        for keep in 0..n as usize {
            assert_eq!(
                verify(&j[..keep], head_of(&j)),
                broken(keep as u64 + 1, Defect::Missing { signed: n }),
                "n {n} keep {keep}"
            );
        }
    }
    // The first lines cut: the new first line does not start the chain.
    let j = journal(3);
    assert_eq!(
        verify(&j[1..], None),
        broken(
            1,
            Defect::Seq {
                expected: 1,
                found: 2
            }
        )
    );
}

#[test]
fn a_rewritten_chain_is_caught_by_the_signed_head() {
    // An intruder rewrites line 2 and recomputes every prev after it.
    let j = journal(4);
    let mut forged = j[..1].to_vec();
    let mut prev = link(&j[0]);
    for seq in 2..=4 {
        let l = line(seq, &prev, seq + 100);
        prev = link(&l);
        forged.push(l);
    }
    assert_eq!(verify(&forged, None), Ok(head_of(&forged)));
    assert_eq!(verify(&forged, head_of(&j)), broken(4, Defect::Signed));
    assert_eq!(verify(&forged, head_of(&j[..2])), broken(2, Defect::Signed));
}

#[test]
fn swapped_inserted_and_damaged_lines() {
    let j = journal(4);
    let mut swapped = j.clone();
    swapped.swap(1, 2);
    let seq = |expected, found| Defect::Seq { expected, found };
    assert_eq!(verify(&swapped, None), broken(2, seq(2, 3)));
    let mut doubled = j.clone();
    doubled.insert(2, j[1].clone());
    assert_eq!(verify(&doubled, None), broken(3, seq(3, 2)));
    let mut first = j.clone();
    first[0] = line(1, &[1; 32], 1);
    assert_eq!(verify(&first, None), broken(1, Defect::NotFirst));
    // A crash mid-line, then lines chained after it: the damaged line is named, and the
    // verdict does not change with what follows.
    let mut torn = j[..2].to_vec();
    torn.push(j[2][..20].to_vec());
    let after = line(4, &link(&torn[2]), 4);
    torn.push(after);
    assert_eq!(verify(&torn, None), broken(3, Defect::NoChain));
    let mut v = Verifier::new(None);
    for l in &torn[..3] {
        let _ = v.line(l);
    }
    assert_eq!(
        v.line(&torn[3]),
        Err(Broken {
            line: 3,
            defect: Defect::NoChain
        })
    );
    assert_eq!(v.lines(), 3);
}

#[test]
fn messages_name_the_line() {
    let b = Broken {
        line: 12,
        defect: Defect::Missing { signed: 15 },
    };
    assert_eq!(
        format!("{b}"),
        "line 12: missing: the database signs the journal up to line 15 (cut)"
    );
}

proptest::proptest! {
    /// Any one byte of a journal changed, the journal signed at its last line: the change
    /// is always seen, at the changed line or (a changed prev) the line before it.
    #[test]
    fn prop_any_flipped_byte_is_seen_where_it_is(
        n in 1u64..12,
        pick in proptest::prelude::any::<proptest::sample::Index>(),
        at in proptest::prelude::any::<proptest::sample::Index>(),
        xor in 1u8..=255,
    ) {
        let j = journal(n);
        let k = pick.index(j.len());
        let mut bad = j.clone();
        let i = at.index(bad[k].len());
        bad[k][i] ^= xor;
        let line = k as u64 + 1;
        let b = verify(&bad, head_of(&j)).unwrap_err();
        proptest::prop_assert!(
            b.line == line || b.line + 1 == line,
            "byte {} of line {} flipped, reported {:?}", i, line, b
        );
    }

    /// Any line of the journal replayed elsewhere in it is seen where it went in.
    #[test]
    fn prop_any_replayed_line_is_seen_where_it_went_in(
        n in 1u64..12,
        from in proptest::prelude::any::<proptest::sample::Index>(),
        to in proptest::prelude::any::<proptest::sample::Index>(),
    ) {
        let j = journal(n);
        let mut bad = j.clone();
        let (at, from) = (to.index(j.len() + 1), from.index(j.len()));
        bad.insert(at, j[from].clone());
        let b = verify(&bad, head_of(&j)).unwrap_err();
        // A copy put just before its original cannot be told from it: the second is named.
        let want = if at == from { at + 2 } else { at + 1 };
        proptest::prop_assert_eq!(b.line, want as u64);
    }
}
