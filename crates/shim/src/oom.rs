//! Whether the OOM killer struck the container's cgroup during a run.
//!
//! The runtime makes a fresh cgroup at each create and removes it at
//! delete, so the cgroup's `oom_kill` counter (v2 memory.events, v1
//! memory.oom_control) counts this run only. Docker reports OOMKilled when
//! any process of the container was OOM-killed, not only its init.

/// Whether the container's cgroup (the spec's `linux.cgroupsPath`, or the
/// runtime's default for `id`) counted an OOM kill. Read before the
/// runtime deletes the container (and its cgroup). Any failure (no memory
/// controller, a cgroup driver we cannot resolve) reads as "not
/// OOM-killed".
pub(crate) fn killed(cgroups_path: Option<&str>, id: &str) -> bool {
    match berth_cgroups::Manager::new(cgroups_path, id)
        .ok()
        .map(|m| m.oom_count())
    {
        Some(Ok(n)) => n > 0,
        Some(Err(e)) => {
            eprintln!("berth-shim: read the oom counter: {e}");
            false
        }
        None => false,
    }
}
