//! `[packages]`: package-aware file integrity (dpkg or rpm), where its files are, and what
//! it accepts by itself.

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

/// Which package database answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    /// dpkg (the default).
    Dpkg,
    /// rpm, through the `rpm` program.
    Rpm,
}

/// The `[packages]` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageSettings {
    /// `source`: which database.
    pub source: SourceKind,
    /// Where dpkg and apt keep their files.
    pub paths: Paths,
    /// `rpm_dbpath` (rpm's `--dbpath`, inside `root`) and `rpm` (the program).
    pub rpm: homeostat_linux::rpm::Paths,
    /// What is accepted by itself.
    pub accept: Accept,
    /// Where the packages are installed (dpkg's `--instdir`, `/` on a host): a path of a
    /// finding is looked up with this prefix taken off.
    pub root: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    source: Option<String>,
    rpm_dbpath: Option<PathBuf>,
    rpm: Option<PathBuf>,
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
        let source = match raw.source.as_deref() {
            None | Some("dpkg") => SourceKind::Dpkg,
            Some("rpm") => SourceKind::Rpm,
            Some(other) => bail!("[packages] source: expected \"dpkg\" or \"rpm\", got {other:?}"),
        };
        let root = raw.root.unwrap_or_else(|| PathBuf::from("/"));
        let r = homeostat_linux::rpm::Paths::default();
        Ok(PackageSettings {
            source,
            rpm: homeostat_linux::rpm::Paths {
                root: root.clone(),
                dbpath: raw.rpm_dbpath.unwrap_or(r.dbpath),
                rpm: raw.rpm.unwrap_or(r.rpm),
            },
            paths: Paths {
                dpkg_dir: raw.dpkg_dir.unwrap_or(d.dpkg_dir),
                dpkg_log: raw.dpkg_log.unwrap_or(d.dpkg_log),
                apt_cache: raw.apt_cache.unwrap_or(d.apt_cache),
                apt_lists: raw.apt_lists.unwrap_or(d.apt_lists),
            },
            accept,
            root,
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
        assert_eq!(s.source, SourceKind::Dpkg);
        let v: toml::Value =
            toml::from_str("source = \"rpm\"\nroot = \"/r\"\nrpm_dbpath = \"/db\"").unwrap();
        let s = PackageSettings::from_toml(&v).unwrap();
        assert_eq!(s.source, SourceKind::Rpm);
        assert_eq!(s.rpm.root, PathBuf::from("/r"));
        assert_eq!(s.rpm.dbpath, PathBuf::from("/db"));
        let bad: toml::Value = toml::from_str("source = \"pacman\"").unwrap();
        assert!(PackageSettings::from_toml(&bad).is_err());
    }
}
