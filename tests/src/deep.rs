//! Trees too deep or too wide to be built or removed by path: a chain of directories
//! built relative to each previous descriptor, and a directory of many files created
//! relative to its descriptor.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{mkdirat, openat, Mode, OFlags};

/// `levels` directories `name` nested under `root`, each made with `mkdirat` relative to
/// the one above; returns the bottom directory's descriptor.
pub fn chain(root: &Path, name: &str, levels: usize) -> OwnedFd {
    let mut dir: OwnedFd = File::open(root).expect("open root").into();
    for _ in 0..levels {
        mkdirat(&dir, name, Mode::from_bits_truncate(0o755)).expect("mkdirat");
        dir = openat(
            &dir,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
        )
        .expect("openat");
    }
    dir
}

/// Writes `data` to `name` in `dir` (created or truncated), relative to the descriptor.
pub fn write_at(dir: &OwnedFd, name: &str, data: &[u8]) {
    let f = openat(
        dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::CLOEXEC,
        Mode::from_bits_truncate(0o644),
    )
    .expect("openat file");
    let mut f = File::from(f);
    std::io::Write::write_all(&mut f, data).expect("write");
}

/// Removes a [`chain`] under `root`, one level at a time from the top with short paths
/// (the standard recursive removal takes a stack frame a level).
pub fn remove_chain(root: &Path, name: &str) {
    let (top, spare) = (root.join(name), root.join(".chain-spare"));
    while top.join(name).exists() {
        std::fs::rename(top.join(name), &spare).expect("lift the chain");
        std::fs::remove_dir_all(&top).expect("remove the top level");
        std::fs::rename(&spare, &top).expect("put the chain back");
    }
    std::fs::remove_dir_all(&top).expect("remove the last level");
}

/// `count` empty files `f0000000`, `f0000001`, … in `dir`, created with `openat`.
pub fn many_files(dir: &Path, count: usize) {
    let d: OwnedFd = File::open(dir).expect("open dir").into();
    for i in 0..count {
        openat(
            &d,
            format!("f{i:07}"),
            OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC,
            Mode::from_bits_truncate(0o644),
        )
        .expect("create");
    }
}
