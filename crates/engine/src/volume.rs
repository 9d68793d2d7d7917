//! The volume service: `volume create/ls/inspect/rm/prune` over
//! berth-volume's [`VolumeStore`], with events, and a container's mounts
//! over its life, for the container service:
//!
//! ```text
//! create: volumes.container_create(&id, &config, &host_config, rootfs, &resolve)?
//!         // -v, --mount, --tmpfs, --volumes-from and the image's VOLUMEs
//!         // (Config.Volumes): volumes created, image content copied in
//!         // (when rootfs, the mounted root file system, is given)
//! start:  let mounts: Vec<serde_json::Value> = volumes.container_start(&id, &rootfs)?;
//!         // OCI mounts to append to config.json, parents first
//! stop:   volumes.container_stop(&id)?
//! rm:     volumes.container_remove(&id, remove_anonymous /* rm -v, --rm */)?
//! inspect: volumes.container_mounts(&id)?   // docker's "Mounts"
//! ```

use crate::events::{Event, Events};
use crate::{Config, Error, Result};
use berth_volume::{
    combine, inspect_mounts, parse_volume, parse_volumes_from, tmpfs_entry, volumes_from, ApiMount,
    MountPoint, MountRequest, PruneOptions, VolumeFilters, VolumeStore,
};
pub use berth_volume::{CreateRequest, MountInspect, PruneReport, Volume};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A container's prepared mounts (`<data-root>/mounts/<id>.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ContainerMounts {
    id: String,
    mounts: Vec<MountPoint>,
}

/// The volume service of one daemon.
#[derive(Debug)]
pub struct Volumes {
    store: VolumeStore,
    events: Arc<Events>,
    mounts_dir: PathBuf,
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::Io { context, source: e }
}

impl Volumes {
    /// Opens `<data-root>/volumes` and forgets references of containers
    /// that are gone (their directory under `<data-root>/containers` is).
    pub fn open(config: &Config, events: Arc<Events>) -> Result<Self> {
        let store = VolumeStore::open(&config.data_root)?;
        let mounts_dir = config.data_root.join("mounts");
        std::fs::create_dir_all(&mounts_dir)
            .map_err(io(format!("create {}", mounts_dir.display())))?;
        let containers = config.data_root.join("containers");
        let is_container = |id: &str| containers.join(id).exists();
        // Whether a container still runs is the container service's to
        // say; until it has, a known container keeps its mounts.
        let changed = store.reconcile(&is_container, &is_container)?;
        if !changed.is_empty() {
            tracing::info!(volumes = ?changed, "dropped references of removed containers");
        }
        Ok(Self {
            store,
            events,
            mounts_dir,
        })
    }

    /// The underlying store.
    pub fn store(&self) -> &VolumeStore {
        &self.store
    }

    fn publish(&self, action: &str, name: &str, attrs: &[(&str, &str)]) {
        let mut a: BTreeMap<String, String> = attrs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        a.insert("driver".into(), berth_volume::LOCAL_DRIVER.into());
        self.events.publish(Event::new("volume", action, name, a));
    }

    /// `volume create` (idempotent for an existing name, as docker's).
    pub fn create(&self, req: CreateRequest) -> Result<Volume> {
        let existed = req
            .name
            .as_deref()
            .is_some_and(|n| self.store.inspect(n).is_ok());
        let v = self.store.create(req)?;
        if !existed {
            self.publish("create", &v.name, &[]);
        }
        Ok(v)
    }

    /// `volume ls` with docker's filters (`name`, `label`, `dangling`, `driver`).
    pub fn list(&self, filters: &BTreeMap<String, Vec<String>>) -> Result<Vec<Volume>> {
        Ok(self.store.list(&VolumeFilters::from_map(filters)?)?)
    }

    pub fn inspect(&self, name: &str) -> Result<Volume> {
        Ok(self.store.inspect(name)?)
    }

    /// `volume rm [-f]`: refused while containers use it unless `force`.
    pub fn remove(&self, name: &str, force: bool) -> Result<()> {
        let existed = self.store.inspect(name).is_ok();
        self.store.remove(name, force)?;
        if existed {
            self.publish("destroy", name, &[]);
        }
        Ok(())
    }

    /// `volume prune` (`all`, `label`, `label!` filters).
    pub fn prune(&self, filters: &BTreeMap<String, Vec<String>>) -> Result<PruneReport> {
        let r = self.store.prune(&PruneOptions::from_map(filters)?)?;
        for n in &r.volumes_deleted {
            self.publish("destroy", n, &[]);
        }
        Ok(r)
    }

    fn mounts_path(&self, id: &str) -> PathBuf {
        self.mounts_dir.join(format!("{id}.json"))
    }

    fn load(&self, id: &str) -> Result<Vec<MountPoint>> {
        let p = self.mounts_path(id);
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice::<ContainerMounts>(&b)
                .map(|c| c.mounts)
                .map_err(|e| Error::Invalid(format!("container mounts {}: {e}", p.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(io(format!("read {}", p.display()))(e)),
        }
    }

    /// At container create: plans and prepares its mounts from
    /// `HostConfig.Binds/Mounts/Tmpfs/VolumesFrom` and `Config.Volumes`
    /// (the image's VOLUMEs merged in), and stores them. `rootfs` is the
    /// mounted root file system for copying image content into new
    /// volumes (None: copied at start instead). `resolve` turns a
    /// `--volumes-from` name or id prefix into a container id.
    pub fn container_create(
        &self,
        id: &str,
        config: &Value,
        host_config: &Value,
        rootfs: Option<&Path>,
        resolve: &dyn Fn(&str) -> Option<String>,
    ) -> Result<()> {
        let list = crate::network::container::strs;
        let mut req = MountRequest::default();
        for entry in list(&host_config["VolumesFrom"]) {
            let (other, mode) = parse_volumes_from(&entry)?;
            let oid = resolve(&other).ok_or_else(|| {
                Error::Volume(berth_volume::Error::NotFound(format!("container {other}")))
            })?;
            req.volumes_from
                .extend(volumes_from(&self.load(&oid)?, mode));
        }
        for b in list(&host_config["Binds"]) {
            req.binds.push(parse_volume(&b)?);
        }
        if let Some(ms) = host_config["Mounts"].as_array() {
            for m in ms {
                let api: ApiMount = serde_json::from_value(m.clone())
                    .map_err(|e| Error::Invalid(format!("invalid mount config: {e}")))?;
                req.mounts.push(api.to_spec()?);
            }
        }
        if let Some(t) = host_config["Tmpfs"].as_object() {
            for (path, opts) in t {
                req.tmpfs
                    .push(tmpfs_entry(path, opts.as_str().unwrap_or(""))?);
            }
        }
        if let Some(v) = config["Volumes"].as_object() {
            req.image_volumes = v.keys().cloned().collect();
        }
        let plan = combine(&req)?;
        let mounts = self.store.prepare(id, &plan, rootfs)?;
        if mounts.is_empty() {
            // No file is no mounts (see `load`): most containers have none,
            // and their create, start and removal skip a file each.
            return Ok(());
        }
        let rec = ContainerMounts {
            id: id.to_owned(),
            mounts,
        };
        let p = self.mounts_path(id);
        let data = serde_json::to_vec_pretty(&rec)
            .map_err(|e| Error::Invalid(format!("encode mounts: {e}")))?;
        // An `--rm` container's record needs no fsync (see the container's).
        let write = if host_config["AutoRemove"].as_bool().unwrap_or(false) {
            berth_base::fsutil::replace_file
        } else {
            berth_base::fsutil::atomic_write
        };
        if let Err(e) = write(&p, &data, 0o600) {
            let _ = self.store.release(id, &rec.mounts, true);
            return Err(io(format!("write {}", p.display()))(e));
        }
        for m in rec.mounts.iter().filter(|m| m.anonymous) {
            self.publish("create", &m.name, &[]);
        }
        Ok(())
    }

    /// At container start, its rootfs mounted at `rootfs`: the OCI mounts
    /// (JSON) to append to config.json after the default ones.
    pub fn container_start(&self, id: &str, rootfs: &Path) -> Result<Vec<Value>> {
        let mounts = self.load(id)?;
        let oci = self.store.activate(id, &mounts, rootfs)?;
        for m in mounts
            .iter()
            .filter(|m| m.spec.kind == berth_volume::MountType::Volume)
        {
            let rw = if m.read_only { "false" } else { "true" };
            self.publish(
                "mount",
                &m.name,
                &[
                    ("container", id),
                    ("destination", &m.spec.target),
                    ("read/write", rw),
                ],
            );
        }
        oci.iter()
            .map(|m| {
                serde_json::to_value(m).map_err(|e| Error::Invalid(format!("encode mount: {e}")))
            })
            .collect()
    }

    /// When the container has stopped.
    pub fn container_stop(&self, id: &str) -> Result<()> {
        let mounts = self.load(id)?;
        self.store.deactivate(id, &mounts)?;
        for m in mounts
            .iter()
            .filter(|m| m.spec.kind == berth_volume::MountType::Volume)
        {
            self.publish("unmount", &m.name, &[("container", id)]);
        }
        Ok(())
    }

    /// At container removal: drops its references; with `remove_anonymous`
    /// (`rm -v`, `--rm`) also its anonymous volumes nobody else uses.
    /// Returns the volumes removed.
    pub fn container_remove(&self, id: &str, remove_anonymous: bool) -> Result<Vec<String>> {
        let mounts = self.load(id)?;
        let removed = self.store.release(id, &mounts, remove_anonymous)?;
        for n in &removed {
            self.publish("destroy", n, &[]);
        }
        match std::fs::remove_file(self.mounts_path(id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(io(format!("remove mounts of {id}"))(e))
            }
            _ => Ok(removed),
        }
    }

    /// Whether the container has mounts of its own (an unreadable record
    /// counts as having some, so that its start reports the error).
    pub fn has_mounts(&self, id: &str) -> bool {
        self.load(id).map_or(true, |m| !m.is_empty())
    }

    /// docker's inspect `Mounts` of a container.
    pub fn container_mounts(&self, id: &str) -> Result<Vec<MountInspect>> {
        Ok(inspect_mounts(&self.load(id)?))
    }
}
