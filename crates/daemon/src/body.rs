//! Bodies between hyper and the (blocking) backend: the response body,
//! whole or streamed through a channel, and adapters that let a backend on
//! a blocking thread read a request body (`BodyReader`) or write a
//! response stream (`StreamWriter`).

use crate::error::ApiError;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::{mpsc, oneshot};

/// The request body the router takes: hyper's `Incoming` in the server,
/// anything in tests.
pub type InBody = http_body_util::combinators::BoxBody<Bytes, BoxError>;
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How many chunks a stream may run ahead of the client.
const STREAM_DEPTH: usize = 16;

/// A response body: whole, or chunks from a channel (an `Err` aborts the
/// response so the client sees a cut transfer, not a complete one).
#[derive(Debug)]
pub enum Body {
    Full(Option<Bytes>),
    Stream {
        /// A chunk already taken from the channel (to learn the job started).
        head: Option<Bytes>,
        rx: mpsc::Receiver<io::Result<Bytes>>,
    },
}

impl Body {
    pub fn empty() -> Self {
        Self::Full(None)
    }

    pub fn full(b: impl Into<Bytes>) -> Self {
        let b = b.into();
        Self::Full((!b.is_empty()).then_some(b))
    }

    /// A streamed body and the sender that feeds it.
    pub fn channel() -> (mpsc::Sender<io::Result<Bytes>>, Self) {
        let (tx, rx) = mpsc::channel(STREAM_DEPTH);
        (tx, Self::Stream { head: None, rx })
    }
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream { head, rx } => match head.take() {
                Some(b) => Poll::Ready(Some(Ok(Frame::data(b)))),
                None => rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data))),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(None) => SizeHint::with_exact(0),
            Body::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Body::Stream { .. } => SizeHint::default(),
        }
    }
}

/// Reads a request body on a blocking thread; a task pumps the async body
/// into a channel.
pub struct BodyReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    cur: Bytes,
}

impl BodyReader {
    /// Starts pumping `body`; must be called inside the runtime.
    pub fn spawn(mut body: InBody) -> Self {
        let (tx, rx) = mpsc::channel(STREAM_DEPTH);
        tokio::spawn(async move {
            while let Some(frame) = body.frame().await {
                let item = match frame {
                    Ok(f) => match f.into_data() {
                        Ok(d) if d.is_empty() => continue,
                        Ok(d) => Ok(d),
                        Err(_) => continue,
                    },
                    Err(e) => Err(io::Error::other(format!("read request body: {e}"))),
                };
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    return;
                }
            }
        });
        Self {
            rx,
            cur: Bytes::new(),
        }
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur.split_to(n));
        Ok(n)
    }
}

/// Writes a response stream from a blocking thread. Each `write` becomes a
/// chunk, so wrap it in a `BufWriter` for bulk data and write whole lines
/// for progress messages. A gone client shows as `BrokenPipe`.
pub struct StreamWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    /// Told once, at the first byte written or when the job ends without
    /// writing (with its error, if any): the router then answers with
    /// either a stream or a plain error status.
    started: Option<oneshot::Sender<Option<ApiError>>>,
}

impl StreamWriter {
    pub fn new(
        tx: mpsc::Sender<io::Result<Bytes>>,
        started: oneshot::Sender<Option<ApiError>>,
    ) -> Self {
        Self {
            tx,
            started: Some(started),
        }
    }

    /// Whether anything has been written.
    pub fn has_started(&self) -> bool {
        self.started.is_none()
    }

    /// Ends the job: an error before the first byte goes back as the
    /// response's status; the caller handles a later one.
    pub fn finish(&mut self, result: Result<(), ApiError>) -> Result<(), ApiError> {
        match self.started.take() {
            Some(s) => {
                let _ = s.send(result.err());
                Ok(())
            }
            None => result,
        }
    }

    /// Ends the response as failed (the client sees a cut transfer).
    pub fn abort(&self, why: String) {
        let _ = self.tx.blocking_send(Err(io::Error::other(why)));
    }
}

impl Write for StreamWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if let Some(s) = self.started.take() {
            let _ = s.send(None);
        }
        self.tx
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
