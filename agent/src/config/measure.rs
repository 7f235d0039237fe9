//! `[[measure]]`: log and command measurements, their patterns compiled once.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use homeostat_core::logscan::{Aggregate, Kind};
use serde::Deserialize;

/// One log or command measurement (a `[[measure]]` block; a built-in handle expands to
/// several).
#[derive(Clone, Debug)]
pub struct Measure {
    pub name: String,
    pub source: MeasureSource,
    /// The patterns as written (the learner's observable table records them).
    #[allow(dead_code)]
    pub patterns: Vec<String>,
    /// Every pattern compiled into one multi-pattern matcher.
    pub regex: regex_automata::meta::Regex,
    /// The same patterns as a bounded backtracker, to take capture groups from a match the
    /// matcher already found (without searching for it again).
    pub groups: regex_automata::nfa::thompson::backtrack::BoundedBacktracker,
    pub kind: Kind,
    /// How `int` and `real` values combine (`sum` unless configured).
    pub aggregate: Aggregate,
    /// Read by the weekly learner integration; `scan` reports values only.
    #[allow(dead_code)]
    pub history: History,
    /// The capture group counted per key (`extract = N`), reported as `keys`.
    pub extract: Option<usize>,
    /// A match in a buffer of many lines is a match of its line (see [`buffer_search_ok`]).
    pub buffer_search: bool,
    /// The 1-based number of its `[[measure]]` block.
    pub block: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MeasureSource {
    File(PathBuf),
    /// Run `argv` (a `command` string runs as `/bin/sh -c STRING`); stopped after `timeout`.
    Command {
        argv: Vec<String>,
        timeout: Duration,
    },
}

/// What the learner does with a measurement: `weekly` makes it an observable with a learned
/// normal state; `scalar` keeps the value only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum History {
    Weekly,
    Scalar,
}

impl History {
    #[allow(dead_code)]
    pub fn name(self) -> &'static str {
        match self {
            History::Weekly => "weekly",
            History::Scalar => "scalar",
        }
    }
}

/// A command runs at most this long unless `timeout` says otherwise.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeasure {
    name: Option<String>,
    #[serde(rename = "use")]
    handle: Option<String>,
    file: Option<String>,
    command: Option<RawStrings>,
    #[serde(rename = "match")]
    patterns: Option<RawStrings>,
    kind: Option<String>,
    history: Option<String>,
    aggregate: Option<String>,
    extract: Option<i64>,
    timeout: Option<toml::Value>,
}

/// `match`, `command`: a string or a list of them.
#[derive(Debug)]
struct Strings;
impl super::loose::Accepts for Strings {
    const WHAT: &'static str = "a string or a list of strings";
}
type RawStrings = super::loose::Loose<Strings>;

/// Compiles `patterns` into one matcher: byte-oriented (as `LC_ALL=C grep`: `.` and
/// classes match any byte, `\w` is ASCII), `^`/`$` match at line boundaries, and nothing
/// in a pattern matches a newline (as in grep, where a line holds none), so a match found
/// in a buffer of many lines lies within one line.
///
/// The automaton is refused past [`PATTERN_NFA_MAX`], which bounds the cost of a line.
pub fn compile<P: AsRef<str>>(patterns: &[P]) -> Result<regex_automata::meta::Regex> {
    let build = |hirs: &[regex_syntax::hir::Hir]| {
        use regex_automata::meta;
        meta::Builder::new()
            .configure(
                meta::Config::new()
                    .utf8_empty(false)
                    .nfa_size_limit(Some(PATTERN_NFA_MAX)),
            )
            .build_many_from_hir(hirs)
            .map_err(Box::new)
    };
    let hirs = hirs(patterns)?;
    build(&hirs).map_err(|e| {
        if e.size_limit().is_none() {
            return anyhow!("match patterns cannot be compiled: {e}");
        }
        // Name the pattern that is too big alone, if one is.
        match hirs.iter().position(|h| build(std::slice::from_ref(h)).is_err()) {
            Some(i) => anyhow!(
                "match pattern {} '{}' is too costly: its automaton is larger than {PATTERN_NFA_MAX} bytes (the bound on the cost of matching a line); write `+` or `*` for long repetitions, counted ones {{m,n}} up to a few hundred",
                i + 1,
                patterns[i].as_ref()
            ),
            None => anyhow!(
                "the {} match patterns together are too costly: their automaton is larger than {PATTERN_NFA_MAX} bytes (the bound on the cost of matching a line); split them over several [[measure]] blocks",
                patterns.len()
            ),
        }
    })
}

/// The largest automaton (Thompson NFA, in bytes) of one measurement's patterns. A line
/// costs the matcher at most about (NFA states × line bytes) steps when its lazy DFA gives
/// up on a pattern (as `(\w{1,100}){1,100}z` makes it: 16 s per 64 KiB line), and lines
/// are cut at `LINE_MAX` (64 KiB); 64 KiB of NFA (~1,000 states) kept the worst pattern
/// tried under 0.2 s per 64 KiB line in a debug build, while the built-in handles and
/// real log patterns need under 16 KiB.
pub const PATTERN_NFA_MAX: usize = 64 << 10;

/// The patterns as a bounded backtracker with the same syntax as [`compile`].
pub fn backtracker<P: AsRef<str>>(
    patterns: &[P],
) -> Result<regex_automata::nfa::thompson::backtrack::BoundedBacktracker> {
    use regex_automata::nfa::thompson;
    let nfa = thompson::Compiler::new()
        .configure(
            thompson::Config::new()
                .utf8(false)
                .nfa_size_limit(Some(PATTERN_NFA_MAX)),
        )
        .build_many_from_hir(&hirs(patterns)?)
        .map_err(|e| anyhow!("match patterns cannot be compiled: {e}"))?;
    thompson::backtrack::Builder::new()
        .build_from_nfa(nfa)
        .map_err(|e| anyhow!("match patterns cannot be compiled: {e}"))
}

fn hirs<P: AsRef<str>>(patterns: &[P]) -> Result<Vec<regex_syntax::hir::Hir>> {
    let mut hirs = Vec::with_capacity(patterns.len());
    for (i, p) in patterns.iter().enumerate() {
        let hir = regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .multi_line(true)
            .build()
            .parse(p.as_ref())
            .map_err(|e| {
                anyhow!(
                    "match pattern {} ({:?}) is not a valid regular expression: {e}",
                    i + 1,
                    p.as_ref()
                )
            })?;
        hirs.push(without_newline(&hir));
    }
    Ok(hirs)
}

/// `hir` with `\n` taken out of every class, and literals holding one made to fail.
fn without_newline(hir: &regex_syntax::hir::Hir) -> regex_syntax::hir::Hir {
    use regex_syntax::hir::{
        Capture, Class, ClassBytes, ClassBytesRange, ClassUnicode, ClassUnicodeRange, Hir, HirKind,
        Repetition,
    };
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => hir.clone(),
        HirKind::Literal(l) if l.0.contains(&b'\n') => Hir::fail(),
        HirKind::Literal(_) => hir.clone(),
        HirKind::Class(Class::Bytes(c)) => {
            let mut c = c.clone();
            c.difference(&ClassBytes::new([ClassBytesRange::new(b'\n', b'\n')]));
            Hir::class(Class::Bytes(c))
        }
        HirKind::Class(Class::Unicode(c)) => {
            let mut c = c.clone();
            c.difference(&ClassUnicode::new([ClassUnicodeRange::new('\n', '\n')]));
            Hir::class(Class::Unicode(c))
        }
        HirKind::Repetition(r) => Hir::repetition(Repetition {
            min: r.min,
            max: r.max,
            greedy: r.greedy,
            sub: Box::new(without_newline(&r.sub)),
        }),
        HirKind::Capture(c) => Hir::capture(Capture {
            index: c.index,
            name: c.name.clone(),
            sub: Box::new(without_newline(&c.sub)),
        }),
        HirKind::Concat(v) => Hir::concat(v.iter().map(without_newline).collect()),
        HirKind::Alternation(v) => Hir::alternation(v.iter().map(without_newline).collect()),
    }
}

/// Whether a match found in a buffer of many lines is a match of its line alone: false
/// when a pattern anchors to the start or end of the text (`\A`, `\z`, `(?-m:^)`), which
/// a line alone has and a buffer has once.
pub fn buffer_search_ok<P: AsRef<str>>(patterns: &[P]) -> bool {
    use regex_syntax::hir::Look;
    patterns.iter().all(|p| {
        regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .multi_line(true)
            .build()
            .parse(p.as_ref())
            .is_ok_and(|h| {
                let looks = h.properties().look_set();
                !looks.contains(Look::Start) && !looks.contains(Look::End)
            })
    })
}

pub(super) fn measures(blocks: &[toml::Value], origin: &str) -> Result<Vec<Measure>> {
    let mut out: Vec<Measure> = Vec::new();
    for (i, v) in blocks.iter().enumerate() {
        let ctx = || format!("{origin}: [[measure]] block {}", i + 1);
        let raw: RawMeasure = v
            .clone()
            .try_into()
            .map_err(|e| anyhow!("{}: {e}", ctx()))?;
        for m in measure(raw, i + 1).with_context(ctx)? {
            if let Some(o) = out.iter().find(|o| o.name == m.name) {
                bail!(
                    "{origin}: [[measure]] block {}: name {:?} is already used by block {}",
                    m.block,
                    m.name,
                    o.block
                );
            }
            out.push(m);
        }
    }
    Ok(out)
}

fn strings(r: RawStrings, key: &str) -> Result<Vec<String>> {
    use super::loose::Loose;
    match r {
        Loose::Str(s) => Ok(vec![s]),
        Loose::List(v) => Ok(v),
        other => Err(other.refused(key)),
    }
}

fn measure(raw: RawMeasure, block: usize) -> Result<Vec<Measure>> {
    let history = |numeric: bool| -> Result<History> {
        match raw.history.as_deref() {
            None if numeric => Ok(History::Weekly),
            None => Ok(History::Scalar),
            Some("weekly") if numeric => Ok(History::Weekly),
            Some("weekly") => {
                bail!("history \"weekly\" needs a number: use \"scalar\" for a string")
            }
            Some("scalar") => Ok(History::Scalar),
            Some(h) => bail!("unknown history {h:?}: expected weekly or scalar"),
        }
    };
    let file = |f: &str| -> Result<PathBuf> {
        if !f.starts_with('/') {
            bail!("file {f:?} must be an absolute path");
        }
        Ok(PathBuf::from(f))
    };
    if let Some(h) = &raw.handle {
        let list = crate::measurements::handles::lookup(h).with_context(|| {
            format!(
                "unknown handle {h:?}: expected one of {}",
                crate::measurements::handles::NAMES
            )
        })?;
        if raw.command.is_some()
            || raw.patterns.is_some()
            || raw.kind.is_some()
            || raw.aggregate.is_some()
            || raw.extract.is_some()
            || raw.timeout.is_some()
        {
            bail!("`use = {h:?}` takes only `name`, `file` and `history`");
        }
        if raw.name.is_some() && list.len() != 1 {
            bail!(
                "handle {h:?} makes {} measurements: it takes no `name`",
                list.len()
            );
        }
        return list
            .iter()
            .map(|b| {
                let name = raw.name.clone().unwrap_or_else(|| b.name.to_string());
                Ok(Measure {
                    name,
                    source: MeasureSource::File(file(raw.file.as_deref().unwrap_or(b.file))?),
                    patterns: b.patterns.iter().map(|p| p.to_string()).collect(),
                    regex: compile(b.patterns)?,
                    groups: backtracker(b.patterns)?,
                    kind: b.kind,
                    aggregate: b.aggregate,
                    history: history(b.kind.numeric())?,
                    extract: b.extract,
                    buffer_search: buffer_search_ok(b.patterns),
                    block,
                })
            })
            .collect();
    }
    let name = raw
        .name
        .clone()
        .context("a measurement needs a `name` (or `use` for a built-in handle)")?;
    let kind = match raw.kind.as_deref() {
        None => Kind::Counter,
        Some(k) => Kind::from_name(k).with_context(|| {
            format!("unknown kind {k:?}: expected counter, int, real or string")
        })?,
    };
    let aggregate = match raw.aggregate.as_deref() {
        None => Aggregate::Sum,
        Some(a) if matches!(kind, Kind::Int | Kind::Real) => Aggregate::from_name(a)
            .with_context(|| format!("unknown aggregate {a:?}: expected sum or last"))?,
        Some(_) => bail!("`aggregate` applies to kind int or real only"),
    };
    let timeout = match raw.timeout {
        None => DEFAULT_COMMAND_TIMEOUT,
        Some(_) if raw.command.is_none() => bail!("`timeout` applies to a `command` only"),
        Some(t) => crate::config::duration::from_toml(&t).context("timeout")?,
    };
    let source = match (&raw.file, raw.command) {
        (Some(f), None) => MeasureSource::File(file(f)?),
        (None, Some(c)) => {
            let argv = match c {
                // One string is a shell command line.
                super::loose::Loose::Str(s) => {
                    vec!["/bin/sh".to_string(), "-c".to_string(), s]
                }
                c => strings(c, "command")?,
            };
            match argv.first() {
                Some(a) if a.starts_with('/') => {}
                _ => bail!("command must be a string (run by /bin/sh) or a list starting with an absolute path"),
            }
            MeasureSource::Command { argv, timeout }
        }
        (Some(_), Some(_)) => bail!("a measurement reads a `file` or a `command`, not both"),
        (None, None) => bail!("a measurement needs a `file` or a `command`"),
    };
    let patterns = raw
        .patterns
        .map(|p| strings(p, "match"))
        .transpose()?
        .unwrap_or_default();
    if patterns.is_empty() {
        bail!("a measurement needs `match`: a regular expression or a list of them");
    }
    let regex = compile(&patterns)?;
    let extract = match raw.extract {
        None => None,
        Some(n) if n >= 1 => Some(n as usize),
        Some(n) => bail!("extract = {n}: expected a capture group number, 1 or more"),
    };
    let info = regex.group_info();
    for (i, p) in patterns.iter().enumerate() {
        let groups = info.group_len(regex_automata::PatternID::new_unchecked(i));
        if matches!(kind, Kind::Int | Kind::Real) && groups < 2 {
            bail!("kind {} takes its value from capture group 1, and match pattern {} ({p:?}) has none", kind.name(), i + 1);
        }
        if let Some(n) = extract {
            if groups <= n {
                bail!(
                    "extract = {n}, and match pattern {} ({p:?}) has no capture group {n}",
                    i + 1
                );
            }
        }
    }
    let buffer_search = buffer_search_ok(&patterns);
    let groups = backtracker(&patterns)?;
    Ok(vec![Measure {
        name,
        source,
        patterns,
        regex,
        kind,
        aggregate,
        history: history(kind.numeric())?,
        extract,
        buffer_search,
        groups,
        block,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_automata::Input;
    use std::time::{Duration, Instant};

    /// Generous for a debug build on a shared machine; the worst measured is ~0.2 s.
    const LINE_BOUND: Duration = Duration::from_secs(2);

    #[test]
    fn hostile_pattern_cannot_stall_the_scan() {
        let e = compile(&["ok", r"(\w{1,100}){1,100}z"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(r"match pattern 2 '(\w{1,100}){1,100}z' is too costly"),
            "{e}"
        );
        assert!(
            e.contains(&format!("larger than {PATTERN_NFA_MAX} bytes")),
            "{e}"
        );
        assert!(backtracker(&[r"(\w{1,100}){1,100}z"]).is_err());
        // Patterns each small enough, too big together.
        let many: Vec<String> = (0..40)
            .map(|i| format!(r"(\w{{1,10}}){{1,10}}{i}"))
            .collect();
        let e = compile(&many).unwrap_err().to_string();
        assert!(
            e.contains("the 40 match patterns together are too costly"),
            "{e}"
        );
        // Whatever is accepted runs a 64 KiB line (the longest matched) within the bound.
        let line = vec![b'a'; homeostat_core::logscan::LINE_MAX];
        let mut accepted = 0;
        for p in [
            r"(\w{1,20}){1,20}z",
            r"(\w{1,22}){1,22}z",
            r"(.{1,22}){1,22}z",
            r"((a{1,5}){1,5}){1,12}z",
            r"(\w*\s?)*z",
            r"(a|aa){1,200}z",
            r"\w{1,600}z",
            r"(\w{1,30}){1,30}z",
            r"(\w{1,50}){1,50}z",
        ] {
            let Ok(re) = compile(&[p]) else {
                eprintln!("{p}: refused");
                continue;
            };
            accepted += 1;
            let mut cache = re.create_cache();
            let t = Instant::now();
            assert!(re
                .search_half_with(&mut cache, &Input::new(&line))
                .is_none());
            let took = t.elapsed();
            eprintln!("{p}: {took:?} for one 64 KiB line");
            assert!(took < LINE_BOUND, "{p}: {took:?} for one 64 KiB line");
        }
        assert!(accepted >= 5, "only {accepted} accepted");
    }

    #[test]
    fn ordinary_patterns_still_work_under_the_limit() {
        let p = [
            r"Failed password for (?:invalid user )?(\S+) from ([0-9a-f.:]+)",
            r#"^(\S+) \S+ \S+ \[[^\]]*\] "(GET|POST|HEAD) ([^ "]+) HTTP/[0-9.]+" ([0-9]{3}) ([0-9]+)"#,
        ];
        let re = compile(&p).unwrap();
        let bt = backtracker(&p).unwrap();
        assert_eq!(bt.get_nfa().pattern_len(), 2);
        let line =
            br#"203.0.113.9 - - [05/Dec/2026:04:00:00 +0000] "GET /index.html HTTP/1.1" 200 512"#;
        let m = re.find(Input::new(&line[..])).unwrap();
        assert_eq!(m.pattern().as_usize(), 1);
        assert!(re.is_match(Input::new(
            &b"sshd: Failed password for root from 198.51.100.4"[..]
        )));
    }
}
