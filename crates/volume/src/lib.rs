//! Volumes and mounts for berth containers: the local volume driver, mount
//! spec parsing, copy-up from images, and mount points that cannot escape a
//! container's rootfs.
//!
//! # For the API (`volume create/ls/inspect/rm/prune`)
//!
//! ```text
//! let store = VolumeStore::open(data_root)?;              // once; share it (Sync)
//! store.create(CreateRequest { name, driver, labels, options })  -> Volume (inspect JSON shape)
//! store.list(&VolumeFilters::from_map(&filters)?)          -> Vec<Volume>
//! store.inspect(name)                                      -> Volume
//! store.usage(name)                                        -> UsageData (system df -v)
//! store.remove(name, force)                                // Conflict while in use unless force
//! store.prune(&PruneOptions::from_map(&filters)?)          -> PruneReport
//! store.reconcile(&is_container, &is_running)              // at daemon start
//! ```
//!
//! # For the container service
//!
//! ```text
//! // create: parse, merge, prepare; store the Vec<MountPoint> with the container
//! let req = MountRequest {
//!     volumes_from: volumes_from(&other.mounts, mode),     // per parse_volumes_from(entry)
//!     binds: binds.iter().map(|b| parse_volume(b)).collect()?,
//!     mounts: api_mounts.iter().map(ApiMount::to_spec).collect()?,  // HostConfig.Mounts
//!     tmpfs: tmpfs.iter().map(|(p, o)| tmpfs_entry(p, o)).collect()?,
//!     image_volumes: image_config.volumes + config.volumes,
//! };
//! // rootfs: the container's root file system, mounted (overlay merged
//! // dir) in the daemon's namespace; None skips copy-up.
//! let mounts = store.prepare(&id, &combine(&req)?, Some(&rootfs))?;
//! let inspect = inspect_mounts(&mounts);                   // inspect "Mounts"
//! // start, rootfs mounted: OCI mounts to append to config.json after the
//! // default /proc, /dev… mounts; destinations are already resolved
//! // inside the rootfs and their mount points exist.
//! let oci = store.activate(&id, &mounts, &rootfs)?;
//! // stop / exit
//! store.deactivate(&id, &mounts)?;
//! // rm (remove_anonymous = rm -v or --rm)
//! store.release(&id, &mounts, remove_anonymous)?;
//! ```
//!
//! # Where berth differs from docker (on purpose)
//!
//! - `remove(name, force)`: `force` also removes a volume that containers
//!   still reference (docker's `-f` only hides "no such volume").
//! - A volume with driver options (`type=tmpfs`…) gets the image's content
//!   when it is mounted at start; docker copies it at create into a mount
//!   that is then thrown away, so tmpfs volumes start empty there.
//! - `--mount` values may quote in the middle of a field
//!   (`volume-opt=o="addr=10.0.0.1,rw"`), which Go's CSV reader refuses.
//! - `z`/`Z` are accepted and recorded; there is no SELinux relabelling.
//!
//! Every operation is idempotent per container id and persisted, so a
//! restarted daemon calls the same functions again without double counting.
//! [`resolve::resolve_in_root`] and [`resolve::create_in_root`] are usable on
//! their own for any path that must stay inside a rootfs.
#![forbid(unsafe_code)]

pub mod api;
mod copyup;
mod driver_mount;
pub mod error;
pub mod local;
pub mod plan;
pub mod resolve;
pub mod spec;

pub use api::{ApiBindOptions, ApiDriverConfig, ApiMount, ApiTmpfsOptions, ApiVolumeOptions};
pub use error::{Error, Result};
pub use local::{
    CreateRequest, PruneOptions, PruneReport, UsageData, Volume, VolumeFilters, VolumeStore,
    ANONYMOUS_LABEL, LOCAL_DRIVER,
};
pub use plan::{
    combine, inspect_mounts, volumes_from, MountInspect, MountPoint, MountRequest, Planned,
};
pub use resolve::{container_path, create_in_root, resolve_in_root, MountPointKind};
pub use spec::{
    parse_mount, parse_size, parse_tmpfs, parse_volume, parse_volumes_from, tmpfs_entry,
    valid_volume_name, MountSpec, MountType, Origin, Propagation,
};
