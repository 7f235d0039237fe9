//! `index.html`: every chart on one page, with the host, how far the learning is and the
//! classes of the last sample. Static HTML, no script; every string from outside (host
//! name, observable and class names) escaped.

use std::fmt::Write;

/// What the page says besides the charts.
pub struct Page<'a> {
    pub host: &'a str,
    /// "learning: 2 of 7 days …" or "learned from N samples".
    pub age: &'a str,
    /// When the page was made (UTC).
    pub made: &'a str,
    /// The classes of the last sample, and when it was taken (UTC), if ever.
    pub classes: &'a [String],
    pub classes_at: Option<&'a str>,
    /// `(observable, note)`: a chart per observable, in order; the note for an empty one.
    pub charts: &'a [(String, Option<String>)],
}

/// Text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {
                let _ = write!(out, "&#{};", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A file name as a relative URL: every byte but `[A-Za-z0-9_.-]` percent-encoded.
pub fn href(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;margin:1em 2em;color:#222}\
h1{font-size:1.4em}.classes{font-family:monospace}\
figure{margin:1em 0;border:1px solid #ccc;display:inline-block}\
figcaption{padding:2px 6px;background:#f4f4f4}.note{color:#a33}";

pub fn render(p: &Page<'_>) -> String {
    let host = escape(p.host);
    let mut o = String::with_capacity(1024 + 300 * p.charts.len());
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>homeostat: normal state of {host}</title><style>{STYLE}</style></head>\n<body>\n\
         <h1>Normal state of {host}</h1>\n<p class=\"age\">{}</p>\n<p>Made {}; times are UTC, \
         slots of five minutes from Monday 00:00.</p>\n",
        escape(p.age),
        escape(p.made)
    );
    let _ = match p.classes_at {
        None => writeln!(o, "<p class=\"classes\">No sample taken yet.</p>"),
        Some(at) if p.classes.is_empty() => {
            writeln!(
                o,
                "<p class=\"classes\">No class raised at {}.</p>",
                escape(at)
            )
        }
        Some(at) => {
            let list: Vec<String> = p.classes.iter().map(|c| escape(c)).collect();
            writeln!(
                o,
                "<p>Active classes at {}:</p>\n<p class=\"classes\">{}</p>",
                escape(at),
                list.join(" ")
            )
        }
    };
    for (name, note) in p.charts {
        let (n, link) = (escape(name), href(name));
        let _ = write!(
            o,
            "<figure id=\"obs-{link}\"><img src=\"{link}.svg\" width=\"960\" height=\"300\" \
             alt=\"{n}\"><figcaption>{n} · <a href=\"{link}.csv\">CSV</a>"
        );
        if let Some(note) = note {
            let _ = write!(o, " · <span class=\"note\">{}</span>", escape(note));
        }
        o.push_str("</figcaption></figure>\n");
    }
    o.push_str("</body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_strings_are_escaped() {
        let charts = [("a<b".to_string(), Some("no <i>samples".to_string()))];
        let classes = ["x\"onload=\"y".to_string()];
        let page = render(&Page {
            host: "<script>alert(1)</script>",
            age: "learning: 0 of 7 days",
            made: "2024-01-01T00:00:00Z",
            classes: &classes,
            classes_at: Some("2024-01-01T00:00:00Z"),
            charts: &charts,
        });
        assert!(!page.contains("<script>") && !page.contains("<i>"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("src=\"a%3Cb.svg\""));
        assert!(page.contains("x&quot;onload=&quot;y"));
        assert_eq!(page.matches("<figure").count(), 1);
    }
}
