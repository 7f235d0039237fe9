#![cfg(target_os = "linux")]
//! The journal end to end: every event but samples lands in `<state>/journal.jsonl`, one
//! line each, hash-chained across runs, its head signed in each database written; and
//! `verify-journal` exits 0 for an intact journal and 17 naming the first broken line
//! for a deleted, edited or cut one.
//!
//! The chain is checked here independently of the binary (SHA-256 from the `sha2` crate,
//! JSON from serde_json): `seq` is the line number, `prev` the hex SHA-256 of the
//! previous line's bytes, 64 zeros on the first, and both come first in the object.

use std::path::{Path, PathBuf};
use std::time::Duration;

use homeostat_tests::fixture::Fixture;
use homeostat_tests::fs::{chmod, overwrite_in_place, tick};
use homeostat_tests::procs::wait_for;
use homeostat_tests::run::{homeostat_bin, json_scan, run_cmd, Output};
use homeostat_tests::serde_json::{self, Value};
use homeostat_tests::tree::t;
use sha2::{Digest, Sha256};

fn journal_path(state: &Path) -> PathBuf {
    state.join("journal.jsonl")
}

/// The journal's lines, without their newlines; the file ends with a whole line.
fn lines(state: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(journal_path(state)).expect("read journal");
    assert_eq!(
        bytes.last(),
        Some(&b'\n'),
        "the journal ends with a newline"
    );
    bytes[..bytes.len() - 1]
        .split(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn write_lines(state: &Path, lines: &[Vec<u8>]) {
    let mut bytes = Vec::new();
    for l in lines {
        bytes.extend_from_slice(l);
        bytes.push(b'\n');
    }
    std::fs::write(journal_path(state), bytes).unwrap();
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Holds every line to the format and returns the events, `seq` and `prev` taken out.
fn chained_events(lines: &[Vec<u8>]) -> Vec<Value> {
    chained_from(lines, 1, "0".repeat(64))
}

/// [`chained_events`] of lines that start at line `first` after a line of link `prev`.
fn chained_from(lines: &[Vec<u8>], first: usize, mut prev: String) -> Vec<Value> {
    let mut events = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let seq = first + i;
        let text = std::str::from_utf8(l).expect("journal lines are UTF-8");
        let head = format!("{{\"seq\":{seq},\"prev\":\"{prev}\",\"type\":\"");
        assert!(
            text.starts_with(&head),
            "line {seq}: does not start with {head}: {text}"
        );
        let mut v: Value = serde_json::from_str(text).expect("a journal line is JSON");
        let obj = v.as_object_mut().unwrap();
        obj.remove("seq");
        obj.remove("prev");
        events.push(v);
        prev = sha256_hex(l);
    }
    events
}

/// The events a run printed that the journal keeps: all but samples.
fn journaled(o: &Output) -> Vec<Value> {
    o.json()
        .into_iter()
        .filter(|v| v["type"] != "sample" && v["type"] != "ports")
        .collect()
}

/// `verify-journal` in text and in JSON, which must agree; returns the JSON report.
fn verify(fx: &Fixture, code: i32) -> (String, Value) {
    let text = fx.run(&["verify-journal"]);
    text.expect_code(code);
    let lines = text.lines();
    assert_eq!(lines.len(), 1, "one line of result: {lines:?}");
    let o = fx.run(&["--json", "verify-journal"]);
    o.expect_code(code);
    let json = o.json();
    assert_eq!(json.len(), 1, "one JSON line: {json:?}");
    let report = json[0].clone();
    assert_eq!(report["type"], "journal");
    assert_eq!(report["ok"], code == 0);
    assert_eq!(report["message"], lines[0].as_str());
    (lines[0].clone(), report)
}

/// A fixture with a history: `init`, a `check` that accepts two changes (one a name with
/// a newline and an escape), an `update`, and a clean `check`. Returns it and the events
/// the runs printed, in order.
fn history() -> (Fixture, Vec<Value>) {
    let fx = Fixture::new();
    let mut printed = journaled(&fx.init());
    tick();
    chmod(&fx.path(t::PASSWD), 0o600);
    chmod(&fx.path(t::NEWLINE), 0o640);
    chmod(&fx.path(t::ESCAPE), 0o640);
    let o = fx.run(&["--json", "check"]);
    o.expect_code(4);
    printed.extend(journaled(&o));
    tick();
    overwrite_in_place(&fx.path(t::HOSTS), b"changed hosts\n");
    let o = fx.run(&["--json", "update"]);
    o.expect_code(0);
    printed.extend(journaled(&o));
    let o = fx.run(&["--json", "check"]);
    o.expect_code(0);
    printed.extend(journaled(&o));
    (fx, printed)
}

/// The 0-based index of the summary line of the `update` run: the database it wrote
/// signs the line before it (its findings were journaled first, its summary after).
fn update_summary(events: &[Value]) -> usize {
    events
        .iter()
        .position(|e| e["type"] == "summary" && e["command"] == "update")
        .expect("the update's summary is journaled")
}

#[test]
fn events_of_init_check_and_update_are_chained_across_runs() {
    let (fx, printed) = history();
    let lines = lines(&fx.state);
    let events = chained_events(&lines);
    // Exactly what the runs printed, in order, one line each: a name with a newline or
    // an escape in it does not make a line of its own.
    assert_eq!(events, printed);
    let files: Vec<&Value> = events.iter().filter(|e| e["type"] == "file").collect();
    assert_eq!(
        files.len(),
        4,
        "three chmods and one content change: {files:#?}"
    );
    assert!(
        events.iter().any(|e| e["type"] == "setid"),
        "init's set-id programs"
    );
    let summaries: Vec<&Value> = events.iter().filter(|e| e["type"] == "summary").collect();
    let commands: Vec<&str> = summaries
        .iter()
        .map(|s| s["command"].as_str().unwrap())
        .collect();
    assert_eq!(commands, ["init", "check", "update", "check"]);

    let (line, report) = verify(&fx, 0);
    let n = lines.len() as u64;
    assert_eq!(report["lines"], n);
    assert_eq!(report["broken"], Value::Null);
    assert_eq!(report["signed_seq"], update_summary(&events) as u64);
    assert_eq!(report["trust"], "digest", "no key configured");
    assert!(line.contains(&format!("intact, {n} lines")), "{line}");
}

#[test]
fn a_deleted_line_is_named() {
    let (fx, _) = history();
    let mut lines = lines(&fx.state);
    lines.remove(2);
    write_lines(&fx.state, &lines);
    let (line, report) = verify(&fx, 17);
    assert!(
        line.contains("journal.jsonl line 3: seq 4 where 3 belongs"),
        "{line}"
    );
    assert_eq!(report["broken"], 3);
}

#[test]
fn an_edited_line_is_named() {
    let (fx, _) = history();
    let good = lines(&fx.state);
    // init's summary: an intruder makes the baseline look bigger.
    let k = chained_events(&good)
        .iter()
        .position(|e| e["type"] == "summary" && e["command"] == "init")
        .unwrap();
    let mut forged = good.clone();
    let text = String::from_utf8(forged[k].clone()).unwrap();
    let entries = format!("\"entries\":{}", chained_events(&good)[k]["entries"]);
    assert!(text.contains(&entries), "{text}");
    forged[k] = text.replace(&entries, "\"entries\":99999").into_bytes();
    write_lines(&fx.state, &forged);
    let (line, report) = verify(&fx, 17);
    let n = k + 1;
    assert!(
        line.contains(&format!(
            "journal.jsonl line {n}: its SHA-256 is not the prev of the next line"
        )),
        "{line}"
    );
    assert_eq!(report["broken"], n);

    // The same edit with every prev after it recomputed: the chain holds, the signed head
    // does not.
    let mut rechained = forged.clone();
    for i in k + 1..rechained.len() {
        let prev = sha256_hex(&rechained[i - 1]);
        let text = String::from_utf8(rechained[i].clone()).unwrap();
        let at = text.find("\"prev\":\"").unwrap() + 8;
        rechained[i] = format!("{}{prev}{}", &text[..at], &text[at + 64..]).into_bytes();
    }
    chained_events(&rechained); // well-formed, chained
    write_lines(&fx.state, &rechained);
    let signed = update_summary(&chained_events(&good));
    let (line, report) = verify(&fx, 17);
    assert!(
        line.contains(&format!(
            "journal.jsonl line {signed}: its SHA-256 is not the one the database signed for it"
        )),
        "{line}"
    );
    assert_eq!(report["broken"], signed);
}

#[test]
fn a_journal_cut_below_the_signed_head_is_broken_at_the_first_missing_line() {
    let (fx, _) = history();
    let good = lines(&fx.state);
    let signed = update_summary(&chained_events(&good));
    // Cut above the head: what the database signs is all there.
    write_lines(&fx.state, &good[..signed]);
    let (_, report) = verify(&fx, 0);
    assert_eq!(report["lines"], signed);
    // Below it: the first missing line is named.
    write_lines(&fx.state, &good[..signed - 2]);
    let (line, report) = verify(&fx, 17);
    let first_missing = signed - 1;
    assert!(
        line.contains(&format!(
            "journal.jsonl line {first_missing}: missing: the database signs the journal up to line {signed}"
        )),
        "{line}"
    );
    assert_eq!(report["broken"], first_missing);
    // The journal gone altogether.
    std::fs::remove_file(journal_path(&fx.state)).unwrap();
    let (line, _) = verify(&fx, 17);
    assert!(line.contains("journal.jsonl line 1: missing"), "{line}");
}

#[test]
fn a_signed_head_is_vouched_for_by_the_key() {
    let fx = Fixture::new();
    let key = fx.dir.path().join("signing.key");
    let k = fx.run(&["keygen", "--out", key.to_str().unwrap()]);
    k.expect_code(0);
    let public = k
        .text()
        .lines()
        .find_map(|l| l.strip_prefix("public key: ").map(str::to_owned))
        .expect("keygen prints the public key");
    fx.write_config(
        &format!("[database]\nkey = {key:?}\npublic_key = \"{public}\"\n"),
        "",
    );
    fx.init();
    tick();
    chmod(&fx.path(t::PASSWD), 0o600);
    fx.run(&["--json", "check"]).expect_code(4);
    let n = lines(&fx.state).len() as u64;
    let (line, report) = verify(&fx, 0);
    assert_eq!(report["trust"], "signature");
    // The check's database signs every line but its summary.
    assert_eq!(report["signed_seq"], n - 1);
    assert!(line.contains("signature verified"), "{line}");

    // An intruder cuts the journal and writes the database's head to match, recomputing
    // its digest: without the secret key the signature gives it away.
    let db = std::fs::read(fx.db()).unwrap();
    let l = db.len();
    let (trailer, head) = (113, 41);
    let mut forged = db.clone();
    let at = l - trailer - head;
    forged[at + 1..at + 9].copy_from_slice(&1u64.to_le_bytes());
    let first = lines(&fx.state)[0].clone();
    forged[at + 9..at + 41].copy_from_slice(&Sha256::digest(&first));
    let digest = Sha256::digest(&forged[..l - trailer]);
    forged[l - trailer + 16..l - trailer + 48].copy_from_slice(&digest);
    std::fs::write(fx.db(), &forged).unwrap();
    write_lines(&fx.state, &lines(&fx.state)[..1]);
    let o = fx.run(&["verify-journal"]);
    o.expect_code(17);
    let err = o.stderr_str();
    assert!(
        err.contains("files.db") && err.contains("signature"),
        "{err}"
    );
    assert!(
        o.stdout.is_empty(),
        "no verdict on the journal from a forged database"
    );
}

/// A `[monitor]` section makes `scan` sample: its samples and the per-sample ports listing
/// stay out of the journal, its other events (classes, summary) go in; `replay` (samples
/// only) writes no journal line.
#[test]
fn samples_are_not_journaled() {
    let dir = homeostat_tests::tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let config = "[monitor]\ninterval = \"150s\"\n";
    let mut printed = Vec::new();
    let mut samples = 0;
    for _ in 0..2 {
        let o = json_scan(dir.path(), config);
        samples += o.json().iter().filter(|v| v["type"] == "sample").count();
        printed.extend(journaled(&o));
    }
    assert!(samples > 0, "scan with [monitor] samples");
    let events = chained_events(&lines(&state));
    assert_eq!(events, printed);
    for e in &events {
        assert!(e["type"] != "sample" && e["type"] != "ports", "{e}");
    }
    assert!(events.iter().any(|e| e["type"] == "classes"));

    let before = std::fs::read(journal_path(&state)).unwrap();
    let csv = dir.path().join("replay.csv");
    std::fs::write(&csv, "1704067200,users,1\n1704067350,users,2\n").unwrap();
    let args: Vec<std::ffi::OsString> = vec![
        "--config".into(),
        dir.path().join("homeostat.toml").into(),
        "--state-dir".into(),
        state.clone().into(),
        "--json".into(),
        "replay".into(),
        csv.into(),
    ];
    let o = run_cmd(homeostat_bin(), &args, &[]);
    o.expect_code(0);
    assert!(
        o.json().iter().any(|v| v["type"] == "sample"),
        "replay samples"
    );
    assert_eq!(std::fs::read(journal_path(&state)).unwrap(), before);
}

/// The daemon's rounds in the journal so far: its `classes` lines (a `check` has none).
fn daemon_rounds(state: &Path) -> usize {
    let Ok(bytes) = std::fs::read(journal_path(state)) else {
        return 0;
    };
    let classes = b"\"type\":\"classes\"";
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| l.windows(classes.len()).any(|w| w == classes))
        .count()
}

/// A `run` daemon checking the files every second and `check`s run beside it append to
/// one journal: under the lock every line continues the chain, whoever wrote the last.
#[test]
#[allow(unsafe_code)]
fn a_daemon_and_checks_at_once_keep_one_chain() {
    let fx = Fixture::new();
    fx.write_config(
        "[monitor]\ninterval = \"1s\"\nfiles_interval = \"1s\"\n",
        "",
    );
    fx.init();
    let mut daemon = fx.spawn(&["run"]);
    let started = wait_for(Duration::from_secs(20), Duration::from_millis(50), || {
        (daemon_rounds(&fx.state) >= 1).then_some(())
    });
    let checks = 6;
    if started.is_some() {
        for i in 0..checks {
            tick();
            chmod(&fx.path(t::PASSWD), if i % 2 == 0 { 0o600 } else { 0o644 });
            let o = fx.run(&["--json", "check"]);
            assert!(
                o.code == 0 || o.code == 4,
                "check beside the daemon exited {}: {}",
                o.code,
                o.stderr_str()
            );
        }
        let rounds = daemon_rounds(&fx.state);
        wait_for(Duration::from_secs(20), Duration::from_millis(50), || {
            (daemon_rounds(&fx.state) >= rounds + 2).then_some(())
        });
    }
    let pid = libc::pid_t::try_from(daemon.id()).unwrap();
    // SAFETY: a signal to our own child, which has not been waited for yet.
    let r = unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(r, 0, "kill: {}", std::io::Error::last_os_error());
    let status = wait_for(Duration::from_secs(20), Duration::from_millis(50), || {
        daemon.try_wait().unwrap()
    })
    .expect("homeostat run did not stop within 20 s of SIGTERM");
    assert!(status.success(), "homeostat run ended with {status}");
    assert!(
        started.is_some(),
        "the daemon journaled no round within 20 s"
    );

    let events = chained_events(&lines(&fx.state));
    let summaries = events
        .iter()
        .filter(|e| e["type"] == "summary" && e["command"] == "check")
        .count();
    assert_eq!(summaries, checks);
    assert!(daemon_rounds(&fx.state) >= 3);
    assert!(events
        .iter()
        .all(|e| e["type"] != "sample" && e["type"] != "ports"));
    verify(&fx, 0);
}

/// A crash mid-line leaves a torn last line: the next run loses none of its events, says
/// so on stderr, and `verify-journal` names the torn line.
#[test]
fn a_torn_last_line_is_named_and_later_events_kept() {
    let fx = Fixture::new();
    fx.init();
    let good = lines(&fx.state);
    let torn = good.len() + 1;
    let mut bytes = std::fs::read(journal_path(&fx.state)).unwrap();
    bytes.extend_from_slice(&good[0][..40]);
    std::fs::write(journal_path(&fx.state), bytes).unwrap();
    tick();
    chmod(&fx.path(t::PASSWD), 0o600);
    let o = fx.run(&["--json", "check"]);
    o.expect_code(4);
    let err = o.stderr_str();
    assert!(
        err.contains(&format!("journal.jsonl line {torn} is damaged")),
        "{err}"
    );
    let after = lines(&fx.state);
    assert_eq!(after.len(), torn + journaled(&o).len());
    // Chained after the torn line: seq its number + 1, prev its bytes' SHA-256.
    let events = chained_from(&after[torn..], torn + 1, sha256_hex(&after[torn - 1]));
    assert_eq!(events, journaled(&o));
    let (line, report) = verify(&fx, 17);
    assert!(
        line.contains(&format!("journal.jsonl line {torn}: not a journal line")),
        "{line}"
    );
    assert_eq!(report["broken"], torn);
}
