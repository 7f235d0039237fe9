//! The whole tampering scenario, from `init` to `file_changes.log`, in one call.

use crate::expect::{mask, resolve, Expected, Spec};
use crate::filelog::{new_log_lines, verify_log};
use crate::fixture::Fixture;
use crate::fs::{now_epoch, tick};
use crate::json::assert_summary_last;
use crate::snapshot::diff;
use crate::verify::{verify_json_events, verify_setid_json, verify_text};

/// The whole tampering scenario on a fresh fixture's tree (see the tests' docs):
///
/// 1. `init`; the oracle snapshots the baseline;
/// 2. `tamper`; the oracle snapshots again and must agree with `spec` (test precondition);
/// 3. `check --no-update` (text): exit bitmask, documented lines, `NEW SETUID` lines;
/// 4. plain `--json check`: exit bitmask, exactly the expected events with exact attrs
///    and values, setid events;
/// 5. `--json check` again: exit 0, nothing (the plain check accepted the change);
/// 6. `file_changes.log`: exactly the expected letters twice (steps 3 and 4), nothing
///    from init or step 5.
pub fn scenario(
    fx: &Fixture,
    tamper: impl FnOnce(&Fixture),
    spec: &[(&[u8], Spec)],
    setid: &[(&[u8], &str)],
) -> Expected {
    fx.init();
    assert!(
        fx.log_bytes().is_empty(),
        "init wrote file_changes.log lines"
    );
    let before = fx.baseline();
    tick();
    tamper(fx);
    let after = fx.snapshot(Some(&before));
    let oracle = diff(&before, &after);
    let exp = resolve(fx, spec, &oracle);
    let setid: Vec<(Vec<u8>, &str)> = setid.iter().map(|(r, b)| (fx.abs(r), *b)).collect();
    let code = mask(&exp);
    let t0 = now_epoch();

    let text = fx.run(&["check", "--no-update"]);
    text.expect_code(code);
    verify_text(&text, &exp, &before, &after, &setid);

    let js = fx.run(&["--json", "check"]);
    js.expect_code(code);
    verify_json_events(&js, &exp, &before, &after);
    verify_setid_json(&js, &setid, &after);
    assert_summary_last(&js);
    let log_after_checks = fx.log_bytes().len();

    let again = fx.run(&["--json", "check"]);
    again.expect_code(0);
    assert!(
        again.files().is_empty(),
        "plain check did not accept the change: {}",
        again.stdout_str()
    );
    assert!(
        again.setids().is_empty(),
        "setid said again after acceptance: {}",
        again.stdout_str()
    );
    assert_eq!(
        fx.log_bytes().len(),
        log_after_checks,
        "a clean check wrote file_changes.log lines"
    );

    verify_log(fx, &new_log_lines(fx, 0), &exp, 2, t0);
    exp
}
