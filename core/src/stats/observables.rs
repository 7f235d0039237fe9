//! Observable ids: the fixed list first, then slots assigned by name.
//!
//! Ids never move: the built-in ids are constants, and the dynamic slots (log measurements,
//! user probes) are recorded in the learner's persisted state in the order they were
//! first registered.

use core::fmt;

use crate::entropy::Direction;

/// Observables a table holds.
pub const OBSERVABLES: usize = 128;

/// Longest observable name.
pub const NAME_LEN: usize = 32;

/// An observable's name.
pub type ObsName = heapless::String<NAME_LEN>;

/// The services counted in and out, in id order (`wwws` is port 443).
pub const SERVICES: [&str; 12] = [
    "netbiosns",
    "netbiosdgm",
    "netbiosssn",
    "irc",
    "cfengine",
    "nfsd",
    "smtp",
    "www",
    "ftp",
    "ssh",
    "telnet",
    "wwws",
];

/// The packet counters (tcpdump feed), in id order after the services.
pub const PACKETS: [&str; 7] = [
    "icmp", "dns", "udp", "tcpsyn", "tcpack", "tcpfin", "tcpmisc",
];

/// The built-in observables, ids 0..[`BUILTIN_COUNT`]: the seed's list.
pub const BUILTIN: [&str; BUILTIN_COUNT] = [
    "users",
    "rootprocs",
    "otherprocs",
    "diskfree",
    "loadavg",
    "netbiosns_in",
    "netbiosns_out",
    "netbiosdgm_in",
    "netbiosdgm_out",
    "netbiosssn_in",
    "netbiosssn_out",
    "irc_in",
    "irc_out",
    "cfengine_in",
    "cfengine_out",
    "nfsd_in",
    "nfsd_out",
    "smtp_in",
    "smtp_out",
    "www_in",
    "www_out",
    "ftp_in",
    "ftp_out",
    "ssh_in",
    "ssh_out",
    "telnet_in",
    "telnet_out",
    "wwws_in",
    "wwws_out",
    "icmp_in",
    "icmp_out",
    "dns_in",
    "dns_out",
    "udp_in",
    "udp_out",
    "tcpsyn_in",
    "tcpsyn_out",
    "tcpack_in",
    "tcpack_out",
    "tcpfin_in",
    "tcpfin_out",
    "tcpmisc_in",
    "tcpmisc_out",
];

/// Number of built-in observables; dynamic ids start here.
pub const BUILTIN_COUNT: usize = 43;

/// Slots left for names registered at run time.
pub const DYNAMIC: usize = OBSERVABLES - BUILTIN_COUNT;

/// An observable: an index below [`OBSERVABLES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ObsId(u8);

impl ObsId {
    /// `users`: distinct users logged in.
    pub const USERS: ObsId = ObsId(0);
    /// `rootprocs`: processes owned by root.
    pub const ROOTPROCS: ObsId = ObsId(1);
    /// `otherprocs`: processes owned by other users.
    pub const OTHERPROCS: ObsId = ObsId(2);
    /// `diskfree`: free disk space, in percent.
    pub const DISKFREE: ObsId = ObsId(3);
    /// `loadavg`: the load average.
    pub const LOADAVG: ObsId = ObsId(4);

    /// `None` unless `index < OBSERVABLES`.
    pub const fn new(index: usize) -> Option<ObsId> {
        if index < OBSERVABLES {
            Some(ObsId(index as u8))
        } else {
            None
        }
    }

    /// The index, below [`OBSERVABLES`]: the observable's column in the table.
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// The id of a built-in observable.
    pub fn builtin(name: &str) -> Option<ObsId> {
        BUILTIN.iter().position(|b| *b == name).and_then(ObsId::new)
    }

    /// `<svc>_in` or `<svc>_out` of service `index` of [`SERVICES`]: a feed that counts a
    /// built-in service gets its id without a name. `None` past the list.
    pub const fn service(index: usize, dir: Direction) -> Option<ObsId> {
        if index < SERVICES.len() {
            ObsId::new(FIRST_FLOW + 2 * index + dir_offset(dir))
        } else {
            None
        }
    }

    /// `<kind>_in` or `<kind>_out` of packet counter `index` of [`PACKETS`]. `None` past
    /// the list.
    pub const fn packet(index: usize, dir: Direction) -> Option<ObsId> {
        if index < PACKETS.len() {
            ObsId::new(FIRST_FLOW + 2 * (SERVICES.len() + index) + dir_offset(dir))
        } else {
            None
        }
    }

    /// What a built-in service or packet observable counts: `(index, direction)`, the
    /// index into [`SERVICES`] followed by [`PACKETS`] (so `SERVICES.len() + i` is packet
    /// counter `i`). `None` for every other id.
    pub const fn flow(self) -> Option<(usize, Direction)> {
        let i = self.index();
        if i < FIRST_FLOW || i >= BUILTIN_COUNT {
            return None;
        }
        let dir = match (i - FIRST_FLOW) % 2 {
            0 => Direction::In,
            _ => Direction::Out,
        };
        Some(((i - FIRST_FLOW) / 2, dir))
    }
}

/// The id of `netbiosns_in`, the first service observable.
const FIRST_FLOW: usize = 5;

const fn dir_offset(dir: Direction) -> usize {
    match dir {
        Direction::In => 0,
        Direction::Out => 1,
    }
}

/// Why a name cannot be registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RegistryError {
    /// Empty, or a byte outside `[A-Za-z0-9_]` (names become class names).
    Invalid,
    /// Longer than [`NAME_LEN`] bytes.
    TooLong,
    /// All [`DYNAMIC`] slots are taken.
    Full,
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::Invalid => {
                f.write_str("observable name must be letters, digits and '_'")
            }
            RegistryError::TooLong => write!(f, "observable name longer than {NAME_LEN} bytes"),
            RegistryError::Full => write!(f, "all {DYNAMIC} dynamic observable slots are taken"),
        }
    }
}

impl core::error::Error for RegistryError {}

/// Names of the observables: the built-ins, then the dynamic slots in registration order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registry {
    names: heapless::Vec<ObsName, DYNAMIC>,
}

impl Registry {
    /// A registry with only the built-ins.
    pub const fn new() -> Registry {
        Registry {
            names: heapless::Vec::new(),
        }
    }

    /// The id of a built-in or registered name.
    pub fn lookup(&self, name: &str) -> Option<ObsId> {
        ObsId::builtin(name).or_else(|| {
            let i = self.names.iter().position(|n| n.as_str() == name)?;
            ObsId::new(BUILTIN_COUNT + i)
        })
    }

    /// The id of `name`, giving it the next free slot if it has none.
    pub fn register(&mut self, name: &str) -> Result<ObsId, RegistryError> {
        if let Some(id) = self.lookup(name) {
            return Ok(id);
        }
        check_name(name)?;
        let mut owned = ObsName::new();
        owned.push_str(name).map_err(|_| RegistryError::TooLong)?;
        self.names.push(owned).map_err(|_| RegistryError::Full)?;
        ObsId::new(BUILTIN_COUNT + self.names.len() - 1).ok_or(RegistryError::Full)
    }

    /// The name of an id, `None` for a free slot.
    pub fn name(&self, id: ObsId) -> Option<&str> {
        match id.index().checked_sub(BUILTIN_COUNT) {
            None => BUILTIN.get(id.index()).copied(),
            Some(i) => self.names.get(i).map(|n| n.as_str()),
        }
    }

    /// Every named observable, built-ins first, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (ObsId, &str)> + '_ {
        let all = BUILTIN
            .iter()
            .copied()
            .chain(self.names.iter().map(|n| n.as_str()));
        (0u8..).map(ObsId).zip(all)
    }

    /// Dynamic slots taken.
    pub fn registered(&self) -> usize {
        self.names.len()
    }

    /// The dynamic names in slot order (for the codec).
    pub(crate) fn dynamic(&self) -> &[ObsName] {
        &self.names
    }
}

/// `[A-Za-z0-9_]{1,NAME_LEN}`.
pub fn check_name(name: &str) -> Result<(), RegistryError> {
    if name.is_empty() || !name.bytes().all(crate::classes::is_name_byte) {
        return Err(RegistryError::Invalid);
    }
    if name.len() > NAME_LEN {
        return Err(RegistryError::TooLong);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_ids_are_the_seed_list() {
        assert_eq!(ObsId::builtin("users"), Some(ObsId::USERS));
        assert_eq!(ObsId::builtin("loadavg"), Some(ObsId::LOADAVG));
        assert_eq!(ObsId::builtin("netbiosns_in").map(ObsId::index), Some(5));
        assert_eq!(
            ObsId::service(11, Direction::Out).map(ObsId::index),
            Some(28)
        );
        assert_eq!(ObsId::service(7, Direction::In), ObsId::builtin("www_in"));
        assert_eq!(ObsId::service(12, Direction::In), None);
        assert_eq!(ObsId::packet(0, Direction::In).map(ObsId::index), Some(29));
        assert_eq!(
            ObsId::packet(6, Direction::Out),
            ObsId::builtin("tcpmisc_out")
        );
        assert_eq!(ObsId::packet(7, Direction::Out), None);
        assert_eq!(ObsId::USERS.flow(), None);
        assert_eq!(ObsId::LOADAVG.flow(), None);
        assert_eq!(ObsId::new(BUILTIN_COUNT).and_then(ObsId::flow), None);
        assert_eq!(
            ObsId::builtin("tcpmisc_out").map(ObsId::index),
            Some(BUILTIN_COUNT - 1)
        );
        for (i, name) in BUILTIN.iter().enumerate() {
            assert!(check_name(name).is_ok());
            assert_eq!(
                BUILTIN.iter().position(|n| n == name),
                Some(i),
                "duplicate {name}"
            );
        }
        for (i, s) in SERVICES.iter().chain(PACKETS.iter()).enumerate() {
            for dir in [Direction::In, Direction::Out] {
                let id = match i.checked_sub(SERVICES.len()) {
                    None => ObsId::service(i, dir),
                    Some(p) => ObsId::packet(p, dir),
                };
                let name = std::format!("{s}_{}", dir.name());
                assert_eq!(id, ObsId::builtin(&name), "{name}");
                assert_eq!(id.and_then(ObsId::flow), Some((i, dir)), "{name}");
            }
        }
    }

    #[test]
    fn dynamic_slots_are_stable_and_bounded() {
        let mut r = Registry::new();
        let a = r.register("ssh_failed").unwrap();
        assert_eq!(a.index(), BUILTIN_COUNT);
        assert_eq!(r.register("users"), Ok(ObsId::USERS));
        assert_eq!(r.register("ssh_failed"), Ok(a));
        assert_eq!(r.name(a), Some("ssh_failed"));
        assert_eq!(r.lookup("nope"), None);
        assert_eq!(r.register("bad-name"), Err(RegistryError::Invalid));
        assert_eq!(r.register(""), Err(RegistryError::Invalid));
        assert_eq!(
            r.register(&"x".repeat(NAME_LEN + 1)),
            Err(RegistryError::TooLong)
        );
        for i in 1..DYNAMIC {
            r.register(&std::format!("m{i}")).unwrap();
        }
        assert_eq!(r.register("one_too_many"), Err(RegistryError::Full));
        assert_eq!(r.iter().count(), OBSERVABLES);
        assert_eq!(
            r.iter().last().map(|(id, _)| id.index()),
            Some(OBSERVABLES - 1)
        );
        assert_eq!(ObsId::new(OBSERVABLES), None);
    }
}
