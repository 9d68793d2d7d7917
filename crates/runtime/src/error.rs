//! The runtime's error type: one enum, each variant naming the object it is
//! about, with the cause as `#[source]` (never repeated in the message).

use std::io;
use std::path::PathBuf;

use berth_base::ErrorKind;

/// Everything the runtime can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The container id is empty or holds characters other than
    /// `[A-Za-z0-9_.+-]`.
    #[error("invalid container id {0:?}: use letters, digits and _ . + -")]
    InvalidId(String),
    /// No container with this id in the state root.
    #[error("container {0} does not exist")]
    NotFound(String),
    /// `create` with an id that is already used.
    #[error("container {0} already exists")]
    Exists(String),
    /// The operation is not allowed in the container's current state.
    #[error("container {id} is {status}: cannot {op} it")]
    WrongState {
        /// The container.
        id: String,
        /// Its current status.
        status: &'static str,
        /// What was asked.
        op: &'static str,
    },
    /// A signal for a container whose process is gone. The words
    /// "container not running" are what containerd looks for (as in runc's
    /// message) to treat it as "already finished".
    #[error("container not running: {0} has stopped")]
    NotRunning(String),
    /// config.json (or an exec process.json) is unreadable, malformed or
    /// contradictory.
    #[error("invalid configuration {path}: {msg}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        msg: String,
    },
    /// A bad command-line or API argument.
    #[error("{0}")]
    Invalid(String),
    /// The feature is not supported by this runtime or host.
    #[error("{0} is not supported")]
    Unsupported(String),
    /// An I/O or system call failed on the runtime's side.
    #[error("{context}")]
    Io {
        /// The call and its object.
        context: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The container's init process reported a failure while it set itself up.
    #[error("container init: {0}")]
    Init(String),
    /// A lifecycle hook failed or timed out.
    #[error("{kind} hook {path}: {msg}")]
    Hook {
        /// Which hook list (prestart, createRuntime, …).
        kind: &'static str,
        /// The hook's path.
        path: PathBuf,
        /// What happened.
        msg: String,
    },
    /// The cgroup manager failed.
    #[error("cgroups")]
    Cgroup(#[source] berth_cgroups::Error),
    /// Compiling the seccomp profile failed.
    #[error("seccomp")]
    Seccomp(#[source] crate::seccomp::SeccompError),
    /// An operation failed, and so did undoing what it had done.
    #[error("{original}; cleaning up failed too: {cleanup}")]
    Rollback {
        /// The first failure.
        original: Box<Error>,
        /// The failure of the cleanup.
        cleanup: Box<Error>,
    },
}

impl Error {
    /// The class of the error, for exit codes and API status.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidId(_) | Error::Config { .. } | Error::Invalid(_) => ErrorKind::Invalid,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Exists(_) | Error::WrongState { .. } | Error::NotRunning(_) => {
                ErrorKind::Conflict
            }
            Error::Unsupported(_) => ErrorKind::Unsupported,
            Error::Cgroup(e) => e.kind(),
            Error::Seccomp(_) => ErrorKind::Invalid,
            Error::Rollback { original, .. } => original.kind(),
            Error::Io { .. } | Error::Init(_) | Error::Hook { .. } => ErrorKind::Internal,
        }
    }

    /// The whole chain of causes on one line, as printed by the binary.
    pub fn chain(&self) -> String {
        let mut s = self.to_string();
        let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(self);
        while let Some(e) = cur {
            s.push_str(": ");
            s.push_str(&e.to_string());
            cur = e.source();
        }
        s
    }
}

/// Adds the call and its object to an `io::Error` or `nix` errno.
pub(crate) trait Context<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, Error>;
}

impl<T> Context<T> for io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, Error> {
        self.map_err(|source| Error::Io {
            context: what(),
            source,
        })
    }
}

impl<T> Context<T> for nix::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, Error> {
        self.map_err(|e| Error::Io {
            context: what(),
            source: e.into(),
        })
    }
}

/// The runtime's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
