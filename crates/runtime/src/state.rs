//! The state directory of one container (`<root>/<id>/`): `state.json`
//! (what the runtime needs to find the container again), `config.json` (the
//! bundle's config as it was at create time) and `exec.fifo` (present while
//! the container is created but not started).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Hooks;
use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};

/// The OCI status of a container, plus `paused`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `create` is still running.
    Creating,
    /// Set up and waiting for `start`.
    Created,
    /// The user process runs.
    Running,
    /// Frozen by `pause`.
    Paused,
    /// The process has exited (or was never started and is gone).
    Stopped,
}

impl Status {
    /// The name used in state JSON and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// What `state.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Saved {
    /// The spec version of the bundle's config.
    pub oci_version: String,
    /// The container id.
    pub id: String,
    /// The init's pid as seen from the runtime; 0 while creating.
    pub pid: i32,
    /// The init's start time (field 22 of /proc/pid/stat), against pid reuse.
    pub pid_start: u64,
    /// The pid of the `create` that is (or was) setting the container up.
    pub creator: i32,
    /// The bundle directory.
    pub bundle: PathBuf,
    /// The rootfs on the host.
    pub rootfs: PathBuf,
    /// When create finished, RFC 3339.
    pub created: String,
    /// The config's annotations.
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// The container's cgroup, as resolved at create time.
    #[serde(default)]
    pub cgroup: Option<berth_cgroups::Manager>,
    /// The config's hooks (poststart and poststop run from later commands).
    #[serde(default)]
    pub hooks: Option<Hooks>,
    /// Whether the container has its own pid namespace.
    #[serde(default)]
    pub own_pid_ns: bool,
    /// Set by `pause`, cleared by `resume`.
    #[serde(default)]
    pub paused: bool,
    /// The uid of the user who created the container.
    #[serde(default)]
    pub owner: u32,
}

/// A container's state directory.
#[derive(Debug, Clone)]
pub struct Dir {
    /// `<root>/<id>`.
    pub path: PathBuf,
}

impl Dir {
    /// The directory of container `id` below `root`.
    pub fn new(root: &Path, id: &str) -> Dir {
        Dir {
            path: root.join(id),
        }
    }

    /// `state.json`.
    pub fn state_file(&self) -> PathBuf {
        self.path.join("state.json")
    }

    /// `exec.fifo`.
    pub fn fifo(&self) -> PathBuf {
        self.path.join("exec.fifo")
    }

    /// `config.json`, the config as it was at create time.
    pub fn config(&self) -> PathBuf {
        self.path.join("config.json")
    }

    /// Reads `state.json`; a missing directory is `NotFound`.
    pub fn load(&self, id: &str) -> Result<Saved> {
        let data = match fs::read(self.state_file()) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_string()))
            }
            Err(e) => return Err(e).ctx(|| format!("read {}", self.state_file().display())),
        };
        serde_json::from_slice(&data).map_err(|e| Error::Io {
            context: format!("parse {}", self.state_file().display()),
            source: e.into(),
        })
    }

    /// Writes `state.json` atomically.
    pub fn save(&self, saved: &Saved) -> Result<()> {
        let data = serde_json::to_vec(saved).map_err(|e| Error::Io {
            context: format!("encode state of {}", saved.id),
            source: e.into(),
        })?;
        // The state only has to survive a crash of the runtime, not of the
        // machine (the state root is a tmpfs under /run), so no fsync.
        let tmp = self.path.join(".state.json.tmp");
        fs::write(&tmp, &data).ctx(|| format!("write {}", tmp.display()))?;
        fs::rename(&tmp, self.state_file()).ctx(|| format!("rename {} into place", tmp.display()))
    }
}

/// The start time of process `pid` (field 22 of /proc/pid/stat) and whether
/// it is a zombie; `None` when there is no such process.
pub fn proc_start(pid: i32) -> Option<(u64, bool)> {
    if pid <= 0 {
        return None;
    }
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: the fields
    // after it start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?;
    // `rest` starts at field 3, so field 22 is the 19th after it.
    let start = fields.nth(18)?.parse().ok()?;
    Some((start, state == "Z" || state == "X"))
}

impl Saved {
    /// Whether the init process recorded here still exists (and is not a
    /// zombie waiting for its parent).
    pub fn init_alive(&self) -> bool {
        matches!(proc_start(self.pid), Some((start, false)) if start == self.pid_start)
    }

    /// The current status, worked out from the process and the fifo.
    pub fn status(&self, dir: &Dir) -> Status {
        if self.pid == 0 {
            // Still creating, or a create that died half way.
            return if proc_start(self.creator).is_some_and(|(_, zombie)| !zombie) {
                Status::Creating
            } else {
                Status::Stopped
            };
        }
        if !self.init_alive() {
            return Status::Stopped;
        }
        if dir.fifo().exists() {
            Status::Created
        } else if self.paused {
            Status::Paused
        } else {
            Status::Running
        }
    }
}

/// The OCI state JSON of a container (what `state` prints and hooks read).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    /// The spec version.
    pub oci_version: String,
    /// The container id.
    pub id: String,
    /// creating, created, running, paused or stopped.
    pub status: String,
    /// The init's pid (absent when stopped).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pid: i32,
    /// The bundle directory.
    pub bundle: PathBuf,
    /// The config's annotations.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    /// The rootfs (runc prints it; harmless for OCI readers).
    #[serde(default)]
    pub rootfs: PathBuf,
    /// When the container was created.
    #[serde(default)]
    pub created: String,
    /// Who created it.
    #[serde(default)]
    pub owner: String,
}

fn is_zero(v: &i32) -> bool {
    *v == 0
}

impl OciState {
    /// The state of `saved` with `status`.
    pub fn new(saved: &Saved, status: Status) -> OciState {
        OciState {
            oci_version: saved.oci_version.clone(),
            id: saved.id.clone(),
            status: status.as_str().to_string(),
            pid: if status == Status::Stopped {
                0
            } else {
                saved.pid
            },
            bundle: saved.bundle.clone(),
            annotations: saved.annotations.clone(),
            rootfs: saved.rootfs.clone(),
            created: saved.created.clone(),
            owner: owner_name(saved.owner),
        }
    }

    /// The state as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn owner_name(uid: u32) -> String {
    if uid == 0 {
        return "root".to_string();
    }
    fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                (f.nth(1)? == uid.to_string()).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}

/// Now as RFC 3339 in UTC with nanoseconds (`2026-11-23T14:43:24.123456789Z`),
/// the fixed-width form runc writes into its state.
pub fn now_rfc3339() -> String {
    berth_base::time::format_fixed(berth_base::time::now_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_has_the_right_shape() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 30, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'), "{t}");
    }

    #[test]
    fn own_process_has_a_start_time() {
        let (start, zombie) = proc_start(std::process::id() as i32).unwrap();
        assert!(start > 0);
        assert!(!zombie);
        assert!(proc_start(0).is_none());
    }
}
