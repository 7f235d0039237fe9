#![cfg(target_os = "linux")]
//! One tampering per test, each on its own fresh hostile tree and state dir.
//!
//! Every test goes through [`scenario`]: init, tamper, then the oracle (the test's own
//! `lstat` of the whole tree before and after) must agree with the attribute lists written
//! here, and the binary's text (`check --no-update`), JSON (plain `check`) and
//! `file_changes.log` must report exactly those paths and attributes, nothing else, with
//! old/new values equal to the file system's; a further check must be clean.
//!
//! ctime moves on almost every change (including the `utimensat` that restores an mtime),
//! so it is in nearly every list. A directory whose entries change is reported with mtime
//! and ctime (and nlink when a subdirectory comes or goes); where the file system counts
//! entries in a directory's size (tmpfs, btrfs) `size` joins them, which `Spec::Dir`
//! allows and the oracle decides; on ext4 (where these tests normally run) it does not.
//! Replacements are staged in a scratch directory outside the tree and renamed into
//! place, so the old inode is still allocated when the new object is made: the new inode
//! number is guaranteed to differ (an `rm` followed by a create may reuse it on ext4).

use homeostat_tests::expect::Spec;
use homeostat_tests::fixture::Fixture;
use homeostat_tests::fs::{chmod, lchown, overwrite_in_place, set_mtime, set_xattr};
use homeostat_tests::scenario::scenario;
use homeostat_tests::snapshot::stat_obj;
use homeostat_tests::tree::{t, ORPHAN_GID, ORPHAN_UID};

fn skip(why: &str) {
    eprintln!("SKIPPED (only this part): {why}");
}

#[test]
fn content_changed_same_size_mtime_restored() {
    let fx = Fixture::new();
    scenario(
        &fx,
        |fx| {
            let p = fx.path(t::HOSTS);
            let old = stat_obj(&p, None);
            let mut data = std::fs::read(&p).unwrap();
            data[100] ^= 0x01;
            overwrite_in_place(&p, &data);
            // nanosecond-exact mtime restore; ctime moves and cannot be restored
            set_mtime(&p, old.mtime, false);
        },
        &[(t::HOSTS, Spec::Changed(&["ctime", "content"]))],
        &[],
    );
}

#[test]
fn content_changed_in_big_file_mtime_restored() {
    // One byte near the end of a 3 MiB file: the whole file must be hashed.
    let fx = Fixture::new();
    scenario(
        &fx,
        |fx| {
            let p = fx.path(t::BIG1);
            let old = stat_obj(&p, None);
            let mut data = std::fs::read(&p).unwrap();
            let n = data.len();
            data[n - 3] ^= 0x80;
            overwrite_in_place(&p, &data);
            set_mtime(&p, old.mtime, false);
        },
        &[(t::BIG1, Spec::Changed(&["ctime", "content"]))],
        &[],
    );
}

#[test]
fn chmod_file() {
    let fx = Fixture::new();
    scenario(
        &fx,
        |fx| chmod(&fx.path(t::PASSWD), 0o600),
        &[(t::PASSWD, Spec::Changed(&["mode", "ctime"]))],
        &[],
    );
}

#[test]
fn chmod_in_non_utf8_directory() {
    let fx = Fixture::new();
    scenario(
        &fx,
        |fx| chmod(&fx.path(t::CAFE_DIR_FILE), 0o640),
        &[(t::CAFE_DIR_FILE, Spec::Changed(&["mode", "ctime"]))],
        &[],
    );
}

#[test]
fn chown_file() {
    let fx = Fixture::new();
    if !fx.info.as_root {
        return skip("chown needs root");
    }
    scenario(
        &fx,
        |fx| lchown(&fx.path(t::PASSWD), Some(ORPHAN_UID), None),
        &[(t::PASSWD, Spec::Changed(&["uid", "ctime"]))],
        &[],
    );
}

#[test]
fn chgrp_file() {
    let fx = Fixture::new();
    if !fx.info.as_root {
        return skip("chgrp to a foreign group needs root");
    }
    scenario(
        &fx,
        |fx| lchown(&fx.path(t::PASSWD), None, Some(ORPHAN_GID)),
        &[(t::PASSWD, Spec::Changed(&["gid", "ctime"]))],
        &[],
    );
}

#[test]
fn chown_orphan_back_to_root() {
    let fx = Fixture::new();
    if !fx.info.as_root {
        return skip("chown needs root");
    }
    scenario(
        &fx,
        |fx| lchown(&fx.path(t::ORPHAN), Some(0), Some(0)),
        &[(t::ORPHAN, Spec::Changed(&["uid", "gid", "ctime"]))],
        &[],
    );
}

#[test]
fn new_file() {
    let fx = Fixture::new();
    scenario(
        &fx,
        |fx| std::fs::write(fx.path(b"etc/new.conf"), b"intruder = yes\n").unwrap(),
        &[
            (b"etc/new.conf", Spec::Added),
            (t::ETC, Spec::Dir { nlink: false }),
        ],
        &[],
    );
}

#[test]
fn new_setuid_root_file() {
    // A new file that meets the set-id rule is said as such, besides being new.
    let fx = Fixture::new();
    let setid: &[(&[u8], &str)] = if fx.info.as_root {
        &[(b"bin/dropper", "setuid")]
    } else {
        &[]
    };
    if !fx.info.as_root {
        skip("not root: the new file is not root-owned, so no setid finding is expected");
    }
    scenario(
        &fx,
        |fx| {
            let p = fx.path(b"bin/dropper");
            std::fs::write(&p, b"\x7fELF fake").unwrap();
            chmod(&p, 0o4755);
        },
        &[
            (b"bin/dropper", Spec::Added),
            (b"bin", Spec::Dir { nlink: false }),
        ],
        setid,
    );
}

#[test]
fn removed_file() {
    let fx = Fixture::new();
    scenario(
        &fx,
        |fx| std::fs::remove_file(fx.path(t::MOTD)).unwrap(),
        &[
            (t::MOTD, Spec::Removed),
            (t::ETC, Spec::Dir { nlink: false }),
        ],
        &[],
    );
}

#[test]
fn renamed_file() {
    let fx = Fixture::new();
    scenario(
        &fx,
        |fx| std::fs::rename(fx.path(t::MOTD), fx.path(b"etc/motd.old")).unwrap(),
        &[
            (t::MOTD, Spec::Removed),
            (b"etc/motd.old", Spec::Added),
            (t::ETC, Spec::Dir { nlink: false }),
        ],
        &[],
    );
}

#[test]
fn new_hard_link() {
    let fx = Fixture::new();
    scenario(
        &fx,
        |fx| std::fs::hard_link(fx.path(t::HOSTS), fx.path(b"etc/hosts.link")).unwrap(),
        &[
            (b"etc/hosts.link", Spec::Added),
            (t::HOSTS, Spec::Changed(&["ctime", "nlink"])),
            (t::ETC, Spec::Dir { nlink: false }),
        ],
        &[],
    );
}

/// Replaces `rel` by a symlink to `target`, made in scratch first (see the module docs).
fn replace_with_symlink(fx: &Fixture, rel: &[u8], target: &[u8]) {
    use std::os::unix::ffi::OsStrExt;
    let staged = fx.scratch.join("staged-link");
    std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(target), &staged).unwrap();
    std::fs::rename(&staged, fx.path(rel)).unwrap();
}

#[test]
fn symlink_retargeted_same_length() {
    let fx = Fixture::new();
    assert_eq!(t::REL_LINK_TARGET.len(), b"../etc/hostz".len());
    scenario(
        &fx,
        |fx| replace_with_symlink(fx, t::REL_LINK, b"../etc/hostz"),
        &[
            (
                t::REL_LINK,
                Spec::Changed(&["mtime", "ctime", "inode", "target"]),
            ),
            (t::LINKS, Spec::Dir { nlink: false }),
        ],
        &[],
    );
}

#[test]
fn symlink_retargeted_other_length() {
    // lstat size of a symlink is its target's length, so a longer target changes size.
    let fx = Fixture::new();
    scenario(
        &fx,
        |fx| replace_with_symlink(fx, t::REL_LINK, b"../etc/motd"),
        &[
            (
                t::REL_LINK,
                Spec::Changed(&["size", "mtime", "ctime", "inode", "target"]),
            ),
            (t::LINKS, Spec::Dir { nlink: false }),
        ],
        &[],
    );
}

#[test]
fn dangling_symlink_made_to_point_at_a_file() {
    let fx = Fixture::new();
    scenario(
        &fx,
        |fx| replace_with_symlink(fx, t::DANGLING, b"../etc/passwd.conf"),
        &[
            (
                t::DANGLING,
                Spec::Changed(&["size", "mtime", "ctime", "inode", "target"]),
            ),
            (t::LINKS, Spec::Dir { nlink: false }),
        ],
        &[],
    );
}

#[test]
fn file_replaced_by_directory() {
    // 200-byte 0644 file -> 0755 directory: type, mode, size (ext4 dirs are 4096),
    // times, inode (staged), nlink (1 -> 2) and content (present on one side only).
    // The parent gains a subdirectory: nlink.
    let fx = Fixture::new();
    scenario(
        &fx,
        |fx| {
            let staged = fx.scratch.join("staged-dir");
            std::fs::create_dir(&staged).unwrap();
            chmod(&staged, 0o755);
            std::fs::remove_file(fx.path(t::MOTD)).unwrap();
            std::fs::rename(&staged, fx.path(t::MOTD)).unwrap();
        },
        &[
            (
                t::MOTD,
                Spec::Changed(&[
                    "type", "mode", "size", "mtime", "ctime", "inode", "nlink", "content",
                ]),
            ),
            (t::ETC, Spec::Dir { nlink: true }),
        ],
        &[],
    );
}

#[test]
fn file_replaced_by_symlink() {
    // 0644 file -> symlink (mode 0777 on Linux, size = target length 9, nlink 1 as before).
    let fx = Fixture::new();
    scenario(
        &fx,
        |fx| replace_with_symlink(fx, t::MOTD, b"elsewhere"),
        &[
            (
                t::MOTD,
                Spec::Changed(&[
                    "type", "mode", "size", "mtime", "ctime", "inode", "target", "content",
                ]),
            ),
            (t::ETC, Spec::Dir { nlink: false }),
        ],
        &[],
    );
}

#[test]
fn appended() {
    let fx = Fixture::new();
    scenario(
        &fx,
        |fx| {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(fx.path(t::HOSTS))
                .unwrap();
            f.write_all(b"10.6.6.6 evil.example\n").unwrap();
        },
        &[(
            t::HOSTS,
            Spec::Changed(&["size", "mtime", "ctime", "content"]),
        )],
        &[],
    );
}

#[test]
fn truncated() {
    let fx = Fixture::new();
    scenario(
        &fx,
        |fx| {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(fx.path(t::PASSWD))
                .unwrap();
            f.set_len(100).unwrap();
        },
        &[(
            t::PASSWD,
            Spec::Changed(&["size", "mtime", "ctime", "content"]),
        )],
        &[],
    );
}

#[test]
fn truncated_to_empty() {
    let fx = Fixture::new();
    scenario(
        &fx,
        |fx| {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(fx.path(t::BIG2))
                .unwrap();
            f.set_len(0).unwrap();
        },
        &[(
            t::BIG2,
            Spec::Changed(&["size", "mtime", "ctime", "content"]),
        )],
        &[],
    );
}

#[test]
fn xattr_added() {
    let fx = Fixture::new();
    if !fx.info.xattrs {
        return skip("the file system refuses user.* extended attributes");
    }
    // hosts had none (old "xattrs": null); with-xattr gets a different value.
    scenario(
        &fx,
        |fx| {
            assert!(set_xattr(&fx.path(t::HOSTS), "user.x", b"1").unwrap());
            assert!(set_xattr(&fx.path(t::WITH_XATTR), "user.homeostat", b"other").unwrap());
        },
        &[
            (t::HOSTS, Spec::Changed(&["ctime", "xattrs"])),
            (t::WITH_XATTR, Spec::Changed(&["ctime", "xattrs"])),
        ],
        &[],
    );
}

#[test]
fn same_content_new_inode() {
    // cp + mv over, with mode, owner and the exact mtime restored: only the inode and
    // the ctime (which nobody can set) betray it; the rename changes the directory.
    let fx = Fixture::new();
    let as_root = fx.info.as_root;
    scenario(
        &fx,
        |fx| {
            let p = fx.path(t::HOSTS);
            let old = stat_obj(&p, None);
            let staged = fx.scratch.join("hosts.new");
            std::fs::copy(&p, &staged).unwrap();
            if as_root {
                lchown(&staged, Some(old.uid), Some(old.gid));
            }
            chmod(&staged, old.mode);
            set_mtime(&staged, old.mtime, false);
            std::fs::rename(&staged, &p).unwrap();
        },
        &[
            (t::HOSTS, Spec::Changed(&["ctime", "inode"])),
            (t::ETC, Spec::Dir { nlink: false }),
        ],
        &[],
    );
}

#[test]
fn new_subdirectory_with_file() {
    let fx = Fixture::new();
    scenario(
        &fx,
        |fx| {
            std::fs::create_dir(fx.path(b"etc/newdir")).unwrap();
            std::fs::write(fx.path(b"etc/newdir/f"), b"x").unwrap();
        },
        &[
            (b"etc/newdir", Spec::Added),
            (b"etc/newdir/f", Spec::Added),
            (t::ETC, Spec::Dir { nlink: true }),
        ],
        &[],
    );
}

#[test]
fn removed_subtree() {
    let fx = Fixture::new();
    scenario(
        &fx,
        |fx| std::fs::remove_dir_all(fx.path(t::NESTED)).unwrap(),
        &[
            (t::NESTED, Spec::Removed),
            (t::DEEPER, Spec::Removed),
            (t::DEEP_FILE, Spec::Removed),
            (t::SPACES_DIR, Spec::Dir { nlink: true }),
        ],
        &[],
    );
}

#[test]
fn setuid_bit_gained() {
    // A root-owned file that gains S_ISUID newly meets CFEngine's rule: said again.
    let fx = Fixture::new();
    let setid: &[(&[u8], &str)] = if fx.info.as_root {
        &[(t::TOOL, "setuid")]
    } else {
        &[]
    };
    if !fx.info.as_root {
        skip("not root: bin/tool is not root-owned, so no setid finding is expected");
    }
    scenario(
        &fx,
        |fx| chmod(&fx.path(t::TOOL), 0o4755),
        &[(t::TOOL, Spec::Changed(&["mode", "ctime"]))],
        setid,
    );
}

#[test]
fn fifo_replaced_by_regular_file() {
    // The FIFO is never read; once it is a file, the file's content appears (type change).
    let fx = Fixture::new();
    scenario(
        &fx,
        |fx| {
            let staged = fx.scratch.join("fifo-file");
            std::fs::write(&staged, b"now a file").unwrap();
            chmod(&staged, 0o620);
            std::fs::rename(&staged, fx.path(t::FIFO)).unwrap();
        },
        &[
            (
                t::FIFO,
                Spec::Changed(&["type", "size", "mtime", "ctime", "inode", "content"]),
            ),
            (b"var/spool", Spec::Dir { nlink: false }),
        ],
        &[],
    );
}

#[test]
fn excluded_entries_are_not_reported() {
    // New and changed entries matching "*.swp" or under "<tree>/skip" are not reported;
    // only the directory that gained the new .swp file changes (mtime, ctime).
    let fx = Fixture::new();
    scenario(
        &fx,
        |fx| {
            std::fs::write(fx.path(b"etc/new.swp"), b"swap").unwrap();
            std::fs::write(fx.path(t::SWP), b"changed swap").unwrap();
            std::fs::write(fx.path(b"skip/inner/ignored.txt"), b"changed").unwrap();
            std::fs::write(fx.path(b"skip/inner/new.txt"), b"new").unwrap();
        },
        &[(t::ETC, Spec::Dir { nlink: false })],
        &[],
    );
}
