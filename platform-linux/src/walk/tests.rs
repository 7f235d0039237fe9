use std::os::fd::OwnedFd;

use homeostat_core::digest::{digest, Algorithm};
use homeostat_core::fim::{path_cmp, Attrs};
use rustix::fs::{mkdirat, openat};

use super::*;
use crate::hashpool::{scan_with, Engine};
use crate::tree::Exclude;

fn spec(root: &std::path::Path) -> TreeSpec {
    use std::os::unix::ffi::OsStrExt;
    TreeSpec {
        root: root.as_os_str().as_bytes().to_vec(),
        algorithm: Algorithm::Sha256,
        attrs: Attrs::ALL,
        depth: None,
        xdev: true,
        exclude: Exclude::default(),
    }
}

/// `levels` nested directories `d`, each also holding a file `z` (after `d` in order, so
/// the walk must come back to every directory after the subtree below it), built
/// relative to the previous directory's descriptor.
fn deep_tree(root: &std::path::Path, levels: usize) {
    let mut dir: OwnedFd = File::open(root).unwrap().into();
    for i in 0..levels {
        let z = openat(
            &dir,
            "z",
            OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC,
            Mode::from_bits_truncate(0o644),
        )
        .unwrap();
        rustix::io::write(&z, format!("level {i}").as_bytes()).unwrap();
        mkdirat(&dir, "d", Mode::from_bits_truncate(0o755)).unwrap();
        dir = openat(&dir, "d", OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
    }
}

/// Removes what `deep_tree` built, one level at a time from the top with short paths
/// (the standard recursive removal would need a stack frame per level).
fn remove_deep(root: &std::path::Path) {
    let (d, x) = (root.join("d"), root.join("x"));
    while d.join("d").exists() {
        std::fs::rename(d.join("d"), &x).unwrap();
        std::fs::remove_dir_all(&d).unwrap();
        std::fs::rename(&x, &d).unwrap();
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// The defect: a tree deeper than PATH_MAX was not checked below that depth. Walked
/// relative to each directory, every level is listed, stat'ed and hashed (files below
/// PATH_MAX by the walk itself), with at most KEEP_FDS + 1 directory descriptors open
/// while each directory is reopened on the way back up.
#[test]
fn deeper_than_path_max_is_walked_to_the_bottom_with_bounded_fds() {
    const LEVELS: usize = 3000; // "/d" a level: 6,000 bytes, past PATH_MAX
    let dir = tempfile::tempdir().unwrap();
    deep_tree(dir.path(), LEVELS);
    let spec = spec(dir.path());
    let mut walker = Walker::new(&spec);
    let (mut items, mut most_open) = (Vec::new(), 0);
    while let Some(item) = walker.next() {
        most_open = most_open.max(walker.open_dirs());
        items.push(item);
    }
    assert_eq!(items.len(), 1 + 2 * LEVELS);
    assert!(most_open <= KEEP_FDS + 1, "{most_open} descriptors open");
    for w in items.windows(2) {
        assert!(path_cmp(&w[0].entry.path, &w[1].entry.path).is_lt());
    }
    for it in &items {
        assert!(
            it.problem.is_none() && it.unseen.is_none(),
            "{:?}",
            it.problem
        );
    }
    let deepest = items.iter().map(|i| i.entry.path.len()).max().unwrap();
    assert!(deepest > OPEN_BY_PATH_MAX, "only {deepest} bytes deep");
    // Hashed all the way down, the deepest files by the walk thread.
    let scanned: Vec<_> = scan_with(spec.clone(), 2, Engine::Best).collect();
    assert_eq!(scanned.len(), 1 + 2 * LEVELS);
    // Record order: every `d` first, then the `z` files from the bottom up.
    let mut level = LEVELS;
    for s in scanned.iter().filter(|s| s.entry.meta.kind == Kind::File) {
        level -= 1;
        assert!(s.problem.is_none(), "{:?}", s.problem);
        let want = digest(Algorithm::Sha256, format!("level {level}").as_bytes());
        assert_eq!(s.entry.meta.content, Some(want), "level {level}");
    }
    assert_eq!(level, 0);
    // One path deep below PATH_MAX, alone (a real-time check, a restore): reached too.
    let bottom = &scanned[1 + LEVELS];
    assert!(bottom.entry.path.len() > OPEN_BY_PATH_MAX);
    let one = crate::hashpool::scan_one(&TreeSpec {
        root: bottom.entry.path.clone(),
        ..spec.clone()
    })
    .unwrap();
    assert!(
        one.problem.is_none() && one.unseen.is_none(),
        "{:?}",
        one.problem
    );
    assert_eq!(one.entry.meta.inode, bottom.entry.meta.inode);
    assert_eq!(one.entry.meta.content, bottom.entry.meta.content);
    remove_deep(dir.path());
}

/// A directory swapped for another while the walk is below it is not reopened as if it
/// were the same: when neither `..` of its child nor its path leads back to the
/// directory entered, its remaining entries come back unknown, with the reason.
#[test]
fn a_directory_replaced_during_the_walk_is_not_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    deep_tree(root, KEEP_FDS + 4);
    let spec = spec(root);
    let mut walker = Walker::new(&spec);
    // Down to the bottom: the directories of levels 1 to 4 are closed by then.
    let mut seen = 0;
    for item in walker.by_ref() {
        seen += 1;
        if item.entry.meta.kind == Kind::File {
            break;
        }
    }
    assert_eq!(seen, 1 + KEEP_FDS + 4 + 1);
    // The root and the 15 deepest of the 20 directories above the bottom file.
    assert_eq!(walker.open_dirs(), KEEP_FDS);
    // Level 5 moved out (its `..` is no longer level 4), level 1 replaced by a look-alike.
    std::fs::rename(root.join("d/d/d/d/d"), root.join("moved")).unwrap();
    std::fs::rename(root.join("d"), root.join("other")).unwrap();
    std::fs::create_dir_all(root.join("d/d/d/d")).unwrap();
    let rest: Vec<WalkItem> = walker.collect();
    let lost: Vec<&WalkItem> = rest.iter().filter(|i| i.unseen.is_some()).collect();
    assert_eq!(lost.len(), 4, "{rest:?}");
    for i in &lost {
        assert_eq!(i.unseen, Some(Unseen::Unknown));
        assert!(i.entry.path.ends_with(b"/z"));
        let p = i.problem.as_deref().unwrap();
        assert_eq!(
            p,
            "cannot reopen its directory: replaced while being walked"
        );
    }
    // The directories still open are the ones entered: the files of levels 5 to 18
    // (19's came before the swap), and the root's.
    assert_eq!(rest.len() - lost.len(), 14 + 1);
    assert!(rest
        .iter()
        .all(|i| i.unseen.is_some() || i.problem.is_none()));
}
