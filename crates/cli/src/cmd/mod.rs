//! One file per command group; see the crate docs for adding one.

pub mod container;
pub mod cp;
pub mod image;
pub mod network;
pub mod run;
pub mod stream;
pub mod system;
pub mod volume;
