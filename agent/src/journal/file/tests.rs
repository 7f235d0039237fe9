//! Unit tests of the journal file: tails, appends, damage and concurrent writers.

use super::*;
use homeostat_core::journal::{Broken, Defect, Verifier};

fn event(k: usize) -> Vec<u8> {
    format!("{{\"type\":\"warning\",\"t\":{k},\"source\":\"/x\",\"message\":\"m{k}\"}}")
        .into_bytes()
}

fn lines(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        bytes.last(),
        Some(&b'\n'),
        "the journal ends with a whole line"
    );
    bytes[..bytes.len() - 1]
        .split(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn verify(path: &Path) -> Result<Option<Head>, Broken> {
    let mut v = Verifier::new(None);
    for l in lines(path) {
        v.line(&l)?;
    }
    v.finish()
}

#[test]
fn appends_continue_the_chain_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = path(dir.path());
    assert_eq!(head(&p).unwrap(), None);
    let a = append(&p, &[event(1), event(2)], true).unwrap();
    assert_eq!(a.after_damaged, None);
    let b = append(&p, &[event(3)], false).unwrap();
    sync(&p).unwrap();
    let h = verify(&p).unwrap().unwrap();
    assert_eq!(h.seq, 3);
    assert_eq!(b.head, Some(h));
    assert_eq!(head(&p).unwrap(), Some(h));
    assert_ne!(a.head, b.head);
    let first = String::from_utf8(lines(&p)[0].clone()).unwrap();
    assert_eq!(
        first,
        format!(
            "{{\"seq\":1,\"prev\":\"{}\",\"type\":\"warning\",\"t\":1,\"source\":\"/x\",\"message\":\"m1\"}}",
            "0".repeat(64)
        )
    );
    assert_eq!(append(&p, &[], true).unwrap(), Appended::default());
    assert_eq!(head(&p).unwrap(), Some(h));
}

#[test]
fn a_torn_or_damaged_last_line_is_kept_and_chained_after() {
    let dir = tempfile::tempdir().unwrap();
    let p = path(dir.path());
    append(&p, &[event(1), event(2)], true).unwrap();
    // A crash mid-line: half of a third line, no newline.
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .open(&p)
        .unwrap();
    f.write_all(b"{\"seq\":3,\"prev\":\"12").unwrap();
    let t = tail(&f).unwrap();
    assert!(t.unterminated);
    assert_eq!((t.next, t.damaged), (4, Some(3)));
    let a = append(&p, &[event(4)], true).unwrap();
    assert_eq!(a.after_damaged, Some(3));
    assert_eq!(a.head.unwrap().seq, 4);
    assert_eq!(
        verify(&p),
        Err(Broken {
            line: 3,
            defect: Defect::NoChain
        })
    );
    // Garbage with its newline: the same, and the next append is not damaged again.
    f.write_all(b"garbage\n").unwrap();
    let a = append(&p, &[event(6)], true).unwrap();
    assert_eq!(a.after_damaged, Some(5));
    assert_eq!(append(&p, &[event(7)], true).unwrap().after_damaged, None);
    let all = lines(&p);
    assert_eq!(all.len(), 7);
    // Past the damage the chain holds: seq is the line number, prev the link.
    let mut v = Verifier::new(None);
    v.line(&all[0]).unwrap();
    v.line(&all[1]).unwrap();
    for (i, l) in all.iter().enumerate().skip(5) {
        let f = journal::parse(l).unwrap();
        assert_eq!(f.seq, i as u64 + 1);
        assert_eq!(f.prev, journal::link(&all[i - 1]));
    }
}

#[test]
fn an_overlong_last_line_is_refused_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let p = path(dir.path());
    std::fs::write(&p, vec![b'x'; MAX_LINE + 10]).unwrap();
    let e = append(&p, &[event(1)], true).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert_eq!(std::fs::metadata(&p).unwrap().len(), MAX_LINE as u64 + 10);
    assert!(head(&p).is_err());
}

#[test]
fn concurrent_writers_keep_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let p = path(dir.path());
    std::thread::scope(|s| {
        for w in 0..4 {
            let p = &p;
            s.spawn(move || {
                for k in 0..50 {
                    append(
                        p,
                        &[event(w * 1000 + k), event(w * 1000 + k + 500)],
                        k % 10 == 0,
                    )
                    .unwrap();
                }
            });
        }
    });
    assert_eq!(verify(&p).unwrap().unwrap().seq, 400);
}
