//! Client errors, with the daemon's message kept as it sent it.

use berth_api_types::{ApiVersion, ErrorResponse};
use berth_base::ErrorKind;
use hyper::body::Incoming;
use hyper::{Response, StatusCode};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Cannot connect to the berth daemon at {host}. Is berthd running?")]
    Connect {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid daemon host {0:?}: want unix:///path or tcp://host:port")]
    BadHost(String),
    #[error("daemon host {0:?} is not supported by this client: use unix:// or tcp://")]
    UnsupportedHost(String),
    #[error("tls: {0}")]
    Tls(String),
    #[error("invalid API version {0:?}")]
    BadVersion(String),
    #[error("the daemon's API version {0} is too old: this client needs at least 1.24")]
    DaemonTooOld(ApiVersion),
    #[error("http: {0}")]
    Http(#[source] hyper::Error),
    #[error("build request: {0}")]
    Request(String),
    #[error("decode response of {0}: {1}")]
    Decode(String, #[source] serde_json::Error),
    /// The daemon answered with an error status.
    #[error("Error response from daemon: {message}")]
    Daemon { status: StatusCode, message: String },
    /// An error reported inside a progress stream.
    #[error("{0}")]
    Stream(String),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The kind, from the daemon's status where there is one.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Daemon { status, .. } => match status.as_u16() {
                404 => ErrorKind::NotFound,
                409 => ErrorKind::Conflict,
                400 => ErrorKind::Invalid,
                401 | 403 => ErrorKind::Unauthorized,
                501 | 503 => ErrorKind::Unsupported,
                304 => ErrorKind::NotModified,
                _ => ErrorKind::Internal,
            },
            Error::BadHost(_) | Error::BadVersion(_) | Error::Request(_) => ErrorKind::Invalid,
            Error::UnsupportedHost(_) | Error::DaemonTooOld(_) => ErrorKind::Unsupported,
            _ => ErrorKind::Internal,
        }
    }

    /// The daemon's message, for errors the daemon reported.
    pub fn daemon_message(&self) -> Option<&str> {
        match self {
            Error::Daemon { message, .. } => Some(message),
            _ => None,
        }
    }
}

/// The error of a response with an error status.
pub(crate) async fn from_response(resp: Response<Incoming>) -> Error {
    let status = resp.status();
    let message = match crate::read_all(resp).await {
        Ok(b) => match serde_json::from_slice::<ErrorResponse>(&b) {
            Ok(e) => e.message,
            Err(_) if b.is_empty() => status.canonical_reason().unwrap_or("error").to_owned(),
            Err(_) => String::from_utf8_lossy(&b).trim().to_owned(),
        },
        Err(e) => e.to_string(),
    };
    Error::Daemon { status, message }
}
