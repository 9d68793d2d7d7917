//! Named network namespaces: a fresh namespace kept alive by a bind mount
//! of its nsfs file onto a path (as `ip netns add` does), so that the
//! engine can plug a container's veth in before the container's first
//! process exists, and the OCI runtime joins it through the spec's
//! `linux.namespaces[].path`.

use std::path::Path;

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
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Error::Io {
            op: "create netns file",
            path: path.to_path_buf(),
            source: e,
        })?;
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
