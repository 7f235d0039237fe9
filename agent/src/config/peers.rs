//! `[peers]` in the configuration: the neighbourhood watch (who may fetch this host's
//! database, whom this host watches, how often).
//!
//! Parsed in every build, so that a build without the `peers` feature names `[peers]` as
//! what it lacks rather than calling it an unknown section; only then is the rest unused.
#![cfg_attr(not(feature = "peers"), allow(dead_code))]

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use super::duration;

/// An address or CIDR range of `allow` (the seed's `admit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `127.0.0.1`, `127.0.0.0/8`, `::1` or `fd00::/8`.
    pub fn parse(text: &str) -> Option<Cidr> {
        let (a, p) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) if p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty() => p.parse().ok()?,
            Some(_) => return None,
        };
        if prefix > max {
            return None;
        }
        // `::ffff:a.b.c.d/n` is the IPv4 block `a.b.c.d/(n-96)`: `contains` sees a peer
        // connecting over IPv6 with a mapped address as IPv4, so a mapped block must be
        // IPv4 too or it would never match.
        match addr {
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => Some(Cidr {
                    addr: IpAddr::V4(v4),
                    prefix: prefix - 96,
                }),
                None => Some(Cidr { addr, prefix }),
            },
            _ => Some(Cidr { addr, prefix }),
        }
    }

    /// Whether `ip` lies in the range (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        let (a, b, bits) = match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => (
                u128::from(u32::from(a)) << 96,
                u128::from(u32::from(b)) << 96,
                self.prefix,
            ),
            (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), self.prefix),
            _ => return false,
        };
        let mask = if bits == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(bits))
        };
        a & mask == b & mask
    }
}

/// The neighbourhood watch's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSettings {
    /// Where `serve` (and `run`) serve the key, database, journal and files (absent: no server).
    pub listen: Option<SocketAddr>,
    /// Client addresses admitted; everyone else is refused at accept.
    pub allow: Vec<Cidr>,
    /// Every host of the neighbourhood list, `HOST:PORT`, in list order.
    pub hosts: Vec<String>,
    /// This host's entry in `hosts` (default: `listen`).
    pub me: Option<String>,
    /// Hosts per neighbourhood (the seed's `groupsize`).
    pub group_size: usize,
    /// Connections served at once.
    pub max_connections: usize,
    /// How often `run` watches the neighbours.
    pub interval: Duration,
}

impl Default for PeerSettings {
    fn default() -> Self {
        PeerSettings {
            listen: None,
            allow: vec![
                Cidr::parse("127.0.0.0/8").expect("valid"),
                Cidr::parse("::1").expect("valid"),
            ],
            hosts: Vec::new(),
            me: None,
            group_size: 3,
            max_connections: 64,
            interval: Duration::from_secs(600),
        }
    }
}

impl PeerSettings {
    /// Whether a client address is admitted.
    pub fn admits(&self, ip: IpAddr) -> bool {
        self.allow.iter().any(|c| c.contains(ip))
    }

    /// This host's name in the list: `self`, else `listen` as written.
    pub fn me(&self) -> Option<String> {
        self.me
            .clone()
            .or_else(|| self.listen.map(|a| a.to_string()))
    }

    /// The neighbours this host watches, in list order.
    pub fn neighbours(&self) -> Vec<String> {
        let Some(me) = self.me() else {
            return Vec::new();
        };
        homeostat_core::peers::neighbours(&self.hosts, &me, self.group_size)
            .cloned()
            .collect()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    listen: Option<String>,
    allow: Option<Vec<String>>,
    hosts: Option<Vec<String>>,
    hosts_file: Option<PathBuf>,
    #[serde(rename = "self")]
    me: Option<String>,
    group_size: Option<i64>,
    max_connections: Option<i64>,
    interval: Option<toml::Value>,
}

/// Checks one `HOST:PORT` entry of the host list: it names a file under `peers/`, so no
/// `/`, no control bytes, no leading dot.
fn host(entry: &str, origin: &str) -> Result<String> {
    let e = entry.trim();
    let ok = !e.is_empty()
        && !e.starts_with('.')
        && e.rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0))
        && e.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:[]".contains(&b));
    if !ok {
        bail!("{origin}: host {entry:?}: expected HOST:PORT (letters, digits, - . _ : [ ])");
    }
    Ok(e.to_string())
}

/// Reads a hosts file: one `HOST:PORT` a line, `#` comments, blank lines skipped.
fn hosts_file(path: &Path) -> Result<Vec<String>> {
    let text = crate::limits::read_to_string(path, crate::limits::HOSTS_FILE)
        .with_context(|| format!("[peers] hosts_file {}: cannot read", path.display()))?;
    let mut hosts = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if !line.is_empty() {
            hosts.push(host(
                line,
                &format!("[peers] hosts_file {} line {}", path.display(), i + 1),
            )?);
        }
    }
    Ok(hosts)
}

impl PeerSettings {
    /// Reads the `[peers]` table.
    pub fn from_toml(value: &toml::Value) -> Result<PeerSettings> {
        let raw: Raw = value.clone().try_into().context("[peers]")?;
        let mut s = PeerSettings::default();
        if let Some(l) = raw.listen {
            s.listen = Some(l.parse().map_err(|_| {
                anyhow::anyhow!("[peers] listen {l:?}: expected an address and port, like \"127.0.0.1:5309\" or \"[::1]:5309\"")
            })?);
        }
        if let Some(allow) = raw.allow {
            s.allow = allow
                .iter()
                .map(|a| {
                    Cidr::parse(a).with_context(|| {
                        format!("[peers] allow {a:?}: expected an address or CIDR range, like \"10.0.0.0/8\" or \"::1\"")
                    })
                })
                .collect::<Result<_>>()?;
        }
        s.hosts = match (raw.hosts, raw.hosts_file) {
            (Some(_), Some(_)) => bail!("[peers]: give hosts or hosts_file, not both"),
            (Some(h), None) => h
                .iter()
                .map(|e| host(e, "[peers] hosts"))
                .collect::<Result<_>>()?,
            (None, Some(p)) if p.is_absolute() => hosts_file(&p)?,
            (None, Some(p)) => bail!(
                "[peers] hosts_file {}: an absolute path is needed",
                p.display()
            ),
            (None, None) => Vec::new(),
        };
        if let Some(m) = raw.me {
            s.me = Some(host(&m, "[peers] self")?);
        }
        if let Some(g) = raw.group_size {
            if !(1..=1024).contains(&g) {
                bail!("[peers] group_size {g}: expected 1 to 1024");
            }
            s.group_size = g as usize;
        }
        if let Some(m) = raw.max_connections {
            if !(1..=65536).contains(&m) {
                bail!("[peers] max_connections {m}: expected 1 to 65536");
            }
            s.max_connections = m as usize;
        }
        if let Some(i) = raw.interval {
            s.interval = duration::from_toml(&i).context("[peers] interval")?;
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PeerSettings> {
        let v: toml::Value = toml::from_str(text).unwrap();
        PeerSettings::from_toml(&v)
    }

    #[test]
    fn cidr_ranges() {
        let c = Cidr::parse("127.0.0.0/8").unwrap();
        assert!(c.contains("127.0.0.3".parse().unwrap()));
        assert!(c.contains("::ffff:127.0.0.9".parse().unwrap()), "v4-mapped");
        assert!(!c.contains("128.0.0.1".parse().unwrap()));
        assert!(!c.contains("::1".parse().unwrap()));
        let one = Cidr::parse("127.0.0.2").unwrap();
        assert!(one.contains("127.0.0.2".parse().unwrap()));
        assert!(!one.contains("127.0.0.3".parse().unwrap()));
        assert!(Cidr::parse("::1").unwrap().contains("::1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        for bad in ["127.0.0.0/33", "::/129", "x", "1.2.3.4/", "1.2.3.4/+8"] {
            assert!(Cidr::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn settings_and_neighbours() {
        let s = parse(
            r#"listen = "127.0.0.2:5309"
hosts = ["127.0.0.1:5309", "127.0.0.2:5309", "127.0.0.3:5309", "127.0.0.4:5309"]
group_size = 3
interval = "30s"
"#,
        )
        .unwrap();
        assert_eq!(s.neighbours(), ["127.0.0.1:5309", "127.0.0.3:5309"]);
        assert_eq!(s.interval, Duration::from_secs(30));
        assert!(s.admits("127.0.0.200".parse().unwrap()));
        assert!(!s.admits("10.0.0.1".parse().unwrap()));
        let alone = parse("self = \"127.0.0.4:5309\"\nhosts = [\"127.0.0.1:5309\", \"127.0.0.2:5309\", \"127.0.0.3:5309\", \"127.0.0.4:5309\"]").unwrap();
        assert!(alone.neighbours().is_empty());
    }

    #[test]
    fn bad_values_name_their_key() {
        for (bad, key) in [
            ("listen = \"nowhere\"", "listen"),
            ("allow = [\"10.0.0.0/40\"]", "allow"),
            ("hosts = [\"../x:1\"]", "host"),
            ("hosts = [\"a/b:1\"]", "host"),
            ("hosts = [\"a\"]", "host"),
            ("group_size = 0", "group_size"),
            ("max_connections = 0", "max_connections"),
            ("interval = \"soon\"", "interval"),
            ("hosts_file = \"rel\"", "hosts_file"),
            ("hosts = []\nhosts_file = \"/x\"", "not both"),
            ("bogus = 1", "bogus"),
        ] {
            let e = format!("{:#}", parse(bad).unwrap_err());
            assert!(e.contains(key), "{bad}: {e}");
        }
    }
}
