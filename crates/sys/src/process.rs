//! Process creation and process-wide calls that `nix` does not wrap: a
//! `clone` that behaves like `fork` but can create namespaces, `pidfd_open`,
//! `close_range`, `setdomainname` and `_exit`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use crate::check;

/// What [`clone_fork`] returned in the calling process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    /// In the parent, with the child's pid (as seen from the parent).
    Parent(i32),
    /// In the child.
    Child,
}

/// Whether the calling process has exactly one thread. `/proc/self/task`
/// has a link count of two plus the number of threads, so one `stat` tells.
pub fn is_single_threaded() -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata("/proc/self/task")?.nlink() == 3)
}

/// `clone(flags | SIGCHLD)` without a new stack: like `fork(2)`, the child
/// continues on a copy-on-write copy of the caller's stack, but it can be
/// created directly in new namespaces (`CLONE_NEWPID` makes it PID 1 of a new
/// namespace with no intermediate process). `flags` must only hold
/// `CLONE_NEW*` bits.
///
/// Refuses to run in a multi-threaded process: after a fork only the calling
/// thread exists, and a lock held by another thread (for example inside the
/// allocator) would never be released in the child. In a single-threaded
/// process nothing is held by anyone else, so the child may allocate.
pub fn clone_fork(flags: libc::c_int) -> io::Result<Forked> {
    clone_fork_into(flags, None)
}

/// The arguments of `clone3(2)` (`struct clone_args`, version 2: 88 bytes).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `CLONE_INTO_CGROUP` (Linux 5.7): the child starts in the cgroup v2
/// directory `clone_args.cgroup` instead of its parent's.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Like [`clone_fork`], but with `cgroup` (a cgroup v2 directory) the child
/// is born in that cgroup (`clone3` with `CLONE_INTO_CGROUP`): no later write
/// of its pid into `cgroup.procs`, which waits for an RCU grace period.
/// Fails (with no child) where the kernel lacks `clone3` or refuses the
/// cgroup; the caller may then clone without it.
pub fn clone_fork_into(flags: libc::c_int, cgroup: Option<BorrowedFd<'_>>) -> io::Result<Forked> {
    const NS_FLAGS: libc::c_int = libc::CLONE_NEWNS
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUSER
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWNET
        | libc::CLONE_NEWCGROUP;
    if flags & !NS_FLAGS != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("clone flags {flags:#x}: only namespace flags are allowed"),
        ));
    }
    if !is_single_threaded()? {
        return Err(io::Error::other(
            "clone: the calling process has more than one thread",
        ));
    }
    let ret = match cgroup {
        None => {
            // SAFETY: a raw clone without CLONE_VM and with a null stack
            // pointer gives the child its own copy-on-write address space and
            // the same stack position, exactly as fork(2) does; the flags were
            // checked above to hold only namespace bits (no CLONE_VM/
            // CLONE_THREAD/CLONE_SETTLS, which would share memory or need a
            // new stack). The process was checked to be single-threaded, so no
            // lock is held by a thread that the child would not have. The
            // pointer arguments are null, which clone accepts.
            unsafe {
                libc::syscall(
                    libc::SYS_clone,
                    (flags | libc::SIGCHLD) as libc::c_ulong,
                    0usize,
                    0usize,
                    0usize,
                    0usize,
                )
            }
        }
        Some(dir) => {
            let args = CloneArgs {
                flags: flags as u32 as u64 | CLONE_INTO_CGROUP,
                exit_signal: libc::SIGCHLD as u64,
                cgroup: dir.as_raw_fd() as u64,
                ..CloneArgs::default()
            };
            // SAFETY: as for clone above (fork-like: no CLONE_VM, stack 0 and
            // stack_size 0, which clone3 accepts as "keep the caller's stack
            // position"), in a single-threaded process. `args` is a valid,
            // initialised clone_args of the size passed, alive for the call;
            // its only pointer-like fields (pidfd, child_tid, parent_tid,
            // set_tid) are 0, so the kernel writes nowhere, and `cgroup` is a
            // descriptor borrowed for the duration of the call.
            unsafe {
                libc::syscall(
                    libc::SYS_clone3,
                    &args as *const CloneArgs,
                    std::mem::size_of::<CloneArgs>(),
                )
            }
        }
    };
    let pid = check(ret, "clone", &format_args!("flags {flags:#x}"))?;
    Ok(if pid == 0 {
        Forked::Child
    } else {
        Forked::Parent(pid as i32)
    })
}

/// `pidfd_open(pid)`: a descriptor that becomes readable when the process
/// exits, immune to pid reuse.
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and a flags word, no pointers.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = check(ret, "pidfd_open", &format_args!("pid {pid}"))?;
    // SAFETY: the kernel just returned this new descriptor, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Takes ownership of a descriptor that arrived in an `SCM_RIGHTS` message
/// (nix hands those out as raw numbers).
pub fn own_received_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: the kernel installed this descriptor in our table when the
    // message was received; nothing else in the process knows its number,
    // so this becomes its only owner.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Marks every descriptor from `first` up close-on-exec, so that only the
/// ones below it survive into the container's process.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range takes two integers and a flags word, no pointers;
    // with CLOSE_RANGE_CLOEXEC it only sets a flag and closes nothing.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    check(ret, "close_range", &format_args!("from {first}")).map(drop)
}

/// `setdomainname(2)`, which `nix` does not wrap.
pub fn setdomainname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe `name`'s bytes, which live for
    // the duration of the call; the kernel copies them.
    let ret = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    check(ret as libc::c_long, "setdomainname", &name).map(drop)
}

/// Ends the process at once, without running exit handlers or flushing
/// buffers that a forked child shares with its parent.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and takes no pointers.
    unsafe { libc::_exit(code) }
}

/// Resets every signal's disposition to the default and unblocks all
/// signals, so that the container's process starts clean: ignored signals
/// (Rust ignores SIGPIPE) would otherwise stay ignored across `execve`.
pub fn reset_signals() -> io::Result<()> {
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP || (32..=33).contains(&sig) {
            continue;
        }
        // SAFETY: SIG_DFL is a valid disposition for every catchable signal,
        // and no handler function pointer is installed.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    )
    .map_err(|e| io::Error::new(io::Error::from(e).kind(), format!("sigprocmask: {e}")))
}

/// Has the kernel reap the caller's children as they exit (SIGCHLD
/// ignored) or stop doing so. For a process that forks children it never
/// waits for; they inherit the setting, and one that waits for children of
/// its own must turn it off first.
pub fn reap_children_automatically(on: bool) -> io::Result<()> {
    let disposition = if on { libc::SIG_IGN } else { libc::SIG_DFL };
    // SAFETY: SIG_IGN and SIG_DFL are valid dispositions for SIGCHLD; no
    // handler function pointer is installed.
    if unsafe { libc::signal(libc::SIGCHLD, disposition) } == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Moves the calling thread to `SCHED_IDLE`: it runs only on a CPU that
/// nothing else wants, so background work done ahead of need (and the
/// threads it starts, which inherit the policy) never delays the work
/// that needs it now.
pub fn run_only_when_idle() -> io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid sched_param that outlives the call; pid 0
    // is the calling thread.
    let ret = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    check(ret as libc::c_long, "sched_setscheduler", &"SCHED_IDLE").map(drop)
}

/// Give the heap's free pages back to the kernel (glibc's `malloc_trim`).
/// A long-lived process that allocated much while it started (parsing
/// a spec, say) keeps that memory otherwise, dirty and private, for its
/// whole life. Does nothing where the C library is not glibc.
pub fn release_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks the allocator's own free lists under
    // its own locks; it touches no memory the program owns.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_namespace_flags() {
        assert!(clone_fork(libc::CLONE_VM).is_err());
    }

    #[test]
    fn pidfd_of_self_opens() {
        assert!(pidfd_open(std::process::id() as i32).is_ok());
    }
}
