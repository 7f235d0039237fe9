//! Small file-system helpers, libc where std has no call: path conversions, chmod,
//! lchown, mkfifo, utimensat, xattrs, in-place writes, and the clock (`tick`, `now_epoch`).

use std::ffi::{CString, OsStr};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

/// Writes `data` to `path` without truncating it first (same inode, same size).
pub fn overwrite_in_place(path: &Path, data: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open for write");
    f.write_all(data).expect("write");
    f.sync_all().expect("sync");
}
