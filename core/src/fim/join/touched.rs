//! The paths a real-time check looks at ([`super::Mode::Paths`]): each alone, or with
//! everything below it.

use core::cmp::Ordering;

use super::is_under;
use crate::fim::order::path_cmp;

/// One path a real-time check examines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Touched<P> {
    /// The absolute path.
    pub path: P,
    /// Everything below it too: it was created, deleted or renamed, so what lies below
    /// it may have come or gone with it. `false`: the object alone (a write, a chmod, the
    /// parent directory of a create).
    pub below: bool,
}

/// Whether `path` is among `only`, which must be in [`path_cmp`] order of their paths,
/// each once, with none below one marked `below` (what [`tidy`] leaves).
/// Logarithmic in `only`, so a check of a big tree stays linear.
pub fn selected<P: AsRef<[u8]>>(only: &[Touched<P>], path: &[u8]) -> bool {
    // The last selection not after `path`: it is `path`, or the directory above it.
    let at = only.partition_point(|t| path_cmp(t.path.as_ref(), path) != Ordering::Greater);
    at > 0 && {
        let t = &only[at - 1];
        let p = t.path.as_ref();
        p == path || (t.below && is_under(path, p))
    }
}

/// Sorts `only` into [`path_cmp`] order and moves the redundant ones (repeats, and
/// those below one marked `below`) to the end; returns how many lead the slice.
/// A path listed both alone and with what is below it counts with what is below it.
pub fn tidy<P: AsRef<[u8]>>(only: &mut [Touched<P>]) -> usize {
    // Equal paths: the one with `below` first, so it is the one kept.
    only.sort_unstable_by(|a, b| {
        path_cmp(a.path.as_ref(), b.path.as_ref()).then(b.below.cmp(&a.below))
    });
    let mut kept = 0;
    for i in 0..only.len() {
        let redundant = kept > 0 && {
            let last = &only[kept - 1];
            let (p, q) = (last.path.as_ref(), only[i].path.as_ref());
            p == q || (last.below && is_under(q, p))
        };
        if !redundant {
            only.swap(kept, i);
            kept += 1;
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(path: &'static str, below: bool) -> Touched<&'static [u8]> {
        Touched {
            path: path.as_bytes(),
            below,
        }
    }

    #[test]
    fn tidy_keeps_the_widest_once_in_order() {
        let mut v = [
            t("/a/b/c", false),
            t("/a/b-x", false),
            t("/a/b", false),
            t("/a/b", true),
            t("/a", false),
            t("/a/b/d", true),
            t("/a/b-x", false),
        ];
        let n = tidy(&mut v);
        assert_eq!(
            &v[..n],
            &[t("/a", false), t("/a/b", true), t("/a/b-x", false)]
        );
    }

    #[test]
    fn selected_is_the_path_or_below_a_wide_one() {
        let v = [t("/a", false), t("/a/b", true), t("/a/b-x", false)];
        for (p, want) in [
            ("/a", true),
            ("/a/a", false),
            ("/a/b", true),
            ("/a/b/c/d", true),
            ("/a/b-x", true),
            ("/a/b-x/y", false),
            ("/a/c", false),
            ("/", false),
        ] {
            assert_eq!(selected(&v, p.as_bytes()), want, "{p}");
        }
        assert!(!selected::<&[u8]>(&[], b"/a"));
    }
}
