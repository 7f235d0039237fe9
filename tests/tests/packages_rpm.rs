#![cfg(target_os = "linux")]
//! Package-aware file integrity against an rpm root of the test's own: packages built with
//! `rpmbuild`, installed, upgraded and erased with `rpm --root`; an upgrade is verified
//! against the header's SHA-256 digests, a hand edit is unexplained, an edited `%config`
//! file is never accepted, an erase is a removal.

use std::fs;
use std::path::PathBuf;

use homeostat_tests::rpm::{RpmFile, RpmRoot};
use homeostat_tests::run::Output;
use homeostat_tests::serde_json::Value;

const BIN: &str = "usr/bin/alpha";
const DATA: &str = "usr/share/alpha/data";
const CONF: &str = "etc/alpha.conf";
const BETA: &str = "usr/bin/beta";

/// alpha VERSION: a program, a data file and a `%config` file naming the version.
fn alpha(d: &RpmRoot, version: &str) -> PathBuf {
    let bin = format!("#!/bin/sh\necho alpha {version}\n");
    let data = format!("data {version}\n");
    let conf = format!("setting = {version}\n");
    d.build(
        "alpha",
        version,
        &[
            RpmFile {
                path: BIN,
                content: bin.as_bytes(),
                config: false,
            },
            RpmFile {
                path: DATA,
                content: data.as_bytes(),
                config: false,
            },
            RpmFile {
                path: CONF,
                content: conf.as_bytes(),
                config: true,
            },
        ],
    )
}

/// alpha 1.0 and beta installed; alpha 2.0 built. Returns alpha 2.0's package.
fn installed(d: &RpmRoot) -> PathBuf {
    d.install(&alpha(d, "1.0"));
    let beta = d.build(
        "beta",
        "1.0",
        &[RpmFile {
            path: BETA,
            content: b"#!/bin/sh\necho beta\n",
            config: false,
        }],
    );
    d.install(&beta);
    let v2 = alpha(d, "2.0");
    // The installs fall before the baseline's second: not in the first check's window.
    next_second();
    v2
}

fn event(o: &Output, d: &RpmRoot, rel: &str) -> Option<Value> {
    let want = d.root(rel).display().to_string();
    o.files().into_iter().find(|e| e["path"] == want.as_str())
}

fn package(o: &Output, d: &RpmRoot, rel: &str) -> Value {
    let e = event(o, d, rel).unwrap_or_else(|| panic!("no event for {rel}: {}", o.stdout_str()));
    e["package"].clone()
}

fn pkg(name: &str, from: Option<&str>, to: Option<&str>, verified: &str, cause: &str) -> Value {
    homeostat_tests::serde_json::json!({
        "name": name, "arch": "noarch", "from": from, "to": to,
        "verified": verified, "cause": cause,
    })
}

/// rpm's INSTALLTIME is in seconds: a transaction must fall after the baseline's second.
fn next_second() {
    std::thread::sleep(std::time::Duration::from_millis(1100));
}

#[test]
fn an_rpm_upgrade_is_verified_against_the_header_a_hand_edit_is_unexplained() {
    let d = RpmRoot::new();
    let v2 = installed(&d);
    let cfg = d.config(false);
    d.run(&cfg, &["init"]).expect_code(0);
    next_second();
    d.install(&v2);
    fs::write(d.root(BETA), "#!/bin/sh\necho owned\n").unwrap();
    fs::write(d.root("usr/bin/stray"), "not from a package\n").unwrap();

    let o = d.run(&cfg, &["--json", "check"]);
    o.expect_code(1 | 4);
    let up = pkg("alpha", Some("1.0-1"), Some("2.0-1"), "rpm", "upgrade");
    assert_eq!(package(&o, &d, BIN), up);
    assert_eq!(package(&o, &d, DATA), up);
    assert_eq!(
        package(&o, &d, BETA),
        pkg("beta", None, Some("1.0-1"), "none", "unexplained")
    );
    let stray = event(&o, &d, "usr/bin/stray").expect("the unowned file is reported");
    assert!(stray.get("package").is_none(), "unowned: {stray}");

    let t = d.run(&cfg, &["check"]);
    t.expect_code(1 | 4);
    let text = t.text();
    let want = format!(
        "{}: upgrade of alpha 1.0-1 -> 2.0-1, verified against the rpm header's digests",
        d.root(BIN).display()
    );
    assert!(text.contains(&want), "{text}");
}

#[test]
fn an_edited_rpm_config_file_is_never_accepted() {
    let d = RpmRoot::new();
    let v2 = installed(&d);
    let cfg = d.config(true);
    d.run(&cfg, &["init"]).expect_code(0);
    fs::write(d.root(CONF), "setting = mine\n").unwrap();
    next_second();
    // %config(noreplace): rpm keeps the admin's file and sets the new one aside.
    d.install(&v2);

    for first in [true, false] {
        let o = d.run(&cfg, &["--json", "check"]);
        o.expect_code(1 | 4);
        let new = event(&o, &d, "etc/alpha.conf.rpmnew").expect("the set-aside config file");
        assert!(new.get("package").is_none(), "{new}");
        assert_eq!(
            package(&o, &d, CONF),
            pkg("alpha", Some("1.0-1"), Some("2.0-1"), "none", "unexplained")
        );
        assert!(event(&o, &d, CONF).unwrap().get("accepted").is_none());
        // The rest of the upgrade is verified and accepted by the first check.
        match (first, event(&o, &d, BIN)) {
            (true, Some(e)) => assert_eq!(e["accepted"], true, "{e}"),
            (true, None) => panic!("no event for {BIN}: {}", o.stdout_str()),
            (false, e) => assert!(e.is_none(), "accepted, not reported again: {e:?}"),
        }
    }
}

#[test]
fn an_rpm_erase_is_a_verified_remove() {
    let d = RpmRoot::new();
    installed(&d);
    let cfg = d.config(false);
    d.run(&cfg, &["init"]).expect_code(0);
    d.erase("beta");

    let o = d.run(&cfg, &["--json", "check"]);
    o.expect_code(2 | 4);
    let e = event(&o, &d, BETA).expect("beta's program is reported");
    assert_eq!(e["change"], "removed");
    assert_eq!(
        e["package"],
        pkg("beta", Some("1.0-1"), None, "rpm", "remove")
    );
    let t = d.run(&cfg, &["check"]);
    t.expect_code(2 | 4);
    let text = t.text();
    assert!(
        text.contains("removal of beta 1.0-1, verified against the rpm database"),
        "{text}"
    );
}

#[test]
fn a_mode_or_content_the_header_does_not_give_is_unexplained_after_an_rpm_upgrade() {
    use std::os::unix::fs::PermissionsExt;
    let d = RpmRoot::new();
    let v2 = installed(&d);
    let cfg = d.config(true);
    d.run(&cfg, &["init"]).expect_code(0);
    d.install(&v2);
    // After the upgrade: a set-uid bit on the program, a backdoor in the data file.
    fs::set_permissions(d.root(BIN), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::write(d.root(DATA), "data 2.0 with a backdoor\n").unwrap();

    let o = d.run(&cfg, &["--json", "check"]);
    o.expect_code(4);
    let bad = pkg("alpha", Some("1.0-1"), Some("2.0-1"), "none", "unexplained");
    for rel in [BIN, DATA] {
        assert_eq!(package(&o, &d, rel), bad, "{rel}");
        assert!(event(&o, &d, rel).unwrap().get("accepted").is_none());
    }
    // The config file the upgrade replaced (unedited) is the header's: accepted.
    let conf = event(&o, &d, CONF).expect("the upgraded config file");
    assert_eq!(conf["accepted"], true, "{conf}");
    assert_eq!(conf["package"]["verified"], "rpm");
}
