//! Bridges, veth, IPAM, nftables NAT and ports, DNS
#![forbid(unsafe_code)]
