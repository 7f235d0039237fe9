//! The configuration: arbitrary text, token soup and mutated valid configurations give a
//! config or a clean error, never a panic; the small value parsers (durations, CIDRs,
//! report templates, log patterns) likewise.

use proptest::collection::vec;
use proptest::prelude::*;

use super::cases;
use crate::config::{duration, measure, peers::Cidr, rule::Template, Config};

/// A valid configuration touching every section, to be mutated.
const SEED: &str = r#"update = false
[monitor]
interval = "150s"
forget_rate = 0.6
tcpdump = false
files_interval = "1h"
services = { myapp = 8080 }

[[files]]
path = "/etc"
hash = "sha256"
attrs = "all"
exclude = ["/etc/mtab", "*.swp"]

[[files]]
path = "/www"
hash = "blake3"
attrs = ["type", "mode", "uid", "gid", "content"]

[[measure]]
name = "failed_logins"
file = "/var/log/auth.log"
match = 'Failed password for (?:invalid user )?(\S+) from (\S+)'
kind = "counter"
extract = 2
history = "scalar"

[[measure]]
name = "latency_ms"
file = "/var/log/app.log"
match = ['latency ([0-9.]+) ms', 'took ([0-9.]+) ms']
kind = "real"
aggregate = "last"
history = "weekly"

[[measure]]
use = "ssh"
file = "/var/log/auth.log"

[[port]]
name = "ssh_up"
port = 22
proto = "tcp"
listening = true

[[rule]]
name = "low_entropy"
when = "entropy_www_in_low.www_in_high_anomaly"
report = "LOW ENTROPY incident: $(mon.value_www_in) connections"

[[process]]
name = "rogue_sleep"
command = '^sleep( |$)'
owner = ["nobody", 0, "1000"]
pid = [2, 99999]
priority = [-20, 0]
status = "S|R"
tty = "pts/.*"
select = "command.(owner|!tty)"
count = [0, 0]
in_range_define = ["fine"]
out_of_range_define = ["alarm", "page_me"]

[output]
syslog_facility = "daemon"

[peers]
listen = "127.0.0.1:0"
allow = ["127.0.0.1", "10.0.0.0/8"]
"#;

/// One line-level or character-level edit of a TOML text.
#[derive(Clone, Debug)]
enum Edit {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    InsertLine(usize, String),
    InsertChars(usize, String),
    DeleteChars(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let soup = prop_oneof![
        Just("[monitor]".to_owned()),
        Just("[[files]]".to_owned()),
        Just("[[measure]]".to_owned()),
        Just("[[rule]]".to_owned()),
        Just("[[port]]".to_owned()),
        Just("[[process]]".to_owned()),
        Just("[peers]".to_owned()),
        Just("[output]".to_owned()),
        Just("[packages]".to_owned()),
        Just("[database]".to_owned()),
        "[a-z_]{1,12} = (\"[^\"\\\\\n]{0,12}\"|-?[0-9]{1,20}|true|\\[\\]|\\{\\}|'[^'\n]{0,12}'|[0-9.e+-]{1,8})",
        "\\PC{0,20}",
    ];
    let chars = prop_oneof![
        "[\"'\\[\\]{}=,.#\\\\\n ]{1,3}",
        "[0-9a-z$()%]{1,4}",
        "\\PC{1,3}",
    ];
    prop_oneof![
        any::<usize>().prop_map(Edit::DeleteLine),
        any::<usize>().prop_map(Edit::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        (any::<usize>(), soup).prop_map(|(i, l)| Edit::InsertLine(i, l)),
        (any::<usize>(), chars).prop_map(|(i, c)| Edit::InsertChars(i, c)),
        (any::<usize>(), 1usize..10).prop_map(|(i, n)| Edit::DeleteChars(i, n)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for e in edits {
        let n = lines.len().max(1);
        match e {
            Edit::DeleteLine(i) if !lines.is_empty() => {
                lines.remove(i % n);
            }
            Edit::DuplicateLine(i) if !lines.is_empty() => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            Edit::SwapLines(a, b) if !lines.is_empty() => lines.swap(a % n, b % n),
            Edit::InsertLine(i, l) => lines.insert(i % (lines.len() + 1), l.clone()),
            Edit::InsertChars(i, c) => {
                let mut t = lines.join("\n");
                let at = char_boundary(&t, i % (t.len() + 1));
                t.insert_str(at, c);
                lines = t.split('\n').map(str::to_owned).collect();
            }
            Edit::DeleteChars(i, k) => {
                let mut t = lines.join("\n");
                let a = char_boundary(&t, i % (t.len() + 1));
                let b = char_boundary(&t, (a + k).min(t.len()));
                t.replace_range(a..b, "");
                lines = t.split('\n').map(str::to_owned).collect();
            }
            _ => {}
        }
    }
    lines.join("\n")
}

fn char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Parses, and renders any error whole (as the binary prints it).
fn parse(text: &str) {
    if let Err(e) = Config::parse(text, "prop.toml") {
        let _ = format!("{e:#}");
    }
}

#[test]
fn prop_config_seed_is_valid() {
    Config::parse(SEED, "seed").expect("the seed configuration is valid");
}

proptest! {
    #![proptest_config(cases(128))]

    /// A valid configuration under up to eight edits: a config or an error.
    #[test]
    fn prop_config_mutated_never_panics(edits in vec(edit(), 1..8)) {
        parse(&apply(SEED, &edits));
    }

    /// The built-in default, mutated the same way.
    #[test]
    fn prop_config_default_mutated_never_panics(edits in vec(edit(), 1..8)) {
        parse(&apply(crate::config::DEFAULT, &edits));
    }

    /// Arbitrary text, and lines of TOML-shaped soup.
    #[test]
    fn prop_config_arbitrary_text_never_panics(
        text in prop_oneof![
            "\\PC{0,200}",
            vec(edit(), 0..12).prop_map(|e| apply("", &e)),
        ],
    ) {
        parse(&text);
    }
}

proptest! {
    /// Durations: a positive duration or an error.
    #[test]
    fn prop_duration_parses_or_refuses(
        s in prop_oneof!["\\PC{0,12}", "[0-9]{0,22}(ms|s|m|h|d|w|us|x|)"],
        n in 1u64..1_000_000,
    ) {
        if let Ok(d) = duration::parse(&s) {
            prop_assert!(!d.is_zero());
        }
        prop_assert_eq!(duration::parse(&format!("{n}s")).unwrap().as_secs(), n);
    }

    /// CIDRs: an address within its own block, or `None`.
    #[test]
    fn prop_cidr_parses_or_refuses(
        s in prop_oneof![
            "\\PC{0,24}",
            "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(/[0-9]{1,3})?",
            "[0-9a-f:]{2,20}(/[0-9]{1,3})?",
        ],
        ip in any::<std::net::IpAddr>(),
    ) {
        if let Some(c) = Cidr::parse(&s) {
            let _ = c.contains(ip);
        }
        let own = Cidr::parse(&ip.to_string()).expect("an address is a CIDR");
        prop_assert!(own.contains(ip));
    }

    /// Report templates: parsed or an error naming the variable; literal text expands to
    /// itself.
    #[test]
    fn prop_template_parses_or_refuses(
        s in prop_oneof!["\\PC{0,40}", "([a-z ]|\\$\\((mon|sys|rule|this|x)\\.[a-z_]{0,10}\\)?|\\$\\(|\\$){0,8}"],
        lit in "[a-zA-Z0-9 .,:]{0,30}",
    ) {
        if let Ok(t) = Template::parse(&s) {
            let _ = t.expand(|_| "v".to_owned());
        }
        prop_assert_eq!(Template::parse(&lit).unwrap().expand(|_| unreachable!()), lit);
    }

    /// Log patterns: compiled or refused, never a panic; a compiled one searches any line.
    #[test]
    fn prop_log_patterns_compile_or_refuse(
        p in prop_oneof!["\\PC{0,20}", "[a-z()\\[\\]{}?*+|^$.\\\\0-9,:dwsS]{0,20}"],
        line in vec(any::<u8>(), 0..100),
    ) {
        if let Ok(re) = measure::compile(&[&p]) {
            let _ = re.find(&line[..]);
        }
    }
}

/// Found by `prop_cidr_parses_or_refuses`: a CIDR written as an IPv4-mapped IPv6 address
/// (`::ffff:10.0.0.1`) never matched, not even that very address, because a peer's
/// mapped address is compared as IPv4.
#[test]
fn regression_cidr_mapped_ipv6_never_matches() {
    let ip: std::net::IpAddr = "::ffff:10.0.0.1".parse().unwrap();
    let v4: std::net::IpAddr = "10.0.0.1".parse().unwrap();
    for text in ["::ffff:10.0.0.1", "::ffff:10.0.0.0/120"] {
        let c = Cidr::parse(text).unwrap();
        assert!(c.contains(ip) && c.contains(v4), "{text}");
        assert!(!c.contains("10.1.0.1".parse().unwrap()), "{text}");
    }
}
