//! The standard hostile tree: its builder, the relative paths tests name ([`t`]) and
//! what the builder could do on this machine ([`TreeInfo`]).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::content::{rand_bytes, text_bytes};
use crate::fs::{chmod, lchown, mkfifo, set_times, set_xattr};
use crate::run::is_root;

/// A uid and gids that no passwd/group entry names.
pub const ORPHAN_UID: u32 = 4242;
pub const ORPHAN_GID: u32 = 4242;

/// What the tree builder could do on this machine.
#[derive(Clone, Copy, Debug)]
pub struct TreeInfo {
    /// Running as root: the orphan-owned entries and root-owned set-id files exist.
    pub as_root: bool,
    /// `user.*` extended attributes work on this file system.
    pub xattrs: bool,
}

/// Relative paths of the standard tree that tests refer to.
pub mod t {
    pub const ETC: &[u8] = b"etc";
    pub const HOSTS: &[u8] = b"etc/hosts";
    pub const MOTD: &[u8] = b"etc/motd";
    pub const PASSWD: &[u8] = b"etc/passwd.conf";
    pub const COMMA: &[u8] = b"etc/a,comma.conf";
    pub const WITH_XATTR: &[u8] = b"etc/with-xattr";
    pub const TOOL: &[u8] = b"bin/tool";
    pub const SUID: &[u8] = b"bin/suid-root";
    pub const SGID: &[u8] = b"bin/sgid-root";
    pub const ALICE: &[u8] = b"home/alice";
    pub const CAFE: &[u8] = b"home/alice/caf\xe9";
    pub const FFFE: &[u8] = b"home/alice/\xff\xfe";
    pub const BADUTF: &[u8] = b"home/alice/bad\xc3\x28";
    pub const SPACE: &[u8] = b"home/alice/with space.txt";
    pub const DASH: &[u8] = b"home/alice/-leading-dash";
    pub const ESCAPE: &[u8] = b"home/alice/esc\x1b[31mred";
    pub const NEWLINE: &[u8] = b"home/alice/line\nbreak";
    pub const BACKSLASH: &[u8] = b"home/alice/back\\slash";
    pub const SPACES_DIR: &[u8] = b"home/dir with spaces";
    pub const NESTED: &[u8] = b"home/dir with spaces/nested";
    pub const DEEPER: &[u8] = b"home/dir with spaces/nested/deeper";
    pub const DEEP_FILE: &[u8] = b"home/dir with spaces/nested/deeper/deep.txt";
    pub const CAFE_DIR: &[u8] = b"home/caf\xe9-dir";
    pub const CAFE_DIR_FILE: &[u8] = b"home/caf\xe9-dir/inner.txt";
    pub const BIG1: &[u8] = b"data/big1.bin";
    pub const BIG2: &[u8] = b"data/big2.bin";
    pub const EMPTY: &[u8] = b"data/empty";
    pub const LINKS: &[u8] = b"links";
    pub const HARD_A: &[u8] = b"links/hard-a";
    pub const HARD_B: &[u8] = b"links/hard-b";
    pub const DANGLING: &[u8] = b"links/dangling";
    pub const TO_DIR: &[u8] = b"links/to-dir";
    pub const REL_LINK: &[u8] = b"links/rel";
    pub const REL_LINK_TARGET: &[u8] = b"../etc/hosts";
    pub const FIFO: &[u8] = b"var/spool/fifo0";
    pub const ORPHAN: &[u8] = b"owned/orphan";
    pub const ORPHAN_DIR: &[u8] = b"owned/orphan-dir";
    pub const SECRET: &[u8] = b"private/secret";
    /// Excluded by the name pattern `*.swp`.
    pub const SWP: &[u8] = b"x.swp";
    /// Excluded by the whole-path pattern `<tree>/skip`.
    pub const SKIP: &[u8] = b"skip";
}

enum Node {
    Dir(u32),
    File(u32, Vec<u8>),
    Symlink(&'static [u8]),
    HardLink(&'static [u8]),
    Fifo(u32),
}

/// Builds the standard hostile tree under `root` (which must exist and be empty).
///
/// Deterministic: the same names (byte for byte), contents, modes, owners and
/// nanosecond mtimes every time; only inodes and ctimes depend on the run.
pub fn build_tree(root: &Path) -> TreeInfo {
    let as_root = is_root();
    let mib = 1024 * 1024;
    let mut nodes: Vec<(&[u8], Node)> = vec![
        (b"etc", Node::Dir(0o755)),
        (b"etc/conf.d", Node::Dir(0o755)),
        (b"bin", Node::Dir(0o755)),
        (b"home", Node::Dir(0o755)),
        (b"home/alice", Node::Dir(0o750)),
        (t::SPACES_DIR, Node::Dir(0o755)),
        (t::NESTED, Node::Dir(0o755)),
        (t::DEEPER, Node::Dir(0o755)),
        (t::CAFE_DIR, Node::Dir(0o755)),
        (b"data", Node::Dir(0o755)),
        (b"links", Node::Dir(0o755)),
        (b"var", Node::Dir(0o755)),
        (b"var/spool", Node::Dir(0o755)),
        (b"owned", Node::Dir(0o755)),
        (t::ORPHAN_DIR, Node::Dir(0o750)),
        (b"private", Node::Dir(0o700)),
        (t::SKIP, Node::Dir(0o755)),
        (b"skip/inner", Node::Dir(0o755)),
        (t::HOSTS, Node::File(0o644, text_bytes(1, 300))),
        (t::MOTD, Node::File(0o644, text_bytes(2, 200))),
        (t::PASSWD, Node::File(0o644, text_bytes(3, 1800))),
        (t::COMMA, Node::File(0o644, text_bytes(4, 100))),
        (t::WITH_XATTR, Node::File(0o644, text_bytes(5, 50))),
        (b"etc/.hosts.swp", Node::File(0o600, text_bytes(6, 64))),
        (
            b"etc/conf.d/one.conf",
            Node::File(0o644, text_bytes(7, 400)),
        ),
        (
            b"etc/conf.d/two.conf",
            Node::File(0o640, text_bytes(8, 420)),
        ),
        (t::TOOL, Node::File(0o755, rand_bytes(9, 20_000))),
        (t::SUID, Node::File(0o755, rand_bytes(10, 10_000))),
        (t::SGID, Node::File(0o755, rand_bytes(11, 9_000))),
        (t::CAFE, Node::File(0o644, text_bytes(12, 700))),
        (t::FFFE, Node::File(0o644, rand_bytes(13, 500))),
        (t::BADUTF, Node::File(0o644, text_bytes(14, 400))),
        (t::SPACE, Node::File(0o644, text_bytes(15, 333))),
        (t::DASH, Node::File(0o644, text_bytes(16, 111))),
        (t::ESCAPE, Node::File(0o644, text_bytes(17, 77))),
        (t::NEWLINE, Node::File(0o644, text_bytes(18, 88))),
        (t::BACKSLASH, Node::File(0o644, text_bytes(19, 99))),
        (
            b"home/dir with spaces/annual report.txt",
            Node::File(0o644, text_bytes(20, 900)),
        ),
        (t::DEEP_FILE, Node::File(0o644, text_bytes(21, 1234))),
        (t::CAFE_DIR_FILE, Node::File(0o644, text_bytes(22, 555))),
        (t::BIG1, Node::File(0o644, rand_bytes(23, 3 * mib))),
        (t::BIG2, Node::File(0o600, rand_bytes(24, mib + 1))),
        (t::EMPTY, Node::File(0o644, Vec::new())),
        (t::HARD_A, Node::File(0o644, text_bytes(25, 640))),
        (t::HARD_B, Node::HardLink(t::HARD_A)),
        (t::DANGLING, Node::Symlink(b"../nonexistent/target")),
        (t::TO_DIR, Node::Symlink(b"../etc")),
        (t::REL_LINK, Node::Symlink(t::REL_LINK_TARGET)),
        (
            b"links/abs-dangling",
            Node::Symlink(b"/nonexistent/abs path"),
        ),
        (
            b"links/caf\xe9-link",
            Node::Symlink(b"../home/alice/caf\xe9"),
        ),
        (t::FIFO, Node::Fifo(0o620)),
        (t::ORPHAN, Node::File(0o640, text_bytes(26, 321))),
        (
            b"owned/orphan-dir/f",
            Node::File(0o644, text_bytes(27, 123)),
        ),
        (t::SECRET, Node::File(0o600, text_bytes(28, 64))),
        (t::SWP, Node::File(0o644, text_bytes(29, 64))),
        (
            b"skip/inner/ignored.txt",
            Node::File(0o644, text_bytes(30, 64)),
        ),
    ];
    let p = |rel: &[u8]| root.join(OsStr::from_bytes(rel));
    for (rel, node) in &nodes {
        let path = p(rel);
        match node {
            Node::Dir(_) => std::fs::create_dir_all(&path).expect("mkdir"),
            Node::File(_, data) => std::fs::write(&path, data).expect("write"),
            Node::Symlink(target) => {
                std::os::unix::fs::symlink(OsStr::from_bytes(target), &path).expect("symlink")
            }
            Node::HardLink(src) => std::fs::hard_link(p(src), &path).expect("link"),
            Node::Fifo(mode) => mkfifo(&path, *mode),
        }
    }
    if as_root {
        lchown(&p(t::ORPHAN), Some(ORPHAN_UID), Some(ORPHAN_GID));
        lchown(
            &p(t::ORPHAN_DIR),
            Some(ORPHAN_UID + 1),
            Some(ORPHAN_GID + 2),
        );
        lchown(
            &p(b"owned/orphan-dir/f"),
            Some(ORPHAN_UID + 1),
            Some(ORPHAN_GID + 2),
        );
        lchown(&p(t::SUID), Some(0), Some(0));
        lchown(&p(t::SGID), Some(0), Some(42)); // chown first: it clears set-id bits
    } else {
        eprintln!("homeostat-tests: not root: orphan-owned and root-owned set-id entries skipped");
    }
    for (rel, node) in &nodes {
        if let Node::Dir(m) | Node::File(m, _) = node {
            chmod(&p(rel), *m);
        }
    }
    chmod(&p(t::SUID), 0o4755);
    chmod(&p(t::SGID), 0o2755);
    let xattrs = set_xattr(&p(t::WITH_XATTR), "user.homeostat", b"first value").unwrap_or(false);
    if !xattrs {
        eprintln!("homeostat-tests: user xattrs unsupported here; xattr entries skipped");
    }
    // Deterministic times with nanoseconds: leaves first, then directories deepest first
    // (setting a child's time does not touch its directory, creating it did), root last.
    nodes.retain(|(_, n)| !matches!(n, Node::HardLink(_)));
    let time = |i: usize| -> (i64, i64) {
        (
            1_600_000_000 + (i as i64) * 7919,
            ((i as i64) * 123_456_789 + 1) % 1_000_000_000,
        )
    };
    for (i, (rel, node)) in nodes.iter().enumerate() {
        if !matches!(node, Node::Dir(_)) {
            let t = time(i);
            set_times(&p(rel), t, t, matches!(node, Node::Symlink(_)));
        }
    }
    let mut dirs: Vec<(usize, &[u8])> = nodes
        .iter()
        .enumerate()
        .filter(|(_, (_, n))| matches!(n, Node::Dir(_)))
        .map(|(i, (rel, _))| (i, *rel))
        .collect();
    dirs.sort_by_key(|(_, rel)| std::cmp::Reverse(rel.iter().filter(|&&b| b == b'/').count()));
    for (i, rel) in dirs {
        let t = time(i);
        set_times(&p(rel), t, t, false);
    }
    set_times(root, (1_600_000_000, 5), (1_600_000_000, 5), false);
    TreeInfo { as_root, xattrs }
}
