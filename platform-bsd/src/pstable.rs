//! The process table for the agent's `[processes]` promises, from one `ps` listing
//! ([`ARGS`]): `pid ppid pgid uid nlwp nice state tty vsz rss time etimes args`, headers
//! empty. Every column before `args` is one word, so the command line is the rest of the
//! line (`-ww`: any length; ps shows a process without one, a kernel thread, as
//! `[comm]`). `time` is FreeBSD's cumulative CPU time, `MINUTES:SS.hh`; `etimes` the
//! seconds since the start.

use crate::ps::{lines, BadLine};
use crate::{field, number, shown};

/// The `ps` arguments of [`parse`].
pub const ARGS: &[&str] = &[
    "-axww",
    "-o",
    "pid=,ppid=,pgid=,uid=,nlwp=,nice=,state=,tty=,vsz=,rss=,time=,etimes=,args=",
];

/// One process as promises select on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row<'a> {
    pub pid: u32,
    pub ppid: u32,
    pub pgid: u32,
    pub uid: u32,
    pub threads: u64,
    pub nice: i64,
    pub state: &'a [u8],
    /// `None` for `-`.
    pub tty: Option<&'a [u8]>,
    /// KiB.
    pub vsz: u64,
    /// KiB.
    pub rss: u64,
    /// CPU seconds, whole.
    pub cpu: u64,
    /// Seconds since the start.
    pub elapsed: u64,
    /// The command line, raw bytes.
    pub args: &'a [u8],
}

/// FreeBSD's `time` column (`M:SS.hh`, minutes unbounded) in whole seconds.
pub fn parse_cputime(w: &[u8]) -> Option<u64> {
    let colon = w.iter().position(|b| *b == b':')?;
    let minutes: u64 = number(&w[..colon])?;
    let rest = &w[colon + 1..];
    let secs = match rest.iter().position(|b| *b == b'.') {
        Some(dot) => {
            number::<u8>(&rest[dot + 1..])?;
            &rest[..dot]
        }
        None => rest,
    };
    let secs: u64 = number(secs)?;
    if secs > 59 {
        return None;
    }
    minutes.checked_mul(60)?.checked_add(secs)
}

fn nice(w: &[u8]) -> Option<i64> {
    match w.strip_prefix(b"-") {
        Some(n) => number::<i64>(n).map(|n| -n),
        None => number(w),
    }
}

/// Parses one line.
pub fn parse_line(line: &[u8]) -> Result<Row<'_>, &'static str> {
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
    let uid = n32(next("no uid")?, "uid is not a number")?;
    let threads = n64(next("no nlwp")?, "nlwp is not a number")?;
    let nice = nice(next("no nice")?).ok_or("nice is not a number")?;
    let state = next("no state")?;
    let tty = next("no tty")?;
    let vsz = n64(next("no vsz")?, "vsz is not a number")?;
    let rss = n64(next("no rss")?, "rss is not a number")?;
    let cpu = parse_cputime(next("no time")?).ok_or("time is not M:SS.hh")?;
    let elapsed = n64(next("no etimes")?, "etimes is not a number")?;
    let args = match rest.iter().position(|b| *b != b' ' && *b != b'\t') {
        Some(i) => &rest[i..],
        None => b"",
    };
    Ok(Row {
        pid,
        ppid,
        pgid,
        uid,
        threads,
        nice,
        state,
        tty: (tty != b"-").then_some(tty),
        vsz,
        rss,
        cpu,
        elapsed,
        args,
    })
}

/// Every line of an [`ARGS`] listing.
pub fn parse(out: &[u8]) -> (Vec<Row<'_>>, Vec<BadLine>) {
    let mut rows = Vec::new();
    let mut bads = Vec::new();
    for (i, line) in lines(out) {
        match parse_line(line) {
            Ok(r) => rows.push(r),
            Err(why) => bads.push(BadLine {
                line: i,
                why,
                text: shown(line),
            }),
        }
    }
    (rows, bads)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FreeBSD 14.1: kernel threads bracketed, a jailed php-fpm's title with spaces, a
    /// reniced daemon (-20), a very long command line.
    #[test]
    fn freebsd14_table() {
        let long = "a".repeat(50_000);
        let out = format!(
            "    0     0     0    0 530   0 DLs  -          0   4192   12:03.45 864012 [kernel]
  812     1   812    0   1   0 Ss   -      20784   9308    0:00.07 863990 sshd: /usr/sbin/sshd [listener] 0 of 10-100 startups
 4411     1  4411   80   4 -20 S    -     219340  51236 1234:56.78 400020 php-fpm: pool www
 1203   812  1203 1001   1   5 Ss+  pts/0  14364   4120    0:00.02   3605 -tcsh (tcsh)
 9000     1  9000 1001   1   0 S    -      14364   4120    0:00.00     10 /usr/local/bin/python3 {long}
"
        );
        let (rows, bads) = parse(out.as_bytes());
        assert!(bads.is_empty(), "{bads:?}");
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[0].args, b"[kernel]");
        assert_eq!(rows[0].cpu, 12 * 60 + 3);
        assert_eq!(rows[0].threads, 530);
        assert_eq!(
            rows[1].args,
            b"sshd: /usr/sbin/sshd [listener] 0 of 10-100 startups"
        );
        assert_eq!(
            (rows[2].nice, rows[2].cpu, rows[2].uid),
            (-20, 1234 * 60 + 56, 80)
        );
        assert_eq!(rows[3].tty, Some(&b"pts/0"[..]));
        assert_eq!(rows[3].nice, 5);
        assert_eq!(rows[3].args, b"-tcsh (tcsh)");
        assert_eq!(rows[4].args.len(), "/usr/local/bin/python3 ".len() + 50_000);
    }

    #[test]
    fn cputime_and_bad_lines() {
        assert_eq!(parse_cputime(b"0:00.07"), Some(0));
        assert_eq!(parse_cputime(b"61:01.00"), Some(3661));
        assert_eq!(parse_cputime(b"1:60.00"), None);
        assert_eq!(parse_cputime(b"1-02:03"), None);
        assert_eq!(parse_cputime(b":01.00"), None);
        let (rows, bads) =
            parse(b"1 0 1 0 1 0 S - 1 1 x 1 init\n2 0 2 0 1 -- S - 1 1 0:00.00 1 y\n");
        assert!(rows.is_empty());
        assert_eq!(bads[0].why, "time is not M:SS.hh");
        assert_eq!(bads[1].why, "nice is not a number");
    }
}
