//! Persistent classes: classes that stay defined until an expiry, across runs.
//!
//! CFEngine's `SetState(name, ttl, preserve|reset)` and `UnsetState(name)`. Time is the
//! caller's (seconds since the epoch); a class is alive while `now <= expiry`.

use core::fmt;

use serde::{Deserialize, Serialize};

use super::{class_name, ClassName, NameError};

/// What setting a class that is already alive does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Policy {
    /// A non-resettable timer: a live class keeps its expiry (CFEngine `preserve`,
    /// `timer_policy => "absolute"`).
    Preserve,
    /// A resettable timer: every set rewrites the expiry (CFEngine `reset`).
    Reset,
}

/// One persistent class.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Persistent {
    /// The class name.
    pub name: ClassName,
    /// Last second (epoch) at which the class is alive.
    pub expiry: i64,
    /// What setting the class again while it is alive does.
    pub policy: Policy,
}

/// The persistent classes, at most `N` of them. Sets beyond capacity are counted in
/// [`PersistentClasses::overflow`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistentClasses<const N: usize> {
    entries: heapless::Vec<Persistent, N>,
    overflow: u32,
}

/// Why [`PersistentClasses::set_state`] did not set a class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StateError {
    /// The name is not a valid class name.
    Name(NameError),
    /// At capacity even after dropping the expired; counted in the overflow.
    Full,
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::Name(e) => e.fmt(f),
            StateError::Full => f.write_str("persistent class store full"),
        }
    }
}

impl core::error::Error for StateError {}

impl<const N: usize> PersistentClasses<N> {
    /// An empty store.
    pub const fn new() -> Self {
        PersistentClasses {
            entries: heapless::Vec::new(),
            overflow: 0,
        }
    }

    /// `SetState(name, ttl, policy)` at time `now`: the class lives until `now + ttl`.
    /// Under [`Policy::Preserve`] a class that is alive with the preserve policy is left
    /// untouched; otherwise the expiry and the policy are rewritten.
    pub fn set_state(
        &mut self,
        name: &str,
        now: i64,
        ttl: u32,
        policy: Policy,
    ) -> Result<(), StateError> {
        let expiry = now.saturating_add(i64::from(ttl));
        if let Some(e) = self.entries.iter_mut().find(|e| e.name.as_str() == name) {
            let keep =
                policy == Policy::Preserve && e.policy == Policy::Preserve && now <= e.expiry;
            if !keep {
                e.expiry = expiry;
                e.policy = policy;
            }
            return Ok(());
        }
        let name = class_name(name).map_err(StateError::Name)?;
        if self.entries.is_full() {
            self.expire(now);
        }
        self.entries
            .push(Persistent {
                name,
                expiry,
                policy,
            })
            .map_err(|_| {
                self.overflow = self.overflow.saturating_add(1);
                StateError::Full
            })
    }

    /// `UnsetState(name)`: whether there was such a class (alive or not).
    pub fn unset_state(&mut self, name: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.name.as_str() != name);
        self.entries.len() != before
    }

    /// Whether the class `name` is set and alive at `now` (seconds since the epoch), i.e.
    /// `now <= expiry`.
    pub fn is_alive(&self, name: &str, now: i64) -> bool {
        self.entries
            .iter()
            .any(|e| e.name.as_str() == name && now <= e.expiry)
    }

    /// Forgets the classes that expired before `now`.
    pub fn expire(&mut self, now: i64) {
        self.entries.retain(|e| now <= e.expiry);
    }

    /// The classes alive at `now`.
    pub fn alive(&self, now: i64) -> impl Iterator<Item = &Persistent> + '_ {
        self.entries.iter().filter(move |e| now <= e.expiry)
    }

    /// Sets refused for want of room since this store was made.
    pub fn overflow(&self) -> u32 {
        self.overflow
    }

    /// Number of classes held, expired ones not yet dropped by [`PersistentClasses::expire`]
    /// included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no class is held, alive or expired.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alive_until_expiry_inclusive() {
        let mut p = PersistentClasses::<4>::new();
        p.set_state("x", 1000, 600, Policy::Reset).unwrap();
        assert!(p.is_alive("x", 1600));
        assert!(!p.is_alive("x", 1601));
        p.expire(1601);
        assert!(p.is_empty());
    }

    #[test]
    fn preserve_keeps_a_live_timer_reset_rewrites_it() {
        let mut p = PersistentClasses::<4>::new();
        p.set_state("t", 0, 600, Policy::Preserve).unwrap();
        p.set_state("t", 300, 600, Policy::Preserve).unwrap();
        assert!(
            !p.is_alive("t", 601),
            "preserve must not extend a live timer"
        );
        // Expired: preserve sets a new timer.
        p.set_state("t", 700, 600, Policy::Preserve).unwrap();
        assert!(p.is_alive("t", 1300));
        p.set_state("r", 0, 600, Policy::Reset).unwrap();
        p.set_state("r", 300, 600, Policy::Reset).unwrap();
        assert!(p.is_alive("r", 900));
        // Reset over a preserved class rewrites it and takes the new policy.
        p.set_state("t", 800, 10, Policy::Reset).unwrap();
        assert!(!p.is_alive("t", 811));
    }

    #[test]
    fn unset_and_overflow() {
        let mut p = PersistentClasses::<1>::new();
        p.set_state("a", 0, 10, Policy::Reset).unwrap();
        assert_eq!(
            p.set_state("b", 5, 10, Policy::Reset),
            Err(StateError::Full)
        );
        assert_eq!(p.overflow(), 1);
        // An expired entry makes room.
        p.set_state("b", 11, 10, Policy::Reset).unwrap();
        assert!(p.is_alive("b", 11));
        assert!(p.unset_state("b"));
        assert!(!p.unset_state("b"));
        assert_eq!(
            p.set_state("bad name", 0, 1, Policy::Reset),
            Err(StateError::Name(NameError::BadByte(3)))
        );
    }
}
