#![cfg(target_os = "linux")]
//! A damaged database is refused: exit 17, a message naming the file, no findings at all,
//! and the damaged bytes left exactly as they were (check never overwrites a bad DB).
//!
//! Before damaging it, each test makes one real change (a chmod), so a check that
//! believed a damaged database would have something to report; at the end the intact
//! bytes are put back and the same check must report exactly that change.
//!
//! Layout used to pick positions (core/src/fim/db.rs): preamble `HMSTDB` + version u16 LE
//! (offset 6..8) + header length u32; header; frames; end byte; journal head of 41 bytes
//! (version 2: present flag 1, seq 8, SHA-256 32); trailer of 113 bytes (magic 8, count 8,
//! SHA-256 32, signed flag 1, signature 64).

use homeostat_tests::fixture::Fixture;
use homeostat_tests::fs::{chmod, tick};
use homeostat_tests::text::esc;
use homeostat_tests::tree::t;

const TRAILER_LEN: usize = 8 + 8 + 32 + 1 + 64;
const HEAD_LEN: usize = 1 + 8 + 32;
/// Bytes from the end marker on: end marker, journal head, trailer.
const TAIL_LEN: usize = 1 + HEAD_LEN + TRAILER_LEN;

struct Damaged {
    fx: Fixture,
    good: Vec<u8>,
}

impl Damaged {
    fn new() -> Damaged {
        let fx = Fixture::new();
        fx.init();
        let good = std::fs::read(fx.db()).unwrap();
        assert!(
            good.len() > 4 * TRAILER_LEN,
            "database suspiciously small: {} bytes",
            good.len()
        );
        assert_eq!(&good[..6], b"HMSTDB", "database magic");
        tick();
        chmod(&fx.path(t::PASSWD), 0o600);
        Damaged { fx, good }
    }

    /// Writes `bad`, runs check (JSON and, when `text`, text) and holds it to the contract.
    fn refuse(&self, what: &str, bad: &[u8], text: bool, stderr_word: Option<&str>) {
        let db = self.fx.db();
        std::fs::write(&db, bad).unwrap();
        let mut runs = vec![self.fx.run(&["--json", "check"])];
        if text {
            runs.push(self.fx.run(&["check"]));
        }
        for o in &runs {
            let err = o.stderr_str();
            assert_eq!(
                o.code,
                17,
                "{what}: `{}` exited {}, expected 17\nstdout:\n{}\nstderr:\n{err}",
                o.what,
                o.code,
                o.stdout_str()
            );
            assert!(
                err.contains(db.to_str().unwrap()),
                "{what}: stderr does not name {}: {err}",
                db.display()
            );
            if let Some(w) = stderr_word {
                assert!(
                    err.to_lowercase().contains(w),
                    "{what}: stderr does not say {w:?}: {err}"
                );
            }
            if o.what.contains("--json") {
                assert!(
                    o.files().is_empty(),
                    "{what}: findings from a damaged database:\n{}",
                    o.stdout_str()
                );
            } else {
                let out = o.text();
                for m in [
                    "New file found",
                    "no longer exists",
                    "ALERT",
                    "Permissions for",
                ] {
                    assert!(
                        !out.contains(m),
                        "{what}: text findings from a damaged database:\n{out}"
                    );
                }
            }
            assert_eq!(
                std::fs::read(&db).unwrap(),
                bad,
                "{what}: check rewrote the damaged database"
            );
        }
    }

    /// The intact database still works and reports exactly the one real change.
    fn control(&self) {
        std::fs::write(self.fx.db(), &self.good).unwrap();
        let o = self.fx.run(&["--json", "check", "--no-update"]);
        o.expect_code(4);
        let files = o.files();
        assert_eq!(files.len(), 1, "{}", o.stdout_str());
        assert_eq!(files[0]["path"], esc(&self.fx.abs(t::PASSWD)));
    }
}

#[test]
fn truncated_database_is_refused() {
    let d = Damaged::new();
    let l = d.good.len();
    let mut cuts = vec![
        0,
        3,
        6,
        8,
        11,
        12,
        20,
        l / 3,
        l / 2,
        l - TAIL_LEN,        // without the end marker, journal head and trailer
        l - TAIL_LEN + 1,    // without the journal head and trailer
        l - TRAILER_LEN - 9, // inside the journal head
        l - TRAILER_LEN,     // without the trailer
        l - TRAILER_LEN + 8, // trailer magic only
        l - 64,              // inside the signature area
        l - 1,
    ];
    cuts.sort_unstable();
    cuts.dedup();
    for (i, cut) in cuts.into_iter().enumerate() {
        d.refuse(
            &format!("truncated to {cut} of {l} bytes"),
            &d.good[..cut],
            i % 4 == 0,
            None,
        );
    }
    let mut longer = d.good.clone();
    longer.push(b'\n');
    d.refuse("one byte appended", &longer, false, None);
    d.control();
}

#[test]
fn bit_flipped_database_is_refused() {
    let d = Damaged::new();
    let l = d.good.len();
    let positions = [
        0,                    // magic
        5,                    // magic
        8,                    // header length
        10,                   // header length, high byte
        12,                   // first header byte
        20,                   // header
        l / 4,                // records
        l / 2,                // records
        3 * l / 4,            // records
        l - TAIL_LEN - 1,     // last record
        l - TAIL_LEN,         // end marker
        l - TAIL_LEN + 1,     // journal head: present flag
        l - TAIL_LEN + 2,     // journal head: seq
        l - TRAILER_LEN - 1,  // journal head: hash, last byte
        l - TRAILER_LEN,      // trailer magic
        l - TRAILER_LEN + 8,  // record count
        l - TRAILER_LEN + 16, // body digest
        l - TRAILER_LEN + 47, // body digest, last byte
        l - TRAILER_LEN + 48, // signed flag: "signed" without a signature or key
        l - TRAILER_LEN + 49, // signature area of an unsigned database
        l - 1,                // last byte
    ];
    for (i, pos) in positions.into_iter().enumerate() {
        let mut bad = d.good.clone();
        let bit = 1u8 << (i % 8);
        bad[pos] ^= bit;
        d.refuse(
            &format!("bit 0x{bit:02x} flipped at offset {pos} of {l}"),
            &bad,
            i % 5 == 0,
            None,
        );
    }
    d.control();
}

#[test]
fn other_version_database_is_refused() {
    let d = Damaged::new();
    let version = u16::from_le_bytes([d.good[6], d.good[7]]);
    for v in [
        0u16,
        version.wrapping_add(1),
        version.wrapping_add(256),
        0xffff,
    ] {
        let mut bad = d.good.clone();
        bad[6..8].copy_from_slice(&v.to_le_bytes());
        d.refuse(
            &format!("version {version} changed to {v}"),
            &bad,
            v == 0xffff,
            Some("version"),
        );
    }
    d.control();
}

/// A record edited in place (a name and a byte in the middle of the records) without
/// recomputing the trailer; and a file that is not a database at all.
#[test]
fn edited_or_foreign_database_is_refused() {
    let d = Damaged::new();
    let l = d.good.len();
    let mut edits: Vec<(String, usize, u8)> = Vec::new();
    for name in [&b"passwd.conf"[..], b"caf\xe9", b"big1.bin"] {
        match d.good.windows(name.len()).position(|w| w == name) {
            Some(pos) => edits.push((
                format!("name {} renamed in its record", esc(name)),
                pos,
                b'q',
            )),
            None => eprintln!(
                "note: {} not stored verbatim; editing mid-body instead",
                esc(name)
            ),
        }
    }
    edits.push((
        "byte in the middle of the records set to 0".to_owned(),
        l / 2,
        0,
    ));
    edits.push((
        "byte in the middle of the records set to 0xff".to_owned(),
        l / 2 + 1,
        0xff,
    ));
    for (what, pos, val) in edits {
        let mut bad = d.good.clone();
        if bad[pos] == val {
            bad[pos] = val.wrapping_add(1);
        } else {
            bad[pos] = val;
        }
        d.refuse(&what, &bad, true, None);
    }
    let mut foreign = homeostat_tests::content::rand_bytes(99, l);
    d.refuse("random bytes", &foreign, true, None);
    foreign[..6].copy_from_slice(b"HMSTDB");
    d.refuse("random bytes behind the magic", &foreign, false, None);
    d.refuse("a text file", b"not a database\n", false, None);
    d.control();
}
