//! The one error type of berth-network.

use std::io;
use std::path::PathBuf;

use berth_base::ErrorKind;

/// What went wrong in a network operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A netlink request failed: `op` names the request, `object` the link.
    #[error("netlink {op} `{object}`")]
    Netlink {
        op: &'static str,
        object: String,
        #[source]
        source: io::Error,
    },
    /// Reading or writing a file failed.
    #[error("{op} `{path}`")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Running a helper program (nft, iptables) failed.
    #[error("{program} {what}: {stderr}")]
    Command {
        program: &'static str,
        what: String,
        stderr: String,
    },
    /// Starting a helper program failed.
    #[error("spawn {program}")]
    Spawn {
        program: &'static str,
        #[source]
        source: io::Error,
    },
    /// The named network, endpoint or address does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The request clashes with the current state.
    #[error("{0}")]
    Conflict(String),
    /// The request is malformed.
    #[error("{0}")]
    Invalid(String),
    /// A pool or range has no free subnet or address left.
    #[error("{0}")]
    Exhausted(String),
    /// The embedded DNS server could not start.
    #[error("start dns server on `{addr}`")]
    Dns {
        addr: String,
        #[source]
        source: io::Error,
    },
    /// An operation failed and undoing its first steps failed too; both
    /// are kept, the first one decides the kind.
    #[error("{error}; undoing it failed too: {rollback}")]
    Rollback {
        error: Box<Error>,
        rollback: Box<Error>,
    },
    /// A persisted state file is not valid JSON.
    #[error("parse state `{path}`")]
    State {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// The class of the error for the API edge.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Netlink { source, .. }
            | Error::Io { source, .. }
            | Error::Dns { source, .. } => match source.raw_os_error() {
                Some(nix::libc::EEXIST) | Some(nix::libc::EADDRINUSE) => ErrorKind::Conflict,
                Some(nix::libc::ENOENT) | Some(nix::libc::ENODEV) => ErrorKind::NotFound,
                Some(nix::libc::EPERM) | Some(nix::libc::EACCES) => ErrorKind::Unauthorized,
                _ => ErrorKind::Internal,
            },
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::Invalid(_) => ErrorKind::Invalid,
            Error::Exhausted(_) => ErrorKind::Conflict,
            Error::Rollback { error, .. } => error.kind(),
            Error::Command { .. } | Error::Spawn { .. } | Error::State { .. } => {
                ErrorKind::Internal
            }
        }
    }

    /// `error`, with the failure of its rollback attached if there was one.
    pub(crate) fn with_rollback(error: Error, rollback: Result<()>) -> Error {
        match rollback {
            Ok(()) => error,
            Err(r) => Error::Rollback {
                error: Box::new(error),
                rollback: Box::new(r),
            },
        }
    }

    pub(crate) fn netlink(
        op: &'static str,
        object: impl Into<String>,
    ) -> impl FnOnce(io::Error) -> Self {
        let object = object.into();
        move |source| Error::Netlink { op, object, source }
    }
}

/// Result with this crate's error.
pub type Result<T> = std::result::Result<T, Error>;
