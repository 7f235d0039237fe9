//! `[packages]`: package-aware file integrity (dpkg), where its files are, and what it
//! accepts by itself.

use std::path::PathBuf;

use anyhow::{bail, Result};
use homeostat_linux::dpkg::Paths;
use serde::Deserialize;

/// What package changes are accepted into the baseline without `update`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accept {
    /// None: every finding is reported as before, with its package.
    Nothing,
    /// Changes a package transaction explains and a digest verifies.
    Verified,
}

/// The `[packages]` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageSettings {
    /// Where dpkg and apt keep their files.
    pub paths: Paths,
    /// What is accepted by itself.
    pub accept: Accept,
    /// Where the packages are installed (dpkg's `--instdir`, `/` on a host): a path of a
    /// finding is looked up with this prefix taken off.
    pub root: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    dpkg_dir: Option<PathBuf>,
    dpkg_log: Option<PathBuf>,
    apt_cache: Option<PathBuf>,
    apt_lists: Option<PathBuf>,
    accept: Option<String>,
    root: Option<PathBuf>,
}

impl PackageSettings {
    /// Reads the section; every path defaults to the system's.
    pub fn from_toml(v: &toml::Value) -> Result<PackageSettings> {
        let raw: Raw = v
            .clone()
            .try_into()
            .map_err(|e| anyhow::anyhow!("[packages]: {e}"))?;
        let d = Paths::default();
        let accept = match raw.accept.as_deref() {
            None | Some("none") => Accept::Nothing,
            Some("verified") => Accept::Verified,
            Some(other) => {
                bail!("[packages] accept: expected \"verified\" or \"none\", got {other:?}")
            }
        };
        Ok(PackageSettings {
            paths: Paths {
                dpkg_dir: raw.dpkg_dir.unwrap_or(d.dpkg_dir),
                dpkg_log: raw.dpkg_log.unwrap_or(d.dpkg_log),
                apt_cache: raw.apt_cache.unwrap_or(d.apt_cache),
                apt_lists: raw.apt_lists.unwrap_or(d.apt_lists),
            },
            accept,
            root: raw.root.unwrap_or_else(|| PathBuf::from("/")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_a_bad_accept() {
        let v: toml::Value = toml::from_str("accept = \"verified\"\ndpkg_dir = \"/x\"").unwrap();
        let s = PackageSettings::from_toml(&v).unwrap();
        assert_eq!(s.accept, Accept::Verified);
        assert_eq!(s.paths.dpkg_dir, PathBuf::from("/x"));
        assert_eq!(s.paths.dpkg_log, PathBuf::from("/var/log/dpkg.log"));
        let bad: toml::Value = toml::from_str("accept = \"all\"").unwrap();
        let e = PackageSettings::from_toml(&bad).unwrap_err().to_string();
        assert!(e.contains("[packages] accept"), "{e}");
    }
}
