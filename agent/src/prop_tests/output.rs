//! Output escaping: whatever the bytes (file names, link targets, log keys), what is
//! printed holds no control character, so no line, field or terminal escape is injected.

use proptest::collection::vec;
use proptest::prelude::*;

use crate::output::escape::{escape, escape_with, json_str, quoted_target};

fn plain(s: &str) -> bool {
    s.bytes().all(|b| (0x20..0x7f).contains(&b))
}

proptest! {
    /// `escape`, `escape_with` and `quoted_target`: printable ASCII only; the extra bytes
    /// (`,` of file_changes.log, ` ` of the log state) never appear bare.
    #[test]
    fn prop_escape_never_lets_a_control_byte_through(
        bytes in vec(any::<u8>(), 0..200),
        target in proptest::option::of(vec(any::<u8>(), 0..50)),
    ) {
        let e = escape(&bytes);
        prop_assert!(plain(&e), "{:?}", e);
        let c = escape_with(&bytes, b", ");
        prop_assert!(plain(&c) && !c.contains(',') && !c.contains(' '), "{:?}", c);
        let q = quoted_target(target.as_deref(), b",");
        prop_assert!(plain(&q) && !q.contains(','), "{:?}", q);
    }

    /// `json_str` of any text is one JSON string literal: serde reads it back to the same
    /// text, and it holds no raw control character.
    #[test]
    fn prop_json_str_is_one_literal(s in "\\PC{0,60}|[\\x00-\\x7f]{0,60}") {
        let j = json_str(&s);
        prop_assert!(!j.chars().any(|c| c.is_control()), "{:?}", j);
        let back: String = serde_json::from_str(&j).expect("a JSON string literal");
        prop_assert_eq!(back, s);
    }
}
