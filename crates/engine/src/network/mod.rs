//! The network service: `network create/ls/inspect/rm/prune/connect/
//! disconnect` over berth-network's [`NetworkManager`], the predefined
//! networks `bridge`, `host` and `none`, and (in [`container`]) what a
//! container's create, start, stop and removal need from networking.
//!
//! # Kernel object names
//!
//! A daemon with the default exec root (`/run/berth`) names its objects
//! `berth0`, `berth-<id>`, `berth<hex>` and nft table `inet berth`. Any
//! other exec root gets a prefix of its own, `bt<4 hex of the exec root>`
//! (table `berth_bt…`), so test daemons and a second daemon never touch
//! each other's links or rules (each one's reconcile removes unknown links
//! with its prefix).

pub mod container;
pub mod hooks;

use crate::events::{Event, Events};
use crate::{Config, Error, Result};
use berth_network::ipam::Cidr;
use berth_network::{Network, NetworkManager, NetworkSpec, SubnetSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// The predefined networks that are not bridges.
const HOST: &str = "host";
const NONE: &str = "none";
/// The default bridge network.
pub const DEFAULT_BRIDGE: &str = "bridge";
/// The driver option naming a bridge.
const BRIDGE_NAME_OPT: &str = "com.docker.network.bridge.name";

/// `network create`, as the API asks for it.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub name: String,
    /// `bridge` (default) is the only driver that can be created.
    pub driver: String,
    pub internal: bool,
    pub enable_ipv6: bool,
    /// IPAM configs: at most one per address family.
    pub ipam: Vec<IpamConfig>,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// Fail when a network of this name exists (always true in docker ≥ 1.44).
    pub check_duplicate: bool,
}

/// One subnet of docker's `IPAM.Config`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subnet: String,
    #[serde(rename = "IPRange", default, skip_serializing_if = "String::is_empty")]
    pub ip_range: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gateway: String,
}

/// docker's `IPAM` object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ipam {
    pub driver: String,
    pub options: Option<BTreeMap<String, String>>,
    pub config: Vec<IpamConfig>,
}

/// A container on a network, in `network inspect`'s `Containers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointResource {
    pub name: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub mac_address: String,
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
}

/// `ConfigFrom` (always empty: berth has no config-only networks).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigFrom {
    pub network: String,
}

/// A network as `network inspect` and `GET /networks` show it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkResource {
    pub name: String,
    #[serde(rename = "Id")]
    pub id: String,
    /// RFC 3339 with nanoseconds.
    pub created: String,
    pub scope: String,
    pub driver: String,
    #[serde(rename = "EnableIPv4")]
    pub enable_ipv4: bool,
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
    pub internal: bool,
    pub attachable: bool,
    pub ingress: bool,
    pub config_from: ConfigFrom,
    pub config_only: bool,
    pub containers: BTreeMap<String, EndpointResource>,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// What `network prune` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub deleted: Vec<String>,
}

/// The network service of one daemon.
pub struct Networks {
    /// Opened on first use (see [`Networks::open`]).
    mgr: OnceLock<NetworkManager>,
    mgr_config: berth_network::Config,
    init: Mutex<()>,
    plans_lock: Mutex<()>,
    events: Arc<Events>,
    /// `<exec-root>/netns`: one bound namespace per started container.
    netns_dir: PathBuf,
    /// Namespaces made ahead of the starts that take them.
    netns_pool: berth_network::netns::Pool,
    /// `<data-root>/network/containers`: each container's network plan.
    plans_dir: PathBuf,
    /// `<data-root>/containers`: where /etc/hosts and friends are written.
    containers_dir: PathBuf,
    /// Ids of `host` and `none`, stable per data root.
    host_id: String,
    none_id: String,
}

impl std::fmt::Debug for Networks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Networks")
            .field("netns_dir", &self.netns_dir)
            .finish()
    }
}

/// The link prefix and nft table for a daemon whose exec root is `exec_root`.
pub fn kernel_names(exec_root: &Path) -> (String, String) {
    let canon = std::fs::canonicalize(exec_root).unwrap_or_else(|_| exec_root.to_owned());
    if canon == Path::new("/run/berth") {
        return ("berth".into(), "berth".into());
    }
    let hex = sha256_hex(canon.as_os_str().as_encoded_bytes());
    let prefix = format!("bt{}", &hex[..4]);
    let table = format!("berth_{prefix}");
    (prefix, table)
}

fn sha256_hex(data: &[u8]) -> String {
    berth_base::digest::Digest::of(data).hex().to_owned()
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |e| Error::Io { context, source: e }
}

impl Networks {
    /// Opens the networks of a daemon (state under `<data-root>/network`).
    /// The kernel side (the default `bridge` network, the nft table, and
    /// the removal of what containers that are gone left behind) is set up
    /// now if this data root has networks already, else on first use, so
    /// an engine that never runs a container touches no host state.
    pub fn open(config: &Config, events: Arc<Events>) -> Result<Self> {
        let state = config.data_root.join("network");
        let (prefix, table) = kernel_names(&config.exec_root);
        let mut nc = berth_network::Config::new(&state);
        nc.prefix = prefix;
        nc.nft_table = table;
        let netns_dir = config.exec_root.join("netns");
        let plans_dir = state.join("containers");
        std::fs::create_dir_all(&plans_dir)
            .map_err(io(format!("create {}", plans_dir.display())))?;
        let seed = config.data_root.to_string_lossy().into_owned();
        let n = Networks {
            mgr: OnceLock::new(),
            mgr_config: nc,
            init: Mutex::new(()),
            plans_lock: Mutex::new(()),
            events,
            host_id: sha256_hex(format!("host\0{seed}").as_bytes()),
            none_id: sha256_hex(format!("none\0{seed}").as_bytes()),
            netns_pool: berth_network::netns::Pool::new(&netns_dir),
            netns_dir,
            plans_dir,
            containers_dir: config.data_root.join("containers"),
        };
        let used =
            std::fs::read_dir(state.join("networks")).is_ok_and(|mut rd| rd.next().is_some());
        if used {
            n.mgr()?;
        }
        Ok(n)
    }

    /// The manager, opened (state restored in the kernel, default network
    /// made, crash leftovers removed) on first use.
    fn mgr(&self) -> Result<&NetworkManager> {
        if let Some(m) = self.mgr.get() {
            return Ok(m);
        }
        let _g = self.init.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = self.mgr.get() {
            return Ok(m);
        }
        let m = NetworkManager::open(self.mgr_config.clone())?;
        // A container whose bound namespace is gone (a reboot, or a crash
        // between its exit and its cleanup) has nothing left to keep; links
        // of ours that no state knows (a data root wiped while the exec
        // root stayed) go before the default bridge is made afresh.
        let removed =
            m.reconcile(&|id| berth_network::netns::is_bound(&self.netns_dir.join(id)))?;
        if !removed.is_empty() {
            tracing::info!(links = ?removed, "removed network links left by a crash");
        }
        m.ensure_default()?;
        Ok(self.mgr.get_or_init(|| m))
    }

    fn publish(&self, action: &str, id: &str, name: &str, container: Option<&str>) {
        let mut attrs = BTreeMap::new();
        attrs.insert("name".to_owned(), name.to_owned());
        attrs.insert("type".to_owned(), self.driver_of(name).to_owned());
        if let Some(c) = container {
            attrs.insert("container".to_owned(), c.to_owned());
        }
        self.events
            .publish(Event::new("network", action, id, attrs));
    }

    fn driver_of(&self, name: &str) -> &'static str {
        match name {
            HOST => "host",
            NONE => "null",
            _ => "bridge",
        }
    }

    /// The berth-network manager (for tests and `system` tools).
    pub fn manager(&self) -> Result<&NetworkManager> {
        self.mgr()
    }

    /// Removes every kernel object of this daemon's networks (bridges,
    /// veths, nft table, forward rules) and their state, if networking was
    /// ever used; for tests and uninstalling.
    pub fn destroy_all(&self) -> Result<()> {
        match self.mgr.get() {
            Some(m) => Ok(m.destroy_all()?),
            None => Ok(()),
        }
    }

    /// `network create`; returns the new network's id.
    pub fn create(&self, req: CreateRequest) -> Result<String> {
        if req.name.is_empty() {
            return Err(Error::Invalid("network name is empty".into()));
        }
        if matches!(req.name.as_str(), HOST | NONE | DEFAULT_BRIDGE) {
            return Err(Error::Conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        match req.driver.as_str() {
            "" | "bridge" => {}
            d => {
                return Err(Error::Invalid(format!(
                    "network driver {d:?} is not supported: berth creates bridge networks \
                     (host and none exist already)"
                )))
            }
        }
        let mut ipv4 = SubnetSpec::default();
        let mut ipv6: Option<SubnetSpec> = None;
        for c in &req.ipam {
            let spec = subnet_spec(c)?;
            let v6 = spec.subnet.is_some_and(|s| !s.is_v4())
                || spec.gateway.is_some_and(|g| g.is_ipv6());
            if v6 {
                if !req.enable_ipv6 {
                    return Err(Error::Invalid(format!(
                        "IPv6 subnet {} needs --ipv6",
                        c.subnet
                    )));
                }
                if ipv6.replace(spec).is_some() {
                    return Err(Error::Invalid("only one IPv6 subnet per network".into()));
                }
            } else if ipv4 != SubnetSpec::default() {
                return Err(Error::Invalid("only one IPv4 subnet per network".into()));
            } else {
                ipv4 = spec;
            }
        }
        if req.enable_ipv6 && ipv6.is_none() {
            return Err(Error::Invalid(
                "an IPv6 network needs an IPv6 --subnet (berth has no IPv6 pool)".into(),
            ));
        }
        let mtu = match req.options.get("com.docker.network.driver.mtu") {
            Some(m) => Some(
                m.parse()
                    .map_err(|_| Error::Invalid(format!("invalid mtu {m:?}")))?,
            ),
            None => None,
        };
        let net = self.mgr()?.create(NetworkSpec {
            name: req.name.clone(),
            id: None,
            bridge: req.options.get(BRIDGE_NAME_OPT).cloned(),
            internal: req.internal,
            ipv4,
            ipv6,
            mtu,
            dns: true,
            labels: req.labels,
            options: req.options,
        })?;
        self.publish("create", &net.id, &net.name, None);
        Ok(net.id)
    }

    /// All networks, predefined ones included, filtered as `network ls`
    /// does: `driver`, `id` (prefix), `label` (`k` or `k=v`), `name`
    /// (substring), `scope`, `type` (`custom`/`builtin`), `dangling`.
    pub fn list(&self, filters: &BTreeMap<String, Vec<String>>) -> Result<Vec<NetworkResource>> {
        for k in filters.keys() {
            if !matches!(
                k.as_str(),
                "driver" | "id" | "label" | "name" | "scope" | "type" | "dangling"
            ) {
                return Err(Error::Invalid(format!("invalid filter '{k}'")));
            }
        }
        let all = self.all()?;
        Ok(all.into_iter().filter(|n| matches(n, filters)).collect())
    }

    fn all(&self) -> Result<Vec<NetworkResource>> {
        let mut out: Vec<NetworkResource> = self
            .mgr()?
            .list()
            .iter()
            .map(|n| self.resource(n))
            .collect();
        out.push(self.predefined(HOST)?);
        out.push(self.predefined(NONE)?);
        Ok(out)
    }

    /// `network inspect`: by name, id or unique id prefix.
    pub fn inspect(&self, name: &str) -> Result<NetworkResource> {
        if name.is_empty() {
            return Err(no_such(name));
        }
        // The bridges first, without reading the container plans that the
        // predefined networks' views need: this runs at every create.
        let ids = [(HOST, &self.host_id), (NONE, &self.none_id)];
        if let Some((p, _)) = ids.iter().find(|(p, id)| *p == name || id.as_str() == name) {
            return self.predefined(p);
        }
        let bridges = self.mgr()?.list();
        if let Some(n) = bridges.iter().find(|n| n.name == name || n.id == name) {
            return Ok(self.resource(n));
        }
        let mut hits: Vec<String> = bridges
            .iter()
            .filter(|n| n.id.starts_with(name))
            .map(|n| n.id.clone())
            .collect();
        hits.extend(
            ids.iter()
                .filter(|(_, id)| id.starts_with(name))
                .map(|(p, _)| (*p).to_owned()),
        );
        match hits.as_slice() {
            [one] => self.inspect(one),
            [] => Err(no_such(name)),
            _ => Err(Error::Invalid(format!(
                "network {name} is ambiguous ({} matches found based on ID prefix)",
                hits.len()
            ))),
        }
    }

    fn predefined(&self, name: &str) -> Result<NetworkResource> {
        let id = if name == HOST {
            &self.host_id
        } else {
            &self.none_id
        };
        let mut containers = BTreeMap::new();
        for p in container::plans(&self.plans_dir)? {
            if p.active && p.mode == name {
                containers.insert(
                    p.id.clone(),
                    EndpointResource {
                        name: p.name.clone(),
                        ..Default::default()
                    },
                );
            }
        }
        Ok(NetworkResource {
            name: name.into(),
            id: id.clone(),
            created: berth_base::time::format_rfc3339_nano(0),
            scope: "local".into(),
            driver: self.driver_of(name).into(),
            enable_ipv4: name == HOST,
            ipam: Ipam {
                driver: "default".into(),
                ..Default::default()
            },
            containers,
            ..Default::default()
        })
    }

    fn resource(&self, n: &Network) -> NetworkResource {
        let mut config = vec![pool_config(&n.ipv4)];
        config.extend(n.ipv6.as_ref().map(pool_config));
        let mut options = n.options.clone();
        if n.name == DEFAULT_BRIDGE {
            // docker shows its default bridge's settings this way.
            options.insert(BRIDGE_NAME_OPT.into(), n.bridge.clone());
            options.insert(
                "com.docker.network.bridge.default_bridge".into(),
                "true".into(),
            );
            options.insert("com.docker.network.bridge.enable_icc".into(), "true".into());
            options.insert(
                "com.docker.network.bridge.enable_ip_masquerade".into(),
                "true".into(),
            );
        }
        NetworkResource {
            name: n.name.clone(),
            id: n.id.clone(),
            created: berth_base::time::format_rfc3339_nano(
                i64::try_from(n.created)
                    .unwrap_or(0)
                    .saturating_mul(1_000_000_000),
            ),
            scope: "local".into(),
            driver: "bridge".into(),
            enable_ipv4: true,
            enable_ipv6: n.ipv6.is_some(),
            ipam: Ipam {
                driver: "default".into(),
                options: (n.name != DEFAULT_BRIDGE).then(BTreeMap::new),
                config,
            },
            internal: n.internal,
            attachable: false,
            ingress: false,
            config_from: ConfigFrom::default(),
            config_only: false,
            containers: n
                .endpoints
                .values()
                .map(|e| {
                    (
                        e.container_id.clone(),
                        EndpointResource {
                            name: e.name.clone(),
                            endpoint_id: e.endpoint_id.clone(),
                            mac_address: e.mac.clone(),
                            ipv4_address: e.ipv4.to_string(),
                            ipv6_address: e.ipv6.map(|c| c.to_string()).unwrap_or_default(),
                        },
                    )
                })
                .collect(),
            options,
            labels: n.labels.clone(),
        }
    }

    /// `network rm`: refused for the predefined networks and while
    /// containers are attached.
    pub fn remove(&self, name: &str) -> Result<()> {
        let n = self.inspect(name)?;
        if matches!(n.name.as_str(), HOST | NONE | DEFAULT_BRIDGE) {
            return Err(Error::Invalid(format!(
                "{} is a pre-defined network and cannot be removed",
                n.name
            )));
        }
        if let Some(c) = n.containers.values().next() {
            return Err(Error::Conflict(format!(
                "error while removing network: network {} id {} has active endpoints ({})",
                n.name, n.id, c.name
            )));
        }
        self.mgr()?.remove(&n.id)?;
        self.publish("destroy", &n.id, &n.name, None);
        Ok(())
    }

    /// `network prune`: removes user-defined networks that no container
    /// uses or is configured to use. Filters: `until`, `label`, `label!`.
    pub fn prune(&self, filters: &BTreeMap<String, Vec<String>>) -> Result<PruneReport> {
        for k in filters.keys() {
            if !matches!(k.as_str(), "until" | "label" | "label!") {
                return Err(Error::Invalid(format!("invalid filter '{k}'")));
            }
        }
        let until = match filters.get("until").and_then(|v| v.first()) {
            Some(u) => Some(parse_until(u)?),
            None => None,
        };
        let planned: Vec<String> = container::plans(&self.plans_dir)?
            .into_iter()
            .flat_map(|p| p.endpoints.into_iter().map(|e| e.network_id))
            .collect();
        let mut report = PruneReport::default();
        for n in self.mgr()?.list() {
            if n.name == DEFAULT_BRIDGE || !n.endpoints.is_empty() || planned.contains(&n.id) {
                continue;
            }
            if until.is_some_and(|u| i64::try_from(n.created).unwrap_or(0) >= u) {
                continue;
            }
            if !labels_match(&n.labels, filters.get("label"), true)
                || !labels_match(&n.labels, filters.get("label!"), false)
            {
                continue;
            }
            match self.mgr()?.remove(&n.id) {
                Ok(()) => {
                    self.publish("destroy", &n.id, &n.name, None);
                    report.deleted.push(n.name.clone());
                }
                Err(e) if e.kind() == berth_base::ErrorKind::Conflict => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(report)
    }
}

/// A daemon that stops with no container attached anywhere takes its
/// bridges, nft table and forward rules out of the kernel (the state stays,
/// and [`Networks::open`] brings them back at the next start): a stopped
/// berth leaves nothing on the host. With containers still running (they
/// outlive the daemon), everything stays for them.
impl Drop for Networks {
    fn drop(&mut self) {
        let Some(m) = self.mgr.get() else { return };
        let nets = m.list();
        if nets.iter().any(|n| !n.endpoints.is_empty()) {
            return;
        }
        let unloaded = berth_network::netlink::Netlink::open()
            .map_err(|e| berth_network::Error::Io {
                op: "open netlink socket",
                path: "netlink".into(),
                source: e,
            })
            .and_then(|mut nl| {
                nets.iter().try_for_each(|n| {
                    berth_network::link::delete_link(&mut nl, &n.bridge).map(drop)
                })
            })
            .and_then(|()| {
                let table = &self.mgr_config.nft_table;
                berth_network::nft::apply(table, &berth_network::nft::Ruleset::default(), true)?;
                berth_network::hostfw::sync(table, &[])
            });
        if let Err(e) = unloaded {
            tracing::warn!(error = %e, "removing idle networks from the kernel at shutdown");
        }
    }
}

fn no_such(name: &str) -> Error {
    Error::Network(berth_network::Error::NotFound(format!("network {name}")))
}

/// Parses `until` as docker does: Unix seconds or RFC 3339; returns seconds.
fn parse_until(u: &str) -> Result<i64> {
    if let Ok(s) = u.parse::<i64>() {
        return Ok(s);
    }
    if let Ok(f) = u.parse::<f64>() {
        return Ok(f as i64);
    }
    berth_base::time::parse_rfc3339(u)
        .map(|n| n / 1_000_000_000)
        .ok_or_else(|| Error::Invalid(format!("invalid until filter {u:?}")))
}

fn pool_config(p: &berth_network::ipam::SubnetPool) -> IpamConfig {
    IpamConfig {
        subnet: p.subnet.to_string(),
        ip_range: p.ip_range.map(|r| r.to_string()).unwrap_or_default(),
        gateway: p.gateway.to_string(),
    }
}

fn subnet_spec(c: &IpamConfig) -> Result<SubnetSpec> {
    let cidr = |s: &str, what: &str| -> Result<Option<Cidr>> {
        if s.is_empty() {
            return Ok(None);
        }
        s.parse::<Cidr>()
            .map(Some)
            .map_err(|_| Error::Invalid(format!("invalid {what} {s:?}: want an address/prefix")))
    };
    let gateway = match c.gateway.as_str() {
        "" => None,
        g => Some(
            g.parse::<IpAddr>()
                .map_err(|_| Error::Invalid(format!("invalid gateway address {g:?}")))?,
        ),
    };
    let subnet = cidr(&c.subnet, "subnet")?;
    let ip_range = cidr(&c.ip_range, "ip-range")?;
    if subnet.is_none() && (ip_range.is_some() || gateway.is_some()) {
        return Err(Error::Invalid(
            "--gateway and --ip-range need a --subnet".into(),
        ));
    }
    Ok(SubnetSpec {
        subnet: subnet.map(|s| s.network()),
        gateway,
        ip_range,
    })
}

/// Whether `labels` satisfy every `k` / `k=v` (or none of them, for `label!`).
fn labels_match(labels: &BTreeMap<String, String>, want: Option<&Vec<String>>, all: bool) -> bool {
    let Some(want) = want else { return true };
    let hit = |w: &String| match w.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(w),
    };
    if all {
        want.iter().all(hit)
    } else {
        !want.iter().any(hit)
    }
}

fn matches(n: &NetworkResource, f: &BTreeMap<String, Vec<String>>) -> bool {
    let any = |k: &str, ok: &dyn Fn(&str) -> bool| f.get(k).is_none_or(|v| v.iter().any(|x| ok(x)));
    let builtin = matches!(n.name.as_str(), HOST | NONE | DEFAULT_BRIDGE);
    any("driver", &|d| d == n.driver)
        && any("id", &|i| n.id.starts_with(i))
        && any("name", &|s| n.name.contains(s))
        && any("scope", &|s| s == n.scope)
        && any("type", &|t| {
            (t == "builtin") == builtin && matches!(t, "builtin" | "custom")
        })
        && any("dangling", &|d| {
            let dangling = !builtin && n.containers.is_empty();
            matches!(d, "true" | "1") == dangling
        })
        && labels_match(&n.labels, f.get("label"), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_names_keep_daemons_apart() {
        assert_eq!(
            kernel_names(Path::new("/run/berth")),
            ("berth".into(), "berth".into())
        );
        let (p, t) = kernel_names(Path::new("/tmp/some-test-root"));
        assert!(p.starts_with("bt") && p.len() == 6, "{p}");
        assert_eq!(t, format!("berth_{p}"));
        assert_ne!(kernel_names(Path::new("/tmp/other")).0, p);
    }

    #[test]
    fn subnet_specs() {
        let s = subnet_spec(&IpamConfig {
            subnet: "10.9.0.5/16".into(),
            ip_range: "10.9.1.0/24".into(),
            gateway: "10.9.0.254".into(),
        })
        .unwrap();
        assert_eq!(s.subnet.unwrap().to_string(), "10.9.0.0/16");
        assert!(subnet_spec(&IpamConfig {
            gateway: "10.0.0.1".into(),
            ..Default::default()
        })
        .is_err());
        assert!(subnet_spec(&IpamConfig {
            subnet: "nope".into(),
            ..Default::default()
        })
        .is_err());
    }

    #[test]
    fn filters_like_docker() {
        let n = NetworkResource {
            name: "web-net".into(),
            id: "abcdef".into(),
            driver: "bridge".into(),
            scope: "local".into(),
            labels: [("env".to_string(), "prod".to_string())].into(),
            ..Default::default()
        };
        let f = |k: &str, v: &str| BTreeMap::from([(k.to_string(), vec![v.to_string()])]);
        assert!(matches(&n, &f("name", "web")));
        assert!(!matches(&n, &f("name", "db")));
        assert!(matches(&n, &f("id", "abc")));
        assert!(matches(&n, &f("label", "env=prod")));
        assert!(!matches(&n, &f("label", "env=dev")));
        assert!(matches(&n, &f("type", "custom")));
        assert!(!matches(&n, &f("type", "builtin")));
        assert!(matches(&n, &f("dangling", "true")));
        assert_eq!(parse_until("10").unwrap(), 10);
        assert!(parse_until("x").is_err());
    }
}
