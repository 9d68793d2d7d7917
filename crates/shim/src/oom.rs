//! Whether the OOM killer struck the container's cgroup during a run.
//!
//! The runtime makes a fresh cgroup at each create and removes it at
//! delete, so the cgroup's `oom_kill` counter (v2 memory.events, v1
//! memory.oom_control) counts this run only. Docker reports OOMKilled when
//! any process of the container was OOM-killed, not only its init.

use std::path::Path;

/// The cgroup the bundle's config.json names (`linux.cgroupsPath`, or the
/// runtime's default for `id`).
fn cgroup(bundle: &Path, id: &str) -> Option<berth_cgroups::Manager> {
    let data = std::fs::read(bundle.join("config.json")).ok()?;
    let spec: serde_json::Value = serde_json::from_slice(&data).ok()?;
    let path = spec["linux"]["cgroupsPath"].as_str();
    berth_cgroups::Manager::new(path, id).ok()
}

/// Read before the runtime deletes the container (and its cgroup). Any
/// failure (no memory controller, a cgroup driver we cannot resolve)
/// reads as "not OOM-killed".
pub(crate) fn killed(bundle: &Path, id: &str) -> bool {
    match cgroup(bundle, id).map(|m| m.oom_count()) {
        Some(Ok(n)) => n > 0,
        Some(Err(e)) => {
            eprintln!("berth-shim: read the oom counter: {e}");
            false
        }
        None => false,
    }
}
