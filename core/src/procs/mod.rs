//! Process promises: CFEngine's `process_select` and `process_count`, pure.
//!
//! A [`Select`] names the criteria a process must meet (owner, command, pid, ppid, pgid,
//! vsize, rss, ttime, stime, status, tty, priority, threads). Each criterion given that a
//! process meets defines a token of the same name; the `process_result` expression
//! ([`Select::result`], the grammar of [`crate::classes::expr`]) over those tokens decides
//! whether the process is selected. Without an expression every criterion given must hold
//! (they are ANDed), as in CFEngine HEAD; without any criterion every process is selected.
//!
//! [`count`] counts the selected processes of a table against a [`Range`] (`match_range`)
//! and keeps the lowest pids, ascending, in a fixed buffer: no allocation anywhere.
//!
//! Regular expressions (command, status, tty) are matched by the caller's [`Matcher`], so
//! the core carries no regex engine.
//!
//! # Example
//!
//! ```
//! use homeostat_core::procs::{class_name, token_index, Range};
//!
//! let range = Range::new(1, 4);
//! assert!(range.contains(2) && !range.contains(5));
//! let mut buf = [0u8; 64];
//! assert_eq!(class_name("sshd", true, &mut buf), Some("sshd_in_range"));
//! assert_eq!(class_name("sshd", false, &mut buf), Some("sshd_out_of_range"));
//! assert_eq!(token_index("owner"), Some(0));
//! ```

use crate::classes::expr::{self, ExprError};

#[cfg(test)]
mod tests;

/// At most this many pids are kept per promise (the lowest, ascending).
pub const MAX_PIDS: usize = 32;

/// One process as the selection sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessInfo<'a> {
    /// Process id.
    pub pid: u32,
    /// Parent's process id.
    pub ppid: u32,
    /// Process group id.
    pub pgid: u32,
    /// Effective uid.
    pub uid: u32,
    /// The user name of `uid`, empty when it has none.
    pub owner: &'a str,
    /// The command line, arguments joined by single spaces (`[comm]` when empty).
    pub command: &'a str,
    /// Virtual memory size, KiB.
    pub vsize: u64,
    /// Resident set size, KiB.
    pub rss: u64,
    /// Cumulative CPU time (user + system), seconds.
    pub ttime: u64,
    /// Start time, seconds since the epoch.
    pub stime: u64,
    /// State, as `ps` shows it (`R`, `S`, `D`, `Z`, `T`…).
    pub status: &'a str,
    /// Controlling terminal (`pts/3`, `tty1`), `?` for none.
    pub tty: &'a str,
    /// Nice value, −20..=19.
    pub priority: i64,
    /// Number of threads.
    pub threads: u64,
}

/// An inclusive range `[lo, hi]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range<T> {
    /// Lowest value inside.
    pub lo: T,
    /// Highest value inside.
    pub hi: T,
}

impl<T: PartialOrd + Copy> Range<T> {
    /// The range `[lo, hi]`.
    pub const fn new(lo: T, hi: T) -> Range<T> {
        Range { lo, hi }
    }

    /// Whether `v` lies within the range.
    pub fn contains(&self, v: T) -> bool {
        self.lo <= v && v <= self.hi
    }
}

/// A regular expression matcher supplied by the caller; it decides anchoring itself.
pub trait Matcher {
    /// Whether `text` matches.
    fn is_match(&self, text: &str) -> bool;
}

impl<F: Fn(&str) -> bool> Matcher for F {
    fn is_match(&self, text: &str) -> bool {
        self(text)
    }
}

/// One entry of an owner list: a user name or a numeric uid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner<'a> {
    /// Matches a process whose owner name is exactly this.
    Name(&'a str),
    /// Matches a process whose effective uid is this.
    Uid(u32),
}

impl Owner<'_> {
    /// Whether the process is owned by this entry.
    pub fn matches(&self, p: &ProcessInfo<'_>) -> bool {
        match *self {
            Owner::Name(n) => !p.owner.is_empty() && p.owner == n,
            Owner::Uid(u) => p.uid == u,
        }
    }
}

/// The token names of the criteria, as `process_result` names them.
pub const TOKENS: [&str; 13] = [
    "owner", "command", "pid", "ppid", "pgid", "vsize", "rss", "ttime", "stime", "status", "tty",
    "priority", "threads",
];

/// CFEngine's own names accepted as aliases in `process_result`.
const ALIASES: [(&str, usize); 2] = [("process_owner", 0), ("rsize", 6)];

/// The index in [`TOKENS`] of a name a `process_result` may use.
pub fn token_index(name: &str) -> Option<usize> {
    TOKENS
        .iter()
        .position(|t| *t == name)
        .or_else(|| ALIASES.iter().find(|(a, _)| *a == name).map(|(_, i)| *i))
}

/// The criteria of one `process_select`; `None` (or an empty owner list) is "not given".
#[derive(Clone, Copy, Debug)]
pub struct Select<'a, M> {
    /// Owner names or uids; any one matching defines `owner`.
    pub owner: &'a [Owner<'a>],
    /// Regex on the command line.
    pub command: Option<&'a M>,
    /// Pid range.
    pub pid: Option<Range<u64>>,
    /// Parent pid range.
    pub ppid: Option<Range<u64>>,
    /// Process group range.
    pub pgid: Option<Range<u64>>,
    /// Virtual size range, KiB.
    pub vsize: Option<Range<u64>>,
    /// Resident size range, KiB.
    pub rss: Option<Range<u64>>,
    /// CPU time range, seconds.
    pub ttime: Option<Range<u64>>,
    /// Start time range, epoch seconds.
    pub stime: Option<Range<u64>>,
    /// Regex on the state.
    pub status: Option<&'a M>,
    /// Regex on the terminal.
    pub tty: Option<&'a M>,
    /// Nice range.
    pub priority: Option<Range<i64>>,
    /// Thread count range.
    pub threads: Option<Range<u64>>,
    /// `process_result`: an expression over [`TOKENS`]; `None` ANDs every criterion given.
    pub result: Option<&'a str>,
}

impl<M> Default for Select<'_, M> {
    fn default() -> Self {
        Select {
            owner: &[],
            command: None,
            pid: None,
            ppid: None,
            pgid: None,
            vsize: None,
            rss: None,
            ttime: None,
            stime: None,
            status: None,
            tty: None,
            priority: None,
            threads: None,
            result: None,
        }
    }
}

fn range_bit(r: Option<Range<u64>>, v: u64) -> Option<bool> {
    r.map(|r| r.contains(v))
}

impl<M: Matcher> Select<'_, M> {
    /// Bit i set: criterion [`TOKENS`]`[i]` is given.
    pub fn given(&self) -> u16 {
        let flags = [
            !self.owner.is_empty(),
            self.command.is_some(),
            self.pid.is_some(),
            self.ppid.is_some(),
            self.pgid.is_some(),
            self.vsize.is_some(),
            self.rss.is_some(),
            self.ttime.is_some(),
            self.stime.is_some(),
            self.status.is_some(),
            self.tty.is_some(),
            self.priority.is_some(),
            self.threads.is_some(),
        ];
        flags
            .iter()
            .enumerate()
            .fold(0, |m, (i, f)| if *f { m | 1 << i } else { m })
    }

    /// Whether criterion `i` (an index in [`TOKENS`]) holds; `None` when it is not given.
    fn criterion(&self, i: usize, p: &ProcessInfo<'_>) -> Option<bool> {
        match i {
            0 => (!self.owner.is_empty()).then(|| self.owner.iter().any(|o| o.matches(p))),
            1 => self.command.map(|m| m.is_match(p.command)),
            2 => range_bit(self.pid, p.pid.into()),
            3 => range_bit(self.ppid, p.ppid.into()),
            4 => range_bit(self.pgid, p.pgid.into()),
            5 => range_bit(self.vsize, p.vsize),
            6 => range_bit(self.rss, p.rss),
            7 => range_bit(self.ttime, p.ttime),
            8 => range_bit(self.stime, p.stime),
            9 => self.status.map(|m| m.is_match(p.status)),
            10 => self.tty.map(|m| m.is_match(p.tty)),
            11 => self.priority.map(|r| r.contains(p.priority)),
            12 => range_bit(self.threads, p.threads),
            _ => None,
        }
    }

    /// The tokens process `p` defines: bit i for [`TOKENS`]`[i]`, given and met.
    pub fn tokens(&self, p: &ProcessInfo<'_>) -> u16 {
        (0..TOKENS.len()).fold(0, |m, i| {
            if self.criterion(i, p) == Some(true) {
                m | 1 << i
            } else {
                m
            }
        })
    }

    /// Whether `p` is selected. An error only for a `result` that does not parse
    /// (check it once with [`Select::check`] and this never fails).
    pub fn matches(&self, p: &ProcessInfo<'_>) -> Result<bool, ExprError> {
        match self.result {
            None => {
                // cheap numeric criteria first, regexes last; stop at the first miss
                const ORDER: [usize; 13] = [2, 3, 4, 5, 6, 7, 8, 11, 12, 0, 9, 10, 1];
                Ok(ORDER.iter().all(|&i| self.criterion(i, p) != Some(false)))
            }
            Some(e) => {
                let t = self.tokens(p);
                expr::eval(e, |name| {
                    token_index(name).is_some_and(|i| t & (1 << i) != 0)
                })
            }
        }
    }

    /// Checks the syntax of `result`, if any.
    pub fn check(&self) -> Result<(), ExprError> {
        self.result.map_or(Ok(()), expr::check)
    }
}

/// Names in a `process_result` expression that are not tokens (the first one, with its
/// byte offset), for a config check: CFEngine silently treats them as false.
pub fn unknown_token(result: &str) -> Option<(usize, &str)> {
    let b = result.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':') {
                i += 1;
            }
            let name = &result[start..i];
            if name != "true" && name != "false" && token_index(name).is_none() {
                return Some((start, name));
            }
        } else {
            i += 1;
        }
    }
    None
}

/// The lowest pids seen, ascending, at most [`MAX_PIDS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pids {
    buf: [u32; MAX_PIDS],
    len: usize,
}

impl Default for Pids {
    fn default() -> Self {
        Pids {
            buf: [0; MAX_PIDS],
            len: 0,
        }
    }
}

impl Pids {
    /// Adds `pid`, keeping the lowest [`MAX_PIDS`] in order (duplicates are kept once).
    pub fn insert(&mut self, pid: u32) {
        let at = self.buf[..self.len].partition_point(|&p| p < pid);
        if at < self.len && self.buf[at] == pid {
            return;
        }
        if at == MAX_PIDS {
            return;
        }
        let end = if self.len == MAX_PIDS {
            MAX_PIDS - 1
        } else {
            self.len += 1;
            self.len - 1
        };
        self.buf.copy_within(at..end, at + 1);
        self.buf[at] = pid;
    }

    /// The pids, ascending.
    pub fn as_slice(&self) -> &[u32] {
        &self.buf[..self.len]
    }
}

/// The outcome of one `process_count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counted {
    /// Processes selected.
    pub count: u64,
    /// The promised range (`match_range`).
    pub range: Range<u64>,
    /// Whether `count` lies in `range`: `in_range_define` applies, else `out_of_range_define`.
    pub in_range: bool,
    /// The lowest pids selected, ascending.
    pub pids: Pids,
}

/// Counts the processes of `table` that `select` selects against `range`.
pub fn count<'p, M: Matcher>(
    select: &Select<'_, M>,
    range: Range<u64>,
    table: impl IntoIterator<Item = &'p ProcessInfo<'p>>,
) -> Result<Counted, ExprError> {
    select.check()?;
    let mut n = 0u64;
    let mut pids = Pids::default();
    for p in table {
        if select.matches(p)? {
            n += 1;
            pids.insert(p.pid);
        }
    }
    Ok(Counted {
        count: n,
        range,
        in_range: range.contains(n),
        pids,
    })
}

/// The class a promise named `name` raises: `<name>_in_range` or `<name>_out_of_range`,
/// written into `out`; `None` if `out` is too small.
pub fn class_name<'o>(name: &str, in_range: bool, out: &'o mut [u8]) -> Option<&'o str> {
    let suffix: &[u8] = if in_range {
        b"_in_range"
    } else {
        b"_out_of_range"
    };
    let len = name.len() + suffix.len();
    let out = out.get_mut(..len)?;
    out[..name.len()].copy_from_slice(name.as_bytes());
    out[name.len()..].copy_from_slice(suffix);
    core::str::from_utf8(out).ok()
}
