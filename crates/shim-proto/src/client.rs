//! A blocking client for a shim's control socket, for the engine.

use crate::{decode_response_line, encode_request, frame, Request, Response};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Errors talking to a shim.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("connect to shim socket {path}")]
    Connect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("talk to shim at {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("shim at {path} closed the connection without an answer")]
    NoAnswer { path: PathBuf },
    #[error("bad answer from shim at {path}: {msg}")]
    BadAnswer { path: PathBuf, msg: String },
    #[error("{msg}")]
    Shim { code: crate::ErrorCode, msg: String },
}

impl Error {
    pub fn kind(&self) -> berth_base::ErrorKind {
        match self {
            Error::Shim { code, .. } => code.kind(),
            _ => berth_base::ErrorKind::Internal,
        }
    }

    /// Whether the shim is gone (no socket, or nobody listening).
    pub fn is_gone(&self) -> bool {
        matches!(self, Error::Connect { source, .. }
            if matches!(source.kind(), io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused))
    }
}

/// Connect to a socket whose path may be longer than a sockaddr holds
/// (108 bytes; deep exec roots): through `/proc/self/fd/<dir>/<name>`.
pub fn connect(path: &Path) -> io::Result<UnixStream> {
    use std::os::fd::AsRawFd;
    if path.as_os_str().len() < 100 {
        return UnixStream::connect(path);
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return UnixStream::connect(path);
    };
    let d = std::fs::File::open(dir)?;
    let short = Path::new("/proc/self/fd")
        .join(d.as_raw_fd().to_string())
        .join(name);
    UnixStream::connect(short)
}

/// A connection to one shim. Each call uses a fresh connection, so a
/// `Client` is cheap and can be shared.
#[derive(Debug, Clone)]
pub struct Client {
    path: PathBuf,
    timeout: Option<Duration>,
}

impl Client {
    /// A client for the socket at `path` (nothing is opened yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            timeout: Some(Duration::from_secs(30)),
        }
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: io::Error) -> Error {
        Error::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn open(
        &self,
        req: &Request,
        timeout: Option<Duration>,
    ) -> Result<(UnixStream, Response, Vec<u8>), Error> {
        let mut s = connect(&self.path).map_err(|source| Error::Connect {
            path: self.path.clone(),
            source,
        })?;
        s.set_read_timeout(timeout).map_err(|e| self.io(e))?;
        s.write_all(&encode_request(req)).map_err(|e| self.io(e))?;
        let mut r = BufReader::new(s.try_clone().map_err(|e| self.io(e))?);
        let mut line = Vec::new();
        r.read_until(b'\n', &mut line).map_err(|e| self.io(e))?;
        if line.is_empty() {
            return Err(Error::NoAnswer {
                path: self.path.clone(),
            });
        }
        let resp = decode_response_line(&line).map_err(|msg| Error::BadAnswer {
            path: self.path.clone(),
            msg,
        })?;
        if let Some((code, msg)) = resp.error {
            return Err(Error::Shim { code, msg });
        }
        // Bytes of the stream that arrived with the answer.
        let rest = r.buffer().to_vec();
        s.set_read_timeout(None).map_err(|e| self.io(e))?;
        Ok((s, resp, rest))
    }

    /// Send a request and return the answer. `Wait` and `Stop` block until
    /// the container exits.
    pub fn call(&self, req: &Request) -> Result<Response, Error> {
        let timeout = match req {
            Request::Wait | Request::Stop { .. } => None,
            _ => self.timeout,
        };
        self.open(req, timeout).map(|(_, r, _)| r)
    }

    /// Send `Attach` or an attached `Exec` and return the stdio stream.
    pub fn stream(&self, req: &Request) -> Result<(Response, Stream), Error> {
        let (sock, resp, pending) = self.open(req, self.timeout)?;
        Ok((
            resp,
            Stream {
                sock,
                pending,
                pos: 0,
            },
        ))
    }
}

/// The stdio stream of an attach or exec: frames with Docker's header.
#[derive(Debug)]
pub struct Stream {
    sock: UnixStream,
    pending: Vec<u8>,
    pos: usize,
}

impl Stream {
    fn read_exact_buffered(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let mut filled = 0;
        let avail = self.pending.len() - self.pos;
        if avail > 0 {
            let n = avail.min(buf.len());
            buf[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
            self.pos += n;
            filled = n;
        }
        self.sock.read_exact(&mut buf[filled..])
    }

    /// The next frame (kind, payload), or `None` at the end of the stream.
    pub fn read_frame(&mut self) -> io::Result<Option<(u8, Vec<u8>)>> {
        let mut h = [0u8; 8];
        match self.read_exact_buffered(&mut h) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let (kind, len) = frame::parse_header(&h);
        let mut payload = vec![0u8; len];
        self.read_exact_buffered(&mut payload)?;
        Ok(Some((kind, payload)))
    }

    /// Send bytes to the process's stdin.
    pub fn write_stdin(&mut self, data: &[u8]) -> io::Result<()> {
        for chunk in data.chunks(frame::MAX_PAYLOAD) {
            self.sock
                .write_all(&frame::header(frame::STDIN, chunk.len()))?;
            self.sock.write_all(chunk)?;
        }
        Ok(())
    }

    /// Signal stdin EOF (half-close); output keeps flowing.
    pub fn close_stdin(&self) -> io::Result<()> {
        self.sock.shutdown(Shutdown::Write)
    }

    /// Read every remaining frame, collecting stdout and stderr.
    pub fn collect(mut self) -> io::Result<(Vec<u8>, Vec<u8>)> {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        while let Some((kind, data)) = self.read_frame()? {
            match kind {
                frame::STDERR => err.extend_from_slice(&data),
                _ => out.extend_from_slice(&data),
            }
        }
        Ok((out, err))
    }

    /// The socket and any bytes already read past the answer, for callers
    /// that drive the stream themselves (the daemon's hijacked connections).
    pub fn into_parts(self) -> (UnixStream, Vec<u8>) {
        let rest = self.pending[self.pos..].to_vec();
        (self.sock, rest)
    }
}
