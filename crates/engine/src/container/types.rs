//! Typed views of the parts of Docker's container Config and HostConfig
//! that berth acts on, and the container's persisted record. The request
//! JSON is kept as it came so inspect echoes fields berth does not use.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `null` reads as the default (the docker CLI sends `"CapAdd": null`).
fn nd<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Docker's `StrSlice`: a string or a list of strings.
fn str_slice<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum S {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<S>::deserialize(d)? {
        None => None,
        Some(S::One(s)) => Some(vec![s]),
        Some(S::Many(v)) => Some(v),
    })
}

/// Docker's container `Config` (what `docker inspect` shows as Config).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Config {
    #[serde(deserialize_with = "nd")]
    pub hostname: String,
    #[serde(deserialize_with = "nd")]
    pub domainname: String,
    #[serde(deserialize_with = "nd")]
    pub user: String,
    #[serde(deserialize_with = "nd")]
    pub attach_stdin: bool,
    #[serde(deserialize_with = "nd")]
    pub attach_stdout: bool,
    #[serde(deserialize_with = "nd")]
    pub attach_stderr: bool,
    #[serde(deserialize_with = "nd")]
    pub tty: bool,
    #[serde(deserialize_with = "nd")]
    pub open_stdin: bool,
    #[serde(deserialize_with = "nd")]
    pub stdin_once: bool,
    pub env: Option<Vec<String>>,
    #[serde(deserialize_with = "str_slice")]
    pub cmd: Option<Vec<String>>,
    #[serde(deserialize_with = "nd")]
    pub image: String,
    #[serde(deserialize_with = "nd")]
    pub working_dir: String,
    #[serde(deserialize_with = "str_slice")]
    pub entrypoint: Option<Vec<String>>,
    pub labels: Option<BTreeMap<String, String>>,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<i64>,
    pub healthcheck: Option<Value>,
    /// The shell of `CMD-SHELL` healthchecks (the image's SHELL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    pub exposed_ports: Option<Value>,
    pub volumes: Option<Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    #[serde(deserialize_with = "nd")]
    pub name: String,
    #[serde(deserialize_with = "nd")]
    pub maximum_retry_count: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Device {
    pub path_on_host: String,
    pub path_in_container: String,
    pub cgroup_permissions: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    #[serde(deserialize_with = "nd")]
    pub r#type: String,
    #[serde(deserialize_with = "nd")]
    pub config: BTreeMap<String, String>,
}

/// Docker's `HostConfig`, the parts berth acts on.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    #[serde(deserialize_with = "nd")]
    pub binds: Vec<String>,
    #[serde(deserialize_with = "nd")]
    pub network_mode: String,
    #[serde(deserialize_with = "nd")]
    pub restart_policy: RestartPolicy,
    #[serde(deserialize_with = "nd")]
    pub auto_remove: bool,
    #[serde(deserialize_with = "nd")]
    pub cap_add: Vec<String>,
    #[serde(deserialize_with = "nd")]
    pub cap_drop: Vec<String>,
    #[serde(deserialize_with = "nd")]
    pub privileged: bool,
    #[serde(deserialize_with = "nd")]
    pub readonly_rootfs: bool,
    #[serde(deserialize_with = "nd")]
    pub security_opt: Vec<String>,
    #[serde(deserialize_with = "nd")]
    pub tmpfs: BTreeMap<String, String>,
    #[serde(deserialize_with = "nd")]
    pub shm_size: i64,
    pub init: Option<bool>,
    #[serde(deserialize_with = "nd")]
    pub memory: i64,
    #[serde(deserialize_with = "nd")]
    pub memory_swap: i64,
    #[serde(deserialize_with = "nd")]
    pub nano_cpus: i64,
    #[serde(deserialize_with = "nd")]
    pub cpu_shares: i64,
    #[serde(deserialize_with = "nd")]
    pub cpu_period: i64,
    #[serde(deserialize_with = "nd")]
    pub cpu_quota: i64,
    #[serde(deserialize_with = "nd")]
    pub cpuset_cpus: String,
    pub pids_limit: Option<i64>,
    pub oom_kill_disable: Option<bool>,
    #[serde(deserialize_with = "nd")]
    pub ulimits: Vec<Ulimit>,
    #[serde(deserialize_with = "nd")]
    pub devices: Vec<Device>,
    #[serde(deserialize_with = "nd")]
    pub log_config: LogConfig,
    pub console_size: Option<[u16; 2]>,
    #[serde(deserialize_with = "nd")]
    pub pid_mode: String,
    #[serde(deserialize_with = "nd")]
    pub ipc_mode: String,
    #[serde(rename = "UTSMode", deserialize_with = "nd")]
    pub uts_mode: String,
    #[serde(deserialize_with = "nd")]
    pub sysctls: BTreeMap<String, String>,
    #[serde(deserialize_with = "nd")]
    pub extra_hosts: Vec<String>,
    #[serde(deserialize_with = "nd")]
    pub dns: Vec<String>,
}

/// The lifecycle state, as `State` in inspect. Times in Unix nanoseconds,
/// 0 for never.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// created, running, paused, restarting, removing, exited, dead.
    pub status: String,
    pub pid: i32,
    pub exit_code: i32,
    pub error: String,
    pub started_at: i64,
    pub finished_at: i64,
    pub oom_killed: bool,
    /// Set while the container has a healthcheck.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<super::Health>,
}

impl State {
    pub fn is_running(&self) -> bool {
        matches!(self.status.as_str(), "running" | "paused" | "restarting")
    }

    /// The run ended: docker shows a stopped container's health as
    /// unhealthy (its monitor stopped).
    pub(crate) fn health_stopped(&mut self) {
        if let Some(h) = &mut self.health {
            h.status = super::health::UNHEALTHY.into();
        }
    }
}

/// What the engine keeps about a container (`containers/<id>/container.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    pub created: i64,
    /// The image as the user named it.
    pub image: String,
    /// `sha256:...`
    pub image_id: String,
    /// Docker's Config, merged with the image's defaults.
    pub config: Value,
    /// Docker's HostConfig as given.
    pub host_config: Value,
    /// NetworkingConfig as given.
    #[serde(default)]
    pub networking_config: Value,
    pub path: String,
    pub args: Vec<String>,
    pub state: State,
    pub restart_count: u32,
    /// Snapshot key of the writable layer.
    pub rw_key: String,
    pub log_path: PathBuf,
    /// Stopped by a user, so the restart policy is off until the next start.
    #[serde(default)]
    pub manually_stopped: bool,
}

impl Record {
    pub fn cfg(&self) -> Config {
        serde_json::from_value(self.config.clone()).unwrap_or_default()
    }

    pub fn host(&self) -> HostConfig {
        serde_json::from_value(self.host_config.clone()).unwrap_or_default()
    }
}
