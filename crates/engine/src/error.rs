//! The engine's error type.

use berth_base::ErrorKind;

/// Errors of the engine services.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The image store failed or refused the content.
    #[error(transparent)]
    Store(#[from] berth_store::Error),
    /// A network operation failed or was refused.
    #[error(transparent)]
    Network(#[from] berth_network::Error),
    /// A volume or mount operation failed or was refused.
    #[error(transparent)]
    Volume(#[from] berth_volume::Error),
    /// No image by that name or id.
    #[error("no such image: {0}")]
    NoSuchImage(String),
    /// A name that is not a valid image reference.
    #[error(transparent)]
    Reference(#[from] berth_base::reference::RefError),
    /// A valid reference where this operation cannot take it (a digest
    /// to commit or tag to).
    #[error("invalid reference format: {0}")]
    InvalidReference(String),
    /// The request clashes with the current state (a tag in several
    /// repositories, an image used by a container, an ambiguous id).
    #[error("{0}")]
    Conflict(String),
    /// The request or the input is malformed.
    #[error("{0}")]
    Invalid(String),
    /// An archive or stream could not be read or written.
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The class of the error, for status codes.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Store(e) => e.kind(),
            Error::Network(e) => e.kind(),
            Error::Volume(e) => e.kind(),
            Error::NoSuchImage(_) => ErrorKind::NotFound,
            Error::Reference(_) | Error::InvalidReference(_) | Error::Invalid(_) => {
                ErrorKind::Invalid
            }
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::Io { .. } => ErrorKind::Internal,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Result with the engine's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
