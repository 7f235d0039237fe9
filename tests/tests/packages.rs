#![cfg(target_os = "linux")]
//! Package-aware file integrity against a dpkg root of the test's own: packages built with
//! `dpkg-deb`, installed, upgraded and purged with `dpkg --root`; an upgrade is told from
//! tampering, and `accept = "verified"` takes only what it verified.

use std::fs;
use std::path::PathBuf;

use homeostat_tests::dpkg::{DpkgRoot, PkgFile};
use homeostat_tests::run::Output;
use homeostat_tests::serde_json::Value;

const BIN: &str = "usr/bin/alpha";
const DATA: &str = "usr/share/alpha/data";
const CONF: &str = "etc/alpha.conf";
const BETA: &str = "usr/bin/beta";

/// alpha VERSION: a program, a data file and a conffile whose contents name the version.
fn alpha(d: &DpkgRoot, version: &str) -> PathBuf {
    let bin = format!("#!/bin/sh\necho alpha {version}\n");
    let data = format!("data {version}\n");
    let conf = format!("setting = {version}\n");
    d.build(
        "alpha",
        version,
        &[
            PkgFile {
                path: BIN,
                content: bin.as_bytes(),
                conffile: false,
            },
            PkgFile {
                path: DATA,
                content: data.as_bytes(),
                conffile: false,
            },
            PkgFile {
                path: CONF,
                content: conf.as_bytes(),
                conffile: true,
            },
        ],
    )
}

fn beta(d: &DpkgRoot) -> PathBuf {
    d.build(
        "beta",
        "1.0",
        &[PkgFile {
            path: BETA,
            content: b"#!/bin/sh\necho beta\n",
            conffile: false,
        }],
    )
}

/// alpha 1.0 and beta installed; alpha 2.0 built. Returns alpha 2.0's archive.
fn installed(d: &DpkgRoot) -> PathBuf {
    d.install(&alpha(d, "1.0"));
    d.install(&beta(d));
    alpha(d, "2.0")
}

/// The `file` event of the root's path `rel`.
fn event(o: &Output, d: &DpkgRoot, rel: &str) -> Option<Value> {
    let want = d.root(rel).display().to_string();
    o.files().into_iter().find(|e| e["path"] == want.as_str())
}

fn package(o: &Output, d: &DpkgRoot, rel: &str) -> Value {
    let e = event(o, d, rel).unwrap_or_else(|| panic!("no event for {rel}: {}", o.stdout_str()));
    e["package"].clone()
}

fn pkg(name: &str, from: Option<&str>, to: Option<&str>, verified: &str, cause: &str) -> Value {
    homeostat_tests::serde_json::json!({
        "name": name, "arch": "all", "from": from, "to": to,
        "verified": verified, "cause": cause,
    })
}

#[test]
fn an_upgrade_is_verified_against_the_deb_a_hand_edit_is_unexplained() {
    let d = DpkgRoot::new();
    let v2 = installed(&d);
    let cfg = d.config(false);
    d.run(&cfg, &["init"]).expect_code(0);
    d.cache(&v2, "alpha", "2.0");
    d.install(&v2);
    fs::write(d.root(BETA), "#!/bin/sh\necho owned\n").unwrap();
    fs::write(d.root("usr/bin/stray"), "not from a package\n").unwrap();

    let o = d.run(&cfg, &["--json", "check"]);
    o.expect_code(1 | 4);
    let up = pkg("alpha", Some("1.0"), Some("2.0"), "deb", "upgrade");
    assert_eq!(package(&o, &d, BIN), up);
    assert_eq!(package(&o, &d, DATA), up);
    assert_eq!(
        package(&o, &d, BETA),
        pkg("beta", None, Some("1.0"), "none", "unexplained")
    );
    let stray = event(&o, &d, "usr/bin/stray").expect("the unowned file is reported");
    assert!(stray.get("package").is_none(), "unowned: {stray}");
    assert!(o.files().iter().all(|e| e.get("accepted").is_none()));

    // The same in words, on a terminal.
    let t = d.run(&cfg, &["check"]);
    t.expect_code(1 | 4);
    let text = t.text();
    let want = format!(
        "{}: upgrade of alpha 1.0 -> 2.0, verified against the .deb",
        d.root(BIN).display()
    );
    assert!(text.contains(&want), "{text}");
    assert!(
        text.contains("owned by beta 1.0, no package transaction explains it"),
        "{text}"
    );
}

#[test]
fn without_the_deb_md5sums_verify_and_an_overwrite_after_the_upgrade_is_unexplained() {
    let d = DpkgRoot::new();
    let v2 = installed(&d);
    let cfg = d.config(false);
    d.run(&cfg, &["init"]).expect_code(0);
    d.install(&v2);
    fs::write(d.root(DATA), "data 2.0 with a backdoor\n").unwrap();

    let o = d.run(&cfg, &["--json", "check"]);
    o.expect_code(4);
    assert_eq!(
        package(&o, &d, BIN),
        pkg("alpha", Some("1.0"), Some("2.0"), "md5sums", "upgrade")
    );
    assert_eq!(
        package(&o, &d, DATA),
        pkg("alpha", Some("1.0"), Some("2.0"), "none", "unexplained")
    );
}

#[test]
fn an_edited_conffile_is_never_accepted() {
    let d = DpkgRoot::new();
    let v2 = installed(&d);
    let cfg = d.config(true);
    d.run(&cfg, &["init"]).expect_code(0);
    fs::write(d.root(CONF), "setting = mine\n").unwrap();
    d.cache(&v2, "alpha", "2.0");
    // --force-confold: dpkg keeps the admin's conffile through the upgrade.
    d.install(&v2);

    for _ in 0..2 {
        let o = d.run(&cfg, &["--json", "check"]);
        // Added: the package's new conffile, which dpkg set aside (`.dpkg-dist`, unowned).
        o.expect_code(1 | 4);
        let dist = event(&o, &d, "etc/alpha.conf.dpkg-dist").expect("the set-aside conffile");
        assert!(dist.get("package").is_none(), "{dist}");
        assert_eq!(
            package(&o, &d, CONF),
            pkg("alpha", Some("1.0"), Some("2.0"), "none", "unexplained")
        );
        assert!(event(&o, &d, CONF).unwrap().get("accepted").is_none());
    }
}

#[test]
fn a_purge_is_a_verified_remove() {
    let d = DpkgRoot::new();
    installed(&d);
    let cfg = d.config(false);
    d.run(&cfg, &["init"]).expect_code(0);
    d.purge("beta");

    let o = d.run(&cfg, &["--json", "check"]);
    o.expect_code(2 | 4);
    let e = event(&o, &d, BETA).expect("beta's program is reported");
    assert_eq!(e["change"], "removed");
    assert_eq!(
        e["package"],
        pkg("beta", Some("1.0"), None, "md5sums", "remove")
    );
}

#[test]
fn accept_verified_counts_only_what_it_did_not_accept() {
    let d = DpkgRoot::new();
    let v2 = installed(&d);
    let cfg = d.config(true);
    d.run(&cfg, &["init"]).expect_code(0);
    d.cache(&v2, "alpha", "2.0");
    d.install(&v2);
    fs::write(d.root(BETA), "#!/bin/sh\necho owned\n").unwrap();

    let first = d.run(&cfg, &["--json", "check"]);
    // Only beta's edit counts: alpha's upgrade is accepted.
    first.expect_code(4);
    for rel in [BIN, DATA] {
        let e = event(&first, &d, rel).unwrap();
        assert_eq!(e["accepted"], true, "{e}");
        assert_eq!(e["package"]["cause"], "upgrade");
    }
    assert!(event(&first, &d, BETA).unwrap().get("accepted").is_none());
    let summary = first.json().pop().unwrap();
    assert_eq!(
        (summary["accepted"].as_u64(), summary["changed"].as_u64()),
        (Some(first.files().len() as u64 - 1), Some(1))
    );

    // Accepted ones are not reported again; the rest is, until an update.
    let second = d.run(&cfg, &["--json", "check"]);
    second.expect_code(4);
    let paths: Vec<String> = second
        .files()
        .iter()
        .map(|e| e["path"].to_string())
        .collect();
    assert_eq!(
        paths,
        [format!("\"{}\"", d.root(BETA).display())],
        "{}",
        second.stdout_str()
    );
}

#[test]
fn damaged_status_and_log_lines_warn_by_file_and_line_and_findings_stay() {
    let d = DpkgRoot::new();
    installed(&d);
    let cfg = d.config(true);
    d.run(&cfg, &["init"]).expect_code(0);
    let status = d.admin().join("status");
    let mut text = fs::read_to_string(&status).unwrap();
    let line = text.lines().count() + 1;
    text.push_str("this is not a field\n");
    fs::write(&status, text).unwrap();
    let log_line = fs::read_to_string(d.log()).unwrap().lines().count() + 1;
    fs::OpenOptions::new()
        .append(true)
        .open(d.log())
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"2026-13-45 garbage\n"))
        .unwrap();
    fs::write(d.root(BETA), "#!/bin/sh\necho owned\n").unwrap();

    let o = d.run(&cfg, &["--json", "check"]);
    o.expect_code(4);
    let warnings = homeostat_tests::json::of_type(&o.json(), "warning");
    let has = |file: &PathBuf, line: usize| {
        warnings.iter().any(|w| {
            w["source"] == file.display().to_string().as_str()
                && w["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with(&format!("line {line}: ")))
        })
    };
    assert!(has(&status, line), "{warnings:?}");
    assert!(has(&d.log(), log_line), "{warnings:?}");
    assert_eq!(
        package(&o, &d, BETA),
        pkg("beta", None, Some("1.0"), "none", "unexplained")
    );
}
