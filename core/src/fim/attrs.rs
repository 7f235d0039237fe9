//! The attributes a baseline can watch, as a small bit set.

use core::fmt;

/// One watched attribute. The names are those of the configuration and the JSON reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u16)]
pub enum Attr {
    /// The object's type (file, directory, symlink, …).
    Type = 1 << 0,
    /// Permission bits, set-id and sticky included.
    Mode = 1 << 1,
    /// Owner.
    Uid = 1 << 2,
    /// Group.
    Gid = 1 << 3,
    /// Size in bytes.
    Size = 1 << 4,
    /// Modification time.
    Mtime = 1 << 5,
    /// Status change time.
    Ctime = 1 << 6,
    /// Inode number.
    Inode = 1 << 7,
    /// Number of hard links.
    Nlink = 1 << 8,
    /// A symlink's target.
    Target = 1 << 9,
    /// The digest of the extended attributes.
    Xattrs = 1 << 10,
    /// The content digest.
    Content = 1 << 11,
}

impl Attr {
    /// Every attribute, in report order.
    pub const ALL: [Attr; 12] = [
        Attr::Type,
        Attr::Mode,
        Attr::Uid,
        Attr::Gid,
        Attr::Size,
        Attr::Mtime,
        Attr::Ctime,
        Attr::Inode,
        Attr::Nlink,
        Attr::Target,
        Attr::Xattrs,
        Attr::Content,
    ];

    /// The name in the configuration and the reports.
    pub const fn name(self) -> &'static str {
        match self {
            Attr::Type => "type",
            Attr::Mode => "mode",
            Attr::Uid => "uid",
            Attr::Gid => "gid",
            Attr::Size => "size",
            Attr::Mtime => "mtime",
            Attr::Ctime => "ctime",
            Attr::Inode => "inode",
            Attr::Nlink => "nlink",
            Attr::Target => "target",
            Attr::Xattrs => "xattrs",
            Attr::Content => "content",
        }
    }

    /// The attribute called `name`, if any.
    pub fn from_name(name: &str) -> Option<Attr> {
        Attr::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// A set of [`Attr`].
#[derive(Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Attrs(u16);

impl Attrs {
    /// No attribute.
    pub const EMPTY: Attrs = Attrs(0);
    /// Every attribute (`attrs = "all"`).
    pub const ALL: Attrs = Attrs((1 << 12) - 1);

    /// The bits, as the database header stores them.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// `None` when bits outside the known attributes are set (a newer or damaged database).
    pub const fn from_bits(bits: u16) -> Option<Attrs> {
        if bits & !Attrs::ALL.0 != 0 {
            None
        } else {
            Some(Attrs(bits))
        }
    }

    /// This set and `a`.
    pub const fn with(self, a: Attr) -> Attrs {
        Attrs(self.0 | a as u16)
    }

    /// This set without `a`.
    pub const fn without(self, a: Attr) -> Attrs {
        Attrs(self.0 & !(a as u16))
    }

    /// Whether `a` is in the set.
    pub const fn contains(self, a: Attr) -> bool {
        self.0 & a as u16 != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The attributes in either set.
    pub const fn union(self, other: Attrs) -> Attrs {
        Attrs(self.0 | other.0)
    }

    /// The attributes in both sets.
    pub const fn intersect(self, other: Attrs) -> Attrs {
        Attrs(self.0 & other.0)
    }

    /// The attributes in the set, in report order.
    pub fn iter(self) -> impl Iterator<Item = Attr> {
        Attr::ALL.into_iter().filter(move |a| self.contains(*a))
    }
}

impl FromIterator<Attr> for Attrs {
    fn from_iter<I: IntoIterator<Item = Attr>>(iter: I) -> Attrs {
        iter.into_iter().fold(Attrs::EMPTY, Attrs::with)
    }
}

impl fmt::Debug for Attrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter().map(Attr::name)).finish()
    }
}

/// Space-separated names, e.g. `mode uid`.
impl fmt::Display for Attrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(a.name())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Attr::ALL {
            assert_eq!(Attr::from_name(a.name()), Some(a));
        }
        assert_eq!(Attr::from_name("atime"), None);
    }

    #[test]
    fn set_operations() {
        let s: Attrs = [Attr::Mode, Attr::Content].into_iter().collect();
        assert!(s.contains(Attr::Mode) && s.contains(Attr::Content) && !s.contains(Attr::Uid));
        assert_eq!(s.without(Attr::Mode).iter().count(), 1);
        assert_eq!(
            Attrs::EMPTY
                .with(Attr::Mode)
                .union(Attrs::EMPTY.with(Attr::Content)),
            s
        );
        assert_eq!(Attrs::ALL.iter().count(), 12);
        assert!(Attrs::from_bits(1 << 12).is_none());
        assert_eq!(Attrs::from_bits(s.bits()), Some(s));
    }
}
