//! The crate's one error type. Every message names the cgroup file or
//! directory involved and, for writes, the value written.

use std::io;
use std::path::PathBuf;

use berth_base::ErrorKind;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong while managing a cgroup.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing a control file failed.
    #[error("write {value} to {}", path.display())]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: io::Error,
    },
    /// Reading a control file (or /proc) failed.
    #[error("read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A control file held something we could not parse.
    #[error("parse {}: unexpected content {content:?}", path.display())]
    Parse { path: PathBuf, content: String },
    /// mkdir of a cgroup directory failed.
    #[error("create cgroup {}", path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// rmdir of a cgroup directory failed (after retries for EBUSY).
    #[error("remove cgroup {}", path.display())]
    Remove {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The cgroupsPath of the spec cannot be used.
    #[error("invalid cgroups path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    /// A resource value is out of range or contradicts another one.
    #[error("invalid {what}: {reason}")]
    InvalidResource { what: &'static str, reason: String },
    /// The host lacks what the user asked for (a controller, a control file,
    /// or a feature of this cgroup version).
    #[error("{what} is not supported: {reason}")]
    Unsupported { what: String, reason: String },
    /// No cgroup filesystem is mounted where we looked.
    #[error("no cgroup filesystem found in {}", path.display())]
    NoCgroupFs { path: PathBuf },
    /// The cgroup did not reach the frozen state in time; it was thawed again.
    #[error("freeze {}: still {state} after {waited_ms} ms, thawed again", path.display())]
    FreezeTimeout {
        path: PathBuf,
        state: String,
        waited_ms: u64,
    },
    /// Loading or attaching the eBPF device filter failed.
    #[error("{op} device filter on {}", path.display())]
    Bpf {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Creating failed, and removing what was created failed too.
    #[error("{error}; removing the half-created cgroup failed too: {cleanup}")]
    Rollback {
        error: Box<Error>,
        cleanup: Box<Error>,
    },
    /// Sending a signal to a process of the cgroup failed.
    #[error("kill pid {pid}")]
    Kill {
        pid: i32,
        #[source]
        source: nix::Error,
    },
}

fn io_kind(e: &io::Error) -> ErrorKind {
    match e.kind() {
        io::ErrorKind::NotFound => ErrorKind::NotFound,
        io::ErrorKind::InvalidInput => ErrorKind::Invalid,
        io::ErrorKind::PermissionDenied => ErrorKind::Unauthorized,
        io::ErrorKind::ResourceBusy => ErrorKind::Conflict,
        io::ErrorKind::Unsupported => ErrorKind::Unsupported,
        _ => ErrorKind::Internal,
    }
}

impl Error {
    /// The class of the error, for status and exit codes.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Write { source, .. }
            | Error::Read { source, .. }
            | Error::Create { source, .. }
            | Error::Remove { source, .. } => io_kind(source),
            Error::Bpf { source, .. } => io_kind(source),
            Error::Parse { .. } => ErrorKind::Internal,
            Error::InvalidPath { .. } | Error::InvalidResource { .. } => ErrorKind::Invalid,
            Error::Unsupported { .. } | Error::NoCgroupFs { .. } => ErrorKind::Unsupported,
            Error::FreezeTimeout { .. } => ErrorKind::Internal,
            Error::Rollback { error, .. } => error.kind(),
            Error::Kill { source, .. } => match source {
                nix::Error::ESRCH => ErrorKind::NotFound,
                nix::Error::EPERM => ErrorKind::Unauthorized,
                _ => ErrorKind::Internal,
            },
        }
    }
}
