//! Bridges, veth, IPAM, nftables NAT and ports, DNS
#![forbid(unsafe_code)]

pub mod error;
pub mod link;
pub mod netlink;

pub use error::{Error, Result};
