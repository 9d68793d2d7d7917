//! The terminal side of attach, run and exec: raw mode (restored on
//! drop, so also on errors), the window size and its changes, signal
//! proxying, and the pump between stdio and a hijacked connection (raw
//! bytes with a tty, docker's 8-byte multiplexed frames without).

use crate::{App, CliError};
use berth_client::Upgraded;
use hyper::Method;
use rustix::termios::{self, OptionalActions, Termios};
use std::io::{IsTerminal, Read, Write};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// stdin in raw mode until dropped.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Puts stdin in raw mode when it is a terminal (`None` otherwise).
    pub fn enable() -> Result<Option<Self>, CliError> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Ok(None);
        }
        let saved = termios::tcgetattr(&stdin)
            .map_err(|e| CliError::new(format!("tcgetattr stdin: {e}")))?;
        let mut raw = saved.clone();
        raw.make_raw();
        termios::tcsetattr(&stdin, OptionalActions::Now, &raw)
            .map_err(|e| CliError::new(format!("tcsetattr stdin: {e}")))?;
        Ok(Some(Self { saved }))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // Nothing left to do if the terminal went away.
        let _ = termios::tcsetattr(std::io::stdin(), OptionalActions::Now, &self.saved);
    }
}

/// The terminal's size as (rows, columns), from stdout (else stdin).
pub fn term_size() -> Option<(u16, u16)> {
    let ws = termios::tcgetwinsize(std::io::stdout())
        .or_else(|_| termios::tcgetwinsize(std::io::stdin()))
        .ok()?;
    (ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Sends the terminal's size to `path` (`/containers/{id}/resize` or
/// `/exec/{id}/resize`).
pub async fn resize(app: &App, path: &str) -> Result<(), CliError> {
    let Some((h, w)) = term_size() else {
        return Ok(());
    };
    app.client
        .request(
            Method::POST,
            path,
            &[("h", h.to_string()), ("w", w.to_string())],
            berth_client::ReqBody::Empty,
            &[],
        )
        .await?;
    Ok(())
}

/// Resizes now and on every SIGWINCH until the task is dropped. The first
/// resize is retried a few times, as docker's, because a container that
/// is just starting may not have its tty yet.
pub fn monitor_size(app: &App, path: String) -> tokio::task::JoinHandle<()> {
    let client = app.client.clone();
    tokio::spawn(async move {
        let app = App { client };
        for _ in 0..10 {
            if resize(&app, &path).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let Ok(mut winch) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        else {
            return;
        };
        while winch.recv().await.is_some() {
            let _ = resize(&app, &path).await;
        }
    })
}

/// Signals `--sig-proxy` forwards: all but SIGCHLD, SIGPIPE, SIGURG,
/// SIGWINCH (as docker's) and those no process may catch.
const PROXIED: &[(i32, &str)] = &[
    (1, "SIGHUP"),
    (2, "SIGINT"),
    (3, "SIGQUIT"),
    (6, "SIGABRT"),
    (10, "SIGUSR1"),
    (12, "SIGUSR2"),
    (14, "SIGALRM"),
    (15, "SIGTERM"),
];

/// Forwards the signals this process gets to the container as `POST
/// /containers/{id}/kill?signal=...` until the task is dropped.
pub fn proxy_signals(app: &App, id: String) -> tokio::task::JoinHandle<()> {
    let client = app.client.clone();
    tokio::spawn(async move {
        let (tx, mut rx) = mpsc::unbounded_channel::<&'static str>();
        for &(n, name) in PROXIED {
            let Ok(mut s) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(n))
            else {
                continue;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    if tx.send(name).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        while let Some(sig) = rx.recv().await {
            let path = format!("/containers/{id}/kill");
            let r = client
                .request(
                    Method::POST,
                    &path,
                    &[("signal", sig.to_owned())],
                    berth_client::ReqBody::Empty,
                    &[],
                )
                .await;
            if let Err(e) = r {
                eprintln!("Error sending signal: {e}");
            }
        }
    })
}

/// Docker's `--detach-keys` as bytes (`ctrl-p,ctrl-q` by default).
pub fn detach_keys(spec: &str) -> Result<Vec<u8>, CliError> {
    berth_api_types::container_cfg::parse_detach_keys(spec)
        .ok_or_else(|| CliError::usage(format!("Invalid detach keys ({spec}) provided")))
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The output stream closed (the process exited or the daemon ended
    /// the session).
    Closed,
    /// The user typed the detach keys.
    Detached,
}

/// stdin read on its own thread (a blocking read cannot be cancelled, and
/// must not hold up the end of the command). `None` is EOF.
fn stdin_chunks() -> mpsc::Receiver<Option<Vec<u8>>> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 32 * 1024];
        let mut stdin = std::io::stdin();
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => {
                    let _ = tx.blocking_send(None);
                    return;
                }
                Ok(n) => {
                    if tx.blocking_send(Some(buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => {
                    let _ = tx.blocking_send(None);
                    return;
                }
            }
        }
    });
    rx
}

/// Splits docker's multiplexed stream: complete frames in `buf` go to
/// stdout (types 0 and 1) or stderr (2); a system error (3) is returned.
/// What is left is an incomplete frame. False when the reader of stdout
/// or stderr went away (a closed pipe: the output is dropped).
pub fn demux(
    buf: &mut Vec<u8>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<bool, CliError> {
    let mut off = 0;
    let mut open = true;
    while buf.len() >= off + 8 {
        let kind = buf[off];
        let len = u32::from_be_bytes([buf[off + 4], buf[off + 5], buf[off + 6], buf[off + 7]]);
        let len = len as usize;
        if buf.len() < off + 8 + len {
            break;
        }
        let payload = &buf[off + 8..off + 8 + len];
        let w = match kind {
            0 | 1 => out.write_all(payload).and_then(|()| out.flush()),
            2 => err.write_all(payload).and_then(|()| err.flush()),
            3 => {
                return Err(CliError::new(
                    String::from_utf8_lossy(payload).trim_end().to_owned(),
                ))
            }
            k => return Err(CliError::new(format!("Unrecognized input header: {k}"))),
        };
        if let Err(e) = w {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(CliError::new(format!("write output: {e}")));
            }
            open = false;
        }
        off += 8 + len;
    }
    buf.drain(..off);
    Ok(open)
}

/// Output of a stream going to stdout and stderr: raw bytes (tty) or
/// docker's frames, which may arrive split across reads.
pub struct Output {
    raw: bool,
    buf: Vec<u8>,
    closed: bool,
}

impl Output {
    pub fn new(raw: bool) -> Self {
        Self {
            raw,
            buf: Vec::new(),
            closed: false,
        }
    }

    /// Writes what `bytes` complete.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), CliError> {
        if self.raw {
            let mut out = std::io::stdout().lock();
            return match out.write_all(bytes).and_then(|()| out.flush()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    Err(CliError::new(format!("write output: {e}")))
                }
                Err(_) => {
                    self.closed = true;
                    Ok(())
                }
                Ok(()) => Ok(()),
            };
        }
        self.buf.extend_from_slice(bytes);
        let open = demux(
            &mut self.buf,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        )?;
        self.closed |= !open;
        Ok(())
    }

    /// Whether the reader went away (`| head`): a follow has no one to
    /// write to and ends, as docker's CLI does (there by SIGPIPE).
    pub fn closed(&self) -> bool {
        self.closed
    }
}

/// Copies a hijacked connection's output to stdout and stderr,
/// unframing it unless `raw`.
pub async fn copy_output<R: tokio::io::AsyncRead + Unpin>(
    mut r: R,
    raw: bool,
) -> Result<(), CliError> {
    let mut chunk = vec![0u8; 32 * 1024];
    let mut out = Output::new(raw);
    loop {
        let n = r
            .read(&mut chunk)
            .await
            .map_err(|e| CliError::new(format!("read stream: {e}")))?;
        if n == 0 {
            return Ok(());
        }
        out.write(&chunk[..n])?;
    }
}

/// What to send and how to read a hijacked connection.
pub struct Session {
    pub tty: bool,
    /// Copy stdin to the connection.
    pub stdin: bool,
    /// Detach keys to watch for on stdin (only with a tty, as docker's).
    pub detach_keys: Vec<u8>,
}

/// Pumps stdin to `io` and `io`'s output to stdout/stderr until the
/// output ends or the user detaches. EOF on stdin half-closes the
/// connection (the container's stdin closes) and the output keeps
/// flowing.
pub async fn pump(io: Upgraded, s: Session) -> Result<Ended, CliError> {
    let (r, mut w) = tokio::io::split(io);
    let output = copy_output(r, s.tty);
    tokio::pin!(output);
    if !s.stdin {
        output.await?;
        return Ok(Ended::Closed);
    }
    let mut input = stdin_chunks();
    let keys = if s.tty { s.detach_keys } else { Vec::new() };
    let mut matched = 0usize;
    let mut stdin_open = true;
    loop {
        tokio::select! {
            r = &mut output => {
                r?;
                return Ok(Ended::Closed);
            }
            chunk = input.recv(), if stdin_open => {
                let Some(Some(bytes)) = chunk else {
                    stdin_open = false;
                    let _ = w.shutdown().await;
                    continue;
                };
                // The daemon watches for the keys too; they go through so
                // that it ends the session on its side, and here the
                // command ends at once.
                let mut detached = false;
                for &b in &bytes {
                    if !keys.is_empty() && b == keys[matched] {
                        matched += 1;
                        if matched == keys.len() {
                            detached = true;
                            break;
                        }
                    } else {
                        matched = usize::from(!keys.is_empty() && b == keys[0]);
                    }
                }
                if w.write_all(&bytes).await.is_err() {
                    stdin_open = false;
                }
                let _ = w.flush().await;
                if detached {
                    return Ok(Ended::Detached);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demux_splits_frames_and_keeps_the_rest() {
        let mut buf = vec![1, 0, 0, 0, 0, 0, 0, 3];
        buf.extend_from_slice(b"out");
        buf.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 3]);
        buf.extend_from_slice(b"err");
        buf.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 9, b'x']);
        let (mut o, mut e) = (Vec::new(), Vec::new());
        demux(&mut buf, &mut o, &mut e).unwrap();
        assert_eq!(o, b"out");
        assert_eq!(e, b"err");
        assert_eq!(buf, vec![1, 0, 0, 0, 0, 0, 0, 9, b'x']);
        let mut buf = vec![3, 0, 0, 0, 0, 0, 0, 4];
        buf.extend_from_slice(b"boom");
        assert_eq!(demux(&mut buf, &mut o, &mut e).unwrap_err().message, "boom");
    }

    /// A pipe whose reader has gone.
    struct Gone;

    impl Write for Gone {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn demux_says_when_the_reader_went_away() {
        let mut buf = vec![1, 0, 0, 0, 0, 0, 0, 1, b'x'];
        assert!(!demux(&mut buf, &mut Gone, &mut Vec::new()).unwrap());
        assert!(buf.is_empty());
        let mut buf = vec![2, 0, 0, 0, 0, 0, 0, 1, b'x'];
        assert!(demux(&mut buf, &mut Vec::new(), &mut Vec::new()).unwrap());
    }
}
