//! `docker inspect` and `docker ps` in the Engine API's shapes.

use super::types::Record;
use super::{Containers, Health, Result};
use berth_shim_proto::time::format_rfc3339_nano;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Docker's zero time.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn time(t: i64) -> String {
    if t <= 0 {
        ZERO_TIME.into()
    } else {
        format_rfc3339_nano(t)
    }
}

/// "2 seconds", "About a minute", "3 hours" — Go's units.HumanDuration.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        _ if s < 3600 => format!("{} minutes", s / 60),
        _ if s < 2 * 3600 => "About an hour".into(),
        _ if s < 48 * 3600 => format!("{} hours", s / 3600),
        _ if s < 7 * 24 * 3600 * 2 => format!("{} days", s / 86_400),
        _ if s < 30 * 24 * 3600 * 3 => format!("{} weeks", s / (7 * 86_400)),
        _ if s < 365 * 24 * 3600 * 2 => format!("{} months", s / (30 * 86_400)),
        _ => format!("{} years", s / (365 * 86_400)),
    }
}

fn status_text(r: &Record) -> String {
    let now = berth_shim_proto::time::now();
    let ago = |t: i64| human_duration((now - t) / 1_000_000_000);
    let s = &r.state;
    let health = s.health.as_ref().map(|h| h.ps_suffix()).unwrap_or_default();
    match s.status.as_str() {
        "running" => format!("Up {}{health}", ago(s.started_at)),
        "paused" => format!("Up {} (Paused)", ago(s.started_at)),
        "restarting" => format!("Restarting ({}) {} ago", s.exit_code, ago(s.finished_at)),
        "removing" => "Removal In Progress".into(),
        "dead" => "Dead".into(),
        "exited" => format!("Exited ({}) {} ago", s.exit_code, ago(s.finished_at)),
        _ => "Created".into(),
    }
}

/// `State.Health`, with times as RFC 3339.
fn health_json(h: &Health) -> Value {
    let log: Vec<Value> = h
        .log
        .iter()
        .map(|r| {
            json!({
                "Start": time(r.start),
                "End": time(r.end),
                "ExitCode": r.exit_code,
                "Output": r.output,
            })
        })
        .collect();
    json!({"Status": h.status, "FailingStreak": h.failing_streak, "Log": log})
}

fn host_config(r: &Record) -> Value {
    let mut hc = r.host_config.clone();
    if let Some(o) = hc.as_object_mut() {
        let defaults = [
            ("NetworkMode", json!("bridge")),
            (
                "RestartPolicy",
                json!({"Name": "no", "MaximumRetryCount": 0}),
            ),
            ("LogConfig", json!({"Type": "json-file", "Config": {}})),
            ("Binds", Value::Null),
            ("AutoRemove", json!(false)),
            ("Privileged", json!(false)),
            ("ReadonlyRootfs", json!(false)),
            ("CapAdd", Value::Null),
            ("CapDrop", Value::Null),
            ("Memory", json!(0)),
            ("NanoCpus", json!(0)),
            ("CpuShares", json!(0)),
            ("PidsLimit", Value::Null),
            ("ShmSize", json!(67_108_864)),
            ("PortBindings", json!({})),
        ];
        for (k, v) in defaults {
            let missing = o
                .get(k)
                .is_none_or(|x| x.is_null() || (k == "NetworkMode" && x == ""))
                && !(v.is_null() && o.contains_key(k));
            if missing {
                o.insert(k.into(), v);
            }
        }
        if o.get("LogConfig")
            .and_then(|l| l.get("Type"))
            .is_some_and(|t| t == "")
        {
            o.insert(
                "LogConfig".into(),
                json!({"Type": "json-file", "Config": {}}),
            );
        }
        if o.get("ShmSize").is_some_and(|s| s == 0) {
            o.insert("ShmSize".into(), json!(67_108_864));
        }
    }
    hc
}

impl Containers {
    /// `GET /containers/{id}/json`.
    pub fn inspect(&self, name: &str) -> Result<Value> {
        let r = self.inner.record(name)?;
        let dir = self.inner.dir(&r.id);
        let s = &r.state;
        let exec_ids: Vec<String> = {
            let t = self.inner.lock();
            t.execs
                .iter()
                .filter(|(_, x)| x.container_id == r.id)
                .map(|(k, _)| k.clone())
                .collect()
        };
        let mut state = json!({
            "Status": s.status,
            "Running": matches!(s.status.as_str(), "running" | "paused"),
            "Paused": s.status == "paused",
            "Restarting": s.status == "restarting",
            "OOMKilled": s.oom_killed,
            "Dead": s.status == "dead",
            "Pid": s.pid,
            "ExitCode": s.exit_code,
            "Error": s.error,
            "StartedAt": time(s.started_at),
            "FinishedAt": time(s.finished_at),
        });
        if let Some(h) = &s.health {
            state["Health"] = health_json(h);
        }
        let upper = berth_store::Snapshotter::upper_dir(&self.inner.store.snapshots, &r.rw_key)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        Ok(json!({
            "Id": r.id,
            "Created": time(r.created),
            "Path": r.path,
            "Args": r.args,
            "State": state,
            "Image": r.image_id,
            "ResolvConfPath": dir.join("resolv.conf"),
            "HostnamePath": dir.join("hostname"),
            "HostsPath": dir.join("hosts"),
            "LogPath": r.log_path,
            "Name": format!("/{}", r.name),
            "RestartCount": r.restart_count,
            "Driver": "overlay2",
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": if exec_ids.is_empty() { Value::Null } else { json!(exec_ids) },
            "HostConfig": host_config(&r),
            "GraphDriver": {"Name": "overlay2", "Data": {"UpperDir": upper, "MergedDir": "", "WorkDir": "", "LowerDir": ""}},
            "Mounts": self.inner.netvol.mounts(&r.id),
            "Config": r.config,
            "NetworkSettings": self.inner.netvol.network_settings(&r.id),
        }))
    }

    /// `GET /containers/json`. The matching containers are summed up
    /// under the lock without copying their records; their networking and
    /// mounts are added after it, with the networks listed once for all.
    pub fn list(&self, opts: &ListOptions) -> Result<Vec<Value>> {
        let all = opts.all || opts.limit > 0 || opts.latest;
        let mut rows: Vec<(i64, String, Value)> = {
            let t = self.inner.lock();
            t.by_id
                .values()
                .map(|e| &e.rec)
                .filter(|r| (all || r.state.is_running()) && matches_filters(r, &opts.filters))
                .map(|r| (r.created, r.id.clone(), summary(r)))
                .collect()
        };
        rows.sort_by_key(|(created, ..)| std::cmp::Reverse(*created));
        if opts.latest {
            rows.truncate(1);
        } else if opts.limit > 0 {
            rows.truncate(opts.limit);
        }
        let ids: Vec<&str> = rows.iter().map(|(_, id, _)| id.as_str()).collect();
        let views = self.inner.netvol.list_view(&ids);
        Ok(rows
            .into_iter()
            .zip(views)
            .map(|((_, _, mut v), (ports, networks, mounts))| {
                v["Ports"] = ports;
                v["NetworkSettings"] = json!({ "Networks": networks });
                v["Mounts"] = mounts;
                v
            })
            .collect())
    }
}

/// A container's `ps` entry but for `Ports`, `NetworkSettings` and
/// `Mounts`, read from the record's JSON as it is stored.
fn summary(r: &Record) -> Value {
    let mut command = r.path.clone();
    for a in &r.args {
        command.push(' ');
        command.push_str(a);
    }
    let mode = r.host_config["NetworkMode"].as_str().unwrap_or_default();
    json!({
        "Id": r.id,
        "Names": [format!("/{}", r.name)],
        "Image": r.image,
        "ImageID": r.image_id,
        "Command": command,
        "Created": r.created / 1_000_000_000,
        "Labels": string_map(&r.config["Labels"]),
        "State": r.state.status,
        "Status": status_text(r),
        "HostConfig": {"NetworkMode": if mode.is_empty() { "bridge" } else { mode }},
    })
}

/// The string entries of a JSON object (labels), `{}` for anything else.
fn string_map(v: &Value) -> Value {
    let mut m = serde_json::Map::new();
    if let Some(o) = v.as_object() {
        for (k, x) in o {
            if x.is_string() {
                m.insert(k.clone(), x.clone());
            }
        }
    }
    Value::Object(m)
}

/// Options of `docker ps`.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub all: bool,
    /// Only the `limit` newest (0: no limit).
    pub limit: usize,
    pub latest: bool,
    /// `status`, `name`, `id`, `label`, `ancestor`, `exited`, `health`.
    pub filters: BTreeMap<String, Vec<String>>,
}

pub(crate) fn labels_match(r: &Record, filters: &BTreeMap<String, Vec<String>>) -> bool {
    if !filters.contains_key("label") && !filters.contains_key("label!") {
        return true;
    }
    let labels = r.cfg().labels.unwrap_or_default();
    let want = |f: &str| -> bool {
        match f.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
            None => labels.contains_key(f),
        }
    };
    filters
        .get("label")
        .is_none_or(|fs| fs.iter().all(|f| want(f)))
        && filters
            .get("label!")
            .is_none_or(|fs| fs.iter().all(|f| !want(f)))
}

fn matches_filters(r: &Record, filters: &BTreeMap<String, Vec<String>>) -> bool {
    let any = |key: &str, f: &dyn Fn(&str) -> bool| {
        filters
            .get(key)
            .is_none_or(|vs| vs.is_empty() || vs.iter().any(|v| f(v)))
    };
    labels_match(r, filters)
        && any("status", &|v| v == r.state.status)
        && any("name", &|v| r.name.contains(v.trim_start_matches('/')))
        && any("id", &|v| r.id.starts_with(v))
        && any("ancestor", &|v| {
            r.image == v
                || r.image_id == v
                || r.image_id.trim_start_matches("sha256:").starts_with(v)
                || r.image.split(':').next() == Some(v)
        })
        && any("health", &|v| {
            v == r
                .state
                .health
                .as_ref()
                .map_or("none", |h| h.status.as_str())
        })
        && any("exited", &|v| {
            r.state.status == "exited" && v.parse::<i32>().ok() == Some(r.state.exit_code)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_docker() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(5), "5 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(3 * 3600), "3 hours");
    }
}
