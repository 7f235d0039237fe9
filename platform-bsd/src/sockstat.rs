//! Sockets as FreeBSD's `sockstat(1)` lists them: `sockstat -46 -l -q` (listening) and
//! `sockstat -46 -c -q` (connected), no header (`-q`).
//!
//! A line is `USER COMMAND PID FD PROTO LOCAL FOREIGN`, with `?` in the first four for a
//! socket no process holds. The command name may hold spaces, so a line is read from the
//! right: the last three words are the protocol and the two addresses. Addresses are
//! `ADDR:PORT` with `*` for a wildcard address or port; IPv6 ones come bare
//! (`::1:22`, `fe80::1%em0:123`) from FreeBSD 13 and 14's `printaddr`, and a bracketed
//! `[::1]:22` is read too. The protocol names the table: `tcp4`, `tcp6`, `udp4`, `udp6`,
//! or `tcp46`/`udp46` for a dual-stack socket (an IPv6 one). Other protocols (`sctp`,
//! `udplite`, `divert`) are skipped, not errors.
//!
//! sockstat picks the listings by the foreign port: `-l` lists every socket with none,
//! `-c` every one with one. So a TCP socket of `-l` listens, except a rare one bound and
//! not yet listening (sockstat without `-s` does not print the state), and a UDP one of
//! `-l` is bound and unconnected: listening when its local port is not 0.
//!
//! A socket shared by several processes (a forked server's workers) is listed once per
//! process and descriptor; [`parse`] gives every line, and the feed keeps each socket
//! once.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use homeostat_core::feed::{Family, Socket, Transport};

use crate::ps::{lines, BadLine};
use crate::shown;

/// The arguments of the listening listing.
pub const ARGS_LISTENING: &[&str] = &["-46", "-l", "-q"];
/// The arguments of the connected listing.
pub const ARGS_CONNECTED: &[&str] = &["-46", "-c", "-q"];

/// One line: the socket, and the process holding it when there is one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line<'a> {
    pub socket: Socket,
    /// `USER COMMAND PID FD` as printed, raw (`None` for `? ? ? ?`).
    pub holder: Option<&'a [u8]>,
}

/// One address as sockstat prints it, in a table of `family`: the address (a wildcard
/// `*` is the family's unspecified one) and port (`*` is 0). A scope (`%em0`) is dropped.
pub fn parse_addr(s: &[u8], family: Family) -> Result<(IpAddr, u16), &'static str> {
    let (addr, port) = if let Some(rest) = s.strip_prefix(b"[") {
        let close = rest
            .iter()
            .position(|b| *b == b']')
            .ok_or("no `]` after `[`")?;
        let port = rest[close + 1..]
            .strip_prefix(b":")
            .ok_or("no `:port` after `]`")?;
        (&rest[..close], port)
    } else {
        let colon = s
            .iter()
            .rposition(|b| *b == b':')
            .ok_or("no `:port` in an address")?;
        (&s[..colon], &s[colon + 1..])
    };
    let port = if port == b"*" {
        0
    } else {
        crate::number::<u16>(port).ok_or("the port is not a number 0 to 65535")?
    };
    let addr = if addr == b"*" {
        match family {
            Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }
    } else {
        let addr = match addr.iter().position(|b| *b == b'%') {
            Some(i) => &addr[..i],
            None => addr,
        };
        let text = core::str::from_utf8(addr).map_err(|_| "the address is not text")?;
        text.parse::<IpAddr>()
            .map_err(|_| "the address is not an IP address")?
    };
    Ok((addr, port))
}

/// The table a protocol word names; `None` for one the feed does not take.
fn proto(word: &[u8]) -> Option<(Transport, Family)> {
    Some(match word {
        b"tcp4" => (Transport::Tcp, Family::V4),
        b"tcp6" | b"tcp46" => (Transport::Tcp, Family::V6),
        b"udp4" => (Transport::Udp, Family::V4),
        b"udp6" | b"udp46" => (Transport::Udp, Family::V6),
        _ => return None,
    })
}

/// Splits the last word off: `(rest, word)`.
fn last_word(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = s.iter().rposition(|b| *b != b' ' && *b != b'\t')? + 1;
    let s = &s[..end];
    let start = s
        .iter()
        .rposition(|b| *b == b' ' || *b == b'\t')
        .map_or(0, |i| i + 1);
    Some((&s[..start], &s[start..]))
}

/// Parses one line; `Ok(None)` for a protocol the feed does not take. `listing_listen`
/// says which listing it came from: every TCP socket of `-l` listens; a UDP one listens
/// when it has no peer.
pub fn parse_line(line: &[u8], listing_listen: bool) -> Result<Option<Line<'_>>, &'static str> {
    let (rest, foreign) = last_word(line).ok_or("an empty line")?;
    let (rest, local) = last_word(rest).ok_or("no local address")?;
    let (rest, word) = last_word(rest).ok_or("no protocol")?;
    let Some((transport, family)) = proto(word) else {
        if word.iter().all(|b| b.is_ascii_alphanumeric()) && !word.is_empty() {
            return Ok(None);
        }
        return Err("no protocol word before the addresses");
    };
    let local = parse_addr(local, family)?;
    let remote = parse_addr(foreign, family)?;
    let holder = rest.trim_ascii();
    let holder = (!holder.iter().all(|b| matches!(b, b'?' | b' ' | b'\t'))).then_some(holder);
    let unconnected = remote.1 == 0 && remote.0.is_unspecified();
    let listening = match transport {
        Transport::Tcp => listing_listen,
        Transport::Udp => unconnected && local.1 != 0,
    };
    Ok(Some(Line {
        socket: Socket {
            transport,
            family,
            local,
            remote,
            listening,
        },
        holder,
    }))
}

/// Every line of one listing (`listing_listen`: the `-l` one).
pub fn parse(out: &[u8], listing_listen: bool) -> (Vec<Line<'_>>, Vec<BadLine>) {
    let mut all = Vec::new();
    let mut bads = Vec::new();
    for (i, line) in lines(out) {
        match parse_line(line, listing_listen) {
            Ok(Some(l)) => all.push(l),
            Ok(None) => {}
            Err(why) => bads.push(BadLine {
                line: i,
                why,
                text: shown(line),
            }),
        }
    }
    (all, bads)
}

/// Keeps each socket once: the first of lines that name the same table, addresses and
/// state (a forked server's workers share their listener). Two sockets that differ in
/// nothing sockstat shows (`SO_REUSEPORT` listeners) count once too.
#[derive(Default)]
pub struct Unique {
    seen: std::collections::HashSet<Key>,
}

type Key = (Transport, Family, IpAddr, u16, IpAddr, u16, bool);

impl Unique {
    /// Whether `s` is new (not seen before).
    pub fn first(&mut self, s: &Socket) -> bool {
        self.seen.insert((
            s.transport,
            s.family,
            s.local.0,
            s.local.1,
            s.remote.0,
            s.remote.1,
            s.listening,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: [u8; 4]) -> IpAddr {
        IpAddr::from(a)
    }

    /// FreeBSD 13.2 (OPNsense): `sockstat -46 -l -q`.
    const LISTEN13: &[u8] = b"root     sshd       812   3  tcp6   *:22                  *:*
root     sshd       812   4  tcp4   *:22                  *:*
root     unbound    4002  5  udp4   127.0.0.1:53          *:*
root     unbound    4002  6  udp6   ::1:53                *:*
root     ntpd       900   21 udp6   fe80::1%lo0:123       *:*
root     ntpd       900   22 udp4   *:123                 *:*
www      nginx      1500  6  tcp46  *:443                 *:*
www      nginx      1501  6  tcp46  *:443                 *:*
root     syslogd    700   7  udp4   *:514                 *:*
?        ?          ?     ?  tcp4   10.0.3.5:25           *:*
root     sctpd      33    3  sctp4  *:9899                *:*
";

    /// FreeBSD 14.1 (TrueNAS): `sockstat -46 -c -q`, a jailed connection (its address
    /// the jail's), bracketed IPv6, and a command name with a space.
    const CONN14: &[u8] =
        b"root     sshd       1312  5  tcp4   192.168.1.10:22       192.168.1.77:50422
www      php-fpm    4411  9  tcp4   10.0.3.5:42110        10.0.3.1:5432
alice    my app     7000  4  tcp6   [2001:db8::10]:8080   [2001:db8::99]:61000
root     ntpd       900   23 udp4   192.168.1.10:123      192.0.2.1:123
root     sshd       1312  6  tcp6   ::ffff:192.168.1.10:22 ::ffff:192.168.1.78:50001
";

    #[test]
    fn freebsd13_listening() {
        let (all, bads) = parse(LISTEN13, true);
        assert!(bads.is_empty(), "{bads:?}");
        assert_eq!(all.len(), 10, "sctp4 skipped");
        let s = all[0].socket;
        assert_eq!(
            (s.transport, s.family, s.local, s.listening),
            (
                Transport::Tcp,
                Family::V6,
                (IpAddr::from(Ipv6Addr::UNSPECIFIED), 22),
                true
            )
        );
        assert_eq!(all[1].socket.local, (v4([0, 0, 0, 0]), 22));
        assert!(all[1].socket.unconnected());
        assert_eq!(all[2].socket.local, (v4([127, 0, 0, 1]), 53));
        assert!(
            all[2].socket.listening,
            "an unconnected bound UDP socket listens"
        );
        assert_eq!(all[3].socket.local, ("::1".parse().unwrap(), 53));
        assert_eq!(all[4].socket.local, ("fe80::1".parse().unwrap(), 123));
        assert_eq!(all[6].socket.family, Family::V6);
        assert_eq!(all[6].holder, Some(&b"www      nginx      1500  6"[..]));
        assert_eq!(all[9].holder, None);
        assert_eq!(all[9].socket.local, (v4([10, 0, 3, 5]), 25));
    }

    #[test]
    fn freebsd14_connected() {
        let (all, bads) = parse(CONN14, false);
        assert!(bads.is_empty(), "{bads:?}");
        assert_eq!(all.len(), 5);
        assert_eq!(all[0].socket.remote, (v4([192, 168, 1, 77]), 50422));
        assert!(!all[0].socket.listening);
        assert_eq!(all[2].socket.local, ("2001:db8::10".parse().unwrap(), 8080));
        assert_eq!(all[2].holder, Some(&b"alice    my app     7000  4"[..]));
        assert!(
            !all[3].socket.listening,
            "a connected UDP socket does not listen"
        );
        assert_eq!(
            all[4].socket.remote,
            ("::ffff:192.168.1.78".parse().unwrap(), 50001)
        );
    }

    #[test]
    fn shared_listeners_once() {
        let (all, _) = parse(LISTEN13, true);
        let mut u = Unique::default();
        let kept: Vec<_> = all.iter().filter(|l| u.first(&l.socket)).collect();
        // nginx 1500 and 1501 share one tcp46 *:443.
        assert_eq!(kept.len(), all.len() - 1);
        let (conn, _) = parse(CONN14, false);
        assert!(
            conn.iter().all(|l| u.first(&l.socket)),
            "connected ones are new"
        );
    }

    #[test]
    fn addresses() {
        let f = Family::V4;
        assert_eq!(parse_addr(b"*:*", f), Ok((v4([0; 4]), 0)));
        assert_eq!(
            parse_addr(b"*:*", Family::V6),
            Ok((IpAddr::from(Ipv6Addr::UNSPECIFIED), 0))
        );
        assert_eq!(
            parse_addr(b"[::1]:22", Family::V6),
            Ok(("::1".parse().unwrap(), 22))
        );
        assert_eq!(
            parse_addr(b"::1:22", Family::V6),
            Ok(("::1".parse().unwrap(), 22))
        );
        assert!(parse_addr(b"1.2.3.4:70000", f).is_err());
        assert!(parse_addr(b"1.2.3.4", f).is_err());
        assert!(parse_addr(b"[::1:22", Family::V6).is_err());
        assert!(parse_addr(b"host.example:22", f).is_err());
    }

    #[test]
    fn bad_lines_are_named_and_escaped() {
        let (all, bads) = parse(
            b"root x 1 2 tcp4 1.2.3.4:99999 *:*\n\x1b]0;pwn\x07 tcp4\n",
            true,
        );
        assert!(all.is_empty());
        assert_eq!(bads.len(), 2);
        assert_eq!(bads[0].why, "the port is not a number 0 to 65535");
        let said = bads[1].to_string();
        assert!(!said.contains('\x1b') && !said.contains('\x07'), "{said}");
    }
}
