//! Facts about the host for `/info` and `/version`, read once at startup
//! from /proc, /sys and /etc (no subprocesses: startup stays fast).

use std::fs;
use std::path::Path;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    pub hostname: String,
    pub kernel_version: String,
    /// `PRETTY_NAME` of os-release (`Debian GNU/Linux 12 (bookworm)`).
    pub operating_system: String,
    /// `VERSION_ID` of os-release.
    pub os_version: String,
    /// As `uname -m` prints it.
    pub architecture: String,
    pub ncpu: i64,
    pub mem_total: i64,
    /// `"1"` or `"2"`: 2 when the unified hierarchy is mounted at
    /// /sys/fs/cgroup, as docker decides.
    pub cgroup_version: String,
    pub memory_limit: bool,
    pub swap_limit: bool,
    pub ipv4_forwarding: bool,
    pub bridge_nf_iptables: bool,
    pub bridge_nf_ip6tables: bool,
}

impl HostFacts {
    pub fn read() -> Self {
        let os_release = fs::read_to_string("/etc/os-release")
            .or_else(|_| fs::read_to_string("/usr/lib/os-release"))
            .unwrap_or_default();
        let cgroup2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let memory_limit = if cgroup2 {
            read_trim("/sys/fs/cgroup/cgroup.controllers")
                .split_whitespace()
                .any(|c| c == "memory")
        } else {
            Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists()
        };
        let swap_limit = if cgroup2 {
            memory_limit
        } else {
            Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
        };
        Self {
            hostname: read_trim("/proc/sys/kernel/hostname"),
            kernel_version: read_trim("/proc/sys/kernel/osrelease"),
            operating_system: os_release_value(&os_release, "PRETTY_NAME")
                .unwrap_or_else(|| "Linux".into()),
            os_version: os_release_value(&os_release, "VERSION_ID").unwrap_or_default(),
            architecture: std::env::consts::ARCH.to_owned(),
            ncpu: std::thread::available_parallelism().map_or(1, |n| n.get() as i64),
            mem_total: mem_total_bytes(&fs::read_to_string("/proc/meminfo").unwrap_or_default()),
            cgroup_version: if cgroup2 { "2" } else { "1" }.into(),
            memory_limit,
            swap_limit,
            ipv4_forwarding: read_trim("/proc/sys/net/ipv4/ip_forward") == "1",
            bridge_nf_iptables: read_trim("/proc/sys/net/bridge/bridge-nf-call-iptables") == "1",
            bridge_nf_ip6tables: read_trim("/proc/sys/net/bridge/bridge-nf-call-ip6tables") == "1",
        }
    }
}

fn read_trim(p: &str) -> String {
    fs::read_to_string(p)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// A value of os-release, unquoted.
fn os_release_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let v = l.strip_prefix(key)?.strip_prefix('=')?;
        Some(v.trim().trim_matches('"').trim_matches('\'').to_owned())
    })
}

/// `MemTotal` of /proc/meminfo, in bytes.
fn mem_total_bytes(meminfo: &str) -> i64 {
    meminfo
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix("MemTotal:")?;
            let kib: i64 = rest.split_whitespace().next()?.parse().ok()?;
            Some(kib * 1024)
        })
        .unwrap_or(0)
}

/// Open file descriptors and threads of this process, for `/info`'s
/// `NFd` and `NGoroutines`.
pub fn process_counts() -> (i64, i64) {
    let fds = fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as i64);
    let threads = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:")?.trim().parse().ok())
        })
        .unwrap_or(0);
    (fds, threads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_os_release_and_meminfo() {
        let osr = "NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(
            os_release_value(osr, "PRETTY_NAME").as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(os_release_value(osr, "VERSION_ID").as_deref(), Some("12"));
        assert_eq!(os_release_value(osr, "ID"), None);
        assert_eq!(
            mem_total_bytes("MemTotal:       1000 kB\nMemFree: 1 kB\n"),
            1_024_000
        );
    }

    #[test]
    fn reads_this_host() {
        let h = HostFacts::read();
        assert!(h.ncpu >= 1);
        assert!(h.mem_total > 0);
        assert!(!h.kernel_version.is_empty());
        assert!(h.cgroup_version == "1" || h.cgroup_version == "2");
    }
}
