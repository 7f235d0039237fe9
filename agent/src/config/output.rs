//! `[output]` in the configuration: syslog, `/metrics` and the metrics file.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// Where findings go besides standard output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputSettings {
    /// Send RFC 5424 datagrams to `syslog_socket`.
    pub syslog: bool,
    /// The Unix datagram socket of the syslog daemon.
    pub syslog_socket: PathBuf,
    /// The facility code (RFC 5424 table 1): `daemon` is 3.
    pub syslog_facility: u8,
    /// Where `run` serves `GET /metrics` (absent: off).
    pub metrics: Option<SocketAddr>,
    /// Written atomically after each round (absent: off).
    pub metrics_file: Option<PathBuf>,
}

impl Default for OutputSettings {
    fn default() -> Self {
        OutputSettings {
            syslog: false,
            syslog_socket: PathBuf::from("/dev/log"),
            syslog_facility: 3,
            metrics: None,
            metrics_file: None,
        }
    }
}

impl OutputSettings {
    /// Whether a metrics sink is needed (the server or the file).
    pub fn metrics_wanted(&self) -> bool {
        self.metrics.is_some() || self.metrics_file.is_some()
    }
}

/// RFC 5424's facility names (table 1) and their codes; `local0`…`local7` are 16…23.
const FACILITIES: [(&str, u8); 16] = [
    ("kern", 0),
    ("user", 1),
    ("mail", 2),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("lpr", 6),
    ("news", 7),
    ("uucp", 8),
    ("cron", 9),
    ("authpriv", 10),
    ("ftp", 11),
    ("ntp", 12),
    ("audit", 13),
    ("alert", 14),
    ("clock", 15),
];

/// The code of a facility name.
pub fn facility(name: &str) -> Option<u8> {
    if let Some(n) = name.strip_prefix("local") {
        return match n.as_bytes() {
            [d @ b'0'..=b'7'] => Some(16 + (d - b'0')),
            _ => None,
        };
    }
    FACILITIES.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    syslog: Option<bool>,
    syslog_socket: Option<String>,
    syslog_facility: Option<String>,
    metrics: Option<String>,
    metrics_file: Option<String>,
}

impl OutputSettings {
    /// Reads the `[output]` table (`None`: all defaults).
    pub fn from_toml(value: Option<&toml::Value>) -> Result<OutputSettings> {
        let mut s = OutputSettings::default();
        let Some(v) = value else { return Ok(s) };
        let raw: Raw = v.clone().try_into().context("[output]")?;
        s.syslog = raw.syslog.unwrap_or(false);
        if let Some(p) = raw.syslog_socket {
            if !p.starts_with('/') {
                bail!("[output] syslog_socket {p:?}: an absolute path is needed");
            }
            s.syslog_socket = PathBuf::from(p);
        }
        if let Some(f) = raw.syslog_facility {
            s.syslog_facility = facility(&f).with_context(|| {
                format!(
                    "[output] syslog_facility {f:?}: expected one of kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, ntp, audit, alert, clock, local0…local7"
                )
            })?;
        }
        if let Some(m) = raw.metrics {
            let addr: SocketAddr = m.parse().map_err(|_| {
                anyhow::anyhow!("[output] metrics {m:?}: expected an address and port, like \"127.0.0.1:9617\" or \"[::1]:9617\"")
            })?;
            s.metrics = Some(addr);
        }
        match raw.metrics_file.as_deref() {
            None | Some("") => {}
            Some(p) if p.starts_with('/') && !p.ends_with('/') => {
                s.metrics_file = Some(PathBuf::from(p))
            }
            Some(p) => bail!("[output] metrics_file {p:?}: an absolute path to a file is needed"),
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<OutputSettings> {
        let v: toml::Value = toml::from_str(text).unwrap();
        OutputSettings::from_toml(Some(&v))
    }

    #[test]
    fn defaults_and_values() {
        assert_eq!(parse("").unwrap(), OutputSettings::default());
        let s = parse(
            "syslog = true\nsyslog_socket = \"/run/x.sock\"\nsyslog_facility = \"local3\"\nmetrics = \"127.0.0.1:9617\"\nmetrics_file = \"/var/lib/node/h.prom\"\n",
        )
        .unwrap();
        assert!(s.syslog);
        assert_eq!(s.syslog_facility, 19);
        assert_eq!(s.metrics, Some("127.0.0.1:9617".parse().unwrap()));
        assert_eq!(s.metrics_file, Some(PathBuf::from("/var/lib/node/h.prom")));
        assert_eq!(parse("metrics_file = \"\"").unwrap().metrics_file, None);
        assert_eq!(facility("daemon"), Some(3));
        assert_eq!(facility("local8"), None);
    }

    #[test]
    fn bad_values_name_their_key() {
        for (bad, key) in [
            ("syslog = 1", "[output]"),
            ("syslog_socket = \"dev/log\"", "syslog_socket"),
            ("syslog_facility = \"daemons\"", "syslog_facility"),
            ("syslog_facility = \"local\"", "syslog_facility"),
            ("metrics = \"localhost\"", "metrics"),
            ("metrics = \"127.0.0.1:99999\"", "metrics"),
            ("metrics_file = \"x.prom\"", "metrics_file"),
            ("bogus = 1", "bogus"),
        ] {
            let e = format!("{:#}", parse(bad).unwrap_err());
            assert!(e.contains(key), "{bad}: {e}");
        }
    }
}
