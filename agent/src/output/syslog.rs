//! Syslog: one RFC 5424 datagram per finding, `<PRI>1 TIMESTAMP HOST homeostat PID MSGID -
//! MSG`, to a Unix datagram socket (`/dev/log`). MSGID is the event type, MSG the text
//! sink's words on one line. Sent for alerts (the rule's severity), file and set-id
//! findings, `ports_changed` and broken promises (warning), and warnings (notice); never
//! for samples, the per-sample `ports` listing, classes or summaries.
//!
//! A socket that cannot be reached is said once on standard error (again only after it
//! has worked in between) and never fails the run.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use homeostat_core::event::{Epoch, Event, Severity};
use homeostat_core::feed::Sink;

use super::text;
use super::timefmt::utc;
use crate::config::output::OutputSettings;

/// Longest MSG sent, in bytes (RFC 5424 §6.1: receivers must take 480, should take 2048;
/// rsyslog's and journald's defaults take 8 KiB).
pub const MAX_MSG: usize = 8000;

/// Whether the failure to reach the socket was said already (once per process, not
/// once per round of the daemon).
static WARNED: AtomicBool = AtomicBool::new(false);

/// The syslog sink of one run or round.
pub struct Syslog {
    socket: Option<UnixDatagram>,
    path: PathBuf,
    facility: u8,
    host: String,
    pid: u32,
    now: Epoch,
}

impl Syslog {
    /// A sink sending to `settings.syslog_socket`, stamping datagrams with `now`.
    pub fn new(settings: &OutputSettings, host: &str, now: Epoch) -> Syslog {
        Syslog {
            socket: UnixDatagram::unbound().ok(),
            path: settings.syslog_socket.clone(),
            facility: settings.syslog_facility,
            host: hostname_field(host),
            pid: std::process::id(),
            now,
        }
    }

    fn send(&mut self, frame: &[u8]) {
        let sent = match &self.socket {
            Some(s) => s.send_to(frame, &self.path).map(drop),
            None => Err(io::Error::other("no socket")),
        };
        match sent {
            Ok(()) => WARNED.store(false, Ordering::Relaxed),
            Err(e) => unreachable_once(&self.path, &e),
        }
    }
}

fn unreachable_once(path: &Path, e: &io::Error) {
    if !WARNED.swap(true, Ordering::Relaxed) {
        crate::output::stdio::say(&format!(
            "warning: {}: syslog socket unreachable, findings not sent to syslog: {e}",
            super::escape::escape(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()))
        ));
    }
}

/// The severity a finding is sent with, or `None` when it is not sent.
pub fn severity(e: &Event<'_>) -> Option<Severity> {
    match e {
        Event::Alert(a) => Some(a.severity),
        Event::File(_) | Event::SetId(_) | Event::PortsChanged(_) => Some(Severity::Warning),
        Event::Process(p) if !p.in_range => Some(Severity::Warning),
        Event::Port(p) if !p.ok() => Some(Severity::Warning),
        Event::Peer(_) | Event::Restore(_) | Event::Gap(_) => Some(Severity::Warning),
        Event::Warning(_) => Some(Severity::Notice),
        _ => None,
    }
}

/// HOSTNAME of RFC 5424: 1 to 255 printable US-ASCII characters, `-` when unknown.
fn hostname_field(host: &str) -> String {
    let ok = !host.is_empty() && host.len() <= 255 && host.bytes().all(|b| (33..=126).contains(&b));
    if ok {
        host.to_string()
    } else {
        String::from("-")
    }
}

/// The datagram for `e`, or `None` when `e` is not sent to syslog.
pub fn frame(e: &Event<'_>, facility: u8, host: &str, pid: u32, now: Epoch) -> Option<String> {
    let sev = severity(e)?;
    let msgid = e.kind()?;
    let msg = text::render(e)?;
    let pri = u16::from(facility) * 8 + u16::from(sev.code());
    let mut out = format!("<{pri}>1 {} {host} homeostat {pid} {msgid} - ", utc(now));
    // The renderer escapes what an attacker controls; a control character that got
    // through anyway (a newline above all) is written `\xNN`, so one finding is one line.
    let mut n = 0;
    for c in msg.chars() {
        if n + c.len_utf8() > MAX_MSG {
            break;
        }
        if c.is_control() {
            out.push_str(&format!("\\x{:02x}", c as u32 & 0xff));
        } else {
            out.push(c);
        }
        n += c.len_utf8();
    }
    Some(out)
}

impl Sink for Syslog {
    type Error = io::Error;

    fn event(&mut self, e: &Event<'_>) -> io::Result<()> {
        if let Some(f) = frame(e, self.facility, &self.host, self.pid, self.now) {
            self.send(f.as_bytes());
        }
        Ok(())
    }

    fn commit(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use homeostat_core::event::{Alert, Listening, Ports, PortsChanged, Warning};

    fn alert(msg: &str) -> Event<'_> {
        Event::Alert(Alert {
            t: 0,
            rule: "r1",
            severity: Severity::Critical,
            message: msg,
        })
    }

    #[test]
    fn rfc5424_framing() {
        let f = frame(&alert("root shell"), 3, "web1", 42, 1_700_000_000).unwrap();
        assert_eq!(
            f,
            "<26>1 2023-11-14T22:13:20Z web1 homeostat 42 alert - ALERT r1: root shell"
        );
        let w = Event::Warning(Warning {
            t: 0,
            source: b"/x",
            measurement: None,
            message: "gone",
        });
        let f = frame(&w, 16, "h", 1, 0).unwrap();
        assert!(
            f.starts_with("<133>1 1970-01-01T00:00:00Z h homeostat 1 warning - "),
            "{f}"
        );
        assert!(f.ends_with("/x: gone"), "{f}");
    }

    #[test]
    fn samples_and_listings_are_not_sent() {
        let l = [Listening {
            proto: "tcp4",
            port: 22,
            addr: "0.0.0.0",
        }];
        assert!(frame(
            &Event::Ports(Ports {
                t: 0,
                listening: &l
            }),
            3,
            "h",
            1,
            0
        )
        .is_none());
        let c = Event::PortsChanged(PortsChanged {
            t: 0,
            opened: &l,
            closed: &[],
        });
        assert!(frame(&c, 3, "h", 1, 0)
            .unwrap()
            .contains(" ports_changed - "));
    }

    #[test]
    fn one_finding_one_line() {
        let f = frame(&alert("a\nb\r\x1b[31mc"), 3, "h", 1, 0).unwrap();
        assert!(
            !f.contains('\n') && !f.contains('\r') && !f.contains('\x1b'),
            "{f}"
        );
        let long = "x".repeat(20_000);
        assert!(frame(&alert(&long), 3, "h", 1, 0).unwrap().len() < MAX_MSG + 100);
        assert_eq!(hostname_field("a b"), "-");
        assert_eq!(hostname_field("a\nb"), "-");
        assert_eq!(hostname_field(""), "-");
        assert_eq!(hostname_field("web-1.example"), "web-1.example");
    }

    #[test]
    fn unreachable_socket_is_not_an_error() {
        let s = OutputSettings {
            syslog: true,
            syslog_socket: PathBuf::from("/nonexistent/homeostat-test.sock"),
            ..OutputSettings::default()
        };
        let mut sink = Syslog::new(&s, "h", 0);
        assert!(sink.event(&alert("x")).is_ok());
        assert!(sink.event(&alert("y")).is_ok());
    }
}
