#![cfg(target_os = "linux")]
//! `[output] metrics` and `metrics_file`: `scan` writes the metrics file; `run` serves
//! `GET /metrics` that passes `promtool check metrics`, and a real Prometheus server
//! (Debian's `prometheus`, on loopback with its own data directory) scrapes it every
//! second and answers a PromQL query for a class that is active. Loopback only; every
//! wait is bounded; the processes are killed at the end.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use homeostat_tests::fixture::Fixture;
use homeostat_tests::net::{free_port, http_get};
use homeostat_tests::procs::{wait_for, Killed};
use homeostat_tests::prom::{active_classes, promtool_check};
use homeostat_tests::serde_json::{self, Value};

/// How often a wait polls.
const POLL: Duration = Duration::from_millis(200);

fn config(fx: &Fixture, port: u16, file: &Path) {
    let top = format!(
        "[monitor]\ninterval = \"1s\"\n[output]\nmetrics = \"127.0.0.1:{port}\"\nmetrics_file = \"{}\"\n",
        file.display()
    );
    fx.write_config(&top, "");
    std::fs::write(fx.tree.join("a"), "1").unwrap();
}

#[test]
fn scan_writes_the_metrics_file() {
    let fx = Fixture::bare();
    let file = fx.dir.path().join("homeostat.prom");
    config(&fx, free_port(), &file);
    fx.run(&["--json", "scan"]).expect_code(0);
    std::fs::write(fx.tree.join("a"), "2").unwrap();
    fx.run(&["--json", "scan"]).expect_code(4);
    let text = std::fs::read_to_string(&file).unwrap();
    promtool_check(&text);
    assert!(text.contains("homeostat_rounds_total 2\n"), "{text}");
    assert!(
        text.contains(&format!(
            "homeostat_file_findings_total{{tree=\"{}\",change=\"changed\"}} 1\n",
            fx.handle()
        )),
        "{text}"
    );
    assert!(!active_classes(&text).is_empty(), "{text}");
    // No temporary is left beside it.
    let names: Vec<_> = std::fs::read_dir(fx.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        names.iter().all(|n| !n.to_string_lossy().contains(".tmp")),
        "{names:?}"
    );
}

#[test]
fn run_serves_metrics_that_prometheus_scrapes() {
    let fx = Fixture::bare();
    let port = free_port();
    let file = fx.dir.path().join("homeostat.prom");
    config(&fx, port, &file);
    let _daemon = Killed(fx.spawn(&["run"]));

    // The first round runs at once; its classes are on /metrics.
    let text = wait_for(Duration::from_secs(30), POLL, || {
        http_get(port, "/metrics").filter(|(s, b)| *s == 200 && !active_classes(b).is_empty())
    })
    .expect("/metrics with an active class within 30 s")
    .1;
    promtool_check(&text);
    assert!(text.contains("homeostat_build_info{version=\""), "{text}");
    assert_eq!(http_get(port, "/").map(|r| r.0), Some(404));
    assert_eq!(http_get(port, "/metrics.txt").map(|r| r.0), Some(404));
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains("homeostat_rounds_total"));

    let prom_port = free_port();
    let prom_dir = fx.dir.path().join("prometheus");
    std::fs::create_dir(&prom_dir).unwrap();
    let prom_cfg = prom_dir.join("prometheus.yml");
    std::fs::write(
        &prom_cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: homeostat\n    scrape_interval: 1s\n    scrape_timeout: 1s\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(prom_dir.join("log")).unwrap();
    let _prometheus = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", prom_cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                prom_dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus (Debian package prometheus; .ci/run installs it)"),
    );

    // A class active on /metrics now, and Prometheus's answer for it: 1.
    let found = wait_for(Duration::from_secs(60), POLL, || {
        let (_, body) = http_get(port, "/metrics")?;
        let class = active_classes(&body).into_iter().next()?;
        let query = format!("homeostat_class_active%7Bclass%3D%22{class}%22%7D");
        let (status, answer) = http_get(prom_port, &format!("/api/v1/query?query={query}"))?;
        if status != 200 {
            return None;
        }
        let v: Value = serde_json::from_str(&answer).ok()?;
        let result = v["data"]["result"].as_array()?;
        let series = result.first()?;
        (series["metric"]["class"] == class.as_str() && series["value"][1] == "1")
            .then_some((class, answer))
    });
    let log = std::fs::read_to_string(prom_dir.join("log")).unwrap_or_default();
    let (class, answer) =
        found.unwrap_or_else(|| panic!("no PromQL answer within 60 s; prometheus said:\n{log}"));
    assert!(
        answer.contains("\"job\":\"homeostat\""),
        "{class}: {answer}"
    );
}

#[test]
fn bad_output_settings_are_config_errors_and_a_busy_port_fails_run() {
    let fx = Fixture::bare();
    for (bad, key) in [
        ("metrics = \"nowhere\"", "[output] metrics"),
        ("syslog_facility = \"kernel\"", "[output] syslog_facility"),
        ("metrics_file = \"rel.prom\"", "[output] metrics_file"),
    ] {
        fx.write_config(&format!("[output]\n{bad}\n"), "");
        let o = fx.run(&["--json", "scan"]);
        o.expect_code(16);
        assert!(o.stderr_str().contains(key), "{bad}: {}", o.stderr_str());
    }
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    config(&fx, port, &fx.dir.path().join("h.prom"));
    let o = fx.run(&["--json", "run"]);
    o.expect_code(18);
    assert!(
        o.stderr_str().contains(&format!(
            "[output] metrics: cannot listen on 127.0.0.1:{port}"
        )),
        "{}",
        o.stderr_str()
    );
}
