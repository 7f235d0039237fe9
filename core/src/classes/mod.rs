//! Classes: the named facts of a run (`www_in_high_dev2`, `entropy_smtp_in_low`, …), the
//! set of them one run holds, the ones that persist with an expiry, and the class
//! expressions that rules are written in.
//!
//! - [`ClassName`]: one name, at most [`NAME_LEN`] bytes of `[A-Za-z0-9_]`.
//! - [`ClassSet`]: the classes of one run; capacity in the type, overflow counted.
//! - [`persistent::PersistentClasses`]: `SetState` (preserve / reset) and `UnsetState`.
//! - [`expr::eval`]: `!` binds tighter than `.`/`&`, which bind tighter than `|`.
//!
//! # Example
//!
//! ```
//! use homeostat_core::classes::{canonify, class_name, ClassSet};
//!
//! let mut set = ClassSet::<16>::new();
//! set.insert("linux").unwrap();
//! set.insert(&canonify("www.example.com").unwrap()).unwrap();
//! assert!(set.contains("www_example_com"));
//! assert!(set.eval("linux.!windows").unwrap());
//! assert!(!set.eval("windows|(linux&solaris)").unwrap());
//! assert!(set.eval("linux.(").is_err()); // a syntax error, not a silent false
//! assert!(class_name("no spaces").is_err());
//! ```

pub mod expr;
pub mod hard;
pub mod persistent;

use core::fmt;

pub use expr::{eval, ExprError};
pub use persistent::{PersistentClasses, Policy};

/// Longest class name. Room for a 32-byte observable name plus `_normal_microanomaly`,
/// and for `entropy_<service>_out_medium` with a 45-byte service name.
pub const NAME_LEN: usize = 64;

/// One class name.
pub type ClassName = heapless::String<NAME_LEN>;

/// Why a name cannot be a class name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// Longer than [`NAME_LEN`] bytes.
    TooLong,
    /// A byte outside `[A-Za-z0-9_]` at this offset (use [`canonify`] first).
    BadByte(usize),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => f.write_str("empty class name"),
            NameError::TooLong => write!(f, "class name longer than {NAME_LEN} bytes"),
            NameError::BadByte(at) => {
                write!(f, "class name: byte {at} is not a letter, digit or '_'")
            }
        }
    }
}

impl core::error::Error for NameError {}

/// `[A-Za-z0-9_]`: the bytes a class name is made of.
pub const fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Checks that `name` is a valid class name and copies it.
pub fn class_name(name: &str) -> Result<ClassName, NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some(at) = name.bytes().position(|b| !is_name_byte(b)) {
        return Err(NameError::BadByte(at));
    }
    let mut out = ClassName::new();
    out.push_str(name).map_err(|_| NameError::TooLong)?;
    Ok(out)
}

/// CFEngine's `CanonifyName`: every byte outside `[A-Za-z0-9_]` becomes `_` (a multi-byte
/// character becomes one `_` per byte, as in CFEngine).
pub fn canonify(text: &str) -> Result<ClassName, NameError> {
    if text.is_empty() {
        return Err(NameError::Empty);
    }
    let mut out = ClassName::new();
    for b in text.bytes() {
        let c = if is_name_byte(b) { b as char } else { '_' };
        out.push(c).map_err(|_| NameError::TooLong)?;
    }
    Ok(out)
}

/// The classes of one run, in the order they were set. Capacity `N` is in the type; a class
/// that does not fit is counted in [`ClassSet::overflow`], never silently dropped.
#[derive(Clone, Debug, Default)]
pub struct ClassSet<const N: usize> {
    names: heapless::Vec<ClassName, N>,
    overflow: u32,
}

impl<const N: usize> ClassSet<N> {
    /// An empty set.
    pub const fn new() -> Self {
        ClassSet {
            names: heapless::Vec::new(),
            overflow: 0,
        }
    }

    /// Sets a class. `Ok(true)` if it was new, `Ok(false)` if it was already set.
    /// A full set counts the class in [`ClassSet::overflow`] and says [`SetError::Full`].
    pub fn insert(&mut self, name: &str) -> Result<bool, SetError> {
        if self.contains(name) {
            return Ok(false);
        }
        let name = class_name(name).map_err(SetError::Name)?;
        match self.names.push(name) {
            Ok(()) => Ok(true),
            Err(_) => {
                self.overflow = self.overflow.saturating_add(1);
                Err(SetError::Full)
            }
        }
    }

    /// Whether the class `name` is set.
    pub fn contains(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.as_str() == name)
    }

    /// Unsets a class; whether it was set.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.names.len();
        self.names.retain(|n| n.as_str() != name);
        self.names.len() != before
    }

    /// The classes set, in the order they were set.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        self.names.iter().map(|n| n.as_str())
    }

    /// Number of classes set (the overflow not included).
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no class is set.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Classes that did not fit since the set was made or last cleared.
    pub fn overflow(&self) -> u32 {
        self.overflow
    }

    /// Unsets every class and resets the overflow count to 0.
    pub fn clear(&mut self) {
        self.names.clear();
        self.overflow = 0;
    }

    /// Evaluates a class expression against this set. `any` is always defined, as in
    /// CFEngine; `true` and `false` are literals.
    pub fn eval(&self, expr: &str) -> Result<bool, ExprError> {
        expr::eval(expr, |name| name == "any" || self.contains(name))
    }
}

/// Why [`ClassSet::insert`] did not set a class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SetError {
    /// The name is not a valid class name.
    Name(NameError),
    /// The set is at capacity; the class was counted in the overflow.
    Full,
}

impl fmt::Display for SetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetError::Name(e) => e.fmt(f),
            SetError::Full => f.write_str("class set full"),
        }
    }
}

impl core::error::Error for SetError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_canonified() {
        assert_eq!(class_name("www_in_high").unwrap().as_str(), "www_in_high");
        assert_eq!(class_name(""), Err(NameError::Empty));
        assert_eq!(class_name("a-b"), Err(NameError::BadByte(1)));
        assert_eq!(
            class_name(&"x".repeat(NAME_LEN + 1)),
            Err(NameError::TooLong)
        );
        assert_eq!(canonify("www-alt.in").unwrap().as_str(), "www_alt_in");
        assert_eq!(canonify("é").unwrap().as_str(), "__");
    }

    #[test]
    fn set_dedups_and_counts_overflow() {
        let mut set = ClassSet::<2>::new();
        assert_eq!(set.insert("a"), Ok(true));
        assert_eq!(set.insert("a"), Ok(false));
        assert_eq!(set.insert("b"), Ok(true));
        assert_eq!(set.insert("c"), Err(SetError::Full));
        assert_eq!(set.overflow(), 1);
        assert!(set.eval("a.b.!c").unwrap());
        assert!(set.eval("any").unwrap());
        assert!(set.remove("a"));
        assert!(!set.contains("a"));
        assert_eq!(set.iter().collect::<std::vec::Vec<_>>(), ["b"]);
    }
}
