//! Standard output and error that may be closed under us.
//!
//! A command's reader may go away (`homeostat scan | head -1`): the commands then end
//! as `cat` or `grep` do, killed by `SIGPIPE` with nothing said (status 141 in a shell),
//! never with a panic. The daemon (`run`, and `serve`) must outlive whoever reads its
//! log: it ignores `SIGPIPE`, its stdout sink is set aside by [`super::Output`] when it
//! fails, and its stderr lines go through [`say`], which never panics.

use std::io::Write;

/// Restores the default action of `SIGPIPE` (Rust ignores it), so that a closed stdout or
/// stderr ends a one-shot command quietly at its next write.
pub fn die_on_closed_pipe() {
    // SAFETY: signal with SIG_DFL has no preconditions; no handler is installed.
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// `homeostat: {line}` on standard error; nothing (and no panic) when it is closed.
pub fn say(line: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "homeostat: {line}");
}

/// `line` as it is on standard error (it carries its own `homeostat: ` prefix or
/// indentation); nothing (and no panic) when it is closed.
pub fn say_line(line: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "{line}");
}
