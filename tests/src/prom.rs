//! Prometheus metrics text: `promtool check metrics` and reading samples and active
//! classes out of it.

use std::io::Write;
use std::process::{Command, Stdio};

/// `promtool check metrics` on `text`; panics with its words when it objects.
pub fn promtool_check(text: &str) {
    let mut c = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; .ci/run installs it)");
    c.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(
        o.status.success() && o.stdout.is_empty() && o.stderr.is_empty(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The value of the series `series` (name and labels, as written), or `None`.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

/// Classes `homeostat_class_active` shows as 1.
pub fn active_classes(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("homeostat_class_active{class=\""))
        .filter_map(|l| l.strip_suffix("\"} 1"))
        .map(str::to_string)
        .collect()
}
