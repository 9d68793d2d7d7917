//! cgroup v1 and v2 managers and statistics.
//!
//! One [`Manager`] is the cgroup of one container in every hierarchy the
//! host has: cgroup v2 only ([`Hierarchy::Unified`]), v1 only
//! ([`Hierarchy::Legacy`]), or v1 controllers plus a cgroup2 mount
//! ([`Hierarchy::Hybrid`], where e.g. hugetlb may live in v2). Each
//! controller is driven wherever the host mounted it.
//!
//! ```no_run
//! # fn main() -> Result<(), berth_cgroups::Error> {
//! use berth_cgroups::{Manager, FreezerState};
//! let m = Manager::new(Some("/berth/c1"), "c1")?; // as runc: abs, relative or None
//! m.create()?;                       // mkdir in every hierarchy (+ cpuset/controllers init)
//! # let resources = oci_spec::runtime::LinuxResources::default();
//! m.set(&resources)?;                // LinuxResources from config.json
//! m.apply(1234)?;                    // pid → cgroup.procs everywhere
//! m.freeze()?;                       // waits until frozen
//! assert_eq!(m.state()?, FreezerState::Frozen);
//! m.thaw()?;
//! let stats = m.stats()?;            // memory, cpu, pids, blkio
//! # let _ = stats;
//! m.update(&resources)?;             // docker update
//! m.kill_all(nix::sys::signal::Signal::SIGKILL)?;
//! m.destroy()?;                      // rmdir everywhere, retrying while tasks exit
//! # Ok(()) }
//! ```
//!
//! A `Manager` serializes with serde: store it with the container's state
//! and reload it, so that later commands act on exactly the same
//! directories. Errors name the file and the value: "write 100 to
//! /sys/fs/cgroup/pids/berth/x/pids.max".
#![forbid(unsafe_code)]

mod devices;
mod ebpf;
mod error;
mod files;
mod layout;
mod manager;
mod resources;
mod stats;
mod v1;
mod v2;

pub use error::{Error, Result};
pub use layout::Hierarchy;
pub use manager::Manager;
pub use stats::{BlkioStats, CpuStats, MemoryStats, PidsStats, Stats};

/// Whether a container's processes are frozen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FreezerState {
    Thawed,
    /// Freezing was asked for but some task has not stopped yet.
    Freezing,
    Frozen,
}

/// The kind of cgroup setup of this host.
pub fn detect_hierarchy() -> Result<Hierarchy> {
    Ok(layout::Layout::detect(false)?.hierarchy())
}

impl Manager {
    /// Usage statistics (memory, cpu, pids, block I/O).
    pub fn stats(&self) -> Result<Stats> {
        stats::stats(self)
    }

    /// How many processes the OOM killer killed in this cgroup so far.
    pub fn oom_count(&self) -> Result<u64> {
        stats::oom_kills(self)
    }
}
