//! What `features` and `spec` print: the runtime's supported features
//! (runtime-spec features.md) and a default config.json.

use oci_spec::runtime::{LinuxCapabilities, Spec};
use serde_json::{json, Value};

/// The features document.
pub fn features() -> Value {
    let caps: Vec<String> = (0..=berth_sys::caps::CAP_LAST)
        .filter_map(|n| {
            berth_oci::CAPABILITY_NAMES
                .get(n as usize)
                .map(|s| (*s).to_string())
        })
        .collect();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": [
            "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec",
            "mand", "noatime", "nodev", "nodiratime", "noexec", "nomand", "norelatime",
            "nostrictatime", "nosuid", "nosymfollow", "private", "rbind", "relatime", "remount",
            "ro", "rprivate", "rshared", "rslave", "runbindable", "rw", "shared", "slave",
            "strictatime", "suid", "sync", "tmpcopyup", "unbindable"
        ],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": { "v1": true, "v2": true, "systemd": false, "systemdUser": false },
            "seccomp": {
                "enabled": true,
                "actions": [
                    "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                    "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"
                ],
                "operators": [
                    "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                    "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"
                ],
                "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
            },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false }
        },
        "annotations": {
            "org.opencontainers.runtime-spec.features.version": "1.2.0"
        }
    })
}

/// The default config.json written by `spec` (as runc's, with a
/// terminal and `sh`); `rootless` maps the caller's ids and drops the
/// network namespace and the cgroup limits.
pub fn default_spec(rootless: bool) -> Spec {
    let mut spec = if rootless {
        Spec::rootless(
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )
    } else {
        Spec::default()
    };
    spec.set_hostname(Some("berth".into()));
    if let Some(p) = spec.process_mut() {
        p.set_terminal(Some(true));
        let caps = LinuxCapabilities::default();
        let mut c = caps.clone();
        // runc dropped the inheritable and ambient sets (CVE-2022-29162).
        c.set_inheritable(None);
        c.set_ambient(None);
        p.set_capabilities(Some(c));
    }
    spec
}
