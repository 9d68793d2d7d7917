//! Docker's default capabilities, mounts, and masked and read-only paths
//! (moby `oci/defaults.go`).

use std::path::PathBuf;

use oci_spec::runtime::{Capability, Mount};

/// The 14 capabilities a Docker container keeps by default, in Docker's order.
pub fn default_capabilities() -> Vec<Capability> {
    vec![
        Capability::Chown,
        Capability::DacOverride,
        Capability::Fsetid,
        Capability::Fowner,
        Capability::Mknod,
        Capability::NetRaw,
        Capability::Setgid,
        Capability::Setuid,
        Capability::Setfcap,
        Capability::Setpcap,
        Capability::NetBindService,
        Capability::SysChroot,
        Capability::Kill,
        Capability::AuditWrite,
    ]
}

/// Paths hidden from the container: files under /dev/null, directories
/// under an empty read-only tmpfs.
pub fn default_masked_paths() -> Vec<String> {
    [
        "/proc/asound",
        "/proc/acpi",
        "/proc/interrupts",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ]
    .map(String::from)
    .to_vec()
}

/// Paths bind-mounted read-only over themselves.
pub fn default_readonly_paths() -> Vec<String> {
    [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ]
    .map(String::from)
    .to_vec()
}

fn mount(destination: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(destination));
    m.set_typ(Some(typ.to_string()));
    m.set_source(Some(PathBuf::from(source)));
    m.set_options(Some(options.iter().map(|o| o.to_string()).collect()));
    m
}

/// The kernel filesystems every Docker container gets, in mount order. The
/// engine replaces `/dev/shm` when it shares IPC or sizes it (`--shm-size`).
pub fn default_mounts() -> Vec<Mount> {
    vec![
        mount(
            "/proc",
            "proc",
            "proc",
            &["rw", "nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["rw", "nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "rw",
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["ro", "nosuid", "noexec", "nodev"],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["ro", "nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["rw", "nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &[
                "rw",
                "nosuid",
                "noexec",
                "nodev",
                "mode=1777",
                "size=65536k",
            ],
        ),
    ]
}

/// Every capability the kernel knows, indexed by its number (CAP_CHOWN is
/// 0): the runtime lists them in `features`, the engine expands `ALL`.
pub const CAPABILITY_NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fourteen_capabilities_without_sys_admin() {
        let caps = default_capabilities();
        assert_eq!(caps.len(), 14);
        assert!(!caps.contains(&Capability::SysAdmin));
        assert!(caps.contains(&Capability::NetBindService));
        let unique: std::collections::HashSet<_> = caps.iter().collect();
        assert_eq!(unique.len(), 14);
    }

    #[test]
    fn mounts_are_ordered_parents_first() {
        let mounts = default_mounts();
        let dests: Vec<_> = mounts.iter().map(|m| m.destination().clone()).collect();
        for (i, d) in dests.iter().enumerate() {
            // A mount under another must come after it, or it would be hidden.
            for later in &dests[i + 1..] {
                assert!(
                    !d.starts_with(later),
                    "{d:?} comes before its parent {later:?}"
                );
            }
        }
        let sys = &mounts[3];
        assert_eq!(sys.typ().as_deref(), Some("sysfs"));
        assert!(sys.options().iter().flatten().any(|o| o == "ro"));
    }

    #[test]
    fn masked_and_readonly_paths_are_absolute_and_disjoint() {
        let masked = default_masked_paths();
        let ro = default_readonly_paths();
        assert!(masked.contains(&"/proc/kcore".to_string()));
        assert!(ro.contains(&"/proc/sys".to_string()));
        for p in masked.iter().chain(&ro) {
            assert!(p.starts_with('/'), "{p}");
        }
        assert!(masked.iter().all(|p| !ro.contains(p)));
    }
}
