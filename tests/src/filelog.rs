//! `file_changes.log`: parsing its lines and holding them to the expected findings.

use crate::expect::Expected;
use crate::fixture::Fixture;
use crate::fs::now_epoch;
use crate::snapshot::Delta;
use crate::text::{assert_printable, esc_log};

/// One parsed `file_changes.log` line.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub epoch: i64,
    pub handle: String,
    pub path: String,
    pub letter: String,
    pub message: String,
}

pub fn parse_log(bytes: &[u8]) -> Vec<LogLine> {
    let text = std::str::from_utf8(bytes)
        .unwrap_or_else(|e| panic!("file_changes.log is not ASCII/UTF-8: {e}"));
    assert_printable(bytes, "file_changes.log");
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.splitn(5, ',').collect();
            assert_eq!(f.len(), 5, "file_changes.log line without 5 fields: {l:?}");
            LogLine {
                epoch: f[0]
                    .parse()
                    .unwrap_or_else(|_| panic!("file_changes.log: bad epoch in {l:?}")),
                handle: f[1].to_owned(),
                path: f[2].to_owned(),
                letter: f[3].to_owned(),
                message: f[4].to_owned(),
            }
        })
        .collect()
}

/// The (path, letter) multiset the contract gives `exp`: N, R, one C for content, one S
/// per other changed attribute except ctime.
pub fn log_letters(exp: &Expected) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for (abs, delta) in exp.values() {
        let p = esc_log(abs);
        match delta {
            Delta::Added => v.push((p, "N".to_owned())),
            Delta::Removed => v.push((p, "R".to_owned())),
            Delta::Changed(attrs) => {
                for a in attrs {
                    match *a {
                        "ctime" => {}
                        "content" => v.push((p.clone(), "C".to_owned())),
                        _ => v.push((p.clone(), "S".to_owned())),
                    }
                }
            }
        }
    }
    v.sort();
    v
}

/// `lines` (the log lines appended by `times` checks that each reported `exp`) must be
/// exactly the contract's letters, `times` over, with sane epoch/handle/message fields.
pub fn verify_log(fx: &Fixture, lines: &[LogLine], exp: &Expected, times: usize, t0: i64) {
    let t1 = now_epoch();
    let mut want = Vec::new();
    for _ in 0..times {
        want.extend(log_letters(exp));
    }
    want.sort();
    let mut got: Vec<(String, String)> = lines
        .iter()
        .map(|l| (l.path.clone(), l.letter.clone()))
        .collect();
    got.sort();
    assert_eq!(
        got, want,
        "file_changes.log (path, letter) lines differ from the findings\nlog: {lines:#?}"
    );
    for l in lines {
        assert!(
            l.epoch >= t0 - 2 && l.epoch <= t1 + 2,
            "file_changes.log epoch {} not in [{t0}, {t1}]",
            l.epoch
        );
        assert_eq!(l.handle, fx.handle(), "file_changes.log handle");
        assert!(
            !l.message.trim().is_empty(),
            "file_changes.log line without a message: {l:?}"
        );
    }
}

/// The log lines added since `prev_len` bytes.
pub fn new_log_lines(fx: &Fixture, prev_len: usize) -> Vec<LogLine> {
    let b = fx.log_bytes();
    assert!(b.len() >= prev_len, "file_changes.log shrank");
    parse_log(&b[prev_len..])
        .into_iter()
        .filter(|l| !(l.message.contains("SETUID") || l.message.contains("SETGID")))
        .collect()
}
