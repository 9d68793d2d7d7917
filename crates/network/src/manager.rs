//! [`NetworkManager`]: the networks of one berth daemon, their bridges,
//! address allocations, endpoints (attached containers), published ports,
//! firewall rules and DNS servers. State is one JSON file per network,
//! written atomically before the kernel is changed, so that after a crash
//! [`NetworkManager::reconcile`] knows what to keep and what to remove.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use serde::{Deserialize, Serialize};

use crate::dns::{self, DnsServer, Names, Zone};
use crate::error::{Error, Result};
use crate::hostfw::{self, ForwardBridge};
use crate::ipam::{self, Cidr, SubnetPool};
use crate::link::{self, ContainerLink};
use crate::netlink::{open_netns, Netlink};
use crate::nft::{self, FwNetwork, FwPort, Proto, Ruleset};

/// Where and under which names a manager works. Tests use a temporary
/// state dir, a short unique prefix and their own table, so they never see
/// a running daemon's objects.
#[derive(Debug, Clone)]
pub struct Config {
    /// Directory of the per-network state files.
    pub state_dir: PathBuf,
    /// Prefix of every link berth creates (≤ 8 bytes): the default bridge is
    /// `<prefix>0`, other bridges `<prefix>-<id>`, veths `<prefix><hex>`.
    /// Reconcile deletes unknown links with this prefix.
    pub prefix: String,
    /// Name of berth's nftables table (family inet).
    pub nft_table: String,
    /// Upstream resolvers for the embedded DNS; None reads /etc/resolv.conf.
    pub dns_upstreams: Option<Vec<SocketAddr>>,
    /// Port of the embedded DNS servers (53; tests may pick another).
    pub dns_port: u16,
}

impl Config {
    /// The defaults of a root daemon under `state_dir`.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Config {
            state_dir: state_dir.into(),
            prefix: "berth".into(),
            nft_table: "berth".into(),
            dns_upstreams: None,
            dns_port: 53,
        }
    }
}

/// One address family of a network request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubnetSpec {
    /// None: pick a free one from the pool (IPv4 only).
    pub subnet: Option<Cidr>,
    pub gateway: Option<IpAddr>,
    pub ip_range: Option<Cidr>,
}

/// What `network create` asks for.
#[derive(Debug, Clone, Default)]
pub struct NetworkSpec {
    pub name: String,
    /// The caller's id for the network (64 hex); None generates one.
    pub id: Option<String>,
    /// `com.docker.network.bridge.name`; None derives one from the id.
    pub bridge: Option<String>,
    pub internal: bool,
    /// IPv4 settings (always present on bridge networks).
    pub ipv4: SubnetSpec,
    /// IPv6 settings when `--ipv6`; a subnet is required.
    pub ipv6: Option<SubnetSpec>,
    pub mtu: Option<u32>,
    /// Run the embedded DNS server (docker does on user-defined networks,
    /// not on the default bridge).
    pub dns: bool,
    /// `--label`s, kept for inspect.
    pub labels: BTreeMap<String, String>,
    /// `-o` driver options, kept for inspect.
    pub options: BTreeMap<String, String>,
}

/// A network as stored and reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub id: String,
    pub name: String,
    pub bridge: String,
    pub internal: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    pub dns: bool,
    /// Creation time, seconds since the epoch.
    #[serde(default)]
    pub created: u64,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    pub ipv4: SubnetPool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<SubnetPool>,
    /// Endpoints by container id.
    #[serde(default)]
    pub endpoints: BTreeMap<String, Endpoint>,
}

/// A published port as requested: host port 0 picks a free port, a range
/// picks one free port inside it. Docker's range-to-range form
/// (`-p 8000-8010:80-90`) is one request per port pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRequest {
    pub proto: Proto,
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    /// Inclusive end of a host port range; equal to `host_port` or 0 for
    /// a single port.
    pub host_port_end: u16,
    pub container_port: u16,
}

/// A published port as bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    pub proto: Proto,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container_port: u16,
}

/// What `attach` asks for: one container on one network.
#[derive(Debug, Clone)]
pub struct AttachRequest<'a> {
    /// Network name, id or unique id prefix.
    pub network: &'a str,
    pub container_id: &'a str,
    /// Container name (without docker's leading slash), resolvable by DNS.
    pub name: &'a str,
    /// `--network-alias`es, resolvable by DNS on this network.
    pub aliases: Vec<String>,
    /// The container's network namespace, e.g. `/proc/<pid>/ns/net`.
    pub netns: &'a Path,
    /// Interface name inside; None gives eth0, eth1, … as docker does
    /// (the caller knows how many networks the container already has).
    pub ifname: Option<&'a str>,
    pub ipv4: Option<IpAddr>,
    pub ipv6: Option<IpAddr>,
    pub mac: Option<[u8; 6]>,
    pub ports: Vec<PortRequest>,
    /// `--dns`: on networks with the embedded DNS, where it forwards this
    /// container's queries for names outside the network.
    pub dns_servers: Vec<IpAddr>,
}

/// A container's attachment to a network: what inspect shows under
/// NetworkSettings.Networks.<name>.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub endpoint_id: String,
    pub container_id: String,
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The host end of the veth pair.
    pub host_veth: String,
    pub ifname: String,
    pub mac: String,
    pub ipv4: Cidr,
    pub gateway4: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Cidr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway6: Option<IpAddr>,
    #[serde(default)]
    pub ports: Vec<PortBinding>,
    /// `--dns` servers the embedded DNS forwards this container's other
    /// queries to (empty: the host's resolvers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_servers: Vec<IpAddr>,
}

struct State {
    nets: BTreeMap<String, Network>,
    nl: Netlink,
    dns: HashMap<String, (DnsServer, Arc<RwLock<Zone>>)>,
    /// Whether this process has written the nft table once.
    fw_loaded: std::sync::atomic::AtomicBool,
}

/// The networks of one daemon. All methods are blocking and take a short
/// internal lock; share it behind an `Arc` (call from `spawn_blocking` in
/// async code).
pub struct NetworkManager {
    cfg: Config,
    state: Mutex<State>,
}

impl std::fmt::Debug for NetworkManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkManager")
            .field("cfg", &self.cfg)
            .finish()
    }
}

const DEFAULT_NETWORK: &str = "bridge";

impl NetworkManager {
    /// Loads the state of `cfg.state_dir` and restores what the kernel
    /// should have for it (bridges after a reboot, the nft table, forward
    /// accept rules, DNS servers). Call [`Self::reconcile`] next.
    pub fn open(cfg: Config) -> Result<Self> {
        if cfg.prefix.is_empty() || cfg.prefix.len() > 8 {
            return Err(Error::Invalid(format!(
                "link prefix {:?} must have 1 to 8 bytes",
                cfg.prefix
            )));
        }
        let dir = cfg.state_dir.join("networks");
        std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
            op: "create dir",
            path: dir.clone(),
            source: e,
        })?;
        let mut nets = BTreeMap::new();
        let rd = std::fs::read_dir(&dir).map_err(|e| Error::Io {
            op: "read dir",
            path: dir.clone(),
            source: e,
        })?;
        for entry in rd.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let data = std::fs::read(&path).map_err(|e| Error::Io {
                op: "read",
                path: path.clone(),
                source: e,
            })?;
            let net: Network =
                serde_json::from_slice(&data).map_err(|source| Error::State { path, source })?;
            nets.insert(net.id.clone(), net);
        }
        let nl = Netlink::open().map_err(Error::netlink("open socket", "host"))?;
        let mgr = NetworkManager {
            cfg,
            state: Mutex::new(State {
                nets,
                nl,
                dns: HashMap::new(),
                fw_loaded: std::sync::atomic::AtomicBool::new(false),
            }),
        };
        {
            let mut st = mgr.lock();
            let ids: Vec<String> = st.nets.keys().cloned().collect();
            for id in ids {
                mgr.bring_up(&mut st, &id)?;
            }
            mgr.sync_firewall(&st, true)?;
        }
        Ok(mgr)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the maps consistent (every
        // change is applied to a clone first or is a single insert/remove).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates the default network `bridge` on `<prefix>0` with docker's
    /// 172.17.0.0/16 (or the next free pool subnet if the host uses it),
    /// unless it exists. Returns it.
    pub fn ensure_default(&self) -> Result<Network> {
        if let Ok(n) = self.inspect(DEFAULT_NETWORK) {
            return Ok(n);
        }
        let routes = ipam::host_routes();
        let taken = self.subnets();
        let def = ipam::default_bridge_subnet();
        let subnet = if routes.iter().chain(&taken).any(|r| r.overlaps(&def)) {
            None
        } else {
            Some(def)
        };
        self.create(NetworkSpec {
            name: DEFAULT_NETWORK.into(),
            bridge: Some(format!("{}0", self.cfg.prefix)),
            ipv4: SubnetSpec {
                subnet,
                ..Default::default()
            },
            ..Default::default()
        })
    }

    fn subnets(&self) -> Vec<Cidr> {
        let st = self.lock();
        st.nets
            .values()
            .flat_map(|n| std::iter::once(n.ipv4.subnet).chain(n.ipv6.as_ref().map(|p| p.subnet)))
            .collect()
    }

    /// `network create`: allocates the subnet, creates the bridge with the
    /// gateway address, the firewall rules and the DNS server.
    pub fn create(&self, spec: NetworkSpec) -> Result<Network> {
        let mut st = self.lock();
        if spec.name.is_empty() {
            return Err(Error::Invalid("network name is empty".into()));
        }
        if st.nets.values().any(|n| n.name == spec.name) {
            return Err(Error::Conflict(format!(
                "network with name {} already exists",
                spec.name
            )));
        }
        let id = match spec.id {
            Some(id) => id,
            None => berth_base::id::random_id().map_err(|e| Error::Io {
                op: "read",
                path: "/dev/urandom".into(),
                source: e,
            })?,
        };
        let bridge = match spec.bridge {
            Some(b) => b,
            None => {
                let room = link::MAX_IFNAME - self.cfg.prefix.len() - 1;
                format!("{}-{}", self.cfg.prefix, &id[..room.min(id.len())])
            }
        };
        link::check_ifname(&bridge)?;
        if st.nets.values().any(|n| n.bridge == bridge) {
            return Err(Error::Conflict(format!(
                "bridge {bridge} is used by another network"
            )));
        }
        let taken: Vec<Cidr> = st
            .nets
            .values()
            .flat_map(|n| std::iter::once(n.ipv4.subnet).chain(n.ipv6.as_ref().map(|p| p.subnet)))
            .collect();
        let v4_subnet = match spec.ipv4.subnet {
            Some(s) if !s.is_v4() => return Err(Error::Invalid(format!("subnet {s} is not IPv4"))),
            Some(s) => {
                if let Some(t) = taken.iter().find(|t| t.overlaps(&s)) {
                    return Err(Error::Conflict(format!(
                        "subnet {s} overlaps with network subnet {t}"
                    )));
                }
                s
            }
            None => ipam::pick_subnet(&ipam::default_pool(), &taken, &ipam::host_routes())?,
        };
        let ipv4 = SubnetPool::new(v4_subnet, spec.ipv4.gateway, spec.ipv4.ip_range)?;
        let ipv6 = match spec.ipv6 {
            None => None,
            Some(s) => {
                let sub = s.subnet.filter(|c| !c.is_v4()).ok_or_else(|| {
                    Error::Invalid("an IPv6 network needs an IPv6 --subnet".into())
                })?;
                if let Some(t) = taken.iter().find(|t| t.overlaps(&sub)) {
                    return Err(Error::Conflict(format!(
                        "subnet {sub} overlaps with network subnet {t}"
                    )));
                }
                Some(SubnetPool::new(sub, s.gateway, s.ip_range)?)
            }
        };
        let net = Network {
            id: id.clone(),
            name: spec.name,
            bridge,
            internal: spec.internal,
            mtu: spec.mtu,
            dns: spec.dns,
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            labels: spec.labels,
            options: spec.options,
            ipv4,
            ipv6,
            endpoints: BTreeMap::new(),
        };
        self.persist(&net, true)?;
        st.nets.insert(id.clone(), net);
        let up = self
            .bring_up(&mut st, &id)
            .and_then(|()| self.sync_firewall(&st, true));
        if let Err(e) = up {
            let rollback = match st.nets.remove(&id) {
                Some(net) => self
                    .teardown(&mut st, &net)
                    .and_then(|()| self.sync_firewall(&st, true))
                    .and_then(|()| self.forget_state(&id)),
                None => Ok(()),
            };
            return Err(Error::with_rollback(e, rollback));
        }
        Ok(st.nets[&id].clone())
    }

    /// Makes the kernel match one stored network: bridge, addresses,
    /// sysctls, DNS server. Idempotent.
    fn bring_up(&self, st: &mut State, id: &str) -> Result<()> {
        let net = st
            .nets
            .get(id)
            .ok_or_else(|| Error::NotFound(format!("network {id}")))?
            .clone();
        let mut addrs = vec![(net.ipv4.gateway, net.ipv4.subnet.prefix)];
        if let Some(v6) = &net.ipv6 {
            addrs.push((v6.gateway, v6.subnet.prefix));
        }
        link::ensure_bridge(&mut st.nl, &net.bridge, &addrs, net.mtu)?;
        // Lets DNAT from the host's 127.0.0.1 reach this bridge (together
        // with the masquerade of 127.0.0.0/8 in the nft table); per bridge,
        // so no host-wide setting changes.
        write_sysctl(&format!("net/ipv4/conf/{}/route_localnet", net.bridge), "1")?;
        if !net.internal {
            enable_forwarding(net.ipv6.is_some())?;
        }
        if net.dns && !st.dns.contains_key(id) {
            let zone = Arc::new(RwLock::new(zone_of(&net)));
            let bind = SocketAddr::new(net.ipv4.gateway, self.cfg.dns_port);
            let upstreams = match &self.cfg.dns_upstreams {
                Some(u) => u.clone(),
                None => dns::host_upstreams(),
            };
            let server =
                DnsServer::start(bind, zone.clone(), upstreams).map_err(|source| Error::Dns {
                    addr: bind.to_string(),
                    source,
                })?;
            st.dns.insert(id.to_string(), (server, zone));
        }
        Ok(())
    }

    /// `network rm`: refuses while containers are attached.
    pub fn remove(&self, network: &str) -> Result<()> {
        let mut st = self.lock();
        let id = find(&st, network)?;
        if let Some(ep) = st.nets[&id].endpoints.values().next() {
            return Err(Error::Conflict(format!(
                "network {} has active endpoints ({})",
                st.nets[&id].name, ep.name
            )));
        }
        let net = st
            .nets
            .remove(&id)
            .ok_or_else(|| Error::NotFound(format!("network {network}")))?;
        let torn = self.teardown(&mut st, &net);
        let synced = self.sync_firewall(&st, true);
        self.forget_state(&id)?;
        torn.and(synced)
    }

    fn teardown(&self, st: &mut State, net: &Network) -> Result<()> {
        st.dns.remove(&net.id);
        link::delete_link(&mut st.nl, &net.bridge).map(|_| ())
    }

    /// The network called `network` (name, id or unique id prefix).
    pub fn inspect(&self, network: &str) -> Result<Network> {
        let st = self.lock();
        let id = find(&st, network)?;
        Ok(st.nets[&id].clone())
    }

    /// All networks.
    pub fn list(&self) -> Vec<Network> {
        self.lock().nets.values().cloned().collect()
    }

    /// `network connect` / container start: allocates addresses and ports,
    /// plugs a veth into the container's namespace, publishes the ports
    /// and registers the names with DNS.
    pub fn attach(&self, req: AttachRequest<'_>) -> Result<Endpoint> {
        let mut st = self.lock();
        let id = find(&st, req.network)?;
        let mut net = st.nets[&id].clone();
        if net.endpoints.contains_key(req.container_id) {
            return Err(Error::Conflict(format!(
                "container {} is already attached to network {}",
                req.container_id, net.name
            )));
        }
        let v4 = match req.ipv4 {
            Some(ip) => net.ipv4.allocate_exact(ip).map(|()| ip)?,
            None => net.ipv4.allocate()?,
        };
        let v6 = match (&mut net.ipv6, req.ipv6) {
            (Some(p), Some(ip)) => Some(p.allocate_exact(ip).map(|()| ip)?),
            (Some(p), None) => Some(p.allocate()?),
            (None, Some(ip)) => {
                return Err(Error::Invalid(format!(
                    "network {} has no IPv6 subnet for {ip}",
                    net.name
                )))
            }
            (None, None) => None,
        };
        if let Some(p) = req
            .ports
            .iter()
            .find(|p| p.host_ip.is_some_and(|h| h.is_ipv6()))
        {
            if v6.is_none() {
                return Err(Error::Invalid(format!(
                    "publishing on {} needs an IPv6 network",
                    p.host_ip.map_or_else(String::new, |h| h.to_string())
                )));
            }
        }
        let ports = resolve_ports(&st, &req.ports)?;
        let rnd = berth_base::id::random_id().map_err(|e| Error::Io {
            op: "read",
            path: "/dev/urandom".into(),
            source: e,
        })?;
        let host_veth = format!(
            "{}{}",
            self.cfg.prefix,
            &rnd[..link::MAX_IFNAME - self.cfg.prefix.len()]
        );
        let mac = match (req.mac, v4) {
            (Some(m), _) => m,
            (None, IpAddr::V4(a)) => link::mac_for(a),
            (None, IpAddr::V6(_)) => [0x02, 0x42, 0, 0, 0, 1],
        };
        let ep = Endpoint {
            endpoint_id: rnd,
            container_id: req.container_id.to_string(),
            name: req.name.to_string(),
            aliases: req.aliases.clone(),
            host_veth,
            ifname: req.ifname.unwrap_or("eth0").to_string(),
            mac: link::format_mac(mac),
            ipv4: Cidr::new(v4, net.ipv4.subnet.prefix)?,
            gateway4: net.ipv4.gateway,
            ipv6: match (v6, &net.ipv6) {
                (Some(a), Some(p)) => Some(Cidr::new(a, p.subnet.prefix)?),
                _ => None,
            },
            gateway6: net.ipv6.as_ref().map(|p| p.gateway),
            ports,
            dns_servers: req.dns_servers.clone(),
        };
        net.endpoints.insert(ep.container_id.clone(), ep.clone());
        // Record first: a crash from here on leaves a known veth that
        // reconcile removes, never an unknown one.
        self.persist(&net, false)?;
        st.nets.insert(id.clone(), net);
        let plugged = self.plug(&mut st, &id, &ep, req.netns);
        if let Err(e) = plugged {
            let rollback = self.forget_endpoint(&mut st, &id, req.container_id);
            return Err(Error::with_rollback(e, rollback));
        }
        Ok(ep)
    }

    fn plug(&self, st: &mut State, id: &str, ep: &Endpoint, netns: &Path) -> Result<()> {
        let net = &st.nets[id];
        let bridge = net.bridge.clone();
        let mtu = net.mtu;
        let mut addrs = vec![(ep.ipv4.addr, ep.ipv4.prefix)];
        let mut gateways = Vec::new();
        if !net.internal {
            gateways.push(ep.gateway4);
        }
        if let Some(v6) = ep.ipv6 {
            addrs.push((v6.addr, v6.prefix));
            if let (Some(g), false) = (ep.gateway6, net.internal) {
                gateways.push(g);
            }
        }
        let br = st
            .nl
            .link_by_name(&bridge)
            .map_err(Error::netlink("list links", &bridge))?
            .ok_or_else(|| Error::NotFound(format!("bridge {bridge}")))?;
        let ns = open_netns(netns).map_err(|e| Error::Io {
            op: "open netns",
            path: netns.to_path_buf(),
            source: e,
        })?;
        link::plug(
            &mut st.nl,
            &ns,
            &ContainerLink {
                bridge: br.index,
                host_name: &ep.host_veth,
                ifname: &ep.ifname,
                mac: link::parse_mac(&ep.mac)?,
                mtu,
                addrs,
                gateways,
            },
        )?;
        if !ep.ports.is_empty() {
            if let Err(e) = self.sync_firewall(st, false) {
                let _ = link::delete_link(&mut st.nl, &ep.host_veth);
                return Err(e);
            }
        }
        self.refresh_dns(st, id);
        Ok(())
    }

    /// `network disconnect` / container stop: removes the veth (if the
    /// namespace still holds it), the ports, the DNS names, and frees the
    /// addresses. Detaching an unknown container is NotFound.
    pub fn detach(&self, network: &str, container_id: &str) -> Result<()> {
        let mut st = self.lock();
        let id = find(&st, network)?;
        let ep = st.nets[&id]
            .endpoints
            .get(container_id)
            .cloned()
            .ok_or_else(|| {
                Error::NotFound(format!("container {container_id} on network {network}"))
            })?;
        let deleted = link::delete_link(&mut st.nl, &ep.host_veth);
        self.forget_endpoint(&mut st, &id, container_id)?;
        deleted.map(|_| ())
    }

    /// Detaches `container_id` from every network it is on.
    pub fn detach_all(&self, container_id: &str) -> Result<()> {
        let ids: Vec<String> = {
            let st = self.lock();
            st.nets
                .values()
                .filter(|n| n.endpoints.contains_key(container_id))
                .map(|n| n.id.clone())
                .collect()
        };
        ids.iter().try_for_each(|id| self.detach(id, container_id))
    }

    /// For a container whose network namespace is gone or going (its last
    /// process exited and its namespace file is unmounted): frees its
    /// addresses, ports and names on every network without deleting its
    /// veths. The kernel removes a veth pair with the namespace of either
    /// end, in the background; deleting it here would cost the caller
    /// ~20 ms of kernel teardown per network on the `run --rm` path.
    /// Veths that do outlive it (the namespace was still held) are removed
    /// by [`Self::reconcile`]; use [`Self::detach_all`] when the namespace
    /// stays, as for `network disconnect`.
    pub fn release_all(&self, container_id: &str) -> Result<()> {
        let mut st = self.lock();
        let ids: Vec<String> = st
            .nets
            .values()
            .filter(|n| n.endpoints.contains_key(container_id))
            .map(|n| n.id.clone())
            .collect();
        ids.iter()
            .try_for_each(|id| self.forget_endpoint(&mut st, id, container_id))
    }

    fn forget_endpoint(&self, st: &mut State, id: &str, container_id: &str) -> Result<()> {
        let mut net = st.nets[id].clone();
        let Some(ep) = net.endpoints.remove(container_id) else {
            return Ok(());
        };
        net.ipv4.release(ep.ipv4.addr);
        if let (Some(p), Some(a)) = (&mut net.ipv6, ep.ipv6) {
            p.release(a.addr);
        }
        self.persist(&net, false)?;
        st.nets.insert(id.to_string(), net);
        self.refresh_dns(st, id);
        if ep.ports.is_empty() {
            return Ok(());
        }
        self.sync_firewall(st, false)?;
        if ep.ports.iter().any(|p| p.proto == Proto::Udp) {
            // After the DNAT rule is gone, so no new entry can appear.
            forget_udp_flows(std::iter::once(ep.ipv4.addr).chain(ep.ipv6.map(|c| c.addr)))?;
        }
        Ok(())
    }

    /// After a daemon start: drops endpoints of containers for which
    /// `is_live` is false (their veth and ports go), deletes links with
    /// berth's prefix that belong to no network or endpoint, and rewrites
    /// the firewall. Returns the names of the links it deleted.
    pub fn reconcile(&self, is_live: &dyn Fn(&str) -> bool) -> Result<Vec<String>> {
        let mut st = self.lock();
        let dead: Vec<(String, String)> = st
            .nets
            .values()
            .flat_map(|n| {
                n.endpoints
                    .keys()
                    .filter(|c| !is_live(c))
                    .map(|c| (n.id.clone(), c.clone()))
            })
            .collect();
        for (id, c) in &dead {
            self.forget_endpoint(&mut st, id, c)?;
        }
        let known: Vec<String> = st
            .nets
            .values()
            .flat_map(|n| {
                std::iter::once(n.bridge.clone())
                    .chain(n.endpoints.values().map(|e| e.host_veth.clone()))
            })
            .collect();
        let links = st
            .nl
            .links()
            .map_err(Error::netlink("list links", "host"))?;
        let mut removed = Vec::new();
        for l in links {
            if l.name.starts_with(&self.cfg.prefix) && !known.contains(&l.name) {
                link::delete_link(&mut st.nl, &l.name)?;
                removed.push(l.name);
            }
        }
        self.sync_firewall(&st, true)?;
        Ok(removed)
    }

    /// Rewrites berth's nft table and the iptables accept rules for its
    /// bridges from the current state. Other software can undo them after
    /// berth set them up: dockerd started later creates DOCKER-USER and
    /// sets the FORWARD policy to DROP, a firewall reload may flush tables.
    /// Cheap enough (two or three helper processes) to call every minute
    /// or when such a service is seen to restart.
    pub fn resync_firewall(&self) -> Result<()> {
        let st = self.lock();
        self.sync_firewall(&st, true)
    }

    /// Removes everything of this manager from the kernel (bridges, veths,
    /// nft table, forward rules, DNS) and forgets all state; for tests and
    /// `berthd --cleanup`.
    pub fn destroy_all(&self) -> Result<()> {
        let mut st = self.lock();
        let nets: Vec<Network> = st.nets.values().cloned().collect();
        let mut first_err = None;
        for net in nets {
            for ep in net.endpoints.values() {
                if let Err(e) = link::delete_link(&mut st.nl, &ep.host_veth) {
                    first_err.get_or_insert(e);
                }
            }
            if let Err(e) = self.teardown(&mut st, &net) {
                first_err.get_or_insert(e);
            }
            st.nets.remove(&net.id);
            let _ = std::fs::remove_file(self.state_path(&net.id));
        }
        if let Err(e) = self.sync_firewall(&st, true) {
            first_err.get_or_insert(e);
        }
        first_err.map_or(Ok(()), Err)
    }

    fn refresh_dns(&self, st: &State, id: &str) {
        if let (Some(net), Some((_, zone))) = (st.nets.get(id), st.dns.get(id)) {
            let fresh = zone_of(net);
            *zone.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        }
    }

    /// Rewrites the nft table; with `bridges_changed`, also the accept rules
    /// in iptables (spawning iptables costs a few ms, and port changes do
    /// not affect them).
    fn sync_firewall(&self, st: &State, bridges_changed: bool) -> Result<()> {
        let mut rs = Ruleset::default();
        let mut fwd = Vec::new();
        for n in st.nets.values() {
            let mut subnets = vec![n.ipv4.subnet];
            subnets.extend(n.ipv6.as_ref().map(|p| p.subnet));
            rs.networks.push(FwNetwork {
                bridge: n.bridge.clone(),
                subnets,
                internal: n.internal,
                dns: n.dns.then_some(n.ipv4.gateway),
            });
            fwd.push(ForwardBridge {
                name: n.bridge.clone(),
                internal: n.internal,
            });
            for ep in n.endpoints.values() {
                for p in &ep.ports {
                    // No host address publishes on both families when the
                    // container has both; an address publishes on its own.
                    let v6 = ep.ipv6.map(|c| c.addr);
                    let targets = match p.host_ip {
                        None => std::iter::once(ep.ipv4.addr).chain(v6).collect(),
                        Some(IpAddr::V4(_)) => vec![ep.ipv4.addr],
                        Some(IpAddr::V6(_)) => v6.into_iter().collect::<Vec<_>>(),
                    };
                    for target in targets {
                        rs.ports.push(FwPort {
                            proto: p.proto,
                            host_ip: p.host_ip,
                            host_port: p.host_port,
                            container_ip: target,
                            container_port: p.container_port,
                        });
                    }
                }
            }
        }
        // The first write of a process replaces the table whole (a crash or
        // an older berth may have left another layout); later ones refill it.
        let fresh = !st.fw_loaded.swap(true, std::sync::atomic::Ordering::SeqCst);
        nft::apply(&self.cfg.nft_table, &rs, fresh)?;
        if bridges_changed {
            hostfw::sync(&self.cfg.nft_table, &fwd)?;
        }
        Ok(())
    }

    /// Removes a network's state file; a missing one is fine.
    fn forget_state(&self, id: &str) -> Result<()> {
        let path = self.state_path(id);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io {
                op: "remove",
                path,
                source: e,
            }),
            _ => Ok(()),
        }
    }

    fn state_path(&self, id: &str) -> PathBuf {
        self.cfg
            .state_dir
            .join("networks")
            .join(format!("{id}.json"))
    }

    /// Writes the network's state file by rename, so that a crash of the
    /// daemon at any instant leaves the old or the new version. A network's
    /// own creation is also made `durable` (fsync), since it must survive a
    /// reboot. Endpoint changes are not: their veths and namespaces do not
    /// survive a power loss either, and after one, reconcile releases every
    /// endpoint of the file, whichever version it holds. Skipping the two
    /// fsyncs keeps an attach at a few ms on a busy disk instead of tens.
    fn persist(&self, net: &Network, durable: bool) -> Result<()> {
        let path = self.state_path(&net.id);
        let data = serde_json::to_vec_pretty(net).map_err(|source| Error::State {
            path: path.clone(),
            source,
        })?;
        let io = |source| Error::Io {
            op: "write",
            path: path.clone(),
            source,
        };
        if durable {
            return berth_base::fsutil::atomic_write(&path, &data, 0o600).map_err(io);
        }
        let tmp = path.with_extension("json.tmp");
        let written = write_private(&tmp, &data).and_then(|()| std::fs::rename(&tmp, &path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map_err(io)
    }
}

/// Creates or truncates `path` with mode 0600 and writes `data`.
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?
        .write_all(data)
}

/// Resolves a network name, full id or unique id prefix to its id.
fn find(st: &State, network: &str) -> Result<String> {
    if let Some(n) = st
        .nets
        .values()
        .find(|n| n.name == network || n.id == network)
    {
        return Ok(n.id.clone());
    }
    let matches: Vec<&Network> = st
        .nets
        .values()
        .filter(|n| n.id.starts_with(network))
        .collect();
    match matches.as_slice() {
        [n] if !network.is_empty() => Ok(n.id.clone()),
        [] | [_] => Err(Error::NotFound(format!("network {network}"))),
        _ => Err(Error::Conflict(format!(
            "network id prefix {network} is ambiguous"
        ))),
    }
}

/// What the network's DNS server answers: container names, aliases and
/// short ids, and the `--dns` resolvers of containers that have their own.
fn zone_of(net: &Network) -> Zone {
    let mut upstreams = HashMap::new();
    for ep in net.endpoints.values() {
        if !ep.dns_servers.is_empty() {
            let ups = ep
                .dns_servers
                .iter()
                .map(|ip| SocketAddr::new(*ip, 53))
                .collect();
            upstreams.insert(ep.ipv4.addr, ups);
        }
    }
    Zone {
        names: names_of(net),
        upstreams,
    }
}

/// The DNS names of a network: container names, aliases and short ids,
/// each also qualified with the network's name.
fn names_of(net: &Network) -> Names {
    let mut names = Names::new();
    for ep in net.endpoints.values() {
        let mut addrs = vec![ep.ipv4.addr];
        addrs.extend(ep.ipv6.map(|c| c.addr));
        let short = &ep.container_id[..ep.container_id.len().min(12)];
        for n in std::iter::once(ep.name.as_str())
            .chain(ep.aliases.iter().map(String::as_str))
            .chain(std::iter::once(short))
        {
            if n.is_empty() {
                continue;
            }
            // Docker also answers `<name>.<network>`.
            let qualified = format!("{n}.{}", net.name);
            for key in [n.to_ascii_lowercase(), qualified.to_ascii_lowercase()] {
                names.entry(key).or_default().extend(addrs.iter().copied());
            }
        }
    }
    names
}

/// Turns port requests into bindings: a fixed port must not be published
/// already; 0 or a range takes the first port that no other binding uses
/// and that no host socket holds now.
fn resolve_ports(st: &State, reqs: &[PortRequest]) -> Result<Vec<PortBinding>> {
    let mut used: Vec<PortBinding> = st
        .nets
        .values()
        .flat_map(|n| n.endpoints.values().flat_map(|e| e.ports.iter().copied()))
        .collect();
    let clash = |used: &[PortBinding], proto: Proto, host_ip: Option<IpAddr>, port: u16| {
        used.iter().any(|u| {
            u.proto == proto
                && u.host_port == port
                && (u.host_ip.is_none() || host_ip.is_none() || u.host_ip == host_ip)
        })
    };
    let mut out = Vec::new();
    for r in reqs {
        if r.container_port == 0 {
            return Err(Error::Invalid(
                "container port 0 cannot be published".into(),
            ));
        }
        let port = if r.host_port != 0 && (r.host_port_end == 0 || r.host_port_end == r.host_port) {
            if clash(&used, r.proto, r.host_ip, r.host_port) {
                return Err(Error::Conflict(format!(
                    "port {}/{} is already allocated",
                    r.host_port,
                    r.proto.as_str()
                )));
            }
            r.host_port
        } else {
            let (lo, hi) = if r.host_port == 0 {
                (49153, 60999)
            } else {
                (r.host_port, r.host_port_end.max(r.host_port))
            };
            (lo..=hi)
                .find(|&p| !clash(&used, r.proto, r.host_ip, p) && bindable(r.proto, r.host_ip, p))
                .ok_or_else(|| Error::Exhausted(format!("no free host port in {lo}-{hi}")))?
        };
        let b = PortBinding {
            proto: r.proto,
            host_ip: r.host_ip,
            host_port: port,
            container_port: r.container_port,
        };
        used.push(b);
        out.push(b);
    }
    Ok(out)
}

/// Whether no host socket holds `port` now (a DNAT would hide it).
fn bindable(proto: Proto, host_ip: Option<IpAddr>, port: u16) -> bool {
    let ip = host_ip.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    match proto {
        Proto::Tcp => std::net::TcpListener::bind((ip, port)).is_ok(),
        Proto::Udp => std::net::UdpSocket::bind((ip, port)).is_ok(),
        Proto::Sctp => true,
    }
}

/// Drops the UDP conntrack entries NATed to `addrs` (see
/// [`Netlink::delete_conntrack_to`]), as docker does when it unpublishes.
fn forget_udp_flows(addrs: impl Iterator<Item = IpAddr>) -> Result<()> {
    const IPPROTO_UDP: u8 = 17;
    let mut nf = Netlink::open_netfilter().map_err(Error::netlink("open socket", "conntrack"))?;
    for a in addrs {
        nf.delete_conntrack_to(a, IPPROTO_UDP)
            .map_err(Error::netlink("delete conntrack entries to", a.to_string()))?;
    }
    Ok(())
}

fn write_sysctl(key: &str, value: &str) -> Result<()> {
    let path = Path::new("/proc/sys").join(key);
    std::fs::write(&path, value).map_err(|e| Error::Io {
        op: "write",
        path,
        source: e,
    })
}

/// Turns on IP forwarding when it is off: bridged containers cannot reach
/// anything past the host without it. This is the one host-wide setting
/// berth changes (docker does the same); it is logged and never turned
/// back off, since other software may rely on it by then.
///
/// IPv6 forwarding has a side effect: interfaces with `accept_ra=1` stop
/// taking router advertisements, and a host configured by them would lose
/// its IPv6 default route. Those interfaces are moved to `accept_ra=2`
/// (accept even when forwarding) first, which keeps them as they were.
fn enable_forwarding(v6: bool) -> Result<()> {
    let v4 = "net/ipv4/ip_forward";
    if read_sysctl(v4).as_deref() == Some("0") {
        tracing::info!(sysctl = v4, "enabling IP forwarding for bridge networks");
        write_sysctl(v4, "1")?;
    }
    let all = "net/ipv6/conf/all/forwarding";
    if !v6 || read_sysctl(all).as_deref() != Some("0") {
        return Ok(());
    }
    let conf = Path::new("/proc/sys/net/ipv6/conf");
    let rd = std::fs::read_dir(conf).map_err(|e| Error::Io {
        op: "read dir",
        path: conf.to_path_buf(),
        source: e,
    })?;
    for entry in rd.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let key = format!("net/ipv6/conf/{name}/accept_ra");
        if name != "all" && read_sysctl(&key).as_deref() == Some("1") {
            tracing::info!(sysctl = %key, "keeping router advertisements with IPv6 forwarding on");
            write_sysctl(&key, "2")?;
        }
    }
    tracing::info!(sysctl = all, "enabling IPv6 forwarding for bridge networks");
    write_sysctl(all, "1")
}

fn read_sysctl(key: &str) -> Option<String> {
    std::fs::read_to_string(Path::new("/proc/sys").join(key))
        .ok()
        .map(|v| v.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(id: &str, name: &str, ip: &str, aliases: &[&str]) -> Endpoint {
        Endpoint {
            endpoint_id: "e".into(),
            container_id: id.into(),
            name: name.into(),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
            host_veth: "v".into(),
            ifname: "eth0".into(),
            mac: "02:42:00:00:00:00".into(),
            ipv4: format!("{ip}/16").parse().unwrap(),
            gateway4: "172.18.0.1".parse().unwrap(),
            ipv6: None,
            gateway6: None,
            ports: vec![],
            dns_servers: vec![],
        }
    }

    #[test]
    fn names_cover_name_alias_and_short_id() {
        let mut net = Network {
            id: "n".into(),
            name: "n".into(),
            bridge: "b".into(),
            internal: false,
            mtu: None,
            dns: true,
            created: 0,
            labels: BTreeMap::new(),
            options: BTreeMap::new(),
            ipv4: SubnetPool::new("172.18.0.0/16".parse().unwrap(), None, None).unwrap(),
            ipv6: None,
            endpoints: BTreeMap::new(),
        };
        let id = "0123456789abcdef0123";
        net.endpoints
            .insert(id.into(), ep(id, "Web", "172.18.0.2", &["api"]));
        let names = names_of(&net);
        let want = vec!["172.18.0.2".parse::<IpAddr>().unwrap()];
        assert_eq!(names.get("web"), Some(&want));
        assert_eq!(names.get("api"), Some(&want));
        assert_eq!(names.get("0123456789ab"), Some(&want));
        assert_eq!(names.get("web.n"), Some(&want));
    }
}
