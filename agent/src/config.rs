//! The TOML configuration, with a compiled-in default so that `homeostat scan` works with
//! none.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use homeostat_core::digest::Algorithm;
use homeostat_core::fim::{Attr, Attrs};
use homeostat_linux::{Exclude, TreeSpec};
use serde::Deserialize;

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
    // Sections of later capabilities, accepted so that one config serves every version.
    monitor: Option<toml::Value>,
    measure: Option<toml::Value>,
    rule: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    key: Option<PathBuf>,
    public_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFiles {
    path: String,
    hash: Option<String>,
    attrs: Option<RawAttrs>,
    depth: Option<RawDepth>,
    #[serde(default)]
    exclude: Vec<String>,
    xdev: Option<bool>,
    handle: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawAttrs {
    Word(String),
    List(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawDepth {
    Word(String),
    Number(i64),
}

/// One watched tree.
#[derive(Clone, Debug)]
pub struct Tree {
    pub spec: TreeSpec,
    /// The promise handle written to file_changes.log.
    pub handle: String,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub state_dir: Option<PathBuf>,
    /// Accept reported changes into the database (CFEngine's `update_hashes`).
    pub update: bool,
    pub trees: Vec<Tree>,
    /// ed25519 secret key file that signs every database written.
    pub db_key: Option<PathBuf>,
    /// Hex public key a database must be signed with (derived from `db_key` if absent).
    pub db_public_key: Option<String>,
}

impl Config {
    /// Loads `path`, or the built-in default when `None`.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        match path {
            None => Config::parse(DEFAULT, "built-in default config"),
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read config {}", p.display()))?;
                Config::parse(&text, &p.display().to_string())
            }
        }
    }

    pub fn parse(text: &str, origin: &str) -> Result<Config> {
        let raw: Raw = toml::from_str(text).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
        let _ = (&raw.monitor, &raw.measure, &raw.rule);
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
            state_dir: raw.state_dir,
            update: raw.update.unwrap_or(true),
            trees,
            db_key,
            db_public_key,
        })
    }
}

fn tree(f: &RawFiles) -> Result<Tree> {
    if !f.path.starts_with('/') {
        bail!("path must be absolute");
    }
    let mut root = f.path.trim_end_matches('/').as_bytes().to_vec();
    if root.is_empty() {
        root.push(b'/');
    }
    let algorithm = match &f.hash {
        None => Algorithm::BEST,
        Some(h) => Algorithm::from_name(h).with_context(|| {
            format!("unknown hash {h:?}: expected sha256, sha512, blake3, sha1, md5 or best")
        })?,
    };
    let attrs = match &f.attrs {
        None => Attrs::ALL,
        Some(RawAttrs::Word(w)) if w == "all" => Attrs::ALL,
        Some(RawAttrs::Word(w)) => parse_attr_list(w.split([',', ' ']).filter(|s| !s.is_empty()))?,
        Some(RawAttrs::List(l)) => parse_attr_list(l.iter().map(String::as_str))?,
    };
    let depth = match &f.depth {
        None => None,
        Some(RawDepth::Word(w)) if w == "inf" => None,
        Some(RawDepth::Word(w)) => Some(
            w.parse::<u32>()
                .with_context(|| format!("depth {w:?}: expected \"inf\" or a number"))?,
        ),
        Some(RawDepth::Number(n)) => {
            Some(u32::try_from(*n).with_context(|| format!("depth {n}: expected 0 or more"))?)
        }
    };
    let exclude = Exclude::new(&f.exclude)?;
    let handle = match &f.handle {
        Some(h) => canonify(h),
        None => format!("files{}", canonify(&f.path)),
    };
    Ok(Tree {
        spec: TreeSpec {
            root,
            algorithm,
            attrs,
            depth,
            xdev: f.xdev.unwrap_or(true),
            exclude,
        },
        handle,
    })
}

fn parse_attr_list<'a>(names: impl Iterator<Item = &'a str>) -> Result<Attrs> {
    let mut set = Attrs::EMPTY.with(Attr::Type);
    for n in names {
        let a = Attr::from_name(n).with_context(|| {
            format!("unknown attribute {n:?}: expected all, or some of type mode uid gid size mtime ctime inode nlink target xattrs content")
        })?;
        set = set.with(a);
    }
    Ok(set)
}

/// CFEngine's canonify: every character but `[A-Za-z0-9_]` becomes `_`.
pub fn canonify(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let c = Config::parse("[[measure]]\nname = \"x\"\n", "x").unwrap();
        assert!(c.trees.is_empty());
    }
}
