//! FreeBSD feeds for homeostat (pfSense, OPNsense, TrueNAS).
//!
//! The parsers are pure functions over the bytes FreeBSD's tools print, compiled and
//! tested on every host against fixtures written from the FreeBSD 13 and 14 formats:
//! [`ps`] (`ps -axww -o …`), [`sockstat`] (`sockstat -46 -l -q`, `-c -q`), [`loadavg`]
//! (`sysctl -n vm.loadavg`), [`df`] (`df -kP`), [`utx`] (`/var/run/utx.active`) and
//! [`extattr`] (the `extattr_list_link(2)` buffer).
//! Only `live`, built for `target_os = "freebsd"`, runs the tools and implements the
//! core's [`ProcessSource`](homeostat_core::feed::ProcessSource),
//! [`SocketSource`](homeostat_core::feed::SocketSource) and
//! [`SystemSource`](homeostat_core::feed::SystemSource).
//!
//! Bytes from the system (process names above all) are attacker-influenced: they are kept
//! raw here and escaped by the agent's renderers; no parser turns them into lines.

pub mod df;
pub mod extattr;
pub mod loadavg;
pub mod ps;
pub mod pstable;
pub mod sockstat;
pub mod utx;

#[cfg(target_os = "freebsd")]
pub mod live;

use core::fmt;

/// The feeds this crate does not provide yet.
pub const MISSING: &[&str] = &[
    "extattr in file records (the calls exist: live::extattr_names)",
    "kqueue watch",
    "tcpdump packet counts",
];

/// Why a FreeBSD feed could not be read, for a person: what, where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub String);

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unreadable {}

/// A line of system output shown in an error, cut and escaped so that it can never
/// inject a line or a terminal escape into a report.
pub fn shown(line: &[u8]) -> String {
    const MAX: usize = 120;
    let cut = &line[..line.len().min(MAX)];
    let mut s: String = cut.escape_ascii().to_string();
    if line.len() > MAX {
        s.push('…');
    }
    s
}

/// Splits off the next field separated by ASCII spaces or tabs: `(field, rest)`, the rest
/// starting at the field's first byte after the separators.
pub(crate) fn field(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let start = s.iter().position(|b| *b != b' ' && *b != b'\t')?;
    let s = &s[start..];
    let end = s
        .iter()
        .position(|b| *b == b' ' || *b == b'\t')
        .unwrap_or(s.len());
    Some((&s[..end], &s[end..]))
}

/// A decimal number of ASCII digits only.
pub(crate) fn number<T: core::str::FromStr>(b: &[u8]) -> Option<T> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    core::str::from_utf8(b).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_escapes_and_cuts() {
        assert_eq!(shown(b"a\nb\x1b[31m"), "a\\nb\\x1b[31m");
        assert!(shown(&[b'x'; 500]).ends_with('…'));
    }

    #[test]
    fn fields() {
        assert_eq!(field(b"  12 ab"), Some((&b"12"[..], &b" ab"[..])));
        assert_eq!(field(b"   "), None);
        assert_eq!(number::<u32>(b"-1"), None);
        assert_eq!(number::<u32>(b"42"), Some(42));
    }
}
