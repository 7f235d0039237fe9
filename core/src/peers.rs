//! The seed's `peers(hostlist, regex, groupsize)`: a host list cut into neighbourhoods.
//!
//! Hosts, in list order, form groups of `group_size` (the last may be smaller). A host
//! watches the other members of its own group, so every host is watched by the same
//! neighbours it watches, and a host not in the list watches none. The first member of a
//! group is its leader (CFEngine's `peerleader`).
//!
//! # Example
//!
//! ```
//! use homeostat_core::peers::{group, leader, neighbours};
//!
//! let hosts = ["a", "b", "c", "d", "e"];
//! assert_eq!(group(&hosts, &"d", 2), &["c", "d"]);
//! assert_eq!(neighbours(&hosts, &"d", 2).collect::<Vec<_>>(), [&"c"]);
//! assert_eq!(leader(&hosts, &"e", 2), Some(&"e")); // the last group is smaller
//! assert!(group(&hosts, &"z", 2).is_empty()); // not in the list: watches none
//! ```

/// The group of `group_size` hosts that holds `me`, in list order (`me` included); empty
/// when `me` is not in the list or `group_size` is 0.
pub fn group<'h, H: PartialEq>(hosts: &'h [H], me: &H, group_size: usize) -> &'h [H] {
    if group_size == 0 {
        return &[];
    }
    match hosts.iter().position(|h| h == me) {
        Some(i) => {
            let start = i - i % group_size;
            let end = (start + group_size).min(hosts.len());
            &hosts[start..end]
        }
        None => &[],
    }
}

/// The neighbours `me` watches: the other members of its group, in list order.
pub fn neighbours<'h, H: PartialEq>(
    hosts: &'h [H],
    me: &'h H,
    group_size: usize,
) -> impl Iterator<Item = &'h H> + 'h {
    group(hosts, me, group_size)
        .iter()
        .filter(move |h| *h != me)
}

/// The leader of `me`'s group (its first member), if `me` is in the list.
pub fn leader<'h, H: PartialEq>(hosts: &'h [H], me: &H, group_size: usize) -> Option<&'h H> {
    group(hosts, me, group_size).first()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_in_list_order_last_smaller() {
        let hosts = ["a", "b", "c", "d", "e"];
        let n = |me| neighbours(&hosts, me, 2).copied().collect::<Vec<_>>();
        assert_eq!(n(&"a"), ["b"]);
        assert_eq!(n(&"b"), ["a"]);
        assert_eq!(n(&"c"), ["d"]);
        assert!(n(&"e").is_empty(), "alone in the last group");
        assert!(n(&"z").is_empty(), "not in the list: watches none");
        assert_eq!(leader(&hosts, &"d", 2), Some(&"c"));
        assert_eq!(group(&hosts, &"e", 3), ["d", "e"]);
        assert!(group(&hosts, &"a", 0).is_empty());
    }

    #[test]
    fn watching_is_mutual() {
        let hosts: [u32; 10] = core::array::from_fn(|i| i as u32);
        for size in 1..12 {
            for a in &hosts {
                for b in neighbours(&hosts, a, size) {
                    assert!(
                        neighbours(&hosts, b, size).any(|x| x == a),
                        "{a} {b} {size}"
                    );
                }
            }
        }
    }
}
