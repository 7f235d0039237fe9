//! What a baseline records of one file system object.

use crate::digest::Digest;

/// The type of a file system object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Kind {
    /// A regular file.
    File = 1,
    /// A directory.
    Dir = 2,
    /// A symbolic link.
    Symlink = 3,
    /// A named pipe.
    Fifo = 4,
    /// A Unix socket.
    Socket = 5,
    /// A character device.
    CharDevice = 6,
    /// A block device.
    BlockDevice = 7,
}

impl Kind {
    /// The name reports use.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "directory",
            Kind::Symlink => "symlink",
            Kind::Fifo => "fifo",
            Kind::Socket => "socket",
            Kind::CharDevice => "char-device",
            Kind::BlockDevice => "block-device",
        }
    }

    /// The kind a database record's id names, if any.
    pub const fn from_id(id: u8) -> Option<Kind> {
        Some(match id {
            1 => Kind::File,
            2 => Kind::Dir,
            3 => Kind::Symlink,
            4 => Kind::Fifo,
            5 => Kind::Socket,
            6 => Kind::CharDevice,
            7 => Kind::BlockDevice,
            _ => return None,
        })
    }

    /// From the `S_IFMT` bits of a `st_mode`.
    pub const fn from_mode(st_mode: u32) -> Option<Kind> {
        Some(match st_mode & 0o170000 {
            0o100000 => Kind::File,
            0o040000 => Kind::Dir,
            0o120000 => Kind::Symlink,
            0o010000 => Kind::Fifo,
            0o140000 => Kind::Socket,
            0o020000 => Kind::CharDevice,
            0o060000 => Kind::BlockDevice,
            _ => return None,
        })
    }
}

/// Seconds and nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Timestamp {
    /// Whole seconds.
    pub sec: i64,
    /// Nanoseconds, below 10⁹.
    pub nsec: u32,
}

/// Content could not be read (permissions, I/O error): content is not compared.
pub const FLAG_UNREADABLE: u8 = 1 << 0;
/// The file changed while it was being hashed: the digest may not match any version of it.
pub const FLAG_UNSTABLE: u8 = 1 << 1;

/// Everything recorded of an object except its path and symlink target, which vary in
/// length and live in [`Entry`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    /// The object's type.
    pub kind: Kind,
    /// Permission bits including set-id and sticky (`st_mode & 0o7777`).
    pub mode: u32,
    /// Owner (`st_uid`).
    pub uid: u32,
    /// Group (`st_gid`).
    pub gid: u32,
    /// `st_size` from lstat (a symlink's is the length of its target).
    pub size: u64,
    /// Modification time.
    pub mtime: Timestamp,
    /// Status change time.
    pub ctime: Timestamp,
    /// Inode number.
    pub inode: u64,
    /// Device of the file system holding it.
    pub dev: u64,
    /// Number of hard links.
    pub nlink: u64,
    /// SHA-256 over the sorted extended attributes; `None` when there are none.
    pub xattrs: Option<[u8; 32]>,
    /// Regular files only, and only when readable.
    pub content: Option<Digest>,
    /// [`FLAG_UNREADABLE`], [`FLAG_UNSTABLE`].
    pub flags: u8,
}

impl Meta {
    /// A record with every number zero, for building tests and fixtures.
    pub const fn empty(kind: Kind) -> Meta {
        Meta {
            kind,
            mode: 0,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: Timestamp { sec: 0, nsec: 0 },
            ctime: Timestamp { sec: 0, nsec: 0 },
            inode: 0,
            dev: 0,
            nlink: 1,
            xattrs: None,
            content: None,
            flags: 0,
        }
    }

    /// Its content (or a directory's listing) could not be read.
    pub const fn unreadable(&self) -> bool {
        self.flags & FLAG_UNREADABLE != 0
    }
}

/// One object: its absolute path (raw bytes, any encoding), its symlink target and [`Meta`].
///
/// Generic over the byte storage so that firmware can use borrowed slices and hosts
/// owned vectors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry<B> {
    /// The absolute path, raw bytes.
    pub path: B,
    /// A symlink's target, raw bytes.
    pub target: Option<B>,
    /// Everything else recorded.
    pub meta: Meta,
}

impl<B: AsRef<[u8]>> Entry<B> {
    /// The path's bytes.
    pub fn path(&self) -> &[u8] {
        self.path.as_ref()
    }

    /// The symlink target's bytes, if any.
    pub fn target(&self) -> Option<&[u8]> {
        self.target.as_ref().map(|t| t.as_ref())
    }
}
