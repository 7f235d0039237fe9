//! Entropy of a distribution of keys (remote addresses, usually): how evenly the
//! connections or packets of one sample spread over their sources.
//!
//! A [`Counter`] of fixed capacity counts keys; a key that does not fit is counted in
//! [`Counter::overflow`] and left out, so memory never grows. The normalised entropy is
//! `E = −Σ pᵢ ln pᵢ / ln N` over the `N` distinct keys counted (0 when `N < 2`): 1 when the
//! traffic is spread evenly, near 0 when one source dominates. Classes follow cf-monitord:
//! `entropy_<svc>_<in|out>_high` above 0.9, `_low` below 0.2, `_medium` between.
//!
//! # Example
//!
//! ```
//! use homeostat_core::entropy::{class_name, Counter, Direction, Key, Level};
//!
//! let mut c = Counter::<8>::new();
//! c.add_n(Key::new(&[10, 0, 0, 1]).unwrap(), 50);
//! c.add_n(Key::new(&[10, 0, 0, 2]).unwrap(), 50);
//! assert!((c.entropy() - 1.0).abs() < 1e-6); // spread evenly over two sources
//! assert_eq!(c.level(), Level::High);
//! assert_eq!(class_name("smtp", Direction::In, c.level()).unwrap(), "entropy_smtp_in_high");
//! c.add_n(Key::new(&[10, 0, 0, 3]).unwrap(), 10_000); // one source dominates
//! assert_eq!(c.level(), Level::Low);
//! ```

use core::fmt;
use core::net::IpAddr;

use heapless::index_map::FnvIndexMap;

use crate::classes::{ClassName, NameError};

/// Longest key: an IPv6 address.
pub const KEY_LEN: usize = 16;

/// A small fixed-size key: an address, or any ≤ 16 bytes (a hash prefix, a port…).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Key {
    len: u8,
    bytes: [u8; KEY_LEN],
}

impl Key {
    /// `None` if `bytes` is longer than [`KEY_LEN`].
    pub fn new(bytes: &[u8]) -> Option<Key> {
        let mut key = Key {
            len: 0,
            bytes: [0; KEY_LEN],
        };
        key.bytes.get_mut(..bytes.len())?.copy_from_slice(bytes);
        key.len = bytes.len() as u8;
        Some(key)
    }

    /// The key's bytes: 4 for an IPv4 address, 16 for an IPv6 one, at most [`KEY_LEN`].
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len).min(KEY_LEN)]
    }
}

impl From<IpAddr> for Key {
    /// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, as `/proc/net/tcp6` shows IPv4 peers
    /// of a dual-stack socket) is the same key as the IPv4 address.
    fn from(addr: IpAddr) -> Key {
        let mut key = Key {
            len: 0,
            bytes: [0; KEY_LEN],
        };
        match addr.to_canonical() {
            IpAddr::V4(a) => {
                key.bytes[..4].copy_from_slice(&a.octets());
                key.len = 4;
            }
            IpAddr::V6(a) => {
                key.bytes = a.octets();
                key.len = 16;
            }
        }
        key
    }
}

/// Counts of at most `N` distinct keys (`N` a power of two, as heapless's index map wants).
#[derive(Clone, Debug, Default)]
pub struct Counter<const N: usize> {
    counts: FnvIndexMap<Key, u32, N>,
    overflow: u64,
}

impl<const N: usize> Counter<N> {
    /// An empty counter.
    pub const fn new() -> Self {
        Counter {
            counts: FnvIndexMap::new(),
            overflow: 0,
        }
    }

    /// Counts one occurrence of `key`.
    pub fn add(&mut self, key: Key) {
        self.add_n(key, 1);
    }

    /// Counts `n` occurrences of `key` (a tcpdump line, a `cf_incoming` count…).
    pub fn add_n(&mut self, key: Key, n: u32) {
        if let Some(c) = self.counts.get_mut(&key) {
            *c = c.saturating_add(n);
        } else if self.counts.insert(key, n).is_err() {
            self.overflow = self.overflow.saturating_add(u64::from(n));
        }
    }

    /// Distinct keys counted.
    pub fn distinct(&self) -> usize {
        self.counts.len()
    }

    /// Occurrences counted (overflow excluded).
    pub fn total(&self) -> u64 {
        self.counts.values().map(|&c| u64::from(c)).sum()
    }

    /// Occurrences of keys that found no room, left out of the entropy.
    pub fn overflow(&self) -> u64 {
        self.overflow
    }

    /// Each distinct key with its count, in the order first counted.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, u32)> + '_ {
        self.counts.iter().map(|(k, &c)| (k, c))
    }

    /// Forgets every count and resets the overflow to 0, for the next sample.
    pub fn clear(&mut self) {
        self.counts.clear();
        self.overflow = 0;
    }

    /// Normalised entropy 0..1 of the counted keys; 0 for fewer than two distinct keys.
    pub fn entropy(&self) -> f32 {
        let n = self.counts.len();
        let total = self.total();
        if n < 2 || total == 0 {
            return 0.0;
        }
        let total = total as f32;
        let h: f32 = self
            .counts
            .values()
            .filter(|&&c| c > 0)
            .map(|&c| {
                let p = c as f32 / total;
                -p * libm::logf(p)
            })
            .sum();
        (h / libm::logf(n as f32)).clamp(0.0, 1.0)
    }

    /// The entropy as the 0–100 % figure cf-monitord's reports print.
    pub fn percent(&self) -> f32 {
        self.entropy() * 100.0
    }

    /// Where the entropy falls: [`Level::of`] of [`Counter::entropy`].
    pub fn level(&self) -> Level {
        Level::of(self.entropy())
    }
}

/// Where an entropy falls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Level {
    /// Below 0.2: one or few sources dominate.
    Low,
    /// From 0.2 to 0.9 inclusive.
    Medium,
    /// Above 0.9: the traffic is spread evenly.
    High,
}

impl Level {
    /// `> 0.9` high, `< 0.2` low, medium otherwise (cf-monitord's thresholds).
    pub fn of(entropy: f32) -> Level {
        if entropy > 0.9 {
            Level::High
        } else if entropy < 0.2 {
            Level::Low
        } else {
            Level::Medium
        }
    }

    /// The class-name suffix: `low`, `medium` or `high`.
    pub const fn name(self) -> &'static str {
        match self {
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
        }
    }
}

/// Traffic to a local service (`in`) or from a local client (`out`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Direction {
    /// Traffic to a local service.
    In,
    /// Traffic from a local client.
    Out,
}

impl Direction {
    /// The class-name part: `in` or `out`.
    pub const fn name(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// `entropy_<svc>_<in|out>_<level>`; `svc` must already be a canonified name.
pub fn class_name(svc: &str, dir: Direction, level: Level) -> Result<ClassName, NameError> {
    let mut out = ClassName::new();
    for part in ["entropy_", svc, "_", dir.name(), "_", level.name()] {
        out.push_str(part).map_err(|_| NameError::TooLong)?;
    }
    crate::classes::class_name(&out)
}

/// `entropy_<observable>_<level>` for the observable of a service or packet counter: its
/// name is `<svc>_<in|out>`, so this is [`class_name`] of that service and direction, made
/// from the name the registry renders for an id.
pub fn observable_class_name(observable: &str, level: Level) -> Result<ClassName, NameError> {
    let mut out = ClassName::new();
    for part in ["entropy_", observable, "_", level.name()] {
        out.push_str(part).map_err(|_| NameError::TooLong)?;
    }
    crate::classes::class_name(&out)
}

impl fmt::Display for Key {
    /// An address of 4 or 16 bytes prints as one; other keys as hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.as_bytes();
        if let Ok(v4) = <[u8; 4]>::try_from(b) {
            return core::net::Ipv4Addr::from(v4).fmt(f);
        }
        if let Ok(v6) = <[u8; 16]>::try_from(b) {
            return core::net::Ipv6Addr::from(v6).fmt(f);
        }
        b.iter().try_for_each(|x| write!(f, "{x:02x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    fn v4(last: u8) -> Key {
        Key::from(IpAddr::from([10, 0, 0, last]))
    }

    #[test]
    fn uniform_is_one_single_is_zero() {
        let mut c = Counter::<32>::new();
        for i in 0..16 {
            c.add_n(v4(i), 3);
        }
        assert!((c.entropy() - 1.0).abs() < 1e-6, "{}", c.entropy());
        assert_eq!(c.level(), Level::High);
        c.clear();
        for _ in 0..50 {
            c.add(v4(1));
        }
        assert_eq!(c.entropy(), 0.0);
        assert_eq!(c.level(), Level::Low);
        c.clear();
        assert_eq!(c.entropy(), 0.0);
    }

    #[test]
    fn seed_example_is_low() {
        // The seed's www peak: 47, 1, 1, 2, 2 connections from five addresses.
        let mut c = Counter::<8>::new();
        for (i, n) in [47, 1, 1, 2, 2].into_iter().enumerate() {
            c.add_n(v4(i as u8), n);
        }
        let e = c.entropy();
        assert!((0.2..0.35).contains(&(e)), "{e}");
        assert_eq!(Level::of(0.1), Level::Low);
        assert_eq!(Level::of(0.5), Level::Medium);
        assert_eq!(Level::of(0.95), Level::High);
        assert_eq!(Level::of(0.9), Level::Medium);
        assert_eq!(Level::of(0.2), Level::Medium);
    }

    #[test]
    fn overflow_is_counted_never_grows() {
        let mut c = Counter::<4>::new();
        for i in 0..10 {
            c.add(v4(i));
        }
        assert_eq!(c.distinct(), 4);
        assert_eq!(c.overflow(), 6);
        assert_eq!(c.total(), 4);
        // A key already present still counts.
        c.add(v4(0));
        assert_eq!(c.total(), 5);
    }

    #[test]
    fn mapped_v6_is_v4_and_keys_print() {
        let mapped: IpAddr = "::ffff:10.0.0.7".parse().unwrap();
        assert_eq!(Key::from(mapped), v4(7));
        assert_eq!(v4(7).to_string(), "10.0.0.7");
        assert_eq!(Key::new(&[1, 2]).unwrap().to_string(), "0102");
        assert!(Key::new(&[0; 17]).is_none());
    }

    #[test]
    fn class_names() {
        let n = class_name("www", Direction::In, Level::Low).unwrap();
        assert_eq!(n.as_str(), "entropy_www_in_low");
        let n = class_name("smtp", Direction::Out, Level::Medium).unwrap();
        assert_eq!(n.as_str(), "entropy_smtp_out_medium");
        assert!(class_name("bad svc", Direction::In, Level::Low).is_err());
        let n = observable_class_name("www_in", Level::Low).unwrap();
        assert_eq!(n, class_name("www", Direction::In, Level::Low).unwrap());
        assert!(observable_class_name("bad svc_in", Level::Low).is_err());
    }
}
