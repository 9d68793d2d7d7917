//! Loading seccomp BPF programs into the kernel.
//!
//! The runtime compiles the OCI seccomp section to classic BPF in the parent
//! and loads it here, in the child, right before exec. Nothing on the success
//! path allocates, so [`load`] is safe to call between fork and exec.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// One classic BPF instruction, laid out as the kernel's `struct sock_filter`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SockFilter {
    /// Opcode: class, size, mode and operation bits (`BPF_LD | BPF_W | BPF_ABS` …).
    pub code: u16,
    /// Jump offset when the condition holds.
    pub jt: u8,
    /// Jump offset when the condition fails.
    pub jf: u8,
    /// The generic field: a constant, an offset or a return value.
    pub k: u32,
}

/// The kernel's `struct sock_fprog`: a length and a pointer to the program.
#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const SockFilter,
}

/// Synchronise all threads of the process to the new filter.
pub const FILTER_FLAG_TSYNC: u32 = 1 << 0;
/// Log every action except `SECCOMP_RET_ALLOW`.
pub const FILTER_FLAG_LOG: u32 = 1 << 1;
/// Do not enable the speculative store bypass mitigation.
pub const FILTER_FLAG_SPEC_ALLOW: u32 = 1 << 2;
/// Return a user-notification listener fd (see [`load_with_listener`]).
pub const FILTER_FLAG_NEW_LISTENER: u32 = 1 << 3;
/// With TSYNC, report a thread that cannot sync as ESRCH instead of its tid.
pub const FILTER_FLAG_TSYNC_ESRCH: u32 = 1 << 4;
/// Wait killably once a notification has been received by the listener.
pub const FILTER_FLAG_WAIT_KILLABLE_RECV: u32 = 1 << 5;

/// The longest program the kernel accepts (`BPF_MAXINSNS`).
pub const MAX_INSNS: usize = 4096;

/// A failed call, named: "seccomp(SECCOMP_SET_MODE_FILTER): Invalid argument".
/// The message is a `&'static str`, so building it does not allocate.
#[derive(Debug)]
struct CallError {
    call: &'static str,
    errno: io::Error,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.call, self.errno)
    }
}

impl std::error::Error for CallError {}

/// Turns the current `errno` into an `io::Error` that names `call` and keeps
/// the errno's kind and raw code reachable through `raw_os_error` of the inner
/// error. Only called on failure paths.
fn last_error(call: &'static str) -> io::Error {
    let errno = io::Error::last_os_error();
    io::Error::new(errno.kind(), CallError { call, errno })
}

/// The raw errno behind an error returned by this module, if any.
pub fn raw_os_error(err: &io::Error) -> Option<i32> {
    err.raw_os_error().or_else(|| {
        err.get_ref()
            .and_then(|e| e.downcast_ref::<CallError>())
            .and_then(|c| c.errno.raw_os_error())
    })
}

fn fprog(filter: &[SockFilter]) -> io::Result<SockFprog> {
    if filter.is_empty() || filter.len() > MAX_INSNS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "seccomp filter must hold 1 to 4096 instructions",
        ));
    }
    Ok(SockFprog {
        // Checked above: at most 4096, which fits in u16.
        len: filter.len() as u16,
        filter: filter.as_ptr(),
    })
}

/// Calls seccomp(SECCOMP_SET_MODE_FILTER, flags, prog) and returns its result.
fn set_mode_filter(prog: &SockFprog, flags: u32) -> libc::c_long {
    // SAFETY: `prog` points to a valid sock_fprog whose `filter` pointer and
    // `len` describe a live slice borrowed for the duration of the call; the
    // kernel copies the program and keeps no pointer to it.
    unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
            libc::c_ulong::from(flags),
            prog as *const SockFprog,
        )
    }
}

/// Installs `filter` for the calling thread (all threads with
/// [`FILTER_FLAG_TSYNC`]). The caller must have set no_new_privs or hold
/// CAP_SYS_ADMIN. Falls back to `prctl(PR_SET_SECCOMP)` on kernels without
/// seccomp(2) when no flags are asked for.
pub fn load(filter: &[SockFilter], flags: u32) -> io::Result<()> {
    if flags & FILTER_FLAG_NEW_LISTENER != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "seccomp: use load_with_listener for SECCOMP_FILTER_FLAG_NEW_LISTENER",
        ));
    }
    let prog = fprog(filter)?;
    let ret = set_mode_filter(&prog, flags);
    if ret == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::ENOSYS) || flags != 0 {
        return Err(io::Error::new(
            err.kind(),
            CallError {
                call: "seccomp(SECCOMP_SET_MODE_FILTER)",
                errno: err,
            },
        ));
    }
    // SAFETY: PR_SET_SECCOMP with SECCOMP_MODE_FILTER reads the sock_fprog
    // at `prog`, which stays valid for the duration of the call.
    let ret = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            &prog as *const SockFprog,
        )
    };
    if ret != 0 {
        return Err(last_error("prctl(PR_SET_SECCOMP)"));
    }
    Ok(())
}

/// Installs `filter` with `SECCOMP_FILTER_FLAG_NEW_LISTENER` (plus `flags`)
/// and returns the listener fd on which a supervisor receives the
/// notifications of `SECCOMP_RET_USER_NOTIF` rules (SCMP_ACT_NOTIFY).
pub fn load_with_listener(filter: &[SockFilter], flags: u32) -> io::Result<OwnedFd> {
    let prog = fprog(filter)?;
    let ret = set_mode_filter(&prog, flags | FILTER_FLAG_NEW_LISTENER);
    if ret < 0 {
        return Err(last_error(
            "seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER)",
        ));
    }
    let fd = libc::c_int::try_from(ret).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "seccomp returned an out-of-range listener fd",
        )
    })?;
    // SAFETY: on success with NEW_LISTENER the kernel returns a fresh fd that
    // nothing else owns; we take sole ownership of it here.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// One syscall a filter handed to user space (`struct seccomp_notif`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notification {
    /// The cookie to answer with.
    pub id: u64,
    /// The calling thread, in the listener's pid namespace (0 if not visible).
    pub pid: u32,
    /// The syscall number.
    pub nr: i32,
    /// The AUDIT_ARCH_* of the call.
    pub arch: u32,
    /// The raw arguments.
    pub args: [u64; 6],
}

/// Let the notified syscall run as if the filter had allowed it
/// (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`); `val` and `error` must be 0.
pub const USER_NOTIF_FLAG_CONTINUE: u32 = 1;

/// Waits for the next notification on `listener` (SECCOMP_IOCTL_NOTIF_RECV).
pub fn notif_recv(listener: BorrowedFd<'_>) -> io::Result<Notification> {
    // SAFETY: seccomp_notif is plain data; all-zero is a valid value and the
    // kernel requires the buffer zeroed.
    let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: `n` is a writable seccomp_notif that outlives the call, which is
    // the argument SECCOMP_IOCTL_NOTIF_RECV expects.
    let ret = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_RECV,
            &mut n as *mut libc::seccomp_notif,
        )
    };
    if ret < 0 {
        return Err(last_error("ioctl(SECCOMP_IOCTL_NOTIF_RECV)"));
    }
    Ok(Notification {
        id: n.id,
        pid: n.pid,
        nr: n.data.nr,
        arch: n.data.arch,
        args: n.data.args,
    })
}

/// Answers notification `id`: the syscall returns `val`, or fails with
/// `error` (a positive errno) when it is not 0 (SECCOMP_IOCTL_NOTIF_SEND).
pub fn notif_respond(
    listener: BorrowedFd<'_>,
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
) -> io::Result<()> {
    let mut resp = libc::seccomp_notif_resp {
        id,
        val,
        // The kernel wants the negated errno.
        error: -error,
        flags,
    };
    // SAFETY: `resp` is a valid seccomp_notif_resp that outlives the call,
    // the argument SECCOMP_IOCTL_NOTIF_SEND expects.
    let ret = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND,
            &mut resp as *mut libc::seccomp_notif_resp,
        )
    };
    if ret < 0 {
        return Err(last_error("ioctl(SECCOMP_IOCTL_NOTIF_SEND)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sock_filter_matches_the_kernel_layout() {
        assert_eq!(std::mem::size_of::<SockFilter>(), 8);
        assert_eq!(std::mem::align_of::<SockFilter>(), 4);
    }

    #[test]
    fn empty_and_oversized_programs_are_refused_before_the_kernel() {
        let err = load(&[], 0).expect_err("empty program");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let big = vec![
            SockFilter {
                code: 0x06,
                jt: 0,
                jf: 0,
                k: 0x7fff_0000
            };
            MAX_INSNS + 1
        ];
        assert!(load(&big, 0).is_err());
    }

    #[test]
    fn listener_flag_must_go_through_load_with_listener() {
        let ret_allow = [SockFilter {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: 0x7fff_0000,
        }];
        let err = load(&ret_allow, FILTER_FLAG_NEW_LISTENER).expect_err("listener flag");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
