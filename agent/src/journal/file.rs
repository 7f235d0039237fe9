//! The journal file: its last line read from the end, and chained lines appended under an
//! exclusive lock, so that a `run` daemon and a `check` writing at once keep one chain.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use homeostat_core::journal::{self, Head, GENESIS, PREFIX_MAX};

/// The journal's file name in the state directory.
pub const NAME: &str = "journal.jsonl";

/// Longest line read whole: homeostat's lines are far shorter (two escaped paths of at
/// most 4096 bytes and a message), so a longer one is damage.
pub const MAX_LINE: usize = 1 << 20;

/// Bytes read at a time when looking for the last line from the end.
const CHUNK: usize = 64 * 1024;

/// The journal of the state directory `state`.
pub fn path(state: &Path) -> PathBuf {
    state.join(NAME)
}

/// The journal of the state directory that holds the database `db`.
pub fn beside(db: &Path) -> PathBuf {
    path(db.parent().unwrap_or(Path::new(".")))
}

/// Where the next line goes, read from the end of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tail {
    /// The next line's seq.
    pub next: u64,
    /// The next line's prev: the link of the last line (or [`GENESIS`]).
    pub prev: [u8; 32],
    /// The file does not end with a newline (a crash mid-line): one is written first.
    pub unterminated: bool,
    /// The last line is not a well-formed journal line: its line number.
    pub damaged: Option<u64>,
}

impl Tail {
    /// The journal's head: its last line's seq and link, `None` when it is empty.
    pub fn head(&self) -> Option<Head> {
        (self.next > 1).then_some(Head {
            seq: self.next - 1,
            hash: self.prev,
        })
    }
}

/// Reads where the chain continues. A last line that is damaged (a crash mid-write, an
/// edit) is still the previous line: the next one links to its bytes and takes the seq
/// after its line number, so that nothing later is lost and `verify-journal` names it.
pub fn tail(file: &File) -> io::Result<Tail> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(Tail {
            next: 1,
            prev: GENESIS,
            unterminated: false,
            damaged: None,
        });
    }
    let line = last_line(file, len)?;
    let unterminated = !line.terminated;
    let prev = journal::link(&line.bytes);
    if let Ok(f) = journal::parse(&line.bytes) {
        if let Some(next) = f.seq.checked_add(1) {
            return Ok(Tail {
                next,
                prev,
                unterminated,
                damaged: None,
            });
        }
    }
    // Rare: count the lines to learn the damaged one's number.
    let number = count_lines(file, len)?;
    Ok(Tail {
        next: number + 1,
        prev,
        unterminated,
        damaged: Some(number),
    })
}

/// The last line's bytes (without its newline), and whether its newline is there.
struct LastLine {
    bytes: Vec<u8>,
    terminated: bool,
}

fn last_line(file: &File, len: u64) -> io::Result<LastLine> {
    let mut last = [0u8; 1];
    file.read_exact_at(&mut last, len - 1)?;
    // A file that ends in a newline ends with a whole line; else the bytes after the last
    // newline are the (torn) last line, and they end at the end of the file.
    let terminated = last[0] == b'\n';
    let end = if terminated { len - 1 } else { len };
    let mut start = end;
    let mut bytes: Vec<u8> = Vec::new();
    while start > 0 {
        let take = (start as usize).min(CHUNK);
        let mut chunk = vec![0u8; take];
        file.read_exact_at(&mut chunk, start - take as u64)?;
        let found = memchr::memrchr(b'\n', &chunk);
        let from = found.map_or(0, |i| i + 1);
        chunk.drain(..from);
        chunk.extend_from_slice(&bytes);
        bytes = chunk;
        start -= (take - from) as u64;
        if bytes.len() > MAX_LINE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "its last line is longer than {MAX_LINE} bytes (damaged): \
                     not appending after it; move the file aside"
                ),
            ));
        }
        if found.is_some() {
            break;
        }
    }
    Ok(LastLine { bytes, terminated })
}

/// Lines in the file, a last one without its newline included.
fn count_lines(file: &File, len: u64) -> io::Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let (mut at, mut n, mut last) = (0u64, 0u64, b'\n');
    while at < len {
        let got = file.read_at(&mut buf, at)?;
        if got == 0 {
            break;
        }
        n += memchr::memchr_iter(b'\n', &buf[..got]).count() as u64;
        last = buf[got - 1];
        at += got as u64;
    }
    Ok(n + u64::from(last != b'\n'))
}

/// The head of the journal at `path` as it is now (`None`: no journal, or empty), for a
/// database to sign: read under a shared lock so that no append is half done, and made
/// durable first, since another writer's lines may not be fsync'd yet and a head signed
/// above what a crash leaves would read as a cut journal.
pub fn head(path: &Path) -> io::Result<Option<Head>> {
    let file = match crate::state_file::read(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    file.lock_shared()?;
    file.sync_data()?;
    Ok(tail(&file)?.head())
}

/// What an append did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Appended {
    /// The journal's head after it.
    pub head: Option<Head>,
    /// The line number of a damaged last line the new lines were chained after.
    pub after_damaged: Option<u64>,
}

/// Appends one line per event (`events`: each an event's JSON object, without newline)
/// to the journal at `path`, chained after its last line, in one write under an
/// exclusive lock; `sync`: fsync'd before the lock is released.
pub fn append(path: &Path, events: &[Vec<u8>], sync: bool) -> io::Result<Appended> {
    if events.is_empty() {
        return Ok(Appended::default());
    }
    let existed = path.exists();
    let file = crate::state_file::append(path)?;
    // Another writer may have appended since this one last looked: the tail is read under
    // the lock, every time.
    file.lock()?;
    let tail = tail(&file)?;
    let mut out = Vec::with_capacity(events.iter().map(|e| e.len() + PREFIX_MAX + 1).sum());
    if tail.unterminated {
        out.push(b'\n');
    }
    let (mut seq, mut prev) = (tail.next, tail.prev);
    for json in events {
        let start = out.len();
        let mut p = [0u8; PREFIX_MAX];
        let n = journal::prefix(seq, &prev, &mut p);
        out.extend_from_slice(&p[..n]);
        // The object without its `{`: the prefix opened it.
        out.extend_from_slice(json.get(1..).unwrap_or_default());
        prev = journal::link(&out[start..]);
        out.push(b'\n');
        seq += 1;
    }
    let len = file.metadata()?.len();
    if let Err(e) = (&file).write_all(&out) {
        // A full disk: the space a part-written batch took is given back, so that the
        // journal never ends in a torn line the next append must chain after.
        let _ = file.set_len(len);
        return Err(e);
    }
    if sync {
        file.sync_data()?;
        if !existed {
            sync_parent(path);
        }
    }
    Ok(Appended {
        head: (seq > 1).then_some(Head {
            seq: seq - 1,
            hash: prev,
        }),
        after_damaged: tail.damaged,
    })
}

/// Makes the journal's data durable (after appends made without `sync`).
pub fn sync(path: &Path) -> io::Result<()> {
    let file = crate::state_file::existing_for_append(path)?;
    file.sync_data()?;
    sync_parent(path);
    Ok(())
}

/// The directory entry of a new file made durable too; best effort, as for the database.
fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent() {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

#[cfg(test)]
mod tests;
