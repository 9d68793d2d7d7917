//! One file per command group; see the crate docs for adding one.

pub mod image;
pub mod network;
pub mod system;
pub mod volume;
