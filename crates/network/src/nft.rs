//! NAT, port publishing and forwarding rules in one nftables table of
//! berth's own (`inet berth` by default).
//!
//! The table is a pure function of the networks and published ports, so it
//! is rewritten whole in one `nft -f -` transaction (create, delete, create:
//! atomic, and it never needs rule handles). Reconciling after a crash is
//! the same call; existing connections keep their conntrack NAT bindings
//! across a rewrite.
//!
//! What the table does:
//! - `publish`: DNAT of published ports, jumped to from prerouting (traffic
//!   from outside and from containers, hairpin included) and from output
//!   (the host itself, on its own addresses and on 127.0.0.1), only for
//!   local destination addresses.
//! - postrouting: masquerade for traffic leaving a bridge subnet to anywhere
//!   else (not for internal networks); masquerade of 127.0.0.0/8-sourced
//!   traffic into a bridge (the kernel also needs `route_localnet=1` on that
//!   bridge, which berth sets per bridge); masquerade of DNATed traffic that
//!   comes from the bridge's own subnet (hairpin: without it the reply would
//!   bypass the NAT and the client would drop it).
//! - forward: internal networks may not leave their bridge; traffic between
//!   two berth bridges is dropped unless it was DNATed to a published port
//!   (docker's network isolation).
//!
//! An accept here cannot override a drop in another table's forward base
//! chain (every base chain at a hook must accept). When iptables' FORWARD
//! policy is DROP (dockerd sets it), [`crate::hostfw`] adds accept rules for
//! berth's bridges to DOCKER-USER (or FORWARD).

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ipam::Cidr;

/// Transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            "sctp" => Ok(Proto::Sctp),
            _ => Err(Error::Invalid(format!("invalid protocol {s:?}"))),
        }
    }
}

/// One bridge network as the firewall sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FwNetwork {
    pub bridge: String,
    pub subnets: Vec<Cidr>,
    /// No traffic in or out of the bridge except to the host.
    pub internal: bool,
    /// Address of berth's embedded DNS server on this network, if any.
    pub dns: Option<IpAddr>,
}

/// One published port: `host_ip:host_port` → `container_ip:container_port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FwPort {
    pub proto: Proto,
    /// None: every local address of the matching family.
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container_ip: IpAddr,
    pub container_port: u16,
}

/// Everything the table should contain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    pub networks: Vec<FwNetwork>,
    pub ports: Vec<FwPort>,
}

/// Renders the script for `nft -f`, in one transaction. With `fresh` the
/// table is deleted and created again (at daemon start, so that a table of
/// an older layout is replaced); otherwise its chains and set are declared
/// (a no-op when they exist), flushed and refilled. Flushing keeps the
/// base chains registered: deleting them would make the kernel wait for
/// an RCU grace period per hook, about 25 ms, on every port change. With
/// no network the table is only deleted.
pub fn render(table: &str, rs: &Ruleset, fresh: bool) -> String {
    let t = format!("inet {table}");
    let mut s = String::new();
    if fresh || (rs.networks.is_empty() && rs.ports.is_empty()) {
        let _ = writeln!(s, "table {t} {{}}\ndelete table {t}");
        if rs.networks.is_empty() && rs.ports.is_empty() {
            return s;
        }
    }
    let _ = writeln!(
        s,
        "table {t} {{\n  set bridges {{ type ifname; }}\n  chain publish {{ }}\n\
         \x20 chain prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}\n\
         \x20 chain output {{ type nat hook output priority -100; policy accept; }}\n\
         \x20 chain postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}\n\
         \x20 chain forward {{ type filter hook forward priority filter; policy accept; }}\n}}"
    );
    let _ = writeln!(s, "flush table {t}\nflush set {t} bridges");
    let bridges: Vec<String> = rs.networks.iter().map(|n| quote(&n.bridge)).collect();
    if !bridges.is_empty() {
        let _ = writeln!(s, "add element {t} bridges {{ {} }}", bridges.join(", "));
    }
    // The embedded DNS servers listen on the gateways, port 53: a port 53
    // published on all host addresses must not capture the containers'
    // own lookups.
    for dns in rs.networks.iter().filter_map(|n| n.dns) {
        let _ = writeln!(
            s,
            "add rule {t} prerouting {} daddr {dns} meta l4proto {{ tcp, udp }} th dport 53 return",
            family(dns)
        );
    }
    for chain in ["prerouting", "output"] {
        let _ = writeln!(s, "add rule {t} {chain} fib daddr type local jump publish");
    }

    for p in &rs.ports {
        let proto = p.proto.as_str();
        let (fam, target) = match p.container_ip {
            IpAddr::V4(a) => ("ip", format!("{a}:{}", p.container_port)),
            IpAddr::V6(a) => ("ip6", format!("[{a}]:{}", p.container_port)),
        };
        let matcher = match p.host_ip {
            Some(h) if !h.is_unspecified() => format!("{} daddr {h}", family(h)),
            _ => format!("meta nfproto {}", if fam == "ip" { "ipv4" } else { "ipv6" }),
        };
        let _ = writeln!(
            s,
            "add rule {t} publish {matcher} {proto} dport {} dnat {fam} to {target}",
            p.host_port
        );
    }

    for n in &rs.networks {
        let br = quote(&n.bridge);
        let _ = writeln!(
            s,
            "add rule {t} postrouting oifname {br} ip saddr 127.0.0.0/8 masquerade"
        );
        for sub in &n.subnets {
            let f = family(sub.addr);
            let _ = writeln!(
                s,
                "add rule {t} postrouting oifname {br} {f} saddr {sub} ct status dnat masquerade"
            );
            if !n.internal {
                let _ = writeln!(
                    s,
                    "add rule {t} postrouting oifname != {br} {f} saddr {sub} masquerade"
                );
            }
        }
    }

    for n in &rs.networks {
        let br = quote(&n.bridge);
        if n.internal {
            let _ = writeln!(s, "add rule {t} forward iifname {br} oifname != {br} drop");
            let _ = writeln!(s, "add rule {t} forward oifname {br} iifname != {br} drop");
        } else {
            let _ = writeln!(
                s,
                "add rule {t} forward iifname {br} oifname != {br} oifname @bridges ct status != dnat drop"
            );
        }
    }
    s
}

fn family(a: IpAddr) -> &'static str {
    if a.is_ipv4() {
        "ip"
    } else {
        "ip6"
    }
}

/// Interface names are checked by [`crate::link::check_ifname`], so quoting
/// is enough to keep them literal.
fn quote(name: &str) -> String {
    format!("\"{name}\"")
}

/// Loads the rendered table with `nft -f -` (see [`render`] for `fresh`).
pub fn apply(table: &str, rs: &Ruleset, fresh: bool) -> Result<()> {
    nft_stdin(
        &render(table, rs, fresh),
        &format!("load table inet {table}"),
    )
}

fn nft_stdin(script: &str, what: &str) -> Result<()> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn {
            program: "nft",
            source,
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|source| Error::Spawn {
                program: "nft",
                source,
            })?;
    }
    let out = child.wait_with_output().map_err(|source| Error::Spawn {
        program: "nft",
        source,
    })?;
    if !out.status.success() {
        return Err(Error::Command {
            program: "nft",
            what: what.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_networks_and_ports() {
        let rs = Ruleset {
            networks: vec![
                FwNetwork {
                    bridge: "berth0".into(),
                    subnets: vec![
                        "172.17.0.0/16".parse().unwrap(),
                        "fd00:1::/64".parse().unwrap(),
                    ],
                    internal: false,
                    dns: None,
                },
                FwNetwork {
                    bridge: "berth-int".into(),
                    subnets: vec!["172.18.0.0/16".parse().unwrap()],
                    internal: true,
                    dns: Some("172.18.0.1".parse().unwrap()),
                },
            ],
            ports: vec![
                FwPort {
                    proto: Proto::Tcp,
                    host_ip: None,
                    host_port: 8080,
                    container_ip: "172.17.0.2".parse().unwrap(),
                    container_port: 80,
                },
                FwPort {
                    proto: Proto::Udp,
                    host_ip: Some("127.0.0.1".parse().unwrap()),
                    host_port: 53,
                    container_ip: "172.17.0.3".parse().unwrap(),
                    container_port: 5353,
                },
            ],
        };
        let s = render("berth", &rs, true);
        assert!(s.starts_with("table inet berth {}\ndelete table inet berth\n"));
        let s = render("berth", &rs, false);
        assert!(s.starts_with("table inet berth {\n"));
        assert!(s.contains("flush table inet berth\n"));
        assert!(s.contains(
            "prerouting ip daddr 172.18.0.1 meta l4proto { tcp, udp } th dport 53 return"
        ));
        assert!(s.contains("add element inet berth bridges { \"berth0\", \"berth-int\" }"));
        assert!(s.contains("publish meta nfproto ipv4 tcp dport 8080 dnat ip to 172.17.0.2:80"));
        assert!(s.contains("publish ip daddr 127.0.0.1 udp dport 53 dnat ip to 172.17.0.3:5353"));
        assert!(s.contains("oifname != \"berth0\" ip6 saddr fd00:1::/64 masquerade"));
        assert!(!s.contains("oifname != \"berth-int\" ip saddr"));
        assert!(s.contains("forward iifname \"berth-int\" oifname != \"berth-int\" drop"));
        assert_eq!(
            render("berth", &Ruleset::default(), false),
            "table inet berth {}\ndelete table inet berth\n"
        );
    }
}
