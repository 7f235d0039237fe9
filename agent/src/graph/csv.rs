//! The learned week of one observable as CSV: one row per slot.

use std::fmt::Write;

use super::data::{slot_start, Series};
use crate::output::timefmt::utc;

/// The header row.
pub const HEADER: &str = "observable,slot,start,average,deviation,value,recorded,anomaly";

/// A CSV field (RFC 4180): quoted when it holds a comma, quote or line break, and a
/// leading `=`, `+`, `-` or `@` defused with `'` so a spreadsheet never runs it.
pub fn field(s: &str) -> String {
    let s = match s.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@') => format!("'{s}"),
        _ => s.to_string(),
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// The whole file: the header, then slots 0..2016. `value` and `recorded` (its time,
/// UTC) are empty where nothing was recorded in the last week.
pub fn render(series: &Series) -> String {
    let name = field(&series.name);
    let mut out = String::with_capacity(64 * (series.slots.len() + 1));
    out.push_str(HEADER);
    out.push('\n');
    for (i, s) in series.slots.iter().enumerate() {
        let _ = write!(out, "{name},{i},{},{},{},", slot_start(i), s.expect, s.dev);
        if let Some((v, t)) = s.recorded {
            let _ = write!(out, "{v},{}", utc(t));
        } else {
            out.push(',');
        }
        let _ = writeln!(out, ",{}", u8::from(s.anomaly));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::data::Slot;

    #[test]
    fn rows_and_hostile_fields() {
        assert_eq!(field("users"), "users");
        assert_eq!(field("a,\"b\""), "\"a,\"\"b\"\"\"");
        assert_eq!(field("=cmd()"), "'=cmd()");
        let s = Series {
            name: "users".into(),
            slots: vec![
                Slot {
                    expect: 2.5,
                    dev: 0.5,
                    recorded: Some((3.0, 1_704_067_200)),
                    anomaly: true,
                },
                Slot {
                    expect: 0.0,
                    dev: 0.0,
                    recorded: None,
                    anomaly: false,
                },
            ],
        };
        assert_eq!(
            render(&s),
            format!(
                "{HEADER}\nusers,0,Mon 00:00,2.5,0.5,3,2024-01-01T00:00:00Z,1\n\
                 users,1,Mon 00:05,0,0,,,0\n"
            )
        );
    }
}
