//! From an image config and the user's options to an OCI runtime spec, with
//! Docker's defaults (capabilities, seccomp profile, masked and read-only
//! paths, mounts, device rules) and Docker's rules for env, entrypoint and
//! cmd, working directory and user (resolved through the image's
//! /etc/passwd and /etc/group).
//!
//! What is not part of the runtime spec (labels, exposed ports, volumes,
//! stop signal, health check) is returned beside it as data.

use crate::error::{Error, Result};
use crate::image::config::{HealthConfig, ImageConfig};
use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilities, LinuxDeviceCgroup, LinuxDeviceType,
    LinuxNamespace, LinuxNamespaceType, LinuxResources, Process, Root, Spec, User,
};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;

/// The PATH a container gets when neither image nor user sets one.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the user asked for on `docker run` / `docker create`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `-e KEY=value` (a bare `KEY` is dropped: the CLI resolves it).
    pub env: Vec<String>,
    /// `--entrypoint`; `Some(vec![])` clears the image's.
    pub entrypoint: Option<Vec<String>>,
    /// The command after the image name; empty keeps the image's.
    pub cmd: Vec<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u user[:group]`.
    pub user: Option<String>,
    /// `--group-add` names or numbers.
    pub group_add: Vec<String>,
    /// `-h`; the caller defaults it to the short container id.
    pub hostname: String,
    /// `-t`.
    pub tty: bool,
    /// `--read-only`.
    pub read_only: bool,
    /// `--cap-add` (names with or without `CAP_`, or `ALL`).
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    pub cap_drop: Vec<String>,
    /// `--label`, merged over the image's.
    pub labels: BTreeMap<String, String>,
    /// `-p`/`--expose` additions to the exposed ports.
    pub expose: Vec<String>,
    /// `--stop-signal`.
    pub stop_signal: Option<String>,
    /// `--health-cmd` and friends, replacing the image's check.
    pub healthcheck: Option<HealthConfig>,
    /// The container's root filesystem (the mounted snapshot).
    pub rootfs: PathBuf,
}

/// The spec and what goes beside it in the container's config.
#[derive(Debug, Clone)]
pub struct ContainerSetup {
    /// The OCI runtime spec.
    pub spec: Spec,
    /// Image labels with the user's over them.
    pub labels: BTreeMap<String, String>,
    /// `80/tcp` style.
    pub exposed_ports: BTreeSet<String>,
    /// Anonymous volumes the image declares.
    pub volumes: BTreeSet<String>,
    /// Signal that stops the container (`SIGTERM` unless set).
    pub stop_signal: String,
    /// The health check to run, if any (`["NONE"]` removes the image's).
    pub healthcheck: Option<HealthConfig>,
}

/// A resolved user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups: the user's in /etc/group, then `--group-add`.
    pub additional_gids: Vec<u32>,
    /// Home directory (for `HOME`).
    pub home: String,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

fn parse_passwd(data: &[u8]) -> Vec<PasswdEntry> {
    String::from_utf8_lossy(data)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 6 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_owned(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_owned(),
            })
        })
        .collect()
}

fn parse_group(data: &[u8]) -> Vec<GroupEntry> {
    String::from_utf8_lossy(data)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 3 {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_owned(),
                gid: f[2].parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Resolves `user[:group]` and `group_add` as Docker does, given the
/// image's /etc/passwd and /etc/group (either may be absent).
pub fn resolve_user(
    spec: &str,
    group_add: &[String],
    passwd: Option<&[u8]>,
    group: Option<&[u8]>,
) -> Result<ExecUser> {
    let users = passwd.map(parse_passwd).unwrap_or_default();
    let groups = group.map(parse_group).unwrap_or_default();
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let mut out = ExecUser {
        uid: 0,
        gid: 0,
        additional_gids: Vec::new(),
        home: "/".into(),
    };
    let mut name = None;
    // No user means uid 0, whose passwd entry still gives home and groups.
    let u = if u.is_empty() { "0" } else { u };
    {
        let found = match u.parse::<u32>() {
            Ok(n) => users.iter().find(|e| e.uid == n),
            Err(_) => users.iter().find(|e| e.name == u),
        };
        match (found, u.parse::<u32>()) {
            (Some(e), _) => {
                out.uid = e.uid;
                out.gid = e.gid;
                out.home = e.home.clone();
                name = Some(e.name.clone());
            }
            (None, Ok(n)) => out.uid = n,
            (None, Err(_)) => {
                return Err(Error::Invalid(format!(
                    "unable to find user {u}: no matching entries in passwd file"
                )))
            }
        }
    }
    let lookup_group = |g: &str| -> Result<u32> {
        match g.parse::<u32>() {
            Ok(n) => Ok(n),
            Err(_) => groups
                .iter()
                .find(|e| e.name == g)
                .map(|e| e.gid)
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                }),
        }
    };
    match g {
        Some(g) if !g.is_empty() => out.gid = lookup_group(g)?,
        _ => {
            // Without an explicit group, the user's supplementary groups apply.
            if let Some(n) = &name {
                for e in &groups {
                    if e.members.iter().any(|m| m == n) && !out.additional_gids.contains(&e.gid) {
                        out.additional_gids.push(e.gid);
                    }
                }
            }
        }
    }
    for g in group_add {
        let gid = lookup_group(g)?;
        if !out.additional_gids.contains(&gid) {
            out.additional_gids.push(gid);
        }
    }
    Ok(out)
}

fn env_key(e: &str) -> &str {
    e.split_once('=').map_or(e, |(k, _)| k)
}

fn merge_env(base: &mut Vec<String>, add: &[String]) {
    for e in add {
        if !e.contains('=') {
            continue;
        }
        base.retain(|b| env_key(b) != env_key(e));
        base.push(e.clone());
    }
}

fn capability(name: &str) -> Result<Capability> {
    let n = name.to_ascii_uppercase();
    let n = if n.starts_with("CAP_") {
        n
    } else {
        format!("CAP_{n}")
    };
    serde_json::from_value(serde_json::Value::String(n))
        .map_err(|_| Error::Invalid(format!("unknown capability {name:?}")))
}

/// Every capability the kernel knows, for `--cap-add ALL`.
fn all_capabilities() -> Vec<Capability> {
    berth_oci::CAPABILITY_NAMES
        .iter()
        .filter_map(|n| capability(n).ok())
        .collect()
}

/// Docker's capability arithmetic: defaults, plus adds, minus drops
/// (`ALL` on either side).
pub fn capabilities(add: &[String], drop: &[String]) -> Result<Vec<Capability>> {
    let mut caps = berth_oci::default_capabilities();
    if add.iter().any(|a| a.eq_ignore_ascii_case("ALL")) {
        caps = all_capabilities();
    } else {
        for a in add {
            let c = capability(a)?;
            if !caps.contains(&c) {
                caps.push(c);
            }
        }
    }
    if drop.iter().any(|d| d.eq_ignore_ascii_case("ALL")) {
        caps.clear();
        // Docker: adds win over drop ALL.
        for a in add.iter().filter(|a| !a.eq_ignore_ascii_case("ALL")) {
            caps.push(capability(a)?);
        }
    } else {
        for d in drop {
            let c = capability(d)?;
            caps.retain(|x| *x != c);
        }
    }
    Ok(caps)
}

fn device_rule(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut d = LinuxDeviceCgroup::default();
    d.set_allow(allow);
    d.set_typ(typ);
    d.set_major(major);
    d.set_minor(minor);
    d.set_access(Some(access.to_owned()));
    d
}

/// Docker's default device cgroup rules: deny all, allow mknod of any
/// device, and use of the standard character devices.
pub fn default_device_rules() -> Vec<LinuxDeviceCgroup> {
    use LinuxDeviceType::{A, B, C};
    vec![
        device_rule(false, Some(A), None, None, "rwm"),
        device_rule(true, Some(C), None, None, "m"),
        device_rule(true, Some(B), None, None, "m"),
        device_rule(true, Some(C), Some(1), Some(3), "rwm"),
        device_rule(true, Some(C), Some(1), Some(8), "rwm"),
        device_rule(true, Some(C), Some(1), Some(7), "rwm"),
        device_rule(true, Some(C), Some(5), Some(0), "rwm"),
        device_rule(true, Some(C), Some(1), Some(5), "rwm"),
        device_rule(true, Some(C), Some(1), Some(9), "rwm"),
        device_rule(true, Some(C), Some(5), Some(1), "rwm"),
        device_rule(true, Some(C), Some(136), None, "rwm"),
        device_rule(true, Some(C), Some(5), Some(2), "rwm"),
        device_rule(true, Some(C), Some(10), Some(200), "rwm"),
    ]
}

fn spec_error(e: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("building the runtime spec: {e}"))
}

/// Builds the container's spec. `read_file` reads a file of the image's
/// root filesystem (`etc/passwd`), or `None` if it is absent.
pub fn build(
    image: &ImageConfig,
    opts: &RunOptions,
    read_file: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Result<ContainerSetup> {
    let ic = image.container_config();

    // Entrypoint and command: a new entrypoint drops the image's command.
    let (entrypoint, cmd) = match &opts.entrypoint {
        Some(ep) => (ep.clone(), opts.cmd.clone()),
        None => (
            ic.entrypoint.clone().unwrap_or_default(),
            if opts.cmd.is_empty() {
                ic.cmd.clone().unwrap_or_default()
            } else {
                opts.cmd.clone()
            },
        ),
    };
    let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if args.is_empty() {
        return Err(Error::Invalid("no command specified".into()));
    }

    let user_spec = opts.user.clone().unwrap_or_else(|| ic.user.clone());
    let passwd = read_file("etc/passwd");
    let group = read_file("etc/group");
    let user = resolve_user(
        &user_spec,
        &opts.group_add,
        passwd.as_deref(),
        group.as_deref(),
    )?;

    let mut env = vec![format!("HOSTNAME={}", opts.hostname)];
    merge_env(&mut env, ic.env.as_deref().unwrap_or_default());
    merge_env(&mut env, &opts.env);
    if !env.iter().any(|e| env_key(e) == "PATH") {
        env.insert(0, DEFAULT_PATH.into());
    }
    if opts.tty && !env.iter().any(|e| env_key(e) == "TERM") {
        env.push("TERM=xterm".into());
    }
    if !env.iter().any(|e| env_key(e) == "HOME") {
        env.push(format!("HOME={}", user.home));
    }

    let cwd = opts
        .workdir
        .clone()
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| {
            if ic.working_dir.is_empty() {
                "/".into()
            } else {
                ic.working_dir.clone()
            }
        });
    if !cwd.starts_with('/') {
        return Err(Error::Invalid(format!(
            "the working directory {cwd:?} is invalid, it needs to be an absolute path"
        )));
    }

    let caps = capabilities(&opts.cap_add, &opts.cap_drop)?;
    let capset: HashSet<Capability> = caps.iter().copied().collect();
    let mut lc = LinuxCapabilities::default();
    lc.set_bounding(Some(capset.clone()));
    lc.set_effective(Some(capset.clone()));
    lc.set_permitted(Some(capset));
    lc.set_inheritable(None);
    lc.set_ambient(None);

    let mut u = User::default();
    u.set_uid(user.uid);
    u.set_gid(user.gid);
    u.set_additional_gids((!user.additional_gids.is_empty()).then(|| user.additional_gids.clone()));

    let mut process = Process::default();
    process.set_terminal(Some(opts.tty));
    process.set_args(Some(args));
    process.set_env(Some(env));
    process.set_cwd(PathBuf::from(&cwd));
    process.set_user(u);
    process.set_capabilities(Some(lc));
    process.set_no_new_privileges(None);
    process.set_rlimits(None);
    process.set_apparmor_profile(None);
    process.set_oom_score_adj(None);

    let mut root = Root::default();
    root.set_path(opts.rootfs.clone());
    root.set_readonly(Some(opts.read_only));

    let namespaces = [
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
    ]
    .into_iter()
    .map(|t| {
        let mut n = LinuxNamespace::default();
        n.set_typ(t);
        n
    })
    .collect::<Vec<_>>();
    let mut resources = LinuxResources::default();
    resources.set_devices(Some(default_device_rules()));
    let linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .masked_paths(berth_oci::default_masked_paths())
        .readonly_paths(berth_oci::default_readonly_paths())
        .seccomp(berth_oci::default_seccomp(&caps))
        .resources(resources)
        .build()
        .map_err(spec_error)?;

    let mut spec = Spec::default();
    spec.set_version("1.0.2-dev".into());
    spec.set_process(Some(process));
    spec.set_root(Some(root));
    spec.set_hostname(Some(opts.hostname.clone()));
    spec.set_mounts(Some(berth_oci::default_mounts()));
    spec.set_linux(Some(linux));
    spec.set_hooks(None);
    spec.set_annotations(None);

    let mut labels = ic.labels.clone().unwrap_or_default();
    labels.extend(opts.labels.clone());
    let mut exposed_ports: BTreeSet<String> = ic
        .exposed_ports
        .clone()
        .unwrap_or_default()
        .into_keys()
        .collect();
    for p in &opts.expose {
        exposed_ports.insert(if p.contains('/') {
            p.clone()
        } else {
            format!("{p}/tcp")
        });
    }
    let healthcheck = match &opts.healthcheck {
        Some(h) => Some(h.clone()),
        None => ic.healthcheck.clone(),
    }
    .filter(|h| h.test.first().map(String::as_str) != Some("NONE"));
    Ok(ContainerSetup {
        spec,
        labels,
        exposed_ports,
        volumes: ic.volumes.clone().unwrap_or_default().into_keys().collect(),
        stop_signal: opts
            .stop_signal
            .clone()
            .or(ic.stop_signal.clone())
            .unwrap_or_else(|| "SIGTERM".into()),
        healthcheck,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::config::ContainerConfig;

    const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\n";
    const GROUP: &[u8] = b"root:x:0:\napp:x:1001:\nextra:x:2000:app,other\nwheel:x:10:\n";

    fn files(p: &str) -> Option<Vec<u8>> {
        match p {
            "etc/passwd" => Some(PASSWD.to_vec()),
            "etc/group" => Some(GROUP.to_vec()),
            _ => None,
        }
    }

    fn image(cc: ContainerConfig) -> ImageConfig {
        ImageConfig {
            config: Some(cc),
            ..Default::default()
        }
    }

    #[test]
    fn users_resolve_like_docker() {
        let r = |s: &str, add: &[&str]| {
            let add: Vec<String> = add.iter().map(|s| s.to_string()).collect();
            resolve_user(s, &add, Some(PASSWD), Some(GROUP))
        };
        let app = r("app", &[]).unwrap();
        assert_eq!(
            (app.uid, app.gid, app.additional_gids.clone()),
            (1000, 1001, vec![2000])
        );
        assert_eq!(app.home, "/home/app");
        let u = r("app:wheel", &[]).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 10));
        assert!(u.additional_gids.is_empty());
        let n = r("4242:4343", &["wheel", "77"]).unwrap();
        assert_eq!(
            (n.uid, n.gid, n.additional_gids),
            (4242, 4343, vec![10, 77])
        );
        assert_eq!(
            r("1000", &[]).unwrap().gid,
            1001,
            "numeric uid finds its entry"
        );
        assert_eq!(r("", &[]).unwrap().uid, 0);
        assert!(r("nobody-here", &[])
            .unwrap_err()
            .to_string()
            .contains("unable to find user"));
        assert!(r("app:nogroup", &[])
            .unwrap_err()
            .to_string()
            .contains("unable to find group"));
        assert_eq!(resolve_user("5", &[], None, None).unwrap().uid, 5);
    }

    #[test]
    fn entrypoint_cmd_env_and_workdir() {
        let img = image(ContainerConfig {
            entrypoint: Some(vec!["/entry".into()]),
            cmd: Some(vec!["default".into()]),
            env: Some(vec!["PATH=/bin".into(), "A=image".into()]),
            working_dir: "/srv".into(),
            user: "app".into(),
            labels: Some([("from".to_string(), "image".to_string())].into()),
            stop_signal: Some("SIGINT".into()),
            ..Default::default()
        });
        let opts = RunOptions {
            env: vec!["A=user".into(), "B=2".into()],
            hostname: "abc".into(),
            rootfs: "/r".into(),
            ..Default::default()
        };
        let s = build(&img, &opts, &files).unwrap();
        let p = s.spec.process().as_ref().unwrap();
        assert_eq!(p.args().as_ref().unwrap(), &["/entry", "default"]);
        assert_eq!(
            p.env().as_ref().unwrap(),
            &[
                "HOSTNAME=abc",
                "PATH=/bin",
                "A=user",
                "B=2",
                "HOME=/home/app"
            ]
        );
        assert_eq!(p.cwd(), &PathBuf::from("/srv"));
        assert_eq!((p.user().uid(), p.user().gid()), (1000, 1001));
        assert_eq!(s.stop_signal, "SIGINT");
        assert_eq!(s.labels["from"], "image");

        // User command replaces cmd; a new entrypoint drops the image's cmd.
        let o2 = RunOptions {
            cmd: vec!["x".into()],
            ..opts.clone()
        };
        let args = build(&img, &o2, &files)
            .unwrap()
            .spec
            .process()
            .clone()
            .unwrap()
            .args()
            .clone()
            .unwrap();
        assert_eq!(args, vec!["/entry", "x"]);
        let o3 = RunOptions {
            entrypoint: Some(vec!["/other".into()]),
            ..opts.clone()
        };
        let args = build(&img, &o3, &files)
            .unwrap()
            .spec
            .process()
            .clone()
            .unwrap()
            .args()
            .clone()
            .unwrap();
        assert_eq!(args, vec!["/other"]);
        let o4 = RunOptions {
            entrypoint: Some(vec![]),
            ..opts.clone()
        };
        assert!(build(&img, &o4, &files)
            .unwrap_err()
            .to_string()
            .contains("no command"));
        let o5 = RunOptions {
            workdir: Some("rel".into()),
            ..opts
        };
        assert!(build(&img, &o5, &files).is_err());
    }

    #[test]
    fn docker_defaults_are_applied() {
        let img = image(ContainerConfig {
            cmd: Some(vec!["sh".into()]),
            exposed_ports: Some([("80/tcp".to_string(), Default::default())].into()),
            volumes: Some([("/data".to_string(), Default::default())].into()),
            healthcheck: Some(HealthConfig {
                test: vec!["CMD-SHELL".into(), "true".into()],
                ..Default::default()
            }),
            ..Default::default()
        });
        let opts = RunOptions {
            cap_add: vec!["net_admin".into()],
            cap_drop: vec!["CAP_MKNOD".into()],
            expose: vec!["53/udp".into(), "8080".into()],
            rootfs: "/r".into(),
            ..Default::default()
        };
        let s = build(&img, &opts, &files).unwrap();
        let p = s.spec.process().as_ref().unwrap();
        let env = p.env().as_ref().unwrap();
        assert!(env.contains(&DEFAULT_PATH.to_string()));
        assert!(env.contains(&"HOME=/root".to_string()));
        let caps = p
            .capabilities()
            .as_ref()
            .unwrap()
            .bounding()
            .as_ref()
            .unwrap();
        assert!(caps.contains(&Capability::NetAdmin));
        assert!(!caps.contains(&Capability::Mknod));
        assert_eq!(caps.len(), 14);
        let linux = s.spec.linux().as_ref().unwrap();
        assert_eq!(linux.namespaces().as_ref().unwrap().len(), 5);
        assert!(linux.seccomp().is_some());
        assert!(linux
            .masked_paths()
            .as_ref()
            .unwrap()
            .contains(&"/proc/kcore".to_string()));
        assert_eq!(s.spec.mounts().as_ref().unwrap().len(), 7);
        assert_eq!(
            s.exposed_ports.iter().cloned().collect::<Vec<_>>(),
            vec!["53/udp", "80/tcp", "8080/tcp"]
        );
        assert!(s.volumes.contains("/data"));
        assert_eq!(s.healthcheck.unwrap().test[0], "CMD-SHELL");
        assert_eq!(s.stop_signal, "SIGTERM");
        let all = capabilities(&["ALL".into()], &[]).unwrap();
        assert!(all.len() >= 40);
        assert_eq!(
            capabilities(&["chown".into()], &["all".into()]).unwrap(),
            vec![Capability::Chown]
        );
        assert!(capabilities(&["NOPE".into()], &[]).is_err());
    }
}
