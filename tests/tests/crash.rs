#![cfg(target_os = "linux")]
//! kill -9 during init and update of a big tree: the previous database survives intact
//! (or, if the run got as far as its rename, the new one is complete); a following check
//! never exits 17 and reports only real changes; a later write clears stale temp files;
//! a killed first init leaves no database or a complete one.

use std::time::{Duration, Instant};

use homeostat_tests::fixture::Fixture;
use homeostat_tests::fs::{chmod, tick};
use homeostat_tests::text::esc;

const DIRS: usize = 30;
const FILES_PER_DIR: usize = 100;

/// The big file starts at this size and grows (up to [`MAX_BIG_MIB`]) until one init
/// takes about [`TARGET`]: long enough for a kill at a fraction of it to land while the
/// binary works, short enough for the test to stay within seconds with a debug binary
/// (about 25 MB/s of SHA-256) as with a release one. `HOMEOSTAT_TEST_BIG_MIB` fixes it.
const START_BIG_MIB: usize = 8;
const MAX_BIG_MIB: usize = 200;
const TARGET: Duration = Duration::from_millis(700);

fn build_small_files(fx: &Fixture) {
    for d in 0..DIRS {
        let dir = fx.tree.join(format!("d{d:02}"));
        std::fs::create_dir(&dir).unwrap();
        for f in 0..FILES_PER_DIR {
            let seed = (d * FILES_PER_DIR + f) as u64;
            let len = 256 + (seed as usize * 997) % 3840;
            std::fs::write(
                dir.join(format!("f{f:03}.txt")),
                homeostat_tests::content::text_bytes(seed, len),
            )
            .unwrap();
        }
    }
}

/// Writes (or extends) `big.bin` to `mib` MiB of real, non-sparse data: a 1 MiB random
/// block, each copy stamped with its index.
fn grow_big_file(fx: &Fixture, from_mib: usize, mib: usize) {
    let mut block = homeostat_tests::content::rand_bytes(7, 1 << 20);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(fx.tree.join("big.bin"))
        .unwrap();
    for i in from_mib..mib {
        block[..8].copy_from_slice(&(i as u64).to_le_bytes());
        std::io::Write::write_all(&mut f, &block).unwrap();
    }
    f.sync_all().unwrap();
}

/// Builds the tree and baselines it; returns how long the last init took.
fn build_and_init(fx: &Fixture) -> Duration {
    build_small_files(fx);
    fx.write_config("", "");
    let fixed: Option<usize> = std::env::var("HOMEOSTAT_TEST_BIG_MIB")
        .ok()
        .and_then(|v| v.parse().ok());
    let mut mib = fixed.unwrap_or(START_BIG_MIB);
    grow_big_file(fx, 0, mib);
    loop {
        let start = Instant::now();
        fx.init();
        let d = start.elapsed();
        eprintln!(
            "init of {} files + {mib} MiB took {d:?}",
            DIRS * FILES_PER_DIR
        );
        if fixed.is_some() || d >= TARGET / 2 || mib >= MAX_BIG_MIB {
            return d;
        }
        let next = ((mib as f64) * TARGET.as_secs_f64() / d.as_secs_f64().max(0.01)) as usize;
        let next = next.clamp(mib * 2, MAX_BIG_MIB);
        grow_big_file(fx, mib, next);
        mib = next;
    }
}

/// Sizes of temporary files beside files.db (`files.db.tmp.<pid>` or similar).
fn tmp_sizes(fx: &Fixture) -> Vec<u64> {
    let Ok(rd) = std::fs::read_dir(&fx.state) else {
        return Vec::new();
    };
    rd.filter_map(Result::ok)
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.starts_with("files.db.") || (n.starts_with("files.db") && n.ends_with(".tmp"))
        })
        .filter_map(|e| e.metadata().ok().map(|m| m.len()))
        .collect()
}

fn stale_tmp_files(fx: &Fixture) -> Vec<String> {
    std::fs::read_dir(&fx.state)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("files.db.") || n.ends_with(".tmp"))
        .collect()
}

#[test]
fn kill_9_during_init_and_update_keeps_a_valid_database() {
    let fx = Fixture::bare();
    let d = build_and_init(&fx);
    let victim = fx.tree.join("d07/f042.txt");
    let victim_esc = esc(victim.as_os_str().as_encoded_bytes());
    let good = std::fs::read(fx.db()).unwrap();

    tick();
    chmod(&victim, 0o600);

    // Kill points: fractions of init's measured time, and "mid-write": as soon as a
    // temporary database file beside files.db has reached half the old database's size
    // (so the run is writing its new database and has not renamed it yet).
    let mut landed = 0;
    let mut mid_write_seen = false;
    for (cmd, when) in [
        ("init", Some(0.5)),
        ("update", Some(0.3)),
        ("update", None),
        ("update", Some(0.85)),
    ] {
        let mut child = fx.spawn(&[cmd]);
        let mut mid_write = false;
        match when {
            Some(frac) => std::thread::sleep(d.mul_f64(frac)),
            None => {
                let deadline = Instant::now() + d * 4;
                while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
                    if tmp_sizes(&fx)
                        .into_iter()
                        .any(|n| n as usize >= good.len() / 2)
                    {
                        mid_write = true;
                        break;
                    }
                    std::thread::sleep(Duration::from_micros(300));
                }
            }
        }
        let running = child.try_wait().unwrap().is_none();
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        if running {
            landed += 1;
        }
        let mid_write = mid_write && running;
        mid_write_seen |= mid_write;
        let now = std::fs::read(fx.db())
            .unwrap_or_else(|e| panic!("after killing {cmd}: files.db is gone: {e}"));
        let what = format!(
            "after kill -9 of `{cmd}` {} ({status}, {})",
            match when {
                Some(frac) => format!("at {:.0}% of init time", frac * 100.0),
                None if mid_write => "while it wrote its temporary database".to_owned(),
                None => "(never saw it write a temporary database)".to_owned(),
            },
            if running {
                "killed while running"
            } else {
                "had already exited"
            }
        );
        eprintln!(
            "{what}: database {}",
            if now == good { "unchanged" } else { "replaced" }
        );
        if mid_write {
            assert_eq!(
                now, good,
                "{what}: files.db changed before the new one was complete"
            );
        }
        let o = fx.run(&["--json", "check", "--no-update"]);
        assert_ne!(
            o.code,
            17,
            "{what}: the database is unreadable: {}",
            o.stderr_str()
        );
        if now == good {
            // The old database: exactly the one real change.
            o.expect_code(4);
            let files = o.files();
            assert_eq!(files.len(), 1, "{what}: {}", o.stdout_str());
            assert_eq!(files[0]["path"], victim_esc.as_str(), "{what}");
            assert_eq!(
                files[0]["attrs"],
                serde_json::json!(["mode", "ctime"]),
                "{what}"
            );
        } else {
            // The run finished its rename before the kill: a complete new baseline.
            o.expect_code(0);
            assert!(o.files().is_empty(), "{what}: {}", o.stdout_str());
            break;
        }
    }
    assert!(
        landed >= 1,
        "test precondition: no kill landed while homeostat was running (tree too small for this \
         machine; raise HOMEOSTAT_TEST_BIG_MIB)"
    );
    if !mid_write_seen {
        eprintln!("note: no kill landed while a temporary database was being written");
    }

    // A complete update clears the killed runs' temp files.
    fx.run(&["update"]).expect_code(0);
    assert_eq!(
        stale_tmp_files(&fx),
        Vec::<String>::new(),
        "stale temp files after a successful update"
    );
    let o = fx.run(&["--json", "check", "--no-update"]);
    o.expect_code(0);
    assert!(o.files().is_empty(), "{}", o.stdout_str());

    // kill -9 of a first init (no database before): afterwards there is either no
    // files.db (check says so with 17) or a complete one (check exits 0), never a torn one.
    std::fs::remove_file(fx.db()).unwrap();
    let mut child = fx.spawn(&["init"]);
    std::thread::sleep(d.mul_f64(0.5));
    let running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    let o = fx.run(&["--json", "check", "--no-update"]);
    if fx.db().exists() {
        o.expect_code(0);
        assert!(o.files().is_empty(), "{}", o.stdout_str());
    } else {
        assert!(running, "init finished but wrote no database");
        o.expect_code(17);
    }
}
