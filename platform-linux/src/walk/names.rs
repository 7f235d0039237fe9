//! One directory's entry names, sorted, in memory that grows with their bytes only.
//!
//! A listing is held while the walk is below it, so a directory of a million entries
//! must not cost a million allocations: the names lie end to end in one buffer, each
//! NUL-terminated, and a sorted table says where each starts. One entry costs its name's
//! bytes plus [`OVERHEAD`] bytes (and up to as much again while the buffers grow; the
//! allocator's `mremap` leaves the untouched part unmapped).

use std::ffi::CStr;
use std::io;
use std::os::fd::AsFd;

use rustix::fs::Dir;

/// Bytes an entry costs beyond its name: the NUL and its start in the table.
pub const OVERHEAD: usize = 1 + 4;

/// The names of one directory (without `.` and `..`), sorted by their bytes.
#[derive(Debug, Default)]
pub struct Names {
    bytes: Vec<u8>,
    starts: Vec<u32>,
}

impl Names {
    /// Lists the directory open at `dir` (its own descriptor is left where it was).
    pub fn read(dir: impl AsFd) -> io::Result<Names> {
        let mut names = Names::default();
        for de in Dir::read_from(dir)? {
            let de = de?;
            let name = de.file_name().to_bytes_with_nul();
            if name == b".\0" || name == b"..\0" {
                continue;
            }
            let start = u32::try_from(names.bytes.len())
                .map_err(|_| io::Error::other("directory listing larger than 4 GiB of names"))?;
            names.bytes.extend_from_slice(name);
            names.starts.push(start);
        }
        let bytes = &names.bytes;
        names
            .starts
            .sort_unstable_by(|&a, &b| name_at(bytes, a).cmp(name_at(bytes, b)));
        names.bytes.shrink_to_fit();
        names.starts.shrink_to_fit();
        Ok(names)
    }

    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The `i`-th name in order, NUL-terminated.
    pub fn get(&self, i: usize) -> &CStr {
        let start = self.starts[i] as usize;
        let end = start + name_at(&self.bytes, self.starts[i]).len();
        CStr::from_bytes_with_nul(&self.bytes[start..=end]).expect("one NUL-terminated name")
    }

    /// Bytes held (for tests of the bound).
    pub fn footprint(&self) -> usize {
        self.bytes.capacity() + 4 * self.starts.capacity()
    }
}

/// The name starting at `start`, without its NUL.
fn name_at(bytes: &[u8], start: u32) -> &[u8] {
    let rest = &bytes[start as usize..];
    &rest[..memchr::memchr(0, rest).unwrap_or(rest.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_by_bytes_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let mut want: Vec<Vec<u8>> = Vec::new();
        for i in 0..500u32 {
            let name = format!("n{}-{}", i % 17, i);
            std::fs::write(dir.path().join(&name), b"").unwrap();
            want.push(name.into_bytes());
        }
        std::fs::write(dir.path().join("caf\u{e9}"), b"").unwrap();
        want.push("caf\u{e9}".as_bytes().to_vec());
        want.sort();
        let d = std::fs::File::open(dir.path()).unwrap();
        let names = Names::read(&d).unwrap();
        let got: Vec<Vec<u8>> = (0..names.len())
            .map(|i| names.get(i).to_bytes().to_vec())
            .collect();
        assert_eq!(got, want);
        let name_bytes: usize = want.iter().map(Vec::len).sum();
        assert_eq!(names.footprint(), name_bytes + OVERHEAD * want.len());
        // Read twice from one descriptor: the listing does not move its position.
        assert_eq!(Names::read(&d).unwrap().len(), want.len());
    }
}
