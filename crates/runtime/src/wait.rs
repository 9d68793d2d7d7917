//! Waiting in the foreground for a process this runtime started (`run`,
//! `exec` without `--detach`): signals sent to the runtime are forwarded
//! to it, a pty (if any) is relayed to the runtime's own terminal, and the
//! exit status becomes the runtime's exit code.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::error::{Context, Result};
use crate::tty::RawMode;

/// The signals forwarded to the child (everything a terminal or a
/// supervisor sends, plus SIGCHLD to notice its exit).
fn forwarded() -> SigSet {
    let mut s = SigSet::empty();
    for sig in [
        Signal::SIGCHLD,
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
        Signal::SIGCONT,
    ] {
        s.add(sig);
    }
    s
}

/// Blocks the forwarded signals so that none is lost before [`wait`]
/// reads them; call before starting the process.
pub fn block_signals() -> Result<()> {
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&forwarded()), None)
        .ctx(|| "sigprocmask".into())
}

/// The exit code of a wait status: the exit status, or 128 + signal.
pub fn exit_code(st: WaitStatus) -> Option<i32> {
    match st {
        WaitStatus::Exited(_, c) => Some(c),
        WaitStatus::Signaled(_, s, _) => Some(128 + s as i32),
        _ => None,
    }
}

/// Waits for child `pid`, forwarding signals and relaying `master` (with
/// the runtime's terminal in raw mode); returns its exit code.
pub fn wait(pid: i32, master: Option<OwnedFd>) -> Result<i32> {
    block_signals()?;
    let sfd =
        SignalFd::with_flags(&forwarded(), SfdFlags::SFD_CLOEXEC).ctx(|| "signalfd".into())?;
    let child = Pid::from_raw(pid);
    let _raw = master.as_ref().and_then(|_| RawMode::stdin());
    if let Some(m) = &master {
        if let Ok((rows, cols)) = berth_sys::term::size(std::io::stdin().as_fd()) {
            let _ = berth_sys::term::set_size(m.as_fd(), rows, cols);
        }
    }
    let stdin = std::io::stdin();
    let mut stdin_open = master.is_some();
    let mut master_open = master.is_some();
    let mut buf = [0u8; 8192];
    loop {
        if let Ok(st) = waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            if let Some(code) = exit_code(st) {
                if let Some(m) = master.as_ref().filter(|_| master_open) {
                    drain(m, &mut buf);
                }
                return Ok(code);
            }
        }
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let Some(m) = master.as_ref().filter(|_| master_open) {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
            if stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => {
                r.ctx(|| "poll".into())?;
            }
        }
        let ev = |i: usize| {
            fds.get(i)
                .and_then(|f| f.revents())
                .unwrap_or(PollFlags::empty())
        };
        let (s, m, i) = (ev(0), ev(1), ev(2));
        drop(fds);
        if !s.is_empty() {
            if let Ok(Some(info)) = sfd.read_signal() {
                let sig = Signal::try_from(info.ssi_signo as i32).ok();
                match sig {
                    Some(Signal::SIGCHLD) | None => {}
                    Some(Signal::SIGWINCH) => {
                        if let Some(m) = &master {
                            if let Ok((rows, cols)) = berth_sys::term::size(stdin.as_fd()) {
                                let _ = berth_sys::term::set_size(m.as_fd(), rows, cols);
                            }
                        }
                    }
                    Some(sig) => {
                        let _ = kill(child, sig);
                    }
                }
            }
        }
        if let Some(mfd) = &master {
            if !m.is_empty() {
                match nix::unistd::read(mfd.as_raw_fd(), &mut buf) {
                    Ok(n) if n > 0 => write_all(std::io::stdout().as_fd(), &buf[..n]),
                    _ => master_open = false,
                }
            }
            if !i.is_empty() {
                match nix::unistd::read(stdin.as_raw_fd(), &mut buf) {
                    Ok(n) if n > 0 => write_all(mfd.as_fd(), &buf[..n]),
                    _ => stdin_open = false,
                }
            }
        }
    }
}

fn drain(m: &OwnedFd, buf: &mut [u8]) {
    loop {
        let mut fds = [PollFd::new(m.as_fd(), PollFlags::POLLIN)];
        if !matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0) {
            return;
        }
        match nix::unistd::read(m.as_raw_fd(), buf) {
            Ok(n) if n > 0 => write_all(std::io::stdout().as_fd(), &buf[..n]),
            _ => return,
        }
    }
}

fn write_all(fd: std::os::fd::BorrowedFd<'_>, mut data: &[u8]) {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) if n > 0 => data = &data[n..],
            Err(nix::errno::Errno::EINTR) => {}
            _ => return,
        }
    }
}
