//! The API edge's error: a kind and a message, sent as `{"message": ...}`
//! with the status that `status_of` gives the kind — the one place where
//! kinds become HTTP statuses.

use berth_base::ErrorKind;
use hyper::StatusCode;
use std::fmt;

/// What the router reports: the engine's kinds plus `Unavailable`, which
/// only the API edge needs (swarm routes on a node that is not a manager).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Engine(ErrorKind),
    Unavailable,
}

/// An error answered to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub kind: Kind,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind: Kind::Engine(kind),
            message: message.into(),
        }
    }

    /// Wraps a library error, with its source chain in the message.
    pub fn from_error(kind: ErrorKind, err: &(dyn std::error::Error + 'static)) -> Self {
        Self::new(kind, chain(err))
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            kind: Kind::Unavailable,
            message: message.into(),
        }
    }

    /// The status this error is answered with.
    pub fn status(&self) -> StatusCode {
        status_of(self.kind)
    }
}

/// The one mapping from error kinds to HTTP statuses (moby's
/// `httpstatus.FromError`).
pub fn status_of(kind: Kind) -> StatusCode {
    match kind {
        Kind::Engine(ErrorKind::NotFound) => StatusCode::NOT_FOUND,
        Kind::Engine(ErrorKind::Conflict) => StatusCode::CONFLICT,
        Kind::Engine(ErrorKind::Invalid) => StatusCode::BAD_REQUEST,
        Kind::Engine(ErrorKind::Unauthorized) => StatusCode::UNAUTHORIZED,
        Kind::Engine(ErrorKind::Unsupported) => StatusCode::NOT_IMPLEMENTED,
        Kind::Engine(ErrorKind::NotModified) => StatusCode::NOT_MODIFIED,
        Kind::Engine(ErrorKind::Internal) => StatusCode::INTERNAL_SERVER_ERROR,
        Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// `err: source: source...`, the chain printed once.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut s = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        s.push_str(": ");
        s.push_str(&e.to_string());
        cur = e.source();
    }
    s
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<berth_api_types::filters::FilterError> for ApiError {
    fn from(e: berth_api_types::filters::FilterError) -> Self {
        Self::invalid(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_distinct_status() {
        let kinds = [
            ErrorKind::NotFound,
            ErrorKind::Conflict,
            ErrorKind::Invalid,
            ErrorKind::Unauthorized,
            ErrorKind::Unsupported,
            ErrorKind::NotModified,
            ErrorKind::Internal,
        ];
        let mut seen: Vec<u16> = kinds
            .iter()
            .map(|k| status_of(Kind::Engine(*k)).as_u16())
            .collect();
        seen.push(status_of(Kind::Unavailable).as_u16());
        let n = seen.len();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), n);
        assert_eq!(ApiError::not_found("x").status(), StatusCode::NOT_FOUND);
    }
}
