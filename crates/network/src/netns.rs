//! Named network namespaces: a fresh namespace kept alive by a bind mount
//! of its nsfs file onto a path (as `ip netns add` does), so that the
//! engine can plug a container's veth in before the container's first
//! process exists, and the OCI runtime joins it through the spec's
//! `linux.namespaces[].path`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};

use crate::error::{Error, Result};
use crate::netlink::{open_netns, Netlink};

/// Creates a new network namespace bound at `path` (a file that must not
/// exist yet), with `lo` up. The namespace is made on a short-lived thread,
/// so the caller's own namespace never changes.
pub fn create(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io {
            op: "create dir",
            path: dir.to_path_buf(),
            source: e,
        })?;
    }
    new_file(path)?;
    let target = path.to_path_buf();
    let made = std::thread::Builder::new()
        .name("netns-create".into())
        .spawn(move || -> Result<()> {
            // Only this thread moves to the new namespace; it ends right
            // after, and the bind mount keeps the namespace alive.
            unshare(CloneFlags::CLONE_NEWNET).map_err(|e| Error::Io {
                op: "unshare network namespace for",
                path: target.clone(),
                source: e.into(),
            })?;
            mount(
                Some("/proc/thread-self/ns/net"),
                &target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| Error::Io {
                op: "bind-mount network namespace onto",
                path: target.clone(),
                source: e.into(),
            })
        })
        .map_err(|e| Error::Io {
            op: "spawn thread for netns",
            path: path.to_path_buf(),
            source: e,
        })?
        .join()
        .unwrap_or_else(|_| {
            Err(Error::Invalid(format!(
                "netns thread for {} panicked",
                path.display()
            )))
        });
    let up = made.and_then(|()| loopback_up(path));
    if let Err(e) = up {
        let _ = remove(path);
        return Err(e);
    }
    Ok(())
}

/// Brings `lo` up inside the namespace bound at `path`.
fn loopback_up(path: &Path) -> Result<()> {
    let ns = open_netns(path).map_err(|e| Error::Io {
        op: "open netns",
        path: path.to_path_buf(),
        source: e,
    })?;
    let mut nl = Netlink::open_in(&ns).map_err(Error::netlink("open socket in netns", "lo"))?;
    let links = nl
        .links()
        .map_err(Error::netlink("list links in netns", "lo"))?;
    if let Some(lo) = links.iter().find(|l| l.name == "lo" && !l.up) {
        nl.set_up(lo.index, true)
            .map_err(Error::netlink("set up in netns", "lo"))?;
    }
    Ok(())
}

/// Namespaces made ahead of need. Making one (a new `struct net`, `lo`
/// brought up) is ~1 ms of every container start; taken from here it is
/// a bind mount. The pool is filled on a thread of its own after each use,
/// so a daemon that never starts a container holds none.
pub struct Pool {
    shared: Arc<PoolShared>,
}

struct PoolShared {
    dir: PathBuf,
    ready: Mutex<Vec<PathBuf>>,
    filling: AtomicBool,
    closed: AtomicBool,
    made: AtomicU64,
}

/// Names of pooled namespaces in the pool's directory.
const POOL_PREFIX: &str = ".pool-";
/// Namespaces kept ready: `docker run` starts one container at a time, and
/// a burst only has to wait for namespaces as it would without a pool.
const POOL_SIZE: usize = 1;

impl Pool {
    /// A pool keeping its namespaces in `dir` (where the containers' go),
    /// dropping what a previous run left there.
    pub fn new(dir: &Path) -> Self {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for ent in entries.flatten() {
                if ent.file_name().to_string_lossy().starts_with(POOL_PREFIX) {
                    let _ = remove(&ent.path());
                }
            }
        }
        Self {
            shared: Arc::new(PoolShared {
                dir: dir.to_owned(),
                ready: Mutex::new(Vec::new()),
                filling: AtomicBool::new(false),
                closed: AtomicBool::new(false),
                made: AtomicU64::new(0),
            }),
        }
    }

    /// As [`create`], from the pool when it has a namespace ready.
    pub fn create(&self, path: &Path) -> Result<()> {
        let taken = self.shared.lock().pop();
        let made = match taken {
            Some(ready) => {
                let adopted = adopt(&ready, path);
                let _ = remove(&ready);
                adopted.or_else(|_| {
                    let _ = remove(path);
                    create(path)
                })
            }
            None => create(path),
        };
        self.refill();
        made
    }

    fn refill(&self) {
        if self.shared.filling.swap(true, Ordering::AcqRel) {
            return;
        }
        let shared = self.shared.clone();
        let spawned = std::thread::Builder::new()
            .name("netns-pool".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                // A refill competing with the start that emptied the pool
                // would slow it down by what the pool saves.
                let _ = berth_sys::process::run_only_when_idle();
                while !shared.closed.load(Ordering::Acquire) && shared.lock().len() < POOL_SIZE {
                    let n = shared.made.fetch_add(1, Ordering::Relaxed);
                    let path = shared
                        .dir
                        .join(format!("{POOL_PREFIX}{}-{n}", std::process::id()));
                    if create(&path).is_err() {
                        break;
                    }
                    let mut ready = shared.lock();
                    // Closed meanwhile: nobody would remove it.
                    if shared.closed.load(Ordering::Acquire) {
                        drop(ready);
                        let _ = remove(&path);
                        break;
                    }
                    ready.push(path);
                }
                shared.filling.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.shared.filling.store(false, Ordering::Release);
        }
    }
}

impl PoolShared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<PathBuf>> {
        self.ready.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let mut ready = self.shared.lock();
        self.shared.closed.store(true, Ordering::Release);
        for p in ready.drain(..) {
            let _ = remove(&p);
        }
    }
}

/// The empty file a namespace is bound onto; it must not exist yet.
fn new_file(path: &Path) -> Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map(drop)
        .map_err(|e| Error::Io {
            op: "create netns file",
            path: path.to_path_buf(),
            source: e,
        })
}

/// Binds the namespace bound at `ready` at `path` too.
fn adopt(ready: &Path, path: &Path) -> Result<()> {
    new_file(path)?;
    mount(
        Some(ready),
        path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| Error::Io {
        op: "bind-mount network namespace onto",
        path: path.to_path_buf(),
        source: e.into(),
    })
}

/// Unmounts and deletes a namespace made by [`create`]; the namespace
/// itself ends when nothing else (a process, another mount) holds it.
/// A missing path is not an error.
pub fn remove(path: &Path) -> Result<()> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => {
            return Err(Error::Io {
                op: "unmount netns",
                path: path.to_path_buf(),
                source: e.into(),
            })
        }
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io {
            op: "remove netns file",
            path: path.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Whether `path` is a bound network namespace (an nsfs mount), not just
/// a leftover file.
pub fn is_bound(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    // An nsfs inode lives on the nsfs device, never on the parent's.
    match (
        std::fs::metadata(path),
        path.parent().map(std::fs::metadata),
    ) {
        (Ok(f), Some(Ok(d))) => f.dev() != d.dev(),
        _ => false,
    }
}
