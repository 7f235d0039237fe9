//! The process table as FreeBSD's `ps(1)` prints it.
//!
//! [`ARGS`] asks for fixed columns first and the command name last
//! (`pid ppid pgid jid uid nlwp state tty vsz rss etimes comm`), all headers empty (`=`) so
//! that no header line is printed: every column before `comm` is one word (numbers, the
//! state letters, the tty name or `-` for none), so `comm` is the rest of the line, spaces
//! and all. The full command line comes from a second listing, [`ARGS_CMDLINE`]
//! (`pid args`), parsed by [`parse_cmdline`] the same way: `args` may be any length
//! (`-ww`) and hold any bytes but a newline.

use crate::{field, number, shown};

/// The `ps` arguments of [`parse`].
pub const ARGS: &[&str] = &[
    "-axww",
    "-o",
    "pid=,ppid=,pgid=,jid=,uid=,nlwp=,state=,tty=,vsz=,rss=,etimes=,comm=",
];

/// The `ps` arguments of [`parse_cmdline`].
pub const ARGS_CMDLINE: &[&str] = &["-axww", "-o", "pid=,args="];

/// One line of [`ARGS`]' listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proc<'a> {
    pub pid: u32,
    pub ppid: u32,
    pub pgid: u32,
    /// The jail id: 0 for the host.
    pub jid: u32,
    /// Effective user id.
    pub uid: u32,
    /// Threads.
    pub nlwp: u32,
    /// The state letters (`Ss`, `I`, `R+`, `DL`…).
    pub state: &'a [u8],
    /// The controlling terminal (`pts/0`, `v0`…); `None` for `-`.
    pub tty: Option<&'a [u8]>,
    /// Virtual size, KiB.
    pub vsz: u64,
    /// Resident set, KiB.
    pub rss: u64,
    /// Seconds since it started.
    pub elapsed: u64,
    /// The command name (`ki_comm`), raw bytes: spaces and escapes kept.
    pub comm: &'a [u8],
}

/// Why a line could not be parsed: which line (1-based) and what was wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub why: &'static str,
    /// The line, escaped and cut (see [`shown`]).
    pub text: String,
}

impl core::fmt::Display for BadLine {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "line {}: {}: \"{}\"", self.line, self.why, self.text)
    }
}

fn bad(line: usize, why: &'static str, text: &[u8]) -> BadLine {
    BadLine {
        line,
        why,
        text: shown(text),
    }
}

/// Parses one line of the [`ARGS`] listing.
pub fn parse_line(line: &[u8]) -> Result<Proc<'_>, &'static str> {
    let mut rest = line;
    let mut next = |what: &'static str| -> Result<&[u8], &'static str> {
        let (f, r) = field(rest).ok_or(what)?;
        rest = r;
        Ok(f)
    };
    let n32 = |b: &[u8], what| number::<u32>(b).ok_or(what);
    let n64 = |b: &[u8], what| number::<u64>(b).ok_or(what);
    let pid = n32(next("no pid")?, "pid is not a number")?;
    let ppid = n32(next("no ppid")?, "ppid is not a number")?;
    let pgid = n32(next("no pgid")?, "pgid is not a number")?;
    let jid = n32(next("no jid")?, "jid is not a number")?;
    let uid = n32(next("no uid")?, "uid is not a number")?;
    let nlwp = n32(next("no nlwp")?, "nlwp is not a number")?;
    let state = next("no state")?;
    let tty = next("no tty")?;
    let vsz = n64(next("no vsz")?, "vsz is not a number")?;
    let rss = n64(next("no rss")?, "rss is not a number")?;
    let elapsed = n64(next("no etimes")?, "etimes is not a number")?;
    // One separator, then the name to the end of the line (spaces included).
    let comm = match rest.iter().position(|b| *b != b' ' && *b != b'\t') {
        Some(i) => &rest[i..],
        None => return Err("no command name"),
    };
    Ok(Proc {
        pid,
        ppid,
        pgid,
        jid,
        uid,
        nlwp,
        state,
        tty: (tty != b"-").then_some(tty),
        vsz,
        rss,
        elapsed,
        comm,
    })
}

/// Every line of an [`ARGS`] listing: the processes, and the lines that were not one.
pub fn parse(out: &[u8]) -> (Vec<Proc<'_>>, Vec<BadLine>) {
    let mut procs = Vec::new();
    let mut bads = Vec::new();
    for (i, line) in lines(out) {
        match parse_line(line) {
            Ok(p) => procs.push(p),
            Err(why) => bads.push(bad(i, why, line)),
        }
    }
    (procs, bads)
}

/// Every line of an [`ARGS_CMDLINE`] listing: `(pid, command line)`; an empty command
/// line (a kernel thread shows its name in brackets, but a zombie may have none) is
/// empty bytes.
pub fn parse_cmdline(out: &[u8]) -> (Vec<(u32, &[u8])>, Vec<BadLine>) {
    let mut all = Vec::new();
    let mut bads = Vec::new();
    for (i, line) in lines(out) {
        let Some((pid, rest)) = field(line) else {
            bads.push(bad(i, "no pid", line));
            continue;
        };
        let Some(pid) = number::<u32>(pid) else {
            bads.push(bad(i, "pid is not a number", line));
            continue;
        };
        let start = rest
            .iter()
            .position(|b| *b != b' ' && *b != b'\t')
            .unwrap_or(rest.len());
        all.push((pid, &rest[start..]));
    }
    (all, bads)
}

/// The non-empty lines, numbered from 1, without their `\n` (nor a `\r` before it).
pub(crate) fn lines(out: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    out.split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.iter().all(|b| *b == b' ' || *b == b'\t'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FreeBSD 13.2 (a pfSense box): `ps -axww -o pid=,ppid=,pgid=,jid=,uid=,nlwp=,
    /// state=,tty=,vsz=,rss=,etimes=,comm=`. Kernel threads have no tty (`-`), one
    /// process sits in jail 3, one name has spaces, one is a login shell on `pts/0`.
    const PS13: &[u8] = b"    0     0     0   0    0 530 DLs  -          0   4192 864012 kernel
    1     0     1   0    0   1 ILs  -      11824   1088 864010 init
    2     0     0   0    0   2 DL   -          0     16 864012 KTLS
  812     1   812   0    0   1 Ss   -      20784   9308 863990 sshd
 1203   812  1203   0 1001   1 Ss   pts/0  14364   4120   3605 tcsh
 4411     1  4411   3   80   4 S    -     219340  51236 400020 php-fpm
 5120  1203  5120   0 1001   1 R+   pts/0  13556   2744      0 ps
 6001     1  6001   0 1001   1 S    -      12000   1000     30 my daemon name
";

    /// FreeBSD 14.1 (TrueNAS CORE style): the same columns; wider pids, a zombie, a
    /// console tty `v0`, a name with a tab-free trailing word.
    const PS14: &[u8] = b"     0      0      0  0     0 612 DLs  -        0   6400 1209600 kernel
 98765      1  98765  0     0   1 Is   v0   13900   2900   86400 getty
 99999  98765  99999  0     0   1 Z    -        0      0      12 <defunct>
";

    #[test]
    fn freebsd13_listing() {
        let (procs, bads) = parse(PS13);
        assert!(bads.is_empty(), "{bads:?}");
        assert_eq!(procs.len(), 8);
        assert_eq!(procs[0].comm, b"kernel");
        assert_eq!(procs[0].nlwp, 530);
        assert_eq!(procs[0].tty, None);
        let tcsh = procs[4];
        assert_eq!((tcsh.pid, tcsh.ppid, tcsh.uid), (1203, 812, 1001));
        assert_eq!(tcsh.tty, Some(&b"pts/0"[..]));
        assert_eq!(tcsh.state, b"Ss");
        let jailed = procs[5];
        assert_eq!((jailed.jid, jailed.uid, jailed.nlwp), (3, 80, 4));
        assert_eq!(
            (jailed.vsz, jailed.rss, jailed.elapsed),
            (219340, 51236, 400020)
        );
        assert_eq!(procs[7].comm, b"my daemon name");
        assert_eq!(procs[7].tty, None);
    }

    #[test]
    fn freebsd14_listing() {
        let (procs, bads) = parse(PS14);
        assert!(bads.is_empty(), "{bads:?}");
        assert_eq!(procs[1].tty, Some(&b"v0"[..]));
        assert_eq!(procs[1].pid, 98765);
        assert_eq!(procs[2].state, b"Z");
        assert_eq!(procs[2].comm, b"<defunct>");
    }

    #[test]
    fn hostile_names_stay_raw_and_bad_lines_are_named() {
        let out = b"  7 1 7 0 0 1 S - 1 1 1 evil\x1b[2J\rname\n  8 1 8 0 0 1 S - 1 1 1 \n9 x\nnot ps at all\n";
        let (procs, bads) = parse(out);
        assert_eq!(procs.len(), 1);
        // Raw bytes kept (the `\r` inside the name is not a line end).
        assert_eq!(procs[0].comm, b"evil\x1b[2J\rname");
        assert_eq!(bads.len(), 3);
        assert_eq!(bads[0].line, 2);
        assert_eq!(bads[0].why, "no command name");
        assert_eq!(bads[1].why, "ppid is not a number");
        assert_eq!(bads[2].why, "pid is not a number");
        let said = bads[2].to_string();
        assert_eq!(said, "line 4: pid is not a number: \"not ps at all\"");
        let esc = parse(b"\x1b[31m\n").1[0].to_string();
        assert!(!esc.contains('\x1b') && !esc.contains('\n'), "{esc}");
    }

    #[test]
    fn command_lines_long_with_spaces() {
        let long = "x".repeat(100_000);
        let out = format!(
            "    1 /sbin/init --\n  812 sshd: /usr/sbin/sshd [listener] 0 of 10-100 startups\n    2 [KTLS]\n 4411 php-fpm: pool www\n 9000 /usr/local/bin/python3.11 {long}\n 9001 \n"
        );
        let (all, bads) = parse_cmdline(out.as_bytes());
        assert!(bads.is_empty(), "{bads:?}");
        assert_eq!(all.len(), 6);
        assert_eq!(
            all[1],
            (
                812,
                &b"sshd: /usr/sbin/sshd [listener] 0 of 10-100 startups"[..]
            )
        );
        assert_eq!(all[2].1, b"[KTLS]");
        assert_eq!(all[4].1.len(), "/usr/local/bin/python3.11 ".len() + 100_000);
        assert_eq!(all[5], (9001, &b""[..]));
    }
}

/// The user names of a `passwd(5)` file (`name:password:uid:…`) by uid, raw bytes; the
/// first name of a uid wins, as `getpwuid` answers. Comments and bad lines are skipped.
pub fn passwd_names(db: &[u8]) -> std::collections::HashMap<u32, &[u8]> {
    let mut names = std::collections::HashMap::new();
    for line in db.split(|b| *b == b'\n') {
        if line.starts_with(b"#") {
            continue;
        }
        let mut f = line.split(|b| *b == b':');
        let (Some(name), Some(_), Some(uid)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if let (false, Some(uid)) = (name.is_empty(), number::<u32>(uid)) {
            names.entry(uid).or_insert(name);
        }
    }
    names
}

#[cfg(test)]
mod passwd_tests {
    #[test]
    fn freebsd_passwd() {
        let db = b"# $FreeBSD$\nroot:*:0:0:Charlie &:/root:/bin/sh\ntoor:*:0:0:Bourne-again Superuser:/root:\nwww:*:80:80:World Wide Web Owner:/nonexistent:/usr/sbin/nologin\nbroken\n:*:5:5::/:\nalice:*:1001:1001:Alice:/home/alice:/bin/tcsh\n";
        let n = super::passwd_names(db);
        assert_eq!(n[&0], b"root");
        assert_eq!(n[&80], b"www");
        assert_eq!(n[&1001], b"alice");
        assert!(!n.contains_key(&5));
        assert_eq!(n.len(), 3);
    }
}
