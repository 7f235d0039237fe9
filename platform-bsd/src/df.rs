//! Space on one file system as `df -kP PATH` prints it (POSIX format, FreeBSD 13 and 14):
//!
//! ```text
//! Filesystem   1024-blocks    Used   Avail Capacity  Mounted on
//! zroot/ROOT/default 98566144 4411232 94154912     4%    /
//! ```
//!
//! The file system's name and the mount point may hold spaces, so the line is read at
//! the first `Capacity` word (`N%`) after three numbers: those are the size, used and
//! available blocks. FreeBSD's df does not print the root reserve: free (reserve
//! included) is size − used, as `statfs`'s `f_bfree` would give it.

use homeostat_core::feed::DiskSpace;

use crate::ps::lines;

/// The `df` arguments before the path.
pub const ARGS: &[&str] = &["-kP"];

/// The figures of the one file system in `out`, in KiB blocks.
pub fn parse(out: &[u8]) -> Result<DiskSpace, &'static str> {
    let mut it = lines(out);
    let (_, header) = it.next().ok_or("no output")?;
    if !header.starts_with(b"Filesystem") {
        return Err("no `Filesystem` header");
    }
    let (_, line) = it.next().ok_or("no file system line")?;
    if it.next().is_some() {
        return Err("more than one file system line");
    }
    let words: Vec<&[u8]> = line
        .split(|b| *b == b' ' || *b == b'\t')
        .filter(|w| !w.is_empty())
        .collect();
    let num = |w: &[u8]| !w.is_empty() && w.iter().all(u8::is_ascii_digit);
    // The first `N%` after three numbers: a mount point may end in one too.
    let cap = (3..words.len())
        .find(|&i| {
            let w = words[i];
            w.len() > 1
                && w.ends_with(b"%")
                && num(&w[..w.len() - 1])
                && words[i - 3..i].iter().all(|w| num(w))
        })
        .ok_or("no `N%` capacity after three figures")?;
    let n = |w: &[u8]| crate::number::<u64>(w).ok_or("a figure is not a number");
    let blocks = n(words[cap - 3])?;
    let used = n(words[cap - 2])?;
    let available = n(words[cap - 1])?;
    Ok(DiskSpace {
        blocks,
        free: blocks.saturating_sub(used),
        available,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freebsd13_ufs_with_reserve() {
        let out = b"Filesystem  1024-blocks    Used    Avail Capacity  Mounted on\n/dev/ada0s1a    9647068 3521732  5353572    40%    /\n";
        let d = parse(out).unwrap();
        assert_eq!(d.blocks, 9647068);
        assert_eq!(d.free, 9647068 - 3521732);
        assert_eq!(d.available, 5353572);
        // The 8 % reserve counts as neither used nor available.
        assert_eq!(d.percent_free(), Some(60));
    }

    #[test]
    fn freebsd14_zfs_and_spaces() {
        let out = b"Filesystem         1024-blocks    Used    Avail Capacity  Mounted on\nzroot/ROOT/default    98566144 4411232 94154912     4%    /\n";
        assert_eq!(parse(out).unwrap().available, 94154912);
        let spaced = b"Filesystem 1024-blocks Used Avail Capacity Mounted on\nmy pool/data 100 50 50 50% /mnt/my data 100%\n";
        let d = parse(spaced).unwrap();
        assert_eq!((d.blocks, d.free, d.available), (100, 50, 50));
    }

    #[test]
    fn hostile() {
        assert!(parse(b"").is_err());
        assert!(parse(b"Filesystem\n").is_err());
        assert!(parse(b"nonsense\n/ 1 2 3 4% /\n").is_err());
        assert!(parse(b"Filesystem\nx 1 2 3 4% /\ny 1 2 3 4% /\n").is_err());
        assert!(parse(b"Filesystem\nx 1 two 3 4% /\n").is_err());
        assert!(parse(b"Filesystem\n1 2 4% /\n").is_err());
    }
}
