//! The cgroup of one container across every hierarchy of the host.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::layout::{Hierarchy, Layout};
use crate::{files, resources, v1, v2, FreezerState};

/// How long freeze waits for every task to stop before giving up.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long destroy retries rmdir while exiting tasks still hold the cgroup.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The container's directory in one hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Dir {
    /// Controllers of the hierarchy (v2: those available at its root).
    pub controllers: Vec<String>,
    pub mountpoint: PathBuf,
    /// The container's cgroup directory.
    pub path: PathBuf,
}

impl Dir {
    fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// Where a controller lives for this container.
pub(crate) enum Place<'a> {
    V1(&'a Path),
    V2(&'a Path),
}

/// The cgroup of one container: its directory in every v1 hierarchy and in
/// the v2 hierarchy, whichever the host has. Resolved once by [`Manager::new`];
/// it serializes (serde) so that later commands (pause, delete) can reload
/// exactly the same directories even when they run from another cgroup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manager {
    hierarchy: Hierarchy,
    v1: Vec<Dir>,
    v2: Option<Dir>,
}

impl Manager {
    /// The container's cgroup on this host. `cgroups_path` follows runc: an
    /// absolute path is taken from the root of each hierarchy, a relative
    /// one from the cgroup of the calling process, and `None` (or "") means
    /// `/berth/<container_id>`.
    pub fn new(cgroups_path: Option<&str>, container_id: &str) -> Result<Manager> {
        let relative = cgroups_path.is_some_and(|p| !p.is_empty() && !p.starts_with('/'));
        Manager::from_layout(&Layout::detect(relative)?, cgroups_path, container_id)
    }

    /// Like [`Manager::new`], on a directory tree that mimics cgroupfs
    /// (tests): `root` holding cgroup.controllers is a v2 mount; otherwise
    /// each subdirectory is a v1 hierarchy named by its controllers
    /// ("cpu,cpuacct"), and a subdirectory holding cgroup.controllers is the
    /// v2 mount of a hybrid host. The caller's own cgroup is the root.
    pub fn with_root(
        root: &Path,
        cgroups_path: Option<&str>,
        container_id: &str,
    ) -> Result<Manager> {
        Manager::from_layout(&Layout::fake(root)?, cgroups_path, container_id)
    }

    fn from_layout(layout: &Layout, cgroups_path: Option<&str>, id: &str) -> Result<Manager> {
        let default;
        let wanted = match cgroups_path.filter(|p| !p.is_empty()) {
            Some(p) => p,
            None => {
                if id.is_empty() || id.contains('/') || id == "." || id == ".." {
                    return Err(Error::InvalidPath {
                        path: id.to_string(),
                        reason: "the container id cannot name a cgroup",
                    });
                }
                default = format!("/berth/{id}");
                &default
            }
        };
        let resolve = |mountpoint: &Path, own: &str| -> Result<PathBuf> {
            let base = if wanted.starts_with('/') { "/" } else { own };
            let mut path = mountpoint.to_path_buf();
            for part in base.split('/').chain(wanted.split('/')) {
                match part {
                    "" | "." => {}
                    ".." => {
                        return Err(Error::InvalidPath {
                            path: wanted.to_string(),
                            reason: "\"..\" is not allowed",
                        })
                    }
                    p => path.push(p),
                }
            }
            if path == mountpoint {
                return Err(Error::InvalidPath {
                    path: wanted.to_string(),
                    reason: "the root cgroup cannot hold a container",
                });
            }
            Ok(path)
        };
        let v1 = layout
            .v1
            .iter()
            .map(|m| {
                Ok(Dir {
                    controllers: m.controllers.clone(),
                    mountpoint: m.mountpoint.clone(),
                    path: resolve(&m.mountpoint, &m.own)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let v2 = layout
            .v2
            .as_ref()
            .map(|m| {
                Ok::<_, Error>(Dir {
                    controllers: m.controllers.clone(),
                    mountpoint: m.mountpoint.clone(),
                    path: resolve(&m.mountpoint, &m.own)?,
                })
            })
            .transpose()?;
        Ok(Manager {
            hierarchy: layout.hierarchy(),
            v1,
            v2,
        })
    }

    /// The kind of host.
    pub fn hierarchy(&self) -> Hierarchy {
        self.hierarchy
    }

    /// The container's directory for `controller` ("memory", "pids", ...),
    /// or for the unified hierarchy with "". `None` if no hierarchy has it.
    pub fn path(&self, controller: &str) -> Option<&Path> {
        match self.place(controller)? {
            Place::V1(p) | Place::V2(p) => Some(p),
        }
    }

    /// Every directory of the container, one per hierarchy.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.v1.iter().chain(&self.v2).map(|d| d.path.as_path())
    }

    pub(crate) fn place(&self, controller: &str) -> Option<Place<'_>> {
        if let Some(d) = self.v1.iter().find(|d| d.has(controller)) {
            return Some(Place::V1(&d.path));
        }
        let v2 = self.v2.as_ref()?;
        (controller.is_empty() || v2.has(controller)).then_some(Place::V2(&v2.path))
    }

    /// Like [`Manager::place`], but ready for writing: on a hybrid host the
    /// v2 controllers are enabled only when first needed, so that hosts that
    /// never limit hugetlb see no change to their v2 tree.
    pub(crate) fn place_for_write(&self, controller: &str) -> Result<Option<Place<'_>>> {
        let place = self.place(controller);
        if let (Some(Place::V2(_)), Some(v2)) = (&place, &self.v2) {
            if self.hierarchy == Hierarchy::Hybrid && !controller.is_empty() {
                for dir in ancestors(v2) {
                    v2::enable_controllers(&dir, &[controller.to_string()])?;
                }
            }
        }
        Ok(place)
    }

    /// Create the directories (and parents) in every hierarchy. On a v2
    /// host, enable every available controller down to the container; on a
    /// v1 host, give new cpuset directories their parent's cpus and mems.
    /// If anything fails, the directories created so far are removed.
    pub fn create(&self) -> Result<()> {
        let mut made = Vec::new();
        let result = self.create_dirs(&mut made);
        if let Err(e) = result {
            for dir in made.iter().rev() {
                if let Err(cleanup) = remove_dir(dir) {
                    return Err(Error::Rollback {
                        error: Box::new(e),
                        cleanup: Box::new(cleanup),
                    });
                }
            }
            return Err(e);
        }
        Ok(())
    }

    fn create_dirs(&self, made: &mut Vec<PathBuf>) -> Result<()> {
        for d in &self.v1 {
            mkdirs(d, made)?;
            if d.has("cpuset") {
                // Every level, not only those we made: a parent that another
                // create has just made may not have its cpus yet.
                for dir in ancestors(d).iter().skip(1).chain([&d.path]) {
                    v1::init_cpuset(dir)?;
                }
            }
        }
        if let Some(d) = &self.v2 {
            let all = self.hierarchy == Hierarchy::Unified;
            mkdirs(d, made)?;
            if all && !d.controllers.is_empty() {
                for dir in ancestors(d) {
                    v2::enable_controllers(&dir, &d.controllers)?;
                }
            }
        }
        Ok(())
    }

    /// Move process `pid` into the container's cgroup in every hierarchy.
    pub fn apply(&self, pid: i32) -> Result<()> {
        let pid = pid.to_string();
        for dir in self.paths() {
            files::write(dir, "cgroup.procs", &pid)?;
        }
        Ok(())
    }

    /// Apply resource limits. Only what is set is written; a value the
    /// kernel cannot honour (a missing controller or control file) fails
    /// with an error naming it, but only when it was asked for.
    pub fn set(&self, resources: &oci_spec::runtime::LinuxResources) -> Result<()> {
        resources::set(self, resources)
    }

    /// Change limits of a running container (`docker update`): the same
    /// writes as [`Manager::set`], ordered so that each intermediate state
    /// is valid for the kernel (memory before or after memory+swap).
    pub fn update(&self, resources: &oci_spec::runtime::LinuxResources) -> Result<()> {
        resources::set(self, resources)
    }

    fn freezer(&self) -> Option<Place<'_>> {
        self.place("freezer").or_else(|| self.place(""))
    }

    /// Freeze every process of the container and wait until they are.
    pub fn freeze(&self) -> Result<()> {
        match self.freezer() {
            Some(Place::V1(dir)) => v1::freeze(dir, FREEZE_TIMEOUT),
            Some(Place::V2(dir)) => v2::set_frozen(dir, true, FREEZE_TIMEOUT),
            None => Err(no_freezer()),
        }
    }

    /// Thaw the container.
    pub fn thaw(&self) -> Result<()> {
        match self.freezer() {
            Some(Place::V1(dir)) => v1::thaw(dir),
            Some(Place::V2(dir)) => v2::set_frozen(dir, false, FREEZE_TIMEOUT),
            None => Err(no_freezer()),
        }
    }

    /// Whether the container is frozen.
    pub fn state(&self) -> Result<FreezerState> {
        match self.freezer() {
            Some(Place::V1(dir)) => v1::freezer_state(dir),
            Some(Place::V2(dir)) => v2::freezer_state(dir),
            None => Err(no_freezer()),
        }
    }

    /// The directory that lists the container's processes best: v2 on a
    /// unified host, else the pids (or any) v1 hierarchy.
    fn procs_dir(&self) -> Option<&Path> {
        if self.hierarchy == Hierarchy::Unified {
            return self.path("");
        }
        ["pids", "memory", "freezer"]
            .iter()
            .find_map(|c| self.path(c))
            .or_else(|| self.paths().next())
    }

    /// Every process in the container's cgroup and its sub-cgroups.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let mut out = Vec::new();
        if let Some(dir) = self.procs_dir() {
            collect_pids(dir, &mut out)?;
        }
        Ok(out)
    }

    /// Send `signal` to every process of the container. SIGKILL on v2 uses
    /// cgroup.kill where the kernel has it; otherwise the cgroup is frozen
    /// while we signal so that no process can fork behind our back, then
    /// thawed (a paused container stays paused unless the signal is SIGKILL,
    /// which needs thawing to be delivered).
    pub fn kill_all(&self, signal: Signal) -> Result<()> {
        if signal == Signal::SIGKILL {
            if let Some(dir) = self
                .path("")
                .filter(|_| self.hierarchy == Hierarchy::Unified)
            {
                match files::write(dir, "cgroup.kill", "1") {
                    Err(e) if v2::is_not_found(&e) => {}
                    other => return other,
                }
            }
        }
        let was_frozen = self.state().ok() == Some(FreezerState::Frozen);
        let froze = !was_frozen && self.freeze().is_ok();
        let result = self.pids().and_then(|pids| {
            pids.into_iter().try_for_each(|pid| {
                match nix::sys::signal::kill(Pid::from_raw(pid), signal) {
                    Ok(()) | Err(nix::Error::ESRCH) => Ok(()),
                    Err(source) => Err(Error::Kill { pid, source }),
                }
            })
        });
        if froze || (was_frozen && signal == Signal::SIGKILL) {
            self.thaw()?;
        }
        result
    }

    /// Remove the container's directories (and any sub-cgroups the
    /// container made) in every hierarchy, retrying while exiting processes
    /// still hold them. Missing directories are fine: destroy is idempotent.
    pub fn destroy(&self) -> Result<()> {
        let mut first = None;
        for dir in self.paths() {
            if let Err(e) = remove_tree(dir) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

fn no_freezer() -> Error {
    Error::Unsupported {
        what: "freezing".into(),
        reason: "no freezer controller and no cgroup v2 hierarchy".into(),
    }
}

/// The directories from the mountpoint down to the parent of `d.path`.
fn ancestors(d: &Dir) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = d
        .path
        .ancestors()
        .skip(1)
        .take_while(|p| p.starts_with(&d.mountpoint))
        .map(Path::to_path_buf)
        .collect();
    out.reverse();
    out
}

/// mkdir every missing level of `d.path`, recording those made.
fn mkdirs(d: &Dir, made: &mut Vec<PathBuf>) -> Result<()> {
    let Ok(rel) = d.path.strip_prefix(&d.mountpoint) else {
        return Err(Error::InvalidPath {
            path: d.path.display().to_string(),
            reason: "not below its hierarchy's mountpoint",
        });
    };
    let mut dir = d.mountpoint.clone();
    for part in rel.components() {
        dir.push(part);
        match std::fs::create_dir(&dir) {
            Ok(()) => made.push(dir.clone()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(source) => return Err(Error::Create { path: dir, source }),
        }
    }
    Ok(())
}

fn collect_pids(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    let procs = match files::read_optional(dir, "cgroup.procs")? {
        Some(p) => p,
        None => return Ok(()),
    };
    out.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    for sub in subdirs(dir)? {
        collect_pids(&sub, out)?;
    }
    Ok(())
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Read {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    Ok(entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect())
}

/// Remove `dir` and its sub-cgroups, deepest first. The directory is
/// listed only if a plain rmdir fails (sub-cgroups and exiting tasks both
/// give EBUSY): the common case costs one syscall.
fn remove_tree(dir: &Path) -> Result<()> {
    match std::fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    for sub in subdirs(dir)? {
        remove_tree(&sub)?;
    }
    remove_dir(dir)
}

/// rmdir, retrying EBUSY while the last tasks finish exiting.
fn remove_dir(dir: &Path) -> Result<()> {
    let start = std::time::Instant::now();
    let mut pause = Duration::from_micros(200);
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e)
                if e.kind() == io::ErrorKind::ResourceBusy && start.elapsed() < REMOVE_TIMEOUT =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(source) => {
                return Err(Error::Remove {
                    path: dir.to_path_buf(),
                    source,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_start_at_our_own_cgroup() {
        let mountinfo = "\
35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
";
        let own = "8:pids:/\n4:memory:/process_api/abc\n0::/user\n";
        let layout = Layout::parse(mountinfo, own);
        let m = Manager::from_layout(&layout, Some("rel/c"), "c").unwrap();
        assert_eq!(
            m.path("memory").unwrap(),
            Path::new("/sys/fs/cgroup/memory/process_api/abc/rel/c")
        );
        assert_eq!(
            m.path("pids").unwrap(),
            Path::new("/sys/fs/cgroup/pids/rel/c")
        );
        assert_eq!(
            m.path("").unwrap(),
            Path::new("/sys/fs/cgroup/unified/user/rel/c")
        );
        let m = Manager::from_layout(&layout, Some("/abs/c"), "c").unwrap();
        assert_eq!(
            m.path("memory").unwrap(),
            Path::new("/sys/fs/cgroup/memory/abs/c")
        );
        let m = Manager::from_layout(&layout, None, "c9").unwrap();
        assert_eq!(
            m.path("pids").unwrap(),
            Path::new("/sys/fs/cgroup/pids/berth/c9")
        );
        assert_eq!(m.hierarchy(), Hierarchy::Hybrid);
        assert!(m.path("hugetlb").is_none());
    }
}
