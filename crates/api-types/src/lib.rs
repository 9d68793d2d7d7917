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

/// The body of every error response: `{"message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub message: String,
}
