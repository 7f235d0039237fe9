//! The FreeBSD feeds: the core's source traits over `ps`, `sockstat`, `sysctl`, `df` and
//! `utx.active`, each run by its absolute path (no `PATH` lookup) with `LC_ALL=C`.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use homeostat_core::feed::{DiskSpace, Notes, Process, ProcessSource, SocketSource, SystemSource};

use crate::{df, loadavg, ps, shown, sockstat, utx, Unreadable};

/// `ps(1)`.
pub const PS: &str = "/bin/ps";
/// `sockstat(1)`.
pub const SOCKSTAT: &str = "/usr/bin/sockstat";
/// `sysctl(8)`.
pub const SYSCTL: &str = "/sbin/sysctl";
/// `df(1)`.
pub const DF: &str = "/bin/df";

/// Runs `program args…` and returns what it printed; an error names the command.
fn run(program: &str, args: &[&str]) -> Result<Vec<u8>, Unreadable> {
    let named = || format!("`{program} {}`", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Unreadable(format!("{}: could not run: {e}", named())))?;
    if !out.status.success() {
        let first = out.stderr.split(|b| *b == b'\n').next().unwrap_or(b"");
        return Err(Unreadable(format!(
            "{}: {}: \"{}\"",
            named(),
            out.status,
            shown(first)
        )));
    }
    Ok(out.stdout)
}

/// The processes, from `ps` ([`ps::ARGS`]); user names from the user database.
pub struct Processes {
    passwd: PathBuf,
}

impl Processes {
    /// Names owners from `passwd` (`/etc/passwd`).
    pub fn new(passwd: impl Into<PathBuf>) -> Processes {
        Processes {
            passwd: passwd.into(),
        }
    }
}

impl Default for Processes {
    fn default() -> Self {
        Processes::new("/etc/passwd")
    }
}

impl ProcessSource for Processes {
    type Error = Unreadable;
    fn processes(
        &mut self,
        each: &mut dyn FnMut(&Process<'_>),
        notes: &mut Notes<'_>,
    ) -> Result<(), Unreadable> {
        let out = run(PS, ps::ARGS)?;
        let db = match std::fs::read(&self.passwd) {
            Ok(db) => db,
            Err(e) => {
                notes(&format_args!(
                    "{}: {e}: processes have no user names",
                    self.passwd.display()
                ));
                Vec::new()
            }
        };
        let names = ps::passwd_names(&db);
        let (procs, bads) = ps::parse(&out);
        for b in bads {
            notes(&format_args!("{PS}: {b}"));
        }
        for p in procs {
            each(&Process {
                pid: p.pid,
                uid: p.uid,
                user: names.get(&p.uid).copied(),
                command: p.comm,
            });
        }
        Ok(())
    }
}

/// The sockets, from `sockstat` (the listening and the connected listings), each socket
/// once however many processes hold it.
#[derive(Default)]
pub struct Sockets;

impl SocketSource for Sockets {
    type Error = Unreadable;
    fn sockets(
        &mut self,
        each: &mut dyn FnMut(&homeostat_core::feed::Socket),
        notes: &mut Notes<'_>,
    ) -> Result<(), Unreadable> {
        let mut seen = sockstat::Unique::default();
        let mut failed = Vec::new();
        for (args, listen) in [
            (sockstat::ARGS_LISTENING, true),
            (sockstat::ARGS_CONNECTED, false),
        ] {
            let out = match run(SOCKSTAT, args) {
                Ok(out) => out,
                Err(e) => {
                    notes(&e);
                    failed.push(e.0);
                    continue;
                }
            };
            let (lines, bads) = sockstat::parse(&out, listen);
            for b in bads {
                notes(&format_args!("`{SOCKSTAT} {}`: {b}", args.join(" ")));
            }
            for l in lines {
                if seen.first(&l.socket) {
                    each(&l.socket);
                }
            }
        }
        if failed.len() == 2 {
            return Err(Unreadable(failed.join("; ")));
        }
        Ok(())
    }
}

/// Load (`sysctl vm.loadavg`), space on one file system (`df -kP`) and the login
/// sessions (`utx.active`).
pub struct System {
    disk: PathBuf,
    utx: PathBuf,
}

impl System {
    /// Measures the file system holding `disk` and reads sessions from `utx`.
    pub fn new(disk: impl Into<PathBuf>, utx: impl Into<PathBuf>) -> System {
        System {
            disk: disk.into(),
            utx: utx.into(),
        }
    }
}

impl Default for System {
    fn default() -> Self {
        System::new("/", utx::ACTIVE)
    }
}

impl SystemSource for System {
    type Error = Unreadable;
    fn load(&mut self) -> Result<f32, Unreadable> {
        let out = run(SYSCTL, loadavg::ARGS)?;
        loadavg::parse(&out).map(|l| l[0]).map_err(|why| {
            Unreadable(format!(
                "`{SYSCTL} -n vm.loadavg`: {why}: \"{}\"",
                shown(&out)
            ))
        })
    }

    fn disk(&mut self) -> Result<DiskSpace, Unreadable> {
        let path = self
            .disk
            .to_str()
            .ok_or_else(|| Unreadable(format!("{}: the path is not UTF-8", self.disk.display())))?;
        let mut args = df::ARGS.to_vec();
        args.extend(["--", path]);
        let out = run(DF, &args)?;
        df::parse(&out)
            .map_err(|why| Unreadable(format!("`{DF} -kP {path}`: {why}: \"{}\"", shown(&out))))
    }

    fn users(
        &mut self,
        each: &mut dyn FnMut(&[u8]),
        notes: &mut Notes<'_>,
    ) -> Result<(), Unreadable> {
        let file = match std::fs::read(&self.utx) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                notes(&format_args!("{}: none: no sessions", self.utx.display()));
                return Ok(());
            }
            Err(e) => return Err(Unreadable(format!("{}: {e}", self.utx.display()))),
        };
        let (sessions, tail) = utx::parse(&file);
        if tail != 0 {
            notes(&format_args!(
                "{}: {tail} bytes at the end are not a whole record",
                self.utx.display()
            ));
        }
        for s in sessions {
            each(s.user);
        }
        Ok(())
    }
}

/// The names of the extended attributes of `path` (not following a last symlink) in one
/// namespace (`user`: `true`; `system` otherwise), raw bytes; an error names the path.
#[allow(unsafe_code)]
pub fn extattr_names(path: &std::path::Path, user: bool) -> std::io::Result<Vec<Vec<u8>>> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let named = |e: std::io::Error| {
        std::io::Error::new(
            e.kind(),
            format!("extattr_list_link {}: {e}", path.display()),
        )
    };
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| named(std::io::Error::from(std::io::ErrorKind::InvalidInput)))?;
    let ns = if user {
        libc::EXTATTR_NAMESPACE_USER
    } else {
        libc::EXTATTR_NAMESPACE_SYSTEM
    };
    // The list may grow between sizing and reading: a full buffer is read again bigger.
    let mut buf: Vec<u8> = Vec::new();
    for _ in 0..4 {
        // SAFETY: `c` is a NUL-terminated path; a null buffer of size 0 asks only the size.
        let size = unsafe { libc::extattr_list_link(c.as_ptr(), ns, std::ptr::null_mut(), 0) };
        if size < 0 {
            return Err(named(std::io::Error::last_os_error()));
        }
        buf.resize(size as usize + 256, 0);
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
        let got =
            unsafe { libc::extattr_list_link(c.as_ptr(), ns, buf.as_mut_ptr().cast(), buf.len()) };
        if got < 0 {
            return Err(named(std::io::Error::last_os_error()));
        }
        let got = got as usize;
        if got < buf.len() {
            buf.truncate(got);
            let names = crate::extattr::parse_list(&buf)
                .map_err(|why| named(std::io::Error::new(std::io::ErrorKind::InvalidData, why)))?;
            return Ok(names.into_iter().map(<[u8]>::to_vec).collect());
        }
    }
    Err(named(std::io::Error::other(
        "the list kept growing while it was read",
    )))
}

/// The process table for promises ([`crate::pstable`]): the rows of one `ps` listing, its
/// bad lines said through `notes`.
pub fn process_table(notes: &mut Notes<'_>) -> Result<Vec<u8>, Unreadable> {
    let out = run(PS, crate::pstable::ARGS)?;
    for b in crate::pstable::parse(&out).1 {
        notes(&format_args!("{PS}: {b}"));
    }
    Ok(out)
}
