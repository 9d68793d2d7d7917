//! berth-runtime: an OCI runtime (runtime-spec 1.x, Linux) as a library,
//! with runc's command line in `main.rs`.
//!
//! # Library API (used by berth-shim; kept stable)
//!
//! ```no_run
//! # fn main() -> Result<(), berth_runtime::Error> {
//! use berth_runtime::{CreateOptions, Runtime};
//! let rt = Runtime::new("/run/berth/runtime");
//! let created = rt.create("c1", CreateOptions::new("/path/to/bundle"))?;
//! // created.pid is the container's init, a child of this process;
//! // created.pty_master is Some when process.terminal is true and no
//! // console socket was given.
//! rt.start("c1")?;
//! // ... waitpid(created.pid) ...
//! rt.delete("c1", false)?;
//! # Ok(()) }
//! ```
//!
//! * [`Runtime::create`] returns once the container's init is set up and
//!   blocked waiting for [`Runtime::start`]. The init is a **direct child of
//!   the calling process**: a long-lived caller (the shim) reaps it with
//!   `waitpid`; when the caller exits (the `berth-runtime create` command),
//!   the kernel re-parents the init to the nearest subreaper
//!   (`PR_SET_CHILD_SUBREAPER`) or to PID 1.
//! * [`Runtime::exec`] likewise returns a child of the caller.
//! * The caller must be **single-threaded** when it calls `create` or
//!   `exec`: the runtime forks without exec (for speed), which is only
//!   sound when no other thread can hold a lock. Both return an error
//!   instead of forking from a multi-threaded process.
//! * Container stdio: `stdio: Some([in, out, err])` are dup'ed onto 0/1/2 in
//!   the container; with `None` the container inherits the caller's.
//! * State lives in `<root>/<id>/` (state.json, config.json, exec.fifo);
//!   nothing else is kept between calls, so any process may call `start`,
//!   `kill`, `delete`… later.
//!
//! * [`Runtime::run`] is `create` then `start` in one call, without the
//!   exec fifo (the init waits for the word on its channel to the runtime);
//!   it returns once the program runs, with the same [`Created`].
//! * Operations: [`Runtime::create`], [`Runtime::start`], [`Runtime::run`],
//!   [`Runtime::state`], [`Runtime::kill`], [`Runtime::delete`], [`Runtime::exec`],
//!   [`Runtime::pause`], [`Runtime::resume`], [`Runtime::update`],
//!   [`Runtime::ps`], [`Runtime::list`]. Bad input (malformed config, missing
//!   rootfs, unknown id, duplicate id, spec fields this runtime does not
//!   implement) is an error naming the problem, and a failed create leaves
//!   nothing behind.
//!
//! Errors are [`Error`], with [`Error::kind`] for exit codes and API status.
#![forbid(unsafe_code)]

mod cgroup_join;
mod channel;
mod config;
mod container;
mod error;
mod exec;
pub mod features;
mod hooks;
mod init;
pub mod log;
mod process;
mod rootfs;
pub mod seccomp;
pub mod signals;
mod state;
mod tty;
pub mod wait;

use std::os::fd::OwnedFd;
use std::path::PathBuf;

pub use error::{Error, Result};
pub use state::{OciState, Status};

/// Default state root for root.
pub const DEFAULT_ROOT: &str = "/run/berth/runtime";

/// The runtime, bound to one state root.
#[derive(Debug, Clone)]
pub struct Runtime {
    root: PathBuf,
    log: Option<log::Logger>,
}

/// How to create a container.
#[derive(Debug, Default)]
pub struct CreateOptions {
    /// The bundle directory (holding config.json).
    pub bundle: PathBuf,
    /// Where to write the init's pid.
    pub pid_file: Option<PathBuf>,
    /// A UNIX socket to send the pty master to (process.terminal).
    pub console_socket: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root (e.g. on a ramfs root).
    pub no_pivot: bool,
    /// Pass descriptors 3 .. 3+n of the caller into the container.
    pub preserve_fds: u32,
    /// Descriptors to become the container's stdin, stdout and stderr.
    pub stdio: Option<[OwnedFd; 3]>,
}

impl CreateOptions {
    /// Options with just the bundle.
    pub fn new(bundle: impl Into<PathBuf>) -> CreateOptions {
        CreateOptions {
            bundle: bundle.into(),
            ..CreateOptions::default()
        }
    }
}

/// What `create` (or `exec`) hands back.
#[derive(Debug)]
pub struct Created {
    /// The process's pid, as seen by the caller.
    pub pid: i32,
    /// The pty master, when the process has a terminal and no console
    /// socket was given.
    pub pty_master: Option<OwnedFd>,
}

/// How to run an extra process in a container.
#[derive(Debug)]
pub struct ExecOptions {
    /// The process (as in config.json's `process`).
    pub process: oci_spec::runtime::Process,
    /// Where to write the pid.
    pub pid_file: Option<PathBuf>,
    /// A UNIX socket to send the pty master to.
    pub console_socket: Option<PathBuf>,
    /// Pass descriptors 3 .. 3+n of the caller into the process.
    pub preserve_fds: u32,
    /// Descriptors to become the process's stdin, stdout and stderr.
    pub stdio: Option<[OwnedFd; 3]>,
}

impl Runtime {
    /// A runtime keeping its state below `root`.
    pub fn new(root: impl Into<PathBuf>) -> Runtime {
        Runtime {
            root: root.into(),
            log: None,
        }
    }

    /// Sends warnings (failing poststart/poststop hooks) to `log`.
    pub fn with_log(mut self, log: log::Logger) -> Runtime {
        self.log = Some(log);
        self
    }

    /// The state root.
    pub fn root(&self) -> &std::path::Path {
        &self.root
    }

    fn warn(&self, msg: &str) {
        match &self.log {
            Some(l) => l.warn(msg),
            None => eprintln!("berth-runtime: warning: {msg}"),
        }
    }
}

/// Checks a container id (letters, digits and `_ . + -`).
pub fn check_id(id: &str) -> Result<()> {
    container::check_id(id)
}

/// Parses a capability name (`CAP_NET_ADMIN`).
pub fn parse_capability(name: &str) -> Result<oci_spec::runtime::Capability> {
    config::parse_cap(name)
}
