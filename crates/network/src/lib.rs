//! Container networking for berth: bridges and veth pairs through netlink,
//! IP address management, NAT and port publishing in an nftables table of
//! berth's own, an embedded DNS server per user-defined network, and the
//! per-container /etc/hosts, /etc/hostname and /etc/resolv.conf.
//!
//! # Using it from the engine
//!
//! One [`NetworkManager`] per daemon; all calls are blocking (a few ms;
//! call them from `spawn_blocking` in async code) and thread-safe.
//!
//! ```no_run
//! use berth_network::{files, AttachRequest, Config, NetworkManager, NetworkSpec, PortRequest, Proto};
//! # fn main() -> berth_network::Result<()> {
//! // Daemon start: load state, restore bridges/nft/DNS, then drop what
//! // belongs to containers that died while the daemon was down.
//! let mgr = NetworkManager::open(Config::new("/var/lib/berth/network"))?;
//! mgr.ensure_default()?; // network "bridge" on berth0, 172.17.0.0/16
//! mgr.reconcile(&|container_id| container_id.is_empty() /* is it alive? */)?;
//!
//! // `network create` (user-defined networks get the embedded DNS).
//! mgr.create(NetworkSpec { name: "web".into(), dns: true, ..Default::default() })?;
//!
//! // Container start, once its network namespace exists (the runtime's
//! // init pid, or a bind-mounted namespace file) and before the user
//! // process runs:
//! let ep = mgr.attach(AttachRequest {
//!     network: "web",
//!     container_id: "0123456789ab…",
//!     name: "db",
//!     aliases: vec!["database".into()],
//!     netns: std::path::Path::new("/proc/4242/ns/net"),
//!     ifname: None, // eth0; pass "eth1"… for further networks
//!     ipv4: None,   // or Some(--ip)
//!     ipv6: None,
//!     mac: None,    // or Some(--mac-address)
//!     ports: vec![PortRequest { proto: Proto::Tcp, host_ip: None, host_port: 8080,
//!                               host_port_end: 0, container_port: 80 }],
//!     dns_servers: vec![], // --dns; the embedded DNS forwards there
//! })?;
//! // ep.ipv4, ep.gateway4, ep.mac, ep.ports (random host ports resolved)
//! // fill NetworkSettings.Networks.<name> and NetworkSettings.Ports.
//!
//! // Files to bind-mount, written into containers/<id>/:
//! let host_rc = files::parse_resolv_conf(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default());
//! let net = mgr.inspect("web")?;
//! let embedded = net.dns.then_some(net.ipv4.gateway);
//! let resolv = files::resolv_conf(&host_rc, embedded, &files::DnsOverrides::default());
//! let hosts = files::hosts("0123456789ab", &[], &[ep.ipv4.addr], &[]);
//! # let _ = (resolv, hosts);
//!
//! // Container exit, once its namespace is unmounted (fast: the kernel
//! // removes the veth with the namespace):
//! mgr.release_all("0123456789ab…")?;
//! // `network disconnect` of a running container (deletes the veth):
//! # let _ = || -> berth_network::Result<()> {
//! mgr.detach_all("0123456789ab…")?;
//! # Ok(()) };
//! // `network rm`:
//! mgr.remove("web")?;
//! # Ok(()) }
//! ```
//!
//! [`netns`] makes named network namespaces (bound on a file, as `ip netns
//! add` does) so that a container's network can be set up before its
//! first process exists.
//!
//! Other drivers need nothing from this crate: `--network host` keeps the
//! host namespace, `none` gets a fresh namespace with only `lo`, and
//! `container:<id>` joins the other container's namespace (the runtime
//! does all three through the OCI spec's namespaces).
//!
//! # Kernel objects and their names
//!
//! With the default [`Config`]: bridges `berth0` (default network) and
//! `berth-<id>` (others, unless `com.docker.network.bridge.name` is given),
//! host veth ends `berth<hex>`, nftables table `inet berth`, iptables
//! accept rules tagged `berth:berth:<bridge>` (only when iptables' FORWARD
//! policy drops, see [`hostfw`]). State: `<state_dir>/networks/<id>.json`.
//! [`NetworkManager::reconcile`] removes links with the prefix that no
//! network or endpoint owns, and rewrites the table and rules from state.
//!
//! Host-wide settings: `net.ipv4.ip_forward` (and IPv6 forwarding for IPv6
//! networks) is turned on when off, as docker does, and logged; before IPv6
//! forwarding, interfaces with `accept_ra=1` get `accept_ra=2`, so the host
//! keeps its router advertisements. Per bridge: `route_localnet=1`, so
//! published ports answer on 127.0.0.1. Policies are never changed.
//!
//! Other software may undo berth's rules later (dockerd started after
//! berthd sets iptables' FORWARD policy to DROP); call
//! [`NetworkManager::resync_firewall`] periodically (say every minute) to
//! put them back. Detaching an endpoint with UDP ports also drops its UDP
//! conntrack entries, so a client that keeps its source port follows the
//! port to its next container.
//!
//! Costs (2-core VM under load): an attach without ports is about 2 ms
//! (one veth message, a socket in the container's namespace, addresses,
//! routes; the state file is renamed into place without fsync, see
//! `persist`); a published port adds one `nft -f` transaction, 10–40 ms.
//!
//! # DNS
//!
//! The embedded server listens on the network's gateway address, port 53,
//! in the host namespace (not docker's 127.0.0.11 inside the container:
//! no per-container DNAT is needed, and the host's loopback resolvers work
//! as upstreams). Container names, aliases and 12-character ids resolve to
//! the container's addresses on that network only.
#![forbid(unsafe_code)]

pub mod dns;
pub mod error;
pub mod files;
pub mod hostfw;
pub mod ipam;
pub mod link;
pub mod manager;
pub mod netlink;
pub mod netns;
pub mod nft;

pub use error::{Error, Result};
pub use manager::{
    AttachRequest, Config, Endpoint, Network, NetworkManager, NetworkSpec, PortBinding,
    PortRequest, SubnetSpec,
};
pub use nft::Proto;
