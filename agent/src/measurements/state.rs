//! `<state_dir>/logscan.state`: the saved position of every (measurement, log) and the
//! last values of `last` and `string` measurements, as text, a blob of the state
//! directory ([`homeostat_core::feed::Storage`]) replaced atomically; and `logscan.lock`,
//! held while logs are read.
//!
//! Format: a first line `homeostat-logscan 1`, then one line per item:
//! `pos NAME PATH CUR PREV` (PATH escaped `\xNN`, CUR and PREV hex-encoded
//! [`TailPos`]es or `-`) and `last NAME int|real|string VALUE`.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use homeostat_core::digest::Hex;
use homeostat_core::logscan::{Saved, TailPos};

use super::Error;
use crate::output::escape::escape_with;
use crate::platform::StateDir;
use crate::state_dir::{read_blob, write_blob};

/// Positions and last values, in the state directory.
pub const STATE_FILE: &str = "logscan.state";
/// Held while logs are read.
pub const LOCK_FILE: &str = "logscan.lock";
const STATE_MAGIC: &str = "homeostat-logscan 1";

/// A value kept from one scan to the next.
#[derive(Clone, Debug, PartialEq)]
pub enum Last {
    Int(i64),
    Real(f64),
    Str(Vec<u8>),
}

/// `logscan.state`.
#[derive(Debug, Default, PartialEq)]
pub struct State {
    /// By measurement name and log path.
    pub pos: HashMap<(String, Vec<u8>), Saved>,
    pub last: HashMap<String, Last>,
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Inverse of `escape_with(…, b" ")`.
fn unescape(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if b.get(i + 1) != Some(&b'x') {
                return None;
            }
            out.push(u8::from_str_radix(s.get(i + 2..i + 4)?, 16).ok()?);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

fn pos_text(p: &Option<TailPos>) -> String {
    match p {
        None => "-".to_string(),
        Some(p) => Hex(&p.encode()).to_string(),
    }
}

fn pos_parse(s: &str) -> Result<Option<TailPos>, String> {
    if s == "-" {
        return Ok(None);
    }
    let b = hex_decode(s).ok_or("a position is not hex")?;
    TailPos::decode(&b)
        .map(Some)
        .map_err(|e| format!("position: {e}"))
}

impl State {
    /// The state kept in `store`, or an empty one when there is none.
    pub fn load(store: &mut StateDir) -> Result<State, Error> {
        let path = store.path(STATE_FILE);
        let text = match read_blob(store, STATE_FILE, crate::limits::MEASURE_STATE) {
            Ok(Some(t)) => t,
            Ok(None) => return Ok(State::default()),
            Err(e) => return Err(Error::State(format!("cannot read {}: {e}", path.display()))),
        };
        State::parse(&text).map_err(|(line, what)| {
            Error::State(format!(
                "{} line {line}: {what}; remove it to start over (every log is then read again from its start)",
                path.display()
            ))
        })
    }

    fn parse(text: &[u8]) -> Result<State, (usize, String)> {
        let text = std::str::from_utf8(text).map_err(|e| (0, format!("not text: {e}")))?;
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, l)) if l == STATE_MAGIC => {}
            _ => return Err((1, format!("expected {STATE_MAGIC:?}"))),
        }
        let mut st = State::default();
        for (i, line) in lines {
            let n = i + 1;
            let f: Vec<&str> = line.split(' ').collect();
            match f.as_slice() {
                ["pos", name, path, cur, prev] => {
                    let path = unescape(path).ok_or((n, "bad path escape".to_string()))?;
                    let saved = Saved {
                        cur: pos_parse(cur).map_err(|e| (n, e))?,
                        prev: pos_parse(prev).map_err(|e| (n, e))?,
                    };
                    st.pos.insert((name.to_string(), path), saved);
                }
                ["last", name, "int", v] => {
                    let v = v.parse().map_err(|_| (n, "bad integer".to_string()))?;
                    st.last.insert(name.to_string(), Last::Int(v));
                }
                ["last", name, "real", v] => {
                    let v: f64 = v.parse().map_err(|_| (n, "bad number".to_string()))?;
                    st.last.insert(name.to_string(), Last::Real(v));
                }
                ["last", name, "string", v] => {
                    let v = unescape(v).ok_or((n, "bad string escape".to_string()))?;
                    st.last.insert(name.to_string(), Last::Str(v));
                }
                _ => {
                    return Err((
                        n,
                        "expected `pos NAME PATH CUR PREV` or `last NAME TYPE VALUE`".to_string(),
                    ))
                }
            }
        }
        Ok(st)
    }

    fn text(&self) -> String {
        let mut out = format!("{STATE_MAGIC}\n");
        let mut pos: Vec<_> = self.pos.iter().collect();
        pos.sort_by(|a, b| a.0.cmp(b.0));
        for ((name, path), s) in pos {
            out.push_str(&format!(
                "pos {name} {} {} {}\n",
                escape_with(path, b" "),
                pos_text(&s.cur),
                pos_text(&s.prev)
            ));
        }
        let mut last: Vec<_> = self.last.iter().collect();
        last.sort_by(|a, b| a.0.cmp(b.0));
        for (name, v) in last {
            out.push_str(&match v {
                Last::Int(i) => format!("last {name} int {i}\n"),
                Last::Real(r) => format!("last {name} real {r:?}\n"),
                Last::Str(s) => format!("last {name} string {}\n", escape_with(s, b" ")),
            });
        }
        out
    }

    /// Replaces the stored state, atomically: a crash leaves the old state or the new one.
    pub fn save(&self, store: &mut StateDir) -> io::Result<()> {
        write_blob(store, STATE_FILE, self.text().as_bytes())
    }
}

/// Holds `logscan.lock` (waiting up to two minutes for another scan to finish).
pub fn lock(dir: &Path) -> Result<File, Error> {
    let p = dir.join(LOCK_FILE);
    let f = crate::state_file::open_with(
        &p,
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600),
    )
    .map_err(|e| Error::Io(format!("cannot open {}: {e}", p.display())))?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        // SAFETY: flock on a descriptor this function owns; no memory is passed.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(f);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(Error::Io(format!("cannot lock {}: {e}", p.display())));
        }
        if Instant::now() >= deadline {
            return Err(Error::Io(format!(
                "{} has been locked by another homeostat for two minutes",
                p.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use homeostat_core::logscan::{Anchor, Mtime};

    #[test]
    fn state_round_trips_and_names_bad_lines() {
        let mut st = State::default();
        let p = TailPos {
            dev: 1,
            ino: 2,
            offset: 30,
            mtime: Mtime { sec: 5, nsec: 6 },
            head: Anchor::of(b"a\n"),
            head_done: true,
            tail: Anchor::of(b"b\n"),
            skipping: false,
        };
        st.pos.insert(
            ("ssh".into(), b"/var/log/a b\\\xff".to_vec()),
            Saved {
                cur: Some(p),
                prev: None,
            },
        );
        st.last.insert("x".into(), Last::Real(0.1));
        st.last.insert("y".into(), Last::Int(-3));
        st.last.insert("z".into(), Last::Str(b"a b\n\xfe".to_vec()));
        let text = st.text();
        assert!(text.is_ascii());
        assert_eq!(State::parse(text.as_bytes()).unwrap(), st);
        assert_eq!(State::parse(b"nope\n").unwrap_err().0, 1);
        let bad = format!("{STATE_MAGIC}\npos a /x 00 -\n");
        assert_eq!(State::parse(bad.as_bytes()).unwrap_err().0, 2);
        let bad = format!("{STATE_MAGIC}\nlast a int x\n");
        assert_eq!(State::parse(bad.as_bytes()).unwrap_err().0, 2);
    }
}
