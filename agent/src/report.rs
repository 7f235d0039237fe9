//! Rendering findings: the seed's text, JSON lines, and CFEngine's file_changes.log.

use std::fs::File;
use std::io::{self, BufWriter, Write};

use homeostat_core::fim::{Attr, Attrs, Entry, Kind};

use crate::escape::{escape, escape_with, json_str};
use crate::timefmt::utc_ns;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Added,
    Removed,
    Changed,
}

impl Change {
    fn name(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Changed => "changed",
        }
    }
}

/// One file finding, borrowed from the merge-join.
pub struct FileFinding<'a> {
    pub change: Change,
    pub path: &'a [u8],
    /// For `Changed`: what differs. Empty otherwise.
    pub diff: Attrs,
    /// What the tree watches: the values `added`/`removed` show.
    pub watched: Attrs,
    pub old: Option<&'a Entry<Vec<u8>>>,
    pub new: Option<&'a Entry<Vec<u8>>>,
    /// The tree's file_changes.log handle.
    pub handle: &'a str,
}

/// Counts of what a run reported.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    pub entries: u64,
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    pub unreadable: u64,
    pub warnings: u64,
}

impl Counts {
    /// `check`'s exit status: bit 1 added, 2 removed, 4 changed.
    pub fn exit_bits(&self) -> u8 {
        (self.added > 0) as u8 | ((self.removed > 0) as u8) << 1 | ((self.changed > 0) as u8) << 2
    }
}

/// Where findings go: stdout (text or JSON), and optionally file_changes.log.
pub struct Reporter {
    json: bool,
    out: BufWriter<io::Stdout>,
    log: Option<BufWriter<File>>,
    now: i64,
    pub counts: Counts,
}

impl Reporter {
    pub fn new(json: bool, now: i64) -> Reporter {
        Reporter {
            json,
            out: BufWriter::with_capacity(64 * 1024, io::stdout()),
            log: None,
            now,
            counts: Counts::default(),
        }
    }

    pub fn json(&self) -> bool {
        self.json
    }

    /// The stdout stream, for renderers of other kinds of lines (samples, classes).
    pub fn writer(&mut self) -> &mut impl Write {
        &mut self.out
    }

    /// Appends each file finding to `log` from now on.
    pub fn log_to(&mut self, log: File) {
        self.log = Some(BufWriter::new(log));
    }

    pub fn file(&mut self, f: &FileFinding<'_>) -> io::Result<()> {
        match f.change {
            Change::Added => self.counts.added += 1,
            Change::Removed => self.counts.removed += 1,
            Change::Changed => self.counts.changed += 1,
        }
        let p = escape(f.path);
        if self.json {
            let mut line = format!(
                "{{\"type\":\"file\",\"change\":\"{}\",\"path\":{},\"attrs\":[",
                f.change.name(),
                json_str(&p)
            );
            for (i, a) in f.diff.iter().enumerate() {
                line.push_str(if i > 0 { ",\"" } else { "\"" });
                line.push_str(a.name());
                line.push('"');
            }
            line.push(']');
            let shown = if f.change == Change::Changed {
                f.diff
            } else {
                f.watched
            };
            if let Some(old) = f.old {
                line.push_str(",\"old\":");
                line.push_str(&json_values(old, shown));
            }
            if let Some(new) = f.new {
                line.push_str(",\"new\":");
                line.push_str(&json_values(new, shown));
            }
            line.push('}');
            writeln!(self.out, "{line}")?;
        } else {
            match f.change {
                Change::Added => writeln!(self.out, "New file found: {p}")?,
                Change::Removed => writeln!(self.out, "File {p} no longer exists")?,
                Change::Changed => {
                    if let (Some(o), Some(n)) = (f.old, f.new) {
                        for a in f.diff.iter() {
                            writeln!(self.out, "{}", text_line(a, &p, o, n))?;
                        }
                    }
                }
            }
        }
        if let Some(log) = self.log.as_mut() {
            let lp = escape_with(f.path, b",");
            let mut line = |letter: char, msg: &str| {
                writeln!(log, "{},{},{},{},{}", self.now, f.handle, lp, letter, msg)
            };
            match f.change {
                Change::Added => line('N', "New file found")?,
                Change::Removed => line('R', "File removed")?,
                Change::Changed => {
                    if let (Some(o), Some(n)) = (f.old, f.new) {
                        if f.diff.contains(Attr::Content) {
                            line('C', "Content changed")?;
                        }
                        for a in f.diff.without(Attr::Content).without(Attr::Ctime).iter() {
                            line('S', &log_message(a, o, n))?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// CFEngine's set-id call-out.
    pub fn setid(&mut self, path: &[u8], setuid: bool, e: &Entry<Vec<u8>>) -> io::Result<()> {
        let p = escape(path);
        let (word, bit) = if setuid {
            ("SETUID", "setuid")
        } else {
            ("SETGID", "setgid")
        };
        if self.json {
            writeln!(
                self.out,
                "{{\"type\":\"setid\",\"t\":{},\"bit\":\"{bit}\",\"path\":{},\"mode\":\"{:04o}\",\"uid\":{}}}",
                self.now,
                json_str(&p),
                e.meta.mode,
                e.meta.uid
            )
        } else {
            writeln!(self.out, "NEW {word} root PROGRAM {p}")
        }
    }

    /// A problem that did not stop the run. `source` is the path it concerns.
    pub fn warning(&mut self, source: &[u8], message: &str) -> io::Result<()> {
        self.counts.warnings += 1;
        let s = escape(source);
        let m = escape(message.as_bytes());
        if self.json {
            writeln!(
                self.out,
                "{{\"type\":\"warning\",\"t\":{},\"source\":{},\"message\":{}}}",
                self.now,
                json_str(&s),
                json_str(&m)
            )
        } else {
            self.out.flush()?;
            eprintln!("homeostat: warning: {s}: {m}");
            Ok(())
        }
    }

    /// A log or command measurement. `value_json` is a JSON number, string or `null` and
    /// `value_text` the same value for text mode (both already escaped); `keys` holds the
    /// escaped keys and their counts when the measurement extracts keys.
    pub fn measurement(
        &mut self,
        name: &str,
        kind: &str,
        value_json: &str,
        value_text: &str,
        keys: Option<&[(String, u64)]>,
    ) -> io::Result<()> {
        if self.json {
            let mut line = format!(
                "{{\"type\":\"measurement\",\"t\":{},\"name\":{},\"kind\":\"{kind}\",\"value\":{value_json}",
                self.now,
                json_str(name)
            );
            if let Some(keys) = keys {
                line.push_str(",\"keys\":{");
                for (i, (k, n)) in keys.iter().enumerate() {
                    if i > 0 {
                        line.push(',');
                    }
                    line.push_str(&json_str(k));
                    line.push(':');
                    line.push_str(&n.to_string());
                }
                line.push('}');
            }
            line.push('}');
            writeln!(self.out, "{line}")
        } else {
            let mut line = format!("{name} = {value_text} ({kind})");
            if let Some(keys) = keys.filter(|k| !k.is_empty()) {
                // The ten most frequent keys; JSON has them all.
                let mut top: Vec<&(String, u64)> = keys.iter().collect();
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
    }

    /// A problem with a measurement's source (a log, a command) that did not stop the run.
    pub fn measure_warning(
        &mut self,
        source: &[u8],
        measurement: &str,
        message: &str,
    ) -> io::Result<()> {
        self.counts.warnings += 1;
        let s = escape(source);
        let m = escape(message.as_bytes());
        let n = escape(measurement.as_bytes());
        if self.json {
            writeln!(
                self.out,
                "{{\"type\":\"warning\",\"t\":{},\"source\":{},\"measurement\":{},\"message\":{}}}",
                self.now,
                json_str(&s),
                json_str(&n),
                json_str(&m)
            )
        } else {
            self.out.flush()?;
            eprintln!("homeostat: warning: {n}: {s}: {m}");
            Ok(())
        }
    }

    pub fn summary(&mut self, command: &str) -> io::Result<()> {
        let c = self.counts;
        if self.json {
            writeln!(
                self.out,
                "{{\"type\":\"summary\",\"t\":{},\"command\":\"{command}\",\"entries\":{},\"added\":{},\"removed\":{},\"changed\":{},\"unreadable\":{},\"warnings\":{}}}",
                self.now, c.entries, c.added, c.removed, c.changed, c.unreadable, c.warnings
            )?;
        } else {
            writeln!(
                self.out,
                "homeostat {command}: {} entries, {} added, {} removed, {} changed{}",
                c.entries,
                c.added,
                c.removed,
                c.changed,
                if c.unreadable > 0 {
                    format!(", {} unreadable", c.unreadable)
                } else {
                    String::new()
                }
            )?;
        }
        Ok(())
    }

    /// A line of plain information in text mode (nothing in JSON mode).
    pub fn note(&mut self, text: &str) -> io::Result<()> {
        if !self.json {
            writeln!(self.out, "{text}")?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()?;
        if let Some(l) = self.log.as_mut() {
            l.flush()?;
        }
        Ok(())
    }
}

fn kind_name(k: Kind) -> &'static str {
    k.name()
}

fn target_json(e: &Entry<Vec<u8>>) -> String {
    e.target()
        .map_or_else(|| String::from("null"), |t| json_str(&escape(t)))
}

/// The JSON object of `attrs`' values of `e`.
fn json_values(e: &Entry<Vec<u8>>, attrs: Attrs) -> String {
    let m = &e.meta;
    let mut s = String::from("{");
    for (i, a) in attrs.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let v = match a {
            Attr::Type => format!("\"{}\"", kind_name(m.kind)),
            Attr::Mode => format!("\"{:04o}\"", m.mode),
            Attr::Uid => m.uid.to_string(),
            Attr::Gid => m.gid.to_string(),
            Attr::Size => m.size.to_string(),
            Attr::Mtime => m.mtime.sec.to_string(),
            Attr::Ctime => m.ctime.sec.to_string(),
            Attr::Inode => m.inode.to_string(),
            Attr::Nlink => m.nlink.to_string(),
            Attr::Target => target_json(e),
            Attr::Xattrs => m.xattrs.map_or_else(
                || String::from("null"),
                |x| format!("\"sha256:{}\"", homeostat_core::digest::Hex(&x)),
            ),
            Attr::Content => m
                .content
                .map_or_else(|| String::from("null"), |d| format!("\"{d}\"")),
        };
        s.push('"');
        s.push_str(a.name());
        s.push_str("\":");
        s.push_str(&v);
    }
    s.push('}');
    s
}

fn target_text(e: &Entry<Vec<u8>>) -> String {
    e.target()
        .map_or_else(|| String::from("(none)"), |t| format!("'{}'", escape(t)))
}

/// The seed's sentence for one changed attribute.
fn text_line(a: Attr, p: &str, o: &Entry<Vec<u8>>, n: &Entry<Vec<u8>>) -> String {
    let (om, nm) = (&o.meta, &n.meta);
    match a {
        Attr::Type => format!(
            "Type for {p} changed {} -> {}",
            kind_name(om.kind),
            kind_name(nm.kind)
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
            target_text(o),
            target_text(n)
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

/// CFEngine's file_changes.log wording for an `S` line.
fn log_message(a: Attr, o: &Entry<Vec<u8>>, n: &Entry<Vec<u8>>) -> String {
    let (om, nm) = (&o.meta, &n.meta);
    let target = |e: &Entry<Vec<u8>>| {
        e.target().map_or_else(
            || String::from("(none)"),
            |t| format!("'{}'", escape_with(t, b",")),
        )
    };
    match a {
        Attr::Type => format!("Type: {} -> {}", kind_name(om.kind), kind_name(nm.kind)),
        Attr::Mode => format!("Permission: {:04o} -> {:04o}", om.mode, nm.mode),
        Attr::Uid => format!("Owner: {} -> {}", om.uid, nm.uid),
        Attr::Gid => format!("Group: {} -> {}", om.gid, nm.gid),
        Attr::Size => format!("Size: {} -> {}", om.size, nm.size),
        Attr::Mtime => format!(
            "Modified time: {} -> {}",
            utc_ns(om.mtime),
            utc_ns(nm.mtime)
        ),
        Attr::Ctime => format!("Change time: {} -> {}", utc_ns(om.ctime), utc_ns(nm.ctime)),
        Attr::Inode => format!("Inode: {} -> {}", om.inode, nm.inode),
        Attr::Nlink => format!("Link count: {} -> {}", om.nlink, nm.nlink),
        Attr::Target => format!("Target: {} -> {}", target(o), target(n)),
        Attr::Xattrs => String::from("Extended attributes changed"),
        Attr::Content => String::from("Content changed"),
    }
}
