//! Foundation shared by every berth crate: error kinds, ids, digests and
//! crash-safe file writes.
#![forbid(unsafe_code)]

pub mod digest;
pub mod fsutil;
pub mod id;
pub mod reference;
pub mod testenv;
pub mod time;

/// What went wrong, in the few classes that an API edge turns into a status
/// code or an exit code. Every library error exposes `kind()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The object named does not exist.
    NotFound,
    /// The request clashes with the current state (name in use, wrong state).
    Conflict,
    /// The request itself is malformed or contradictory.
    Invalid,
    /// The caller is not allowed to do this.
    Unauthorized,
    /// The operation is not supported on this host or by this build.
    Unsupported,
    /// Nothing changed because the object is already in the requested state.
    NotModified,
    /// Anything else: I/O, kernel, bugs.
    Internal,
}
