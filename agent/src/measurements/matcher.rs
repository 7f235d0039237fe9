//! Matching the lines of a log or a command's output: one multi-pattern matcher per
//! measurement, searching whole regions of lines at once, and what its matches add up to
//! (the tally, the counts per extracted key, the last string).

use std::collections::HashMap;

use homeostat_core::feed::LineSink;
use homeostat_core::logscan::{Kind, Tally};
use regex_automata::util::captures::Captures;
use regex_automata::{meta, Anchored, Input};

use crate::config::Measure;

/// Distinct keys counted per measurement and scan; more are counted as overflow.
pub const MAX_KEYS: usize = 10_000;
/// A key (an extracted group) is cut to this many bytes.
const MAX_KEY_LEN: usize = 256;
/// A `string` value is cut to this many bytes.
const MAX_STRING: usize = 1024;

/// What the matching lines of one measurement gave.
#[derive(Clone, Debug, Default)]
pub struct Acc {
    pub tally: Tally,
    pub keys: HashMap<Vec<u8>, u64>,
    pub keys_overflow: u64,
    pub last_string: Option<Vec<u8>>,
}

impl Acc {
    /// Adds what the lines after these gave.
    fn merge(&mut self, later: Acc) {
        self.tally.merge(&later.tally);
        for (k, n) in later.keys {
            if let Some(m) = self.keys.get_mut(&k) {
                *m += n;
            } else if self.keys.len() < MAX_KEYS {
                self.keys.insert(k, n);
            } else {
                self.keys_overflow += n;
            }
        }
        self.keys_overflow += later.keys_overflow;
        if later.last_string.is_some() {
            self.last_string = later.last_string;
        }
    }

    fn key(&mut self, k: &[u8]) {
        let k = &k[..k.len().min(MAX_KEY_LEN)];
        if let Some(n) = self.keys.get_mut(k) {
            *n += 1;
        } else if self.keys.len() < MAX_KEYS {
            self.keys.insert(k.to_vec(), 1);
        } else {
            self.keys_overflow += 1;
        }
    }
}

/// One measurement's matcher with its scratch space.
pub struct Matcher<'a> {
    m: &'a Measure,
    cache: meta::Cache,
    caps: Captures,
    /// The kind or `extract` needs capture groups (else a match is enough).
    groups: bool,
    pub acc: Acc,
    /// `acc` at the last checkpoint.
    mark: Acc,
    bt: regex_automata::nfa::thompson::backtrack::Cache,
    /// The backtracker's groups are laid out as the matcher's (one `Captures` serves both).
    bt_ok: bool,
}

impl<'a> Matcher<'a> {
    pub fn new(m: &'a Measure) -> Matcher<'a> {
        Matcher {
            m,
            cache: m.regex.create_cache(),
            caps: m.regex.create_captures(),
            groups: m.kind != Kind::Counter || m.extract.is_some(),
            acc: Acc::default(),
            mark: Acc::default(),
            bt: m.groups.create_cache(),
            bt_ok: {
                let (a, b) = (m.regex.group_info(), m.groups.get_nfa().group_info());
                a.pattern_len() == b.pattern_len()
                    && a.slot_len() == b.slot_len()
                    && a.all_group_len() == b.all_group_len()
            },
        }
    }
}

impl Matcher<'_> {
    /// Folds one matching line; `input` searches it (the whole line, or exactly a match
    /// already found, anchored to its pattern, which is faster to take groups from).
    fn groups(&mut self, line: &[u8], input: &Input<'_>, found: bool) {
        if found && self.bt_ok {
            // The span is exactly a match: only the groups are wanted, and the backtracker
            // takes them without the matcher's search for the match again.
            let r = self
                .m
                .groups
                .try_search(&mut self.bt, input, &mut self.caps);
            if r.is_err() {
                // Longer than the backtracker's memory bound: the general way.
                let whole = Input::new(line);
                self.m
                    .regex
                    .search_captures_with(&mut self.cache, &whole, &mut self.caps);
            }
        } else {
            self.m
                .regex
                .search_captures_with(&mut self.cache, input, &mut self.caps);
        }
        if !self.caps.is_match() {
            return;
        }
        let g1 = self.caps.get_group(1).map(|s| &line[s.range()]);
        self.acc.tally.add(self.m.kind, g1);
        if let Some(n) = self.m.extract {
            if let Some(s) = self.caps.get_group(n) {
                self.acc.key(&line[s.range()]);
            }
        }
        if self.m.kind == Kind::Str {
            let v = g1.unwrap_or(line);
            self.acc.last_string = Some(v[..v.len().min(MAX_STRING)].to_vec());
        }
    }
}

impl LineSink for Matcher<'_> {
    fn line(&mut self, line: &[u8]) {
        if !self.groups {
            if self
                .m
                .regex
                .search_half_with(&mut self.cache, &Input::new(line))
                .is_some()
            {
                self.acc.tally.lines += 1;
            }
            return;
        }
        self.groups(line, &Input::new(line), false);
    }

    fn checkpoint(&mut self) {
        self.mark = self.acc.clone();
    }

    fn rollback(&mut self) {
        self.acc = self.mark.clone();
    }

    /// Searches the whole region at once (no pattern matches a newline, so a match lies
    /// within its line), so that text without a match costs one pass of the matcher's
    /// prefilter and DFA; lines are split only where something matched.
    fn region(&mut self, r: &[u8]) {
        if !self.m.buffer_search {
            for l in r[..r.len().saturating_sub(1)].split(|b| *b == b'\n') {
                self.line(l);
            }
            return;
        }
        let mut at = 0;
        while at < r.len() && !self.groups {
            // A count needs no start: the forward search alone.
            let input = Input::new(r).span(at..r.len());
            let Some(h) = self.m.regex.search_half_with(&mut self.cache, &input) else {
                return;
            };
            let e = h.offset();
            // The region ends with a newline: an (empty) match at its very end lies on
            // no line (`^$` would count one more empty line per region).
            if e == r.len() {
                return;
            }
            let le = memchr::memchr(b'\n', &r[e..]).map_or(r.len(), |i| e + i);
            self.acc.tally.lines += 1;
            at = le + 1;
        }
        while at < r.len() {
            let input = Input::new(r).span(at..r.len());
            let Some(m) = self.m.regex.search_with(&mut self.cache, &input) else {
                break;
            };
            let s = m.start();
            if s == r.len() {
                break;
            }
            let ls = memchr::memrchr(b'\n', &r[at..s]).map_or(at, |i| at + i + 1);
            let le = memchr::memchr(b'\n', &r[s..]).map_or(r.len(), |i| s + i);
            if m.end() > le {
                // The match ran past its line: the line alone decides.
                self.line(&r[ls..le]);
            } else if !self.groups {
                self.acc.tally.lines += 1;
            } else {
                let line = &r[ls..le];
                let input = Input::new(line)
                    .range(s - ls..m.end() - ls)
                    .anchored(Anchored::Pattern(m.pattern()));
                self.groups(line, &input, true);
            }
            at = le + 1;
        }
    }
}

/// Regions at least this long are matched by two threads, when there are two cores.
const PARALLEL_REGION: usize = 256 * 1024;

/// The matchers of the measurements that share one read of a log, each with a twin that
/// takes the second half of large regions on another core.
pub struct Group<'a> {
    matchers: Vec<Matcher<'a>>,
    twins: Vec<Matcher<'a>>,
    parallel: bool,
}

impl<'a> Group<'a> {
    pub fn new(measures: impl Iterator<Item = &'a Measure> + Clone) -> Group<'a> {
        Group {
            matchers: measures.clone().map(Matcher::new).collect(),
            twins: measures.map(Matcher::new).collect(),
            parallel: std::thread::available_parallelism().is_ok_and(|n| n.get() > 1),
        }
    }

    pub fn into_accs(self) -> Vec<Acc> {
        self.matchers.into_iter().map(|m| m.acc).collect()
    }
}

impl LineSink for Group<'_> {
    fn region(&mut self, bytes: &[u8]) {
        let split = (self.parallel && bytes.len() >= PARALLEL_REGION)
            .then(|| memchr::memchr(b'\n', &bytes[bytes.len() / 2..]))
            .flatten()
            .map(|i| bytes.len() / 2 + i + 1)
            .filter(|&at| at < bytes.len());
        let Some(at) = split else {
            for m in &mut self.matchers {
                m.region(bytes);
            }
            return;
        };
        let (first, second) = bytes.split_at(at);
        let twins = &mut self.twins;
        std::thread::scope(|s| {
            s.spawn(|| {
                for t in twins.iter_mut() {
                    t.region(second);
                }
            });
            for m in &mut self.matchers {
                m.region(first);
            }
        });
        for (m, t) in self.matchers.iter_mut().zip(&mut self.twins) {
            m.acc.merge(std::mem::take(&mut t.acc));
        }
    }
    fn line(&mut self, line: &[u8]) {
        for m in &mut self.matchers {
            m.line(line);
        }
    }
    /// The twins' accumulators are emptied into the matchers' after every region: the
    /// matchers' hold everything.
    fn checkpoint(&mut self) {
        for m in &mut self.matchers {
            m.checkpoint();
        }
    }
    fn rollback(&mut self) {
        for m in &mut self.matchers {
            m.rollback();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_search_counts_each_line_once_and_never_across_lines() {
        let cfg = crate::config::Config::parse(
            r#"
[[measure]]
name = "a"
file = "/x"
match = ["b[^ ]*c", "^z", "q$"]
[[measure]]
name = "k"
file = "/x"
match = ['from ([^ ]+)']
extract = 1
"#,
            "t",
        )
        .unwrap();
        let text = b"xb\nc\nbc bc\nz\nq\nqq q\nab c\nzz\nfrom 1 from 2\nfrom\n3\n";
        let mut by_region = Matcher::new(&cfg.measures[0]);
        by_region.region(text);
        let mut by_line = Matcher::new(&cfg.measures[0]);
        for l in text[..text.len() - 1].split(|b| *b == b'\n') {
            by_line.line(l);
        }
        // "bc bc", "z", "q", "qq q", "zz"; "xb" + "c" spans two lines and does not count.
        assert_eq!(by_region.acc.tally.lines, 5);
        assert_eq!(by_line.acc.tally.lines, 5);
        let mut k = Matcher::new(&cfg.measures[1]);
        k.region(text);
        assert_eq!(k.acc.tally.lines, 1);
        assert_eq!(k.acc.keys.get(&b"1"[..]), Some(&1));
    }

    #[test]
    fn groups_from_a_region_equal_groups_from_lines() {
        let cfg = crate::config::Config::parse(
            r#"
[[measure]]
use = "ssh"
file = "/x"
[[measure]]
name = "n"
file = "/x"
match = ['port ([0-9]+)', '^#([0-9]+)$']
kind = "int"
extract = 1
"#,
            "t",
        )
        .unwrap();
        let mut text = Vec::new();
        for i in 0..2000u32 {
            let line = match i % 5 {
                0 => format!("Jan  1 h sshd[{i}]: Failed password for invalid user a from b from 10.0.{}.{} port {i} ssh2", i % 7, i % 3),
                1 => format!("Jan  1 h sshd-session[{i}]: Invalid user x y from 2001:db8::{} port {i}", i % 9),
                2 => format!("#{i}"),
                3 => format!("Jan  1 h sshd[{i}]: Connection closed by 10.1.1.{} port {i} [preauth]", i % 4),
                _ => format!("noise {} {}", "z".repeat((i % 300) as usize * 1000), i),
            };
            text.extend_from_slice(line.as_bytes());
            text.push(b'\n');
        }
        for m in &cfg.measures {
            let mut a = Matcher::new(m);
            a.region(&text);
            let mut b = Matcher::new(m);
            for l in text[..text.len() - 1].split(|c| *c == b'\n') {
                b.line(l);
            }
            assert_eq!(a.acc.tally, b.acc.tally, "{}", m.name);
            assert_eq!(a.acc.keys, b.acc.keys, "{}", m.name);
            assert!(a.acc.tally.lines > 0);
        }
    }
}
