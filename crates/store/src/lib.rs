//! Content blobs, overlay snapshots and metadata
#![forbid(unsafe_code)]
