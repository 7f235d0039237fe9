//! The binary's JSON-lines output: parsing it, picking lines by type, the closing summary.

use serde_json::Value;

use crate::run::Output;

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

/// The classes of the one `classes` line among `events`.
pub fn classes(events: &[Value]) -> Vec<String> {
    let c = of_type(events, "classes");
    assert_eq!(c.len(), 1, "one classes event: {events:?}");
    c[0]["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
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
