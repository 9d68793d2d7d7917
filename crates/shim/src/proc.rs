//! The stdio of one process the shim supervises (the container's init or
//! an exec'd process): pipes, or a pty master when it has a terminal.

use crate::runtime::{ChildStdio, ConsoleSocket};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

/// How long to keep reading output after the process exited, for pipes
/// still held open by its orphaned children.
pub(crate) const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Pending stdin larger than this is dropped rather than buffered.
const MAX_STDIN_BUF: usize = 1 << 20;

pub(crate) struct Proc {
    pub pid: i32,
    pub tty: bool,
    /// Our end of the process's stdin (a pipe, or the pty master).
    pub stdin: Option<File>,
    pub stdin_buf: Vec<u8>,
    /// Close stdin once `stdin_buf` is written.
    pub stdin_close: bool,
    /// Our ends of stdout and stderr; with a tty, the master is `outs[0]`.
    pub outs: [Option<File>; 2],
    /// The pty master, kept for resizing.
    pub master: Option<OwnedFd>,
    /// Exit code (Docker's: 128 + signal when killed) and when it exited.
    pub exited: Option<(i32, Instant)>,
    /// Output is left unread in the kernel's pipe or pty buffers, which
    /// keep it (a chatty process blocks when they fill), until
    /// [`Proc::release_output`].
    pub held: bool,
    /// When held output was released: the drain grace does not start
    /// before, so what a process wrote before it exited is all read.
    released: Option<Instant>,
}

/// The ends a process is being created with.
pub(crate) struct PendingIo {
    pub tty: bool,
    pub stdin: Option<File>,
    pub outs: [Option<File>; 2],
    pub console: Option<ConsoleSocket>,
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)
}

fn nonblocking(fd: impl AsFd) -> io::Result<()> {
    rustix::io::ioctl_fionbio(fd, true).map_err(io::Error::from)
}

impl PendingIo {
    /// Pipes (or a console socket at `console_path` for a tty) for a new
    /// process, and the child ends to hand to the runtime.
    pub(crate) fn new(
        tty: bool,
        open_stdin: bool,
        console_path: Option<std::path::PathBuf>,
    ) -> io::Result<(Self, ChildStdio)> {
        if tty {
            let console = console_path.map(ConsoleSocket::bind).transpose()?;
            return Ok((
                Self {
                    tty,
                    stdin: None,
                    outs: [None, None],
                    console,
                },
                ChildStdio::default(),
            ));
        }
        let mut child = ChildStdio::default();
        let mut stdin = None;
        if open_stdin {
            let (r, w) = pipe()?;
            nonblocking(&w)?;
            child.stdin = Some(r);
            stdin = Some(File::from(w));
        }
        let (or, ow) = pipe()?;
        let (er, ew) = pipe()?;
        nonblocking(&or)?;
        nonblocking(&er)?;
        child.stdout = Some(ow);
        child.stderr = Some(ew);
        Ok((
            Self {
                tty,
                stdin,
                outs: [Some(File::from(or)), Some(File::from(er))],
                console: None,
            },
            child,
        ))
    }

    /// The process exists with `pid`: collect the pty master if any (from
    /// the runtime, or from the console socket).
    pub(crate) fn finish(
        self,
        pid: i32,
        master: Option<OwnedFd>,
        open_stdin: bool,
        size: Option<(u16, u16)>,
    ) -> Result<Proc, crate::Error> {
        let mut p = Proc {
            pid,
            tty: self.tty,
            stdin: self.stdin,
            stdin_buf: Vec::new(),
            stdin_close: false,
            outs: self.outs,
            master: None,
            exited: None,
            held: false,
            released: None,
        };
        let master = match (master, self.console) {
            (Some(m), _) => Some(m),
            (None, Some(console)) => Some(console.receive()?),
            (None, None) => None,
        };
        if let Some(master) = master {
            let io = |source| crate::Error::Io {
                what: "set up the pty master",
                source,
            };
            nonblocking(&master).map_err(io)?;
            if let Some((h, w)) = size {
                resize(&master, h, w).map_err(io)?;
            }
            p.outs[0] = Some(File::from(master.try_clone().map_err(io)?));
            if open_stdin {
                p.stdin = Some(File::from(master.try_clone().map_err(io)?));
            }
            p.master = Some(master);
        }
        Ok(p)
    }
}

/// Set the window size of a pty.
pub(crate) fn resize(master: impl AsFd, height: u16, width: u16) -> io::Result<()> {
    rustix::termios::tcsetwinsize(
        master,
        rustix::termios::Winsize {
            ws_row: height,
            ws_col: width,
            ws_xpixel: 0,
            ws_ypixel: 0,
        },
    )
    .map_err(io::Error::from)
}

impl Proc {
    /// Read the output from now on.
    pub(crate) fn release_output(&mut self, now: Instant) {
        self.held = false;
        self.released = Some(now);
    }

    /// When to stop reading the output of an exited process.
    pub(crate) fn drain_deadline(&self) -> Option<Instant> {
        let (_, at) = self.exited.filter(|_| !self.held)?;
        Some(self.released.map_or(at, |r| r.max(at)) + DRAIN_GRACE)
    }

    /// Exited, and its output has ended (or the grace time passed).
    pub(crate) fn done(&self, now: Instant) -> bool {
        self.drain_deadline()
            .is_some_and(|d| self.outs.iter().all(Option::is_none) || now >= d)
    }

    /// Queue bytes for stdin (dropped if nobody reads them for too long).
    pub(crate) fn queue_stdin(&mut self, data: &[u8]) {
        if self.stdin.is_some() && self.stdin_buf.len() + data.len() <= MAX_STDIN_BUF {
            self.stdin_buf.extend_from_slice(data);
        }
    }

    /// Write what stdin can take now.
    pub(crate) fn flush_stdin(&mut self) {
        let Some(f) = self.stdin.as_mut() else {
            self.stdin_buf.clear();
            return;
        };
        if write_some(f, &mut self.stdin_buf).is_err() {
            self.stdin = None;
            self.stdin_buf.clear();
            return;
        }
        if self.stdin_close && !self.tty && self.stdin_buf.is_empty() {
            self.stdin = None;
        }
    }

    /// Close stdin once pending input is written (a tty keeps its master).
    pub(crate) fn close_stdin(&mut self) {
        self.stdin_close = true;
        self.flush_stdin();
    }
}

/// Write as much of `buf` as `w` takes without blocking, removing what was
/// written. Errors other than would-block are returned.
pub(crate) fn write_some(w: &mut impl Write, buf: &mut Vec<u8>) -> io::Result<()> {
    while !buf.is_empty() {
        match w.write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
