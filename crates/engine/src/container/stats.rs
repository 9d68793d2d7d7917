//! `docker stats` and `docker update`: the container's cgroup, read and
//! changed live through berth-cgroups.

use super::{Containers, Error, Result};
use berth_shim_proto::time::{format_rfc3339_nano, now};
use berth_shim_proto::{Request, RestartPolicy};
use serde_json::{json, Value};

fn cgroup_err(e: berth_cgroups::Error) -> Error {
    Error::Invalid(format!("cgroup: {e}"))
}

/// Host CPU time in nanoseconds (the `cpu` line of /proc/stat, in USER_HZ).
fn system_cpu_usage() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: u64 = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .take(7)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    ticks * 10_000_000
}

fn online_cpus() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
}

impl Containers {
    fn cgroup(&self, id: &str) -> Result<berth_cgroups::Manager> {
        berth_cgroups::Manager::new(Some(&format!("/berth/{id}")), id).map_err(cgroup_err)
    }

    /// One `docker stats` sample in the Engine API's shape; `pre` is the
    /// previous sample (its cpu_stats become precpu_stats).
    pub fn stats(&self, name: &str, pre: Option<&Value>) -> Result<Value> {
        let rec = self.inner.record(name)?;
        let running = rec.state.is_running();
        let s = if running {
            self.cgroup(&rec.id)?.stats().map_err(cgroup_err)?
        } else {
            berth_cgroups::Stats::default()
        };
        let cpu = json!({
            "cpu_usage": {
                "total_usage": s.cpu.usage_total,
                "percpu_usage": s.cpu.usage_percpu,
                "usage_in_kernelmode": s.cpu.usage_system,
                "usage_in_usermode": s.cpu.usage_user,
            },
            "system_cpu_usage": system_cpu_usage(),
            "online_cpus": online_cpus(),
            "throttling_data": {
                "periods": s.cpu.periods,
                "throttled_periods": s.cpu.throttled_periods,
                "throttled_time": s.cpu.throttled_time,
            },
        });
        let limit = s.memory.limit.unwrap_or_else(|| {
            // Docker shows the host's memory when there is no limit.
            std::fs::read_to_string("/proc/meminfo")
                .ok()
                .and_then(|m| {
                    m.lines()
                        .next()
                        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                })
                .map_or(0, |kb| kb * 1024)
        });
        let (pre_cpu, pre_read) = match pre {
            Some(p) => (p["cpu_stats"].clone(), p["read"].clone()),
            None => (
                json!({"cpu_usage": {"total_usage": 0}, "throttling_data": {}}),
                json!("0001-01-01T00:00:00Z"),
            ),
        };
        Ok(json!({
            "read": format_rfc3339_nano(now()),
            "preread": pre_read,
            "pids_stats": {"current": s.pids.current, "limit": s.pids.limit},
            "blkio_stats": {"io_service_bytes_recursive": [
                {"major": 0, "minor": 0, "op": "read", "value": s.blkio.read_bytes},
                {"major": 0, "minor": 0, "op": "write", "value": s.blkio.write_bytes},
            ]},
            "num_procs": 0,
            "storage_stats": {},
            "cpu_stats": cpu,
            "precpu_stats": pre_cpu,
            "memory_stats": if running {
                json!({"usage": s.memory.usage, "max_usage": s.memory.max_usage, "stats": s.memory.stat, "failcnt": s.memory.failcnt, "limit": limit})
            } else {
                json!({})
            },
            "name": format!("/{}", rec.name),
            "id": rec.id,
            "networks": {},
        }))
    }

    /// `POST /containers/{id}/update`: resources on the live cgroup and in
    /// the record; the restart policy in the record and the shim.
    pub fn update(&self, name: &str, body: &Value) -> Result<Vec<String>> {
        let rec = self.inner.record(name)?;
        let mut hc = rec.host_config.clone();
        let keys = [
            "Memory",
            "MemorySwap",
            "MemoryReservation",
            "NanoCpus",
            "CpuShares",
            "CpuPeriod",
            "CpuQuota",
            "CpusetCpus",
            "CpusetMems",
            "PidsLimit",
            "BlkioWeight",
            "RestartPolicy",
        ];
        if let (Some(o), Some(b)) = (hc.as_object_mut(), body.as_object()) {
            for k in keys {
                if let Some(v) = b.get(k).filter(|v| !v.is_null()) {
                    o.insert(k.to_owned(), v.clone());
                }
            }
        }
        let typed: super::types::HostConfig = serde_json::from_value(hc.clone())
            .map_err(|e| Error::Invalid(format!("invalid update: {e}")))?;
        let policy = super::restart_policy(&typed)?;
        if rec.host().auto_remove && !matches!(policy, RestartPolicy::No) {
            return Err(Error::Invalid(
                "Restart policy cannot be updated because AutoRemove is enabled for the container"
                    .into(),
            ));
        }
        if rec.state.is_running() {
            let mut res = serde_json::Map::new();
            let mut mem = serde_json::Map::new();
            if typed.memory > 0 {
                mem.insert("limit".into(), json!(typed.memory));
            }
            if typed.memory_swap != 0 {
                mem.insert("swap".into(), json!(typed.memory_swap));
            }
            if !mem.is_empty() {
                res.insert("memory".into(), Value::Object(mem));
            }
            let mut cpu = serde_json::Map::new();
            if typed.cpu_shares > 0 {
                cpu.insert("shares".into(), json!(typed.cpu_shares));
            }
            if typed.nano_cpus > 0 {
                cpu.insert("period".into(), json!(100_000));
                cpu.insert("quota".into(), json!(typed.nano_cpus / 10_000));
            } else if typed.cpu_quota != 0 {
                cpu.insert("quota".into(), json!(typed.cpu_quota));
                if typed.cpu_period > 0 {
                    cpu.insert("period".into(), json!(typed.cpu_period));
                }
            }
            if !typed.cpuset_cpus.is_empty() {
                cpu.insert("cpus".into(), json!(typed.cpuset_cpus));
            }
            if !cpu.is_empty() {
                res.insert("cpu".into(), Value::Object(cpu));
            }
            if let Some(p) = typed.pids_limit.filter(|p| *p != 0) {
                res.insert("pids".into(), json!({"limit": p}));
            }
            let resources: oci_spec::runtime::LinuxResources =
                serde_json::from_value(Value::Object(res))
                    .map_err(|e| Error::Invalid(format!("invalid update: {e}")))?;
            self.cgroup(&rec.id)?
                .update(&resources)
                .map_err(cgroup_err)?;
            let _ = self
                .inner
                .client(&rec.id)
                .call(&Request::SetRestart { policy });
        }
        self.inner.update(&rec.id, |e| e.rec.host_config = hc);
        self.inner.publish(&rec, "update", &[]);
        Ok(Vec::new())
    }
}
