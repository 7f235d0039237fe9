//! `[[files]]`: the trees a file check watches, and how each is compared.

use anyhow::{bail, Context, Result};
use homeostat_core::digest::Algorithm;
use homeostat_core::fim::{Attr, Attrs};
use serde::Deserialize;

use super::loose::{Accepts, Loose};
use crate::platform::{Exclude, TreeSpec};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFiles {
    pub(super) path: String,
    hash: Option<String>,
    attrs: Option<RawAttrs>,
    depth: Option<RawDepth>,
    #[serde(default)]
    exclude: Vec<String>,
    xdev: Option<bool>,
    handle: Option<String>,
    realtime: Option<bool>,
}

/// `attrs`: a word or a list.
#[derive(Debug)]
struct AttrWords;
impl Accepts for AttrWords {
    const WHAT: &'static str = "\"all\", or attribute names as a string or a list of strings";
}
type RawAttrs = Loose<AttrWords>;

/// `depth`: a word or a number.
#[derive(Debug)]
struct Depth;
impl Accepts for Depth {
    const WHAT: &'static str = "\"inf\" or a whole number of levels";
}
type RawDepth = Loose<Depth>;

/// One watched tree.
#[derive(Clone, Debug)]
pub struct Tree {
    pub spec: TreeSpec,
    /// The promise handle written to file_changes.log.
    pub handle: String,
    /// `run` watches it as it changes (fanotify or inotify), besides its scheduled checks.
    pub realtime: bool,
}

pub(super) fn tree(f: &RawFiles) -> Result<Tree> {
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
        Some(Loose::Str(w)) if w == "all" => Attrs::ALL,
        Some(Loose::Str(w)) => parse_attr_list(w.split([',', ' ']).filter(|s| !s.is_empty()))?,
        Some(Loose::List(l)) => parse_attr_list(l.iter().map(String::as_str))?,
        Some(other) => return Err(other.refused("attrs")),
    };
    let depth = match &f.depth {
        None => None,
        Some(Loose::Str(w)) if w == "inf" => None,
        Some(Loose::Str(w)) => Some(
            w.parse::<u32>()
                .with_context(|| format!("depth {w:?}: expected \"inf\" or a number"))?,
        ),
        Some(Loose::Int(n)) => {
            Some(u32::try_from(*n).with_context(|| format!("depth {n}: expected 0 or more"))?)
        }
        Some(other) => return Err(other.refused("depth")),
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
        realtime: f.realtime.unwrap_or(false),
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
