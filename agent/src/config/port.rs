//! `[[port]]` promises: a TCP or UDP port that must, or must not, be listening.

use anyhow::{bail, Result};
use serde::Deserialize;

/// `tcp` or `udp`; IPv4 and IPv6 alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    /// `tcp` or `udp`.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One `[[port]]` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortPromise {
    /// `[A-Za-z0-9_]`; prefixes the classes `<name>_ok` and `<name>_violated`.
    pub name: String,
    pub port: u16,
    pub proto: Proto,
    /// Must (true) or must not (false) be listening.
    pub listening: bool,
}

impl PortPromise {
    /// The class this round raises: `<name>_ok` when kept, `<name>_violated` when broken.
    pub fn class(&self, kept: bool) -> String {
        if kept {
            format!("{}_ok", self.name)
        } else {
            format!("{}_violated", self.name)
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    name: Option<toml::Value>,
    port: Option<toml::Value>,
    proto: Option<toml::Value>,
    listening: Option<toml::Value>,
}

/// Reads every `[[port]]` block, in config order; an error names the block (1-based, and
/// its name when it has one) and the field.
pub fn ports(raw: &[toml::Value], origin: &str) -> Result<Vec<PortPromise>> {
    let mut out: Vec<PortPromise> = Vec::new();
    for (i, v) in raw.iter().enumerate() {
        let block = match v.get("name").and_then(toml::Value::as_str) {
            Some(n) => format!("{origin}: [[port]] block {} ({n:?})", i + 1),
            None => format!("{origin}: [[port]] block {}", i + 1),
        };
        let p = promise(v).map_err(|e| anyhow::anyhow!("{block}: {e}"))?;
        if out.iter().any(|q| q.name == p.name) {
            bail!(
                "{block}: name: {:?} is already the name of a [[port]]",
                p.name
            );
        }
        out.push(p);
    }
    Ok(out)
}

fn promise(v: &toml::Value) -> Result<PortPromise> {
    let raw: Raw = match v.clone().try_into() {
        Ok(r) => r,
        Err(e) => bail!("{}", e.message().trim_end()),
    };
    let name = match raw.name {
        None => bail!("name: a [[port]] needs a `name`"),
        Some(toml::Value::String(s)) => s,
        Some(other) => bail!("name: expected a string, found {other}"),
    };
    if name.is_empty()
        || name.len() > 64
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        bail!("name: {name:?} must be 1 to 64 of A-Z, a-z, 0-9 and `_`");
    }
    let port = match raw.port {
        None => bail!("port: a [[port]] needs a `port`"),
        Some(toml::Value::Integer(p)) => match u16::try_from(p) {
            Ok(p) if p > 0 => p,
            _ => bail!("port: {p} is not 1..65535"),
        },
        Some(other) => bail!("port: expected a number 1..65535, found {other}"),
    };
    let proto = match raw.proto {
        None => Proto::Tcp,
        Some(toml::Value::String(s)) if s == "tcp" => Proto::Tcp,
        Some(toml::Value::String(s)) if s == "udp" => Proto::Udp,
        Some(other) => bail!("proto: {other}: expected \"tcp\" or \"udp\""),
    };
    let listening = match raw.listening {
        None => true,
        Some(toml::Value::Boolean(b)) => b,
        Some(other) => bail!("listening: {other}: expected true or false"),
    };
    Ok(PortPromise {
        name,
        port,
        proto,
        listening,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<PortPromise>> {
        let t: toml::Table = toml::from_str(text).unwrap();
        let blocks = t
            .get("port")
            .and_then(|p| p.as_array())
            .cloned()
            .unwrap_or_default();
        ports(&blocks, "cfg")
    }

    #[test]
    fn promises_with_defaults() {
        let p = parse(
            "[[port]]\nname = \"ssh_up\"\nport = 22\n\
             [[port]]\nname = \"no_tftp\"\nport = 69\nproto = \"udp\"\nlistening = false\n",
        )
        .unwrap();
        assert_eq!(
            p,
            vec![
                PortPromise {
                    name: "ssh_up".into(),
                    port: 22,
                    proto: Proto::Tcp,
                    listening: true
                },
                PortPromise {
                    name: "no_tftp".into(),
                    port: 69,
                    proto: Proto::Udp,
                    listening: false
                },
            ]
        );
        assert_eq!(p[0].class(true), "ssh_up_ok");
        assert_eq!(p[1].class(false), "no_tftp_violated");
    }

    #[test]
    fn bad_blocks_name_the_block_and_field() {
        for (bad, what) in [
            ("port = 22\n", "block 2: name: a [[port]] needs a `name`"),
            ("name = \"a-b\"\nport = 22\n", "block 2 (\"a-b\"): name:"),
            ("name = \"\"\nport = 22\n", "name:"),
            ("name = 3\nport = 22\n", "name: expected a string"),
            ("name = \"x\"\n", "block 2 (\"x\"): port: a [[port]] needs"),
            ("name = \"x\"\nport = 0\n", "port: 0 is not 1..65535"),
            ("name = \"x\"\nport = 65536\n", "port: 65536"),
            ("name = \"x\"\nport = \"22\"\n", "port: expected a number"),
            (
                "name = \"x\"\nport = 22\nproto = \"sctp\"\n",
                "proto: \"sctp\"",
            ),
            ("name = \"x\"\nport = 22\nproto = \"tcp6\"\n", "proto:"),
            (
                "name = \"x\"\nport = 22\nlistening = \"yes\"\n",
                "listening:",
            ),
            ("name = \"x\"\nport = 22\nbogus = 1\n", "bogus"),
            ("name = \"ok\"\nport = 23\n", "name: \"ok\" is already"),
        ] {
            let text = format!("[[port]]\nname = \"ok\"\nport = 22\n[[port]]\n{bad}");
            let e = format!("{:#}", parse(&text).unwrap_err());
            assert!(e.starts_with("cfg: [[port]] block 2"), "{bad}: {e}");
            assert!(e.contains(what), "{bad}: {e}");
        }
    }
}
