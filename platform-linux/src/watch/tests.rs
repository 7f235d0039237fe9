//! The watch on a real directory: both mechanisms see creates, writes, renames and
//! deletes, with their parent directories, and nothing of excluded or outside paths.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use homeostat_core::digest::Algorithm;
use homeostat_core::feed::{WatchSource, Watched};
use homeostat_core::fim::Attrs;

use super::*;
use crate::tree::Exclude;

fn spec(root: &Path) -> TreeSpec {
    TreeSpec {
        root: root.as_os_str().as_bytes().to_vec(),
        algorithm: Algorithm::Sha256,
        attrs: Attrs::ALL,
        depth: None,
        xdev: true,
        exclude: Exclude::new(&["*.swp"]).unwrap(),
    }
}

/// Waits until every path of `want` was touched (path → below, writer pid); panics
/// naming what is missing after 5 s.
fn collect(w: &mut Watcher, want: &[(&Path, bool)]) -> BTreeMap<Vec<u8>, (bool, Option<u32>)> {
    let mut got = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    let missing = |got: &BTreeMap<Vec<u8>, (bool, Option<u32>)>| {
        want.iter()
            .filter(|(p, below)| {
                got.get(p.as_os_str().as_bytes())
                    .is_none_or(|g| g.0 != *below)
            })
            .count()
    };
    while missing(&got) > 0 && Instant::now() < deadline {
        w.wait(Duration::from_millis(100), &mut |e| {
            if let Watched::Touched {
                path,
                below,
                writer,
            } = e
            {
                let g = got.entry(path.to_vec()).or_insert((false, None));
                g.0 |= below;
                g.1 = g.1.or(writer.map(|w| w.pid));
            }
        })
        .unwrap();
    }
    assert_eq!(missing(&got), 0, "wanted {want:?}, got {got:?}");
    got
}

fn sees_changes(mechanism: Mechanism) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("t");
    std::fs::create_dir_all(root.join("old")).unwrap();
    std::fs::write(root.join("a"), b"1").unwrap();
    let mut w = Watcher::open(&[spec(&root)], mechanism, &mut |m| panic!("{m}")).unwrap();
    w.hear_self();
    assert!(w.watches() >= 1);
    std::fs::write(root.join("a"), b"22").unwrap();
    std::fs::create_dir(root.join("new")).unwrap();
    std::fs::write(root.join("new/f"), b"x").unwrap();
    std::fs::rename(root.join("old"), root.join("renamed")).unwrap();
    std::fs::write(root.join("x.swp"), b"ignored").unwrap();
    std::fs::write(tmp.path().join("outside"), b"ignored").unwrap();
    let got = collect(
        &mut w,
        &[
            (&root.join("a"), false),
            (&root.join("new"), true),
            (&root.join("old"), true),
            (&root.join("renamed"), true),
            (&root, false),
        ],
    );
    assert!(!got.contains_key(root.join("x.swp").as_os_str().as_bytes()));
    assert!(!got.contains_key(tmp.path().join("outside").as_os_str().as_bytes()));
    let me = std::process::id();
    let pid = got[root.join("a").as_os_str().as_bytes()].1;
    match w.mechanism() {
        "fanotify" => assert_eq!(pid, Some(me), "the writer is this test"),
        _ => assert_eq!(pid, None),
    }
    // inotify watches a new directory once it has seen it: inside it from then on.
    std::fs::write(root.join("new/g"), b"y").unwrap();
    std::fs::remove_file(root.join("a")).unwrap();
    collect(
        &mut w,
        &[(&root.join("a"), true), (&root.join("new/g"), true)],
    );
}

#[test]
fn inotify_sees_changes_below_new_directories() {
    sees_changes(Mechanism::Inotify);
}

/// fanotify needs CAP_SYS_ADMIN; elsewhere this is the inotify test again.
#[test]
fn best_mechanism_sees_changes_and_names_the_writer() {
    sees_changes(Mechanism::Best);
}

#[test]
fn filter_follows_depth_and_excludes() {
    let mut s = spec(Path::new("/t"));
    s.depth = Some(1);
    let t = Trees::new(&[s]);
    assert!(t.records(b"/t"));
    assert!(t.records(b"/t/a"));
    assert!(!t.records(b"/t/a/b"));
    assert!(!t.records(b"/t/a.swp"));
    assert!(!t.records(b"/tx"));
    assert!(!t.records(b"/"));
}
