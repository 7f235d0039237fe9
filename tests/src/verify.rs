//! Holding the binary's reports to the expectations and the oracle: JSON `file` events
//! with their old/new values, text lines, and setid events.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::expect::Expected;
use crate::run::Output;
use crate::snapshot::{Delta, Obj, Snapshot, ATTRS};
use crate::text::esc;

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
            Delta::Added => check_whole(e, &attrs, ("added", "old", "new"), &after[abs], &ctx),
            Delta::Removed => check_whole(e, &attrs, ("removed", "new", "old"), &before[abs], &ctx),
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

/// An added or removed event (`change`): no attrs, no `absent` side, and the `present`
/// side's object holds the whole entry `o`.
fn check_whole(
    e: &Value,
    attrs: &[&str],
    (change, absent, present): (&str, &str, &str),
    o: &Obj,
    ctx: &str,
) {
    assert_eq!(e["change"], change, "{ctx}");
    assert!(attrs.is_empty(), "{ctx}: {change} with attrs {attrs:?}");
    assert!(
        e.get(absent).is_none_or(Value::is_null),
        "{ctx}: {change} carries \"{absent}\""
    );
    check_full(&e[present], o, ctx);
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
    // The documented line `want` stands exactly once.
    let once = |want: String| {
        assert_eq!(
            count(&|l| l == want),
            1,
            "`{}`: no line {want:?} in\n{all}",
            o.what
        );
    };
    for (p, (abs, delta)) in exp {
        match delta {
            Delta::Added => {
                n_added += 1;
                once(format!("New file found: {p}"));
            }
            Delta::Removed => {
                n_removed += 1;
                once(format!("File {p} no longer exists"));
            }
            Delta::Changed(attrs) => {
                if attrs.contains(&"content") {
                    n_hash += 1;
                    once(format!("ALERT: Hash (sha256) for {p} changed!"));
                }
                if attrs.contains(&"mode") {
                    n_perm += 1;
                    once(format!(
                        "Permissions for {p} changed {:04o} -> {:04o}",
                        before[abs].mode, after[abs].mode
                    ));
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
    // No documented finding line for anything else.
    let only = |pred: &dyn Fn(&str) -> bool, n: usize, kind: &str| {
        assert_eq!(count(pred), n, "`{}`: extra {kind} lines in\n{all}", o.what);
    };
    only(&|l| l.starts_with("New file found: "), n_added, "added");
    only(&|l| l.ends_with(" no longer exists"), n_removed, "removed");
    only(&|l| l.starts_with("ALERT: Hash"), n_hash, "hash");
    only(&|l| l.starts_with("Permissions for "), n_perm, "permission");
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
