//! `[[process]]`: process promises (CFEngine `process_select` + `process_count`).
//!
//! Read field by field from the TOML value so that every error names the block and the
//! field. `command` is an unanchored regex on the command line (anchor it with `^`, as the
//! DESIGN example does); `status` and `tty` are anchored, as CFEngine's are.

use anyhow::{anyhow, bail, Result};
use homeostat_core::classes::expr;
use homeostat_core::procs::{self, Range};
use regex_automata::meta::Regex;
use toml::Value;

/// A compiled regex that `core::procs` can call.
#[derive(Clone, Debug)]
pub struct Re(pub Regex);

impl procs::Matcher for Re {
    fn is_match(&self, text: &str) -> bool {
        self.0.is_match(text)
    }
}

/// One owner entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnerSpec {
    /// A user name, matched against the name of the process's effective uid.
    Name(String),
    /// A numeric uid.
    Uid(u32),
}

/// One `[[process]]` block.
#[derive(Clone, Debug)]
pub struct ProcessPromise {
    /// `[A-Za-z0-9_]+`; prefixes the classes.
    pub name: String,
    pub command: Option<Re>,
    pub owner: Vec<OwnerSpec>,
    pub pid: Option<Range<u64>>,
    pub ppid: Option<Range<u64>>,
    pub pgid: Option<Range<u64>>,
    pub vsize: Option<Range<u64>>,
    pub rss: Option<Range<u64>>,
    pub ttime: Option<Range<u64>>,
    pub stime: Option<Range<u64>>,
    pub status: Option<Re>,
    pub tty: Option<Re>,
    pub priority: Option<Range<i64>>,
    pub threads: Option<Range<u64>>,
    /// `process_result` over the criteria; `None`: all given, ANDed.
    pub select: Option<String>,
    /// `match_range`.
    pub count: Range<u64>,
    pub in_range_define: Vec<String>,
    pub out_of_range_define: Vec<String>,
}

const FIELDS: [&str; 18] = [
    "name",
    "command",
    "owner",
    "pid",
    "ppid",
    "pgid",
    "vsize",
    "rss",
    "ttime",
    "stime",
    "status",
    "tty",
    "priority",
    "threads",
    "select",
    "count",
    "in_range_define",
    "out_of_range_define",
];

/// Whether `s` is a usable class name (or promise name): `[A-Za-z0-9_]+`.
pub fn is_class_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Every `[[process]]` block, in config order.
pub fn processes(raw: &[Value], origin: &str) -> Result<Vec<ProcessPromise>> {
    let mut out: Vec<ProcessPromise> = Vec::new();
    for (i, v) in raw.iter().enumerate() {
        let name = v.get("name").and_then(Value::as_str).unwrap_or("");
        let p = promise(v)
            .map_err(|e| anyhow!("{origin}: [[process]] block {} (name {name:?}): {e}", i + 1))?;
        if out.iter().any(|q| q.name == p.name) {
            bail!(
                "{origin}: [[process]] block {} (name {name:?}): name: used by an earlier block",
                i + 1
            );
        }
        out.push(p);
    }
    Ok(out)
}

fn promise(v: &Value) -> Result<ProcessPromise> {
    let t = v.as_table().ok_or_else(|| anyhow!("not a table"))?;
    if let Some(k) = t.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        bail!("{k}: unknown field (expected one of {})", FIELDS.join(", "));
    }
    let name = match t.get("name") {
        None => bail!("name: required"),
        Some(Value::String(s)) if is_class_name(s) => s.clone(),
        Some(_) => bail!("name: must be a string of [A-Za-z0-9_]"),
    };
    let select = match t.get("select") {
        None => None,
        Some(Value::String(s)) => {
            if let Err(e) = expr::check(s) {
                let col = s[..e.offset.min(s.len())].chars().count() + 1;
                bail!("select: {e} (column {col})");
            }
            if let Some((at, bad)) = procs::unknown_token(s) {
                let col = s[..at].chars().count() + 1;
                bail!(
                    "select: {bad:?} at column {col} is not a criterion (expected {})",
                    procs::TOKENS.join(", ")
                );
            }
            Some(s.clone())
        }
        Some(_) => bail!("select: must be a string"),
    };
    let count = range_u64(t.get("count"), "count")?.ok_or_else(|| anyhow!("count: required"))?;
    Ok(ProcessPromise {
        name,
        command: regex(t.get("command"), "command", false)?,
        owner: owners(t.get("owner"))?,
        pid: range_u64(t.get("pid"), "pid")?,
        ppid: range_u64(t.get("ppid"), "ppid")?,
        pgid: range_u64(t.get("pgid"), "pgid")?,
        vsize: range_u64(t.get("vsize"), "vsize")?,
        rss: range_u64(t.get("rss"), "rss")?,
        ttime: range_u64(t.get("ttime"), "ttime")?,
        stime: range_u64(t.get("stime"), "stime")?,
        status: regex(t.get("status"), "status", true)?,
        tty: regex(t.get("tty"), "tty", true)?,
        priority: range_i64(t.get("priority"), "priority")?.map(|(lo, hi)| Range::new(lo, hi)),
        threads: range_u64(t.get("threads"), "threads")?,
        select,
        count,
        in_range_define: classes(t.get("in_range_define"), "in_range_define")?,
        out_of_range_define: classes(t.get("out_of_range_define"), "out_of_range_define")?,
    })
}

fn regex(v: Option<&Value>, field: &str, anchored: bool) -> Result<Option<Re>> {
    let Some(v) = v else { return Ok(None) };
    let s = v
        .as_str()
        .ok_or_else(|| anyhow!("{field}: must be a string (a regex)"))?;
    let pattern = if anchored {
        format!("^(?:{s})$")
    } else {
        s.to_string()
    };
    Regex::new(&pattern)
        .map(|r| Some(Re(r)))
        .map_err(|e| anyhow!("{field}: bad regex {s:?}: {e}{}", unicode_classes_note(s)))
}

/// Why `\p{...}` fails in a build without the `unicode-classes` feature (the router set,
/// which leaves those tables out for size; `\w`, `\d`, `\s` stay Unicode-aware).
fn unicode_classes_note(pattern: &str) -> &'static str {
    if cfg!(not(feature = "unicode-classes"))
        && (pattern.contains("\\p") || pattern.contains("\\P"))
    {
        " (this build has no Unicode \\p{...} classes: they come with the `unicode-classes` feature)"
    } else {
        ""
    }
}

fn range_i64(v: Option<&Value>, field: &str) -> Result<Option<(i64, i64)>> {
    let Some(v) = v else { return Ok(None) };
    let bad = || anyhow!("{field}: must be a range [lo, hi] of two integers, lo <= hi");
    let a = v.as_array().ok_or_else(bad)?;
    match a.as_slice() {
        [lo, hi] => {
            let (lo, hi) = (
                lo.as_integer().ok_or_else(bad)?,
                hi.as_integer().ok_or_else(bad)?,
            );
            if lo > hi {
                return Err(bad());
            }
            Ok(Some((lo, hi)))
        }
        _ => Err(bad()),
    }
}

fn range_u64(v: Option<&Value>, field: &str) -> Result<Option<Range<u64>>> {
    match range_i64(v, field)? {
        None => Ok(None),
        Some((lo, _)) if lo < 0 => bail!("{field}: must not be negative"),
        Some((lo, hi)) => Ok(Some(Range::new(lo as u64, hi as u64))),
    }
}

fn owners(v: Option<&Value>) -> Result<Vec<OwnerSpec>> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let bad = || anyhow!("owner: must be a list of user names or uids");
    let list = v.as_array().ok_or_else(bad)?;
    if list.is_empty() {
        bail!("owner: empty list (leave it out to match any owner)");
    }
    list.iter()
        .map(|o| match o {
            Value::Integer(u) => u32::try_from(*u)
                .map(OwnerSpec::Uid)
                .map_err(|_| anyhow!("owner: uid {u} out of range")),
            Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s
                .parse()
                .map(OwnerSpec::Uid)
                .map_err(|_| anyhow!("owner: uid {s} out of range")),
            Value::String(s) if !s.is_empty() && !s.contains(['\n', ':', '\0']) => {
                Ok(OwnerSpec::Name(s.clone()))
            }
            _ => Err(bad()),
        })
        .collect()
}

fn classes(v: Option<&Value>, field: &str) -> Result<Vec<String>> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let bad = || anyhow!("{field}: must be a list of class names [A-Za-z0-9_]");
    v.as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|c| match c.as_str() {
            Some(s) if is_class_name(s) => Ok(s.to_string()),
            _ => Err(bad()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<ProcessPromise>> {
        let v: toml::Table = toml::from_str(text).unwrap();
        let list = v["process"].as_array().unwrap().clone();
        processes(&list, "t.toml")
    }

    // Whether `\p{Greek}` itself compiles cannot be asserted here: the dev-dependencies
    // (proptest) turn regex-syntax's Unicode tables back on in every test build. The
    // router binary's refusal is checked under QEMU by ci/router.sh.
    #[test]
    fn unicode_classes_note_follows_the_feature() {
        let note = unicode_classes_note(r"^\p{Greek}+$");
        if cfg!(feature = "unicode-classes") {
            assert_eq!(note, "");
        } else {
            assert!(note.contains("`unicode-classes` feature"), "{note}");
        }
        assert_eq!(unicode_classes_note(r"^\w+$"), "");
        // `\w` is Unicode-aware in every build.
        let v = Value::String(r"\w+".into());
        let re = regex(Some(&v), "command", true).unwrap().unwrap();
        assert!(re.0.is_match("héllo"));
    }

    #[test]
    fn full_block() {
        let p = parse(
            r#"[[process]]
name = "rogue_sleep"
command = '^sleep( |$)'
owner = ["nobody", 0, "1000"]
pid = [2, 99999]
priority = [-20, 0]
status = "S|R"
tty = "pts/.*"
select = "command.(owner|!tty)"
count = [0, 0]
in_range_define = ["fine"]
out_of_range_define = ["alarm", "page_me"]
"#,
        )
        .unwrap();
        let p = &p[0];
        assert_eq!(p.name, "rogue_sleep");
        assert_eq!(
            p.owner,
            [
                OwnerSpec::Name("nobody".into()),
                OwnerSpec::Uid(0),
                OwnerSpec::Uid(1000)
            ]
        );
        assert_eq!(p.pid, Some(Range::new(2, 99999)));
        assert_eq!(p.priority, Some(Range::new(-20, 0)));
        assert_eq!(p.count, Range::new(0, 0));
        assert!(p.status.as_ref().unwrap().0.is_match("S"));
        assert!(!p.status.as_ref().unwrap().0.is_match("SR"));
        assert!(p.command.as_ref().unwrap().0.is_match("sleep 300"));
        assert_eq!(p.out_of_range_define, ["alarm", "page_me"]);
    }

    #[test]
    fn errors_name_block_and_field() {
        let cases = [
            ("name = \"a-b\"\ncount=[0,0]", "name: must be"),
            ("name = \"a\"", "count: required"),
            ("name = \"a\"\ncount = [2, 1]", "count: must be a range"),
            (
                "name = \"a\"\ncount = [-1, 1]",
                "count: must not be negative",
            ),
            (
                "name = \"a\"\ncount = [0,0]\ncommand = \"(\"",
                "command: bad regex",
            ),
            (
                "name = \"a\"\ncount = [0,0]\nowner = []",
                "owner: empty list",
            ),
            (
                "name = \"a\"\ncount = [0,0]\nowner = [1.5]",
                "owner: must be",
            ),
            (
                "name = \"a\"\ncount = [0,0]\nrss = 5",
                "rss: must be a range",
            ),
            (
                "name = \"a\"\ncount = [0,0]\ncolour = 5",
                "colour: unknown field",
            ),
            (
                "name = \"a\"\ncount = [0,0]\nin_range_define = [\"x y\"]",
                "in_range_define: must be",
            ),
            (
                "name = \"a\"\ncount = [0,0]\nselect = \"command.(owner\"",
                "column 9",
            ),
            (
                "name = \"a\"\ncount = [0,0]\nselect = \"command..owner\"",
                "column 9",
            ),
            (
                "name = \"a\"\ncount = [0,0]\nselect = \"command.ownr\"",
                "\"ownr\" at column 9",
            ),
        ];
        for (body, want) in cases {
            let text = format!("[[process]]\nname = \"ok\"\ncount = [0, 0]\n[[process]]\n{body}\n");
            let e = format!("{:#}", parse(&text).unwrap_err());
            assert!(e.starts_with("t.toml: [[process]] block 2 ("), "{e}");
            assert!(e.contains(want), "{body:?}: {e}");
        }
        let e = parse(
            "[[process]]\nname = \"a\"\ncount = [0,0]\n[[process]]\nname = \"a\"\ncount = [0,0]\n",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("block 2 (name \"a\"): name: used by an earlier"),
            "{e}"
        );
    }
}
