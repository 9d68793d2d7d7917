//! Bridges, veth, IPAM, nftables NAT and ports, DNS
#![forbid(unsafe_code)]

pub mod dns;
pub mod error;
pub mod files;
pub mod hostfw;
pub mod ipam;
pub mod link;
pub mod manager;
pub mod netlink;
pub mod nft;

pub use error::{Error, Result};
pub use manager::{
    AttachRequest, Config, Endpoint, Network, NetworkManager, NetworkSpec, PortBinding,
    PortRequest, SubnetSpec,
};
pub use nft::Proto;
