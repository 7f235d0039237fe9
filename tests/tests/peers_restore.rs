#![cfg(target_os = "linux")]
//! `homeostat restore PATH… --from http://HOST:PORT`: a neighbour that holds the same
//! paths (here: a second host in its own mount namespace, its tree a bind mount of a
//! pristine copy) serves a file only while it matches its own database; this host writes
//! it only once it hashes to its own. The journal records the reversion.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use homeostat_tests::fixture::Fixture;
use homeostat_tests::fs::{chmod, set_mtime};
use homeostat_tests::json::of_type;
use homeostat_tests::run::{homeostat_bin, is_root};
use homeostat_tests::served::Served;

/// Host B: the same tree path, seen through a bind mount of `mirror`, its own state and
/// database (`init` inside the namespace), serving on 127.0.0.2.
fn neighbour(fx: &Fixture, mirror: &Path) -> Served {
    let state = fx.dir.path().join("state-b");
    let config = fx.dir.path().join("b.toml");
    let mut text = std::fs::read_to_string(&fx.config).expect("config");
    text.push_str("\n[peers]\nlisten = \"127.0.0.2:0\"\n");
    std::fs::write(&config, text).expect("config b");
    let bin = homeostat_bin();
    let script = r#"mount --bind "$1" "$2" && "$3" --config "$4" --state-dir "$5" init >/dev/null && exec "$3" --config "$4" --state-dir "$5" serve"#;
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        "sh",
    ])
    .arg(mirror)
    .arg(&fx.tree)
    .arg(bin)
    .arg(&config)
    .arg(&state);
    Served::start_with(cmd, "serve in a mount namespace")
}

fn copy_files(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("dirent");
        if e.file_type().expect("type").is_dir() {
            copy_files(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
        }
    }
}

#[test]
fn a_file_comes_back_from_a_neighbour_only_when_both_databases_vouch_for_it() {
    if !is_root() {
        eprintln!("skipped: needs root for a mount namespace");
        return;
    }
    let fx = Fixture::bare();
    std::fs::create_dir(fx.tree.join("etc")).expect("mkdir");
    let conf = fx.tree.join("etc/app.conf");
    let secret = fx.tree.join("etc/secret");
    std::fs::write(&conf, b"listen = 80\n").expect("write");
    std::fs::write(&secret, b"token = 1\n").expect("write");
    chmod(&conf, 0o640);
    set_mtime(&conf, (1_600_000_000, 5), false);
    fx.write_config("", "");
    fx.init().expect_code(0);
    let mirror = fx.dir.path().join("mirror");
    copy_files(&fx.tree, &mirror);
    let b = neighbour(&fx, &mirror);
    let from = format!("http://127.0.0.2:{}", b.port);

    // Tampered here; B still holds the recorded bytes.
    std::fs::write(&conf, b"listen = 6666\n").expect("tamper");
    chmod(&conf, 0o4755);
    let o = fx.run_os(vec![
        "--json".into(),
        "restore".into(),
        conf.clone().into_os_string(),
        "--from".into(),
        from.clone().into(),
    ]);
    o.expect_code(0);
    let e = &of_type(&o.json(), "restore")[0];
    assert_eq!(e["ok"], true, "{e}");
    assert_eq!(std::fs::read(&conf).expect("read"), b"listen = 80\n");
    let m = std::fs::metadata(&conf).expect("stat");
    assert_eq!(
        (m.mode() & 0o7777, m.mtime(), m.mtime_nsec()),
        (0o640, 1_600_000_000, 5)
    );
    let mut kept = conf.clone().into_os_string();
    kept.push(".cfbackup");
    assert_eq!(std::fs::read(&kept).expect("backup"), b"listen = 6666\n");
    let check = fx.run(&["--json", "check"]);
    check.expect_code(0);
    assert!(check.files().is_empty(), "{}", check.stdout_str());

    // B's copy changed after its baseline: B refuses it (404), so nothing is written here.
    std::fs::write(&secret, b"token = 2\n").expect("tamper");
    std::fs::write(mirror.join("etc/secret"), b"token = 3\n").expect("tamper b");
    let o = fx.run_os(vec![
        "--json".into(),
        "restore".into(),
        secret.clone().into_os_string(),
        "--from".into(),
        from.into(),
    ]);
    o.expect_code(1);
    let e = &of_type(&o.json(), "restore")[0];
    assert_eq!(e["ok"], false, "{e}");
    assert!(e["message"].as_str().unwrap_or("").contains("404"), "{e}");
    assert_eq!(std::fs::read(&secret).expect("read"), b"token = 2\n");
    let mut none = secret.clone().into_os_string();
    none.push(".cfbackup");
    assert!(
        !Path::new(&none).exists(),
        "no backup for a refused restore"
    );
    b.await_line(&format!("{}", secret.display()));

    // Both reversions are in the chained journal, which still verifies.
    let journal = std::fs::read(fx.state.join("journal.jsonl")).expect("journal");
    let restores = journal
        .split(|&c| c == b'\n')
        .filter(|l| l.windows(16).any(|w| w == b"\"type\":\"restore\""))
        .count();
    assert_eq!(restores, 2, "{}", String::from_utf8_lossy(&journal));
    fx.run(&["verify-journal"]).expect_code(0);
}
