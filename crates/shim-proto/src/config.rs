//! The configuration the engine writes for a shim (`shim.json` in the
//! shim's state directory) before starting it.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Which OCI runtime the shim drives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RuntimeKind {
    /// berth-runtime, linked into the shim.
    Builtin { root: PathBuf },
    /// An external binary with runc's command line (runc, crun, berth-runtime).
    External { path: PathBuf, root: PathBuf },
}

/// One mount of the container's root filesystem, as a snapshotter
/// describes it (`overlay` with lowerdir/upperdir/workdir options, or a
/// `bind`). The shim mounts it at the spec's root path before create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootfsMount {
    #[serde(rename = "type")]
    pub kind: String,
    pub source: String,
    pub options: Vec<String>,
}

/// What the shim needs of the bundle's config.json, which is large: the
/// engine that wrote it says, and the runtime alone parses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecSummary {
    /// `root.path`: where the rootfs is mounted (relative to the bundle,
    /// or absolute).
    pub root: PathBuf,
    /// `linux.cgroupsPath`, where the shim reads the OOM-kill counter.
    pub cgroups_path: Option<String>,
}

/// Where and how to keep the json-file log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogConfig {
    pub path: PathBuf,
    /// Rotate when the file would grow past this many bytes (0: never).
    #[serde(default)]
    pub max_size: u64,
    /// Files to keep, the live one included (at least 1).
    #[serde(default = "one")]
    pub max_file: u32,
}

fn one() -> u32 {
    1
}

/// Docker's restart policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum RestartPolicy {
    #[default]
    No,
    /// Restart on a non-zero exit, at most `max_retries` times (0: no limit).
    OnFailure {
        max_retries: u32,
    },
    Always,
    UnlessStopped,
}

impl RestartPolicy {
    /// Parse docker's `--restart` value (`no`, `on-failure[:N]`, `always`,
    /// `unless-stopped`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.split_once(':') {
            None => match s {
                "" | "no" => Some(Self::No),
                "always" => Some(Self::Always),
                "unless-stopped" => Some(Self::UnlessStopped),
                "on-failure" => Some(Self::OnFailure { max_retries: 0 }),
                _ => None,
            },
            Some(("on-failure", n)) => n
                .parse()
                .ok()
                .map(|max_retries| Self::OnFailure { max_retries }),
            Some(_) => None,
        }
    }

    /// Whether a run that ended with `code` should be followed by another,
    /// given `restarts` restarts so far and whether a user stopped it.
    pub fn should_restart(self, code: i32, restarts: u32, manually_stopped: bool) -> bool {
        if manually_stopped {
            return false;
        }
        match self {
            Self::No => false,
            Self::Always | Self::UnlessStopped => true,
            Self::OnFailure { max_retries } => {
                code != 0 && (max_retries == 0 || restarts < max_retries)
            }
        }
    }

    /// Docker's name for the policy (`HostConfig.RestartPolicy.Name`).
    pub fn name(self) -> &'static str {
        match self {
            Self::No => "no",
            Self::OnFailure { .. } => "on-failure",
            Self::Always => "always",
            Self::UnlessStopped => "unless-stopped",
        }
    }
}

/// Everything a shim needs to run one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShimConfig {
    pub id: String,
    /// OCI bundle: holds config.json.
    pub bundle: PathBuf,
    pub runtime: RuntimeKind,
    /// Mounted at the spec's `root.path` before create; empty when the
    /// rootfs is already in place.
    #[serde(default)]
    pub rootfs: Vec<RootfsMount>,
    /// Of the bundle's spec; when absent, the shim reads config.json.
    #[serde(default)]
    pub spec: Option<SpecSummary>,
    pub tty: bool,
    /// Keep the container's stdin open for attach.
    pub open_stdin: bool,
    /// Close the container's stdin when the first attached client closes it.
    pub stdin_once: bool,
    pub log: Option<LogConfig>,
    /// Written atomically at each exit of the container.
    pub exit_file: PathBuf,
    /// An `--rm` container: the engine removes it once it stopped for
    /// good, and nothing starts it again. Its exit file is not fsynced
    /// (others' are, so an exit survives a crash of the host too): its
    /// record goes with it.
    #[serde(default)]
    pub auto_remove: bool,
    #[serde(default)]
    pub restart: RestartPolicy,
    /// Restarts done before this shim started (carried across daemon runs).
    #[serde(default)]
    pub restart_count: u32,
    /// Initial terminal size (height, width) for a tty.
    #[serde(default)]
    pub console_size: Option<(u16, u16)>,
    /// Leave the process's output unread until this many clients
    /// attached (as `docker run` attaches before it starts), or a few
    /// seconds passed, so they see all of it; the process starts at once.
    #[serde(default)]
    pub await_attach: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies_parse_and_decide_like_docker() {
        assert_eq!(RestartPolicy::parse("no"), Some(RestartPolicy::No));
        assert_eq!(
            RestartPolicy::parse("on-failure:3"),
            Some(RestartPolicy::OnFailure { max_retries: 3 })
        );
        assert_eq!(RestartPolicy::parse("on-failure:x"), None);
        assert_eq!(RestartPolicy::parse("sometimes"), None);
        let p = RestartPolicy::OnFailure { max_retries: 2 };
        assert!(p.should_restart(1, 0, false));
        assert!(p.should_restart(1, 1, false));
        assert!(!p.should_restart(1, 2, false));
        assert!(!p.should_restart(0, 0, false));
        assert!(RestartPolicy::Always.should_restart(0, 100, false));
        assert!(!RestartPolicy::Always.should_restart(0, 0, true));
    }
}
