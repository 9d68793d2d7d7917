//! Bridges and container links on top of [`crate::netlink`]: the steps of
//! creating a network's bridge and of plugging a container into it.

use std::fs::File;
use std::net::IpAddr;

use crate::error::{Error, Result};
use crate::netlink::{Netlink, VethSpec};

/// The longest interface name Linux accepts (IFNAMSIZ - 1).
pub const MAX_IFNAME: usize = 15;

/// An address with its prefix length, as put on an interface.
pub type IfAddr = (IpAddr, u8);

/// Creates bridge `name` if missing, adds `addrs` (already present ones are
/// kept), brings it up and returns its index. Idempotent, so the same call
/// restores a network's bridge after a reboot.
pub fn ensure_bridge(
    nl: &mut Netlink,
    name: &str,
    addrs: &[IfAddr],
    mtu: Option<u32>,
) -> Result<u32> {
    check_ifname(name)?;
    let link = match nl
        .link_by_name(name)
        .map_err(Error::netlink("list links", name))?
    {
        Some(l) if l.kind == "bridge" => l,
        Some(_) => {
            return Err(Error::Conflict(format!(
                "interface {name} exists and is not a bridge"
            )))
        }
        None => {
            nl.create_bridge(name, mtu)
                .map_err(Error::netlink("create bridge", name))?;
            nl.link_by_name(name)
                .map_err(Error::netlink("list links", name))?
                .ok_or_else(|| Error::NotFound(format!("bridge {name} after creating it")))?
        }
    };
    for &(addr, prefix) in addrs {
        match nl.add_address(link.index, addr, prefix) {
            Err(e) if e.raw_os_error() == Some(nix::libc::EEXIST) => {}
            r => r.map_err(Error::netlink(
                "add address",
                format!("{addr}/{prefix} on {name}"),
            ))?,
        }
    }
    nl.set_up(link.index, true)
        .map_err(Error::netlink("set up", name))?;
    Ok(link.index)
}

/// Deletes the link called `name`; returns false when it did not exist.
pub fn delete_link(nl: &mut Netlink, name: &str) -> Result<bool> {
    match nl
        .link_by_name(name)
        .map_err(Error::netlink("list links", name))?
    {
        Some(l) => match nl.delete_link(l.index) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(nix::libc::ENODEV) => Ok(false),
            Err(e) => Err(Error::netlink("delete link", name)(e)),
        },
        None => Ok(false),
    }
}

/// How a container is plugged into a bridge.
#[derive(Debug, Clone)]
pub struct ContainerLink<'a> {
    /// Index of the bridge.
    pub bridge: u32,
    /// Name of the veth end on the host (berth's prefix, ≤ 15 bytes).
    pub host_name: &'a str,
    /// Name inside the container, usually "eth0".
    pub ifname: &'a str,
    pub mac: [u8; 6],
    pub mtu: Option<u32>,
    /// Addresses inside the container.
    pub addrs: Vec<IfAddr>,
    /// Default gateways inside the container (at most one per family).
    pub gateways: Vec<IpAddr>,
}

/// Plugs the container whose network namespace is `netns` into a bridge:
/// one veth pair created with its peer directly inside the namespace, then
/// loopback and the peer up, addresses and default routes set through a
/// netlink socket opened in that namespace. On failure the veth is removed.
pub fn plug(host: &mut Netlink, netns: &File, c: &ContainerLink<'_>) -> Result<()> {
    check_ifname(c.host_name)?;
    check_ifname(c.ifname)?;
    host.create_veth(&VethSpec {
        host: c.host_name,
        peer: c.ifname,
        peer_ns: Some(netns),
        master: Some(c.bridge),
        mtu: c.mtu,
        peer_mac: Some(c.mac),
    })
    .map_err(Error::netlink("create veth", c.host_name))?;
    let configured = set_hairpin(host, c.host_name).and_then(|()| configure_inside(netns, c));
    if configured.is_err() {
        // The container side is unusable; do not leave half a pair behind.
        let _ = delete_link(host, c.host_name);
    }
    configured
}

/// Lets the bridge send a frame back out of the port it came in on: a
/// container reaching its own published port through the host's address
/// (hairpin NAT) needs it when the bridge calls the IP hooks
/// (br_netfilter), as docker does without its userland proxy.
fn set_hairpin(nl: &mut Netlink, port: &str) -> Result<()> {
    let link = nl
        .link_by_name(port)
        .map_err(Error::netlink("get link", port))?
        .ok_or_else(|| Error::NotFound(format!("veth {port} after creating it")))?;
    nl.set_hairpin(link.index, true)
        .map_err(Error::netlink("set hairpin", port))
}

fn configure_inside(netns: &File, c: &ContainerLink<'_>) -> Result<()> {
    let mut nl =
        Netlink::open_in(netns).map_err(Error::netlink("open socket in netns", c.ifname))?;
    let links = nl
        .links()
        .map_err(Error::netlink("list links in netns", c.ifname))?;
    if let Some(lo) = links.iter().find(|l| l.name == "lo") {
        if !lo.up {
            nl.set_up(lo.index, true)
                .map_err(Error::netlink("set up in netns", "lo"))?;
        }
    }
    let link = links
        .iter()
        .find(|l| l.name == c.ifname)
        .ok_or_else(|| Error::NotFound(format!("{} in the container's netns", c.ifname)))?;
    for &(addr, prefix) in &c.addrs {
        nl.add_address(link.index, addr, prefix)
            .map_err(Error::netlink(
                "add address in netns",
                format!("{addr}/{prefix}"),
            ))?;
    }
    nl.set_up(link.index, true)
        .map_err(Error::netlink("set up in netns", c.ifname))?;
    for &gw in &c.gateways {
        match nl.add_default_route(link.index, gw) {
            // A container on several networks keeps the default route of
            // the first one, as with docker.
            Err(e) if e.raw_os_error() == Some(nix::libc::EEXIST) => {}
            r => r.map_err(Error::netlink("add default route in netns", gw.to_string()))?,
        }
    }
    Ok(())
}

/// Rejects names Linux would refuse, before the kernel does it with a vague
/// errno.
pub fn check_ifname(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > MAX_IFNAME
        || name == "."
        || name == ".."
        || name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0)
    {
        return Err(Error::Invalid(format!("invalid interface name {name:?}")));
    }
    Ok(())
}

/// Formats a MAC address as aa:bb:cc:dd:ee:ff.
pub fn format_mac(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses aa:bb:cc:dd:ee:ff.
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let bad = || Error::Invalid(format!("invalid MAC address {s:?}"));
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in out.iter_mut() {
        let p = parts.next().ok_or_else(bad)?;
        if p.len() != 2 {
            return Err(bad());
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(out)
}

/// The MAC docker derives from an IPv4 address: 02:42 followed by the
/// address, locally administered and unique on the bridge because the
/// address is.
pub fn mac_for(addr: std::net::Ipv4Addr) -> [u8; 6] {
    let o = addr.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_are_checked() {
        assert!(check_ifname("berth0").is_ok());
        assert!(check_ifname("0123456789abcdef").is_err());
        assert!(check_ifname("a/b").is_err());
        assert!(check_ifname("").is_err());
    }

    #[test]
    fn macs_round_trip() {
        let m = mac_for("172.17.0.2".parse().unwrap());
        assert_eq!(format_mac(m), "02:42:ac:11:00:02");
        assert_eq!(parse_mac("02:42:ac:11:00:02").unwrap(), m);
        assert!(parse_mac("02:42:ac:11:00").is_err());
        assert!(parse_mac("02:42:ac:11:00:02:03").is_err());
        assert!(parse_mac("zz:42:ac:11:00:02").is_err());
    }
}
