//! Test helpers: a scratch directory that is never deleted while anything
//! is mounted below it, and a private mount namespace per test thread.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// A temporary directory that unmounts everything below it before it is
/// removed, and is left in place (never deleted through a mount) if some
/// mount cannot be removed.
pub struct Scratch {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl Scratch {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("berth-volume-{}-", std::process::id()))
            .tempdir()
            .expect("tempdir");
        let path = std::fs::canonicalize(dir.path()).expect("canonicalize");
        Scratch {
            dir: Some(dir),
            path,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Mount points at or below `dir`, deepest (latest) first.
pub fn mounts_below(dir: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/thread-self/mountinfo").unwrap_or_default();
    let mut v: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(m.replace("\\040", " ")))
        .filter(|m| m.starts_with(dir))
        .collect();
    v.reverse();
    v
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for _ in 0..3 {
            for m in mounts_below(&self.path) {
                let _ = rustix::mount::unmount(&m, rustix::mount::UnmountFlags::DETACH);
            }
        }
        if !mounts_below(&self.path).is_empty() {
            eprintln!(
                "leaving {} in place: mounts remain below it",
                self.path.display()
            );
            if let Some(d) = self.dir.take() {
                let _ = d.keep();
            }
        }
    }
}

/// Gives the calling test thread its own mount namespace with private
/// propagation, so nothing it mounts is seen by (or left to) the host.
/// Returns false (after `require`) when that is not possible.
pub fn private_mounts() -> bool {
    if !berth_base::testenv::require(berth_base::testenv::is_root(), "needs root for mounts") {
        return false;
    }
    if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS) {
        return berth_base::testenv::require(false, &format!("unshare(CLONE_NEWNS): {e}"));
    }
    rustix::mount::mount_change(
        "/",
        rustix::mount::MountPropagationFlags::PRIVATE | rustix::mount::MountPropagationFlags::REC,
    )
    .expect("make / rprivate in the test's namespace");
    true
}

/// Whether `p` is a mount point in this thread's namespace.
pub fn is_mounted(p: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/thread-self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|m| Path::new(m) == p)
}
