//! The machine's own addresses, to tell incoming packets from outgoing ones.
//!
//! IPv4 from `/proc/net/fib_trie`: every leaf marked `/32 host LOCAL` is an address of
//! this host, and `/32 link BROADCAST` leaves are its subnets' broadcast addresses
//! (traffic to them is for this host too). IPv6 from `/proc/net/if_inet6`: the first field
//! of each line is an address of an interface, 32 hex digits in network byte order.
//! Both files are read again at every sample, so a changed DHCP lease is followed.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Local and broadcast IPv4 addresses named in a `fib_trie` dump. Lines that do not
/// parse are ignored (the file is a human-readable dump, not an interface).
pub fn parse_fib_trie(bytes: &[u8], out: &mut BTreeSet<IpAddr>) {
    let mut leaf: Option<Ipv4Addr> = None;
    for line in bytes.split(|b| *b == b'\n') {
        let Ok(line) = std::str::from_utf8(line) else {
            leaf = None;
            continue;
        };
        let t = line.trim();
        if let Some(a) = t.strip_prefix("|-- ") {
            leaf = a.trim().parse().ok();
        } else if t.starts_with("/32 host LOCAL") || t.starts_with("/32 link BROADCAST") {
            if let Some(a) = leaf {
                out.insert(IpAddr::V4(a));
            }
        } else if !t.starts_with('/') {
            leaf = None;
        }
    }
}

/// Addresses of `/proc/net/if_inet6` ("fe800000000000000000000000000001 02 40 20 80 eth0").
pub fn parse_if_inet6(bytes: &[u8], out: &mut BTreeSet<IpAddr>) {
    for line in bytes.split(|b| *b == b'\n') {
        let Some(f) = line.split(|b| *b == b' ').find(|f| !f.is_empty()) else {
            continue;
        };
        if f.len() != 32 {
            continue;
        }
        let mut a = [0u8; 16];
        let ok = f.chunks_exact(2).zip(a.iter_mut()).all(|(h, b)| {
            match std::str::from_utf8(h)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(v) if h.iter().all(u8::is_ascii_hexdigit) => {
                    *b = v;
                    true
                }
                _ => false,
            }
        });
        if ok {
            out.insert(IpAddr::V6(Ipv6Addr::from(a)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_fib_trie() {
        let mut s = BTreeSet::new();
        parse_fib_trie(
            include_bytes!("../../tests/fixtures/proc-net-fib_trie.txt"),
            &mut s,
        );
        let got: Vec<String> = s.iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            vec!["127.0.0.1", "127.255.255.255", "192.0.2.2", "192.0.2.255"]
        );
    }

    #[test]
    fn captured_if_inet6() {
        let mut s = BTreeSet::new();
        parse_if_inet6(
            include_bytes!("../../tests/fixtures/proc-net-if_inet6.txt"),
            &mut s,
        );
        let got: Vec<String> = s.iter().map(ToString::to_string).collect();
        assert_eq!(got, vec!["::1", "fd00::2", "fe80::fc:ff:fe00:1"]);
    }

    #[test]
    fn hostile_dumps() {
        let mut s = BTreeSet::new();
        // a LOCAL marker with no leaf before it, a leaf that is not an address, bad hex,
        // short and non-UTF-8 lines
        parse_fib_trie(b"/32 host LOCAL\n|-- 300.1.1.1\n/32 host LOCAL\n\xff\n|-- 10.0.0.1\nx\n/32 host LOCAL\n", &mut s);
        parse_if_inet6(
            b"zz000000000000000000000000000001 01\n+1000000000000000000000000000001\n0001\n\xff\n",
            &mut s,
        );
        assert!(s.is_empty(), "{s:?}");
    }
}
