//! `[monitor]` in the configuration.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use homeostat_core::stats::{DEFAULT_FORGET_RATE, FORGET_RATE_MAX, FORGET_RATE_MIN};
use serde::Deserialize;

/// How the monitor samples and learns.
#[derive(Clone, Debug, PartialEq)]
pub struct MonitorSettings {
    /// Between samples (cf-monitord: 150 s).
    pub interval: Duration,
    /// Weight of the past in the weekly averages (cf-monitord: 0.6).
    pub forget_rate: f32,
    /// Run tcpdump for the packet observables.
    pub tcpdump: bool,
    /// The interface tcpdump listens on (`any` for all); `None`: tcpdump's default.
    pub tcpdump_interface: Option<String>,
    /// Between file integrity checks in `run`.
    pub files_interval: Duration,
    /// Services watched besides the built-in ones: `(name, port)`.
    pub services: Vec<(String, u16)>,
}

impl Default for MonitorSettings {
    fn default() -> Self {
        MonitorSettings {
            interval: Duration::from_secs(150),
            forget_rate: DEFAULT_FORGET_RATE,
            tcpdump: false,
            tcpdump_interface: None,
            files_interval: Duration::from_secs(3600),
            services: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    interval: Option<toml::Value>,
    forget_rate: Option<f64>,
    tcpdump: Option<bool>,
    tcpdump_interface: Option<String>,
    files_interval: Option<toml::Value>,
    #[serde(default)]
    services: std::collections::BTreeMap<String, i64>,
}

impl MonitorSettings {
    /// Reads the `[monitor]` table (`None`: all defaults).
    pub fn from_toml(value: Option<&toml::Value>) -> Result<MonitorSettings> {
        let mut s = MonitorSettings::default();
        let Some(v) = value else { return Ok(s) };
        let raw: Raw = v.clone().try_into().context("[monitor]")?;
        if let Some(i) = &raw.interval {
            s.interval = at_least_a_second(i).context("[monitor] interval")?;
        }
        if let Some(i) = &raw.files_interval {
            s.files_interval = at_least_a_second(i).context("[monitor] files_interval")?;
        }
        if let Some(f) = raw.forget_rate {
            let f32 = f as f32;
            if !(FORGET_RATE_MIN..=FORGET_RATE_MAX).contains(&f32) {
                bail!(
                    "[monitor] forget_rate {f}: expected a number from {FORGET_RATE_MIN} to {FORGET_RATE_MAX}"
                );
            }
            s.forget_rate = f32;
        }
        s.tcpdump = raw.tcpdump.unwrap_or(false);
        if let Some(i) = raw.tcpdump_interface {
            crate::platform::monitor::packets::valid_interface(&i)
                .map_err(|why| anyhow::anyhow!("[monitor] tcpdump_interface {i:?}: {why}"))?;
            s.tcpdump_interface = Some(i);
        }
        for (name, port) in raw.services {
            let port = u16::try_from(port)
                .ok()
                .filter(|p| *p > 0)
                .with_context(|| {
                    format!("[monitor] services: port {port} of {name:?} is not 1..65535")
                })?;
            s.services.push((name, port));
        }
        Ok(s)
    }
}

/// A monitor interval: any duration of [`crate::duration`], down to one second.
fn at_least_a_second(v: &toml::Value) -> Result<Duration> {
    let d = crate::config::duration::from_toml(v)?;
    if d < Duration::from_secs(1) {
        bail!("duration {v}: expected at least 1s");
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let v: toml::Value =
            toml::from_str("interval = \"5m\"\nforget_rate = 0.7\nservices = { app = 8080 }")
                .unwrap();
        let s = MonitorSettings::from_toml(Some(&v)).unwrap();
        assert_eq!(s.interval, Duration::from_secs(300));
        assert_eq!(s.forget_rate, 0.7);
        assert_eq!(s.services, vec![("app".to_string(), 8080)]);
        assert_eq!(s.tcpdump_interface, None);
        for iface in ["lo", "any"] {
            let v: toml::Value = toml::from_str(&format!("tcpdump_interface = {iface:?}")).unwrap();
            let s = MonitorSettings::from_toml(Some(&v)).unwrap();
            assert_eq!(s.tcpdump_interface.as_deref(), Some(iface));
        }
        for bad in [
            "interval = \"x\"",
            "interval = \"150\"",
            "interval = \"500ms\"",
            "files_interval = 0",
            "forget_rate = 2.0",
            "services = { a = 0 }",
            "bogus = 1",
            "tcpdump_interface = \"\"",
            "tcpdump_interface = \"eth0 -w /tmp/x\"",
            "tcpdump_interface = \"-w\"",
            "tcpdump_interface = 1",
        ] {
            let v: toml::Value = toml::from_str(bad).unwrap();
            assert!(MonitorSettings::from_toml(Some(&v)).is_err(), "{bad}");
        }
        assert_eq!(
            MonitorSettings::from_toml(None).unwrap(),
            MonitorSettings::default()
        );
    }
}
