//! Terminal ioctls that `nix` does not wrap: the controlling terminal and
//! the window size.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::check;

/// Makes `fd` (a terminal) the controlling terminal of the calling session
/// leader (`TIOCSCTTY`).
pub fn set_controlling(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal).
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) };
    check(
        ret.into(),
        "ioctl TIOCSCTTY",
        &format_args!("fd {}", fd.as_raw_fd()),
    )
    .map(drop)
}

/// Sets the window size of terminal `fd` (`TIOCSWINSZ`).
pub fn set_size(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize struct, which lives for the call.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    check(
        ret.into(),
        "ioctl TIOCSWINSZ",
        &format_args!("fd {}", fd.as_raw_fd()),
    )
    .map(drop)
}

/// The window size of terminal `fd` as (rows, cols) (`TIOCGWINSZ`).
pub fn size(fd: BorrowedFd<'_>) -> io::Result<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize struct into valid memory.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    check(
        ret.into(),
        "ioctl TIOCGWINSZ",
        &format_args!("fd {}", fd.as_raw_fd()),
    )?;
    Ok((ws.ws_row, ws.ws_col))
}
