//! The seed's words: `ALERT: Hash (sha256) for /etc/passwd changed!`, `New file found: …`,
//! one line per finding on standard output; warnings on standard error. Every byte of a
//! name outside printable ASCII is written `\xNN`.

use std::io::{self, BufWriter, Write};

use homeostat_core::event::{
    Change, Event, FileChange, Measured, Sampled, Side, Summary, Value, Via, Warning,
};
use homeostat_core::feed::Sink;
use homeostat_core::fim::Attr;
use homeostat_core::package::{Cause, Package, Verified};

use super::timefmt::{utc, utc_ns};
use crate::output::escape::{escape, escape_with, quoted_target, sanitize};

/// Text on a stream (standard output, or a buffer in tests).
pub struct Text<W: Write> {
    out: W,
}

impl Text<BufWriter<io::Stdout>> {
    /// Text on standard output.
    pub fn stdout() -> Self {
        Text {
            out: BufWriter::with_capacity(64 * 1024, io::stdout()),
        }
    }
}

impl<W: Write> Text<W> {
    fn file(&mut self, f: &FileChange<'_>) -> io::Result<()> {
        self.found(f)?;
        // Scheduled findings read as they always have; others say how they were found.
        match f.via {
            Via::Scheduled => Ok(()),
            Via::Rescan => writeln!(self.out, "    (found by a full check after lost events)"),
            Via::Realtime(None) => writeln!(self.out, "    (seen in real time)"),
            Via::Realtime(Some(w)) => writeln!(
                self.out,
                "    (seen in real time: pid {} {} uid {})",
                w.pid,
                w.exe.map_or_else(|| String::from("(gone)"), escape),
                w.uid.map_or_else(|| String::from("?"), |u| u.to_string())
            ),
        }
    }

    fn found(&mut self, f: &FileChange<'_>) -> io::Result<()> {
        let p = escape(f.path);
        self.finding(f, &p)?;
        match &f.package {
            Some(pkg) => writeln!(
                self.out,
                "{p}: {}",
                package_sentence(pkg, f.change == Change::Removed, f.accepted)
            ),
            None => Ok(()),
        }
    }

    fn finding(&mut self, f: &FileChange<'_>, p: &str) -> io::Result<()> {
        match f.change {
            Change::Added => writeln!(self.out, "New file found: {p}"),
            Change::Removed => writeln!(self.out, "File {p} no longer exists"),
            Change::Changed => {
                if let (Some(o), Some(n)) = (f.old, f.new) {
                    for a in f.diff.iter() {
                        writeln!(self.out, "{}", changed_line(a, p, o, n))?;
                    }
                }
                Ok(())
            }
        }
    }

    fn warning(&mut self, w: &Warning<'_>) -> io::Result<()> {
        // Standard error interleaves with what standard output has shown so far.
        self.out.flush()?;
        super::stdio::say(&format!("warning: {}", warning_text(w)));
        Ok(())
    }

    fn measurement(&mut self, m: &Measured<'_>) -> io::Result<()> {
        let value = match m.value {
            Value::Count(n) => n.to_string(),
            Value::Int(n) => n.to_string(),
            Value::Real(x) if x.is_finite() => x.to_string(),
            Value::Real(_) => String::from("null"),
            Value::Text(s) => format!("\"{}\"", escape(s)),
            Value::Missing => String::from("(none)"),
        };
        let mut line = format!("{} = {value} ({})", m.name, m.kind.name());
        if let Some(keys) = m.keys.filter(|k| !k.is_empty()) {
            // The ten most frequent keys; JSON has them all. A key is any bytes of a log
            // line (spaces, `=`, `]` included): each is shown `"KEY"=COUNT`, escaped with
            // `"` too, so the quotes alone delimit it.
            let mut top: Vec<(String, u64)> = keys
                .iter()
                .map(|k| (format!("\"{}\"", escape_with(k.key, b"\"")), k.count))
                .collect();
            top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let shown: Vec<String> = top
                .iter()
                .take(10)
                .map(|(k, n)| format!("{k}={n}"))
                .collect();
            line.push_str(&format!(" [{}", shown.join(" ")));
            if top.len() > 10 {
                line.push_str(&format!(" +{} more", top.len() - 10));
            }
            line.push(']');
        }
        writeln!(self.out, "{line}")
    }

    /// A sample's row, for an observable with a value or a class: a host's many idle
    /// observables (`0.00 ± 0.00`, no class) are left to `state --all` and JSON.
    fn sample(&mut self, s: &Sampled<'_>) -> io::Result<()> {
        let o = s.outcome;
        let classes: Vec<_> = o.classes.names(s.name).collect();
        let classes: Vec<&str> = classes.iter().map(|c| c.as_str()).collect();
        if o.value == 0.0 && classes.is_empty() {
            return Ok(());
        }
        let e = s
            .entropy
            .map_or_else(String::new, |e| format!(" entropy {:.0}%", e * 100.0));
        writeln!(
            self.out,
            "{:<16} {:>10.2}  week {:>10.2} ± {:<8.2} local {:>10.2} ± {:<8.2} dev {:>6.2}{e}  {}",
            s.name,
            o.value,
            o.expect,
            o.stddev,
            o.local_expect,
            o.local_stddev,
            o.dev,
            classes.join(" ")
        )
    }

    fn summary(&mut self, s: &Summary<'_>) -> io::Result<()> {
        let c = s.counts;
        let mut unreadable = match c.unreadable {
            0 => String::new(),
            n => format!(", {n} unreadable"),
        };
        if c.accepted > 0 {
            unreadable.push_str(&format!(", {} accepted from packages", c.accepted));
        }
        writeln!(
            self.out,
            "homeostat {}: {} entries, {} added, {} removed, {} changed{unreadable}",
            s.command, c.entries, c.added, c.removed, c.changed
        )
    }
}

impl<W: Write> Sink for Text<W> {
    type Error = io::Error;

    fn event(&mut self, e: &Event<'_>) -> io::Result<()> {
        match e {
            Event::File(f) => self.file(f),
            Event::SetId(s) => {
                let word = if s.setuid { "SETUID" } else { "SETGID" };
                writeln!(self.out, "NEW {word} root PROGRAM {}", escape(s.path))
            }
            Event::Baseline(b) => writeln!(
                self.out,
                "homeostat: baseline of {} on {}, {} entries{}",
                utc(b.created),
                sanitize(b.host),
                b.count,
                if b.signed { ", signed" } else { "" }
            ),
            Event::NoBaseline { path } => writeln!(
                self.out,
                "homeostat: no file baseline yet; recording one in {}",
                escape(path)
            ),
            Event::Warning(w) => self.warning(w),
            Event::Measurement(m) => self.measurement(m),
            Event::Sample(s) => self.sample(s),
            Event::Ports(p) => {
                let items: Vec<String> = p
                    .listening
                    .iter()
                    .map(|l| format!("{}/{} on {}", l.proto, l.port, sanitize(l.addr)))
                    .collect();
                writeln!(self.out, "listening: {}", items.join(", "))
            }
            Event::Classes(c) => writeln!(self.out, "classes: {}", c.names.join(" ")),
            Event::Summary(s) => self.summary(s),
            Event::Process(p) => {
                let pids: Vec<String> = p.pids.iter().map(u32::to_string).collect();
                writeln!(
                    self.out,
                    "process {}: {} running, promised {}..{}: {}{}",
                    p.name,
                    p.count,
                    p.range.0,
                    p.range.1,
                    if p.in_range { "kept" } else { "BROKEN" },
                    if pids.is_empty() {
                        String::new()
                    } else {
                        format!(" (pids {})", pids.join(" "))
                    }
                )
            }
            Event::Port(p) => writeln!(
                self.out,
                "port {}: {}/{} {}, promised {}: {}",
                p.name,
                p.proto,
                p.port,
                if p.listening {
                    "listening"
                } else {
                    "not listening"
                },
                if p.expected {
                    "listening"
                } else {
                    "not listening"
                },
                if p.ok() { "kept" } else { "BROKEN" }
            ),
            Event::PortsChanged(c) => {
                let list = |ports: &[homeostat_core::event::Listening<'_>]| {
                    let items: Vec<String> = ports
                        .iter()
                        .map(|l| format!("{}/{} on {}", l.proto, l.port, sanitize(l.addr)))
                        .collect();
                    if items.is_empty() {
                        String::from("none")
                    } else {
                        items.join(", ")
                    }
                };
                writeln!(
                    self.out,
                    "listening ports changed: opened {}; closed {}",
                    list(c.opened),
                    list(c.closed)
                )
            }
            Event::Alert(a) => writeln!(self.out, "ALERT {}: {}", a.rule, sanitize(a.message)),
            Event::Peer(p) => writeln!(
                self.out,
                "peer {}: {} ({} added, {} removed, {} changed){}",
                sanitize(p.host),
                p.state.name(),
                p.added,
                p.removed,
                p.changed,
                if p.message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", sanitize(p.message))
                }
            ),
            Event::Gap(g) => writeln!(
                self.out,
                "NOT WATCHED from {} to {}: every tree checked again",
                utc(g.from),
                utc(g.to)
            ),
            Event::Restore(r) => writeln!(
                self.out,
                "{} {}: {}",
                if r.ok { "restored" } else { "NOT restored" },
                escape(r.path),
                sanitize(r.message)
            ),
            _ => Ok(()),
        }
    }

    fn commit(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// A warning's words after `homeostat: warning: `.
fn warning_text(w: &Warning<'_>) -> String {
    let (s, m) = (escape(w.source), sanitize(w.message));
    match w.measurement {
        Some(n) => format!("{}: {s}: {m}", sanitize(n)),
        None => format!("{s}: {m}"),
    }
}

/// One event in the words of the text sink, on one line (the sentences of a changed
/// file joined by `; `); `None` for events text does not show. Syslog's MSG.
pub fn render(e: &Event<'_>) -> Option<String> {
    if let Event::Warning(w) = e {
        return Some(warning_text(w));
    }
    let mut t = Text { out: Vec::new() };
    t.event(e).ok()?;
    let text = String::from_utf8_lossy(&t.out);
    let lines: Vec<&str> = text.lines().collect();
    (!lines.is_empty()).then(|| lines.join("; "))
}

/// The seed's sentence for one changed attribute.
fn changed_line(a: Attr, p: &str, o: Side<'_>, n: Side<'_>) -> String {
    let (om, nm) = (o.meta, n.meta);
    match a {
        Attr::Type => format!(
            "Type for {p} changed {} -> {}",
            om.kind.name(),
            nm.kind.name()
        ),
        Attr::Mode => format!(
            "Permissions for {p} changed {:04o} -> {:04o}",
            om.mode, nm.mode
        ),
        Attr::Uid => format!("Owner for {p} changed {} -> {}", om.uid, nm.uid),
        Attr::Gid => format!("Group for {p} changed {} -> {}", om.gid, nm.gid),
        Attr::Size => format!("Size for {p} changed {} -> {}", om.size, nm.size),
        Attr::Mtime => format!(
            "ALERT: Last modified time for {p} changed {} -> {}",
            utc_ns(om.mtime),
            utc_ns(nm.mtime)
        ),
        Attr::Ctime => format!(
            "Change time for {p} changed {} -> {}",
            utc_ns(om.ctime),
            utc_ns(nm.ctime)
        ),
        Attr::Inode => format!("Inode for {p} changed {} -> {}", om.inode, nm.inode),
        Attr::Nlink => format!("Link count for {p} changed {} -> {}", om.nlink, nm.nlink),
        Attr::Target => format!(
            "Symlink target for {p} changed {} -> {}",
            quoted_target(o.target, &[]),
            quoted_target(n.target, &[])
        ),
        Attr::Xattrs => format!("Extended attributes for {p} changed"),
        Attr::Content => {
            let alg = om
                .content
                .or(nm.content)
                .map_or("none", |d| d.algorithm().name());
            format!("ALERT: Hash ({alg}) for {p} changed!")
        }
    }
}

/// "upgrade of coreutils 9.1-1 -> 9.4-1, verified against the .deb": what the package
/// database says of a finding, every name escaped.
fn package_sentence(p: &Package<'_>, gone: bool, accepted: bool) -> String {
    let e = |s: Option<&str>| s.map_or_else(|| String::from("?"), |s| escape(s.as_bytes()));
    let name = escape(p.name.as_bytes());
    let what = match p.cause {
        Cause::Upgrade => format!("upgrade of {name} {} -> {}", e(p.from), e(p.to)),
        Cause::Install => format!("install of {name} {}", e(p.to)),
        Cause::Remove => format!("removal of {name} {}", e(p.from)),
        Cause::Unexplained => format!(
            "owned by {name} {}, no package transaction explains it",
            e(p.to)
        ),
    };
    let how = match (p.verified, p.cause) {
        (Verified::Deb, _) => ", verified against the .deb",
        (Verified::Md5sums, _) if gone => ", verified against the package's file list",
        (Verified::Md5sums, _) => ", verified against dpkg's md5sums",
        (Verified::Rpm, _) if gone => ", verified against the rpm database",
        (Verified::Rpm, _) => ", verified against the rpm header's digests",
        (Verified::None, Cause::Unexplained) => "",
        (Verified::None, _) => ", not verified",
    };
    let accepted = if accepted {
        "; accepted into the baseline"
    } else {
        ""
    };
    format!("{what}{how}{accepted}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_sentences_escape_names() {
        let p = Package {
            name: "core\x1b[2Jutils",
            arch: "amd64",
            from: Some("9.1-1"),
            to: Some("9.4-1"),
            verified: Verified::Deb,
            cause: Cause::Upgrade,
        };
        assert_eq!(
            package_sentence(&p, false, true),
            "upgrade of core\\x1b[2Jutils 9.1-1 -> 9.4-1, verified against the .deb; accepted into the baseline"
        );
        let gone = Package {
            to: None,
            verified: Verified::Md5sums,
            cause: Cause::Remove,
            ..p
        };
        assert!(package_sentence(&gone, true, false)
            .ends_with("9.1-1, verified against the package's file list"));
    }
}
