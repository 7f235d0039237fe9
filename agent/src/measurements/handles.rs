//! The built-in library of log measurements a user enables by name:
//! `[[measure]] use = "ssh"` (optionally with `file = …` and `history = …`).
//!
//! Patterns are byte-oriented (as `LC_ALL=C grep`), and written so that turning every
//! `(?:` into `(` gives the same patterns as POSIX extended regular expressions:
//! `ci/bench-logscan.sh` does that to run `grep -E` with the ssh handle's patterns. Each
//! pattern of a measurement that extracts keys has the key as its first capture group.
//! User names in sshd lines are attacker text: `.*` before ` from ADDRESS port` is greedy,
//! so a user name that itself contains "from 1.2.3.4 port 1" cannot choose the address.

use homeostat_core::logscan::{Aggregate, Kind};

/// One measurement of a handle.
pub struct Builtin {
    pub name: &'static str,
    pub file: &'static str,
    pub patterns: &'static [&'static str],
    pub kind: Kind,
    pub aggregate: Aggregate,
    /// Capture group counted per key.
    pub extract: Option<usize>,
}

/// ssh break-in attempts: failed authentications, invalid users, and disconnects before
/// authentication; the key is the source address. OpenSSH 9.8 and later log as
/// `sshd-session` (and 10.0's authentication as `sshd-auth`).
pub const SSH_PATTERNS: &[&str] = &[
    r"sshd(?:-session|-auth)?\[[0-9]+]: Failed [-a-z/]+ for .* from ([0-9A-Fa-f:.]+) port [0-9]+",
    r"sshd(?:-session|-auth)?\[[0-9]+]: Invalid user .* from ([0-9A-Fa-f:.]+)",
    r"sshd(?:-session|-auth)?\[[0-9]+]: (?:Connection closed by|Connection reset by|Disconnected from|Received disconnect from|Disconnecting) (?:.* )?([0-9A-Fa-f:.]+) port [0-9]+.*\[preauth]$",
];

/// vsftpd (and wu-ftpd) xferlog: `DATE TIME HOST BYTES FILE TYPE ACTION DIRECTION MODE …`;
/// the file name may hold spaces, so the fields after it are matched from its end.
const FTP_GET: &[&str] = &[
    r"^[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} [0-9]{4} [0-9]+ [^ ]+ ([0-9]+) .* [ab] [CUT_]+ o [agr] ",
];
const FTP_PUT: &[&str] = &[
    r"^[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} [0-9]{4} [0-9]+ [^ ]+ ([0-9]+) .* [ab] [CUT_]+ i [agr] ",
];
const FTP_XFER: &[&str] = &[
    r"^[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} [0-9]{4} [0-9]+ ([^ ]+) [0-9]+ .* [ab] [CUT_]+ [io] [agr] ",
];

/// DNS queries by type: BIND's query log and unbound's `log-queries`.
const DNS: &[&str] = &[
    r"query: [^ ]+ (?:IN|CH|HS|ANY) ([A-Z0-9]+) [-+]",
    r"unbound(?:\[[0-9]+:[0-9]+]|: \[[0-9]+:[0-9]+]) info: [0-9A-Fa-f:.]+ [^ ]+ ([A-Z0-9]+) (?:IN|CH|HS)$",
];

/// Postfix: SMTP rejections (smtpd, postscreen) and milter rejections, per client address.
const SMTP_REJECT: &[&str] = &[
    r"postfix/(?:smtpd|postscreen)\[[0-9]+]: [0-9A-Za-z]+: reject: [A-Z]+ from [^ ]*\[([0-9A-Fa-f:.]+)]",
];
const SMTP_MILTER: &[&str] = &[
    r"postfix/[a-z]+\[[0-9]+]: [0-9A-Za-z]+: milter-reject: [A-Z-]+ from [^ ]*\[([0-9A-Fa-f:.]+)]",
];

const SSH: &[Builtin] = &[Builtin {
    name: "ssh_breakin",
    file: "/var/log/auth.log",
    patterns: SSH_PATTERNS,
    kind: Kind::Counter,
    aggregate: Aggregate::Sum,
    extract: Some(1),
}];

const FTP: &[Builtin] = &[
    Builtin {
        name: "ftp_transfers",
        file: "/var/log/xferlog",
        patterns: FTP_XFER,
        kind: Kind::Counter,
        aggregate: Aggregate::Sum,
        extract: Some(1),
    },
    Builtin {
        name: "ftp_get_bytes",
        file: "/var/log/xferlog",
        patterns: FTP_GET,
        kind: Kind::Int,
        aggregate: Aggregate::Sum,
        extract: None,
    },
    Builtin {
        name: "ftp_put_bytes",
        file: "/var/log/xferlog",
        patterns: FTP_PUT,
        kind: Kind::Int,
        aggregate: Aggregate::Sum,
        extract: None,
    },
];

const DNS_HANDLE: &[Builtin] = &[Builtin {
    name: "dns_queries",
    file: "/var/log/named/queries",
    patterns: DNS,
    kind: Kind::Counter,
    aggregate: Aggregate::Sum,
    extract: Some(1),
}];

const POSTFIX: &[Builtin] = &[
    Builtin {
        name: "smtp_rejected",
        file: "/var/log/mail.log",
        patterns: SMTP_REJECT,
        kind: Kind::Counter,
        aggregate: Aggregate::Sum,
        extract: Some(1),
    },
    Builtin {
        name: "smtp_milter_rejected",
        file: "/var/log/mail.log",
        patterns: SMTP_MILTER,
        kind: Kind::Counter,
        aggregate: Aggregate::Sum,
        extract: Some(1),
    },
];

/// The handle names, for error messages.
pub const NAMES: &str = "ssh, ftp, dns, postfix";

/// The measurements of handle `name`.
pub fn lookup(name: &str) -> Option<&'static [Builtin]> {
    Some(match name {
        "ssh" => SSH,
        "ftp" => FTP,
        "dns" => DNS_HANDLE,
        "postfix" => POSTFIX,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_automata::meta::Regex;

    fn re(patterns: &[&str]) -> Regex {
        crate::config::measure::compile(patterns).unwrap()
    }

    fn group(r: &Regex, line: &str) -> Option<String> {
        let mut caps = r.create_captures();
        r.captures(line.as_bytes(), &mut caps);
        caps.get_group(1)
            .map(|s| line[s.range()].to_string())
            .or_else(|| caps.is_match().then(String::new))
    }

    #[test]
    fn xferlog_patterns_share_the_date_prefix() {
        const XFER: &str = r"^[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} [0-9]{4} [0-9]+ ";
        for p in FTP_GET.iter().chain(FTP_PUT).chain(FTP_XFER) {
            assert!(p.starts_with(XFER), "{p}");
        }
    }

    #[test]
    fn ssh_lines() {
        let r = re(SSH_PATTERNS);
        let hit = [
            ("Jan  1 00:00:01 h sshd[123]: Failed password for root from 192.0.2.1 port 22 ssh2", "192.0.2.1"),
            ("Jan  1 00:00:01 h sshd[123]: Failed password for invalid user admin from 2001:db8::1 port 22 ssh2", "2001:db8::1"),
            ("Jan  1 00:00:01 h sshd[123]: Failed publickey for git from 198.51.100.7 port 4242 ssh2: RSA SHA256:x", "198.51.100.7"),
            ("Jan  1 00:00:01 h sshd[123]: Failed keyboard-interactive/pam for x from 192.0.2.9 port 1 ssh2", "192.0.2.9"),
            ("Jan  1 00:00:01 h sshd[123]: Invalid user oracle from 192.0.2.2 port 5555", "192.0.2.2"),
            ("Jan  1 00:00:01 h sshd[123]: Invalid user oracle from 192.0.2.2", "192.0.2.2"),
            ("Jan  1 00:00:01 h sshd[123]: Connection closed by authenticating user root 192.0.2.3 port 40000 [preauth]", "192.0.2.3"),
            ("Jan  1 00:00:01 h sshd[123]: Connection closed by 192.0.2.4 port 40000 [preauth]", "192.0.2.4"),
            ("Jan  1 00:00:01 h sshd[123]: Disconnected from invalid user a b 192.0.2.5 port 1 [preauth]", "192.0.2.5"),
            ("Jan  1 00:00:01 h sshd[123]: Received disconnect from 192.0.2.6 port 2:11: Bye Bye [preauth]", "192.0.2.6"),
            ("Jan  1 00:00:01 h sshd[123]: Connection reset by 192.0.2.8 port 3 [preauth]", "192.0.2.8"),
            ("2025-01-01T00:00:01+00:00 h sshd-session[9]: Failed password for root from 192.0.2.11 port 22 ssh2", "192.0.2.11"),
            ("2025-01-01T00:00:01+00:00 h sshd-session[9]: Invalid user x from 192.0.2.12 port 22", "192.0.2.12"),
            // A user name that tries to name another address does not get to.
            ("Jan  1 00:00:01 h sshd[123]: Failed password for invalid user x from 10.9.9.9 port 1 from 192.0.2.10 port 22 ssh2", "192.0.2.10"),
        ];
        for (line, addr) in hit {
            assert_eq!(group(&r, line).as_deref(), Some(addr), "{line}");
        }
        for miss in [
            "Jan  1 00:00:01 h sshd[123]: Accepted password for root from 192.0.2.1 port 22 ssh2",
            "Jan  1 00:00:01 h sshd[123]: Received disconnect from 192.0.2.6 port 2:11: disconnected by user",
            "Jan  1 00:00:01 h sshd[123]: pam_unix(sshd:session): session opened for user root",
            "Jan  1 00:00:01 h CRON[9]: Failed password for root from 192.0.2.1 port 22",
        ] {
            assert_eq!(group(&r, miss), None, "{miss}");
        }
    }

    #[test]
    fn ftp_dns_postfix_lines() {
        let get = re(FTP_GET);
        let put = re(FTP_PUT);
        let xfer = re(FTP_XFER);
        let down = "Thu Mar  4 08:12:30 2004 1 202.156.2.166 492 /home/test/my file.bin b _ o r test ftp 0 * c";
        let up =
            "Thu Mar  4 08:12:31 2004 2 host.example 1024 /incoming/x a _ i a anonymous ftp 0 * c";
        assert_eq!(group(&get, down).as_deref(), Some("492"));
        assert_eq!(group(&put, down), None);
        assert_eq!(group(&put, up).as_deref(), Some("1024"));
        assert_eq!(group(&xfer, down).as_deref(), Some("202.156.2.166"));
        assert_eq!(group(&xfer, up).as_deref(), Some("host.example"));
        let dns = re(DNS);
        for (line, t) in [
            ("01-Jan-2024 00:00:00.000 queries: info: client @0x7f 192.0.2.1#5353 (example.com): query: example.com IN AAAA +E(0)K (192.0.2.53)", "AAAA"),
            ("client 192.0.2.1#5353: query: example.com IN MX -", "MX"),
            ("[1700000000] unbound[1234:0] info: 192.0.2.1 example.com. A IN", "A"),
            ("Jan  1 00:00:00 ns unbound: [1234:0] info: 192.0.2.1 example.com. TXT IN", "TXT"),
        ] {
            assert_eq!(group(&dns, line).as_deref(), Some(t), "{line}");
        }
        let rej = re(SMTP_REJECT);
        let mil = re(SMTP_MILTER);
        let r1 = "Jan  1 00:00:00 mx postfix/smtpd[42]: NOQUEUE: reject: RCPT from unknown[192.0.2.1]: 554 5.7.1 <x@y>: Relay access denied";
        let r2 = "Jan  1 00:00:00 mx postfix/cleanup[43]: 4F1A: milter-reject: END-OF-MESSAGE from mail.example[2001:db8::2]: 5.7.1 spam";
        assert_eq!(group(&rej, r1).as_deref(), Some("192.0.2.1"));
        assert_eq!(group(&mil, r2).as_deref(), Some("2001:db8::2"));
        assert_eq!(group(&rej, r2), None);
    }

    #[test]
    fn handles_resolve() {
        for n in NAMES.split(", ") {
            let h = lookup(n).unwrap();
            for b in h {
                let r = re(b.patterns);
                if let Some(g) = b.extract {
                    for p in 0..r.pattern_len() {
                        let pid = regex_automata::PatternID::new(p).unwrap();
                        assert!(r.group_info().group_len(pid) > g, "{}", b.name);
                    }
                }
            }
        }
        assert!(lookup("nope").is_none());
    }
}
