//! The OCI runtime spec (config.json) of a container, from its merged
//! Config and HostConfig, with Docker's defaults (berth-oci) unless the
//! user loosens them.

use super::types::{Config, HostConfig};
use super::{Error, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Docker's default PATH when the image sets none.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The capability set as names: Docker's defaults, plus `add`, minus
/// `drop` (the image spec's arithmetic), or every one for `--privileged`.
pub fn capabilities(privileged: bool, add: &[String], drop: &[String]) -> Result<Vec<String>> {
    let caps = if privileged {
        crate::spec::capabilities(&["ALL".to_owned()], &[])?
    } else {
        crate::spec::capabilities(add, drop)?
    };
    Ok(serde_json::from_value(json!(caps)).unwrap_or_default())
}

/// A user as the spec wants it, resolved against the image's files.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// Resolve `user[:group]` (names or numbers) with the image's
/// /etc/passwd and /etc/group; `read` returns a file of the image.
pub fn resolve_user(spec: &str, read: &dyn Fn(&str) -> Option<Vec<u8>>) -> Result<User> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = read("etc/passwd").map(|d| String::from_utf8_lossy(&d).into_owned());
    let group = read("etc/group").map(|d| String::from_utf8_lossy(&d).into_owned());
    let find = |file: &Option<String>, key: &str, by_id: bool| -> Option<Vec<String>> {
        file.as_deref()?.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let hit = if by_id {
                f.get(2) == Some(&key)
            } else {
                f.first() == Some(&key)
            };
            (hit && f.len() >= 3).then(|| f.iter().map(|s| s.to_string()).collect())
        })
    };
    let mut user = User::default();
    let mut name = None;
    if u.is_empty() {
        user.uid = 0;
    } else if let Ok(uid) = u.parse::<u32>() {
        user.uid = uid;
        if let Some(f) = find(&passwd, u, true) {
            user.gid = f.get(3).and_then(|s| s.parse().ok()).unwrap_or(0);
            name = f.first().cloned();
        }
    } else {
        let f = find(&passwd, u, false).ok_or_else(|| {
            Error::Invalid(format!(
                "unable to find user {u}: no matching entries in passwd file"
            ))
        })?;
        user.uid = f.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
        user.gid = f.get(3).and_then(|s| s.parse().ok()).unwrap_or(0);
        name = Some(u.to_owned());
    }
    if let Some(g) = g {
        user.gid = match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => find(&group, g, false)
                .and_then(|f| f.get(2).and_then(|s| s.parse().ok()))
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                })?,
        };
    }
    // Supplementary groups the user is a member of, as docker adds them.
    if let (Some(name), Some(group)) = (name, group.as_deref()) {
        for l in group.lines() {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() >= 4 && f[3].split(',').any(|m| m == name) {
                if let Ok(gid) = f[2].parse::<u32>() {
                    if gid != user.gid && !user.additional_gids.contains(&gid) {
                        user.additional_gids.push(gid);
                    }
                }
            }
        }
    }
    Ok(user)
}

/// Parse a size like docker's flags: `64m`, `1g`, `512k`, `100` (bytes).
pub fn parse_size(s: &str) -> Option<i64> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.strip_suffix('b').unwrap_or(&s);
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1i64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        't' => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    let v: f64 = num.parse().ok()?;
    (v >= 0.0).then_some((v * mult as f64) as i64)
}

/// The process environment: the merged Env, with PATH, HOSTNAME and (for
/// a tty) TERM as docker adds them.
pub fn process_env(env: &[String], hostname: &str, tty: bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let has = |out: &[String], k: &str| out.iter().any(|e| e.split('=').next() == Some(k));
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        out.push(DEFAULT_PATH.into());
    }
    out.push(format!("HOSTNAME={hostname}"));
    if tty {
        out.push("TERM=xterm".into());
    }
    for e in env {
        // A bare `KEY` (docker run -e KEY with KEY unset on the client)
        // sets nothing, as dockerd treats it; the runtime refuses it.
        let Some((k, _)) = e.split_once('=') else {
            continue;
        };
        if has(&out, k) {
            out.retain(|o| o.split('=').next() != Some(k));
        }
        out.push(e.clone());
    }
    out
}

/// Docker gives containers 1048576 open files (dockerd's own limit); a
/// host that caps us lower (no CAP_SYS_RESOURCE) gets its hard limit.
fn nofile_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let hard = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4))
        .and_then(|h| h.parse::<u64>().ok());
    hard.map_or(1_048_576, |h| h.min(1_048_576))
}

/// Files of the container directory bound into it.
pub struct EtcFiles<'a> {
    pub hosts: &'a std::path::Path,
    pub hostname: &'a std::path::Path,
    pub resolv_conf: &'a std::path::Path,
}

/// Build config.json.
pub fn build(
    id: &str,
    cfg: &Config,
    hc: &HostConfig,
    user: &User,
    etc: &EtcFiles<'_>,
    data_root: &std::path::Path,
) -> Result<Value> {
    let args: Vec<String> = cfg
        .entrypoint
        .iter()
        .flatten()
        .chain(cfg.cmd.iter().flatten())
        .cloned()
        .collect();
    if args.is_empty() {
        return Err(Error::Invalid("no command specified".into()));
    }
    let hostname = if cfg.hostname.is_empty() {
        &id[..12]
    } else {
        &cfg.hostname
    };
    let caps = capabilities(hc.privileged, &hc.cap_add, &hc.cap_drop)?;
    let no_new_privs = hc.security_opt.iter().any(|o| {
        o == "no-new-privileges" || o == "no-new-privileges:true" || o == "no-new-privileges=true"
    });
    let nofile = nofile_limit();
    let mut rlimits = vec![json!({"type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile})];
    for u in &hc.ulimits {
        let name = format!("RLIMIT_{}", u.name.to_ascii_uppercase());
        rlimits.retain(|r| r["type"] != name.as_str());
        rlimits.push(json!({"type": name, "hard": u.hard, "soft": u.soft}));
    }
    let mut process = json!({
        "terminal": cfg.tty,
        "user": {"uid": user.uid, "gid": user.gid},
        "args": args,
        "env": process_env(cfg.env.as_deref().unwrap_or_default(), hostname, cfg.tty),
        "cwd": if cfg.working_dir.is_empty() { "/" } else { cfg.working_dir.as_str() },
        "capabilities": {
            "bounding": caps, "effective": caps, "permitted": caps,
        },
        "rlimits": rlimits,
        "noNewPrivileges": no_new_privs,
    });
    if !user.additional_gids.is_empty() {
        process["user"]["additionalGids"] = json!(user.additional_gids);
    }
    if let Some([h, w]) = hc.console_size {
        if h > 0 && w > 0 {
            process["consoleSize"] = json!({"height": h, "width": w});
        }
    }

    let mut mounts: Vec<Value> = serde_json::to_value(berth_oci::default_mounts())
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    if hc.privileged {
        // Privileged containers may write /sys and see every cgroup.
        for m in &mut mounts {
            if m["destination"] == "/sys" || m["destination"] == "/sys/fs/cgroup" {
                m["options"] = json!(["rw", "nosuid", "noexec", "nodev"]);
            }
        }
    }
    if hc.shm_size > 0 {
        for m in &mut mounts {
            if m["destination"] == "/dev/shm" {
                m["options"] = json!([
                    "rw",
                    "nosuid",
                    "noexec",
                    "nodev",
                    "mode=1777",
                    format!("size={}k", hc.shm_size / 1024)
                ]);
            }
        }
    }
    for (dst, file) in [
        ("/etc/resolv.conf", etc.resolv_conf),
        ("/etc/hostname", etc.hostname),
        ("/etc/hosts", etc.hosts),
    ] {
        mounts.push(json!({"destination": dst, "type": "bind", "source": file, "options": ["rbind", "rprivate"]}));
    }
    for (dst, opts) in &hc.tmpfs {
        let mut o = vec!["nosuid".to_string(), "nodev".into(), "noexec".into()];
        o.extend(opts.split(',').filter(|s| !s.is_empty()).map(str::to_owned));
        mounts.push(json!({"destination": dst, "type": "tmpfs", "source": "tmpfs", "options": o}));
    }
    for b in &hc.binds {
        let parts: Vec<&str> = b.split(':').collect();
        let (src, dst, opts) = match parts.as_slice() {
            [s, d] => (*s, *d, ""),
            [s, d, o] => (*s, *d, *o),
            _ => {
                return Err(Error::Invalid(format!(
                    "invalid volume specification: {b:?}"
                )))
            }
        };
        if !dst.starts_with('/') {
            return Err(Error::Invalid(format!(
                "invalid mount path: {dst:?} mount path must be absolute"
            )));
        }
        let source = if src.starts_with('/') {
            std::path::PathBuf::from(src)
        } else {
            // A named volume in Docker's layout.
            if src.is_empty() || src.contains('/') {
                return Err(Error::Invalid(format!(
                    "invalid volume specification: {b:?}"
                )));
            }
            let p = data_root.join("volumes").join(src).join("_data");
            std::fs::create_dir_all(&p)
                .map_err(|e| Error::io(format!("create volume {src}"), e))?;
            p
        };
        if !source.exists() {
            // Docker creates a missing bind source directory.
            std::fs::create_dir_all(&source)
                .map_err(|e| Error::io(format!("create bind source {}", source.display()), e))?;
        }
        let mut o = vec!["rbind".to_string()];
        let ro = opts.split(',').any(|x| x == "ro");
        o.push(if ro { "ro" } else { "rw" }.into());
        o.push("rprivate".into());
        mounts.push(json!({"destination": dst, "type": "bind", "source": source, "options": o}));
    }

    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    if hc.network_mode != "host" {
        namespaces.push(json!({"type": "network"}));
    }
    if hc.pid_mode == "host" {
        namespaces.retain(|n| n["type"] != "pid");
    }
    if hc.ipc_mode == "host" {
        namespaces.retain(|n| n["type"] != "ipc");
    }
    if hc.uts_mode == "host" {
        namespaces.retain(|n| n["type"] != "uts");
    }

    let mut resources = json!({"devices": crate::spec::default_device_rules()});
    if hc.privileged {
        resources["devices"] = json!([{"allow": true, "access": "rwm"}]);
    }
    let mut memory = serde_json::Map::new();
    if hc.memory > 0 {
        memory.insert("limit".into(), json!(hc.memory));
        if hc.memory_swap != 0 {
            memory.insert("swap".into(), json!(hc.memory_swap));
        } else {
            memory.insert("swap".into(), json!(hc.memory * 2));
        }
    }
    if hc.oom_kill_disable == Some(true) {
        memory.insert("disableOOMKiller".into(), json!(true));
    }
    if !memory.is_empty() {
        resources["memory"] = Value::Object(memory);
    }
    let mut cpu = serde_json::Map::new();
    if hc.cpu_shares > 0 {
        cpu.insert("shares".into(), json!(hc.cpu_shares));
    }
    if hc.nano_cpus > 0 {
        let period = 100_000i64;
        cpu.insert("period".into(), json!(period));
        cpu.insert("quota".into(), json!(hc.nano_cpus * period / 1_000_000_000));
    } else {
        if hc.cpu_period > 0 {
            cpu.insert("period".into(), json!(hc.cpu_period));
        }
        if hc.cpu_quota > 0 {
            cpu.insert("quota".into(), json!(hc.cpu_quota));
        }
    }
    if !hc.cpuset_cpus.is_empty() {
        cpu.insert("cpus".into(), json!(hc.cpuset_cpus));
    }
    if !cpu.is_empty() {
        resources["cpu"] = Value::Object(cpu);
    }
    if let Some(p) = hc.pids_limit.filter(|p| *p != 0) {
        resources["pids"] = json!({"limit": p});
    }

    let mut devices = Vec::new();
    for d in &hc.devices {
        let st = std::fs::metadata(&d.path_on_host)
            .map_err(|e| Error::io(format!("device {}", d.path_on_host), e))?;
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let typ = if st.file_type().is_block_device() {
            "b"
        } else {
            "c"
        };
        let rdev = st.rdev();
        let (major, minor) = (
            ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff),
            (rdev & 0xff) | ((rdev >> 12) & !0xff),
        );
        let dst = if d.path_in_container.is_empty() {
            &d.path_on_host
        } else {
            &d.path_in_container
        };
        devices.push(json!({"path": dst, "type": typ, "major": major, "minor": minor, "fileMode": st.mode() & 0o7777, "uid": 0, "gid": 0}));
        let access = if d.cgroup_permissions.is_empty() {
            "rwm"
        } else {
            d.cgroup_permissions.as_str()
        };
        if let Some(list) = resources["devices"].as_array_mut() {
            list.push(json!({"allow": true, "type": typ, "major": major, "minor": minor, "access": access}));
        }
    }

    let mut linux = json!({
        "namespaces": namespaces,
        "resources": resources,
        "cgroupsPath": format!("/berth/{id}"),
        "devices": devices,
    });
    let seccomp_off = hc.privileged
        || hc
            .security_opt
            .iter()
            .any(|o| o == "seccomp=unconfined" || o == "seccomp:unconfined");
    if !hc.privileged {
        linux["maskedPaths"] = json!(berth_oci::default_masked_paths());
        linux["readonlyPaths"] = json!(berth_oci::default_readonly_paths());
    }
    if !seccomp_off {
        let custom = hc.security_opt.iter().find_map(|o| {
            o.strip_prefix("seccomp=")
                .or_else(|| o.strip_prefix("seccomp:"))
        });
        linux["seccomp"] = match custom {
            Some(profile) => serde_json::from_str::<Value>(profile)
                .map_err(|e| Error::Invalid(format!("decoding seccomp profile failed: {e}")))?,
            None => {
                let caps_typed: Vec<oci_spec::runtime::Capability> =
                    serde_json::from_value(json!(caps)).unwrap_or_default();
                serde_json::to_value(berth_oci::default_seccomp(&caps_typed))
                    .map_err(|e| Error::Invalid(format!("default seccomp profile: {e}")))?
            }
        };
    }
    let mut sysctl = BTreeMap::new();
    for (k, v) in &hc.sysctls {
        sysctl.insert(k.clone(), v.clone());
    }
    if !sysctl.is_empty() {
        linux["sysctl"] = json!(sysctl);
    }
    let mut spec = json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": "rootfs", "readonly": hc.readonly_rootfs},
        "mounts": mounts,
        "linux": linux,
    });
    // With the host's UTS namespace the hostname is the host's: setting it
    // would change the host's (the runtime refuses that).
    if hc.uts_mode != "host" {
        spec["hostname"] = json!(hostname);
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_follow_docker() {
        let d = capabilities(false, &[], &[]).unwrap();
        assert_eq!(d.len(), 14);
        assert!(!d.contains(&"CAP_SYS_ADMIN".to_string()));
        let c = capabilities(false, &["net_admin".into()], &["CHOWN".into()]).unwrap();
        assert!(c.contains(&"CAP_NET_ADMIN".to_string()) && !c.contains(&"CAP_CHOWN".to_string()));
        assert!(capabilities(false, &[], &["ALL".into()])
            .unwrap()
            .is_empty());
        assert!(capabilities(false, &["BOGUS".into()], &[]).is_err());
        assert!(capabilities(true, &[], &[])
            .unwrap()
            .contains(&"CAP_SYS_ADMIN".to_string()));
    }

    #[test]
    fn users_resolve_from_image_files() {
        let read = |p: &str| -> Option<Vec<u8>> {
            match p {
                "etc/passwd" => {
                    Some(b"root:x:0:0::/root:/bin/sh\nwww:x:33:33::/var/www:/bin/sh\n".to_vec())
                }
                "etc/group" => Some(b"root:x:0:\nwww:x:33:\nstaff:x:50:www\n".to_vec()),
                _ => None,
            }
        };
        let u = resolve_user("www", &read).unwrap();
        assert_eq!((u.uid, u.gid, u.additional_gids), (33, 33, vec![50]));
        assert_eq!(resolve_user("1000:staff", &read).unwrap().gid, 50);
        assert_eq!(resolve_user("", &read).unwrap().uid, 0);
        assert!(resolve_user("nobody", &read).is_err());
    }

    #[test]
    fn env_and_sizes() {
        let env = process_env(
            &["A=1".into(), "HOSTNAME=mine".into(), "UNSET".into()],
            "abc",
            true,
        );
        assert!(!env.contains(&"UNSET".to_string()));
        assert_eq!(env[0], DEFAULT_PATH);
        assert!(
            env.contains(&"HOSTNAME=mine".to_string())
                && !env.contains(&"HOSTNAME=abc".to_string())
        );
        assert!(env.contains(&"TERM=xterm".to_string()));
        assert_eq!(parse_size("64m"), Some(64 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("12"), Some(12));
        assert_eq!(parse_size("x"), None);
    }
}
