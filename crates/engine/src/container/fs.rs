//! What a container runs and what it changed: `top` (its processes, from
//! its cgroup, shown by the host's `ps`) and `changes` (its writable
//! layer against the image's layers).

use super::{Containers, Error, Result};
use berth_store::Snapshotter;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// Paths the runtime creates to mount over, which docker's diff leaves out.
const MOUNT_POINTS: &[&str] = &[
    "/dev",
    "/proc",
    "/sys",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
];

/// The pids in the container's cgroup (`/berth/<id>` under any v1
/// hierarchy that has it, or the v2 tree).
fn cgroup_pids(id: &str) -> BTreeSet<i32> {
    let mut pids = BTreeSet::new();
    let mut dirs = vec![format!("/sys/fs/cgroup/berth/{id}")];
    for c in [
        "pids",
        "memory",
        "cpu,cpuacct",
        "freezer",
        "devices",
        "unified",
    ] {
        dirs.push(format!("/sys/fs/cgroup/{c}/berth/{id}"));
    }
    for d in dirs {
        if let Ok(s) = std::fs::read_to_string(Path::new(&d).join("cgroup.procs")) {
            pids.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            if !pids.is_empty() {
                break;
            }
        }
    }
    pids
}

impl Containers {
    /// `GET /containers/{id}/top?ps_args=`: the host's `ps` (default
    /// `-ef`) limited to the container's processes.
    pub fn top(&self, name: &str, ps_args: &str) -> Result<Value> {
        let rec = self.running(name)?;
        let mut pids = cgroup_pids(&rec.id);
        if pids.is_empty() && rec.state.pid > 0 {
            pids.insert(rec.state.pid);
        }
        let args: Vec<&str> = if ps_args.is_empty() {
            vec!["-ef"]
        } else {
            ps_args.split_whitespace().collect()
        };
        let out = std::process::Command::new("ps")
            .args(&args)
            .output()
            .map_err(|e| Error::io("run ps", e))?;
        if !out.status.success() {
            return Err(Error::Invalid(format!(
                "ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let header: Vec<String> = lines
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let pid_col = header
            .iter()
            .position(|h| h == "PID")
            .ok_or_else(|| Error::Invalid("Couldn't find PID field in ps output".into()))?;
        let mut procs = Vec::new();
        for l in lines {
            // The last column (the command) may hold spaces.
            let mut fields: Vec<String> = l.split_whitespace().map(str::to_owned).collect();
            if fields.len() > header.len() {
                let tail = fields.split_off(header.len() - 1).join(" ");
                fields.push(tail);
            }
            if fields
                .get(pid_col)
                .and_then(|p| p.parse::<i32>().ok())
                .is_some_and(|p| pids.contains(&p))
            {
                procs.push(fields);
            }
        }
        Ok(json!({"Titles": header, "Processes": procs}))
    }

    /// `GET /containers/{id}/changes`: Kind 0 modified, 1 added, 2 deleted.
    pub fn changes(&self, name: &str) -> Result<Vec<Value>> {
        let rec = self.inner.record(name)?;
        let upper = self.inner.store.snapshots.upper_dir(&rec.rw_key)?;
        let lowers: Vec<std::path::PathBuf> = self
            .inner
            .images
            .layers(&rec.image_id)?
            .iter()
            .map(|l| self.inner.store.snapshots.layer_dir(l))
            .collect();
        let mut out = Vec::new();
        let mut stack = vec![std::path::PathBuf::new()];
        while let Some(rel) = stack.pop() {
            let dir = upper.join(&rel);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<_> = entries.flatten().collect();
            names.sort_by_key(|e| e.file_name());
            for e in names {
                let rel_path = rel.join(e.file_name());
                let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
                    continue;
                };
                let path = format!("/{}", rel_path.display());
                // A whiteout: a 0/0 character device.
                if meta.file_type().is_char_device() && meta.rdev() == 0 {
                    out.push(json!({"Path": path, "Kind": 2}));
                    continue;
                }
                let in_lower = lowers
                    .iter()
                    .any(|l| l.join(&rel_path).symlink_metadata().is_ok());
                // Mount points the runtime made are not the user's changes.
                if !in_lower && MOUNT_POINTS.contains(&path.as_str()) {
                    continue;
                }
                out.push(json!({"Path": path, "Kind": if in_lower { 0 } else { 1 }}));
                if meta.is_dir() {
                    stack.push(rel_path);
                }
            }
        }
        out.sort_by(|a, b| a["Path"].as_str().cmp(&b["Path"].as_str()));
        Ok(out)
    }
}
