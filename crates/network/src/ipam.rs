//! IP address management: subnets picked from a pool that avoids the host's
//! routes and the other networks, and per-subnet address allocation. The
//! types serialize into the network's state file, so allocations survive a
//! restart of the daemon and nothing leaks.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// An address and prefix length: a subnet ("172.18.0.0/16") or an
/// interface address ("172.18.0.2/16").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self> {
        if prefix > max_prefix(addr) {
            return Err(Error::Invalid(format!(
                "invalid prefix length /{prefix} for {addr}"
            )));
        }
        Ok(Cidr { addr, prefix })
    }

    /// The subnet this address lies in (host bits cleared).
    pub fn network(&self) -> Cidr {
        Cidr {
            addr: from_u128(self.addr, to_u128(self.addr) & self.mask()),
            prefix: self.prefix,
        }
    }

    fn mask(&self) -> u128 {
        let bits = u32::from(max_prefix(self.addr));
        let host_bits = bits - u32::from(self.prefix);
        let all = if bits == 128 {
            u128::MAX
        } else {
            (1u128 << bits) - 1
        };
        all & !(if host_bits == 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        })
    }

    /// Number of addresses in the subnet, saturating for huge v6 subnets.
    pub fn size(&self) -> u128 {
        let host_bits = u32::from(max_prefix(self.addr) - self.prefix);
        1u128.checked_shl(host_bits).unwrap_or(u128::MAX)
    }

    pub fn is_v4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// Whether `ip` is inside this subnet.
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.is_v4()
            && to_u128(ip) & self.mask() == to_u128(self.addr) & self.mask()
    }

    /// Whether the two subnets share any address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.is_v4() == other.is_v4() && (self.contains(other.addr) || other.contains(self.addr))
    }

    /// The `n`th address of the subnet (0 is the network address).
    pub fn nth(&self, n: u128) -> Option<IpAddr> {
        if n >= self.size() {
            return None;
        }
        let base = to_u128(self.network().addr);
        Some(from_u128(self.addr, base + n))
    }

    /// The position of `ip` inside the subnet.
    fn offset(&self, ip: IpAddr) -> u128 {
        to_u128(ip) - to_u128(self.network().addr)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::Invalid(format!("invalid CIDR address {s:?}"));
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        Cidr::new(addr, prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

fn max_prefix(a: IpAddr) -> u8 {
    if a.is_ipv4() {
        32
    } else {
        128
    }
}

fn to_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(like: IpAddr, v: u128) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(v as u32)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(v)),
    }
}

/// The subnet docker gives its default bridge, which berth's default
/// bridge takes too.
pub fn default_bridge_subnet() -> Cidr {
    Cidr {
        addr: IpAddr::V4(Ipv4Addr::new(172, 17, 0, 0)),
        prefix: 16,
    }
}

/// The candidates for user-defined networks, in docker's order:
/// 172.18–31.0.0/16, then 192.168.0.0/16 cut into /20s.
pub fn default_pool() -> Vec<Cidr> {
    let mut v: Vec<Cidr> = (18..=31)
        .map(|b| Cidr {
            addr: IpAddr::V4(Ipv4Addr::new(172, b, 0, 0)),
            prefix: 16,
        })
        .collect();
    v.extend((0..16).map(|i| Cidr {
        addr: IpAddr::V4(Ipv4Addr::new(192, 168, i * 16, 0)),
        prefix: 20,
    }));
    v
}

/// The first subnet of `pool` that overlaps neither `taken` (other
/// networks) nor `routes` (the host's routes).
pub fn pick_subnet(pool: &[Cidr], taken: &[Cidr], routes: &[Cidr]) -> Result<Cidr> {
    pool.iter()
        .find(|c| !taken.iter().chain(routes).any(|t| t.overlaps(c)))
        .copied()
        .ok_or_else(|| Error::Exhausted("no free subnet left in the address pool".into()))
}

/// The host's IPv4 and IPv6 routes other than default routes, read from
/// /proc (the main table is what decides whether a subnet would shadow or
/// be shadowed by an existing network).
pub fn host_routes() -> Vec<Cidr> {
    let mut out = Vec::new();
    if let Ok(s) = std::fs::read_to_string("/proc/net/route") {
        out.extend(parse_proc_route(&s));
    }
    if let Ok(s) = std::fs::read_to_string("/proc/net/ipv6_route") {
        out.extend(parse_proc_ipv6_route(&s));
    }
    out
}

fn parse_proc_route(s: &str) -> Vec<Cidr> {
    s.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dst = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
            // /proc prints the raw network-order word as a host integer, so
            // its native bytes are the address bytes.
            let dst = Ipv4Addr::from(dst.to_ne_bytes());
            let prefix = mask.count_ones() as u8;
            (prefix > 0).then_some(Cidr {
                addr: IpAddr::V4(dst),
                prefix,
            })
        })
        .collect()
}

fn parse_proc_ipv6_route(s: &str) -> Vec<Cidr> {
    s.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dst = u128::from_str_radix(f.first()?, 16).ok()?;
            let prefix = u8::from_str_radix(f.get(1)?, 16).ok()?;
            let dev = f.last()?;
            // Link-local and multicast routes exist on every interface.
            let addr = Ipv6Addr::from(dst);
            let special =
                addr.segments()[0] & 0xffc0 == 0xfe80 || addr.segments()[0] & 0xff00 == 0xff00;
            (prefix > 0 && *dev != "lo" && !special).then_some(Cidr {
                addr: IpAddr::V6(addr),
                prefix,
            })
        })
        .collect()
}

/// The addresses of one subnet of a network and which of them are taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetPool {
    pub subnet: Cidr,
    pub gateway: IpAddr,
    /// `--ip-range`: dynamic addresses come only from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<Cidr>,
    /// Addresses given to endpoints (the gateway is not listed).
    #[serde(default)]
    pub allocated: BTreeSet<IpAddr>,
}

impl SubnetPool {
    /// A pool for `subnet` with `gateway` (default: the first address) and
    /// an optional `ip_range`, checked for consistency.
    pub fn new(subnet: Cidr, gateway: Option<IpAddr>, ip_range: Option<Cidr>) -> Result<Self> {
        let subnet = subnet.network();
        let min = if subnet.is_v4() { 30 } else { 126 };
        if subnet.prefix > min {
            return Err(Error::Invalid(format!("subnet {subnet} is too small")));
        }
        let gateway = match gateway {
            Some(g) if !subnet.contains(g) => {
                return Err(Error::Invalid(format!(
                    "gateway {g} is not in subnet {subnet}"
                )))
            }
            Some(g) => g,
            None => subnet
                .nth(1)
                .ok_or_else(|| Error::Invalid(format!("subnet {subnet} is too small")))?,
        };
        if let Some(r) = ip_range {
            if !subnet.contains(r.addr) || r.prefix < subnet.prefix {
                return Err(Error::Invalid(format!(
                    "ip range {r} is not inside subnet {subnet}"
                )));
            }
        }
        Ok(SubnetPool {
            subnet,
            gateway,
            ip_range: ip_range.map(|r| r.network()),
            allocated: BTreeSet::new(),
        })
    }

    /// Whether `ip` may never be given out: network and broadcast address,
    /// the gateway.
    fn reserved(&self, ip: IpAddr) -> bool {
        let off = self.subnet.offset(ip);
        ip == self.gateway || off == 0 || (self.subnet.is_v4() && off == self.subnet.size() - 1)
    }

    /// Takes the lowest free address of the range (or subnet).
    pub fn allocate(&mut self) -> Result<IpAddr> {
        let range = self.ip_range.unwrap_or(self.subnet);
        // Bound the scan: v6 ranges are astronomically large, but only
        // allocated.len() + 3 candidates can be taken or reserved.
        let limit = range.size().min(self.allocated.len() as u128 + 4);
        for n in 0..limit {
            let Some(ip) = range.nth(n) else { break };
            if !self.reserved(ip) && !self.allocated.contains(&ip) {
                self.allocated.insert(ip);
                return Ok(ip);
            }
        }
        Err(Error::Exhausted(format!("no free address left in {range}")))
    }

    /// Takes `ip` (a static `--ip`), which must be inside the subnet and free.
    pub fn allocate_exact(&mut self, ip: IpAddr) -> Result<()> {
        if !self.subnet.contains(ip) {
            return Err(Error::Invalid(format!(
                "address {ip} is not in subnet {}",
                self.subnet
            )));
        }
        if self.reserved(ip) || !self.allocated.insert(ip) {
            return Err(Error::Conflict(format!("address {ip} is already in use")));
        }
        Ok(())
    }

    /// Gives `ip` back; releasing a free address is harmless.
    pub fn release(&mut self, ip: IpAddr) {
        self.allocated.remove(&ip);
    }

    /// The gateway with the subnet's prefix, as set on the bridge.
    pub fn gateway_cidr(&self) -> Cidr {
        Cidr {
            addr: self.gateway,
            prefix: self.subnet.prefix,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_arithmetic() {
        assert_eq!(c("172.18.3.4/16").network(), c("172.18.0.0/16"));
        assert!(c("172.18.0.0/16").contains(ip("172.18.255.255")));
        assert!(!c("172.18.0.0/16").contains(ip("172.19.0.0")));
        assert!(c("10.0.0.0/8").overlaps(&c("10.1.0.0/16")));
        assert!(!c("10.0.0.0/8").overlaps(&c("fd00::/8")));
        assert_eq!(c("fd00::/64").nth(2), Some(ip("fd00::2")));
        assert_eq!(c("0.0.0.0/0").size(), 1 << 32);
        assert_eq!(c("::/0").size(), u128::MAX);
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("10.0.0.0".parse::<Cidr>().is_err());
        assert_eq!(c("fd00:1::/48").to_string(), "fd00:1::/48");
    }

    #[test]
    fn picks_a_subnet_away_from_routes_and_networks() {
        let pool = default_pool();
        let got = pick_subnet(&pool, &[c("172.18.0.0/16")], &[c("172.19.5.0/24")]).unwrap();
        assert_eq!(got, c("172.20.0.0/16"));
        let all: Vec<Cidr> = pool.clone();
        assert!(pick_subnet(&pool, &all, &[]).is_err());
        assert_eq!(pool.last(), Some(&c("192.168.240.0/20")));
    }

    #[test]
    fn reads_proc_routes() {
        let v4 =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                  eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                  eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(parse_proc_route(v4), vec![c("192.0.2.0/24")]);
        let v6 = "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n\
                  fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n";
        assert_eq!(parse_proc_ipv6_route(v6), vec![c("fd00::/64")]);
        assert!(parse_proc_route("garbage\nx y z\n").is_empty());
    }

    #[test]
    fn allocates_releases_and_respects_reservations() {
        let mut p = SubnetPool::new(c("10.9.0.0/29"), None, None).unwrap();
        assert_eq!(p.gateway, ip("10.9.0.1"));
        let got: Vec<IpAddr> = (0..5).map(|_| p.allocate().unwrap()).collect();
        assert_eq!(got[0], ip("10.9.0.2"));
        assert_eq!(got[4], ip("10.9.0.6"));
        assert!(p.allocate().is_err(), "broadcast .7 must stay free");
        p.release(ip("10.9.0.4"));
        assert_eq!(p.allocate().unwrap(), ip("10.9.0.4"));
        assert_eq!(
            p.allocate_exact(ip("10.9.0.1")).unwrap_err().kind(),
            berth_base::ErrorKind::Conflict
        );
        assert_eq!(
            p.allocate_exact(ip("10.8.0.1")).unwrap_err().kind(),
            berth_base::ErrorKind::Invalid
        );
    }

    #[test]
    fn ip_range_gateway_and_v6() {
        let mut p = SubnetPool::new(
            c("10.9.0.0/24"),
            Some(ip("10.9.0.254")),
            Some(c("10.9.0.128/25")),
        )
        .unwrap();
        assert_eq!(p.allocate().unwrap(), ip("10.9.0.128"));
        p.allocate_exact(ip("10.9.0.5")).unwrap();
        assert!(SubnetPool::new(c("10.9.0.0/24"), Some(ip("10.8.0.1")), None).is_err());
        assert!(SubnetPool::new(c("10.9.0.0/24"), None, Some(c("10.10.0.0/25"))).is_err());
        let mut v6 = SubnetPool::new(c("fd00:aa::/64"), None, None).unwrap();
        assert_eq!(v6.allocate().unwrap(), ip("fd00:aa::2"));
        let json = serde_json::to_string(&v6).unwrap();
        let back: SubnetPool = serde_json::from_str(&json).unwrap();
        assert_eq!(back, v6);
    }
}
