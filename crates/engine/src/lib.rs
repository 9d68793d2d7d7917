//! berth's engine services. The daemon calls these (blocking functions:
//! run them in `spawn_blocking`); they own the image store and the events.
//!
//! # Public API (for berthd's `backend.rs`)
//!
//! ```text
//! Engine::open(Config { data_root, exec_root }) -> Result<Engine>
//! engine.events() -> &Arc<Events>            events::Event { typ, action, actor: Actor { id, attributes }, scope, time, time_nano }
//!     .publish(Event::new("container", "start", id, attrs))
//!     .subscribe(since_nanos: Option<i64>) -> (Vec<Event> past, mpsc::Receiver<Event> live)
//!     .history(since_nanos, until_nanos) -> Vec<Event>
//! engine.images() -> &Images
//!     .list(&ListOptions { all, filters })          -> Vec<ImageSummary>      filters: reference, dangling, label, before, since
//!     .inspect(name_or_id)                          -> ImageDetails
//!     .history(name_or_id)                          -> Vec<HistoryEntry>      newest first
//!     .tag(source, repo, tag)                       -> ()                     tag "" = latest (or the tag inside repo)
//!     .remove(name_or_id, force, prune)             -> Vec<DeleteResponse>    Untagged(familiar) | Deleted(sha256:..)
//!     .prune(all, &filters)                         -> PruneReport            filters: until, label, label!, dangling
//!     .load(&mut reader, &mut |p: &LoadProgress| ..) -> Vec<Loaded>          Tag("busybox:latest") | Id("sha256:..")
//!     .load_path(path, progress)                    -> Vec<Loaded>            an archive file or a layout directory
//!     .save(&names, &mut writer)                    -> ()                     docker-archive + OCI layout in one tar
//!     .import(&mut reader, &ImportOptions { reference, changes, message, source }) -> id
//!     .disk_usage()                                 -> DiskUsage { layers_size, images (shared_size, containers) }
//!     .resolve(name) -> id;  .config(name) -> ImageConfig;  .layers(name) -> chain ids (bottom first)
//!     .set_users(Arc<dyn ImageUsers>)               hook: which containers use an image (rmi refuses unless forced)
//! engine.networks() -> &Arc<network::Networks>  (docker's shapes: network::NetworkResource)
//!     .create(CreateRequest) -> id; .list(&filters); .inspect(name); .remove(name); .prune(&filters)
//!     .connect(network, container, &endpoint_config_json); .disconnect(network, container)
//! engine.volumes() -> &Arc<volume::Volumes>      .create/.list/.inspect/.remove(name, force)/.prune
//! Containers: network::hooks::ContainerHooks::new(&engine): .create/.start/.stop/.remove at each
//!        step, .network_settings/.mounts/.ports for inspect and ps (see network::hooks).
//! Errors: engine::Error with kind() -> berth_base::ErrorKind (NotFound, Conflict, Invalid, ...).
//! Names: berth_base::reference::Reference::parse("busybox") = docker.io/library/busybox (+ with_default_tag()),
//!        .familiar() = "busybox:latest"; full ids "sha256:..." and short id prefixes are accepted.
//!     .read_image_file(name, "etc/passwd")           -> Option<Vec<u8>>        through the layers, whiteouts honoured
//! Container rootfs: engine.store().snapshots.prepare(key, layers.last()) -> Vec<Mount> (overlay specs; the
//!        caller mounts them), .upper_dir(key), .remove(key); spec::build(&config, &RunOptions, &read_file)
//!        turns image config + options into an OCI spec (Docker's defaults, users from the image).
//! Commit: engine.images().commit(parent_image, upper_dir, &CommitOptions { reference, config, changes,
//!        message, author, created_by }) -> new image id (pause the container first).
//! Build: berth_store::diff::write_overlay_diff(upper_dir, writer) -> DiffStats { diff_id, tar_size }
//!        (a container's changes as a layer tar); berth_store::diff::write_dir_diff(old, new, writer).
//! Layers: engine.store().layer_tar(&LayerRecord) -> the exact uncompressed tar of any stored layer.
//! ```
#![forbid(unsafe_code)]

pub mod container;
pub mod error;
pub mod events;
pub mod image;
pub mod network;
pub mod spec;
pub mod volume;

pub use error::{Error, Result};

use events::Events;
use image::Images;
use std::path::PathBuf;
use std::sync::Arc;

/// Where the engine keeps its state.
#[derive(Debug, Clone)]
pub struct Config {
    /// Persistent state (`/var/lib/berth`).
    pub data_root: PathBuf,
    /// Runtime state: sockets, shim state (`/run/berth`).
    pub exec_root: PathBuf,
}

/// The engine: its services over one data root.
#[derive(Debug)]
pub struct Engine {
    config: Config,
    store: Arc<berth_store::Store>,
    events: Arc<Events>,
    images: Images,
    networks: Arc<network::Networks>,
    volumes: Arc<volume::Volumes>,
}

impl Engine {
    /// Opens the state under `config.data_root` (creating it), cleaning up
    /// what an interrupted operation left.
    pub fn open(config: Config) -> Result<Self> {
        std::fs::create_dir_all(&config.exec_root)
            .map_err(|e| Error::io(format!("create {}", config.exec_root.display()), e))?;
        let store = Arc::new(berth_store::Store::open(&config.data_root)?);
        let events = Arc::new(Events::new());
        let images = Images::new(store.clone(), events.clone());
        let networks = Arc::new(network::Networks::open(&config, events.clone())?);
        let volumes = Arc::new(volume::Volumes::open(&config, events.clone())?);
        Ok(Self {
            config,
            store,
            events,
            images,
            networks,
            volumes,
        })
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The image service.
    pub fn images(&self) -> &Images {
        &self.images
    }

    /// The network service.
    pub fn networks(&self) -> &Arc<network::Networks> {
        &self.networks
    }

    /// The volume service.
    pub fn volumes(&self) -> &Arc<volume::Volumes> {
        &self.volumes
    }

    /// The event bus.
    pub fn events(&self) -> &Arc<Events> {
        &self.events
    }

    /// The image store (content, snapshots, metadata).
    pub fn store(&self) -> &Arc<berth_store::Store> {
        &self.store
    }
}
