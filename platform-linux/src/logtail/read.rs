//! Reading a log's files: plain ones from an offset up to a limit through `read_at`,
//! compressed ones through a gzip decoder, split into bounded lines for a
//! [`LineSink`] in chunks of [`BUF_SIZE`] (no whole-file buffer, no mmap).

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;

use flate2::read::MultiGzDecoder;
use homeostat_core::feed::LineSink;
use homeostat_core::logscan::position::head;
use homeostat_core::logscan::{Piece, Splitter, HEAD_MAX, LINE_MAX};

/// The read buffer: reads are this size at most; memory does not grow with the file.
pub const BUF_SIZE: usize = 1 << 20;

/// Reads a file from an offset through `read_at`, up to a limit.
pub(super) struct At<'a> {
    pub(super) file: &'a File,
    pub(super) pos: u64,
    pub(super) limit: u64,
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
pub(super) fn read_full(src: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
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

/// Reads `buf.len()` bytes of `file` from `pos`, not past `limit`; returns the bytes read
/// (fewer only at the end of the file or at `limit`).
pub(super) fn read_at(file: &File, pos: u64, limit: u64, buf: &mut [u8]) -> io::Result<usize> {
    read_full(&mut At { file, pos, limit }, buf)
}

/// A decompressing reader over a whole `.gz` file, positioned at decompressed `from`.
pub(super) fn gz_at(file: &File, from: u64) -> io::Result<MultiGzDecoder<BufReader<At<'_>>>> {
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

/// The first line of `file` as it is now (see [`head`]).
pub(super) fn head_bytes(file: &File) -> io::Result<Vec<u8>> {
    let mut b = vec![0u8; HEAD_MAX];
    let n = read_at(file, 0, u64::MAX, &mut b)?;
    b.truncate(n);
    let len = head(&b).0.len();
    b.truncate(len);
    Ok(b)
}

/// Counts the bytes of the regions and lines given (to say where a read failed).
pub(super) struct CountingSink<'a> {
    pub(super) inner: &'a mut dyn LineSink,
    pub(super) bytes: u64,
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

#[cfg(test)]
mod tests {
    use super::*;

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
