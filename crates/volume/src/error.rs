//! The one error type of the volume crate, with its `kind()` for the API edge.

use std::io;
use std::path::{Path, PathBuf};

use berth_base::ErrorKind;

/// Everything that can go wrong with volumes and mount specs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A volume name that docker's local driver would refuse.
    #[error(
        "{0:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed; to bind a host directory use an absolute path"
    )]
    InvalidName(String),
    /// No volume of that name.
    #[error("no such volume: {0}")]
    NotFound(String),
    /// A driver other than `local`.
    #[error("volume driver {0:?} not found: only \"local\" is built in")]
    UnknownDriver(String),
    /// Removal of a volume that containers still reference.
    #[error("volume {name} is in use by container(s) {}", .containers.join(", "))]
    InUse {
        /// The volume.
        name: String,
        /// The containers that reference it.
        containers: Vec<String>,
    },
    /// A bad driver option, filter or request.
    #[error("{0}")]
    Invalid(String),
    /// A `-v`, `--mount`, `--tmpfs` or `--volumes-from` spec that does not parse
    /// or does not make sense; names the spec as given.
    #[error("invalid mount spec {spec:?}: {reason}")]
    Spec {
        /// The spec as the user wrote it.
        spec: String,
        /// Why it is refused.
        reason: String,
    },
    /// Two mounts on the same container path.
    #[error("duplicate mount point: {0}")]
    DuplicateMountPoint(String),
    /// A `--mount type=bind` source that does not exist (docker refuses it).
    #[error("bind source path does not exist: {0}")]
    BindSourceMissing(PathBuf),
    /// A directory that cannot be deleted because something is mounted at
    /// or below it.
    #[error("{0} is mounted; not deleting through the mount")]
    Mounted(PathBuf),
    /// Something the host or this build cannot do.
    #[error("{0}")]
    Unsupported(String),
    /// A system call or file operation failed; names the operation and path.
    #[error("{op} {path}")]
    Io {
        /// The operation, e.g. `mount` or `mkdir`.
        op: &'static str,
        /// The object it was made on.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// An operation failed and undoing its first steps failed too.
    #[error("{error}; undoing it failed too: {cleanup}")]
    Rollback {
        /// The original failure.
        error: Box<Error>,
        /// The failure of the cleanup.
        cleanup: Box<Error>,
    },
    /// A volume's metadata file does not parse.
    #[error("metadata of volume {name} at {path}")]
    Metadata {
        /// The volume.
        name: String,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// The class of the error, for HTTP status codes and exit codes.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound(_) | Error::UnknownDriver(_) => ErrorKind::NotFound,
            Error::InUse { .. } | Error::Mounted(_) => ErrorKind::Conflict,
            Error::InvalidName(_)
            | Error::Invalid(_)
            | Error::Spec { .. }
            | Error::DuplicateMountPoint(_)
            | Error::BindSourceMissing(_) => ErrorKind::Invalid,
            Error::Unsupported(_) => ErrorKind::Unsupported,
            Error::Rollback { error, .. } => error.kind(),
            Error::Io { .. } | Error::Metadata { .. } => ErrorKind::Internal,
        }
    }

    pub(crate) fn spec(spec: &str, reason: impl Into<String>) -> Self {
        Error::Spec {
            spec: spec.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Result with the crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches the operation and path to an `io::Error` or a rustix `Errno`.
pub(crate) fn io_err<E: Into<io::Error>>(op: &'static str, path: &Path) -> impl FnOnce(E) -> Error {
    let path = path.to_path_buf();
    move |e| Error::Io {
        op,
        path,
        source: e.into(),
    }
}
