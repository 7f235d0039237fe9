//! Port promises (`[[port]]`) and `ports_changed`: one step of every round that samples.
//!
//! The host's listening sockets come from the platform's `SocketSource` (on Linux
//! `/proc/net/{tcp,tcp6,udp,udp6}`), read here whether or not `[monitor]` is configured.
//! Each promise gives one `port` event and raises `<name>_ok` or `<name>_violated`. The set
//! of listening ports — `tcp`/`udp` (either family), port, address as bound — is kept in
//! the state directory ([`FILE`]); when this round's set differs from the stored one, a
//! `ports_changed` event lists what opened and closed, and `listening_ports_changed` is
//! raised. There is no stored set before the first round, so that round says nothing.
//!
//! The step runs when `[[port]]` promises or `[monitor]` are configured: with neither, the
//! configuration asks for no watch of the network, and nothing is read or stored.

use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use homeostat_core::event::{Event, Listening, PortPromise as PortEvent, PortsChanged};
use homeostat_core::feed::{SocketSource, Transport};
use serde::{Deserialize, Serialize};

use crate::config::port::{PortPromise, Proto};
use crate::config::Config;
use crate::exit::IO as EXIT_IO;
use crate::output::Output;
use crate::platform::StateDir;
use crate::round::StepError;
use crate::state_dir::{read_blob, write_blob};

/// The blob in the state directory holding the last round's listening set.
pub const FILE: &str = "ports.state";

/// The class raised when the listening set changed since the previous round.
pub const CHANGED: &str = "listening_ports_changed";

/// One listening socket: `tcp` or `udp`, port, local address as bound.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Open {
    pub proto: Proto,
    pub port: u16,
    pub address: String,
}

/// What is stored between rounds.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    listening: BTreeSet<Open>,
}

impl Serialize for Proto {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Proto {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Proto, D::Error> {
        match String::deserialize(d)?.as_str() {
            "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            other => Err(serde::de::Error::custom(format!("unknown proto {other:?}"))),
        }
    }
}

/// The listening sockets `source` lists; its notes (a table it could not read) go to
/// `notes`. `Err` when nothing could be read.
pub fn listening<K>(source: &mut K, notes: &mut dyn FnMut(String)) -> Result<BTreeSet<Open>, String>
where
    K: SocketSource,
    K::Error: fmt::Display,
{
    let mut set = BTreeSet::new();
    source
        .sockets(
            &mut |s| {
                if s.listening {
                    set.insert(Open {
                        proto: match s.transport {
                            Transport::Tcp => Proto::Tcp,
                            Transport::Udp => Proto::Udp,
                        },
                        port: s.local.1,
                        address: s.local.0.to_string(),
                    });
                }
            },
            &mut |n| notes(n.to_string()),
        )
        .map_err(|e| e.to_string())?;
    Ok(set)
}

/// `open` as the event lists it.
fn view<'a>(open: &[&'a Open]) -> Vec<Listening<'a>> {
    open.iter()
        .map(|o| Listening {
            proto: o.proto.name(),
            port: o.port,
            addr: &o.address,
        })
        .collect()
}

/// Whether something listens on the promise's protocol and port, on any address.
pub fn kept_by(p: &PortPromise, now: &BTreeSet<Open>) -> bool {
    now.iter().any(|o| o.proto == p.proto && o.port == p.port)
}

/// What opened (in `now`, not in `before`) and what closed, each sorted.
pub fn changes<'a>(
    before: &'a BTreeSet<Open>,
    now: &'a BTreeSet<Open>,
) -> (Vec<&'a Open>, Vec<&'a Open>) {
    (
        now.difference(before).collect(),
        before.difference(now).collect(),
    )
}

/// The step of a round: `Ok(None)` when it does not run (neither `[[port]]` nor
/// `[monitor]`, or no socket list at all), else the classes it raised.
pub fn run(
    cfg: &Config,
    state: &Path,
    out: &mut Output,
) -> Result<Option<BTreeSet<String>>, StepError> {
    if cfg.ports.is_empty() && cfg.monitor.is_none() {
        return Ok(None);
    }
    let mut source = crate::platform::sockets();
    let mut said = Vec::new();
    let now = match listening(&mut source, &mut |n| said.push(n)) {
        Ok(now) => now,
        Err(why) => {
            // The monitor's sample says so already when it is configured.
            if !cfg.ports.is_empty() {
                let _ = out.warning(b"ports", &format!("unavailable: {why}"));
            }
            return Ok(None);
        }
    };
    if cfg.monitor.is_none() {
        for n in said {
            let _ = out.warning(b"ports", &n);
        }
    }
    let mut store = StateDir::new(state);
    let before = match read_blob(&mut store, FILE, crate::limits::PORTS_STATE) {
        Ok(None) => None,
        Ok(Some(bytes)) => match serde_json::from_slice::<Stored>(&bytes) {
            Ok(s) => Some(s.listening),
            Err(e) => {
                let path = store.path(FILE);
                let _ = out.warning(
                    path.as_os_str().as_bytes(),
                    &format!("unreadable, replaced (no ports_changed this round): {e}"),
                );
                None
            }
        },
        Err(e) => {
            let path = store.path(FILE);
            return Err((EXIT_IO, format!("cannot read {}: {e}", path.display())));
        }
    };
    let mut raised = BTreeSet::new();
    let t = out.now();
    let write = |e: io::Error| (EXIT_IO, format!("cannot write report: {e}"));
    for p in &cfg.ports {
        let listening = kept_by(p, &now);
        let ev = PortEvent {
            t,
            name: &p.name,
            proto: p.proto.name(),
            port: p.port,
            listening,
            expected: p.listening,
        };
        raised.insert(p.class(ev.ok()));
        out.emit(&Event::Port(ev)).map_err(write)?;
    }
    if let Some(before) = &before {
        let (opened, closed) = changes(before, &now);
        if !opened.is_empty() || !closed.is_empty() {
            let (o, c) = (view(&opened), view(&closed));
            out.emit(&Event::PortsChanged(PortsChanged {
                t,
                opened: &o,
                closed: &c,
            }))
            .map_err(write)?;
            raised.insert(CHANGED.to_string());
        }
    }
    if before.as_ref() != Some(&now) {
        let bytes = serde_json::to_vec(&Stored { listening: now })
            .map_err(|e| (EXIT_IO, format!("cannot encode the listening ports: {e}")))?;
        write_blob(&mut store, FILE, &bytes).map_err(|e| {
            let path = store.path(FILE);
            (EXIT_IO, format!("cannot save {}: {e}", path.display()))
        })?;
    }
    Ok(Some(raised))
}

#[cfg(test)]
mod tests {
    use super::*;
    use homeostat_core::feed::{Family, Notes, Socket};
    use std::net::IpAddr;

    /// A fixed list of sockets.
    struct Fixed(Vec<Socket>, bool);

    impl SocketSource for Fixed {
        type Error = String;
        fn sockets(
            &mut self,
            each: &mut dyn FnMut(&Socket),
            notes: &mut Notes<'_>,
        ) -> Result<(), String> {
            if !self.1 {
                return Err("no tables".into());
            }
            notes(&"tcp6: missing");
            for s in &self.0 {
                each(s);
            }
            Ok(())
        }
    }

    fn sock(t: Transport, f: Family, addr: &str, port: u16, listening: bool) -> Socket {
        let any: IpAddr = match f {
            Family::V4 => "0.0.0.0".parse().unwrap(),
            Family::V6 => "::".parse().unwrap(),
        };
        Socket {
            transport: t,
            family: f,
            local: (addr.parse().unwrap(), port),
            remote: (any, if listening { 0 } else { 40000 }),
            listening,
        }
    }

    fn open(proto: Proto, port: u16, address: &str) -> Open {
        Open {
            proto,
            port,
            address: address.into(),
        }
    }

    #[test]
    fn listening_set_is_family_less_and_keeps_addresses() {
        let mut k = Fixed(
            vec![
                sock(Transport::Tcp, Family::V4, "0.0.0.0", 22, true),
                sock(Transport::Tcp, Family::V6, "::", 22, true),
                sock(Transport::Tcp, Family::V4, "127.0.0.1", 5000, false),
                sock(Transport::Udp, Family::V6, "::1", 53, true),
            ],
            true,
        );
        let mut notes = Vec::new();
        let set = listening(&mut k, &mut |n| notes.push(n)).unwrap();
        assert_eq!(notes, vec!["tcp6: missing".to_string()]);
        let v: Vec<Open> = set.iter().cloned().collect();
        assert_eq!(
            v,
            vec![
                open(Proto::Tcp, 22, "0.0.0.0"),
                open(Proto::Tcp, 22, "::"),
                open(Proto::Udp, 53, "::1"),
            ]
        );
        let p = |port, proto, listening| PortPromise {
            name: "p".into(),
            port,
            proto,
            listening,
        };
        assert!(kept_by(&p(22, Proto::Tcp, true), &set));
        assert!(!kept_by(&p(22, Proto::Udp, true), &set));
        assert!(kept_by(&p(53, Proto::Udp, true), &set));
        // a connected socket is not a listener
        assert!(!kept_by(&p(5000, Proto::Tcp, true), &set));
        assert_eq!(
            listening(&mut Fixed(vec![], false), &mut |_| {}),
            Err("no tables".to_string())
        );
    }

    #[test]
    fn changes_are_what_opened_and_what_closed() {
        let before: BTreeSet<Open> = [
            open(Proto::Tcp, 22, "0.0.0.0"),
            open(Proto::Udp, 53, "127.0.0.1"),
        ]
        .into();
        let now: BTreeSet<Open> = [
            open(Proto::Tcp, 22, "0.0.0.0"),
            open(Proto::Tcp, 4444, "::"),
            open(Proto::Udp, 53, "::1"),
        ]
        .into();
        let (o, c) = changes(&before, &now);
        assert_eq!(
            o,
            vec![&open(Proto::Tcp, 4444, "::"), &open(Proto::Udp, 53, "::1")]
        );
        assert_eq!(c, vec![&open(Proto::Udp, 53, "127.0.0.1")]);
        let (o, c) = changes(&now, &now);
        assert!(o.is_empty() && c.is_empty());
    }

    #[test]
    fn stored_set_round_trips() {
        let s = Stored {
            listening: [open(Proto::Udp, 53, "::1")].into(),
        };
        let bytes = serde_json::to_vec(&s).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&bytes),
            r#"{"listening":[{"proto":"udp","port":53,"address":"::1"}]}"#
        );
        let back: Stored = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back.listening, s.listening);
    }
}
