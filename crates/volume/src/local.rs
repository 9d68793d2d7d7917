//! The local volume driver: one directory per volume under
//! `<data-root>/volumes/<name>/`, its data in `_data`, its metadata in
//! `volume.json` (written atomically), including which containers use it
//! and which hold its driver mount, so both survive a daemon restart.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::copyup;
use crate::driver_mount;
use crate::error::{io_err, Error, Result};
use crate::spec::valid_volume_name;

/// The only driver built in.
pub const LOCAL_DRIVER: &str = "local";
/// The label docker (23+) puts on anonymous volumes; `prune` without `all`
/// removes only volumes that carry it.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

const META_FILE: &str = "volume.json";
const DATA_DIR: &str = "_data";
const META_VERSION: u32 = 1;

/// A volume as `docker volume inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    /// The name.
    pub name: String,
    /// Always `local`.
    pub driver: String,
    /// Host path of the data (`…/volumes/<name>/_data`).
    pub mountpoint: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// User labels (plus the anonymous marker).
    pub labels: BTreeMap<String, String>,
    /// Always `local`.
    pub scope: String,
    /// The driver options given at create.
    pub options: BTreeMap<String, String>,
    /// Size and reference count, when asked for (`system df -v`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub usage_data: Option<UsageData>,
}

/// Disk use of a volume, docker's shape (`-1` when not computed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UsageData {
    /// Bytes used by the files in the volume (hard links counted once).
    pub size: i64,
    /// Containers referencing the volume.
    pub ref_count: i64,
}

/// What `volume create` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateRequest {
    /// The name; `None` makes an anonymous volume with a random 64-hex name.
    pub name: Option<String>,
    /// The driver; `None` or `local`.
    pub driver: Option<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Driver options: `type`, `device`, `o`.
    pub options: BTreeMap<String, String>,
}

/// `volume ls` filters (docker's names: `name`, `label`, `dangling`,
/// `driver`). Values of one key are alternatives; keys must all match,
/// except `label` whose values must all match, as in docker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeFilters {
    /// Substrings of the name.
    pub names: Vec<String>,
    /// `key` or `key=value`.
    pub labels: Vec<String>,
    /// Only volumes no container uses (`true`) or only used ones (`false`).
    pub dangling: Option<bool>,
    /// Driver names.
    pub drivers: Vec<String>,
}

impl VolumeFilters {
    /// Builds the filters from docker's decoded `filters` query parameter
    /// (`{"label":["a=b"],"dangling":["true"]}`); unknown keys are refused.
    pub fn from_map(map: &BTreeMap<String, Vec<String>>) -> Result<Self> {
        let mut f = VolumeFilters::default();
        for (k, vals) in map {
            match k.as_str() {
                "name" => f.names.extend(vals.iter().cloned()),
                "label" => f.labels.extend(vals.iter().cloned()),
                "driver" => f.drivers.extend(vals.iter().cloned()),
                "dangling" => {
                    for v in vals {
                        f.dangling = Some(match v.as_str() {
                            "true" | "1" => true,
                            "false" | "0" => false,
                            _ => {
                                return Err(Error::Invalid(format!(
                                    "invalid filter 'dangling={v}'"
                                )))
                            }
                        });
                    }
                }
                _ => return Err(Error::Invalid(format!("invalid filter '{k}'"))),
            }
        }
        Ok(f)
    }

    fn matches(&self, r: &Record) -> bool {
        (self.names.is_empty() || self.names.iter().any(|n| r.name.contains(n.as_str())))
            && self.labels.iter().all(|l| label_matches(&r.labels, l))
            && self.dangling.is_none_or(|d| d == r.users.is_empty())
            && (self.drivers.is_empty() || self.drivers.contains(&r.driver))
    }
}

fn label_matches(labels: &BTreeMap<String, String>, filter: &str) -> bool {
    match filter.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
        None => labels.contains_key(filter),
    }
}

/// `volume prune` options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneOptions {
    /// Also named volumes (docker's `all=true` filter); by default only
    /// anonymous ones, as docker 23+.
    pub all: bool,
    /// `label=` filters that must all match.
    pub labels: Vec<String>,
    /// `label!=` filters none of which may match.
    pub not_labels: Vec<String>,
}

impl PruneOptions {
    /// From docker's decoded prune `filters` (`all`, `label`, `label!`).
    pub fn from_map(map: &BTreeMap<String, Vec<String>>) -> Result<Self> {
        let mut p = PruneOptions::default();
        for (k, vals) in map {
            match k.as_str() {
                "all" => {
                    for v in vals {
                        p.all = match v.as_str() {
                            "true" | "1" => true,
                            "false" | "0" => false,
                            _ => return Err(Error::Invalid(format!("invalid filter 'all={v}'"))),
                        }
                    }
                }
                "label" => p.labels.extend(vals.iter().cloned()),
                "label!" => p.not_labels.extend(vals.iter().cloned()),
                _ => return Err(Error::Invalid(format!("invalid filter '{k}'"))),
            }
        }
        Ok(p)
    }
}

/// What `volume prune` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PruneReport {
    /// Names of the removed volumes.
    pub volumes_deleted: Vec<String>,
    /// Bytes freed.
    pub space_reclaimed: u64,
}

/// The persisted record of one volume.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    version: u32,
    name: String,
    driver: String,
    created_at: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    options: BTreeMap<String, String>,
    /// Containers that reference the volume (in use: cannot be removed).
    #[serde(default)]
    users: BTreeSet<String>,
    /// Holders of the driver mount (mounted while non-empty).
    #[serde(default)]
    mounted_by: BTreeSet<String>,
}

impl Record {
    /// Referenced by a container or holding a mount for one.
    fn in_use(&self) -> bool {
        !self.users.is_empty() || !self.mounted_by.is_empty()
    }
}

/// The local volume store. One per data root; share it (it is `Sync`):
/// every operation takes an internal lock, so concurrent requests see each
/// volume's record change atomically.
#[derive(Debug)]
pub struct VolumeStore {
    dir: PathBuf,
    lock: Mutex<()>,
}

impl VolumeStore {
    /// Opens (creating if needed) the store under `<data_root>/volumes`.
    pub fn open(data_root: &Path) -> Result<Self> {
        let dir = data_root.join("volumes");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o701)
            .create(&dir)
            .map_err(io_err("mkdir", &dir))?;
        // Mount points are compared with /proc's canonical names.
        let dir = std::fs::canonicalize(&dir).map_err(io_err("canonicalize", &dir))?;
        Ok(VolumeStore {
            dir,
            lock: Mutex::new(()),
        })
    }

    /// The directory holding the volumes.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn locked(&self) -> MutexGuard<'_, ()> {
        // A panic while holding the lock leaves no half-written record
        // (records are written atomically), so the poison can be ignored.
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn vol_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Host path of a volume's data.
    pub fn data_path(&self, name: &str) -> PathBuf {
        self.vol_dir(name).join(DATA_DIR)
    }

    fn load(&self, name: &str) -> Result<Record> {
        if !valid_volume_name(name) {
            return Err(Error::NotFound(name.to_owned()));
        }
        let path = self.vol_dir(name).join(META_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(name.to_owned()))
            }
            Err(e) => return Err(io_err("read", &path)(e)),
        };
        serde_json::from_slice(&bytes).map_err(|source| Error::Metadata {
            name: name.to_owned(),
            path,
            source,
        })
    }

    fn save(&self, r: &Record) -> Result<()> {
        let path = self.vol_dir(&r.name).join(META_FILE);
        let bytes = serde_json::to_vec_pretty(r).map_err(|source| Error::Metadata {
            name: r.name.clone(),
            path: path.clone(),
            source,
        })?;
        berth_base::fsutil::atomic_write(&path, &bytes, 0o600).map_err(io_err("write", &path))
    }

    fn view(&self, r: &Record) -> Volume {
        Volume {
            name: r.name.clone(),
            driver: r.driver.clone(),
            mountpoint: self.data_path(&r.name).to_string_lossy().into_owned(),
            created_at: r.created_at.clone(),
            labels: r.labels.clone(),
            scope: "local".into(),
            options: r.options.clone(),
            usage_data: None,
        }
    }

    /// `volume create`. An existing volume of that name is returned as it
    /// is (docker's create is idempotent).
    pub fn create(&self, req: CreateRequest) -> Result<Volume> {
        let _g = self.locked();
        self.create_locked(req).map(|r| self.view(&r))
    }

    fn create_locked(&self, req: CreateRequest) -> Result<Record> {
        let driver = req.driver.unwrap_or_else(|| LOCAL_DRIVER.to_owned());
        if driver != LOCAL_DRIVER {
            return Err(Error::UnknownDriver(driver));
        }
        let mut labels = req.labels;
        let name = match req.name.filter(|n| !n.is_empty()) {
            Some(n) => n,
            None => {
                labels.insert(ANONYMOUS_LABEL.to_owned(), String::new());
                berth_base::id::random_id().map_err(io_err("read", Path::new("/dev/urandom")))?
            }
        };
        if !valid_volume_name(&name) {
            return Err(Error::InvalidName(name));
        }
        match self.load(&name) {
            Ok(r) => return Ok(r),
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        driver_mount::validate(&req.options)?;
        let r = Record {
            version: META_VERSION,
            name: name.clone(),
            driver,
            created_at: berth_base::time::format_rfc3339_secs(
                berth_base::time::now_nanos().div_euclid(1_000_000_000),
            ),
            labels,
            options: req.options,
            users: BTreeSet::new(),
            mounted_by: BTreeSet::new(),
        };
        let vdir = self.vol_dir(&name);
        let data = self.data_path(&name);
        // A directory without a record is what a crash left of a create or
        // a remove: clear it so the new volume starts empty.
        if std::fs::symlink_metadata(&vdir).is_ok() {
            driver_mount::remove_tree(&vdir)?;
        }
        let made = std::fs::DirBuilder::new()
            .mode(0o701)
            .create(&vdir)
            .and_then(|()| std::fs::DirBuilder::new().mode(0o755).create(&data))
            .map_err(io_err("mkdir", &data))
            .and_then(|()| self.save(&r));
        if let Err(e) = made {
            // Leave no half-made volume behind; the create error is the one
            // to report, a failing cleanup is logged.
            if let Err(c) = driver_mount::remove_tree(&vdir) {
                tracing::warn!(volume = %name, error = %c, "cleanup of failed create");
            }
            return Err(e);
        }
        Ok(r)
    }

    /// `volume inspect`.
    pub fn inspect(&self, name: &str) -> Result<Volume> {
        let _g = self.locked();
        self.load(name).map(|r| self.view(&r))
    }

    /// Size and reference count of a volume (`UsageData`).
    pub fn usage(&self, name: &str) -> Result<UsageData> {
        let r = {
            let _g = self.locked();
            self.load(name)?
        };
        Ok(UsageData {
            size: dir_size(&self.data_path(name)).map_or(-1, |s| s as i64),
            ref_count: r.users.len() as i64,
        })
    }

    /// `volume ls`, sorted by name.
    pub fn list(&self, filters: &VolumeFilters) -> Result<Vec<Volume>> {
        let _g = self.locked();
        Ok(self
            .records()?
            .iter()
            .filter(|r| filters.matches(r))
            .map(|r| self.view(r))
            .collect())
    }

    fn records(&self) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.dir).map_err(io_err("read dir", &self.dir))? {
            let e = e.map_err(io_err("read dir", &self.dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            match self.load(&name) {
                Ok(r) => out.push(r),
                // Leftovers (a create cut short by a crash, stray files)
                // are not volumes.
                Err(Error::NotFound(_)) => {}
                Err(e) => tracing::warn!(volume = %name, error = %e, "unreadable volume skipped"),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// `volume rm`. A volume that containers use (or hold mounted) is
    /// refused with a conflict unless `force`; `force` also makes a missing volume no error (as
    /// docker's `-f`). A driver mount still in place is unmounted first.
    pub fn remove(&self, name: &str, force: bool) -> Result<()> {
        let _g = self.locked();
        let r = match self.load(name) {
            Ok(r) => r,
            Err(Error::NotFound(_)) if force => return Ok(()),
            Err(e) => return Err(e),
        };
        if r.in_use() && !force {
            return Err(Error::InUse {
                name: name.to_owned(),
                containers: r.users.union(&r.mounted_by).cloned().collect(),
            });
        }
        self.destroy(&r).map(drop)
    }

    /// Deletes a volume's data and record; returns the bytes freed.
    fn destroy(&self, r: &Record) -> Result<u64> {
        let data = self.data_path(&r.name);
        if driver_mount::is_mount_point(&data)? {
            driver_mount::unmount(&data)?;
        }
        // A mount still there (kept busy, or something mounted inside the
        // volume) must not have its files deleted through us.
        let vdir = self.vol_dir(&r.name);
        if let Some(m) = driver_mount::mounts_below(&vdir)?.into_iter().next() {
            return Err(Error::Mounted(m));
        }
        let size = dir_size(&data).unwrap_or(0);
        // Remove the record first: a crash midway leaves a directory
        // without record, which `records` ignores, never a record
        // pointing at half-deleted data.
        let meta = vdir.join(META_FILE);
        std::fs::remove_file(&meta).map_err(io_err("remove", &meta))?;
        driver_mount::remove_tree(&vdir)?;
        Ok(size)
    }

    /// `volume prune`: removes the volumes no container uses; only
    /// anonymous ones unless `all`.
    pub fn prune(&self, opts: &PruneOptions) -> Result<PruneReport> {
        let _g = self.locked();
        let mut report = PruneReport::default();
        for r in self.records()? {
            let eligible = !r.in_use()
                && (opts.all || r.labels.contains_key(ANONYMOUS_LABEL))
                && opts.labels.iter().all(|l| label_matches(&r.labels, l))
                && !opts.not_labels.iter().any(|l| label_matches(&r.labels, l));
            if eligible {
                report.space_reclaimed += self.destroy(&r)?;
                report.volumes_deleted.push(r.name);
            }
        }
        Ok(report)
    }

    /// Records that container `id` uses the volume (idempotent).
    pub fn add_user(&self, name: &str, id: &str) -> Result<()> {
        let _g = self.locked();
        let mut r = self.load(name)?;
        if r.users.insert(id.to_owned()) {
            self.save(&r)?;
        }
        Ok(())
    }

    /// Records that container `id` no longer uses the volume (idempotent).
    /// Returns whether no container uses it any more.
    pub fn remove_user(&self, name: &str, id: &str) -> Result<bool> {
        let _g = self.locked();
        let mut r = self.load(name)?;
        if r.users.remove(id) {
            self.save(&r)?;
        }
        Ok(r.users.is_empty())
    }

    /// Containers that use the volume.
    pub fn users(&self, name: &str) -> Result<Vec<String>> {
        let _g = self.locked();
        Ok(self.load(name)?.users.into_iter().collect())
    }

    /// Whether the volume is anonymous (carries docker's anonymous label).
    pub fn is_anonymous(&self, name: &str) -> Result<bool> {
        let _g = self.locked();
        Ok(self.load(name)?.labels.contains_key(ANONYMOUS_LABEL))
    }

    /// Makes the volume's data available for `holder` and returns its host
    /// path. A volume with driver options is mounted on its first holder
    /// (or when its mount has gone, e.g. after a reboot); a plain one needs
    /// no mount. Idempotent per holder.
    pub fn mount(&self, name: &str, holder: &str) -> Result<PathBuf> {
        let _g = self.locked();
        let mut r = self.load(name)?;
        let data = self.data_path(name);
        if driver_mount::needs_mount(&r.options) && !driver_mount::is_mount_point(&data)? {
            driver_mount::mount(&r.options, &data)?;
        }
        if r.mounted_by.insert(holder.to_owned()) {
            if let Err(e) = self.save(&r) {
                if r.mounted_by.len() == 1 && driver_mount::needs_mount(&r.options) {
                    let _ = driver_mount::unmount(&data);
                }
                return Err(e);
            }
        }
        Ok(data)
    }

    /// Releases `holder`'s use of the data; the last holder unmounts a
    /// volume with driver options. Idempotent per holder.
    pub fn unmount(&self, name: &str, holder: &str) -> Result<()> {
        let _g = self.locked();
        let mut r = self.load(name)?;
        if r.mounted_by.remove(holder) {
            self.save(&r)?;
        }
        let data = self.data_path(name);
        if r.mounted_by.is_empty()
            && driver_mount::needs_mount(&r.options)
            && driver_mount::is_mount_point(&data)?
        {
            driver_mount::unmount(&data)?;
        }
        Ok(())
    }

    /// At daemon start, after containers are known again: forgets users that
    /// are no longer containers and mount holders that no longer run (a
    /// container that died while the daemon was down), and unmounts the
    /// volumes nobody holds any more. Returns the volumes it changed.
    pub fn reconcile(
        &self,
        is_container: &dyn Fn(&str) -> bool,
        is_running: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<String>> {
        let _g = self.locked();
        let mut changed = Vec::new();
        for mut r in self.records()? {
            let before = (r.users.len(), r.mounted_by.len());
            r.users.retain(|id| is_container(id));
            r.mounted_by.retain(|id| is_running(id));
            let data = self.data_path(&r.name);
            if r.mounted_by.is_empty()
                && driver_mount::needs_mount(&r.options)
                && driver_mount::is_mount_point(&data)?
            {
                driver_mount::unmount(&data)?;
            }
            if before != (r.users.len(), r.mounted_by.len()) {
                self.save(&r)?;
                changed.push(r.name);
            }
        }
        Ok(changed)
    }

    /// Copy-up: when the volume's data is empty, fills it from `src` (the
    /// image's content at the mount point, already resolved inside the
    /// container's rootfs). Returns whether anything was copied. The volume
    /// must be mounted (see [`VolumeStore::mount`]) if it has driver options.
    pub fn populate(&self, name: &str, src: &Path) -> Result<bool> {
        let _g = self.locked();
        self.load(name)?;
        let data = self.data_path(name);
        if !src.is_dir() || !copyup::is_empty_dir(&data)? {
            return Ok(false);
        }
        copyup::copy_dir_contents(src, &data)?;
        Ok(true)
    }
}

/// Bytes in the files under `dir`, each inode counted once.
fn dir_size(dir: &Path) -> std::io::Result<u64> {
    let mut seen = BTreeSet::new();
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let md = e.metadata()?;
            if md.is_dir() {
                stack.push(e.path());
            } else if seen.insert((md.dev(), md.ino())) {
                total += md.len();
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_filters() {
        let l: BTreeMap<String, String> = [("a".to_string(), "1".to_string())].into();
        assert!(label_matches(&l, "a"));
        assert!(label_matches(&l, "a=1"));
        assert!(!label_matches(&l, "a=2"));
        assert!(!label_matches(&l, "b"));
    }

    #[test]
    fn filter_maps() {
        let m: BTreeMap<String, Vec<String>> = [
            ("dangling".to_string(), vec!["true".to_string()]),
            ("name".to_string(), vec!["x".to_string()]),
        ]
        .into();
        let f = VolumeFilters::from_map(&m).unwrap();
        assert_eq!(f.dangling, Some(true));
        assert_eq!(f.names, vec!["x"]);
        let bad: BTreeMap<String, Vec<String>> = [("nope".to_string(), vec![])].into();
        assert!(VolumeFilters::from_map(&bad).is_err());
        let p: BTreeMap<String, Vec<String>> = [
            ("all".to_string(), vec!["true".to_string()]),
            ("label!".to_string(), vec!["keep".to_string()]),
        ]
        .into();
        let p = PruneOptions::from_map(&p).unwrap();
        assert!(p.all);
        assert_eq!(p.not_labels, vec!["keep"]);
    }
}
