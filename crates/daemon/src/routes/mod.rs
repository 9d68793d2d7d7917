//! One file per API resource; see the router's module docs for how to add
//! one.

pub mod archive;
pub mod containers;
pub mod exec;
pub mod images;
pub mod networks;
pub mod system;
pub mod unsupported;
pub mod volumes;
