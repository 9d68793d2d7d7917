//! A container's networking over its life, for the container service:
//!
//! ```text
//! create: networks.container_create(&id, &name, &config, &host_config, &networking_config, &resolve)?
//!         // validates --network/-p/--ip/--dns/--add-host…, stores the plan
//! start:  let ns = networks.container_start(&id)?;
//!         // ns.netns: None = host namespace (no network namespace in the spec),
//!         //           Some(p) = {"type": "network", "path": p} (already plugged in)
//!         // ns.hosts / ns.hostname / ns.resolv_conf: files to bind-mount
//! stop:   networks.container_stop(&id)?      // also when it exits by itself
//! rm:     networks.container_remove(&id)?
//! inspect: networks.container_settings(&id)? // NetworkSettings, docker's shape
//! ```
//!
//! The namespace is made and plugged in before the runtime runs (a new
//! namespace bound at `<exec-root>/netns/<id>`), so no hook between the
//! runtime's create and start is needed and the user process never sees a
//! half-configured network.

use super::{Networks, DEFAULT_BRIDGE, HOST, NONE};
use crate::{Error, Result};
use berth_network::files::{self, DnsOverrides};
use berth_network::{AttachRequest, PortRequest, Proto};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// One network a container is configured for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointPlan {
    pub network_id: String,
    pub network_name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub ipv4: Option<IpAddr>,
    #[serde(default)]
    pub ipv6: Option<IpAddr>,
    #[serde(default)]
    pub mac: Option<String>,
}

/// A `-p` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortPlan {
    pub container_port: u16,
    pub proto: Proto,
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub host_port_end: u16,
}

/// What the container asked for, kept from create to removal
/// (`<data-root>/network/containers/<id>.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub id: String,
    pub name: String,
    /// `bridge` (the networks in `endpoints`), `host`, `none`, `container`.
    pub mode: String,
    /// With mode `container`: the id of the container whose namespace it joins.
    #[serde(default)]
    pub peer: String,
    #[serde(default)]
    pub endpoints: Vec<EndpointPlan>,
    pub hostname: String,
    #[serde(default)]
    pub dns: Vec<IpAddr>,
    #[serde(default)]
    pub dns_search: Vec<String>,
    #[serde(default)]
    pub dns_options: Vec<String>,
    /// `--add-host` as (name, address or `host-gateway`).
    #[serde(default)]
    pub extra_hosts: Vec<(String, String)>,
    #[serde(default)]
    pub ports: Vec<PortPlan>,
    /// Exposed ports (`80/tcp`), for `-P` and inspect's `Ports`.
    #[serde(default)]
    pub exposed: Vec<String>,
    #[serde(default)]
    pub publish_all: bool,
    /// Started and not stopped since.
    #[serde(default)]
    pub active: bool,
    /// The container goes at its exit (`--rm`): its plan is written
    /// without fsync, as the container's own record.
    #[serde(default)]
    pub auto_remove: bool,
}

/// What the container's start needs from networking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetStart {
    /// The network namespace to join; None keeps the host's (`--network host`).
    pub netns: Option<PathBuf>,
    pub hosts: PathBuf,
    pub hostname: PathBuf,
    pub resolv_conf: PathBuf,
}

/// The plans of every container.
pub(super) fn plans(dir: &Path) -> Result<Vec<Plan>> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(super::io(format!("read {}", dir.display()))(e)),
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "json") {
            if let Ok(plan) = std::fs::read(&p)
                .ok()
                .and_then(|b| serde_json::from_slice::<Plan>(&b).ok())
                .ok_or(())
            {
                out.push(plan);
            }
        }
    }
    Ok(out)
}

/// The strings of a JSON array (`null` and other values: none).
pub(crate) fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn ip_field(v: &Value, what: &str) -> Result<Option<IpAddr>> {
    match v.as_str().filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| Error::Invalid(format!("invalid {what} address {s:?}"))),
    }
}

fn parse_proto(p: &str) -> Result<Proto> {
    match p {
        "" | "tcp" => Ok(Proto::Tcp),
        "udp" => Ok(Proto::Udp),
        "sctp" => Ok(Proto::Sctp),
        _ => Err(Error::Invalid(format!("invalid proto: {p}"))),
    }
}

/// `80/tcp` → (80, tcp).
fn parse_port_key(k: &str) -> Result<(u16, Proto)> {
    let (port, proto) = k.split_once('/').unwrap_or((k, "tcp"));
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| Error::Invalid(format!("invalid container port {k:?}")))?;
    Ok((port, parse_proto(proto)?))
}

/// `HostConfig.PortBindings` → requests.
fn port_plans(bindings: &Value) -> Result<Vec<PortPlan>> {
    let mut out = Vec::new();
    let Some(map) = bindings.as_object() else {
        return Ok(out);
    };
    for (key, list) in map {
        let (container_port, proto) = parse_port_key(key)?;
        let list = list.as_array().cloned().unwrap_or_default();
        // `-p 80` without a host part arrives as one empty binding (or none).
        let list = if list.is_empty() {
            vec![json!({})]
        } else {
            list
        };
        for b in list {
            let host_ip = match ip_field(&b["HostIp"], "host")? {
                Some(ip) if ip.is_unspecified() => None,
                other => other,
            };
            let hp = b["HostPort"].as_str().unwrap_or("");
            let bad = || Error::Invalid(format!("invalid host port {hp:?}"));
            let (host_port, host_port_end) = match hp.split_once('-') {
                _ if hp.is_empty() => (0, 0),
                Some((a, z)) => (a.parse().map_err(|_| bad())?, z.parse().map_err(|_| bad())?),
                None => (hp.parse().map_err(|_| bad())?, 0),
            };
            out.push(PortPlan {
                container_port,
                proto,
                host_ip,
                host_port,
                host_port_end,
            });
        }
    }
    Ok(out)
}

/// `--add-host name:ip` or `name=ip`.
fn parse_extra_host(s: &str) -> Result<(String, String)> {
    let (name, ip) = s
        .split_once('=')
        .or_else(|| s.split_once(':'))
        .ok_or_else(|| Error::Invalid(format!("invalid extra host {s:?}: want name:ip")))?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    if name.is_empty() || (ip != "host-gateway" && ip.parse::<IpAddr>().is_err()) {
        return Err(Error::Invalid(format!(
            "invalid IP address in add-host: {ip:?}"
        )));
    }
    Ok((name.to_owned(), ip.to_owned()))
}

impl Networks {
    /// Serializes the read-modify-write of plans: a container's exit (its
    /// stop) and its removal run on different threads, and a stop must not
    /// write back a plan that the removal has just deleted.
    fn plan_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.plans_lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn plan_path(&self, id: &str) -> PathBuf {
        self.plans_dir.join(format!("{id}.json"))
    }

    fn netns_path(&self, id: &str) -> PathBuf {
        self.netns_dir.join(id)
    }

    fn load_plan(&self, id: &str) -> Result<Option<Plan>> {
        let p = self.plan_path(id);
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| Error::Invalid(format!("network plan {}: {e}", p.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(super::io(format!("read {}", p.display()))(e)),
        }
    }

    fn save_plan(&self, plan: &Plan) -> Result<()> {
        let p = self.plan_path(&plan.id);
        let data = serde_json::to_vec_pretty(plan)
            .map_err(|e| Error::Invalid(format!("encode network plan: {e}")))?;
        let write = if plan.auto_remove {
            berth_base::fsutil::replace_file
        } else {
            berth_base::fsutil::atomic_write
        };
        write(&p, &data, 0o600).map_err(super::io(format!("write {}", p.display())))
    }

    /// The id of the container a plan names by id, name or unique prefix.
    pub fn resolve_container(&self, name: &str) -> Result<String> {
        let all = plans(&self.plans_dir)?;
        let name = name.trim_start_matches('/');
        if let Some(p) = all.iter().find(|p| p.id == name || p.name == name) {
            return Ok(p.id.clone());
        }
        let hits: Vec<&Plan> = all
            .iter()
            .filter(|p| !name.is_empty() && p.id.starts_with(name))
            .collect();
        match hits.as_slice() {
            [p] => Ok(p.id.clone()),
            [] => Err(Error::Network(berth_network::Error::NotFound(format!(
                "container {name}"
            )))),
            _ => Err(Error::Invalid(format!(
                "container id prefix {name} is ambiguous"
            ))),
        }
    }

    /// An endpoint plan for `network` from docker's `EndpointSettings`.
    fn endpoint_plan(&self, network: &str, settings: &Value) -> Result<EndpointPlan> {
        let net = self.inspect(network)?;
        let ipam = &settings["IPAMConfig"];
        let ep = EndpointPlan {
            network_id: net.id,
            network_name: net.name.clone(),
            aliases: strs(&settings["Aliases"]),
            ipv4: ip_field(&ipam["IPv4Address"], "IPv4")?,
            ipv6: ip_field(&ipam["IPv6Address"], "IPv6")?,
            mac: settings["MacAddress"]
                .as_str()
                .filter(|m| !m.is_empty())
                .map(str::to_owned),
        };
        if net.name == DEFAULT_BRIDGE {
            if !ep.aliases.is_empty() {
                return Err(Error::Invalid(
                    "network-scoped alias is supported only for containers in user defined networks"
                        .into(),
                ));
            }
            if ep.ipv4.is_some() || ep.ipv6.is_some() {
                return Err(Error::Invalid(
                    "user specified IP address is supported on user defined networks only".into(),
                ));
            }
        }
        if let Some(m) = &ep.mac {
            berth_network::link::parse_mac(m)?;
        }
        Ok(ep)
    }

    /// At container create: checks the networking options against the
    /// networks that exist and stores the container's plan. `resolve`
    /// turns a container name or id prefix into its full id (for
    /// `--network container:<name>`).
    pub fn container_create(
        &self,
        id: &str,
        name: &str,
        config: &Value,
        host_config: &Value,
        networking_config: &Value,
        resolve: &dyn Fn(&str) -> Option<String>,
    ) -> Result<()> {
        let mode = host_config["NetworkMode"].as_str().unwrap_or("");
        // The docker CLI names the default network `default`.
        let endpoints_cfg: BTreeMap<String, Value> = networking_config["EndpointsConfig"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (canonical(k).to_owned(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let mut plan = Plan {
            id: id.to_owned(),
            name: name.trim_start_matches('/').to_owned(),
            hostname: config["Hostname"]
                .as_str()
                .filter(|h| !h.is_empty())
                .map_or_else(|| id[..id.len().min(12)].to_owned(), str::to_owned),
            dns: strs(&host_config["Dns"])
                .iter()
                .map(|s| {
                    s.parse()
                        .map_err(|_| Error::Invalid(format!("{s} is not an ip address")))
                })
                .collect::<Result<_>>()?,
            dns_search: strs(&host_config["DnsSearch"]),
            dns_options: strs(&host_config["DnsOptions"]),
            extra_hosts: strs(&host_config["ExtraHosts"])
                .iter()
                .map(|s| parse_extra_host(s))
                .collect::<Result<_>>()?,
            exposed: config["ExposedPorts"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default(),
            publish_all: host_config["PublishAllPorts"].as_bool().unwrap_or(false),
            auto_remove: host_config["AutoRemove"].as_bool().unwrap_or(false),
            ..Default::default()
        };
        for e in &plan.exposed {
            parse_port_key(e)?;
        }
        let mac = config["MacAddress"].as_str().filter(|m| !m.is_empty());
        match mode {
            HOST | NONE => plan.mode = mode.to_owned(),
            m if m.starts_with("container:") => {
                let other = &m["container:".len()..];
                plan.mode = "container".into();
                plan.peer = resolve(other).ok_or_else(|| {
                    Error::Network(berth_network::Error::NotFound(format!("container {other}")))
                })?;
                if plan.peer == id {
                    return Err(Error::Invalid("cannot join own network namespace".into()));
                }
            }
            _ => {
                let primary = canonical(mode);
                plan.mode = "bridge".into();
                plan.ports = port_plans(&host_config["PortBindings"])?;
                let mut ep = self
                    .endpoint_plan(primary, endpoints_cfg.get(primary).unwrap_or(&Value::Null))?;
                if ep.mac.is_none() {
                    if let Some(m) = mac {
                        berth_network::link::parse_mac(m)?;
                        ep.mac = Some(m.to_owned());
                    }
                }
                plan.endpoints.push(ep);
                // API ≥ 1.44 clients (compose) name further networks here.
                for (net, settings) in &endpoints_cfg {
                    let ep = self.endpoint_plan(net, settings)?;
                    if !plan.endpoints.iter().any(|e| e.network_id == ep.network_id) {
                        plan.endpoints.push(ep);
                    }
                }
            }
        }
        self.save_plan(&plan)
    }

    fn files_dir(&self, id: &str) -> Result<PathBuf> {
        let d = self.containers_dir.join(id);
        std::fs::create_dir_all(&d).map_err(super::io(format!("create {}", d.display())))?;
        Ok(d)
    }

    /// At container start: makes and plugs in its network namespace
    /// (published ports and DNS names included) and writes its /etc files.
    /// On failure nothing is left plugged in.
    pub fn container_start(&self, id: &str) -> Result<NetStart> {
        let _g = self.plan_lock();
        // A container made before berth kept plans gets the default bridge.
        let mut plan = match self.load_plan(id)? {
            Some(p) => p,
            None => Plan {
                id: id.to_owned(),
                mode: "bridge".into(),
                endpoints: vec![self.endpoint_plan(DEFAULT_BRIDGE, &Value::Null)?],
                hostname: id[..id.len().min(12)].to_owned(),
                ..Default::default()
            },
        };
        if plan.active {
            // A start after an exit the daemon did not see: begin afresh.
            self.stop_locked(id, true)?;
            plan.active = false;
        }
        let dir = self.files_dir(id)?;
        let start = NetStart {
            netns: None,
            hosts: dir.join("hosts"),
            hostname: dir.join("hostname"),
            resolv_conf: dir.join("resolv.conf"),
        };
        let result = self.start_plan(&plan, start);
        match result {
            Ok(s) => {
                plan.active = true;
                self.save_plan(&plan)?;
                Ok(s)
            }
            Err(e) => {
                if let Err(undo) = self.stop_locked(id, true) {
                    tracing::warn!(container = id, error = %undo, "undoing a failed network start");
                }
                Err(e)
            }
        }
    }

    fn start_plan(&self, plan: &Plan, mut start: NetStart) -> Result<NetStart> {
        let host_rc = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let host_rc = files::parse_resolv_conf(&host_rc);
        let overrides = DnsOverrides {
            servers: plan.dns.clone(),
            search: plan.dns_search.clone(),
            options: plan.dns_options.clone(),
        };
        let write = |p: &Path, s: &str| {
            std::fs::write(p, s).map_err(super::io(format!("write {}", p.display())))
        };
        write(&start.hostname, &files::hostname(&plan.hostname))?;
        match plan.mode.as_str() {
            HOST => {
                let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
                write(&start.hosts, &hosts)?;
                write(
                    &start.resolv_conf,
                    &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
                )?;
                return Ok(start);
            }
            "container" => {
                let peer = self
                    .load_plan(&plan.peer)?
                    .filter(|p| p.active)
                    .ok_or_else(|| {
                        Error::Conflict(format!(
                            "cannot join network of a non running container: {}",
                            plan.peer
                        ))
                    })?;
                let pdir = self.containers_dir.join(&peer.id);
                for f in ["hosts", "resolv.conf"] {
                    let src = pdir.join(f);
                    let text = std::fs::read_to_string(&src)
                        .map_err(super::io(format!("read {}", src.display())))?;
                    write(&dir_of(&start.hosts).join(f), &text)?;
                }
                if peer.mode != HOST {
                    let ns = self.netns_path(&peer.id);
                    if !berth_network::netns::is_bound(&ns) {
                        return Err(Error::Conflict(format!(
                            "cannot join network of a non running container: {}",
                            peer.id
                        )));
                    }
                    start.netns = Some(ns);
                }
                return Ok(start);
            }
            _ => {}
        }
        let ns = self.netns_path(&plan.id);
        if ns.exists() {
            berth_network::netns::remove(&ns)?;
        }
        self.netns_pool.create(&ns)?;
        start.netns = Some(ns.clone());
        let extra = |gw: Option<IpAddr>| -> Vec<(String, IpAddr)> {
            plan.extra_hosts
                .iter()
                .filter_map(|(n, ip)| match ip.as_str() {
                    "host-gateway" => gw.map(|g| (n.clone(), g)),
                    ip => ip.parse().ok().map(|ip| (n.clone(), ip)),
                })
                .collect()
        };
        if plan.mode == NONE {
            write(
                &start.hosts,
                &files::hosts(&plan.hostname, &[], &[], &extra(None)),
            )?;
            write(
                &start.resolv_conf,
                &files::resolv_conf(&host_rc, None, &overrides),
            )?;
            return Ok(start);
        }
        let mut addrs = Vec::new();
        let mut embedded = None;
        let mut gateway = None;
        for (i, ep) in plan.endpoints.iter().enumerate() {
            let ifname = format!("eth{i}");
            let ports = if i == 0 {
                self.port_requests(plan)?
            } else {
                Vec::new()
            };
            let got = self.attach_one(plan, ep, &ns, &ifname, ports)?;
            addrs.push(got.ipv4.addr);
            addrs.extend(got.ipv6.map(|c| c.addr));
            if i == 0 {
                gateway = Some(got.gateway4);
                let net = self.mgr()?.inspect(&ep.network_id)?;
                embedded = net.dns.then_some(net.ipv4.gateway);
            }
        }
        write(
            &start.hosts,
            &files::hosts(&plan.hostname, &[], &addrs, &extra(gateway)),
        )?;
        write(
            &start.resolv_conf,
            &files::resolv_conf(&host_rc, embedded, &overrides),
        )?;
        Ok(start)
    }

    fn port_requests(&self, plan: &Plan) -> Result<Vec<PortRequest>> {
        let mut reqs: Vec<PortRequest> = plan
            .ports
            .iter()
            .map(|p| PortRequest {
                proto: p.proto,
                host_ip: p.host_ip,
                host_port: p.host_port,
                host_port_end: p.host_port_end,
                container_port: p.container_port,
            })
            .collect();
        if plan.publish_all {
            for e in &plan.exposed {
                let (port, proto) = parse_port_key(e)?;
                if !reqs
                    .iter()
                    .any(|r| r.container_port == port && r.proto == proto)
                {
                    reqs.push(PortRequest {
                        proto,
                        host_ip: None,
                        host_port: 0,
                        host_port_end: 0,
                        container_port: port,
                    });
                }
            }
        }
        Ok(reqs)
    }

    fn attach_one(
        &self,
        plan: &Plan,
        ep: &EndpointPlan,
        ns: &Path,
        ifname: &str,
        ports: Vec<PortRequest>,
    ) -> Result<berth_network::Endpoint> {
        let mac = match &ep.mac {
            Some(m) => Some(berth_network::link::parse_mac(m)?),
            None => None,
        };
        let got = self.mgr()?.attach(AttachRequest {
            network: &ep.network_id,
            container_id: &plan.id,
            name: &plan.name,
            aliases: ep.aliases.clone(),
            netns: ns,
            ifname: Some(ifname),
            ipv4: ep.ipv4,
            ipv6: ep.ipv6,
            mac,
            ports,
            dns_servers: plan.dns.clone(),
        })?;
        self.publish("connect", &ep.network_id, &ep.network_name, Some(&plan.id));
        Ok(got)
    }

    /// When the container has stopped (by request or by itself): unplugs
    /// it from every network and drops its namespace. Idempotent.
    pub fn container_stop(&self, id: &str) -> Result<()> {
        let _g = self.plan_lock();
        self.stop_locked(id, true)
    }

    /// [`Self::container_stop`] with the plan lock held; `keep_plan`
    /// false when the plan is deleted next (no point marking it inactive).
    fn stop_locked(&self, id: &str, keep_plan: bool) -> Result<()> {
        let plan = self.load_plan(id)?;
        let attached: Vec<(String, String)> = self
            .mgr()?
            .list()
            .into_iter()
            .filter(|n| n.endpoints.contains_key(id))
            .map(|n| (n.id, n.name))
            .collect();
        let ns = self.netns_path(id);
        // Containers that joined this one's namespace keep it alive: its
        // veths must go by hand then. Otherwise dropping the namespace
        // takes them with it, and only the bookkeeping is left to do (the
        // kernel's teardown of a veth costs ~20 ms on the `run --rm` path).
        // Only asked when it matters: it reads every container's plan.
        let joined = !attached.is_empty()
            && plans(&self.plans_dir)?
                .iter()
                .any(|p| p.active && p.mode == "container" && p.peer == id);
        let (detached, removed) = if joined || attached.is_empty() {
            (
                self.mgr()?.detach_all(id),
                berth_network::netns::remove(&ns),
            )
        } else {
            let removed = berth_network::netns::remove(&ns);
            (self.mgr()?.release_all(id), removed)
        };
        for (nid, name) in &attached {
            self.publish("disconnect", nid, name, Some(id));
        }
        if let Some(mut p) = plan.filter(|p| p.active && keep_plan) {
            p.active = false;
            self.save_plan(&p)?;
        }
        detached?;
        removed.map_err(Into::into)
    }

    /// At container removal: stops its networking and forgets its plan.
    pub fn container_remove(&self, id: &str) -> Result<()> {
        let _g = self.plan_lock();
        self.stop_locked(id, false)?;
        match std::fs::remove_file(self.plan_path(id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(super::io(format!("remove network plan of {id}"))(e))
            }
            _ => Ok(()),
        }
    }

    /// `network connect`: adds the network to the container's plan and,
    /// if it runs, plugs it in now (as eth<N>) and adds the address to its
    /// /etc/hosts. `settings` is docker's `EndpointConfig`.
    pub fn connect(&self, network: &str, container: &str, settings: &Value) -> Result<()> {
        let _g = self.plan_lock();
        let id = self.resolve_container(container)?;
        let mut plan = self
            .load_plan(&id)?
            .ok_or_else(|| Error::Invalid(format!("container {id} has no network plan")))?;
        if plan.mode != "bridge" {
            return Err(Error::Invalid(format!(
                "container {} is in network mode {}: it cannot be connected to another network",
                plan.name, plan.mode
            )));
        }
        let ep = self.endpoint_plan(network, settings)?;
        if plan.endpoints.iter().any(|e| e.network_id == ep.network_id) {
            return Err(Error::Conflict(format!(
                "endpoint with name {} already exists in network {}",
                plan.name, ep.network_name
            )));
        }
        if plan.active {
            let ns = self.netns_path(&id);
            let ifname = format!("eth{}", plan.endpoints.len());
            let got = self.attach_one(&plan, &ep, &ns, &ifname, Vec::new())?;
            let hosts = self.containers_dir.join(&id).join("hosts");
            let mut text = std::fs::read_to_string(&hosts).unwrap_or_default();
            text.push_str(&format!("{}\t{}\n", got.ipv4.addr, plan.hostname));
            // In place: the file is bind-mounted into the running container.
            std::fs::write(&hosts, text)
                .map_err(super::io(format!("write {}", hosts.display())))?;
        }
        plan.endpoints.push(ep);
        self.save_plan(&plan)
    }

    /// `network disconnect`: removes the network from the container's
    /// plan and unplugs it if it runs.
    pub fn disconnect(&self, network: &str, container: &str) -> Result<()> {
        let _g = self.plan_lock();
        let id = self.resolve_container(container)?;
        let net = self.inspect(network)?;
        let mut plan = self
            .load_plan(&id)?
            .ok_or_else(|| Error::Invalid(format!("container {id} has no network plan")))?;
        let before = plan.endpoints.len();
        plan.endpoints.retain(|e| e.network_id != net.id);
        if before == plan.endpoints.len() {
            return Err(Error::Invalid(format!(
                "container {} is not connected to network {}",
                plan.name, net.name
            )));
        }
        if plan.active {
            self.mgr()?.detach(&net.id, &id)?;
            self.publish("disconnect", &net.id, &net.name, Some(&id));
        }
        self.save_plan(&plan)
    }

    /// docker's `NetworkSettings` of a container (addresses while it runs).
    pub fn container_settings(&self, id: &str) -> Result<Value> {
        self.container_settings_in(id, &self.mgr()?.list())
    }

    /// `container_settings` with the networks listed by the caller, so
    /// that `ps` lists them once for all containers (a listing copies
    /// every endpoint: once per container, ps grew with the square).
    pub fn container_settings_in(
        &self,
        id: &str,
        nets: &[berth_network::Network],
    ) -> Result<Value> {
        let plan = self.load_plan(id)?.unwrap_or_default();
        let live: BTreeMap<&str, &berth_network::Endpoint> = nets
            .iter()
            .filter_map(|n| n.endpoints.get(id).map(|e| (n.id.as_str(), e)))
            .collect();
        let mut ports = Map::new();
        for e in &plan.exposed {
            ports.insert(e.clone(), Value::Null);
        }
        let mut networks = Map::new();
        let mut top = json!({
            "Bridge": "", "SandboxID": "", "SandboxKey": "", "HairpinMode": false,
            "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
            "SecondaryIPAddresses": null, "SecondaryIPv6Addresses": null,
            "EndpointID": "", "Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": "",
        });
        if plan.active && plan.mode != HOST {
            let ns = if plan.mode == "container" {
                self.netns_path(&plan.peer)
            } else {
                self.netns_path(id)
            };
            top["SandboxID"] = json!(id);
            top["SandboxKey"] = json!(ns);
        }
        match plan.mode.as_str() {
            HOST | NONE => {
                let nid = if plan.mode == HOST {
                    &self.host_id
                } else {
                    &self.none_id
                };
                networks.insert(plan.mode.clone(), endpoint_json(nid, None, &[]));
            }
            "bridge" => {
                for ep in &plan.endpoints {
                    let l = live.get(ep.network_id.as_str()).copied();
                    if let Some(l) = l {
                        for p in &l.ports {
                            let key = format!("{}/{}", p.container_port, p.proto.as_str());
                            let host_ip = p
                                .host_ip
                                .map_or_else(|| "0.0.0.0".into(), |i| i.to_string());
                            let entry =
                                json!({"HostIp": host_ip, "HostPort": p.host_port.to_string()});
                            match ports.get_mut(&key).and_then(Value::as_array_mut) {
                                Some(a) => a.push(entry),
                                None => {
                                    ports.insert(key, json!([entry]));
                                }
                            }
                        }
                        if ep.network_name == DEFAULT_BRIDGE {
                            for (k, v) in [
                                ("EndpointID", json!(l.endpoint_id)),
                                ("Gateway", json!(l.gateway4.to_string())),
                                ("IPAddress", json!(l.ipv4.addr.to_string())),
                                ("IPPrefixLen", json!(l.ipv4.prefix)),
                                ("MacAddress", json!(l.mac)),
                            ] {
                                top[k] = v;
                            }
                        }
                    }
                    let names = dns_names(&plan, ep);
                    networks.insert(
                        ep.network_name.clone(),
                        with_request(endpoint_json(&ep.network_id, l, &names), ep),
                    );
                }
            }
            _ => {}
        }
        top["Ports"] = Value::Object(ports);
        top["Networks"] = Value::Object(networks);
        Ok(top)
    }
}

/// `""` and `default` mean the default bridge network.
fn canonical(network: &str) -> &str {
    match network {
        "" | "default" => DEFAULT_BRIDGE,
        n => n,
    }
}

fn dir_of(p: &Path) -> &Path {
    p.parent().unwrap_or(Path::new("/"))
}

/// The names a container answers to on a network (docker's `DNSNames`).
fn dns_names(plan: &Plan, ep: &EndpointPlan) -> Vec<String> {
    let mut names = vec![plan.name.clone()];
    names.extend(ep.aliases.iter().cloned());
    names.push(plan.id[..plan.id.len().min(12)].to_owned());
    names
}

fn endpoint_json(
    network_id: &str,
    live: Option<&berth_network::Endpoint>,
    names: &[String],
) -> Value {
    json!({
        "IPAMConfig": null,
        "Links": null,
        "Aliases": null,
        "MacAddress": live.map_or(String::new(), |l| l.mac.clone()),
        "DriverOpts": null,
        "GwPriority": 0,
        "NetworkID": network_id,
        "EndpointID": live.map_or(String::new(), |l| l.endpoint_id.clone()),
        "Gateway": live.map_or(String::new(), |l| l.gateway4.to_string()),
        "IPAddress": live.map_or(String::new(), |l| l.ipv4.addr.to_string()),
        "IPPrefixLen": live.map_or(0, |l| l.ipv4.prefix),
        "IPv6Gateway": live.and_then(|l| l.gateway6).map_or(String::new(), |g| g.to_string()),
        "GlobalIPv6Address": live.and_then(|l| l.ipv6).map_or(String::new(), |c| c.addr.to_string()),
        "GlobalIPv6PrefixLen": live.and_then(|l| l.ipv6).map_or(0, |c| c.prefix),
        "DNSNames": if names.is_empty() { Value::Null } else { json!(names) },
    })
}

/// An endpoint's JSON with the requested addresses and aliases filled in.
fn with_request(mut v: Value, ep: &EndpointPlan) -> Value {
    if ep.ipv4.is_some() || ep.ipv6.is_some() {
        v["IPAMConfig"] = json!({
            "IPv4Address": ep.ipv4.map_or(String::new(), |i| i.to_string()),
            "IPv6Address": ep.ipv6.map_or(String::new(), |i| i.to_string()),
        });
    }
    if !ep.aliases.is_empty() {
        v["Aliases"] = json!(ep.aliases);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_bindings_parse() {
        let b = json!({
            "80/tcp": [{"HostIp": "", "HostPort": "8080"}],
            "53/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}],
            "90/tcp": [{"HostIp": "0.0.0.0", "HostPort": "9000-9010"}],
            "443/tcp": null,
        });
        let mut p = port_plans(&b).unwrap();
        p.sort_by_key(|p| p.container_port);
        assert_eq!(p.len(), 4);
        assert_eq!((p[0].container_port, p[0].proto), (53, Proto::Udp));
        assert_eq!(p[0].host_ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!((p[1].host_port, p[1].host_port_end), (8080, 0));
        assert_eq!(
            (p[2].host_port, p[2].host_port_end, p[2].host_ip),
            (9000, 9010, None)
        );
        assert_eq!((p[3].container_port, p[3].host_port), (443, 0));
        assert!(port_plans(&json!({"x/tcp": []})).is_err());
        assert!(port_plans(&json!({"80/foo": []})).is_err());
    }

    #[test]
    fn extra_hosts_parse() {
        assert_eq!(
            parse_extra_host("db:10.0.0.2").unwrap(),
            ("db".into(), "10.0.0.2".into())
        );
        assert_eq!(
            parse_extra_host("v6:::1").unwrap(),
            ("v6".into(), "::1".into())
        );
        assert_eq!(
            parse_extra_host("gw=host-gateway").unwrap().1,
            "host-gateway"
        );
        assert!(parse_extra_host("nohost").is_err());
        assert!(parse_extra_host("x:notanip").is_err());
    }
}
