//! `homeostat verify-journal`: the chain line by line, against the head the database
//! signs, after the database itself is verified with the configured keys.

use std::io::{self, BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use homeostat_core::journal::{Head, Verifier};
use serde::Serialize;

use super::file::{self, MAX_LINE};
use crate::exit::{Outcome, DATABASE, IO};
use crate::files::database::{self, DbFileError};
use crate::files::signing::Keys;
use crate::output::escape::escape;
use crate::output::Output;

/// Exit status of a broken journal (that of a forged database).
const BROKEN: u8 = DATABASE;

/// What vouches for the head the journal is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Trust {
    /// The database's ed25519 signature, verified with the configured key.
    Signature,
    /// Only the database's SHA-256 (no key configured): whoever can write the state
    /// directory can write a head that matches.
    Digest,
    /// No database: the chain alone.
    None,
}

/// The journal's verdict.
enum Verdict {
    Intact { lines: u64, head: Option<Head> },
    Broken { line: u64, lines: u64, why: String },
}

/// The one JSON line of the result.
#[derive(Serialize)]
struct Report<'a> {
    r#type: &'static str,
    path: &'a str,
    ok: bool,
    /// Lines read.
    lines: u64,
    /// The first broken line (1-based), when there is one.
    broken: Option<u64>,
    /// The seq of the line the database signs.
    signed_seq: Option<u64>,
    trust: Trust,
    message: &'a str,
}

/// `homeostat verify-journal`: exit 0 intact, 17 broken (naming the line), 18 on I/O errors.
pub fn command(keys: &Keys, state: &Path, out: &mut Output) -> Outcome {
    let db = state.join("files.db");
    let (signed, trust) = match database::verify(&db, keys) {
        Ok(v) if v.signed && keys.verifying.is_some() => (v.journal, Trust::Signature),
        Ok(v) => (v.journal, Trust::Digest),
        Err(DbFileError::Missing(_)) => (None, Trust::None),
        Err(e @ DbFileError::Io { .. }) => return Err((IO, e.to_string())),
        Err(e) => return Err((DATABASE, e.to_string())),
    };
    let path = file::path(state);
    let shown = escape(path.as_os_str().as_bytes());
    let verdict =
        check(&path, signed).map_err(|e| (IO, format!("cannot read journal {shown}: {e}")))?;
    let signs = match (signed, trust) {
        (_, Trust::None) => "no database: the chain alone is checked".to_string(),
        (None, _) => "the database signs no journal line".to_string(),
        (Some(h), Trust::Signature) => {
            format!("the database signs line {} (signature verified)", h.seq)
        }
        (Some(h), Trust::Digest) => format!(
            "the database signs line {} (no key configured: only its SHA-256 vouches for it)",
            h.seq
        ),
    };
    let (message, ok, lines, broken) = match &verdict {
        Verdict::Intact { lines, head } => {
            let last = head.map_or(0, |h| h.seq);
            let m = format!("{shown}: intact, {lines} lines (last seq {last}); {signs}");
            (m, true, *lines, None)
        }
        Verdict::Broken { line, lines, why } => (
            format!("{shown} line {line}: {why}"),
            false,
            *lines,
            Some(*line),
        ),
    };
    if out.json() {
        let report = Report {
            r#type: "journal",
            path: &shown,
            ok,
            lines,
            broken,
            signed_seq: signed.map(|h| h.seq),
            trust,
            message: &message,
        };
        let line = serde_json::to_string(&report)
            .map_err(|e| (IO, format!("cannot write report: {e}")))?;
        println!("{line}");
    } else {
        println!("{message}");
    }
    Ok(if ok { 0 } else { BROKEN })
}

/// Reads the journal at `path` line by line through the core's verifier.
fn check(path: &Path, signed: Option<Head>) -> io::Result<Verdict> {
    let mut v = Verifier::new(signed);
    let broken = |b: homeostat_core::journal::Broken, lines| Verdict::Broken {
        line: b.line,
        lines,
        why: b.defect.to_string(),
    };
    let file = match crate::state_file::read(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(match v.finish() {
                Ok(head) => Verdict::Intact { lines: 0, head },
                Err(b) => broken(b, 0),
            })
        }
        Err(e) => return Err(e),
    };
    // A shared lock: no append is half done while the last line is read.
    file.lock_shared()?;
    let mut r = BufReader::with_capacity(256 * 1024, file);
    let mut line = Vec::new();
    let mut overlong = false;
    loop {
        let buf = r.fill_buf()?;
        let (piece, end, used) = match memchr::memchr(b'\n', buf) {
            Some(i) => (&buf[..i], true, i + 1),
            // The end of the file: a last line without its newline is a line too.
            None if buf.is_empty() => (buf, !line.is_empty() || overlong, 0),
            None => (buf, false, buf.len()),
        };
        if line.len() + piece.len() > MAX_LINE {
            overlong = true;
        } else if !overlong {
            line.extend_from_slice(piece);
        }
        let eof = buf.is_empty();
        r.consume(used);
        if end {
            if overlong {
                return Ok(Verdict::Broken {
                    line: v.lines() + 1,
                    lines: v.lines() + 1,
                    why: format!("longer than {MAX_LINE} bytes (not a line homeostat writes)"),
                });
            }
            if let Err(b) = v.line(&line) {
                return Ok(broken(b, v.lines()));
            }
            line.clear();
        }
        if eof {
            break;
        }
    }
    Ok(match v.finish() {
        Ok(head) => Verdict::Intact {
            lines: v.lines(),
            head,
        },
        Err(b) => broken(b, v.lines()),
    })
}
