//! Following one log on disk: observing it and the rotated files beside it, answering the
//! core rules' content questions, and reading what the rules say into line sinks, in
//! bounded chunks (no whole-file buffer, no mmap).
//!
//! Files are opened `O_NONBLOCK` (so a FIFO swapped in after the `stat` cannot block)
//! and checked with `fstat` before a byte is read: a FIFO, directory, device or socket is
//! never read. Rotated files are opened when listed, so a rename while the rules decide
//! does not change what an index means.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use homeostat_core::fim::Kind as FileKind;
use homeostat_core::logscan::position::{head, sha256, tail_start};
use homeostat_core::logscan::rules::{self, Ends, Plan};
use homeostat_core::logscan::{
    Anchor, Candidate, Event, Mtime, Node, Piece, Saved, Splitter, Stat, TailPos, Target, HEAD_MAX,
    LINE_MAX,
};

/// At most this many rotated files of one log are considered (the newest).
pub const MAX_CANDIDATES: usize = 32;
/// The read buffer: reads are this size at most; memory does not grow with the file.
pub const BUF_SIZE: usize = 1 << 20;

/// Where lines go.
pub trait LineSink {
    /// Complete lines, each with its `\n`, none longer than [`LINE_MAX`].
    fn region(&mut self, bytes: &[u8]);
    /// One line without its `\n` (at most [`LINE_MAX`] bytes: a longer one is cut).
    fn line(&mut self, line: &[u8]);
    /// Remembers what the lines given so far made, for [`LineSink::rollback`].
    fn checkpoint(&mut self);
    /// Forgets the lines given since the last [`LineSink::checkpoint`].
    fn rollback(&mut self);
}

/// A rotated file beside the log, opened.
pub struct Rotated {
    pub path: PathBuf,
    file: File,
    pub cand: Candidate,
}

/// The log and its rotated files as found.
pub struct Observation {
    pub node: Node,
    current: Option<File>,
    /// Oldest first.
    pub rotated: Vec<Rotated>,
    /// The current file's first line (see [`head`]) once the rotated files were listed, and
    /// its modification time then: the generation of the log the listing leads to. Lines
    /// read from the current file are that generation's only while it still begins so.
    live_head: Vec<u8>,
    live_mtime: Mtime,
    /// No rotated file appeared, vanished or changed its name while the directory was
    /// listed and the current file looked at (a listing made during a rotation can miss a
    /// generation, or hold one twice), and the current file's head and size agreed.
    settled: bool,
}

impl Observation {
    pub fn candidates(&self) -> Vec<Candidate> {
        self.rotated.iter().map(|r| r.cand).collect()
    }
}

fn stat_of(m: &std::fs::Metadata) -> Stat {
    Stat {
        dev: m.dev(),
        ino: m.ino(),
        size: m.size(),
        mtime: Mtime {
            sec: m.mtime(),
            nsec: m.mtime_nsec().clamp(0, 999_999_999) as u32,
        },
    }
}

fn special_kind(t: std::fs::FileType) -> FileKind {
    if t.is_dir() {
        FileKind::Dir
    } else if t.is_fifo() {
        FileKind::Fifo
    } else if t.is_socket() {
        FileKind::Socket
    } else if t.is_block_device() {
        FileKind::BlockDevice
    } else if t.is_char_device() {
        FileKind::CharDevice
    } else if t.is_symlink() {
        FileKind::Symlink
    } else {
        FileKind::File
    }
}

/// Opens a regular file without blocking and without a controlling terminal; `None` when
/// what was opened is not a regular file.
fn open_regular(path: &Path, nofollow: bool) -> io::Result<Option<(File, Stat)>> {
    let mut flags = libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
    if nofollow {
        flags |= libc::O_NOFOLLOW;
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)?;
    let m = f.metadata()?;
    Ok(m.is_file().then(|| (f, stat_of(&m))))
}

/// `stat`s the log (following a symlink: a log may be one) and opens it if it is a regular
/// file; lists and opens its rotated files; then takes the current file's head and time and
/// lists the rotated files again, to tell whether the observation is settled.
pub fn observe(path: &Path) -> io::Result<Observation> {
    let (node, current) = match std::fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => (Node::Missing, None),
        Err(e) => return Err(e),
        Ok(m) if !m.is_file() => (Node::Special(special_kind(m.file_type())), None),
        Ok(_) => match open_regular(path, false) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => (Node::Missing, None),
            Err(e) => return Err(e),
            Ok(None) => {
                let m = std::fs::metadata(path)?;
                (Node::Special(special_kind(m.file_type())), None)
            }
            Ok(Some((f, s))) => (Node::Regular(s), Some(f)),
        },
    };
    let (rotated, listed) = rotated(path)?;
    let (live_head, live_mtime, live_ok) = match &current {
        Some(f) => live(f)?,
        None => (Vec::new(), Mtime::default(), true),
    };
    let settled = live_ok && rotated_names(path)? == listed;
    Ok(Observation {
        node,
        current,
        rotated,
        live_head,
        live_mtime,
        settled,
    })
}

/// The head and modification time of the current file; false when they did not agree
/// (it was written, truncated or still had its first line written while being looked at).
fn live(f: &File) -> io::Result<(Vec<u8>, Mtime, bool)> {
    let h0 = head_bytes(f)?;
    let m = f.metadata()?;
    let h1 = head_bytes(f)?;
    let ok = h0 == h1 && h1.is_empty() == (m.size() == 0);
    Ok((h1, stat_of(&m).mtime, ok))
}

/// Every name beside the log that is a rotation of it, with the device and inode of the
/// regular file it names now (`None`: not a regular file, or gone), sorted by name.
type Listing = Vec<(Vec<u8>, Option<(u64, u64)>)>;

/// The directory and base name of a log (`.` for a bare name).
fn dir_and_base(log: &Path) -> Option<(&Path, &OsStr)> {
    let (dir, base) = (log.parent()?, log.file_name()?);
    Some(if dir.as_os_str().is_empty() {
        (Path::new("."), base)
    } else {
        (dir, base)
    })
}

/// The rotated names of `log` as they are now (see [`Listing`]).
fn rotated_names(log: &Path) -> io::Result<Listing> {
    let mut out: Listing = rotation_entries(log)?
        .into_iter()
        .map(|RotationEntry { name, path, .. }| {
            let what = std::fs::symlink_metadata(path)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| (m.dev(), m.ino()));
            (name, what)
        })
        .collect();
    out.sort();
    Ok(out)
}

/// An entry beside a log whose name is a rotation of it (see [`rotated_name`]).
struct RotationEntry {
    name: Vec<u8>,
    number: Option<u64>,
    gz: bool,
    path: PathBuf,
}

/// The entries beside `log` whose names are rotations of it. A directory that can be
/// searched but not listed, or is gone, has none.
fn rotation_entries(log: &Path) -> io::Result<Vec<RotationEntry>> {
    let Some((dir, base)) = dir_and_base(log) else {
        return Ok(Vec::new());
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
            ) =>
        {
            return Ok(Vec::new())
        }
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if let Some((number, gz)) = rotated_name(base.as_bytes(), name.as_bytes()) {
            out.push(RotationEntry {
                name: name.as_bytes().to_vec(),
                number,
                gz,
                path: dir.join(&name),
            });
        }
    }
    Ok(out)
}

/// What a rotated name says: its generation number (`LOG.3`, `LOG.3.gz`) if it has one,
/// and whether it is compressed. `None` for names that are not a rotation of `base`.
pub fn rotated_name(base: &[u8], name: &[u8]) -> Option<(Option<u64>, bool)> {
    let rest = name.strip_prefix(base)?;
    let (rest, gz) = match rest.strip_suffix(b".gz") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let (sep, tail) = rest.split_first()?;
    if !matches!(sep, b'.' | b'-')
        || !tail.first().is_some_and(u8::is_ascii_digit)
        || !tail
            .iter()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
    {
        return None;
    }
    let number = (*sep == b'.' && tail.iter().all(u8::is_ascii_digit))
        .then(|| std::str::from_utf8(tail).ok()?.parse().ok())
        .flatten();
    Some((number, gz))
}

/// The rotated files of `log`, oldest first: by generation number when every name has
/// one (`LOG.1` is newer than `LOG.2.gz`), else by modification time, then name; and the
/// listing they were found in (see [`Listing`]).
fn rotated(log: &Path) -> io::Result<(Vec<Rotated>, Listing)> {
    let mut found: Vec<(Option<u64>, Vec<u8>, Rotated)> = Vec::new();
    let mut listed: Listing = Vec::new();
    for RotationEntry {
        name,
        number,
        gz,
        path,
    } in rotation_entries(log)?
    {
        // Never followed: a rotated file is a regular file in this directory.
        let Ok(Some((file, stat))) = open_regular(&path, true) else {
            listed.push((name, None));
            continue;
        };
        listed.push((name.clone(), Some((stat.dev, stat.ino))));
        found.push((
            number,
            name,
            Rotated {
                path,
                file,
                cand: Candidate {
                    stat,
                    compressed: gz,
                },
            },
        ));
    }
    // `LOG.1` beside `LOG.1.gz`: gzip is still writing (or died): the plain file holds it.
    let plain: Vec<Vec<u8>> = found
        .iter()
        .filter(|f| !f.2.cand.compressed)
        .map(|f| f.1.clone())
        .collect();
    found.retain(|f| {
        !f.2.cand.compressed || !plain.iter().any(|p| f.1.strip_suffix(b".gz") == Some(p))
    });
    if found.iter().all(|(n, _, _)| n.is_some()) {
        found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    } else {
        found.sort_by(|a, b| {
            a.2.cand
                .stat
                .mtime
                .cmp(&b.2.cand.stat.mtime)
                .then_with(|| a.1.cmp(&b.1))
        });
    }
    let skip = found.len().saturating_sub(MAX_CANDIDATES);
    listed.sort();
    Ok((
        found.into_iter().skip(skip).map(|(_, _, r)| r).collect(),
        listed,
    ))
}

/// Reads a file from an offset through `read_at`, up to a limit.
struct At<'a> {
    file: &'a File,
    pos: u64,
    limit: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.limit.saturating_sub(self.pos);
        let n = (buf.len() as u64).min(left) as usize;
        if n == 0 {
            return Ok(0);
        }
        let got = self.file.read_at(&mut buf[..n], self.pos)?;
        self.pos += got as u64;
        Ok(got)
    }
}

/// Fills `buf` from `src`; returns the bytes read (fewer only at the end).
fn read_full(src: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A decompressing reader over a whole `.gz` file, positioned at decompressed `from`.
fn gz_at(file: &File, from: u64) -> io::Result<MultiGzDecoder<BufReader<At<'_>>>> {
    let mut d = MultiGzDecoder::new(BufReader::with_capacity(
        64 * 1024,
        At {
            file,
            pos: 0,
            limit: u64::MAX,
        },
    ));
    let skipped = io::copy(&mut (&mut d).take(from), &mut io::sink())?;
    if skipped < from {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("decompresses to {skipped} bytes, fewer than the offset {from}"),
        ));
    }
    Ok(d)
}

/// The digests the rules ask for.
struct Probe<'a>(&'a Observation);

impl rules::Probe for Probe<'_> {
    fn digest(&mut self, target: Target, start: u64, len: u16) -> Option<[u8; 32]> {
        let mut buf = vec![0u8; len as usize];
        let n = match target {
            Target::Current => read_full(
                &mut At {
                    file: self.0.current.as_ref()?,
                    pos: start,
                    limit: u64::MAX,
                },
                &mut buf,
            ),
            Target::Candidate(i) => {
                let r = self.0.rotated.get(i)?;
                if r.cand.compressed {
                    gz_at(&r.file, start).and_then(|mut d| read_full(&mut d, &mut buf))
                } else {
                    read_full(
                        &mut At {
                            file: &r.file,
                            pos: start,
                            limit: u64::MAX,
                        },
                        &mut buf,
                    )
                }
            }
        };
        (n.ok()? == buf.len()).then(|| sha256(&buf))
    }
}

/// Where one read ended.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadEnd {
    /// Bytes consumed: everything before is given to the sink.
    pub end: u64,
    /// Where the last line given started (absolute).
    pub last_line_start: Option<u64>,
    pub skipping: bool,
    /// Lines cut to [`LINE_MAX`].
    pub cut: u64,
}

/// True when `region` (complete lines) may hold a line longer than [`LINE_MAX`]: some
/// block of `LINE_MAX / 2` bytes, aligned to its start, has no newline. Any longer line
/// contains such a block, and one probe per block finds a newline within a line's length.
fn may_hold_long_line(region: &[u8]) -> bool {
    region
        .chunks_exact(LINE_MAX / 2)
        .any(|b| memchr::memchr(b'\n', b).is_none())
}

/// Reads `src` (positioned at absolute offset `from`) to its end, giving complete lines to
/// `sink`. With `final_input` a last line without a newline is a line too.
pub fn read_lines(
    src: &mut impl Read,
    from: u64,
    skipping: bool,
    final_input: bool,
    buf: &mut Vec<u8>,
    sink: &mut dyn LineSink,
) -> io::Result<ReadEnd> {
    buf.resize(BUF_SIZE, 0);
    let mut split = Splitter::new(skipping);
    let mut filled = 0usize;
    let mut base = from;
    let mut out = ReadEnd::default();
    loop {
        let n = loop {
            match src.read(&mut buf[filled..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => break r?,
            }
        };
        filled += n;
        let eof = n == 0;
        let fin = eof && final_input;
        let mut at = split.skip(&buf[..filled], fin);
        let cut = &mut out.cut;
        let mut give = |p: Piece<'_>, sink: &mut dyn LineSink| {
            if let Piece::Cut(_) = p {
                *cut += 1;
            }
            sink.line(p.bytes());
        };
        let mut last = None;
        if !split.skipping {
            if let Some(nl) = memchr::memrchr(b'\n', &buf[at..filled]) {
                let end = at + nl + 1;
                let region = &buf[at..end];
                if may_hold_long_line(region) {
                    let fed = split.feed(region, false, |p| give(p, &mut *sink));
                    last = fed.last_start.map(|s| at + s).or(last);
                    at += fed.consumed;
                } else {
                    sink.region(region);
                    let ls =
                        memchr::memrchr(b'\n', &region[..region.len() - 1]).map_or(0, |i| i + 1);
                    last = Some(at + ls);
                    at = end;
                }
            }
            let fed = split.feed(&buf[at..filled], fin, |p| give(p, &mut *sink));
            last = fed.last_start.map(|s| at + s).or(last);
            at += fed.consumed;
        }
        if let Some(l) = last {
            out.last_line_start = Some(base + l as u64);
        }
        buf.copy_within(at..filled, 0);
        filled -= at;
        base += at as u64;
        if eof {
            break;
        }
    }
    out.end = base;
    out.skipping = split.skipping;
    Ok(out)
}

/// Why following a log stopped without a result.
#[derive(Debug)]
pub enum FollowError {
    /// A file changed under the read in a way that makes what was read doubtful
    /// (truncated or rewritten): read again.
    Unstable(PathBuf),
    Io(PathBuf, io::Error),
}

/// What following a log once gave.
#[derive(Debug)]
pub struct Followed {
    pub saved: Saved,
    pub event: Event,
    pub cut: u64,
    /// Problems that did not stop it (an unreadable compressed file), by path.
    pub notes: Vec<(PathBuf, String)>,
}

/// The first line of `file` as it is now (see [`head`]).
fn head_bytes(file: &File) -> io::Result<Vec<u8>> {
    let mut b = vec![0u8; HEAD_MAX];
    let n = read_full(
        &mut At {
            file,
            pos: 0,
            limit: u64::MAX,
        },
        &mut b,
    )?;
    b.truncate(n);
    let len = head(&b).0.len();
    b.truncate(len);
    Ok(b)
}

/// What a read must find for its lines to be the ones the rules chose.
#[derive(Clone, Copy, Default)]
struct Expect<'a> {
    /// The position read on from: its head and tail anchors still hold after the read.
    from: Option<TailPos>,
    /// The file's first line when it was observed (a prefix of it while it was still being
    /// written): the file begins with it before and after the read, so no copytruncate
    /// came between the observation and the end of the read.
    head: Option<&'a [u8]>,
}

/// Reads an uncompressed file from `from` up to the size it had when observed, checks it
/// was not truncated or rewritten meanwhile (its head is still the one it had when the
/// read began, and what `expect` says holds) and returns the position where it ended.
#[allow(clippy::too_many_arguments)]
fn read_plain(
    path: &Path,
    file: &File,
    stat: Stat,
    from: u64,
    skipping: bool,
    expect: Expect<'_>,
    buf: &mut Vec<u8>,
    sink: &mut dyn LineSink,
) -> Result<(TailPos, u64), FollowError> {
    let io = |e| FollowError::Io(path.to_owned(), e);
    let unstable = || Err(FollowError::Unstable(path.to_owned()));
    let head0 = head_bytes(file).map_err(io)?;
    let mut src = At {
        file,
        pos: from,
        limit: stat.size.max(from),
    };
    let r = read_lines(&mut src, from, skipping, false, buf, sink).map_err(io)?;
    let head1 = head_bytes(file).map_err(io)?;
    let size = file.metadata().map_err(io)?.size();
    let observed = expect
        .head
        .is_none_or(|h| head0.starts_with(h) && head1.starts_with(h));
    let anchored = match expect.from {
        None => true,
        Some(p) => {
            let head = p.head.len == 0
                || head1
                    .get(..p.head.len as usize)
                    .is_some_and(|h| sha256(h) == p.head.digest);
            let mut tail = vec![0u8; p.tail.len as usize];
            let at = p.offset - u64::from(p.tail.len).min(p.offset);
            let got = read_full(
                &mut At {
                    file,
                    pos: at,
                    limit: p.offset,
                },
                &mut tail,
            )
            .map_err(io)?;
            head && (p.tail.len == 0 || (got == tail.len() && sha256(&tail) == p.tail.digest))
        }
    };
    if !head1.starts_with(&head0) || !observed || !anchored || size < r.end {
        return unstable();
    }
    let ts = tail_start(r.end, r.last_line_start.unwrap_or(0));
    let mut tail = vec![0u8; (r.end - ts) as usize];
    let got = read_full(
        &mut At {
            file,
            pos: ts,
            limit: r.end,
        },
        &mut tail,
    )
    .map_err(io)?;
    if got != tail.len() {
        return unstable();
    }
    Ok((
        TailPos {
            dev: stat.dev,
            ino: stat.ino,
            offset: r.end,
            mtime: stat.mtime,
            head: anchor(&head1),
            head_done: head_done(&head1),
            tail: anchor(&tail),
            skipping: r.skipping,
        },
        r.cut,
    ))
}

/// The anchor of `bytes`, none when empty.
fn anchor(bytes: &[u8]) -> Anchor {
    if bytes.is_empty() {
        Anchor::NONE
    } else {
        Anchor::of(bytes)
    }
}

/// A head (see [`head`]) that cannot grow any more.
fn head_done(h: &[u8]) -> bool {
    h.ends_with(b"\n") || h.len() == HEAD_MAX
}

/// Reads rotated file `i` from `from`. A compressed one is read to its end (a last line
/// without a newline counts: nothing will follow it) and gives no position; one that
/// cannot be decompressed is noted and skipped.
#[allow(clippy::too_many_arguments)]
fn read_rotated(
    obs: &Observation,
    i: usize,
    from: u64,
    skipping: bool,
    expect: Expect<'_>,
    buf: &mut Vec<u8>,
    sink: &mut dyn LineSink,
    out: &mut Followed,
) -> Result<Option<TailPos>, FollowError> {
    let r = &obs.rotated[i];
    if !r.cand.compressed {
        let (pos, cut) = read_plain(
            &r.path,
            &r.file,
            r.cand.stat,
            from,
            skipping,
            expect,
            buf,
            sink,
        )?;
        out.cut += cut;
        return Ok(Some(pos));
    }
    let mut counted = CountingSink {
        inner: sink,
        bytes: 0,
    };
    let res = gz_at(&r.file, from)
        .and_then(|mut d| read_lines(&mut d, from, skipping, true, buf, &mut counted));
    match res {
        Ok(e) => out.cut += e.cut,
        Err(e) => out.notes.push((
            r.path.clone(),
            format!(
                "cannot decompress it past byte {}: {e}; lines after that are lost",
                from + counted.bytes
            ),
        )),
    }
    Ok(None)
}

/// Counts the bytes of the regions and lines given (to say where a read failed).
struct CountingSink<'a> {
    inner: &'a mut dyn LineSink,
    bytes: u64,
}

impl LineSink for CountingSink<'_> {
    fn region(&mut self, bytes: &[u8]) {
        self.bytes += bytes.len() as u64;
        self.inner.region(bytes);
    }
    fn line(&mut self, line: &[u8]) {
        self.bytes += line.len() as u64 + 1;
        self.inner.line(line);
    }
    fn checkpoint(&mut self) {
        self.inner.checkpoint();
    }
    fn rollback(&mut self) {
        self.inner.rollback();
    }
}

/// Observations of a log tried before giving up on one that keeps changing under them.
const SETTLE_TRIES: usize = 10;
/// Rounds of one follow: a round whose read of the current file was overtaken by a
/// rotation keeps what it read before and goes on from there in the next.
const ROUNDS: usize = 8;

/// Observes the log and decides what to read, until the observation is settled (see
/// [`Observation::settled`]) and the current file still begins as observed once the rules
/// have looked at it (the decision is about the generation observed). A decision that
/// would report a loss is taken again, up to `rechecks` times, 50 ms apart: a rotation
/// caught half done must not pass for one.
fn observe_and_decide(
    path: &Path,
    saved: &Saved,
    rechecks: usize,
) -> Result<(Observation, Plan), FollowError> {
    let io = |e| FollowError::Io(path.to_owned(), e);
    let mut left = rechecks;
    let mut tries = 0;
    loop {
        let obs = observe(path).map_err(io)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(Mtime::default(), |d| Mtime {
                sec: d.as_secs() as i64,
                nsec: d.subsec_nanos(),
            });
        let plan: Plan = rules::decide(saved, &obs.node, &obs.candidates(), now, &mut Probe(&obs));
        let settled = obs.settled
            && match &obs.current {
                Some(f) => head_bytes(f).map_err(io)?.starts_with(&obs.live_head),
                None => true,
            };
        if !settled {
            tries += 1;
            if tries == SETTLE_TRIES {
                return Err(FollowError::Unstable(path.to_owned()));
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            continue;
        }
        if left == 0 || !matches!(plan.event, Event::Truncated { .. } | Event::Lost { .. }) {
            return Ok((obs, plan));
        }
        left -= 1;
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Follows the log at `path` once from `saved`: observes it, lets the core rules decide,
/// reads, and returns the positions to save. Lines go to `sink`; on an error nothing that
/// was given to it may be kept.
///
/// The rotated files are read first, then the current file; a rotation (copytruncate)
/// that overtakes the read of the current file is seen by its head no longer being the
/// observed one: what that read gave is forgotten (`sink` rolls back), the position
/// becomes "that generation, not read past where the read began", and the next round
/// observes again and finds that generation where it was copied to.
pub fn follow(
    path: &Path,
    saved: &Saved,
    rechecks: usize,
    buf: &mut Vec<u8>,
    sink: &mut dyn LineSink,
) -> Result<Followed, FollowError> {
    let mut out = Followed {
        saved: *saved,
        event: Event::Quiet,
        cut: 0,
        notes: Vec::new(),
    };
    for round in 0..ROUNDS {
        let saved = out.saved;
        let (obs, plan) = observe_and_decide(path, &saved, rechecks)?;
        let loss = |e: Event| matches!(e, Event::Truncated { .. } | Event::Lost { .. });
        if round == 0 || out.event == Event::Quiet || (loss(plan.event) && !loss(out.event)) {
            out.event = plan.event;
        }
        let from_pos = |p: Option<TailPos>, from: u64| p.filter(|p| from != 0 && from == p.offset);
        let mut ends = Ends::default();
        if let Some((i, from)) = plan.prev {
            let skipping = from != 0 && saved.prev.is_some_and(|p| p.skipping);
            let expect = Expect {
                from: from_pos(saved.prev, from),
                head: None,
            };
            ends.prev = read_rotated(&obs, i, from, skipping, expect, buf, sink, &mut out)?;
        }
        if let Some((i, from)) = plan.old {
            let skipping = from != 0 && saved.cur.is_some_and(|c| c.skipping);
            let expect = Expect {
                from: from_pos(saved.cur, from),
                head: None,
            };
            ends.old = read_rotated(&obs, i, from, skipping, expect, buf, sink, &mut out)?;
        }
        for i in plan.between() {
            let expect = Expect::default();
            ends.between = read_rotated(&obs, i, 0, false, expect, buf, sink, &mut out)?;
        }
        let mut overtaken = false;
        if let (Some(from), Node::Regular(stat), Some(file)) =
            (plan.current, obs.node, &obs.current)
        {
            // Not read past `from`: the position already saved there, or the start of the
            // generation observed (when it was empty, a position that saw an empty file,
            // from the time it had then).
            let unread = from_pos(saved.cur, from).unwrap_or(TailPos {
                head: anchor(&obs.live_head),
                head_done: head_done(&obs.live_head),
                ..TailPos::start(stat.dev, stat.ino, obs.live_mtime)
            });
            if obs.live_head.is_empty() {
                // Empty when observed: whatever it holds now came later, maybe after a
                // rotation this observation did not see. Read at the next scan.
                overtaken = from != 0;
                ends.current = Some(unread);
            } else {
                let skipping = from != 0 && saved.cur.is_some_and(|c| c.skipping);
                let expect = Expect {
                    from: from_pos(saved.cur, from),
                    head: Some(&obs.live_head),
                };
                sink.checkpoint();
                match read_plain(path, file, stat, from, skipping, expect, buf, sink) {
                    Ok((pos, cut)) => {
                        out.cut += cut;
                        ends.current = Some(pos);
                    }
                    Err(FollowError::Unstable(_)) => {
                        sink.rollback();
                        overtaken = true;
                        ends.current = Some(unread);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        out.saved = plan.next(&saved, &ends);
        if !overtaken {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_names() {
        let b = b"auth.log";
        assert_eq!(rotated_name(b, b"auth.log.1"), Some((Some(1), false)));
        assert_eq!(rotated_name(b, b"auth.log.12.gz"), Some((Some(12), true)));
        assert_eq!(rotated_name(b, b"auth.log-20240101"), Some((None, false)));
        assert_eq!(rotated_name(b, b"auth.log-20240101.gz"), Some((None, true)));
        assert_eq!(rotated_name(b, b"auth.log.2024-01-01"), Some((None, false)));
        for no in [
            &b"auth.log"[..],
            b"auth.log.gz",
            b"auth.log.bak",
            b"auth.log.1.xz",
            b"auth.logx.1",
            b"auth.log.1.gz.tmp",
            b"xauth.log.1",
        ] {
            assert_eq!(rotated_name(b, no), None, "{}", String::from_utf8_lossy(no));
        }
    }

    struct Collect(Vec<Vec<u8>>);

    impl LineSink for Collect {
        fn region(&mut self, bytes: &[u8]) {
            for l in bytes[..bytes.len() - 1].split(|b| *b == b'\n') {
                self.0.push(l.to_vec());
            }
        }
        fn line(&mut self, line: &[u8]) {
            self.0.push(line.to_vec());
        }
        fn checkpoint(&mut self) {}
        fn rollback(&mut self) {}
    }

    #[test]
    fn read_lines_matches_the_splitter_whatever_the_input() {
        let mut text = Vec::new();
        for i in 0..3000 {
            match i % 97 {
                0 => text.extend(std::iter::repeat_n(b'x', LINE_MAX + 10)),
                1 => text.extend(std::iter::repeat_n(b'y', LINE_MAX)),
                2 => text.extend(std::iter::repeat_n(b'z', 3 * BUF_SIZE / 2)),
                _ => text.extend_from_slice(format!("line {i}").as_bytes()),
            }
            text.push(b'\n');
        }
        text.extend_from_slice(b"partial");
        let mut expect = Vec::new();
        let mut cuts = 0;
        let mut s = Splitter::new(false);
        let fed = s.feed(&text, false, |p| {
            cuts += matches!(p, Piece::Cut(_)) as u64;
            expect.push(p.bytes().to_vec())
        });
        let mut got = Collect(Vec::new());
        let mut buf = Vec::new();
        let end = read_lines(&mut &text[..], 0, false, false, &mut buf, &mut got).unwrap();
        assert_eq!(got.0.len(), expect.len());
        assert!(got.0 == expect);
        assert_eq!(end.end, fed.consumed as u64);
        assert_eq!(end.cut, cuts);
        assert_eq!(cuts, 62);
        // Final input: the partial line counts.
        let mut got = Collect(Vec::new());
        let end = read_lines(&mut &text[..], 0, false, true, &mut buf, &mut got).unwrap();
        assert_eq!(got.0.last().unwrap(), b"partial");
        assert_eq!(end.end, text.len() as u64);
    }
}
