//! Docker Engine API wire types, versions and filters: what berthd and the
//! berth CLI share, as dockerd and the docker CLI share only the wire format.
//!
//! Field names and shapes follow moby's `api/swagger.yaml`; a field docker
//! marks `omitempty` is skipped when empty here too, so that clients which
//! compare the JSON see what dockerd would send.
#![forbid(unsafe_code)]

pub mod container;
pub mod container_cfg;
pub mod filters;
pub mod image;
pub mod network;
pub mod progress;
pub mod query;
pub mod system;
pub mod time;
pub mod version;
pub mod volume;

pub use filters::Filters;
pub use version::ApiVersion;

use serde::{Deserialize, Serialize};

/// Reads `null` as the type's default: Go's encoder writes a nil slice or
/// map as `null`, and dockerd's answers have them where berthd writes `[]`
/// or `{}` (`#[serde(deserialize_with = "crate::null_as_default")]`).
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The body of every error response: `{"message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub message: String,
}
