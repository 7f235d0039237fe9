#![cfg(target_os = "linux")]
//! A clean baseline stays clean; config errors; `scan` end to end; other hash algorithms.

use homeostat_tests::fixture::Fixture;
use homeostat_tests::fs::{chmod, overwrite_in_place, set_mtime, tick};
use homeostat_tests::json::assert_summary_last;
use homeostat_tests::snapshot::stat_obj;
use homeostat_tests::text::esc;
use homeostat_tests::tree::t;

/// init then check on the untouched hostile tree: exit 0 and no findings, in JSON and
/// text, with and without --no-update, twice; file_changes.log never written. init says
/// the root-owned set-id files (CFEngine's first-run behaviour) and check does not.
#[test]
fn init_then_check_is_clean() {
    let fx = Fixture::new();
    let init = fx.init();
    let before = fx.baseline();

    // init: the set-id call-outs of the baseline, nothing for anything else.
    let mut setid: Vec<(String, String, String)> = init
        .setids()
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap_or("").to_owned(),
                e["bit"].as_str().unwrap_or("").to_owned(),
                e["mode"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    setid.sort();
    if fx.info.as_root {
        let mut want = vec![
            (
                esc(&fx.abs(t::SGID)),
                "setgid".to_owned(),
                "2755".to_owned(),
            ),
            (
                esc(&fx.abs(t::SUID)),
                "setuid".to_owned(),
                "4755".to_owned(),
            ),
        ];
        want.sort();
        assert_eq!(setid, want, "init's setid events");
        for e in init.setids() {
            assert_eq!(e["uid"], 0, "setid uid: {e}");
        }
    } else {
        eprintln!("not root: no root-owned set-id files, so init must say none");
        assert!(
            setid.is_empty(),
            "setid events for files not owned by root: {setid:?}"
        );
    }
    assert!(
        fx.log_bytes().is_empty(),
        "init wrote file_changes.log lines"
    );
    assert!(fx.db().is_file(), "init wrote no {}", fx.db().display());

    for args in [
        &["--json", "check"][..],
        &["--json", "check", "--no-update"][..],
        &["--json", "check"][..],
    ] {
        let o = fx.run(args);
        o.expect_code(0);
        assert!(
            o.files().is_empty(),
            "`{}` reported files:\n{}",
            o.what,
            o.stdout_str()
        );
        assert!(
            o.setids().is_empty(),
            "`{}` repeated setid:\n{}",
            o.what,
            o.stdout_str()
        );
        assert_summary_last(&o);
    }
    for args in [&["check"][..], &["check", "--no-update"][..]] {
        let o = fx.run(args);
        o.expect_code(0);
        let text = o.text();
        for marker in [
            "New file found",
            "no longer exists",
            "ALERT",
            "Permissions for",
            "NEW SETUID",
            "NEW SETGID",
        ] {
            assert!(
                !text.contains(marker),
                "`{}` printed {marker:?}:\n{text}",
                o.what
            );
        }
        // No line names any entry below the root (a summary may name the root itself).
        for abs in before.keys().filter(|p| p.len() > fx.abs(b"").len()) {
            let p = esc(abs);
            assert!(
                !text
                    .lines()
                    .any(|l| l.ends_with(&p) || l.contains(&format!("{p} "))),
                "`{}` names {p}:\n{text}",
                o.what
            );
        }
    }
    assert!(
        fx.log_bytes().is_empty(),
        "a clean check wrote file_changes.log lines"
    );

    // The binary must not have touched the tree (atime aside).
    let after = fx.snapshot(Some(&before));
    assert_eq!(
        homeostat_tests::snapshot::diff(&before, &after),
        Default::default(),
        "homeostat modified the tree"
    );
}

#[test]
fn check_without_database_exits_17() {
    let fx = Fixture::new();
    let o = fx.run(&["--json", "check"]);
    o.expect_code(17);
    assert!(
        o.files().is_empty(),
        "findings without a database: {}",
        o.stdout_str()
    );
    let db = fx.db();
    assert!(
        o.stderr_str().contains(db.to_str().unwrap()),
        "stderr does not name {}: {}",
        db.display(),
        o.stderr_str()
    );
    assert!(!db.exists(), "check created a database");
}

#[test]
fn missing_config_exits_16() {
    let fx = Fixture::new();
    std::fs::remove_file(&fx.config).unwrap();
    for args in [&["check"][..], &["--json", "check"][..], &["init"][..]] {
        let o = fx.run(args);
        o.expect_code(16);
        assert!(
            o.stderr_str().contains(fx.config.to_str().unwrap()),
            "`{}`: stderr does not name the config: {}",
            o.what,
            o.stderr_str()
        );
        if o.what.contains("--json") {
            assert!(
                o.files().is_empty(),
                "`{}` reported files: {}",
                o.what,
                o.stdout_str()
            );
        }
    }
    assert!(!fx.db().exists(), "a database was written without a config");
}

#[test]
fn config_syntax_error_exits_16() {
    let fx = Fixture::new();
    fx.init();
    std::fs::write(
        &fx.config,
        format!(
            "[[files]]\npath = \"{}\"\nhash = \"sha256\nattrs = \"all\"\n",
            fx.tree_str()
        ),
    )
    .unwrap();
    let db_before = std::fs::read(fx.db()).unwrap();
    for args in [&["check"][..], &["--json", "check"][..]] {
        let o = fx.run(args);
        o.expect_code(16);
        assert!(
            o.stderr_str().contains(fx.config.to_str().unwrap()),
            "`{}`: stderr does not name the config: {}",
            o.what,
            o.stderr_str()
        );
    }
    assert_eq!(
        std::fs::read(fx.db()).unwrap(),
        db_before,
        "a bad config changed the database"
    );
}

#[test]
fn config_bad_values_exit_16() {
    let fx = Fixture::new();
    let root = fx.tree_str().to_owned();
    for body in [
        format!("[[files]]\npath = \"{root}\"\nhash = \"crc32\"\n"),
        format!("[[files]]\npath = \"{root}\"\nattrs = [\"mode\", \"colour\"]\n"),
        format!("[[files]]\npath = \"{root}\"\ndepth = \"deep\"\n"),
        "[[files]]\npath = 42\n".to_string(),
    ] {
        std::fs::write(&fx.config, &body).unwrap();
        let o = fx.run(&["check"]);
        o.expect_code(16);
        assert!(!o.stderr.is_empty(), "no message for bad config:\n{body}");
    }
}

/// `scan` with a config: the first run baselines the files (exit 0), the second reports
/// a chmod with the check bitmask (4) and the file event.
#[test]
fn scan_end_to_end() {
    let fx = Fixture::new();
    let first = fx.run(&["--json", "scan"]);
    first.expect_code(0);
    assert!(
        first
            .files()
            .iter()
            .all(|e| e["change"] != "changed" && e["change"] != "removed"),
        "first scan reported changes: {}",
        first.stdout_str()
    );
    assert!(fx.db().is_file(), "scan wrote no file database");
    tick();
    chmod(&fx.path(t::PASSWD), 0o600);
    let second = fx.run(&["--json", "scan"]);
    second.expect_code(4);
    let files = second.files();
    assert_eq!(files.len(), 1, "second scan: {}", second.stdout_str());
    assert_eq!(files[0]["path"], esc(&fx.abs(t::PASSWD)));
    assert_eq!(files[0]["change"], "changed");
    assert_eq!(files[0]["attrs"], serde_json::json!(["mode", "ctime"]));
    assert_eq!(files[0]["old"]["mode"], "0644");
    assert_eq!(files[0]["new"]["mode"], "0600");

    // text mode reports the same change
    tick();
    chmod(&fx.path(t::HOSTS), 0o600);
    let third = fx.run(&["scan"]);
    third.expect_code(4);
    let want = format!(
        "Permissions for {} changed 0644 -> 0600",
        esc(&fx.abs(t::HOSTS))
    );
    assert!(
        third.lines().contains(&want),
        "scan text lacks {want:?}:\n{}",
        third.text()
    );
}

/// `hash = sha512|blake3|sha1|md5|best`: the content value carries the tree's algorithm
/// and its digest length; the text alert names it.
#[test]
fn other_hash_algorithms() {
    for (alg, prefix, hex_len) in [
        ("sha512", "sha512", 128),
        ("blake3", "blake3", 64),
        ("sha1", "sha1", 40),
        ("md5", "md5", 32),
        ("best", "sha256", 64),
    ] {
        let fx = Fixture::bare();
        std::fs::write(fx.path(b"f"), b"original content").unwrap();
        let root = fx.tree_str().to_owned();
        std::fs::write(
            &fx.config,
            format!("[[files]]\npath = \"{root}\"\nhash = \"{alg}\"\nattrs = \"all\"\ndepth = \"inf\"\n"),
        )
        .unwrap();
        fx.init();
        tick();
        let p = fx.path(b"f");
        let old = stat_obj(&p, None);
        overwrite_in_place(&p, b"Original content");
        set_mtime(&p, old.mtime, false);
        let text = fx.run(&["check", "--no-update"]);
        text.expect_code(4);
        let want = format!("ALERT: Hash ({prefix}) for {} changed!", esc(&fx.abs(b"f")));
        assert!(
            text.lines().contains(&want),
            "{alg}: no {want:?} in\n{}",
            text.text()
        );
        let js = fx.run(&["--json", "check"]);
        js.expect_code(4);
        let files = js.files();
        assert_eq!(files.len(), 1, "{alg}: {}", js.stdout_str());
        assert_eq!(
            files[0]["attrs"],
            serde_json::json!(["ctime", "content"]),
            "{alg}"
        );
        for side in ["old", "new"] {
            let v = files[0][side]["content"]
                .as_str()
                .unwrap_or_else(|| panic!("{alg}: {}", files[0]));
            let hex = v
                .strip_prefix(&format!("{prefix}:"))
                .unwrap_or_else(|| panic!("{alg}: {v}"));
            assert_eq!(hex.len(), hex_len, "{alg}: {v}");
            assert!(
                hex.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{alg}: {v}"
            );
        }
        assert_ne!(files[0]["old"]["content"], files[0]["new"]["content"]);
        if alg == "best" {
            let want = format!(
                "sha256:{}",
                homeostat_tests::content::sha256_hex(b"Original content")
            );
            assert_eq!(files[0]["new"]["content"], want.as_str());
        }
    }
}

/// depth = 1 records the root and its entries only: a change two levels down is not
/// seen, a change one level down is.
#[test]
fn depth_limits_the_walk() {
    let fx = Fixture::new();
    let root = fx.tree_str().to_owned();
    std::fs::write(
        &fx.config,
        format!("[[files]]\npath = \"{root}\"\nhash = \"sha256\"\nattrs = \"all\"\ndepth = 1\n"),
    )
    .unwrap();
    fx.init();
    tick();
    chmod(&fx.path(t::HOSTS), 0o600); // depth 2: not recorded
    let o = fx.run(&["--json", "check", "--no-update"]);
    o.expect_code(0);
    assert!(
        o.files().is_empty(),
        "depth 1 saw a depth-2 change: {}",
        o.stdout_str()
    );
    chmod(&fx.path(t::ETC), 0o700); // depth 1: recorded
    let o = fx.run(&["--json", "check", "--no-update"]);
    o.expect_code(4);
    let files = o.files();
    assert_eq!(files.len(), 1, "{}", o.stdout_str());
    assert_eq!(files[0]["path"], esc(&fx.abs(t::ETC)));
    assert_eq!(files[0]["attrs"], serde_json::json!(["mode", "ctime"]));
}

/// A state directory that cannot be created is an I/O error (18), named on stderr.
#[test]
fn unusable_state_dir_exits_18() {
    let fx = Fixture::new();
    fx.init();
    let file = fx.dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let bad = file.join("state");
    let o = homeostat_tests::run::run_cmd(
        homeostat_tests::run::homeostat_bin(),
        &[
            "--config".into(),
            fx.config.clone().into(),
            "--state-dir".into(),
            bad.clone().into(),
            "check".into(),
        ],
        &[],
    );
    o.expect_code(18);
    assert!(
        o.stderr_str().contains(bad.to_str().unwrap()),
        "stderr does not name {}: {}",
        bad.display(),
        o.stderr_str()
    );
}

/// The tree builder makes what the other tests rely on, the same way every time.
#[test]
fn tree_builder_is_hostile_and_deterministic() {
    let a = Fixture::new();
    let b = Fixture::new();
    let (sa, sb) = (a.baseline(), b.baseline());
    let strip = |fx: &Fixture, s: &homeostat_tests::snapshot::Snapshot| {
        let root = fx.abs(b"").len();
        s.iter()
            .map(|(p, o)| {
                let o = o.clone();
                // inode and ctime depend on the run; everything else must not
                (
                    p[root..].to_vec(),
                    (
                        o.kind, o.mode, o.uid, o.gid, o.size, o.mtime, o.nlink, o.target, o.xattrs,
                        o.content,
                    ),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&a, &sa), strip(&b, &sb), "two builds differ");

    let get = |rel: &[u8]| {
        sa.get(&a.abs(rel))
            .unwrap_or_else(|| panic!("{} missing", esc(rel)))
            .clone()
    };
    assert_eq!(get(t::FIFO).kind, "fifo");
    assert_eq!(get(t::DANGLING).kind, "symlink");
    assert!(!a.path(t::DANGLING).exists(), "dangling link resolves");
    assert_eq!(get(t::TO_DIR).kind, "symlink");
    assert!(a.path(t::TO_DIR).is_dir(), "link to a directory");
    assert_eq!(get(t::HARD_A).inode, get(t::HARD_B).inode);
    assert_eq!(get(t::HARD_A).nlink, 2);
    for rel in [
        t::CAFE,
        t::FFFE,
        t::BADUTF,
        t::SPACE,
        t::DASH,
        t::ESCAPE,
        t::NEWLINE,
        t::BACKSLASH,
        t::CAFE_DIR_FILE,
        t::COMMA,
    ] {
        assert_eq!(get(rel).kind, "file", "{}", esc(rel));
    }
    assert!(
        get(t::BIG1).size >= 3 << 20 && get(t::BIG2).size > 1 << 20,
        "big files"
    );
    assert_eq!(get(t::EMPTY).size, 0);
    assert_eq!(get(t::SUID).mode, 0o4755);
    assert_eq!(get(t::SGID).mode, 0o2755);
    assert!(get(t::DEEP_FILE).size > 0);
    assert!(
        !sa.contains_key(&a.abs(t::SWP)) && !sa.contains_key(&a.abs(t::SKIP)),
        "oracle ignores excluded entries"
    );
    if a.info.as_root {
        assert_eq!((get(t::ORPHAN).uid, get(t::ORPHAN).gid), (4242, 4242));
        assert_eq!(get(t::SUID).uid, 0);
        assert_eq!(get(t::SGID).gid, 42);
    } else {
        eprintln!("not root: ownership checks skipped");
    }
    if a.info.xattrs {
        assert!(get(t::WITH_XATTR).xattrs.is_some());
    }
    assert_eq!(get(t::SECRET).mode, 0o600);
}
