//! `Backend`: what the router needs from the engine, in API terms. The
//! daemon owns this trait (the caller owns the trait it needs);
//! `backend.rs` implements it over `berth_engine`, and tests implement it
//! with stubs to exercise the router alone.
//!
//! Methods are blocking: the router calls them on tokio's blocking pool, so
//! the engine can use plain files and a transactional store without async.
//! Streams cross as `Read`/`Write` (request and response bodies) and a
//! progress callback (JSON progress messages, flushed one by one).
//!
//! Adding a resource: add its methods here (with a default that answers
//! "not supported" only while the engine lacks the feature), its routes
//! file under `routes/`, and its implementation in `backend.rs`.

use crate::error::ApiError;
use berth_api_types::image::{DeleteItem, HistoryItem, ImageInspect, ImageSummary, PruneReport};
use berth_api_types::network::{
    Network, NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse,
    NetworkDisconnectRequest, NetworkPruneReport,
};
use berth_api_types::progress::JsonMessage;
use berth_api_types::system::{DiskUsage, EventMessage};
use berth_api_types::volume::{Volume, VolumeCreateRequest, VolumeList, VolumePruneReport};
use berth_api_types::Filters;
use std::io::{Read, Write};
use std::path::PathBuf;

pub type Result<T> = std::result::Result<T, ApiError>;

/// Progress messages of a long operation, sent to the client as they come.
pub type Progress<'a> = &'a mut dyn FnMut(JsonMessage);

/// What `/info` needs from the engine (the host facts the daemon reads
/// itself).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineInfo {
    /// A stable id for this daemon's data root.
    pub id: String,
    pub images: i64,
    pub containers: i64,
    pub containers_running: i64,
    pub containers_paused: i64,
    pub containers_stopped: i64,
    pub driver: String,
    pub driver_status: Vec<[String; 2]>,
    pub data_root: PathBuf,
}

/// `GET /images/json` options. Filter keys are validated by the router.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageListOptions {
    pub all: bool,
    pub filters: Filters,
    pub shared_size: bool,
    pub digests: bool,
}

/// Which parts `/system/df` should compute (all when none is named).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskUsageOptions {
    pub images: bool,
    pub containers: bool,
    pub volumes: bool,
    pub build_cache: bool,
}

/// `POST /images/create?fromSrc=`: a rootfs tarball (the body, or a URL)
/// made into an image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// `repo[:tag]` to tag the new image with (empty: untagged).
    pub repo: String,
    pub tag: String,
    /// Dockerfile instructions applied to the config (`CMD ["sh"]`).
    pub changes: Vec<String>,
    pub message: String,
    pub platform: String,
    /// Where the tarball came from (`-` or the URL), for the default
    /// comment `Imported from <source>`.
    pub source: String,
}

/// Events a subscriber has missed (since `since`) and the ones to come.
/// The router filters both and stops at `until`.
#[derive(Debug)]
pub struct EventSubscription {
    pub past: Vec<EventMessage>,
    pub live: tokio::sync::mpsc::Receiver<EventMessage>,
}

fn no_netvol() -> ApiError {
    ApiError::unsupported("networks and volumes are not available in this backend")
}

pub trait Backend: Send + Sync + 'static {
    fn info(&self) -> Result<EngineInfo>;
    fn disk_usage(&self, opts: DiskUsageOptions) -> Result<DiskUsage>;
    /// Subscribes to events, with the past ones at or after `since_nanos`.
    fn subscribe(&self, since_nanos: Option<i64>) -> Result<EventSubscription>;

    fn images(&self, opts: &ImageListOptions) -> Result<Vec<ImageSummary>>;
    fn image_inspect(&self, name: &str) -> Result<ImageInspect>;
    fn image_history(&self, name: &str) -> Result<Vec<HistoryItem>>;
    /// Tags the image `name` as `repo:tag` (tag defaults to `latest`).
    fn image_tag(&self, name: &str, repo: &str, tag: &str) -> Result<()>;
    fn image_remove(&self, name: &str, force: bool, prune_parents: bool)
        -> Result<Vec<DeleteItem>>;
    fn images_prune(&self, filters: &Filters) -> Result<PruneReport>;
    /// Imports a rootfs tarball; returns the new image id (`sha256:...`).
    fn image_import(
        &self,
        opts: &ImportOptions,
        src: &mut dyn Read,
        progress: Progress<'_>,
    ) -> Result<String>;
    /// Loads a `docker save` archive or OCI layout tarball.
    fn image_load(&self, src: &mut dyn Read, quiet: bool, progress: Progress<'_>) -> Result<()>;
    /// Checks that every name resolves (so errors come before the first
    /// byte), then writes them as one `docker save` tarball.
    fn image_save(&self, names: &[String], out: &mut dyn Write) -> Result<()>;

    // Networks and volumes: the defaults answer "not supported" for
    // backends without them (the router's test stub).
    /// `GET /networks` (filters validated by the router).
    fn networks(&self, _filters: &Filters) -> Result<Vec<Network>> {
        Err(no_netvol())
    }
    fn network_inspect(&self, _name: &str) -> Result<Network> {
        Err(no_netvol())
    }
    fn network_create(&self, _req: &NetworkCreateRequest) -> Result<NetworkCreateResponse> {
        Err(no_netvol())
    }
    /// Refused (409) while containers are attached.
    fn network_remove(&self, _name: &str) -> Result<()> {
        Err(no_netvol())
    }
    fn network_connect(&self, _network: &str, _req: &NetworkConnectRequest) -> Result<()> {
        Err(no_netvol())
    }
    fn network_disconnect(&self, _network: &str, _req: &NetworkDisconnectRequest) -> Result<()> {
        Err(no_netvol())
    }
    fn networks_prune(&self, _filters: &Filters) -> Result<NetworkPruneReport> {
        Err(no_netvol())
    }
    /// `GET /volumes`.
    fn volumes(&self, _filters: &Filters) -> Result<VolumeList> {
        Err(no_netvol())
    }
    fn volume_create(&self, _req: &VolumeCreateRequest) -> Result<Volume> {
        Err(no_netvol())
    }
    fn volume_inspect(&self, _name: &str) -> Result<Volume> {
        Err(no_netvol())
    }
    /// Refused (409) while containers use it, unless `force`.
    fn volume_remove(&self, _name: &str, _force: bool) -> Result<()> {
        Err(no_netvol())
    }
    fn volumes_prune(&self, _filters: &Filters) -> Result<VolumePruneReport> {
        Err(no_netvol())
    }

    /// The container service (routes/containers.rs and exec.rs use it
    /// directly: its JSON already has the Engine API's shapes).
    fn containers(&self) -> Result<&berth_engine::container::Containers> {
        Err(ApiError::unsupported(
            "containers are not available in this backend",
        ))
    }
}
