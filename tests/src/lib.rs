//! Helpers for the end-to-end tests in `tests/`: they find (or build) the `homeostat`
//! binary, build hostile file trees in temporary directories, run the binary with a
//! timeout, parse its three outputs (JSON lines, text, `file_changes.log`) and compare
//! them with what a test-side oracle saw on the file system.
//!
//! The oracle ([`Fixture::snapshot`] and [`diff`]) `lstat`s every entry of a tree before
//! and after a tampering, so a test can say "exactly these paths changed, in exactly
//! these attributes" and also check every reported old/new value against the real file.
//! Each scenario states the attribute lists the contract promises; the oracle first
//! confirms the file system really produced them (so a test bug or an unusual file system
//! is told apart from a binary bug), then the binary's reports are held to them.
//!
//! Linux only: the harness uses Linux xattr calls; elsewhere the crate is empty.
#![cfg(target_os = "linux")]
// Test-side libc shims (geteuid, utimensat, mkfifo, xattrs), each with a SAFETY note.
#![allow(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{CString, OsStr, OsString};
use std::io::{Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use sha2::Digest as _;

pub use serde_json;
pub use tempfile;

/// The attributes of the contract, in report order.
pub const ATTRS: [&str; 12] = [
    "type", "mode", "uid", "gid", "size", "mtime", "ctime", "inode", "nlink", "target", "xattrs",
    "content",
];

/// A uid and gids that no passwd/group entry names.
pub const ORPHAN_UID: u32 = 4242;
pub const ORPHAN_GID: u32 = 4242;

/// Longest a single run of the binary may take before the test calls it hung.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------
// Locating the binary

/// The `homeostat` binary: `$HOMEOSTAT_BIN`, else `<target>/<profile>/homeostat` beside
/// the running test executable (`<target>/<profile>/deps/<test>`), built once with
/// `cargo build -p homeostat --bin homeostat` when it is not there.
pub fn homeostat_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("HOMEOSTAT_BIN") {
            let p = PathBuf::from(p);
            assert!(p.exists(), "HOMEOSTAT_BIN={} does not exist", p.display());
            return p;
        }
        let exe = std::env::current_exe().expect("current_exe");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test executable is not in <target>/<profile>/deps")
            .to_path_buf();
        let bin = profile_dir.join("homeostat");
        if !bin.exists() {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
            let mut cmd = Command::new(cargo);
            cmd.args(["build", "-p", "homeostat", "--bin", "homeostat"]);
            match profile_dir.file_name().and_then(OsStr::to_str) {
                Some("debug") | None => {}
                Some("release") => {
                    cmd.arg("--release");
                }
                Some(other) => {
                    cmd.args(["--profile", other]);
                }
            }
            if let Some(target_dir) = profile_dir.parent() {
                cmd.arg("--target-dir").arg(target_dir);
            }
            cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
            eprintln!(
                "homeostat-tests: {} missing, running {:?}",
                bin.display(),
                cmd
            );
            let status = cmd.status().expect("could not run cargo build");
            assert!(
                status.success(),
                "cargo build -p homeostat failed: {status}"
            );
            assert!(
                bin.exists(),
                "cargo build succeeded but {} is missing",
                bin.display()
            );
        }
        bin
    })
}

/// True when the tests run as root (chown, setuid-root files).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

// ---------------------------------------------------------------------------------------
// Running the binary

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Output {
    pub what: String,
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Panics, showing both streams, unless the exit status is `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            code,
            "`{}` exited {} instead of {}\n--- stdout\n{}\n--- stderr\n{}",
            self.what,
            self.code,
            code,
            self.stdout_str(),
            self.stderr_str()
        );
        self
    }

    /// Every stdout line as a JSON object (each must parse and carry a string `type`).
    pub fn json(&self) -> Vec<Value> {
        parse_json_lines(&self.stdout, &self.what)
    }

    /// The `{"type":"file"}` lines.
    pub fn files(&self) -> Vec<Value> {
        of_type(&self.json(), "file")
    }

    /// The `{"type":"setid"}` lines.
    pub fn setids(&self) -> Vec<Value> {
        of_type(&self.json(), "setid")
    }

    /// Stdout as text; it is printable ASCII (checked after every run).
    pub fn text(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("stdout is ASCII")
    }

    pub fn lines(&self) -> Vec<String> {
        self.text().lines().map(str::to_owned).collect()
    }
}

/// Runs `bin args…` with `envs`, collecting both streams, killing it after a timeout.
pub fn run_cmd(bin: &Path, args: &[OsString], envs: &[(&str, &OsStr)]) -> Output {
    let what = format!(
        "homeostat {}",
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.env("NO_COLOR", "1").env("RUST_BACKTRACE", "1");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if start.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{what}` did not finish within {RUN_TIMEOUT:?} (hung on a FIFO?)");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = t_out.join().expect("stdout reader");
    let stderr = t_err.join().expect("stderr reader");
    let code = match status.code() {
        Some(c) => c,
        None => {
            use std::os::unix::process::ExitStatusExt;
            128 + status.signal().unwrap_or(0)
        }
    };
    let o = Output {
        what,
        code,
        stdout,
        stderr,
    };
    // Contract: no raw byte of a name reaches stdout, in JSON or text mode.
    assert_printable(&o.stdout, &o.what);
    o
}

/// Panics unless every byte is printable ASCII (0x20..=0x7e) or a newline.
pub fn assert_printable(bytes: &[u8], what: &str) {
    if let Some(pos) = bytes
        .iter()
        .position(|&b| b != b'\n' && !(0x20..=0x7e).contains(&b))
    {
        let lo = pos.saturating_sub(60);
        let hi = (pos + 20).min(bytes.len());
        panic!(
            "`{what}` wrote raw byte 0x{:02x} at stdout offset {pos}: {:?}",
            bytes[pos],
            String::from_utf8_lossy(&bytes[lo..hi])
        );
    }
}

/// Parses JSON lines; each line must be an object with a string `"type"`.
pub fn parse_json_lines(stdout: &[u8], what: &str) -> Vec<Value> {
    let text =
        std::str::from_utf8(stdout).unwrap_or_else(|e| panic!("`{what}`: stdout not UTF-8: {e}"));
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("`{what}`: stdout line is not JSON ({e}): {l:?}"));
            assert!(
                v.get("type").and_then(Value::as_str).is_some(),
                "`{what}`: JSON line without a string \"type\": {l}"
            );
            v
        })
        .collect()
}

pub fn of_type(lines: &[Value], t: &str) -> Vec<Value> {
    lines.iter().filter(|v| v["type"] == t).cloned().collect()
}

/// Panics unless the last JSON line is the summary the contract ends every command with.
pub fn assert_summary_last(o: &Output) {
    let lines = o.json();
    let last = lines
        .last()
        .unwrap_or_else(|| panic!("`{}` printed no JSON lines", o.what));
    assert_eq!(
        last["type"], "summary",
        "`{}`: last JSON line is not a summary: {last}",
        o.what
    );
}

// ---------------------------------------------------------------------------------------
// Escaping

/// The contract's path form: bytes outside 0x20..=0x7e, and `\`, as `\xNN` (lowercase).
pub fn esc(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        if (0x20..=0x7e).contains(&b) && b != b'\\' {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

/// The `file_changes.log` path form: [`esc`], and `,` as `\x2c` too.
pub fn esc_log(bytes: &[u8]) -> String {
    esc(bytes).replace(',', "\\x2c")
}

/// CFEngine's CanonifyName: every byte but `[A-Za-z0-9_]` becomes `_`.
pub fn canonify(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() {
                b as char
            } else {
                '_'
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Small file-system helpers (libc where std has no call)

pub fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("path with NUL")
}

pub fn bpath(bytes: &[u8]) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(bytes))
}

/// `utimensat` with exact (sec, nsec) pairs; `nofollow` for symlinks.
pub fn set_times(p: &Path, atime: (i64, i64), mtime: (i64, i64), nofollow: bool) {
    utimensat(p, timespec(atime), timespec(mtime), nofollow);
}

/// Sets only the mtime (exactly), leaving the atime alone.
pub fn set_mtime(p: &Path, mtime: (i64, i64), nofollow: bool) {
    let omit = libc::timespec {
        tv_sec: 0,
        tv_nsec: libc::UTIME_OMIT,
    };
    utimensat(p, omit, timespec(mtime), nofollow);
}

fn timespec((sec, nsec): (i64, i64)) -> libc::timespec {
    libc::timespec {
        tv_sec: sec as libc::time_t,
        tv_nsec: nsec as _,
    }
}

fn utimensat(p: &Path, atime: libc::timespec, mtime: libc::timespec, nofollow: bool) {
    let c = cpath(p);
    let ts = [atime, mtime];
    let flags = if nofollow {
        libc::AT_SYMLINK_NOFOLLOW
    } else {
        0
    };
    // SAFETY: c is a valid NUL-terminated path and ts points at two timespecs.
    let r = unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), ts.as_ptr(), flags) };
    assert_eq!(
        r,
        0,
        "utimensat {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
}

pub fn mkfifo(p: &Path, mode: u32) {
    let c = cpath(p);
    // SAFETY: c is a valid NUL-terminated path.
    let r = unsafe { libc::mkfifo(c.as_ptr(), mode as libc::mode_t) };
    assert_eq!(
        r,
        0,
        "mkfifo {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
    chmod(p, mode);
}

pub fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {:o} {}: {e}", mode, p.display()));
}

/// `lchown`; `None` leaves that id alone.
pub fn lchown(p: &Path, uid: Option<u32>, gid: Option<u32>) {
    std::os::unix::fs::lchown(p, uid, gid)
        .unwrap_or_else(|e| panic!("lchown {}: {e}", p.display()));
}

/// Sets an extended attribute; `Ok(false)` when the file system does not support it.
pub fn set_xattr(p: &Path, name: &str, value: &[u8]) -> std::io::Result<bool> {
    let c = cpath(p);
    let n = CString::new(name).expect("xattr name");
    // SAFETY: valid C strings and a buffer of the given length.
    let r = unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENOTSUP) => Ok(false),
        Some(libc::EPERM) | Some(libc::EACCES) => Ok(false),
        _ => Err(e),
    }
}

/// All extended attributes as sorted (name, value) pairs; `None` when there are none.
pub fn list_xattrs(p: &Path) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let c = cpath(p);
    // SAFETY: a null buffer with size 0 asks for the needed size.
    let n = unsafe { libc::llistxattr(c.as_ptr(), std::ptr::null_mut(), 0) };
    if n <= 0 {
        return None;
    }
    let mut buf = vec![0u8; n as usize];
    // SAFETY: buf has buf.len() bytes.
    let n = unsafe { libc::llistxattr(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n <= 0 {
        return None;
    }
    buf.truncate(n as usize);
    let mut out = Vec::new();
    for name in buf.split(|&b| b == 0).filter(|s| !s.is_empty()) {
        let cn = CString::new(name).expect("xattr name");
        // SAFETY: as above.
        let len = unsafe { libc::lgetxattr(c.as_ptr(), cn.as_ptr(), std::ptr::null_mut(), 0) };
        let mut val = vec![0u8; len.max(0) as usize];
        if len > 0 {
            // SAFETY: val has val.len() bytes.
            let l2 = unsafe {
                libc::lgetxattr(c.as_ptr(), cn.as_ptr(), val.as_mut_ptr().cast(), val.len())
            };
            val.truncate(l2.max(0) as usize);
        }
        out.push((name.to_vec(), val));
    }
    out.sort();
    if out.is_empty() {
        None
    } else {
        Some(out)
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    let d = sha2::Sha256::digest(data);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Waits long enough for the kernel's coarse timestamp clock to tick, so a change made
/// now gets a ctime/mtime different from one made just before (10 ms at HZ=100).
pub fn tick() {
    std::thread::sleep(Duration::from_millis(25));
}

pub fn now_epoch() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Deterministic pseudo-random bytes (xorshift64*).
pub fn rand_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        v.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    v.truncate(len);
    v
}

/// Deterministic config-like text of exactly `len` bytes.
pub fn text_bytes(seed: u64, len: usize) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "alpha", "beta", "kernel", "proxy", "cache", "mail", "cron", "audit", "ssh", "tls",
        "policy", "rules", "daemon", "worker", "store", "index",
    ];
    let r = rand_bytes(seed, len);
    let mut v = Vec::with_capacity(len + 16);
    let mut i = 0;
    while v.len() < len {
        let w = WORDS[r[i % len.max(1)] as usize % WORDS.len()];
        v.extend_from_slice(w.as_bytes());
        v.push(if i % 7 == 6 { b'\n' } else { b' ' });
        i += 1;
    }
    v.truncate(len);
    v
}

// ---------------------------------------------------------------------------------------
// The hostile tree

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

// ---------------------------------------------------------------------------------------
// The oracle: what the file system says

/// One entry as the test sees it with `lstat`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Obj {
    pub kind: &'static str,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
    pub inode: u64,
    pub nlink: u64,
    pub target: Option<Vec<u8>>,
    pub xattrs: Option<Vec<(Vec<u8>, Vec<u8>)>>,
    /// `sha256:<hex>` for regular files.
    pub content: Option<String>,
}

/// Absolute path bytes → entry.
pub type Snapshot = BTreeMap<Vec<u8>, Obj>;

fn kind_name(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_symlink() {
        "symlink"
    } else if ft.is_dir() {
        "directory"
    } else if ft.is_file() {
        "file"
    } else if ft.is_fifo() {
        "fifo"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_char_device() {
        "char-device"
    } else {
        "block-device"
    }
}

/// `lstat` (and hash) one path. `prev` lets an unchanged file keep its digest.
pub fn stat_obj(path: &Path, prev: Option<&Obj>) -> Obj {
    stat_obj_inner(path, prev, prev.is_some())
}

fn hash_file(path: &Path) -> Option<String> {
    Some(format!(
        "sha256:{}",
        sha256_hex(&std::fs::read(path).expect("read"))
    ))
}

/// Digest of a file seen by a baseline snapshot (no previous one). The trees are
/// deterministic, so the same name, size and nanosecond mtime mean the same content
/// in every fixture of this process: hash it once (the test crate's SHA-256 is
/// unoptimised). Never used once a tampering may have happened: those snapshots have
/// a previous one and hash whatever is not provably unchanged.
fn baseline_digest(path: &Path, o: &Obj) -> Option<String> {
    type Key = (Vec<u8>, u64, (i64, i64));
    static MEMO: OnceLock<std::sync::Mutex<BTreeMap<Key, Option<String>>>> = OnceLock::new();
    let key = (
        path.file_name()
            .map(|n| n.as_bytes().to_vec())
            .unwrap_or_default(),
        o.size,
        o.mtime,
    );
    let memo = MEMO.get_or_init(Default::default);
    if let Some(d) = memo.lock().expect("memo").get(&key) {
        return d.clone();
    }
    let d = hash_file(path);
    memo.lock().expect("memo").insert(key, d.clone());
    d
}

fn stat_obj_inner(path: &Path, prev: Option<&Obj>, prev_given: bool) -> Obj {
    let md =
        std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("lstat {}: {e}", path.display()));
    let kind = kind_name(md.file_type());
    let mut o = Obj {
        kind,
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        size: md.size(),
        mtime: (md.mtime(), md.mtime_nsec()),
        ctime: (md.ctime(), md.ctime_nsec()),
        inode: md.ino(),
        nlink: md.nlink(),
        target: None,
        xattrs: list_xattrs(path),
        content: None,
    };
    if kind == "symlink" {
        o.target = Some(
            std::fs::read_link(path)
                .expect("readlink")
                .into_os_string()
                .into_vec(),
        );
    }
    if kind == "file" {
        let reuse = prev.filter(|p| {
            p.kind == "file"
                && p.inode == o.inode
                && p.size == o.size
                && p.mtime == o.mtime
                && p.ctime == o.ctime
        });
        o.content = match reuse {
            Some(p) => p.content.clone(),
            None if prev_given => hash_file(path),
            None => baseline_digest(path, &o),
        };
    }
    o
}

/// Per path: added, removed, or the attributes that differ (in report order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delta {
    Added,
    Removed,
    Changed(Vec<&'static str>),
}

/// The attributes in which two records of one path differ, as the contract defines them.
pub fn differing(o: &Obj, n: &Obj) -> Vec<&'static str> {
    let content = match (&o.content, &n.content) {
        (Some(a), Some(b)) => a != b,
        (None, None) => false,
        _ => true,
    };
    let d = [
        o.kind != n.kind,
        o.mode != n.mode,
        o.uid != n.uid,
        o.gid != n.gid,
        o.size != n.size,
        o.mtime != n.mtime,
        o.ctime != n.ctime,
        o.inode != n.inode,
        o.nlink != n.nlink,
        o.target != n.target,
        o.xattrs != n.xattrs,
        content,
    ];
    ATTRS
        .iter()
        .zip(d)
        .filter(|(_, x)| *x)
        .map(|(a, _)| *a)
        .collect()
}

pub fn diff(before: &Snapshot, after: &Snapshot) -> BTreeMap<Vec<u8>, Delta> {
    let mut out = BTreeMap::new();
    for (p, o) in before {
        match after.get(p) {
            None => {
                out.insert(p.clone(), Delta::Removed);
            }
            Some(n) => {
                let d = differing(o, n);
                if !d.is_empty() {
                    out.insert(p.clone(), Delta::Changed(d));
                }
            }
        }
    }
    for p in after.keys() {
        if !before.contains_key(p) {
            out.insert(p.clone(), Delta::Added);
        }
    }
    out
}

/// The JSON value the contract gives `attr` of `o`. `None` for `xattrs` when there are
/// some (their digest's exact input is the binary's business; only its form is checked).
pub fn json_value(o: &Obj, attr: &str) -> Option<Value> {
    Some(match attr {
        "type" => Value::from(o.kind),
        "mode" => Value::from(format!("{:04o}", o.mode)),
        "uid" => Value::from(o.uid),
        "gid" => Value::from(o.gid),
        "size" => Value::from(o.size),
        "mtime" => Value::from(o.mtime.0),
        "ctime" => Value::from(o.ctime.0),
        "inode" => Value::from(o.inode),
        "nlink" => Value::from(o.nlink),
        "target" => o
            .target
            .as_deref()
            .map_or(Value::Null, |t| Value::from(esc(t))),
        "content" => o.content.clone().map_or(Value::Null, Value::from),
        "xattrs" => {
            if o.xattrs.is_some() {
                return None;
            }
            Value::Null
        }
        other => panic!("unknown attribute {other}"),
    })
}

fn is_digest_form(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.strip_prefix("sha256:").is_some_and(|h| {
            h.len() == 64
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
    })
}

/// Checks one `old`/`new` object value against the file system's.
fn check_value(v: Option<&Value>, o: &Obj, attr: &str, ctx: &str) {
    let v = v.unwrap_or_else(|| panic!("{ctx}: no value for \"{attr}\""));
    match json_value(o, attr) {
        Some(want) => assert_eq!(
            v, &want,
            "{ctx}: \"{attr}\" is {v}, the file system says {want}"
        ),
        None => assert!(
            is_digest_form(v),
            "{ctx}: \"xattrs\" should be \"sha256:<64 hex>\", got {v}"
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Fixtures

/// A temporary directory holding a tree, a state dir, a scratch dir (same file system,
/// outside the tree, for staging replacements) and a config.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub tree: PathBuf,
    pub state: PathBuf,
    pub scratch: PathBuf,
    pub config: PathBuf,
    pub info: TreeInfo,
}

impl Fixture {
    /// The standard hostile tree with the standard config.
    pub fn new() -> Fixture {
        let fx = Fixture::bare();
        let info = build_tree(&fx.tree);
        let fx = Fixture { info, ..fx };
        fx.write_config("", "");
        fx
    }

    /// An empty tree directory; the caller fills it and writes the config.
    pub fn bare() -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix("homeostat-e2e-")
            .tempdir()
            .expect("tempdir");
        let tree = dir.path().join("tree");
        let state = dir.path().join("state");
        let scratch = dir.path().join("scratch");
        for d in [&tree, &state, &scratch] {
            std::fs::create_dir(d).expect("mkdir");
        }
        let config = dir.path().join("homeostat.toml");
        Fixture {
            dir,
            tree,
            state,
            scratch,
            config,
            info: TreeInfo {
                as_root: is_root(),
                xattrs: false,
            },
        }
    }

    /// Writes the config: `top` goes before the `[[files]]` block, `files_extra` inside it.
    pub fn write_config(&self, top: &str, files_extra: &str) {
        let root = self.tree_str();
        let cfg = format!(
            "{top}\n[[files]]\npath = \"{root}\"\nhash = \"sha256\"\nattrs = \"all\"\ndepth = \"inf\"\n\
             exclude = [\"*.swp\", \"{root}/skip\"]\n{files_extra}\n"
        );
        std::fs::write(&self.config, cfg).expect("write config");
    }

    pub fn tree_str(&self) -> &str {
        self.tree.to_str().expect("temp dir path is UTF-8")
    }

    /// Absolute path bytes of `rel` (`b""` is the tree root).
    pub fn abs(&self, rel: &[u8]) -> Vec<u8> {
        let mut v = self.tree.as_os_str().as_bytes().to_vec();
        if !rel.is_empty() {
            v.push(b'/');
            v.extend_from_slice(rel);
        }
        v
    }

    pub fn path(&self, rel: &[u8]) -> PathBuf {
        bpath(&self.abs(rel))
    }

    pub fn db(&self) -> PathBuf {
        self.state.join("files.db")
    }

    pub fn log_path(&self) -> PathBuf {
        self.state.join("file_changes.log")
    }

    /// The log's bytes (empty when it does not exist).
    pub fn log_bytes(&self) -> Vec<u8> {
        match std::fs::read(self.log_path()) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("read log: {e}"),
        }
    }

    /// The handle the log uses for the tree: `files` + canonified root.
    pub fn handle(&self) -> String {
        format!("files{}", canonify(self.tree.as_os_str().as_bytes()))
    }

    /// `homeostat --config CFG --state-dir DIR ARGS…`
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_os(args.iter().map(OsString::from).collect())
    }

    pub fn run_os(&self, args: Vec<OsString>) -> Output {
        let mut all: Vec<OsString> = vec![
            "--config".into(),
            self.config.clone().into(),
            "--state-dir".into(),
            self.state.clone().into(),
        ];
        all.extend(args);
        let xdg = self.dir.path().join("xdg");
        let o = run_cmd(
            homeostat_bin(),
            &all,
            &[
                ("XDG_STATE_HOME", xdg.as_os_str()),
                ("HOME", self.dir.path().as_os_str()),
            ],
        );
        if all.iter().any(|a| a == "--json") {
            o.json(); // every line must be a JSON object with a "type"
        }
        o
    }

    /// Starts `homeostat --config CFG --state-dir DIR ARGS…` in the background (output
    /// discarded), for tests that kill it.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        Command::new(homeostat_bin())
            .arg("--config")
            .arg(&self.config)
            .arg("--state-dir")
            .arg(&self.state)
            .args(args)
            .env("XDG_STATE_HOME", self.dir.path().join("xdg"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn homeostat")
    }

    /// `init --json`, which must exit 0 and end with a summary.
    pub fn init(&self) -> Output {
        let o = self.run(&["--json", "init"]);
        o.expect_code(0);
        assert_summary_last(&o);
        o
    }

    /// Is this absolute path excluded by the standard config?
    pub fn excluded(&self, abs: &[u8]) -> bool {
        abs.ends_with(b".swp") || abs == self.abs(t::SKIP).as_slice()
    }

    /// The oracle's view of the whole tree (excluded entries left out, like the config).
    pub fn snapshot(&self, prev: Option<&Snapshot>) -> Snapshot {
        let mut out = Snapshot::new();
        let root = self.abs(b"");
        self.walk(&root, prev, &mut out);
        out
    }

    fn walk(&self, abs: &[u8], prev: Option<&Snapshot>, out: &mut Snapshot) {
        let path = bpath(abs);
        let o = stat_obj_inner(&path, prev.and_then(|p| p.get(abs)), prev.is_some());
        let is_dir = o.kind == "directory";
        out.insert(abs.to_vec(), o);
        if is_dir {
            let mut names: Vec<Vec<u8>> = std::fs::read_dir(&path)
                .expect("read_dir")
                .map(|e| e.expect("dirent").file_name().into_vec())
                .collect();
            names.sort();
            for n in names {
                let mut child = abs.to_vec();
                child.push(b'/');
                child.extend_from_slice(&n);
                if !self.excluded(&child) {
                    self.walk(&child, prev, out);
                }
            }
        }
    }

    /// The oracle's snapshot after init: the baseline the binary should have recorded.
    pub fn baseline(&self) -> Snapshot {
        self.snapshot(None)
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}

// ---------------------------------------------------------------------------------------
// Expectations and verification

/// What a scenario promises for one path.
#[derive(Clone, Debug)]
pub enum Spec {
    Added,
    Removed,
    /// Changed in exactly these attributes (report order).
    Changed(&'static [&'static str]),
    /// A directory whose entries changed: mtime and ctime, nlink when a subdirectory
    /// came or went, and size only where the file system counts entries in a
    /// directory's size (tmpfs, btrfs; ext4/xfs keep a block-sized size).
    Dir {
        nlink: bool,
    },
}

/// The check of a scenario: path → (raw absolute path, expected delta).
pub type Expected = BTreeMap<String, (Vec<u8>, Delta)>;

/// Holds the oracle's diff to the scenario's promises and returns the exact expectations.
pub fn resolve(
    fx: &Fixture,
    spec: &[(&[u8], Spec)],
    oracle: &BTreeMap<Vec<u8>, Delta>,
) -> Expected {
    let mut out = Expected::new();
    let want: BTreeMap<Vec<u8>, &Spec> = spec.iter().map(|(r, s)| (fx.abs(r), s)).collect();
    let got: BTreeSet<&Vec<u8>> = oracle.keys().collect();
    let wanted: BTreeSet<&Vec<u8>> = want.keys().collect();
    assert_eq!(
        got.iter().map(|p| esc(p)).collect::<Vec<_>>(),
        wanted.iter().map(|p| esc(p)).collect::<Vec<_>>(),
        "test precondition: the tampering touched other paths than the scenario says \
         (oracle: {oracle:?})"
    );
    for (abs, s) in want {
        let delta = &oracle[&abs];
        match (s, delta) {
            (Spec::Added, Delta::Added) | (Spec::Removed, Delta::Removed) => {}
            (Spec::Changed(attrs), Delta::Changed(d)) => assert_eq!(
                d.as_slice(),
                *attrs,
                "test precondition: the file system changed {} in {d:?}, the scenario says {attrs:?}",
                esc(&abs)
            ),
            (Spec::Dir { nlink }, Delta::Changed(d)) => {
                let mut core: Vec<&str> = d.iter().copied().filter(|a| *a != "size").collect();
                core.sort_unstable();
                let mut w = vec!["ctime", "mtime"];
                if *nlink {
                    w.push("nlink");
                }
                assert_eq!(
                    core,
                    w,
                    "test precondition: directory {} changed in {d:?}",
                    esc(&abs)
                );
            }
            _ => panic!("test precondition: {} is {delta:?}, the scenario says {s:?}", esc(&abs)),
        }
        out.insert(esc(&abs), (abs.clone(), delta.clone()));
    }
    out
}

/// The exit status a check must give for `exp`.
pub fn mask(exp: &Expected) -> i32 {
    exp.values().fold(0, |m, (_, d)| {
        m | match d {
            Delta::Added => 1,
            Delta::Removed => 2,
            Delta::Changed(_) => 4,
        }
    })
}

/// The JSON `file` events must be exactly `exp`, with the right attrs in order and
/// old/new values equal to what the file system had before and has now.
pub fn verify_json_events(o: &Output, exp: &Expected, before: &Snapshot, after: &Snapshot) {
    let events = o.files();
    let mut seen: BTreeMap<String, &Value> = BTreeMap::new();
    for e in &events {
        let p = e["path"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: event without a string path: {e}", o.what));
        assert!(
            seen.insert(p.to_owned(), e).is_none(),
            "{}: two events for {p}",
            o.what
        );
    }
    let got: Vec<&String> = seen.keys().collect();
    let want: Vec<&String> = exp.keys().collect();
    assert_eq!(
        got,
        want,
        "`{}`: reported paths differ from the expected ones\nevents: {}",
        o.what,
        events
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    for (p, (abs, delta)) in exp {
        let e = seen[p];
        let ctx = format!("`{}`: event {e}", o.what);
        let attrs: Vec<&str> = e["attrs"]
            .as_array()
            .unwrap_or_else(|| panic!("{ctx}: attrs is not an array"))
            .iter()
            .map(|a| {
                a.as_str()
                    .unwrap_or_else(|| panic!("{ctx}: attr not a string"))
            })
            .collect();
        match delta {
            Delta::Added => {
                assert_eq!(e["change"], "added", "{ctx}");
                assert!(attrs.is_empty(), "{ctx}: added with attrs {attrs:?}");
                assert!(
                    e.get("old").is_none_or(Value::is_null),
                    "{ctx}: added carries \"old\""
                );
                check_full(&e["new"], &after[abs], &ctx);
            }
            Delta::Removed => {
                assert_eq!(e["change"], "removed", "{ctx}");
                assert!(attrs.is_empty(), "{ctx}: removed with attrs {attrs:?}");
                assert!(
                    e.get("new").is_none_or(Value::is_null),
                    "{ctx}: removed carries \"new\""
                );
                check_full(&e["old"], &before[abs], &ctx);
            }
            Delta::Changed(want) => {
                assert_eq!(e["change"], "changed", "{ctx}");
                assert_eq!(&attrs, want, "{ctx}: attrs {attrs:?}, expected {want:?}");
                for (side, obj) in [("old", &before[abs]), ("new", &after[abs])] {
                    let m = e[side]
                        .as_object()
                        .unwrap_or_else(|| panic!("{ctx}: no \"{side}\" object"));
                    let keys: BTreeSet<&str> = m.keys().map(String::as_str).collect();
                    let wk: BTreeSet<&str> = want.iter().copied().collect();
                    assert_eq!(
                        keys, wk,
                        "{ctx}: \"{side}\" holds other attributes than attrs"
                    );
                    for a in want {
                        check_value(m.get(*a), obj, a, &format!("{ctx} ({side})"));
                    }
                }
                if want.contains(&"xattrs") {
                    assert_ne!(
                        e["old"]["xattrs"], e["new"]["xattrs"],
                        "{ctx}: xattrs listed but equal"
                    );
                }
            }
        }
    }
}

/// An added/removed event's object: every attribute that applies to the entry's type.
fn check_full(v: &Value, o: &Obj, ctx: &str) {
    let m = v
        .as_object()
        .unwrap_or_else(|| panic!("{ctx}: missing new/old object"));
    for a in ATTRS {
        let applies = match a {
            "target" => o.kind == "symlink",
            "content" => o.kind == "file",
            _ => true,
        };
        if applies {
            check_value(m.get(a), o, a, ctx);
        } else if let Some(x) = m.get(a) {
            assert!(
                x.is_null(),
                "{ctx}: \"{a}\" should be absent or null for a {}, got {x}",
                o.kind
            );
        }
    }
    for k in m.keys() {
        assert!(ATTRS.contains(&k.as_str()), "{ctx}: unknown attribute {k}");
    }
}

/// Text output: the documented line for every finding, and no documented finding line
/// for anything else.
pub fn verify_text(
    o: &Output,
    exp: &Expected,
    before: &Snapshot,
    after: &Snapshot,
    setid: &[(Vec<u8>, &str)],
) {
    let lines = o.lines();
    let count = |pred: &dyn Fn(&str) -> bool| lines.iter().filter(|l| pred(l)).count();
    let mut n_added = 0;
    let mut n_removed = 0;
    let mut n_hash = 0;
    let mut n_perm = 0;
    let all = o.text();
    for (p, (abs, delta)) in exp {
        match delta {
            Delta::Added => {
                n_added += 1;
                let want = format!("New file found: {p}");
                assert_eq!(
                    count(&|l| l == want),
                    1,
                    "`{}`: no line {want:?} in\n{all}",
                    o.what
                );
            }
            Delta::Removed => {
                n_removed += 1;
                let want = format!("File {p} no longer exists");
                assert_eq!(
                    count(&|l| l == want),
                    1,
                    "`{}`: no line {want:?} in\n{all}",
                    o.what
                );
            }
            Delta::Changed(attrs) => {
                if attrs.contains(&"content") {
                    n_hash += 1;
                    let want = format!("ALERT: Hash (sha256) for {p} changed!");
                    assert_eq!(
                        count(&|l| l == want),
                        1,
                        "`{}`: no line {want:?} in\n{all}",
                        o.what
                    );
                }
                if attrs.contains(&"mode") {
                    n_perm += 1;
                    let want = format!(
                        "Permissions for {p} changed {:04o} -> {:04o}",
                        before[abs].mode, after[abs].mode
                    );
                    assert_eq!(
                        count(&|l| l == want),
                        1,
                        "`{}`: no line {want:?} in\n{all}",
                        o.what
                    );
                }
                // Every changed attribute but ctime gets a line that names the path.
                let named =
                    count(&|l| l.ends_with(&format!(" {p}")) || l.contains(&format!(" {p} ")));
                let want_min = attrs.iter().filter(|a| **a != "ctime").count().max(1);
                assert!(
                    named >= want_min,
                    "`{}`: {named} lines name {p}, expected at least {want_min} (one per attribute {attrs:?}) in\n{all}",
                    o.what
                );
            }
        }
    }
    assert_eq!(
        count(&|l| l.starts_with("New file found: ")),
        n_added,
        "`{}`: extra added lines in\n{all}",
        o.what
    );
    assert_eq!(
        count(&|l| l.ends_with(" no longer exists")),
        n_removed,
        "`{}`: extra removed lines in\n{all}",
        o.what
    );
    assert_eq!(
        count(&|l| l.starts_with("ALERT: Hash")),
        n_hash,
        "`{}`: extra hash lines in\n{all}",
        o.what
    );
    assert_eq!(
        count(&|l| l.starts_with("Permissions for ")),
        n_perm,
        "`{}`: extra permission lines in\n{all}",
        o.what
    );
    for bit in ["SETUID", "SETGID"] {
        let prefix = format!("NEW {bit} root PROGRAM ");
        let mut want: Vec<String> = setid
            .iter()
            .filter(|(_, b)| b.to_ascii_uppercase() == bit)
            .map(|(abs, _)| format!("{prefix}{}", esc(abs)))
            .collect();
        want.sort();
        let mut got: Vec<String> = lines
            .iter()
            .filter(|l| l.starts_with(&prefix))
            .cloned()
            .collect();
        got.sort();
        assert_eq!(got, want, "`{}`: NEW {bit} lines in\n{all}", o.what);
    }
}

/// The JSON setid events must be exactly `want` (absolute path, "setuid"|"setgid").
pub fn verify_setid_json(o: &Output, want: &[(Vec<u8>, &str)], after: &Snapshot) {
    let mut got: Vec<(String, String)> = o
        .setids()
        .iter()
        .map(|e| {
            let p = e["path"].as_str().unwrap_or_default().to_owned();
            (p, e["bit"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    got.sort();
    let mut w: Vec<(String, String)> = want.iter().map(|(p, b)| (esc(p), b.to_string())).collect();
    w.sort();
    assert_eq!(got, w, "`{}`: setid events", o.what);
    for e in o.setids() {
        let abs = want
            .iter()
            .find(|(p, _)| esc(p) == e["path"])
            .map(|(p, _)| p)
            .expect("matched");
        let obj = &after[abs];
        assert_eq!(
            e["mode"],
            format!("{:04o}", obj.mode),
            "`{}`: setid mode {e}",
            o.what
        );
        assert_eq!(e["uid"], 0, "`{}`: setid uid {e}", o.what);
    }
}

/// One parsed `file_changes.log` line.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub epoch: i64,
    pub handle: String,
    pub path: String,
    pub letter: String,
    pub message: String,
}

pub fn parse_log(bytes: &[u8]) -> Vec<LogLine> {
    let text = std::str::from_utf8(bytes)
        .unwrap_or_else(|e| panic!("file_changes.log is not ASCII/UTF-8: {e}"));
    assert_printable(bytes, "file_changes.log");
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.splitn(5, ',').collect();
            assert_eq!(f.len(), 5, "file_changes.log line without 5 fields: {l:?}");
            LogLine {
                epoch: f[0]
                    .parse()
                    .unwrap_or_else(|_| panic!("file_changes.log: bad epoch in {l:?}")),
                handle: f[1].to_owned(),
                path: f[2].to_owned(),
                letter: f[3].to_owned(),
                message: f[4].to_owned(),
            }
        })
        .collect()
}

/// The (path, letter) multiset the contract gives `exp`: N, R, one C for content, one S
/// per other changed attribute except ctime.
pub fn log_letters(exp: &Expected) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for (abs, delta) in exp.values() {
        let p = esc_log(abs);
        match delta {
            Delta::Added => v.push((p, "N".to_owned())),
            Delta::Removed => v.push((p, "R".to_owned())),
            Delta::Changed(attrs) => {
                for a in attrs {
                    match *a {
                        "ctime" => {}
                        "content" => v.push((p.clone(), "C".to_owned())),
                        _ => v.push((p.clone(), "S".to_owned())),
                    }
                }
            }
        }
    }
    v.sort();
    v
}

/// `lines` (the log lines appended by `times` checks that each reported `exp`) must be
/// exactly the contract's letters, `times` over, with sane epoch/handle/message fields.
pub fn verify_log(fx: &Fixture, lines: &[LogLine], exp: &Expected, times: usize, t0: i64) {
    let t1 = now_epoch();
    let mut want = Vec::new();
    for _ in 0..times {
        want.extend(log_letters(exp));
    }
    want.sort();
    let mut got: Vec<(String, String)> = lines
        .iter()
        .map(|l| (l.path.clone(), l.letter.clone()))
        .collect();
    got.sort();
    assert_eq!(
        got, want,
        "file_changes.log (path, letter) lines differ from the findings\nlog: {lines:#?}"
    );
    for l in lines {
        assert!(
            l.epoch >= t0 - 2 && l.epoch <= t1 + 2,
            "file_changes.log epoch {} not in [{t0}, {t1}]",
            l.epoch
        );
        assert_eq!(l.handle, fx.handle(), "file_changes.log handle");
        assert!(
            !l.message.trim().is_empty(),
            "file_changes.log line without a message: {l:?}"
        );
    }
}

/// The log lines added since `prev_len` bytes.
pub fn new_log_lines(fx: &Fixture, prev_len: usize) -> Vec<LogLine> {
    let b = fx.log_bytes();
    assert!(b.len() >= prev_len, "file_changes.log shrank");
    parse_log(&b[prev_len..])
        .into_iter()
        .filter(|l| !(l.message.contains("SETUID") || l.message.contains("SETGID")))
        .collect()
}

/// The whole tampering scenario on a fresh fixture's tree (see the tests' docs):
///
/// 1. `init`; the oracle snapshots the baseline;
/// 2. `tamper`; the oracle snapshots again and must agree with `spec` (test precondition);
/// 3. `check --no-update` (text): exit bitmask, documented lines, `NEW SETUID` lines;
/// 4. plain `--json check`: exit bitmask, exactly the expected events with exact attrs
///    and values, setid events;
/// 5. `--json check` again: exit 0, nothing (the plain check accepted the change);
/// 6. `file_changes.log`: exactly the expected letters twice (steps 3 and 4), nothing
///    from init or step 5.
pub fn scenario(
    fx: &Fixture,
    tamper: impl FnOnce(&Fixture),
    spec: &[(&[u8], Spec)],
    setid: &[(&[u8], &str)],
) -> Expected {
    fx.init();
    assert!(
        fx.log_bytes().is_empty(),
        "init wrote file_changes.log lines"
    );
    let before = fx.baseline();
    tick();
    tamper(fx);
    let after = fx.snapshot(Some(&before));
    let oracle = diff(&before, &after);
    let exp = resolve(fx, spec, &oracle);
    let setid: Vec<(Vec<u8>, &str)> = setid.iter().map(|(r, b)| (fx.abs(r), *b)).collect();
    let code = mask(&exp);
    let t0 = now_epoch();

    let text = fx.run(&["check", "--no-update"]);
    text.expect_code(code);
    verify_text(&text, &exp, &before, &after, &setid);

    let js = fx.run(&["--json", "check"]);
    js.expect_code(code);
    verify_json_events(&js, &exp, &before, &after);
    verify_setid_json(&js, &setid, &after);
    assert_summary_last(&js);
    let log_after_checks = fx.log_bytes().len();

    let again = fx.run(&["--json", "check"]);
    again.expect_code(0);
    assert!(
        again.files().is_empty(),
        "plain check did not accept the change: {}",
        again.stdout_str()
    );
    assert!(
        again.setids().is_empty(),
        "setid said again after acceptance: {}",
        again.stdout_str()
    );
    assert_eq!(
        fx.log_bytes().len(),
        log_after_checks,
        "a clean check wrote file_changes.log lines"
    );

    verify_log(fx, &new_log_lines(fx, 0), &exp, 2, t0);
    exp
}

/// Writes `data` to `path` without truncating it first (same inode, same size).
pub fn overwrite_in_place(path: &Path, data: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open for write");
    f.write_all(data).expect("write");
    f.sync_all().expect("sync");
}
