//! The one order every record stream uses: paths compared component by component.
//!
//! Byte order on whole paths would put `/a/b-x` before `/a/b/c` (`-` < `/`), which a
//! depth-first walk cannot produce without buffering whole subtrees. Comparing as if `/`
//! were the lowest byte gives exactly the order of a depth-first walk whose directory
//! entries are sorted by their name bytes, so the walk streams.

use core::cmp::Ordering;

/// Compares two paths as a depth-first walk with byte-sorted entries visits them.
pub fn path_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let key = |c: u8| if c == b'/' { 0u8 } else { c };
    for (x, y) in a.iter().zip(b.iter()) {
        let (kx, ky) = (key(*x), key(*y));
        if kx != ky {
            return kx.cmp(&ky);
        }
    }
    a.len().cmp(&b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_first_order() {
        let mut v: [&[u8]; 7] = [
            b"/a/b-x",
            b"/a/b/c",
            b"/a",
            b"/a/b",
            b"/a/\xff",
            b"/a/b/c/d",
            b"/a/B",
        ];
        v.sort_by(|x, y| path_cmp(x, y));
        let want: [&[u8]; 7] = [
            b"/a",
            b"/a/B",
            b"/a/b",
            b"/a/b/c",
            b"/a/b/c/d",
            b"/a/b-x",
            b"/a/\xff",
        ];
        assert_eq!(v, want);
    }
}
