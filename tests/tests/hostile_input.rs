#![cfg(target_os = "linux")]
//! Hostile and careless input (issue 20): inputs read with a bound, names that collide or
//! cannot be used refused at config load, config errors printed as lines, replay errors
//! naming file:line, extracted keys printed unambiguously. Each test is named after the
//! defect it guards against.

use std::path::{Path, PathBuf};

use homeostat_tests::run::{run_with, Output};

/// Exit status of a configuration (or replay input) that cannot be used.
const CONFIG: i32 = 16;
/// `limits::CONFIG` of the agent.
const CONFIG_LIMIT: usize = 1 << 20;

struct Work {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Work {
    fn new() -> Work {
        let dir = tempfile::Builder::new()
            .prefix("homeostat-hostile-")
            .tempdir()
            .unwrap();
        let root = dir.path().to_path_buf();
        std::fs::create_dir(root.join("state")).unwrap();
        Work { _dir: dir, root }
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.root.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn run(&self, config: &Path, args: &[&str]) -> Output {
        run_with(config, &self.root.join("state"), args)
    }

    /// Runs `scan` with `config` (text), expecting the config error, and gives stderr.
    fn refused(&self, config: &str) -> String {
        let cfg = self.file("c.toml", config.as_bytes());
        let o = self.run(&cfg, &["scan"]);
        o.expect_code(CONFIG);
        o.stderr_str()
    }
}

/// stderr holds only `homeostat: …` lines and indented continuations, no `\x0a`.
fn as_lines(stderr: &str) {
    assert!(!stderr.contains("\\x0a"), "{stderr}");
    for l in stderr.lines() {
        assert!(
            l.starts_with("homeostat: ") || l.starts_with("  "),
            "{l:?} in {stderr}"
        );
    }
}

#[test]
fn config_read_without_a_bound_is_refused_at_its_limit() {
    let w = Work::new();
    let o = w.run(Path::new("/dev/zero"), &["config"]);
    o.expect_code(CONFIG);
    let e = o.stderr_str();
    assert!(
        e.contains(&format!(
            "/dev/zero is larger than its limit of {CONFIG_LIMIT} bytes"
        )),
        "{e}"
    );
    // A config of exactly the limit (padded with a comment) is read; one byte more is not.
    let mut text = b"update = false\n#".to_vec();
    text.resize(CONFIG_LIMIT - 1, b'x');
    text.push(b'\n');
    let cfg = w.file("big.toml", &text);
    w.run(&cfg, &["config"]).expect_code(0);
    text.insert(20, b'x');
    let cfg = w.file("big.toml", &text);
    let o = w.run(&cfg, &["config"]);
    o.expect_code(CONFIG);
    assert!(
        o.stderr_str().contains("big.toml is larger than its limit"),
        "{}",
        o.stderr_str()
    );
}

#[test]
fn replay_read_without_a_bound_is_refused() {
    let w = Work::new();
    let cfg = w.file("c.toml", b"[monitor]\n");
    let o = w.run(&cfg, &["replay", "/dev/zero"]);
    o.expect_code(CONFIG);
    assert!(
        o.stderr_str()
            .contains("/dev/zero:1: line longer than 4096 bytes"),
        "{}",
        o.stderr_str()
    );
}

#[test]
fn replay_out_of_range_value_and_bad_name_name_the_line() {
    let w = Work::new();
    let cfg = w.file("c.toml", b"[monitor]\n");
    let csv = w.file("h.csv", b"1764000000,users,1\n1764000300,users,1e16\n");
    let o = w.run(&cfg, &["replay", csv.to_str().unwrap()]);
    o.expect_code(CONFIG);
    assert!(
        o.stderr_str()
            .contains("h.csv:2: value 1e16 is out of range"),
        "{}",
        o.stderr_str()
    );
    let csv = w.file(
        "h.csv",
        b"# recorded\n1764000000,users,1\n1764000000,a-b,1\n",
    );
    let o = w.run(&cfg, &["replay", csv.to_str().unwrap()]);
    o.expect_code(CONFIG);
    assert!(
        o.stderr_str().contains("h.csv:3: observable \"a-b\""),
        "{}",
        o.stderr_str()
    );
    // The largest value the learner takes is replayed.
    let csv = w.file("h.csv", b"1764000000,users,1e15\n");
    w.run(&cfg, &["--json", "replay", csv.to_str().unwrap()])
        .expect_code(0);
}

#[test]
fn service_name_colliding_with_a_builtin_is_refused() {
    let w = Work::new();
    let e = w.refused("[monitor]\nservices = { www = 80 }\n");
    assert!(
        e.contains("[monitor] services: name \"www\" collides with the built-in service www"),
        "{e}"
    );
    let e = w.refused("[monitor]\nservices = { \"a.b\" = 81 }\n");
    assert!(e.contains("name \"a.b\": invalid character '.'"), "{e}");
    as_lines(&e);
}

#[test]
fn measure_name_colliding_or_unusable_is_refused() {
    let w = Work::new();
    let log = w.file("app.log", b"");
    let block = |name: &str| {
        format!(
            "[[measure]]\nname = {name:?}\nfile = {:?}\nmatch = \"x\"\n",
            log.to_str().unwrap()
        )
    };
    let e = w.refused(&block("rootprocs"));
    assert!(e.contains("[[measure]] block 1: name \"rootprocs\" collides with the built-in observable rootprocs"), "{e}");
    let e = w.refused(&block("a-b"));
    assert!(e.contains("name \"a-b\": invalid character '-'"), "{e}");
    let e = w.refused(&block(&"n".repeat(40)));
    assert!(e.contains("longer than 32 bytes"), "{e}");
    let e = w.refused(&format!(
        "[monitor]\nservices = {{ app = 8080 }}\n{}",
        block("app_out")
    ));
    assert!(
        e.contains("collides with app_out of [monitor] services \"app\""),
        "{e}"
    );
    let ok = w.file("c.toml", block(&"n".repeat(32)).as_bytes());
    w.run(&ok, &["scan"]).expect_code(0);
}

#[test]
fn config_errors_are_lines_without_untagged_enum() {
    let w = Work::new();
    let e = w.refused("[[files]]\npath = \"/tmp\"\ndepth = true\n");
    as_lines(&e);
    assert!(!e.contains("untagged"), "{e}");
    assert!(e.contains("\"inf\" or a whole number of levels"), "{e}");
    assert!(e.lines().count() > 1, "{e}");
    let e = w.refused("[[files]]\npath = \"/tmp\"\nattrs = 3.5\n");
    assert!(
        !e.contains("untagged") && e.contains("attribute names"),
        "{e}"
    );
    let e = w.refused("[[measure]]\nname = \"m\"\nfile = \"/x\"\nmatch = { a = 1 }\n");
    assert!(
        !e.contains("untagged") && e.contains("a string or a list of strings"),
        "{e}"
    );
    // A control byte in the config comes back escaped, on its line.
    let e = w.refused("x = \"\x1b[2J\n");
    as_lines(&e);
    assert!(!e.contains('\x1b'), "{e}");
}

#[test]
fn extracted_keys_are_printed_unambiguously() {
    let w = Work::new();
    let log = w.file(
        "app.log",
        b"from 203.0.113.9=5000 198.51.100.4=1;\nfrom a\"b;\nfrom 198.51.100.4=1;\n",
    );
    let cfg = w.file(
        "c.toml",
        format!(
            "[[measure]]\nname = \"from\"\nfile = {:?}\nmatch = 'from ([^;]*);'\nextract = 1\nhistory = \"scalar\"\n",
            log.to_str().unwrap()
        )
        .as_bytes(),
    );
    let o = w.run(&cfg, &["scan"]);
    o.expect_code(0);
    let text = o.stdout_str();
    assert!(
        text.contains(r#"from = 3 (counter) ["198.51.100.4=1"=1 "203.0.113.9=5000 198.51.100.4=1"=1 "a\x22b"=1]"#),
        "{text}"
    );
}

#[test]
fn hostile_pattern_is_refused_at_config_load() {
    let w = Work::new();
    let log = w.file("app.log", b"");
    let e = w.refused(&format!(
        "[[measure]]\nname = \"slow\"\nfile = {:?}\nmatch = ['ok', '(\\w{{1,100}}){{1,100}}z']\n",
        log.to_str().unwrap()
    ));
    assert!(e.contains("[[measure]] block 1"), "{e}");
    // `\` comes escaped on stderr, as every byte that could start an escape.
    assert!(
        e.contains(r"match pattern 2 '(\x5cw{1,100}){1,100}z' is too costly"),
        "{e}"
    );
}
