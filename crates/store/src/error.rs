//! The store's error type.

use berth_base::ErrorKind;
use std::io;

/// Anything that can go wrong in the content store, the snapshotter, layer
/// application or the metadata store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call or file operation failed; the message names it and the object.
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// The metadata database failed.
    #[error("metadata store: {context}")]
    Db {
        context: String,
        #[source]
        source: Box<redb::Error>,
    },
    /// A metadata record could not be decoded or encoded.
    #[error("metadata record {key}")]
    Record {
        key: String,
        #[source]
        source: serde_json::Error,
    },
    /// Bytes did not hash to the digest they were announced with.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: String, actual: String },
    /// A blob is not in the content store.
    #[error("blob {0} not found")]
    BlobNotFound(String),
    /// A tar entry tries to leave the directory it is unpacked into.
    #[error("layer entry {entry:?}: {reason}")]
    UnsafeEntry { entry: String, reason: String },
    /// A layer is not a valid (complete) tar stream.
    #[error("invalid layer: {0}")]
    BadLayer(String),
    /// A snapshot key or layer is unknown.
    #[error("snapshot {0} not found")]
    SnapshotNotFound(String),
    /// A snapshot key is taken.
    #[error("snapshot {0} already exists")]
    SnapshotExists(String),
    /// A name given to the store is not acceptable.
    #[error("invalid name {0:?}")]
    InvalidName(String),
    /// A chain of layers too long for one overlay mount.
    #[error("{0} layers do not fit in one overlay mount")]
    TooManyLayers(usize),
}

impl Error {
    /// The class of the error, for status codes.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { .. } | Error::Db { .. } | Error::Record { .. } => ErrorKind::Internal,
            Error::DigestMismatch { .. }
            | Error::UnsafeEntry { .. }
            | Error::BadLayer(_)
            | Error::InvalidName(_) => ErrorKind::Invalid,
            Error::BlobNotFound(_) | Error::SnapshotNotFound(_) => ErrorKind::NotFound,
            Error::SnapshotExists(_) => ErrorKind::Conflict,
            Error::TooManyLayers(_) => ErrorKind::Unsupported,
        }
    }

    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Wraps a database error with what was being done.
    pub fn db(context: impl Into<String>, source: impl Into<redb::Error>) -> Self {
        Error::Db {
            context: context.into(),
            source: Box::new(source.into()),
        }
    }
}

/// Adds context to I/O results: `.ctx(|| format!("open {path:?}"))`.
pub trait IoContext<T> {
    /// Turns an `io::Error` into [`Error::Io`] with the given context.
    fn ctx<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T, Error>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T, Error> {
        self.map_err(|e| Error::io(f(), e))
    }
}

impl<T> IoContext<T> for rustix::io::Result<T> {
    fn ctx<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T, Error> {
        self.map_err(|e| Error::io(f(), e.into()))
    }
}

/// Result with the store's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
