//! A host agent that embeds homeostat's engine: it records a few files, learns how many
//! bytes they hold per five-minute slot over four simulated weeks, then a file changes and
//! grows. The engine reports which attributes changed and how unusual the new total is.
//!
//! `cargo run -p homeostat-core --example host_agent --features std`
use std::{fs, io, os::unix::fs::MetadataExt, path::Path};

use homeostat_core::digest::{digest, Algorithm};
use homeostat_core::fim::{compare, Attrs, Entry, Kind, Meta, Timestamp};
use homeostat_core::stats::{table, Learner, Report, Sample, DEFAULT_FORGET_RATE};

/// What the agent records of one file: the core's [`Entry`] with owned bytes.
fn record(path: &Path) -> io::Result<Entry<Vec<u8>>> {
    let md = fs::symlink_metadata(path)?;
    let mut meta = Meta::empty(Kind::from_mode(md.mode()).unwrap_or(Kind::File));
    meta.mode = md.mode() & 0o7777;
    (meta.uid, meta.gid, meta.size) = (md.uid(), md.gid(), md.size());
    meta.mtime = Timestamp {
        sec: md.mtime(),
        nsec: md.mtime_nsec() as u32,
    };
    meta.ctime = Timestamp {
        sec: md.ctime(),
        nsec: md.ctime_nsec() as u32,
    };
    (meta.inode, meta.dev, meta.nlink) = (md.ino(), md.dev(), md.nlink());
    if md.is_file() {
        meta.content = Some(digest(Algorithm::BEST, &fs::read(path)?));
    }
    Ok(Entry {
        path: path.as_os_str().as_encoded_bytes().to_vec(),
        target: None,
        meta,
    })
}

fn total_bytes(dir: &Path) -> io::Result<f32> {
    let mut total = 0u64;
    for e in fs::read_dir(dir)? {
        total += e?.metadata()?.len();
    }
    Ok(total as f32)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("homeostat-host-agent-{}", std::process::id()));
    fs::create_dir_all(&dir)?;
    let conf = dir.join("agent.conf");
    fs::write(&conf, "level = info\n")?;
    fs::write(dir.join("notes"), "x".repeat(100))?;

    // 1. The baseline: one record per file, kept by the host (here in memory).
    let baseline = record(&conf)?;
    println!(
        "recorded {} ({})",
        conf.display(),
        baseline.meta.content.as_ref().unwrap()
    );

    // 2. The learner: 2 MiB table and ~16 KiB learner, both owned by the caller.
    let mut table = table::boxed();
    let mut learner = Learner::new(DEFAULT_FORGET_RATE);
    let bytes = learner.registry_mut().register("conf_bytes")?;
    let (mut sample, mut report) = (Sample::new(), Report::new());
    let t0 = 1_704_067_200; // Monday 2024-01-01 00:00 UTC; time is the caller's
    let week = 7 * 86_400;
    let mut t = t0;
    while t < t0 + 4 * week {
        // The directory is the same all the time; a little jitter makes a realistic spread.
        let jitter = ((t / 300) % 5) as f32;
        sample.set(bytes, total_bytes(&dir)? + jitter);
        learner.sample(&mut table, t, &sample, &mut report);
        t += 300;
    }
    let usual = report.get(bytes).expect("sampled");
    println!(
        "learned conf_bytes: expect {:.1} ± {:.1}",
        usual.expect, usual.stddev
    );

    // 3. Something changes the configuration.
    std::thread::sleep(std::time::Duration::from_millis(10));
    fs::write(&conf, format!("level = debug\n{}\n", "#".repeat(4000)))?;
    let now = record(&conf)?;
    let changed = compare(&baseline, &now, Attrs::ALL);
    let names: Vec<_> = changed.iter().map(|a| a.name()).collect();
    println!("{} changed: {}", conf.display(), names.join(", "));
    assert!(changed.contains(homeostat_core::fim::Attr::Content));
    assert!(changed.contains(homeostat_core::fim::Attr::Size));

    // 4. …and the measurement the learner sees is far from what it learned.
    sample.set(bytes, total_bytes(&dir)?);
    learner.sample(&mut table, t, &sample, &mut report);
    let o = report.get(bytes).expect("sampled");
    let name = learner.registry().name(bytes).unwrap_or("?");
    let classes: Vec<_> = o.classes.names(name).collect();
    println!(
        "conf_bytes = {} (expect {:.1} ± {:.1}): {:?}",
        o.value, o.expect, o.stddev, classes
    );
    assert!(
        classes.iter().any(|c| c.ends_with("_anomaly")),
        "a jump of 4 KB is an anomaly"
    );

    fs::remove_dir_all(&dir)?;
    Ok(())
}
