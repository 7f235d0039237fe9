//! Response bodies: a short text, or a file streamed in chunks from an open descriptor
//! (never read whole into memory), exactly the length measured when it was opened.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use hyper::body::{Bytes, Frame, SizeHint};
use tokio::io::{AsyncRead, ReadBuf};

/// Bytes read from a file per frame.
const CHUNK: usize = 64 * 1024;

pub enum Body {
    Text(Option<Bytes>),
    File(FileBody),
}

/// A file's first `left` bytes, read from its current offset.
pub struct FileBody {
    file: tokio::fs::File,
    left: u64,
    buf: Box<[u8]>,
}

impl Body {
    pub fn text(text: impl Into<Bytes>) -> Body {
        Body::Text(Some(text.into()))
    }

    /// `len` bytes of `file` from where it stands. A file that grows meanwhile (the
    /// journal) is cut at `len`; one that shrinks ends the connection early, which the
    /// client sees as a short body.
    pub fn file(file: tokio::fs::File, len: u64) -> Body {
        Body::File(FileBody {
            file,
            left: len,
            buf: vec![0u8; CHUNK].into_boxed_slice(),
        })
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            Body::Text(t) => Poll::Ready(t.take().map(|b| Ok(Frame::data(b)))),
            Body::File(f) => {
                if f.left == 0 {
                    return Poll::Ready(None);
                }
                let want = usize::try_from(f.left).map_or(CHUNK, |l| l.min(CHUNK));
                let mut rb = ReadBuf::new(&mut f.buf[..want]);
                ready!(Pin::new(&mut f.file).poll_read(cx, &mut rb))?;
                let got = rb.filled();
                if got.is_empty() {
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file shrank while it was being sent",
                    ))));
                }
                f.left -= got.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(Bytes::copy_from_slice(got)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Text(t) => t.is_none(),
            Body::File(f) => f.left == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Text(t) => SizeHint::with_exact(t.as_ref().map_or(0, |b| b.len() as u64)),
            Body::File(f) => SizeHint::with_exact(f.left),
        }
    }
}
