//! Rendering events whose fields an attacker chose (a file name, a warning's source, a
//! rule's report with expanded variables): the text line, the JSON line and the syslog
//! datagram each stay one line with no control character, and the JSON parses.

use homeostat_core::event::{Alert, Event, SetId, Severity, Warning};
use proptest::collection::vec;
use proptest::prelude::*;

use crate::output::{json, syslog, text};

fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..80),
        vec(
            prop_oneof![
                Just(b'\n'),
                Just(b'\r'),
                Just(0x1b),
                Just(b','),
                Just(b'"'),
                Just(b'\\'),
                any::<u8>()
            ],
            0..40
        ),
    ]
}

fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,40}",
        "[a-z\\x00-\\x1f\\x7f\u{85}\u{2028}\"\\\\]{0,40}"
    ]
}

/// One event of each shape that carries attacker text; `name` (a rule's, a
/// measurement's) comes from the configuration, which checks it.
fn events<'a>(b: &'a [u8], s: &'a str, name: &'a str) -> [Event<'a>; 4] {
    [
        Event::SetId(SetId {
            t: 1_700_000_000,
            path: b,
            setuid: true,
            mode: 0o4755,
            uid: 0,
        }),
        Event::Warning(Warning {
            t: 1_700_000_000,
            source: b,
            measurement: Some(name),
            message: s,
        }),
        Event::Alert(Alert {
            t: 1_700_000_000,
            rule: name,
            severity: Severity::Alert,
            message: s,
        }),
        Event::NoBaseline { path: b },
    ]
}

proptest! {
    #[test]
    fn prop_rendered_events_hold_no_control_character(
        b in hostile_bytes(),
        s in hostile_text(),
        name in "[A-Za-z0-9_]{1,20}",
    ) {
        for e in events(&b, &s, &name) {
            if let Some(t) = text::render(&e) {
                prop_assert!(!t.chars().any(char::is_control), "text {:?}", t);
            }
            if let Some(j) = json::line(&e) {
                prop_assert!(!j.iter().any(|c| *c < 0x20 || *c == 0x7f), "json {:?}", String::from_utf8_lossy(&j));
                let v: serde_json::Value = serde_json::from_slice(&j).expect("one JSON object");
                prop_assert!(v.is_object());
            }
            if let Some(f) = syslog::frame(&e, 3, "host", 42, 1_700_000_000) {
                prop_assert!(!f.chars().any(char::is_control), "syslog {:?}", f);
            }
        }
    }
}
