//! The container service's calls into networking and volumes, one per
//! step of a container's life:
//!
//! ```text
//! let hooks = ContainerHooks::new(&engine);
//! create: hooks.create(&id, &name, &config, &host_config, &networking, &snapshot_mounts, &resolve)?
//! start:  let hc = without_mounts(rec.host());   // before spec::build: the hooks mount
//!         hooks.start(&id, &snapshot_mounts, &mut spec)?  // after it: netns path, mounts, /etc files
//! exit:   hooks.stop(&id)                         // the shim is done (stop, kill, exit)
//! rm:     hooks.remove(&id, remove_volumes)
//! inspect: hooks.network_settings(&id), hooks.mounts(&id)
//! ps:      hooks.list_view(&ids)                   // ports, networks, mounts of each
//! ```
//!
//! The rootfs is mounted here for a moment (at create to copy the image's
//! content into new volumes, at start to make mount points that cannot
//! escape it) and unmounted before the shim mounts it for the container.

use super::container::NetStart;
use super::Networks;
use crate::container::types::HostConfig;
use crate::volume::Volumes;
use crate::{Engine, Error, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Networking and volumes for the container service.
#[derive(Debug, Clone)]
pub struct ContainerHooks {
    networks: Arc<Networks>,
    volumes: Arc<Volumes>,
    /// `<exec-root>/rootfs`: where rootfs views are mounted for a moment.
    views: PathBuf,
}

/// HostConfig without the mounts the hooks make (`Binds`, `Tmpfs`), for
/// building the rest of the spec.
pub fn without_mounts(mut hc: HostConfig) -> HostConfig {
    hc.binds.clear();
    hc.tmpfs.clear();
    hc
}

/// A container's rootfs mounted at a private path while it lives.
struct RootfsView {
    path: PathBuf,
    mounted: bool,
}

impl RootfsView {
    fn mount(dir: &Path, mounts: &[berth_store::Mount]) -> Result<Self> {
        let io = |what: String| {
            move |e: std::io::Error| Error::Io {
                context: what,
                source: e,
            }
        };
        std::fs::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))?;
        let mut view = RootfsView {
            path: dir.to_owned(),
            mounted: false,
        };
        let m = mounts
            .first()
            .ok_or_else(|| Error::Invalid("container has no rootfs mounts".into()))?;
        let (fs, flags) = match m.kind.as_str() {
            "bind" => ("", rustix::mount::MountFlags::BIND),
            k => (k, rustix::mount::MountFlags::empty()),
        };
        let data = std::ffi::CString::new(
            m.options
                .iter()
                .filter(|o| !matches!(o.as_str(), "rbind" | "bind" | "rw"))
                .cloned()
                .collect::<Vec<_>>()
                .join(","),
        )
        .map_err(|_| Error::Invalid("rootfs mount options hold a NUL byte".into()))?;
        rustix::mount::mount(
            m.source.as_str(),
            dir,
            fs,
            flags,
            (!data.as_bytes().is_empty()).then_some(data.as_c_str()),
        )
        .map_err(|e| io(format!("mount rootfs view {}", dir.display()))(e.into()))?;
        view.mounted = true;
        Ok(view)
    }
}

impl Drop for RootfsView {
    fn drop(&mut self) {
        if self.mounted {
            if let Err(e) = rustix::mount::unmount(&self.path, rustix::mount::UnmountFlags::DETACH)
            {
                tracing::warn!(path = %self.path.display(), error = %e, "unmount rootfs view");
            }
        }
        let _ = std::fs::remove_dir(&self.path);
    }
}

impl ContainerHooks {
    pub fn new(engine: &Engine) -> Self {
        Self {
            networks: engine.networks().clone(),
            volumes: engine.volumes().clone(),
            views: engine.config().exec_root.join("rootfs"),
        }
    }

    /// At create, after the container's snapshot is prepared: checks and
    /// stores its network plan, prepares its mounts (volumes created and
    /// filled from the image). All or nothing.
    #[allow(clippy::too_many_arguments)]
    pub fn create(
        &self,
        id: &str,
        name: &str,
        config: &Value,
        host_config: &Value,
        networking: &Value,
        rootfs: &[berth_store::Mount],
        resolve: &dyn Fn(&str) -> Option<String>,
    ) -> Result<()> {
        self.networks
            .container_create(id, name, config, host_config, networking, resolve)?;
        let nonempty = |v: &Value| match v {
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            _ => false,
        };
        let wants_mounts = ["Binds", "Mounts", "Tmpfs", "VolumesFrom"]
            .iter()
            .any(|k| nonempty(&host_config[*k]))
            || nonempty(&config["Volumes"]);
        // The rootfs is only needed to copy the image's content into new
        // volumes; most containers have none.
        let prepared = if wants_mounts {
            RootfsView::mount(&self.views.join(id), rootfs).and_then(|view| {
                self.volumes
                    .container_create(id, config, host_config, Some(&view.path), resolve)
            })
        } else {
            self.volumes
                .container_create(id, config, host_config, None, resolve)
        };
        if let Err(e) = prepared {
            if let Err(undo) = self.networks.container_remove(id) {
                tracing::warn!(container = id, error = %undo, "undoing a failed create");
            }
            return Err(e);
        }
        Ok(())
    }

    /// At start, `spec` built: plugs the network in and points the spec's
    /// network namespace at it (or drops it for `--network host`), writes
    /// /etc/hosts, /etc/hostname, /etc/resolv.conf, and appends the
    /// container's mounts. On failure nothing stays plugged or mounted.
    pub fn start(&self, id: &str, rootfs: &[berth_store::Mount], spec: &mut Value) -> Result<()> {
        let t0 = std::time::Instant::now();
        let net = self.networks.container_start(id)?;
        let t_net = t0.elapsed();
        let mounts = if self.volumes.has_mounts(id) {
            RootfsView::mount(&self.views.join(id), rootfs)
                .and_then(|view| self.volumes.container_start(id, &view.path))
        } else {
            Ok(Vec::new())
        };
        let mounts = match mounts {
            Ok(m) => m,
            Err(e) => {
                let _ = self.networks.container_stop(id);
                return Err(e);
            }
        };
        patch_spec(spec, &net, mounts);
        tracing::debug!(container = id, network = ?t_net, total = ?t0.elapsed(), "network and mounts ready");
        Ok(())
    }

    /// When the container has stopped or exited: unplugs its network and
    /// releases its volume mounts. Goes on past errors, logging them.
    pub fn stop(&self, id: &str) {
        let t0 = std::time::Instant::now();
        if let Err(e) = self.networks.container_stop(id) {
            tracing::warn!(container = id, error = %e, "network cleanup at stop");
        }
        self.unmount_volumes(id);
        tracing::debug!(container = id, took = ?t0.elapsed(), "network and volumes stopped");
    }

    /// The volume half of [`Self::stop`], for a removal that stops the
    /// container's network itself ([`Self::remove`] does).
    pub fn unmount_volumes(&self, id: &str) {
        if let Err(e) = self.volumes.container_stop(id) {
            tracing::warn!(container = id, error = %e, "volume cleanup at stop");
        }
    }

    /// At removal: forgets the network plan, drops volume references and,
    /// with `remove_volumes` (`rm -v`, `--rm`), anonymous volumes. A
    /// failure is logged and the removal goes on (docker warns likewise):
    /// a container half removed could never be removed again, and what is
    /// left (a volume reference) does not outlive the next daemon start.
    pub fn remove(&self, id: &str, remove_volumes: bool) -> Result<()> {
        let t0 = std::time::Instant::now();
        if let Err(e) = self.networks.container_remove(id) {
            tracing::warn!(container = id, error = %e, "network cleanup at removal");
        }
        if let Err(e) = self.volumes.container_remove(id, remove_volumes) {
            tracing::warn!(container = id, error = %e, "volume cleanup at removal");
        }
        tracing::debug!(container = id, took = ?t0.elapsed(), "network plan and mounts released");
        Ok(())
    }

    /// `NetworkSettings` for inspect.
    pub fn network_settings(&self, id: &str) -> Value {
        self.networks.container_settings(id).unwrap_or_else(|e| {
            tracing::warn!(container = id, error = %e, "network settings");
            json!({"Networks": {}, "Ports": {}})
        })
    }

    /// `Mounts` for inspect and ps.
    pub fn mounts(&self, id: &str) -> Value {
        self.volumes
            .container_mounts(id)
            .ok()
            .and_then(|m| serde_json::to_value(m).ok())
            .unwrap_or_else(|| json!([]))
    }

    /// What ps shows of each container: `Ports`, `NetworkSettings.Networks`
    /// and `Mounts`, in the order of `ids`, the networks listed once.
    pub fn list_view(&self, ids: &[&str]) -> Vec<(Value, Value, Value)> {
        let nets = match self.networks.mgr() {
            Ok(m) => m.list(),
            Err(e) => {
                tracing::warn!(error = %e, "network settings");
                Vec::new()
            }
        };
        ids.iter()
            .map(|id| {
                let mut s = self
                    .networks
                    .container_settings_in(id, &nets)
                    .unwrap_or_else(|e| {
                        tracing::warn!(container = id, error = %e, "network settings");
                        json!({"Networks": {}, "Ports": {}})
                    });
                (ps_ports(&s), s["Networks"].take(), self.mounts(id))
            })
            .collect()
    }
}

/// ps's `Ports` from `NetworkSettings`:
/// `[{"IP", "PrivatePort", "PublicPort", "Type"}]`.
fn ps_ports(s: &Value) -> Value {
    let mut out = Vec::new();
    if let Some(map) = s["Ports"].as_object() {
        for (key, bindings) in map {
            let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
            let private: u16 = port.parse().unwrap_or(0);
            match bindings.as_array() {
                Some(list) if !list.is_empty() => {
                    for b in list {
                        out.push(json!({
                            "IP": b["HostIp"],
                            "PrivatePort": private,
                            "PublicPort": b["HostPort"].as_str().and_then(|p| p.parse::<u16>().ok()).unwrap_or(0),
                            "Type": proto,
                        }));
                    }
                }
                _ => out.push(json!({"PrivatePort": private, "Type": proto})),
            }
        }
    }
    Value::Array(out)
}

fn patch_spec(spec: &mut Value, net: &NetStart, mounts: Vec<Value>) {
    if let Some(ns) = spec["linux"]["namespaces"].as_array_mut() {
        match &net.netns {
            None => ns.retain(|n| n["type"] != "network"),
            Some(p) => {
                ns.retain(|n| n["type"] != "network");
                ns.push(json!({"type": "network", "path": p}));
            }
        }
    }
    if let Some(list) = spec["mounts"].as_array_mut() {
        list.extend(mounts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_gets_the_namespace_path_and_mounts() {
        let mut spec = json!({
            "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}]},
            "mounts": [{"destination": "/proc"}],
        });
        let net = NetStart {
            netns: Some("/run/berth/netns/x".into()),
            hosts: "h".into(),
            hostname: "n".into(),
            resolv_conf: "r".into(),
        };
        patch_spec(&mut spec, &net, vec![json!({"destination": "/data"})]);
        assert_eq!(
            spec["linux"]["namespaces"][1],
            json!({"type": "network", "path": "/run/berth/netns/x"})
        );
        assert_eq!(spec["mounts"][1]["destination"], "/data");
        let host = NetStart { netns: None, ..net };
        patch_spec(&mut spec, &host, vec![]);
        assert_eq!(spec["linux"]["namespaces"], json!([{"type": "pid"}]));
    }
}
