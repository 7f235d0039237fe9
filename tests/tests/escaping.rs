#![cfg(target_os = "linux")]
//! Hostile names: every byte outside printable ASCII, and `\`, reaches stdout (JSON and
//! text) only as `\xNN`, and `,` also as `\x2c` in file_changes.log. Every run's stdout
//! is checked byte by byte (printable ASCII and newlines only) by the run helper; these
//! tests make sure hostile names actually appear in findings and in what form.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use homeostat_tests::expect::Spec;
use homeostat_tests::fixture::Fixture;
use homeostat_tests::fs::{chmod, overwrite_in_place, set_mtime};
use homeostat_tests::scenario::scenario;
use homeostat_tests::snapshot::stat_obj;
use homeostat_tests::text::{esc, esc_log};
use homeostat_tests::tree::t;

const HOSTILE: [&[u8]; 9] = [
    b"home/alice/new\xe9",
    b"home/alice/\x1b[2Jclear",
    b"home/alice/tab\there",
    b"home/alice/nl\nhere",
    b"home/alice/back\\slash2",
    b"home/alice/comma,here",
    b"home/alice/\x7fdel",
    b"home/alice/\xc3\xa9utf8",
    b"home/alice/-rf --no-preserve-root",
];

#[test]
fn escaping_helpers_follow_the_contract() {
    assert_eq!(esc(b"/a/caf\xe9"), "/a/caf\\xe9");
    assert_eq!(esc(b"a\\b\n\x7f \x1f~"), "a\\x5cb\\x0a\\x7f \\x1f~");
    assert_eq!(esc_log(b"a,b"), "a\\x2cb");
    assert_eq!(esc(b"a,b"), "a,b");
}

#[test]
fn hostile_new_names_are_escaped() {
    let fx = Fixture::new();
    let mut spec: Vec<(&[u8], Spec)> = HOSTILE.iter().map(|n| (*n, Spec::Added)).collect();
    spec.push((b"home/alice/hostile-link", Spec::Added));
    spec.push((b"home/alice/\xfe-link", Spec::Added));
    spec.push((t::ALICE, Spec::Dir { nlink: false }));
    let exp = scenario(
        &fx,
        |fx| {
            for n in HOSTILE {
                std::fs::write(fx.path(n), b"x").unwrap();
            }
            std::os::unix::fs::symlink(
                OsStr::from_bytes(b"\xff\n,x\\\x1b"),
                fx.path(b"home/alice/hostile-link"),
            )
            .unwrap();
            std::os::unix::fs::symlink(
                OsStr::from_bytes(b"caf\xe9"),
                fx.path(b"home/alice/\xfe-link"),
            )
            .unwrap();
        },
        &spec,
        &[],
    );
    // The forms, spelled out once by hand (the scenario compared them via esc()).
    let root = fx.tree_str().to_owned();
    for want in [
        "/home/alice/new\\xe9",
        "/home/alice/\\x1b[2Jclear",
        "/home/alice/tab\\x09here",
        "/home/alice/nl\\x0ahere",
        "/home/alice/back\\x5cslash2",
        "/home/alice/comma,here",
        "/home/alice/\\x7fdel",
        "/home/alice/\\xc3\\xa9utf8",
        "/home/alice/\\xfe-link",
    ] {
        assert!(
            exp.contains_key(&format!("{root}{want}")),
            "{want} not among {:?}",
            exp.keys()
        );
    }
    // The log has the comma escaped, so each line still has exactly five fields.
    let log = String::from_utf8(fx.log_bytes()).unwrap();
    assert!(
        log.contains(&format!("{root}/home/alice/comma\\x2chere,N,")),
        "log:\n{log}"
    );
}

#[test]
fn hostile_names_changed_in_place() {
    let fx = Fixture::new();
    scenario(
        &fx,
        |fx| {
            for rel in [t::ESCAPE, t::FFFE] {
                let p = fx.path(rel);
                let old = stat_obj(&p, None);
                let mut data = std::fs::read(&p).unwrap();
                data[0] ^= 0x04;
                overwrite_in_place(&p, &data);
                set_mtime(&p, old.mtime, false);
            }
            for rel in [
                t::NEWLINE,
                t::BACKSLASH,
                t::DASH,
                t::SPACE,
                t::COMMA,
                t::BADUTF,
            ] {
                chmod(&fx.path(rel), 0o604);
            }
        },
        &[
            (t::ESCAPE, Spec::Changed(&["ctime", "content"])),
            (t::FFFE, Spec::Changed(&["ctime", "content"])),
            (t::NEWLINE, Spec::Changed(&["mode", "ctime"])),
            (t::BACKSLASH, Spec::Changed(&["mode", "ctime"])),
            (t::DASH, Spec::Changed(&["mode", "ctime"])),
            (t::SPACE, Spec::Changed(&["mode", "ctime"])),
            (t::COMMA, Spec::Changed(&["mode", "ctime"])),
            (t::BADUTF, Spec::Changed(&["mode", "ctime"])),
        ],
        &[],
    );
}

/// init and check on the hostile tree print nothing raw in either mode (the run helper
/// asserts it on every run; this test makes the runs that print the most).
#[test]
fn init_and_first_check_output_is_printable() {
    let fx = Fixture::new();
    let text_init = fx.run(&["init"]);
    text_init.expect_code(0);
    std::fs::remove_file(fx.db()).unwrap();
    let js = fx.run(&["--json", "init"]);
    js.expect_code(0);
    // Remove the whole tree's contents except a few entries so check reports many
    // removals with hostile names.
    for rel in [
        t::CAFE,
        t::FFFE,
        t::BADUTF,
        t::ESCAPE,
        t::NEWLINE,
        t::BACKSLASH,
    ] {
        std::fs::remove_file(fx.path(rel)).unwrap();
    }
    let o = fx.run(&["check", "--no-update"]);
    o.expect_code(6);
    for rel in [
        t::CAFE,
        t::FFFE,
        t::BADUTF,
        t::ESCAPE,
        t::NEWLINE,
        t::BACKSLASH,
    ] {
        let want = format!("File {} no longer exists", esc(&fx.abs(rel)));
        assert!(o.lines().contains(&want), "no {want:?} in\n{}", o.text());
    }
    let o = fx.run(&["--json", "check"]);
    o.expect_code(6);
    let removed: Vec<String> = o
        .files()
        .iter()
        .filter(|e| e["change"] == "removed")
        .map(|e| e["path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(removed.len(), 6, "{}", o.stdout_str());
    // the raw JSON text holds the escape as a literal backslash (JSON "\\x"), never \u00XX
    let raw = o.stdout_str();
    assert!(
        !raw.contains("\\u00"),
        "JSON used \\u escapes instead of \\xNN: {raw}"
    );
    assert!(raw.contains("caf\\\\xe9"), "{raw}");
}
