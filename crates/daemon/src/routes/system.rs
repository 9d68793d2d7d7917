//! System routes: `/_ping`, `/version`, `/info`, `/events`, `/system/df`.

use crate::body::Body;
use crate::error::ApiError;
use crate::host::process_counts;
use crate::router::{empty, json, streaming, Ctx, Req, Response};
use crate::service::{Backend, DiskUsageOptions};
use berth_api_types::system::{
    Commit, Component, EventMessage, IndexInfo, Info, Platform, PluginsInfo, RegistryConfig,
    Runtime, SwarmInfo, Version,
};
use berth_api_types::time::Timestamp;
use berth_api_types::version::{MAX_API_VERSION, MIN_API_VERSION};
use berth_api_types::{ApiVersion, Filters};
use bytes::Bytes;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, PRAGMA};
use hyper::{Method, StatusCode};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

pub(crate) enum Ep {
    Ping,
    Version,
    Info,
    Events,
    DiskUsage,
    Auth,
    /// Build routes live here until the builder has its own routes file:
    /// there is no build cache yet, so prune finds nothing.
    BuildPrune,
    Build,
}

pub(crate) fn resolve(m: &Method, path: &str) -> Option<Ep> {
    Some(match (m.as_str(), path) {
        ("GET" | "HEAD", "/_ping") => Ep::Ping,
        ("GET", "/version") => Ep::Version,
        ("GET", "/info") => Ep::Info,
        ("GET", "/events") => Ep::Events,
        ("GET", "/system/df") => Ep::DiskUsage,
        ("POST", "/auth") => Ep::Auth,
        ("POST", "/build/prune") => Ep::BuildPrune,
        ("POST", "/build") => Ep::Build,
        _ => return None,
    })
}

pub(crate) async fn serve<B: Backend>(
    ep: Ep,
    ctx: &Ctx<B>,
    req: Req,
) -> Result<Response, ApiError> {
    match ep {
        Ep::Ping => Ok(ping(&req.method)),
        Ep::Version => json(StatusCode::OK, &version(ctx)),
        Ep::Info => info(ctx).await,
        Ep::Events => events(ctx, &req).await,
        Ep::DiskUsage => disk_usage(ctx, &req).await,
        Ep::Auth => Err(ApiError::unsupported(
            "registry login is not supported by berth yet: registry distribution is not built",
        )),
        Ep::BuildPrune => json(
            StatusCode::OK,
            &serde_json::json!({"CachesDeleted": null, "SpaceReclaimed": 0}),
        ),
        Ep::Build => Err(ApiError::unsupported(
            "building images is not supported by berth yet: the builder is not built",
        )),
    }
}

/// `/_ping`: `OK` as text, with the headers clients negotiate from.
fn ping(method: &Method) -> Response {
    let head = method == Method::HEAD;
    let mut r = if head {
        empty(StatusCode::OK)
    } else {
        hyper::Response::new(Body::full(Bytes::from_static(b"OK")))
    };
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if head {
        h.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    }
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert("docker-experimental", HeaderValue::from_static("false"));
    h.insert("builder-version", HeaderValue::from_static("1"));
    h.insert("swarm", HeaderValue::from_static("inactive"));
    r
}

/// The toolchain berthd was built with (shown where docker shows Go's).
const TOOLCHAIN: &str = "rust";

pub(crate) fn version<B>(ctx: &Ctx<B>) -> Version {
    let f = &ctx.facts;
    let arch = go_arch(&f.host.architecture);
    let mut details = BTreeMap::new();
    for (k, v) in [
        ("ApiVersion", MAX_API_VERSION.to_string()),
        ("MinAPIVersion", MIN_API_VERSION.to_string()),
        ("GitCommit", f.git_commit.clone()),
        ("GoVersion", TOOLCHAIN.to_owned()),
        ("Os", "linux".to_owned()),
        ("Arch", arch.to_owned()),
        ("KernelVersion", f.host.kernel_version.clone()),
        ("Experimental", "false".to_owned()),
        ("BuildTime", String::new()),
    ] {
        details.insert(k.to_owned(), v);
    }
    Version {
        platform: Platform {
            name: "berth".into(),
        },
        components: vec![Component {
            name: "Engine".into(),
            version: f.version.clone(),
            details,
        }],
        version: f.version.clone(),
        api_version: MAX_API_VERSION.to_string(),
        min_api_version: MIN_API_VERSION.to_string(),
        git_commit: f.git_commit.clone(),
        go_version: TOOLCHAIN.into(),
        os: "linux".into(),
        arch: arch.into(),
        kernel_version: f.host.kernel_version.clone(),
        experimental: false,
        build_time: String::new(),
    }
}

/// Go's GOARCH for a `uname -m` machine name.
fn go_arch(machine: &str) -> &str {
    match machine {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" | "i686" => "386",
        other => other,
    }
}

async fn info<B: Backend>(ctx: &Ctx<B>) -> Result<Response, ApiError> {
    let e = ctx.blocking(|b| b.info()).await?;
    let h = &ctx.facts.host;
    let (n_fd, n_threads) = process_counts();
    let mut runtimes = BTreeMap::new();
    runtimes.insert(
        "berth".to_owned(),
        Runtime {
            path: "berth-runtime".into(),
            runtime_args: None,
        },
    );
    runtimes.insert(
        "runc".to_owned(),
        Runtime {
            path: "runc".into(),
            runtime_args: None,
        },
    );
    let mut index_configs = BTreeMap::new();
    index_configs.insert(
        "docker.io".to_owned(),
        IndexInfo {
            name: "docker.io".into(),
            mirrors: vec![],
            secure: true,
            official: true,
        },
    );
    let info = Info {
        id: e.id,
        containers: e.containers,
        containers_running: e.containers_running,
        containers_paused: e.containers_paused,
        containers_stopped: e.containers_stopped,
        images: e.images,
        driver: e.driver,
        driver_status: e.driver_status,
        docker_root_dir: e.data_root.display().to_string(),
        plugins: PluginsInfo {
            volume: vec!["local".into()],
            network: vec!["bridge".into(), "host".into(), "null".into()],
            authorization: None,
            log: vec!["json-file".into()],
        },
        memory_limit: h.memory_limit,
        swap_limit: h.swap_limit,
        cpu_cfs_period: true,
        cpu_cfs_quota: true,
        cpu_shares: true,
        cpu_set: true,
        pids_limit: true,
        oom_kill_disable: h.cgroup_version == "1",
        ipv4_forwarding: h.ipv4_forwarding,
        bridge_nf_iptables: h.bridge_nf_iptables,
        bridge_nf_ip6tables: h.bridge_nf_ip6tables,
        debug: ctx.facts.debug,
        n_fd,
        n_goroutines: n_threads,
        system_time: Timestamp::now().to_rfc3339_nanos(),
        logging_driver: "json-file".into(),
        cgroup_driver: "cgroupfs".into(),
        cgroup_version: h.cgroup_version.clone(),
        n_events_listener: ctx.event_listeners.load(Ordering::Relaxed),
        kernel_version: h.kernel_version.clone(),
        operating_system: h.operating_system.clone(),
        os_version: h.os_version.clone(),
        os_type: "linux".into(),
        architecture: h.architecture.clone(),
        ncpu: h.ncpu,
        mem_total: h.mem_total,
        index_server_address: "https://index.docker.io/v1/".into(),
        registry_config: Some(RegistryConfig {
            insecure_registry_cidrs: vec!["::1/128".into(), "127.0.0.0/8".into()],
            index_configs,
            mirrors: vec![],
        }),
        generic_resources: None,
        name: h.hostname.clone(),
        labels: vec![],
        experimental_build: false,
        server_version: ctx.facts.version.clone(),
        runtimes,
        default_runtime: "berth".into(),
        swarm: SwarmInfo {
            local_node_state: "inactive".into(),
            ..SwarmInfo::default()
        },
        live_restore_enabled: true,
        security_options: vec!["name=seccomp,profile=builtin".into()],
        containerd_commit: Commit::default(),
        runc_commit: Commit::default(),
        init_commit: Commit::default(),
        warnings: warnings(h),
        ..Info::default()
    };
    json(StatusCode::OK, &info)
}

/// dockerd's warnings about what the host lacks, in its words.
fn warnings(h: &crate::host::HostFacts) -> Vec<String> {
    let mut w = Vec::new();
    if !h.memory_limit {
        w.push("WARNING: No memory limit support".to_owned());
    }
    if !h.swap_limit {
        w.push("WARNING: No swap limit support".to_owned());
    }
    if !h.bridge_nf_iptables {
        w.push("WARNING: bridge-nf-call-iptables is disabled".to_owned());
    }
    if !h.bridge_nf_ip6tables {
        w.push("WARNING: bridge-nf-call-ip6tables is disabled".to_owned());
    }
    w
}

async fn disk_usage<B: Backend>(ctx: &Ctx<B>, req: &Req) -> Result<Response, ApiError> {
    let types = req.q_all("type");
    let mut opts = DiskUsageOptions::default();
    if types.is_empty() || req.version < ApiVersion::new(1, 42) {
        opts = DiskUsageOptions {
            images: true,
            containers: true,
            volumes: true,
            build_cache: true,
        };
    }
    for t in &types {
        match t.as_str() {
            "image" => opts.images = true,
            "container" => opts.containers = true,
            "volume" => opts.volumes = true,
            "build-cache" => opts.build_cache = true,
            other => return Err(ApiError::invalid(format!("unknown object type: {other}"))),
        }
    }
    let old = req.version < ApiVersion::new(1, 44);
    let mut du = ctx.blocking(move |b| b.disk_usage(opts)).await?;
    if old {
        for i in &mut du.images {
            i.virtual_size = Some(i.size);
        }
    }
    json(StatusCode::OK, &du)
}

const EVENT_FILTERS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

fn parse_time(req: &Req, key: &str) -> Result<Option<Timestamp>, ApiError> {
    match req.q(key).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => Timestamp::parse_relative(v, Timestamp::now())
            .map(Some)
            .ok_or_else(|| ApiError::invalid(format!("invalid value for {key}: {v:?}"))),
    }
}

/// `/events`: the past events since `since`, then live ones until
/// `until`, one JSON object per line.
async fn events<B: Backend>(ctx: &Ctx<B>, req: &Req) -> Result<Response, ApiError> {
    let filters = req.filters(EVENT_FILTERS)?;
    let since = parse_time(req, "since")?;
    let until = parse_time(req, "until")?;
    let now = Timestamp::now();
    // A `since` in the future with no `until` waits for it, as dockerd.
    let since_nanos = since.map(Timestamp::as_nanos);
    let mut sub = ctx.blocking(move |b| b.subscribe(since_nanos)).await?;
    let until_nanos = until.map(Timestamp::as_nanos);
    let in_window = move |m: &EventMessage| {
        since_nanos.is_none_or(|s| m.time_nano >= s) && until_nanos.is_none_or(|u| m.time_nano <= u)
    };
    let (tx, body) = Body::channel();
    let listeners = ListenerGuard::new(ctx);
    tokio::spawn(async move {
        let _guard = listeners;
        for m in sub
            .past
            .iter()
            .filter(|m| in_window(m) && matches(&filters, m))
        {
            if tx.send(line(m)).await.is_err() {
                return;
            }
        }
        if until.is_some_and(|u| u <= now) {
            return;
        }
        let deadline = until.map(|u| {
            let left = u
                .to_system()
                .duration_since(now.to_system())
                .unwrap_or_default();
            tokio::time::Instant::now() + left
        });
        loop {
            let next = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, sub.live.recv()).await.ok(),
                    None => Some(sub.live.recv().await),
                }
            };
            tokio::select! {
                m = next => match m {
                    Some(Some(m)) => {
                        if in_window(&m) && matches(&filters, &m)
                            && tx.send(line(&m)).await.is_err() {
                            return;
                        }
                    }
                    // The bus closed or `until` passed.
                    _ => return,
                },
                () = tx.closed() => return,
            }
        }
    });
    Ok(streaming("application/json", body))
}

/// Counts an open `/events` stream for as long as it lives.
struct ListenerGuard(Arc<AtomicI64>);

impl ListenerGuard {
    fn new<B>(ctx: &Ctx<B>) -> Self {
        ctx.event_listeners.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(&ctx.event_listeners))
    }
}

impl Drop for ListenerGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn line(m: &EventMessage) -> Result<Bytes, std::io::Error> {
    let mut v = serde_json::to_vec(m).map_err(std::io::Error::other)?;
    v.push(b'\n');
    Ok(Bytes::from(v))
}

/// Whether an event passes the filters, as moby's `events.Filter`.
pub(crate) fn matches(f: &Filters, m: &EventMessage) -> bool {
    let exact = |key: &str, v: &str| !f.contains(key) || f.get(key).any(|x| x == v);
    let fuzzy =
        |key: &str, v: &str| !f.contains(key) || f.get(key).any(|x| x == v || v.starts_with(x));
    let name = m
        .actor
        .attributes
        .get("name")
        .map(String::as_str)
        .unwrap_or("");
    let by_name = |key: &str| {
        !f.contains(key)
            || (m.kind == key
                && (fuzzy(key, &m.actor.id) || (!name.is_empty() && fuzzy(key, name))))
    };
    let event_ok = if ["health_status", "exec_create", "exec_start"]
        .iter()
        .any(|e| f.get("event").any(|x| x == *e))
    {
        fuzzy("event", &m.action)
    } else {
        exact("event", &m.action)
    };
    let image_ok = {
        let attr = if m.kind == "image" { "name" } else { "image" };
        let image_name = m
            .actor
            .attributes
            .get(attr)
            .map(String::as_str)
            .unwrap_or("");
        !f.contains("image")
            || [
                m.actor.id.as_str(),
                image_name,
                strip_tag(&m.actor.id),
                strip_tag(image_name),
            ]
            .iter()
            .any(|v| !v.is_empty() && f.get("image").any(|x| x == *v))
    };
    exact("type", &m.kind)
        && event_ok
        && exact("scope", &m.scope)
        && image_ok
        && [
            "container",
            "daemon",
            "network",
            "volume",
            "plugin",
            "node",
            "service",
            "secret",
            "config",
        ]
        .iter()
        .all(|k| by_name(k))
        && f.matches_labels("label", |k| m.actor.attributes.get(k).map(String::as_str))
}

/// `busybox:latest` → `busybox` (a registry port is not a tag).
fn strip_tag(r: &str) -> &str {
    match r.rfind(':') {
        Some(i) if !r[i..].contains('/') => &r[..i],
        _ => r,
    }
}
