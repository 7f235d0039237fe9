//! Making attacker-controlled bytes (file names, link targets) safe to print: the core's
//! [`homeostat_core::text::Escaped`] (every byte outside printable ASCII, and `\` itself,
//! becomes `\xNN`), as owned strings, and JSON string literals.

use std::fmt::Write;

use homeostat_core::text::{escaped_len, Escaped};

/// Escapes `bytes`; bytes in `extra` are escaped too (`,` for file_changes.log).
pub fn escape_with(bytes: &[u8], extra: &[u8]) -> String {
    let mut s = String::with_capacity(escaped_len(bytes, extra));
    let _ = write!(s, "{}", Escaped::with_extra(bytes, extra));
    s
}

pub fn escape(bytes: &[u8]) -> String {
    escape_with(bytes, &[])
}

/// A symlink target as a sentence shows it: `'…'`, escaped (bytes in `extra` too), or
/// `(none)` when there is none.
pub fn quoted_target(target: Option<&[u8]>, extra: &[u8]) -> String {
    target.map_or_else(
        || String::from("(none)"),
        |t| format!("'{}'", escape_with(t, extra)),
    )
}

/// A JSON string literal of text that is already printable ASCII or UTF-8.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Escapes free text that may hold attacker bytes (error messages quoting names):
/// printable ASCII passes, everything else is `\xNN`.
pub fn sanitize(text: &str) -> String {
    escape(text.as_bytes())
}

/// An error message as the lines printed on stderr: a message may hold line breaks (a
/// config error quotes the config), so each of its lines is printed as a line, escaped
/// on its own (no control byte, no raw `\r`). The first is `homeostat: …`; the others
/// are indented two spaces, so that no text quoted in an error can pass for an error line.
pub fn error_lines(msg: &str) -> Vec<String> {
    let mut out: Vec<String> = msg.lines().map(|l| format!("  {}", sanitize(l))).collect();
    match out.first_mut() {
        Some(first) => *first = format!("homeostat: {}", &first[2..]),
        None => out.push(String::from("homeostat: ")),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names() {
        assert_eq!(escape(b"caf\xe9"), "caf\\xe9");
        assert_eq!(escape(b"a\nb\x1b[31m"), "a\\x0ab\\x1b[31m");
        assert_eq!(escape(b"back\\slash"), "back\\x5cslash");
        assert_eq!(escape_with(b"a,b", b","), "a\\x2cb");
        assert_eq!(json_str("a\\x0a\"b"), "\"a\\\\x0a\\\"b\"");
    }

    #[test]
    fn config_errors_are_printed_as_lines_not_x0a() {
        let msg = "c.toml: TOML parse error at line 1\n  |\n1 | a = \x1b[2J\r\nhomeostat: fake";
        assert_eq!(
            error_lines(msg),
            [
                "homeostat: c.toml: TOML parse error at line 1",
                "    |",
                "  1 | a = \\x1b[2J",
                "  homeostat: fake",
            ]
        );
        assert_eq!(error_lines(""), ["homeostat: "]);
        assert_eq!(error_lines("one\tline"), ["homeostat: one\\x09line"]);
    }
}
