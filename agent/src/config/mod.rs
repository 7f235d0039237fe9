//! The TOML configuration, with a compiled-in default so that `homeostat scan` works with
//! none.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

use self::files::{tree, RawFiles};
use self::measure::measures;
use self::monitor::MonitorSettings;
use self::output::OutputSettings;

pub mod duration;
pub mod files;
mod loose;
pub mod measure;
pub mod monitor;
mod names;
pub mod output;
pub mod packages;
pub mod peers;
pub mod port;
pub mod process;
pub mod rule;

pub use files::Tree;
pub use measure::{History, Measure, MeasureSource};
pub use rule::Rule;

/// The built-in configuration (`homeostat config --default` prints it).
pub const DEFAULT: &str = include_str!("default.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    state_dir: Option<PathBuf>,
    update: Option<bool>,
    #[serde(default)]
    files: Vec<RawFiles>,
    database: Option<RawDatabase>,
    // Sections parsed by their own modules, which name the block and field of an error.
    monitor: Option<toml::Value>,
    #[serde(default)]
    measure: Vec<toml::Value>,
    rule: Option<toml::Value>,
    #[serde(default)]
    port: Vec<toml::Value>,
    output: Option<toml::Value>,
    #[serde(default)]
    process: Vec<toml::Value>,
    peers: Option<toml::Value>,
    packages: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    key: Option<PathBuf>,
    public_key: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub state_dir: Option<PathBuf>,
    /// Accept reported changes into the database (CFEngine's `update_hashes`).
    pub update: bool,
    pub trees: Vec<Tree>,
    /// Log and command measurements, in config order (handles expanded).
    pub measures: Vec<Measure>,
    /// ed25519 secret key file that signs every database written.
    pub db_key: Option<PathBuf>,
    /// Hex public key a database must be signed with (derived from `db_key` if absent).
    pub db_public_key: Option<String>,
    /// `[monitor]`: sample and learn the machine's normal state (absent: no monitor feeds).
    pub monitor: Option<MonitorSettings>,
    /// `[[port]]` promises, in config order.
    pub ports: Vec<port::PortPromise>,
    /// `[output]`: syslog, `/metrics`, the metrics file.
    pub output: OutputSettings,
    /// `[[rule]]` blocks, in config order.
    pub rules: Vec<Rule>,
    /// `[[process]]`: process promises, in config order.
    pub processes: Vec<process::ProcessPromise>,
    /// `[peers]`: the neighbourhood watch (absent: no server, no neighbours).
    pub peers: Option<peers::PeerSettings>,
    /// `[packages]`: package-aware file findings (absent: none).
    pub packages: Option<packages::PackageSettings>,
}

impl Config {
    /// Loads `path`, or the built-in default when `None`.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        match path {
            None => Config::parse(DEFAULT, "built-in default config"),
            Some(p) => {
                let text = crate::limits::read_to_string(p, crate::limits::CONFIG)
                    .with_context(|| format!("cannot read config {}", p.display()))?;
                Config::parse(&text, &p.display().to_string())
            }
        }
    }

    pub fn parse(text: &str, origin: &str) -> Result<Config> {
        let raw: Raw = toml::from_str(text).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
        let rules = rule::rules(raw.rule.as_ref(), origin)?;
        let monitor = raw
            .monitor
            .as_ref()
            .map(|m| MonitorSettings::from_toml(Some(m)))
            .transpose()
            .with_context(|| origin.to_string())?;
        let output =
            OutputSettings::from_toml(raw.output.as_ref()).with_context(|| origin.to_string())?;
        let measures = measures(&raw.measure, origin)?;
        let services = monitor.as_ref().map_or(&[][..], |m| &m.services[..]);
        names::check(
            measures.iter().map(|m| (m.block, m.name.as_str())),
            services,
            origin,
        )?;
        let peers = raw
            .peers
            .as_ref()
            .map(peers::PeerSettings::from_toml)
            .transpose()
            .with_context(|| origin.to_string())?;
        let packages = raw
            .packages
            .as_ref()
            .map(packages::PackageSettings::from_toml)
            .transpose()
            .with_context(|| origin.to_string())?;
        let ports = port::ports(&raw.port, origin)?;
        let processes = process::processes(&raw.process, origin)?;
        let mut trees = Vec::new();
        for (i, f) in raw.files.iter().enumerate() {
            trees.push(tree(f).with_context(|| {
                format!("{origin}: [[files]] block {} (path {:?})", i + 1, f.path)
            })?);
        }
        let (db_key, db_public_key) = match raw.database {
            Some(d) => (d.key, d.public_key),
            None => (None, None),
        };
        Ok(Config {
            monitor,
            output,
            state_dir: raw.state_dir,
            update: raw.update.unwrap_or(true),
            trees,
            measures,
            db_key,
            db_public_key,
            ports,
            rules,
            processes,
            peers,
            packages,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use homeostat_core::fim::Attr;
    use homeostat_core::logscan::{Aggregate, Kind};
    use std::time::Duration;

    #[test]
    fn readme_config_example_parses() {
        let readme = include_str!("../../../README.md");
        let section = &readme[readme.find("## Configuration").expect("section")..];
        let start = section.find("```toml\n").expect("toml block") + 8;
        let block = &section[start..];
        let block = &block[..block.find("```").expect("end of block")];
        let c = Config::parse(block, "README.md").unwrap_or_else(|e| panic!("{e:#}"));
        assert!(c.peers.is_some() && !c.trees.is_empty() && !c.rules.is_empty());
    }

    #[test]
    fn default_config_parses() {
        let c = Config::parse(DEFAULT, "default").unwrap();
        let roots: Vec<&[u8]> = c.trees.iter().map(|t| &t.spec.root[..]).collect();
        assert_eq!(
            roots,
            [&b"/etc"[..], b"/bin", b"/sbin", b"/usr/bin", b"/usr/sbin"]
        );
        assert!(c.update);
        assert_eq!(c.trees[0].handle, "files_etc");
    }

    #[test]
    fn attrs_depth_and_errors() {
        let c = Config::parse(
            "update = false\n[[files]]\npath = \"/t/\"\nhash = \"best\"\nattrs = [\"mode\", \"content\"]\ndepth = 2\n",
            "x",
        )
        .unwrap();
        let t = &c.trees[0];
        assert_eq!(t.spec.root, b"/t");
        assert_eq!(t.spec.depth, Some(2));
        assert!(
            t.spec.attrs.contains(Attr::Type)
                && t.spec.attrs.contains(Attr::Mode)
                && !t.spec.attrs.contains(Attr::Ctime)
        );
        assert!(!c.update);
        for bad in [
            "[[files]]\npath = \"rel\"\n",
            "[[files]]\npath = \"/t\"\nhash = \"sha224\"\n",
            "[[files]]\npath = \"/t\"\nattrs = [\"atime\"]\n",
            "[[files]]\npath = \"/t\"\ndepth = -1\n",
            "[[files]]\npath = \"/t\"\nbogus = 1\n",
            "[[files]\n",
        ] {
            assert!(Config::parse(bad, "x").is_err(), "{bad}");
        }
    }

    #[test]
    fn measure_only_config_watches_no_files() {
        let c = Config::parse(
            "[[measure]]\nname = \"x\"\nfile = \"/var/log/x\"\nmatch = \"y\"\n",
            "x",
        )
        .unwrap();
        assert!(c.trees.is_empty());
        assert_eq!(c.measures.len(), 1);
    }

    #[test]
    fn measures_parse_with_defaults() {
        let c = Config::parse(
            r#"
[[measure]]
name = "ssh_failed"
file = "/var/log/auth.log"
match = 'Failed password for (?:invalid user )?(\S+) from (\S+)'
extract = 2

[[measure]]
name = "bytes"
file = "/var/log/x"
match = ["sent ([0-9]+)", "got ([0-9]+)"]
kind = "int"
aggregate = "last"
history = "scalar"

[[measure]]
name = "who"
command = "who"
match = "(.*)"
kind = "string"
timeout = "500ms"

[[measure]]
use = "ssh"
file = "/var/log/secure"

[[measure]]
use = "ftp"
"#,
            "x",
        )
        .unwrap();
        let m = &c.measures;
        assert_eq!(m.len(), 7);
        assert_eq!(
            (m[0].kind, m[0].history, m[0].extract, m[0].block),
            (Kind::Counter, History::Weekly, Some(2), 1)
        );
        assert_eq!(m[1].patterns.len(), 2);
        assert_eq!(m[1].regex.pattern_len(), 2);
        assert_eq!(
            (m[1].aggregate, m[1].history),
            (Aggregate::Last, History::Scalar)
        );
        assert_eq!(
            m[2].source,
            MeasureSource::Command {
                argv: vec!["/bin/sh".into(), "-c".into(), "who".into()],
                timeout: Duration::from_millis(500)
            }
        );
        assert_eq!(m[2].history, History::Scalar);
        assert_eq!(m[3].name, "ssh_breakin");
        assert_eq!(m[3].source, MeasureSource::File("/var/log/secure".into()));
        assert_eq!(m[4].name, "ftp_transfers");
        assert_eq!(m[6].kind, Kind::Int);
    }

    #[test]
    fn bad_measures_name_their_block() {
        for (bad, what) in [
            ("name = \"a\"\nfile = \"/x\"\nmatch = \"y\"\nbogus = 1\n", "bogus"),
            ("file = \"/x\"\nmatch = \"y\"\n", "needs a `name`"),
            ("name = \"a b\"\nfile = \"/x\"\nmatch = \"y\"\n", "name"),
            ("name = \"a\"\nfile = \"x\"\nmatch = \"y\"\n", "absolute"),
            ("name = \"a\"\nmatch = \"y\"\n", "`file` or a `command`"),
            ("name = \"a\"\nfile = \"/x\"\n", "needs `match`"),
            ("name = \"a\"\nfile = \"/x\"\nmatch = []\n", "needs `match`"),
            ("name = \"a\"\nfile = \"/x\"\nmatch = \"(\"\n", "not a valid regular expression"),
            ("name = \"a\"\nfile = \"/x\"\nmatch = \"y\"\nkind = \"int\"\n", "capture group 1"),
            ("name = \"a\"\nfile = \"/x\"\nmatch = [\"(y)\", \"z\"]\nextract = 1\n", "pattern 2"),
            ("name = \"a\"\nfile = \"/x\"\nmatch = \"y\"\nkind = \"float\"\n", "kind"),
            ("name = \"a\"\nfile = \"/x\"\nmatch = \"y\"\naggregate = \"sum\"\n", "aggregate"),
            ("name = \"a\"\nfile = \"/x\"\nmatch = \"(y)\"\nkind = \"string\"\nhistory = \"weekly\"\n", "weekly"),
            ("name = \"a\"\nfile = \"/x\"\nmatch = \"y\"\ntimeout = 3\n", "timeout"),
            ("name = \"a\"\ncommand = \"ls\"\nmatch = \"y\"\ntimeout = \"10\"\n", "timeout: duration \"10\": a unit is needed"),
            ("name = \"a\"\ncommand = [\"ls\"]\nmatch = \"y\"\n", "absolute"),
            ("name = \"a\"\ncommand = \"ls\"\nmatch = \"y\"\ntimeout = \"3y\"\n", "unknown unit \"y\": expected ms, s, m, h or d"),
            ("use = \"telnet\"\n", "unknown handle"),
            ("use = \"ssh\"\nmatch = \"x\"\n", "takes only"),
            ("use = \"ftp\"\nname = \"x\"\n", "no `name`"),
        ] {
            let text = format!("[[measure]]\nname = \"ok\"\nfile = \"/x\"\nmatch = \"y\"\n[[measure]]\n{bad}");
            let e = format!("{:#}", Config::parse(&text, "cfg").unwrap_err());
            assert!(e.contains("[[measure]] block 2"), "{bad}: {e}");
            assert!(e.contains(what), "{bad}: {e}");
        }
        let e = format!(
            "{:#}",
            Config::parse(
                "[[measure]]\nuse = \"ssh\"\n[[measure]]\nuse = \"ssh\"\n",
                "cfg"
            )
            .unwrap_err()
        );
        assert!(
            e.contains("block 2") && e.contains("already used by block 1"),
            "{e}"
        );
    }
}
