//! The daemon's `Backend` over `berth_engine`: translates API requests to
//! engine calls and engine results to the Engine API's wire types.

use crate::error::ApiError;
use crate::service::{
    Backend, DiskUsageOptions, EngineInfo, EventSubscription, ImageListOptions, ImportOptions,
    Progress, Result,
};
use berth_api_types::container::ContainerConfig;
use berth_api_types::image::{
    DeleteItem, GraphDriver, HistoryItem, ImageInspect, ImageMetadata, ImageSummary, PruneReport,
    RootFs,
};
use berth_api_types::network::{
    Network, NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse,
    NetworkDisconnectRequest, NetworkPruneReport,
};
use berth_api_types::progress::JsonMessage;
use berth_api_types::system::{DiskUsage, EventActor, EventMessage};
use berth_api_types::volume::{
    UsageData, Volume, VolumeCreateRequest, VolumeList, VolumePruneReport,
};
use berth_api_types::Filters;
use berth_engine::image::{self as eimage, LoadProgress, Loaded};
use berth_engine::{Engine, Error as EngineError};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

/// How often an event forwarder checks that its subscriber is still there.
const EVENT_POLL: Duration = Duration::from_millis(500);

pub struct EngineBackend {
    engine: Engine,
    containers: berth_engine::container::Containers,
    /// Stable daemon id, kept in `<data-root>/engine-id`.
    id: String,
    /// The filesystem type under the data root, as docker names it.
    backing_fs: String,
}

impl EngineBackend {
    /// Opens the engine over `data_root` and `exec_root`.
    pub fn open(data_root: &Path, exec_root: &Path) -> std::result::Result<Self, EngineError> {
        let engine = Engine::open(berth_engine::Config {
            data_root: data_root.to_owned(),
            exec_root: exec_root.to_owned(),
        })?;
        let id = engine_id(data_root).map_err(|e| EngineError::Io {
            context: format!("engine id under {}", data_root.display()),
            source: e,
        })?;
        let containers = berth_engine::container::Containers::open(
            &engine,
            berth_engine::container::Options::default(),
        )
        .map_err(|e| EngineError::Io {
            context: "open the container service".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        Ok(Self {
            engine,
            containers,
            id,
            backing_fs: backing_fs(data_root),
        })
    }
}

/// The id in `<data_root>/engine-id`, made (as a UUID) on first start.
fn engine_id(data_root: &Path) -> std::io::Result<String> {
    let p = data_root.join("engine-id");
    if let Ok(s) = std::fs::read_to_string(&p) {
        if !s.trim().is_empty() {
            return Ok(s.trim().to_owned());
        }
    }
    let h = berth_base::id::random_id()?;
    let id = format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    );
    berth_base::fsutil::atomic_write(&p, id.as_bytes(), 0o644)?;
    Ok(id)
}

/// The type of the filesystem holding `p` (longest mount prefix), with
/// ext2/3/4 shown as docker shows them (`extfs`).
fn backing_fs(p: &Path) -> String {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let p = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    let best = mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let _dev = f.next()?;
            let mnt = PathBuf::from(f.next()?.replace("\\040", " "));
            let fs = f.next()?;
            p.starts_with(&mnt)
                .then(|| (mnt.as_os_str().len(), fs.to_owned()))
        })
        .max_by_key(|(n, _)| *n)
        .map(|(_, fs)| fs)
        .unwrap_or_default();
    match best.as_str() {
        "ext2" | "ext3" | "ext4" => "extfs".into(),
        _ => best,
    }
}

/// Bytes of the files under `dir` (symlinks not followed; unreadable
/// entries count as empty).
fn dir_size(dir: &Path) -> i64 {
    let mut total = 0i64;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) if m.is_file() => total = total.saturating_add(i64_of(m.len())),
                _ => {}
            }
        }
    }
    total
}

/// An engine error as the API answers it; "No such image" keeps docker's
/// wording, which scripts match on.
fn api(e: EngineError) -> ApiError {
    match &e {
        EngineError::NoSuchImage(name) => ApiError::not_found(format!("No such image: {name}")),
        _ => ApiError::from_error(e.kind(), &e),
    }
}

/// An engine value in docker's JSON shape as the API type of that shape.
fn wire<T: serde::Serialize, U: serde::de::DeserializeOwned>(v: &T) -> Result<U> {
    let j = serde_json::to_value(v).map_err(|e| ApiError::internal(format!("encode: {e}")))?;
    serde_json::from_value(j).map_err(|e| ApiError::internal(format!("decode: {e}")))
}

/// `volume create` as the volume store takes it.
fn berth_volume_request(req: &VolumeCreateRequest) -> berth_engine::volume::CreateRequest {
    berth_engine::volume::CreateRequest {
        name: (!req.name.is_empty()).then(|| req.name.clone()),
        driver: (!req.driver.is_empty()).then(|| req.driver.clone()),
        labels: req.labels.clone().unwrap_or_default(),
        options: req.driver_opts.clone().unwrap_or_default(),
    }
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn summary(s: eimage::ImageSummary) -> ImageSummary {
    ImageSummary {
        id: s.id,
        parent_id: s.parent_id,
        repo_tags: s.repo_tags,
        repo_digests: s.repo_digests,
        created: s.created,
        size: i64_of(s.size),
        shared_size: s.shared_size,
        virtual_size: None,
        labels: s.labels,
        containers: s.containers,
    }
}

fn delete_item(d: eimage::DeleteResponse) -> DeleteItem {
    match d {
        eimage::DeleteResponse::Untagged(s) => DeleteItem::Untagged(s),
        eimage::DeleteResponse::Deleted(s) => DeleteItem::Deleted(s),
    }
}

fn event(e: berth_engine::events::Event) -> EventMessage {
    EventMessage {
        kind: e.typ,
        action: e.action,
        actor: EventActor {
            id: e.actor.id,
            attributes: e.actor.attributes,
        },
        scope: e.scope,
        time: e.time,
        time_nano: e.time_nano,
    }
}

/// The engine's image config (docker's shape) as the API type.
fn container_config(c: &eimage::config::ContainerConfig) -> Result<ContainerConfig> {
    let v =
        serde_json::to_value(c).map_err(|e| ApiError::internal(format!("encode config: {e}")))?;
    serde_json::from_value(v).map_err(|e| ApiError::internal(format!("decode config: {e}")))
}

impl EngineBackend {
    /// Every container, as `GET /containers/json?all=1` lists them.
    fn all_containers(&self) -> Result<Vec<serde_json::Value>> {
        self.containers
            .list(&berth_engine::container::ListOptions {
                all: true,
                ..Default::default()
            })
            .map_err(|e| ApiError::from_error(e.kind(), &e))
    }
}

impl Backend for EngineBackend {
    fn containers(&self) -> Result<&berth_engine::container::Containers> {
        Ok(&self.containers)
    }

    fn info(&self) -> Result<EngineInfo> {
        let images = self
            .engine
            .images()
            .list(&eimage::ListOptions {
                all: true,
                filters: Default::default(),
            })
            .map_err(api)?;
        let containers = self.all_containers()?;
        let state = |c: &serde_json::Value| c["State"].as_str().unwrap_or("").to_owned();
        let running = containers.iter().filter(|c| state(c) == "running").count() as i64;
        let paused = containers.iter().filter(|c| state(c) == "paused").count() as i64;
        let total = containers.len() as i64;
        Ok(EngineInfo {
            id: self.id.clone(),
            images: images.len() as i64,
            containers: total,
            containers_running: running,
            containers_paused: paused,
            containers_stopped: total - running - paused,
            driver: "overlay2".into(),
            driver_status: vec![
                ["Backing Filesystem".into(), self.backing_fs.clone()],
                ["Supports d_type".into(), "true".into()],
                ["Using metacopy".into(), "false".into()],
                ["Native Overlay Diff".into(), "true".into()],
                ["userxattr".into(), "false".into()],
            ],
            data_root: self.engine.config().data_root.clone(),
        })
    }

    fn disk_usage(&self, opts: DiskUsageOptions) -> Result<DiskUsage> {
        let mut out = DiskUsage::default();
        if opts.images {
            let du = self.engine.images().disk_usage().map_err(api)?;
            out.layers_size = i64_of(du.layers_size);
            out.images = du.images.into_iter().map(summary).collect();
        }
        if opts.containers {
            out.containers = self.all_containers()?;
        }
        if opts.volumes {
            // docker's df shows each volume's size and users (the CLI
            // needs `UsageData` there).
            let store = self.engine.volumes().store();
            let mut vols = Vec::new();
            for mut v in self.volumes(&Filters::default())?.volumes {
                let users = store.users(&v.name).map_or(0, |u| u.len() as i64);
                v.usage_data = Some(UsageData {
                    size: dir_size(Path::new(&v.mountpoint)),
                    ref_count: users,
                });
                vols.push(
                    serde_json::to_value(&v)
                        .map_err(|e| ApiError::internal(format!("encode volume: {e}")))?,
                );
            }
            out.volumes = vols;
        }
        Ok(out)
    }

    fn subscribe(&self, since_nanos: Option<i64>) -> Result<EventSubscription> {
        let (past, rx) = self.engine.events().subscribe(since_nanos);
        let (tx, live) = tokio::sync::mpsc::channel(256);
        std::thread::Builder::new()
            .name("event-forward".into())
            .spawn(move || loop {
                match rx.recv_timeout(EVENT_POLL) {
                    Ok(e) => {
                        if tx.blocking_send(event(e)).is_err() {
                            return;
                        }
                    }
                    Err(RecvTimeoutError::Timeout) if tx.is_closed() => return,
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            })
            .map_err(|e| ApiError::internal(format!("start event forwarder: {e}")))?;
        Ok(EventSubscription {
            past: past.into_iter().map(event).collect(),
            live,
        })
    }

    fn images(&self, opts: &ImageListOptions) -> Result<Vec<ImageSummary>> {
        let images = self.engine.images();
        let list = images
            .list(&eimage::ListOptions {
                all: opts.all,
                filters: opts.filters.to_map(),
            })
            .map_err(api)?;
        let shared: HashMap<String, i64> = if opts.shared_size {
            images
                .disk_usage()
                .map_err(api)?
                .images
                .into_iter()
                .map(|i| (i.id, i.shared_size))
                .collect()
        } else {
            HashMap::new()
        };
        Ok(list
            .into_iter()
            .map(|s| {
                let mut s = summary(s);
                if let Some(sh) = shared.get(&s.id) {
                    s.shared_size = *sh;
                }
                s
            })
            .collect())
    }

    fn image_inspect(&self, name: &str) -> Result<ImageInspect> {
        let d = self.engine.images().inspect(name).map_err(api)?;
        Ok(ImageInspect {
            id: d.id,
            repo_tags: d.repo_tags,
            repo_digests: d.repo_digests,
            parent: d.parent,
            comment: d.comment,
            created: d.created,
            container: None,
            container_config: None,
            docker_version: d.docker_version,
            author: d.author,
            config: Some(container_config(&d.config)?),
            architecture: d.architecture,
            variant: d.variant.unwrap_or_default(),
            os: d.os,
            os_version: String::new(),
            size: i64_of(d.size),
            virtual_size: None,
            graph_driver: GraphDriver {
                name: "overlay2".into(),
                data: Default::default(),
            },
            root_fs: RootFs {
                kind: d.root_fs.typ,
                layers: d.root_fs.layers,
            },
            metadata: ImageMetadata {
                last_tag_time: d.last_tag_time.unwrap_or_default(),
            },
        })
    }

    fn image_history(&self, name: &str) -> Result<Vec<HistoryItem>> {
        let h = self.engine.images().history(name).map_err(api)?;
        Ok(h.into_iter()
            .map(|e| HistoryItem {
                id: e.id,
                created: e.created,
                created_by: e.created_by,
                tags: e.tags,
                size: i64_of(e.size),
                comment: e.comment,
            })
            .collect())
    }

    fn image_tag(&self, name: &str, repo: &str, tag: &str) -> Result<()> {
        self.engine.images().tag(name, repo, tag).map_err(api)
    }

    fn image_remove(&self, name: &str, force: bool, prune: bool) -> Result<Vec<DeleteItem>> {
        let r = self
            .engine
            .images()
            .remove(name, force, prune)
            .map_err(api)?;
        Ok(r.into_iter().map(delete_item).collect())
    }

    fn images_prune(&self, filters: &Filters) -> Result<PruneReport> {
        let r = self
            .engine
            .images()
            .prune(false, &filters.to_map())
            .map_err(api)?;
        Ok(PruneReport {
            images_deleted: (!r.deleted.is_empty())
                .then(|| r.deleted.into_iter().map(delete_item).collect()),
            space_reclaimed: r.space_reclaimed,
        })
    }

    fn image_import(
        &self,
        opts: &ImportOptions,
        src: &mut dyn Read,
        _progress: Progress<'_>,
    ) -> Result<String> {
        // The docker client sends `repo` with its tag inside; older ones
        // send them apart.
        let reference = match (opts.repo.as_str(), opts.tag.as_str()) {
            ("", _) => None,
            (r, "") => Some(r.to_owned()),
            (r, t) => Some(format!("{r}:{t}")),
        };
        if !opts.platform.is_empty()
            && opts.platform != "linux"
            && !opts.platform.starts_with("linux/")
        {
            return Err(ApiError::invalid(format!(
                "unsupported platform {:?}: berth imports linux images",
                opts.platform
            )));
        }
        self.engine
            .images()
            .import(
                src,
                &eimage::ImportOptions {
                    reference,
                    changes: opts.changes.clone(),
                    message: opts.message.clone(),
                    source: opts.source.clone(),
                },
            )
            .map_err(api)
    }

    fn image_load(&self, src: &mut dyn Read, quiet: bool, progress: Progress<'_>) -> Result<()> {
        let mut on_progress = |p: &LoadProgress| {
            if !quiet {
                progress(JsonMessage::progress(
                    p.id.clone(),
                    p.status.clone(),
                    i64_of(p.current),
                    p.total.map(i64_of),
                ));
            }
        };
        let loaded = self
            .engine
            .images()
            .load(src, &mut on_progress)
            .map_err(api)?;
        for l in loaded {
            progress(JsonMessage::stream(match l {
                Loaded::Tag(t) => format!("Loaded image: {t}\n"),
                Loaded::Id(id) => format!("Loaded image ID: {id}\n"),
            }));
        }
        Ok(())
    }

    fn image_save(&self, names: &[String], out: &mut dyn Write) -> Result<()> {
        self.engine.images().save(names, out).map_err(api)
    }

    fn networks(&self, filters: &Filters) -> Result<Vec<Network>> {
        let list = self
            .engine
            .networks()
            .list(&filters.to_map())
            .map_err(api)?;
        list.iter().map(wire).collect()
    }

    fn network_inspect(&self, name: &str) -> Result<Network> {
        wire(&self.engine.networks().inspect(name).map_err(api)?)
    }

    fn network_create(&self, req: &NetworkCreateRequest) -> Result<NetworkCreateResponse> {
        let ipam = req.ipam.clone().unwrap_or_default();
        if !ipam.driver.is_empty() && ipam.driver != "default" {
            return Err(ApiError::invalid(format!(
                "IPAM driver {:?} is not supported",
                ipam.driver
            )));
        }
        let id = self
            .engine
            .networks()
            .create(berth_engine::network::CreateRequest {
                name: req.name.clone(),
                driver: req.driver.clone(),
                internal: req.internal,
                enable_ipv6: req.enable_ipv6.unwrap_or(false),
                ipam: ipam
                    .config
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| berth_engine::network::IpamConfig {
                        subnet: c.subnet,
                        ip_range: c.ip_range,
                        gateway: c.gateway,
                    })
                    .collect(),
                options: req.options.clone().unwrap_or_default(),
                labels: req.labels.clone().unwrap_or_default(),
                check_duplicate: true,
            })
            .map_err(api)?;
        Ok(NetworkCreateResponse {
            id,
            warning: String::new(),
        })
    }

    fn network_remove(&self, name: &str) -> Result<()> {
        self.engine.networks().remove(name).map_err(api)
    }

    fn network_connect(&self, network: &str, req: &NetworkConnectRequest) -> Result<()> {
        self.engine
            .networks()
            .connect(network, &req.container, &req.endpoint_config)
            .map_err(api)
    }

    fn network_disconnect(&self, network: &str, req: &NetworkDisconnectRequest) -> Result<()> {
        self.engine
            .networks()
            .disconnect(network, &req.container)
            .map_err(api)
    }

    fn networks_prune(&self, filters: &Filters) -> Result<NetworkPruneReport> {
        let r = self
            .engine
            .networks()
            .prune(&filters.to_map())
            .map_err(api)?;
        Ok(NetworkPruneReport {
            networks_deleted: (!r.deleted.is_empty()).then_some(r.deleted),
        })
    }

    fn volumes(&self, filters: &Filters) -> Result<VolumeList> {
        let list = self.engine.volumes().list(&filters.to_map()).map_err(api)?;
        Ok(VolumeList {
            volumes: list.iter().map(wire).collect::<Result<_>>()?,
            // The swagger has `Warnings` as an array, never null.
            warnings: Some(Vec::new()),
        })
    }

    fn volume_create(&self, req: &VolumeCreateRequest) -> Result<Volume> {
        let v = self
            .engine
            .volumes()
            .create(berth_volume_request(req))
            .map_err(api)?;
        wire(&v)
    }

    fn volume_inspect(&self, name: &str) -> Result<Volume> {
        wire(&self.engine.volumes().inspect(name).map_err(api)?)
    }

    fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        self.engine.volumes().remove(name, force).map_err(api)
    }

    fn volumes_prune(&self, filters: &Filters) -> Result<VolumePruneReport> {
        let r = self
            .engine
            .volumes()
            .prune(&filters.to_map())
            .map_err(api)?;
        Ok(VolumePruneReport {
            volumes_deleted: (!r.volumes_deleted.is_empty()).then_some(r.volumes_deleted),
            space_reclaimed: r.space_reclaimed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_id_is_stable() {
        let d = tempfile::tempdir().unwrap();
        let a = engine_id(d.path()).unwrap();
        assert_eq!(a.len(), 36);
        assert_eq!(engine_id(d.path()).unwrap(), a);
    }

    #[test]
    fn backing_fs_of_root_is_known() {
        assert!(!backing_fs(Path::new("/")).is_empty());
    }
}
