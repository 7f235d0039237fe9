//! JSON lines: one object per event with its `"type"` first, the schema of `docs/json.md`
//! in one place. Strings that may hold attacker bytes (paths, targets, messages) are
//! escaped to printable ASCII (`\xNN`) before serde quotes them; numbers are written as
//! Rust prints them (`3`, not `3.0`), and a number that is not finite as `null`.

use std::io::{self, BufWriter, Write};

use homeostat_core::digest::Hex;
use homeostat_core::event::{self, Event, Side, Value};
use homeostat_core::feed::Sink;
use homeostat_core::fim::{Attr, Attrs};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::ser::Formatter;

use crate::output::escape::{escape, sanitize};

/// One line of the stream.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
// One line at a time lives on the stack, built and written at once: boxing the large
// `file` variant would only add an allocation per finding.
#[allow(clippy::large_enum_variant)]
enum Line<'a> {
    File {
        change: &'static str,
        path: String,
        attrs: Vec<&'static str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        old: Option<Values<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        new: Option<Values<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        package: Option<Pkg>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        accepted: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        via: Option<&'static str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        process: Option<Process>,
    },
    Setid {
        t: i64,
        bit: &'static str,
        path: String,
        mode: String,
        uid: u32,
    },
    Warning {
        t: i64,
        source: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        measurement: Option<String>,
        message: String,
    },
    Measurement {
        t: i64,
        name: &'a str,
        kind: &'static str,
        value: Measured<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        keys: Option<Keys<'a>>,
    },
    Sample {
        t: i64,
        observable: &'a str,
        value: f32,
        expect: f32,
        stddev: f32,
        local_expect: f32,
        local_stddev: f32,
        dev: f32,
        classes: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        entropy: Option<f32>,
    },
    Ports {
        t: i64,
        listening: Vec<Port<'a>>,
    },
    Classes {
        t: i64,
        classes: &'a [&'a str],
    },
    Process {
        t: i64,
        name: &'a str,
        count: u64,
        range: [u64; 2],
        in_range: bool,
        pids: &'a [u32],
    },
    Port {
        t: i64,
        name: &'a str,
        proto: &'a str,
        port: u16,
        listening: bool,
        expected: bool,
        ok: bool,
    },
    #[serde(rename = "ports_changed")]
    PortsChanged {
        t: i64,
        opened: Vec<Changed<'a>>,
        closed: Vec<Changed<'a>>,
    },
    Alert {
        t: i64,
        rule: &'a str,
        severity: &'static str,
        message: String,
    },
    Peer {
        t: i64,
        host: String,
        event: &'static str,
        added: u64,
        removed: u64,
        changed: u64,
        message: String,
    },
    Restore {
        t: i64,
        path: String,
        ok: bool,
        message: String,
    },
    Gap {
        t: i64,
        from: i64,
        to: i64,
    },
    Summary {
        t: i64,
        command: &'a str,
        entries: u64,
        added: u64,
        removed: u64,
        changed: u64,
        unreadable: u64,
        warnings: u64,
        /// Findings `[packages] accept` took (not in the three above); shown when some were.
        #[serde(skip_serializing_if = "is_zero")]
        accepted: u64,
    },
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The writer of a real-time finding: `exe` escaped, `null` when it had gone.
#[derive(Serialize)]
struct Process {
    pid: u32,
    exe: Option<String>,
    uid: Option<u32>,
}

#[derive(Serialize)]
struct Port<'a> {
    proto: &'a str,
    port: u16,
    addr: String,
}

/// A port that opened or closed: `tcp` or `udp` (either family), port, address.
#[derive(Serialize)]
struct Changed<'a> {
    proto: &'a str,
    port: u16,
    address: String,
}

impl<'a> Changed<'a> {
    fn list(ports: &'a [event::Listening<'a>]) -> Vec<Changed<'a>> {
        ports
            .iter()
            .map(|l| Changed {
                proto: l.proto.trim_end_matches(['4', '6']),
                port: l.port,
                address: sanitize(l.addr),
            })
            .collect()
    }
}

/// The values of `attrs` of one side of a file finding, as an object in attribute order.
struct Values<'a> {
    side: Side<'a>,
    attrs: Attrs,
}

impl Serialize for Values<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let m = self.side.meta;
        let mut map = s.serialize_map(None)?;
        for a in self.attrs.iter() {
            let k = a.name();
            match a {
                Attr::Type => map.serialize_entry(k, m.kind.name())?,
                Attr::Mode => map.serialize_entry(k, &format!("{:04o}", m.mode))?,
                Attr::Uid => map.serialize_entry(k, &m.uid)?,
                Attr::Gid => map.serialize_entry(k, &m.gid)?,
                Attr::Size => map.serialize_entry(k, &m.size)?,
                Attr::Mtime => map.serialize_entry(k, &m.mtime.sec)?,
                Attr::Ctime => map.serialize_entry(k, &m.ctime.sec)?,
                Attr::Inode => map.serialize_entry(k, &m.inode)?,
                Attr::Nlink => map.serialize_entry(k, &m.nlink)?,
                Attr::Target => map.serialize_entry(k, &self.side.target.map(escape))?,
                Attr::Xattrs => {
                    map.serialize_entry(k, &m.xattrs.map(|x| format!("sha256:{}", Hex(&x))))?
                }
                Attr::Content => map.serialize_entry(k, &m.content.map(|d| d.to_string()))?,
            }
        }
        map.end()
    }
}

/// A measurement's value: a number, an escaped string, or `null`.
struct Measured<'a>(Value<'a>);

impl Serialize for Measured<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Count(n) => s.serialize_u64(n),
            Value::Int(n) => s.serialize_i64(n),
            Value::Real(x) => s.serialize_f64(x),
            Value::Text(b) => s.serialize_str(&escape(b)),
            Value::Missing => s.serialize_none(),
        }
    }
}

/// Extracted keys (escaped) and their counts, in the order given (sorted by raw key).
struct Keys<'a>(&'a [event::KeyCount<'a>]);

impl Serialize for Keys<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for k in self.0 {
            map.serialize_entry(&escape(k.key), &k.count)?;
        }
        map.end()
    }
}

/// A file finding's `package` (`docs/json.md`): names and versions escaped like paths.
#[derive(Serialize)]
struct Pkg {
    name: String,
    arch: String,
    from: Option<String>,
    to: Option<String>,
    verified: &'static str,
    cause: &'static str,
}

impl Pkg {
    fn of(p: &homeostat_core::package::Package<'_>) -> Pkg {
        let text = |s: &str| escape(s.as_bytes());
        Pkg {
            name: text(p.name),
            arch: text(p.arch),
            from: p.from.map(text),
            to: p.to.map(text),
            verified: p.verified.name(),
            cause: p.cause.name(),
        }
    }
}

impl<'a> Line<'a> {
    /// The line of `e`, or `None` for events JSON does not show.
    fn of(e: &'a Event<'a>) -> Option<Line<'a>> {
        Some(match e {
            Event::File(f) => {
                let shown = f.shown();
                let values =
                    |side: Option<Side<'a>>| side.map(|side| Values { side, attrs: shown });
                Line::File {
                    change: f.change.name(),
                    path: escape(f.path),
                    attrs: f.diff.iter().map(Attr::name).collect(),
                    old: values(f.old),
                    new: values(f.new),
                    package: f.package.as_ref().map(Pkg::of),
                    accepted: f.accepted,
                    via: f.via.name(),
                    process: f.via.writer().map(|w| Process {
                        pid: w.pid,
                        exe: w.exe.map(escape),
                        uid: w.uid,
                    }),
                }
            }
            Event::SetId(s) => Line::Setid {
                t: s.t,
                bit: if s.setuid { "setuid" } else { "setgid" },
                path: escape(s.path),
                mode: format!("{:04o}", s.mode),
                uid: s.uid,
            },
            Event::Warning(w) => Line::Warning {
                t: w.t,
                source: escape(w.source),
                measurement: w.measurement.map(sanitize),
                message: sanitize(w.message),
            },
            Event::Measurement(m) => Line::Measurement {
                t: m.t,
                name: m.name,
                kind: m.kind.name(),
                value: Measured(m.value),
                keys: m.keys.map(Keys),
            },
            Event::Sample(s) => {
                let o = s.outcome;
                Line::Sample {
                    t: s.t,
                    observable: s.name,
                    value: o.value,
                    expect: o.expect,
                    stddev: o.stddev,
                    local_expect: o.local_expect,
                    local_stddev: o.local_stddev,
                    dev: o.dev,
                    classes: o.classes.names(s.name).map(|c| c.as_str().into()).collect(),
                    entropy: s.entropy,
                }
            }
            Event::Ports(p) => Line::Ports {
                t: p.t,
                listening: p
                    .listening
                    .iter()
                    .map(|l| Port {
                        proto: l.proto,
                        port: l.port,
                        addr: sanitize(l.addr),
                    })
                    .collect(),
            },
            Event::Classes(c) => Line::Classes {
                t: c.t,
                classes: c.names,
            },
            Event::Process(p) => Line::Process {
                t: p.t,
                name: p.name,
                count: p.count,
                range: [p.range.0, p.range.1],
                in_range: p.in_range,
                pids: p.pids,
            },
            Event::Port(p) => Line::Port {
                t: p.t,
                name: p.name,
                proto: p.proto,
                port: p.port,
                listening: p.listening,
                expected: p.expected,
                ok: p.ok(),
            },
            Event::PortsChanged(c) => Line::PortsChanged {
                t: c.t,
                opened: Changed::list(c.opened),
                closed: Changed::list(c.closed),
            },
            Event::Alert(a) => Line::Alert {
                t: a.t,
                rule: a.rule,
                severity: a.severity.name(),
                message: sanitize(a.message),
            },
            Event::Peer(p) => Line::Peer {
                t: p.t,
                host: sanitize(p.host),
                event: p.state.name(),
                added: p.added,
                removed: p.removed,
                changed: p.changed,
                message: sanitize(p.message),
            },
            Event::Restore(r) => Line::Restore {
                t: r.t,
                path: escape(r.path),
                ok: r.ok,
                message: sanitize(r.message),
            },
            Event::Gap(g) => Line::Gap {
                t: g.t,
                from: g.from,
                to: g.to,
            },
            Event::Summary(s) => {
                let c = s.counts;
                Line::Summary {
                    t: s.t,
                    command: s.command,
                    entries: c.entries,
                    added: c.added,
                    removed: c.removed,
                    changed: c.changed,
                    unreadable: c.unreadable,
                    warnings: c.warnings,
                    accepted: c.accepted,
                }
            }
            _ => return None,
        })
    }
}

/// serde_json's compact output, with floats as Rust's `Display` writes them (the
/// shortest text that reads back to the same value, and no `.0` on whole numbers).
struct Numbers;

impl Formatter for Numbers {
    fn write_f32<W: ?Sized + Write>(&mut self, w: &mut W, v: f32) -> io::Result<()> {
        write!(w, "{v}")
    }
    fn write_f64<W: ?Sized + Write>(&mut self, w: &mut W, v: f64) -> io::Result<()> {
        write!(w, "{v}")
    }
}

/// JSON lines on a stream.
pub struct JsonLines<W: Write> {
    out: W,
}

impl JsonLines<BufWriter<io::Stdout>> {
    /// JSON lines on standard output.
    pub fn stdout() -> Self {
        JsonLines {
            out: BufWriter::with_capacity(64 * 1024, io::stdout()),
        }
    }
}

impl<W: Write> JsonLines<W> {
    /// JSON lines on `out`.
    #[cfg_attr(not(test), allow(dead_code))] // the stream of other transports to come
    pub fn new(out: W) -> Self {
        JsonLines { out }
    }
}

/// The JSON line of `e` (without its newline), or `None` when JSON does not show it.
pub fn line(e: &Event<'_>) -> Option<Vec<u8>> {
    let l = Line::of(e)?;
    let mut buf = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, Numbers);
    // Serializing these types into memory cannot fail: every map key is a string.
    l.serialize(&mut ser).ok()?;
    Some(buf)
}

impl<W: Write> Sink for JsonLines<W> {
    type Error = io::Error;

    fn event(&mut self, e: &Event<'_>) -> io::Result<()> {
        if let Some(mut l) = line(e) {
            // One write per line: a line is never split from its newline by a flush, so
            // the real-time checker's lines and a round's never mix on stdout.
            l.push(b'\n');
            self.out.write_all(&l)?;
        }
        Ok(())
    }

    fn commit(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use homeostat_core::event::{Change, FileChange, Measured as M, Warning};
    use homeostat_core::fim::{Kind, Meta};
    use homeostat_core::logscan::Kind as MeasureKind;

    fn lines(events: &[Event<'_>]) -> String {
        let mut sink = JsonLines::new(Vec::new());
        for e in events {
            sink.event(e).unwrap();
        }
        String::from_utf8(sink.out).unwrap()
    }

    #[test]
    fn a_changed_file_shows_what_differs() {
        let (mut old, mut new) = (Meta::empty(Kind::File), Meta::empty(Kind::Symlink));
        old.mode = 0o644;
        new.mode = 0o4755;
        let side = |meta, target| Side { meta, target };
        let e = Event::File(FileChange {
            change: Change::Changed,
            path: b"/etc/a\nb\\",
            diff: Attrs::EMPTY
                .with(Attr::Type)
                .with(Attr::Mode)
                .with(Attr::Target),
            watched: Attrs::ALL,
            old: Some(side(&old, None)),
            new: Some(side(&new, Some(&b"/x\x1b"[..]))),
            handle: "etc",
            package: None,
            accepted: false,
            via: Default::default(),
        });
        assert_eq!(
            lines(&[e]),
            concat!(
                r#"{"type":"file","change":"changed","path":"/etc/a\\x0ab\\x5c","attrs":["type","mode","target"],"#,
                r#""old":{"type":"file","mode":"0644","target":null},"#,
                r#""new":{"type":"symlink","mode":"4755","target":"/x\\x1b"}}"#,
                "\n"
            )
        );
    }

    /// A real-time finding names its writer, escaped like a path; a gap is its epochs.
    #[test]
    fn realtime_finding_and_gap() {
        use homeostat_core::event::{Gap, Via, Writer};
        let meta = Meta::empty(Kind::File);
        let writer = Writer {
            pid: 42,
            exe: Some(b"/tmp/ev\nil"),
            uid: None,
        };
        let e = Event::File(FileChange {
            change: Change::Added,
            path: b"/t/a",
            diff: Attrs::EMPTY,
            watched: Attrs::EMPTY.with(Attr::Type),
            old: None,
            new: Some(Side {
                meta: &meta,
                target: None,
            }),
            handle: "t",
            via: Via::Realtime(Some(writer)),
            package: None,
            accepted: false,
        });
        let g = Event::Gap(Gap {
            t: 9,
            from: 5,
            to: 9,
        });
        assert_eq!(
            lines(&[e, g]),
            concat!(
                r#"{"type":"file","change":"added","path":"/t/a","attrs":[],"new":{"type":"file"},"#,
                r#""via":"realtime","process":{"pid":42,"exe":"/tmp/ev\\x0ail","uid":null}}"#,
                "\n",
                r#"{"type":"gap","t":9,"from":5,"to":9}"#,
                "\n"
            )
        );
    }

    #[test]
    fn a_package_object_with_hostile_names_escaped() {
        use homeostat_core::package::{Cause, Package, Verified};
        let meta = Meta::empty(Kind::File);
        let e = Event::File(FileChange {
            change: Change::Removed,
            path: b"/x",
            diff: Attrs::EMPTY,
            watched: Attrs::EMPTY.with(Attr::Size),
            old: Some(Side {
                meta: &meta,
                target: None,
            }),
            new: None,
            handle: "h",
            package: Some(Package {
                name: "evil\n\"}",
                arch: "all",
                from: Some("1:2.0"),
                to: None,
                verified: Verified::Md5sums,
                cause: Cause::Remove,
            }),
            accepted: true,
            via: Default::default(),
        });
        assert_eq!(
            lines(&[e]),
            concat!(
                r#"{"type":"file","change":"removed","path":"/x","attrs":[],"old":{"size":0},"#,
                r#""package":{"name":"evil\\x0a\"}","arch":"all","from":"1:2.0","to":null,"#,
                r#""verified":"md5sums","cause":"remove"},"accepted":true}"#,
                "\n"
            )
        );
    }

    #[test]
    fn numbers_as_rust_prints_them_and_hostile_text_escaped() {
        let m = |value| {
            Event::Measurement(M {
                t: 7,
                name: "m",
                kind: MeasureKind::Real,
                value,
                keys: None,
            })
        };
        let w = Event::Warning(Warning {
            t: 7,
            source: b"/var/log/\"x\"",
            measurement: Some("m"),
            message: "bad\nline\x1b[2J",
        });
        assert_eq!(
            lines(&[
                m(Value::Real(3.0)),
                m(Value::Real(f64::NAN)),
                m(Value::Text(b"a\nb")),
                w
            ]),
            concat!(
                r#"{"type":"measurement","t":7,"name":"m","kind":"real","value":3}"#,
                "\n",
                r#"{"type":"measurement","t":7,"name":"m","kind":"real","value":null}"#,
                "\n",
                r#"{"type":"measurement","t":7,"name":"m","kind":"real","value":"a\\x0ab"}"#,
                "\n",
                r#"{"type":"warning","t":7,"source":"/var/log/\"x\"","measurement":"m","message":"bad\\x0aline\\x1b[2J"}"#,
                "\n"
            )
        );
    }

    #[test]
    fn promises_ports_and_alerts_as_designed() {
        use homeostat_core::event::{
            Alert, Listening, PortPromise, PortsChanged, ProcessCount, Severity,
        };
        let opened = [Listening {
            proto: "tcp6",
            port: 8080,
            addr: "::1",
        }];
        let events = [
            Event::Process(ProcessCount {
                t: 5,
                name: "rogue_sleep",
                count: 1,
                range: (0, 0),
                in_range: false,
                pids: &[42],
            }),
            Event::Port(PortPromise {
                t: 5,
                name: "ssh_up",
                proto: "tcp",
                port: 22,
                listening: false,
                expected: true,
            }),
            Event::PortsChanged(PortsChanged {
                t: 5,
                opened: &opened,
                closed: &[],
            }),
            Event::Alert(Alert {
                t: 5,
                rule: "r",
                severity: Severity::Warning,
                message: "x\nALERT forged",
            }),
        ];
        assert_eq!(
            lines(&events),
            concat!(
                r#"{"type":"process","t":5,"name":"rogue_sleep","count":1,"range":[0,0],"in_range":false,"pids":[42]}"#,
                "\n",
                r#"{"type":"port","t":5,"name":"ssh_up","proto":"tcp","port":22,"listening":false,"expected":true,"ok":false}"#,
                "\n",
                r#"{"type":"ports_changed","t":5,"opened":[{"proto":"tcp","port":8080,"address":"::1"}],"closed":[]}"#,
                "\n",
                r#"{"type":"alert","t":5,"rule":"r","severity":"warning","message":"x\\x0aALERT forged"}"#,
                "\n"
            )
        );
    }
}
