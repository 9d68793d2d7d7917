//! Terminals: handing a pty master to a console socket (as runc does, with
//! SCM_RIGHTS), and putting the caller's terminal in raw mode while
//! [`crate::wait`] relays a pty to it.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};

use crate::error::{Context, Result};

/// Connects to the console socket at `path`.
pub fn connect_console(path: &Path) -> Result<OwnedFd> {
    let s =
        UnixStream::connect(path).ctx(|| format!("connect console socket {}", path.display()))?;
    Ok(s.into())
}

/// Sends `master` over the connected console socket, with the pty's name as
/// the message (what runc's receivers expect).
pub fn send_master(sock: &OwnedFd, master: RawFd, name: &str) -> Result<()> {
    let fds = [master];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(name.as_bytes())],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .ctx(|| "send the pty master to the console socket".into())
    .map(drop)
}

/// Puts the caller's terminal in raw mode while it lives, and back after.
pub struct RawMode {
    fd: OwnedFd,
    saved: Termios,
}

impl RawMode {
    /// Raw mode on stdin, if stdin is a terminal.
    pub fn stdin() -> Option<RawMode> {
        let fd = std::io::stdin().as_fd().try_clone_to_owned().ok()?;
        let saved = tcgetattr(&fd).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(&fd, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = tcsetattr(&self.fd, SetArg::TCSANOW, &self.saved);
    }
}
