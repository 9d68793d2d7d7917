//! `run` and `create`: docker's container flags turned into a create
//! request, the pull-on-404 fallback, and the attach → wait → start →
//! resize sequence (engine-api.md 2.7) shared with `start -a`.

use super::stream::{self, Ended, RawMode, Session};
use crate::{App, CliError};
use berth_api_types::container::{ContainerConfig, Empty, HealthConfig};
use berth_api_types::container_cfg::{
    CreateRequest, CreateResponse, DeviceMapping, EndpointIpam, EndpointSettings, HostConfig,
    LogConfig, Mount, NetworkingConfig, PortBinding, RestartPolicy, Ulimit, WaitResponse,
};
use berth_base::reference::Reference;
use berth_base::time::parse_go_duration;
use berth_client::{read_all, Error as ClientError, ReqBody};
use clap::{ArgAction, Args};
use hyper::{Method, StatusCode};
use std::collections::BTreeMap;
use std::io::IsTerminal;

/// The flags `run` and `create` share (docker's `containerOptions`).
#[derive(Debug, Args, Default)]
pub struct ContainerOptions {
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short, long, value_parser = ["stdin", "stdout", "stderr"], ignore_case = true)]
    pub attach: Vec<String>,
    /// Write the container ID to the file
    #[arg(long)]
    pub cidfile: Option<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file")]
    pub label_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Container NIS domain name
    #[arg(long)]
    pub domainname: Option<String>,
    /// Set meta data on a container
    #[arg(short, long = "label")]
    pub label: Vec<String>,
    /// Restart policy to apply when a container exits
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout")]
    pub stop_timeout: Option<i64>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Mount a tmpfs directory
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Ulimit options
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Security Options
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Add a host device to the container
    #[arg(long)]
    pub device: Vec<String>,
    /// Memory limit
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap")]
    pub memory_swap: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", default_value_t = 0)]
    pub cpu_period: i64,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", default_value_t = 0, allow_hyphen_values = true)]
    pub cpu_quota: i64,
    /// PID namespace to use
    #[arg(long)]
    pub pid: Option<String>,
    /// IPC mode to use
    #[arg(long)]
    pub ipc: Option<String>,
    /// UTS namespace to use
    #[arg(long)]
    pub uts: Option<String>,
    /// Sysctl options
    #[arg(long)]
    pub sysctl: Vec<String>,
    /// Add additional groups to join
    #[arg(long = "group-add")]
    pub group_add: Vec<String>,
    /// Command to run to check health
    #[arg(long = "health-cmd")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h)
    #[arg(long = "health-interval")]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h)
    #[arg(long = "health-timeout")]
    pub health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries")]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h)
    #[arg(long = "health-start-period")]
    pub health_start_period: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Logging driver for the container
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Bind mount a volume
    #[arg(short, long)]
    pub volume: Vec<String>,
    /// Attach a filesystem mount to the container
    #[arg(long)]
    pub mount: Vec<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from")]
    pub volumes_from: Vec<String>,
    /// Connect a container to a network
    #[arg(long, visible_alias = "net")]
    pub network: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", visible_alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    pub ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long)]
    pub ip6: Option<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", visible_alias = "dns-opt")]
    pub dns_option: Vec<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// Publish a container's port(s) to the host
    #[arg(short, long)]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long)]
    pub expose: Vec<String>,
    /// Runtime to use for this container
    #[arg(long)]
    pub runtime: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Pull image before creating ("always", "missing", "never")
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// Suppress the pull output
    #[arg(short, long)]
    pub quiet: bool,
    /// Print usage
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(
        required = true,
        trailing_var_arg = true,
        value_name = "IMAGE [COMMAND] [ARG...]"
    )]
    pub args: Vec<String>,
}

/// `run`'s own flags.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", default_value = "")]
    pub detach_keys: String,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub sig_proxy: bool,
    #[command(flatten)]
    pub opts: ContainerOptions,
}

/// `create`'s flags.
#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub opts: ContainerOptions,
}

fn usage(msg: impl Into<String>) -> CliError {
    CliError::usage(msg)
}

/// docker's `RAMInBytes`: `512`, `64k`, `1.5g`, `100MB` (binary units).
pub fn ram_in_bytes(s: &str) -> Result<i64, CliError> {
    let bad = || usage(format!("invalid size: '{s}'"));
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(bad()),
    };
    Ok((n * mult) as i64)
}

fn duration_nanos(flag: &str, v: &Option<String>) -> Result<i64, CliError> {
    match v {
        None => Ok(0),
        Some(s) => parse_go_duration(s)
            .filter(|n| *n >= 0)
            .ok_or_else(|| usage(format!("invalid argument {s:?} for \"--{flag}\" flag"))),
    }
}

/// `KEY=VALUE`, or `KEY` with its value here (kept bare when unset here,
/// as docker's `ValidateEnv`).
fn env_entry(e: &str) -> String {
    if e.contains('=') {
        return e.to_owned();
    }
    match std::env::var(e) {
        Ok(v) => format!("{e}={v}"),
        Err(_) => e.to_owned(),
    }
}

/// `-e` and `--env-file` entries, files first (docker's order).
pub fn env_list(env: &[String], files: &[String]) -> Result<Vec<String>, CliError> {
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| usage(format!("open {f}: {e}")))?;
        for line in text.lines() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            out.push(env_entry(line));
        }
    }
    out.extend(env.iter().map(|e| env_entry(e)));
    Ok(out)
}

/// `KEY=VALUE` pairs (a bare key has an empty value).
pub fn key_values(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (l.clone(), String::new()),
        })
        .collect()
}

/// `80`, `80/udp`, `8000-8002` → the container ports.
fn port_range(spec: &str) -> Result<Vec<u16>, CliError> {
    let bad = || usage(format!("invalid containerPort: {spec}"));
    let (a, b) = spec.split_once('-').unwrap_or((spec, spec));
    let a: u16 = a.parse().map_err(|_| bad())?;
    let b: u16 = b.parse().map_err(|_| bad())?;
    if b < a {
        return Err(bad());
    }
    Ok((a..=b).collect())
}

type Published = (BTreeMap<String, Empty>, BTreeMap<String, Vec<PortBinding>>);

/// `-p [ip:][hostPort:]containerPort[/proto]` and `--expose`.
fn ports(publish: &[String], expose: &[String]) -> Result<Published, CliError> {
    let mut exposed = BTreeMap::new();
    let mut bindings: BTreeMap<String, Vec<PortBinding>> = BTreeMap::new();
    for e in expose {
        let (p, proto) = e.split_once('/').unwrap_or((e, "tcp"));
        for port in port_range(p)? {
            exposed.insert(format!("{port}/{proto}"), Empty {});
        }
    }
    for p in publish {
        let (rest, proto) = p.rsplit_once('/').unwrap_or((p, "tcp"));
        // An IPv6 host address is bracketed: [::1]:8080:80.
        let (ip, rest) = match rest.strip_prefix('[') {
            Some(r) => {
                let (ip, r) = r
                    .split_once("]:")
                    .ok_or_else(|| usage(format!("invalid publish spec: {p}")))?;
                (ip.to_owned(), r.to_owned())
            }
            None => {
                let parts: Vec<&str> = rest.split(':').collect();
                match parts.len() {
                    1 | 2 => (String::new(), rest.to_owned()),
                    3 => (parts[0].to_owned(), format!("{}:{}", parts[1], parts[2])),
                    _ => return Err(usage(format!("invalid publish spec: {p}"))),
                }
            }
        };
        let (host, container) = rest.rsplit_once(':').unwrap_or(("", &rest));
        let cports = port_range(container)?;
        let hports: Vec<String> = if host.is_empty() {
            vec![String::new(); cports.len()]
        } else {
            let h = port_range(host)?;
            if h.len() == 1 && cports.len() > 1 {
                vec![host.to_owned(); cports.len()]
            } else if h.len() != cports.len() {
                return Err(usage(format!(
                    "invalid ranges specified for container and host Ports: {container} and {host}"
                )));
            } else {
                h.iter().map(u16::to_string).collect()
            }
        };
        for (c, h) in cports.iter().zip(hports) {
            let key = format!("{c}/{proto}");
            exposed.insert(key.clone(), Empty {});
            bindings.entry(key).or_default().push(PortBinding {
                host_ip: ip.clone(),
                host_port: h,
            });
        }
    }
    Ok((exposed, bindings))
}

/// `--mount type=bind,source=/a,target=/b,readonly`.
fn parse_mount(spec: &str) -> Result<Mount, CliError> {
    let mut m = Mount {
        r#type: "volume".into(),
        ..Default::default()
    };
    for field in spec.split(',') {
        let (k, v) = field.split_once('=').unwrap_or((field, "true"));
        match k.to_ascii_lowercase().as_str() {
            "type" => m.r#type = v.to_owned(),
            "source" | "src" => m.source = v.to_owned(),
            "target" | "destination" | "dst" => m.target = v.to_owned(),
            "readonly" | "ro" => m.read_only = berth_api_types::query::parse_bool(v),
            "bind-propagation" => {
                m.bind_options
                    .get_or_insert_with(BTreeMap::new)
                    .insert("Propagation".into(), v.into());
            }
            "volume-nocopy" => {
                m.volume_options.get_or_insert_with(BTreeMap::new).insert(
                    "NoCopy".into(),
                    berth_api_types::query::parse_bool(v).into(),
                );
            }
            "tmpfs-size" => {
                m.tmpfs_options
                    .get_or_insert_with(BTreeMap::new)
                    .insert("SizeBytes".into(), ram_in_bytes(v)?.into());
            }
            "tmpfs-mode" => {
                let mode = u32::from_str_radix(v, 8)
                    .map_err(|_| usage(format!("invalid value for tmpfs-mode: {v}")))?;
                m.tmpfs_options
                    .get_or_insert_with(BTreeMap::new)
                    .insert("Mode".into(), mode.into());
            }
            _ => return Err(usage(format!("unexpected key '{k}' in '{field}'"))),
        }
    }
    if m.target.is_empty() {
        return Err(usage("target is required"));
    }
    Ok(m)
}

/// `--restart no|always|unless-stopped|on-failure[:N]`.
pub fn restart_policy(s: &str) -> Result<RestartPolicy, CliError> {
    let (name, count) = s.split_once(':').unwrap_or((s, ""));
    let max = if count.is_empty() {
        0
    } else {
        count
            .parse()
            .map_err(|_| usage(format!("invalid restart policy format: {s}")))?
    };
    match name {
        "no" | "always" | "unless-stopped" if count.is_empty() => {}
        "on-failure" => {}
        "" => return Ok(RestartPolicy::default()),
        _ => return Err(usage(format!("invalid restart policy format: {s}"))),
    }
    Ok(RestartPolicy {
        name: name.to_owned(),
        maximum_retry_count: max,
    })
}

/// Query parameters of a request.
pub type Query = Vec<(&'static str, String)>;

/// The create request and the query of `POST /containers/create`.
pub fn create_request(
    o: &ContainerOptions,
    detached: bool,
) -> Result<(CreateRequest, Query), CliError> {
    let (image, cmd) = o
        .args
        .split_first()
        .ok_or_else(|| usage("\"run\" requires at least 1 argument."))?;
    let (exposed, bindings) = ports(&o.publish, &o.expose)?;
    let mut binds = Vec::new();
    let mut volumes = BTreeMap::new();
    for v in &o.volume {
        if v.contains(':') {
            binds.push(v.clone());
        } else {
            volumes.insert(v.clone(), Empty {});
        }
    }
    let healthcheck = if o.no_healthcheck {
        Some(HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        })
    } else if o.health_cmd.is_some()
        || o.health_interval.is_some()
        || o.health_timeout.is_some()
        || o.health_retries.is_some()
        || o.health_start_period.is_some()
    {
        Some(HealthConfig {
            test: o
                .health_cmd
                .as_ref()
                .map(|c| vec!["CMD-SHELL".to_owned(), c.clone()]),
            interval: duration_nanos("health-interval", &o.health_interval)?,
            timeout: duration_nanos("health-timeout", &o.health_timeout)?,
            start_period: duration_nanos("health-start-period", &o.health_start_period)?,
            retries: o.health_retries.unwrap_or(0),
            ..Default::default()
        })
    } else {
        None
    };
    let wants = |s: &str| o.attach.iter().any(|a| a.eq_ignore_ascii_case(s));
    let attach_stdin = (o.interactive || wants("stdin")) && !detached;
    let attach_out = !detached && (o.attach.is_empty() || wants("stdout"));
    let attach_err = !detached && (o.attach.is_empty() || wants("stderr"));
    let mut labels = Vec::new();
    for f in &o.label_file {
        let text = std::fs::read_to_string(f).map_err(|e| usage(format!("open {f}: {e}")))?;
        labels.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned),
        );
    }
    labels.extend(o.label.iter().cloned());
    let config = ContainerConfig {
        hostname: o.hostname.clone().unwrap_or_default(),
        domainname: o.domainname.clone().unwrap_or_default(),
        user: o.user.clone().unwrap_or_default(),
        attach_stdin,
        attach_stdout: attach_out,
        attach_stderr: attach_err,
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        tty: o.tty,
        open_stdin: o.interactive,
        stdin_once: attach_stdin,
        env: Some(env_list(&o.env, &o.env_file)?),
        cmd: (!cmd.is_empty()).then(|| cmd.to_vec()),
        healthcheck,
        image: image.clone(),
        volumes: Some(volumes),
        working_dir: o.workdir.clone().unwrap_or_default(),
        // `--entrypoint ""` resets the image's entrypoint.
        entrypoint: o.entrypoint.as_ref().map(|e| vec![e.clone()]),
        mac_address: String::new(),
        labels: Some(key_values(&labels)),
        stop_signal: o.stop_signal.clone().unwrap_or_default(),
        stop_timeout: o.stop_timeout,
        ..Default::default()
    };
    let mut tmpfs = BTreeMap::new();
    for t in &o.tmpfs {
        let (dst, opts) = t.split_once(':').unwrap_or((t, ""));
        tmpfs.insert(dst.to_owned(), opts.to_owned());
    }
    let mut ulimits = Vec::new();
    for u in &o.ulimit {
        let bad = || usage(format!("invalid ulimit argument: {u}"));
        let (name, vals) = u.split_once('=').ok_or_else(bad)?;
        let (soft, hard) = vals.split_once(':').unwrap_or((vals, vals));
        ulimits.push(Ulimit {
            name: name.to_owned(),
            soft: soft.parse().map_err(|_| bad())?,
            hard: hard.parse().map_err(|_| bad())?,
        });
    }
    let devices = o
        .device
        .iter()
        .map(|d| {
            let parts: Vec<&str> = d.split(':').collect();
            let host = parts[0].to_owned();
            let (inside, perms) = match parts.as_slice() {
                [_] => (host.clone(), "rwm".to_owned()),
                [_, p] if !p.starts_with('/') => (host.clone(), (*p).to_owned()),
                [_, c] => ((*c).to_owned(), "rwm".to_owned()),
                [_, c, p] => ((*c).to_owned(), (*p).to_owned()),
                _ => return Err(usage(format!("invalid device specification: {d}"))),
            };
            Ok(DeviceMapping {
                path_on_host: host,
                path_in_container: inside,
                cgroup_permissions: perms,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let memory = o
        .memory
        .as_deref()
        .map(ram_in_bytes)
        .transpose()?
        .unwrap_or(0);
    let memory_swap = match o.memory_swap.as_deref() {
        None => 0,
        Some("-1") => -1,
        Some(s) => ram_in_bytes(s)?,
    };
    let mounts = o
        .mount
        .iter()
        .map(|m| parse_mount(m))
        .collect::<Result<Vec<_>, _>>()?;
    let console_size = if o.tty {
        stream::term_size().map_or([0, 0], |(h, w)| [h, w])
    } else {
        [0, 0]
    };
    let host_config = HostConfig {
        binds: (!binds.is_empty()).then_some(binds),
        network_mode: o.network.clone().unwrap_or_default(),
        port_bindings: bindings,
        restart_policy: restart_policy(&o.restart)?,
        auto_remove: o.rm,
        volumes_from: (!o.volumes_from.is_empty()).then(|| o.volumes_from.clone()),
        cap_add: (!o.cap_add.is_empty()).then(|| o.cap_add.clone()),
        cap_drop: (!o.cap_drop.is_empty()).then(|| o.cap_drop.clone()),
        dns: o.dns.clone(),
        dns_options: o.dns_option.clone(),
        dns_search: o.dns_search.clone(),
        extra_hosts: (!o.add_host.is_empty()).then(|| o.add_host.clone()),
        privileged: o.privileged,
        publish_all_ports: o.publish_all,
        readonly_rootfs: o.read_only,
        security_opt: (!o.security_opt.is_empty()).then(|| o.security_opt.clone()),
        tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
        shm_size: o
            .shm_size
            .as_deref()
            .map(ram_in_bytes)
            .transpose()?
            .unwrap_or(0),
        init: o.init.then_some(true),
        runtime: o.runtime.clone().unwrap_or_default(),
        console_size,
        memory,
        memory_swap,
        nano_cpus: o.cpus.map_or(0, |c| (c * 1e9) as i64),
        cpu_shares: o.cpu_shares.unwrap_or(0),
        cpuset_cpus: o.cpuset_cpus.clone().unwrap_or_default(),
        pids_limit: o.pids_limit,
        oom_kill_disable: o.oom_kill_disable.then_some(true),
        ulimits: (!ulimits.is_empty()).then_some(ulimits),
        devices,
        log_config: LogConfig {
            r#type: o.log_driver.clone().unwrap_or_default(),
            config: key_values(&o.log_opt),
        },
        mounts,
        pid_mode: o.pid.clone().unwrap_or_default(),
        ipc_mode: o.ipc.clone().unwrap_or_default(),
        uts_mode: o.uts.clone().unwrap_or_default(),
        sysctls: (!o.sysctl.is_empty()).then(|| key_values(&o.sysctl)),
        group_add: (!o.group_add.is_empty()).then(|| o.group_add.clone()),
        cpu_period: o.cpu_period,
        cpu_quota: o.cpu_quota,
        memory_reservation: o
            .memory_reservation
            .as_deref()
            .map(ram_in_bytes)
            .transpose()?
            .unwrap_or(0),
    };
    let mut endpoints = BTreeMap::new();
    let has_endpoint_opts =
        !o.network_alias.is_empty() || o.ip.is_some() || o.ip6.is_some() || o.mac_address.is_some();
    if has_endpoint_opts {
        let net = o.network.clone().unwrap_or_else(|| "default".into());
        let ipam = (o.ip.is_some() || o.ip6.is_some()).then(|| EndpointIpam {
            ipv4_address: o.ip.clone().unwrap_or_default(),
            ipv6_address: o.ip6.clone().unwrap_or_default(),
        });
        endpoints.insert(
            net,
            EndpointSettings {
                ipam_config: ipam,
                aliases: (!o.network_alias.is_empty()).then(|| o.network_alias.clone()),
                mac_address: o.mac_address.clone().unwrap_or_default(),
            },
        );
    }
    let mut query = Vec::new();
    if let Some(n) = &o.name {
        query.push(("name", n.clone()));
    }
    if let Some(p) = &o.platform {
        query.push(("platform", p.clone()));
    }
    Ok((
        CreateRequest {
            config,
            host_config,
            networking_config: NetworkingConfig {
                endpoints_config: endpoints,
            },
        },
        query,
    ))
}

/// A daemon refusal before the container runs: exit 125, as docker's.
fn refused(e: ClientError) -> CliError {
    CliError {
        code: 125,
        message: e.to_string(),
    }
}

async fn post_create(
    app: &App,
    req: &CreateRequest,
    query: &[(&str, String)],
) -> Result<CreateResponse, ClientError> {
    app.client
        .send_json(Method::POST, "/containers/create", query, Some(req))
        .await
}

/// Pulls `image` as `docker run` does when it is missing, showing the
/// progress on stderr.
async fn pull(app: &App, image: &str, platform: Option<&str>, quiet: bool) -> Result<(), CliError> {
    let r = Reference::parse(image).map_err(|e| usage(e.to_string()))?;
    let mut q = vec![
        ("fromImage", r.name()),
        ("tag", r.tag_or_latest().to_owned()),
    ];
    if let Some(p) = platform {
        q.push(("platform", p.to_owned()));
    }
    let resp = app
        .client
        .request(
            Method::POST,
            "/images/create",
            &q,
            ReqBody::Empty,
            &[("x-registry-auth", "e30=")],
        )
        .await
        .map_err(refused)?;
    let mut printer = crate::progress::ProgressPrinter::new(std::io::stderr().is_terminal());
    let mut failed = None;
    berth_client::for_each_json_line(resp, |m: berth_api_types::progress::JsonMessage| {
        if !quiet {
            if let Err(e) = printer.show(&m, &mut std::io::stderr().lock()) {
                failed = Some(e);
            }
        } else if let Some(e) = m.error.clone() {
            failed = Some(e);
        }
        Ok(())
    })
    .await
    .map_err(refused)?;
    match failed {
        Some(e) => Err(CliError {
            code: 125,
            message: e,
        }),
        None => Ok(()),
    }
}

/// Creates the container (pulling its image on a 404 "No such image"),
/// prints the warnings, and returns its id.
pub async fn create(app: &App, o: &ContainerOptions, detached: bool) -> Result<String, CliError> {
    let (req, query) = create_request(o, detached)?;
    // As docker's: an existing file is an error, before anything is made.
    if let Some(f) = o
        .cidfile
        .as_deref()
        .filter(|f| std::path::Path::new(f).exists())
    {
        return Err(usage(format!(
            "container ID file found, make sure the other container isn't running or delete {f}"
        )));
    }
    let image = req.config.image.clone();
    if o.pull == "always" {
        pull(app, &image, o.platform.as_deref(), o.quiet).await?;
    }
    let r = match post_create(app, &req, &query).await {
        Err(ClientError::Daemon { status, message })
            if status == StatusCode::NOT_FOUND
                && message.contains("No such image")
                && o.pull != "never" =>
        {
            let shown = Reference::parse(&image)
                .map(|r| format!("{}:{}", r.familiar_name(), r.tag_or_latest()))
                .unwrap_or_else(|_| image.clone());
            eprintln!("Unable to find image '{shown}' locally");
            pull(app, &image, o.platform.as_deref(), o.quiet).await?;
            post_create(app, &req, &query).await
        }
        r => r,
    }
    .map_err(refused)?;
    for w in r.warnings.iter().flatten() {
        eprintln!("WARNING: {w}");
    }
    if let Some(f) = &o.cidfile {
        std::fs::write(f, &r.id)
            .map_err(|e| usage(format!("write the container ID file {f}: {e}")))?;
    }
    Ok(r.id)
}

pub async fn run_create(app: &App, a: CreateArgs) -> Result<(), CliError> {
    let id = create(app, &a.opts, false).await?;
    app.print(&format!("{id}\n"))
}

/// The exit code of a start failure, as docker maps runtime errors.
fn start_failure(e: ClientError) -> CliError {
    let msg = e.to_string();
    let lower = msg.to_lowercase();
    let code = if lower.contains("executable file not found")
        || lower.contains("no such executable")
        || lower.contains("no such file or directory")
    {
        127
    } else if lower.contains("permission denied") || lower.contains("cannot execute") {
        126
    } else {
        125
    };
    CliError { code, message: msg }
}

/// Starts a wait on `id` before it starts (so a fast exit is not missed);
/// the answer comes from the returned task.
async fn wait_before_start(
    app: &App,
    id: &str,
    condition: &str,
) -> Result<tokio::task::JoinHandle<Result<i64, CliError>>, CliError> {
    let resp = app
        .client
        .request(
            Method::POST,
            &format!("/containers/{id}/wait"),
            &[("condition", condition.to_owned())],
            ReqBody::Empty,
            &[],
        )
        .await
        .map_err(refused)?;
    Ok(tokio::spawn(async move {
        let body = read_all(resp).await?;
        let w: WaitResponse = serde_json::from_slice(&body)
            .map_err(|e| CliError::new(format!("decode wait answer: {e}")))?;
        if let Some(e) = w.error.filter(|e| !e.message.is_empty()) {
            return Err(CliError::new(e.message));
        }
        Ok(w.status_code)
    }))
}

/// How `attach_and_start` talks to the container.
pub struct Attach {
    pub tty: bool,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub detach_keys: String,
    pub sig_proxy: bool,
    /// Wait for removal (`--rm`) rather than the next exit.
    pub auto_remove: bool,
    /// Start the container (false for `attach`).
    pub start: bool,
}

/// docker's attach → wait → start → resize → stream → exit code, used by
/// `run`, `start -a` and `attach`. Returns the container's exit code (0
/// after a detach).
pub async fn attach_and_start(app: &App, id: &str, a: Attach) -> Result<i64, CliError> {
    let keys = stream::detach_keys(&a.detach_keys)?;
    if a.tty && a.stdin && !std::io::stdin().is_terminal() {
        return Err(CliError::new("the input device is not a TTY"));
    }
    let mut q = vec![("stream", "1".to_owned())];
    if a.stdout {
        q.push(("stdout", "1".to_owned()));
    }
    if a.stderr {
        q.push(("stderr", "1".to_owned()));
    }
    if a.stdin {
        q.push(("stdin", "1".to_owned()));
    }
    if !a.detach_keys.is_empty() {
        q.push(("detachKeys", a.detach_keys.clone()));
    }
    let condition = if a.auto_remove {
        "removed"
    } else if a.start {
        "next-exit"
    } else {
        "not-running"
    };
    let attach_path = format!("/containers/{id}/attach");
    // Both before the start, in parallel: neither needs the other.
    let (attached, waiter) = tokio::join!(
        app.client
            .upgrade(Method::POST, &attach_path, &q, ReqBody::Empty, &[]),
        wait_before_start(app, id, condition)
    );
    let (_, io) = attached.map_err(|e| {
        if a.start {
            refused(e)
        } else {
            CliError::from(e)
        }
    })?;
    let waiter = waiter?;
    let _proxy =
        (a.sig_proxy && !a.tty).then(|| AbortOnDrop(stream::proxy_signals(app, id.to_owned())));
    // Raw mode before start so that the first keys typed are not echoed.
    let raw = if a.tty && a.stdin {
        RawMode::enable()?
    } else {
        None
    };
    if a.start {
        let r: Result<serde_json::Value, _> = app
            .client
            .send_json(
                Method::POST,
                &format!("/containers/{id}/start"),
                &[],
                None::<&()>,
            )
            .await;
        if let Err(e) = r {
            drop(raw);
            return Err(start_failure(e));
        }
    }
    let _resize = a.tty.then(|| {
        AbortOnDrop(stream::monitor_size(
            app,
            format!("/containers/{id}/resize"),
        ))
    });
    let ended = stream::pump(
        io,
        Session {
            tty: a.tty,
            stdin: a.stdin,
            detach_keys: keys,
        },
    )
    .await;
    drop(raw);
    if ended? == Ended::Detached {
        return Ok(0);
    }
    waiter
        .await
        .map_err(|e| CliError::new(format!("wait: {e}")))?
}

/// Aborts a background task when the command is done with it.
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The exit code of a container as this process's (docker keeps the low
/// byte).
pub fn exit_code(code: i64) -> Result<(), CliError> {
    if code == 0 {
        Ok(())
    } else {
        Err(CliError {
            code: (code & 0xff) as u8,
            message: String::new(),
        })
    }
}

pub async fn run_run(app: &App, a: RunArgs) -> Result<(), CliError> {
    let o = &a.opts;
    if a.detach && o.rm && o.restart != "no" && !o.restart.is_empty() {
        return Err(usage("Conflicting options: --restart and --rm"));
    }
    if a.detach && !o.attach.is_empty() {
        return Err(usage("Conflicting options: -a and -d"));
    }
    let id = create(app, o, a.detach).await?;
    if a.detach {
        let r: Result<serde_json::Value, _> = app
            .client
            .send_json(
                Method::POST,
                &format!("/containers/{id}/start"),
                &[],
                None::<&()>,
            )
            .await;
        r.map_err(start_failure)?;
        return app.print(&format!("{id}\n"));
    }
    let code = attach_and_start(
        app,
        &id,
        Attach {
            tty: o.tty,
            stdin: o.interactive || o.attach.iter().any(|x| x.eq_ignore_ascii_case("stdin")),
            stdout: o.attach.is_empty()
                || o.attach.iter().any(|x| x.eq_ignore_ascii_case("stdout")),
            stderr: o.attach.is_empty()
                || o.attach.iter().any(|x| x.eq_ignore_ascii_case("stderr")),
            detach_keys: a.detach_keys.clone(),
            // docker turns the proxy off with a tty (the tty sends ^C).
            sig_proxy: a.sig_proxy,
            auto_remove: o.rm,
            start: true,
        },
    )
    .await?;
    exit_code(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    #[command(disable_help_flag = true)]
    struct T {
        #[command(flatten)]
        r: RunArgs,
    }

    fn parse(args: &[&str]) -> RunArgs {
        let mut v = vec!["run"];
        v.extend_from_slice(args);
        T::try_parse_from(v).unwrap().r
    }

    #[test]
    fn flags_after_the_image_belong_to_the_command() {
        let a = parse(&["-d", "--name", "x", "busybox", "ls", "-l", "-d"]);
        assert!(a.detach);
        assert_eq!(a.opts.args, ["busybox", "ls", "-l", "-d"]);
        let a = parse(&["-it", "-h", "host", "busybox"]);
        assert!(a.opts.interactive && a.opts.tty);
        assert_eq!(a.opts.hostname.as_deref(), Some("host"));
        let a = parse(&["--sig-proxy=false", "busybox"]);
        assert!(!a.sig_proxy);
        // An unknown flag before the image is a usage error, not an image.
        assert!(T::try_parse_from(["run", "--bogus", "busybox"]).is_err());
    }

    #[test]
    fn create_request_from_flags() {
        let a = parse(&[
            "--rm",
            "-e",
            "A=1",
            "-p",
            "127.0.0.1:8080:80",
            "-p",
            "53/udp",
            "-v",
            "/a:/b:ro",
            "-v",
            "/anon",
            "-m",
            "64m",
            "--cpus",
            "1.5",
            "--restart",
            "on-failure:3",
            "--ulimit",
            "nofile=10:20",
            "--entrypoint",
            "",
            "--tmpfs",
            "/run:size=1m",
            "busybox",
            "echo",
            "hi",
        ]);
        let (r, q) = create_request(&a.opts, false).unwrap();
        assert!(q.is_empty());
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["Image"], "busybox");
        assert_eq!(v["Cmd"], serde_json::json!(["echo", "hi"]));
        assert_eq!(v["Entrypoint"], serde_json::json!([""]));
        assert_eq!(v["Env"], serde_json::json!(["A=1"]));
        assert!(v["ExposedPorts"]["80/tcp"].is_object());
        assert!(v["ExposedPorts"]["53/udp"].is_object());
        let hc = &v["HostConfig"];
        assert_eq!(hc["AutoRemove"], true);
        assert_eq!(hc["PortBindings"]["80/tcp"][0]["HostIp"], "127.0.0.1");
        assert_eq!(hc["PortBindings"]["80/tcp"][0]["HostPort"], "8080");
        assert_eq!(hc["Binds"], serde_json::json!(["/a:/b:ro"]));
        assert!(v["Volumes"]["/anon"].is_object());
        assert_eq!(hc["Memory"], 64 * 1024 * 1024);
        assert_eq!(hc["NanoCpus"], 1_500_000_000i64);
        assert_eq!(hc["RestartPolicy"]["Name"], "on-failure");
        assert_eq!(hc["RestartPolicy"]["MaximumRetryCount"], 3);
        assert_eq!(hc["Ulimits"][0]["Soft"], 10);
        assert_eq!(hc["Tmpfs"]["/run"], "size=1m");
        assert_eq!(v["AttachStdout"], true);
    }

    #[test]
    fn sizes_and_policies() {
        assert_eq!(ram_in_bytes("512").unwrap(), 512);
        assert_eq!(ram_in_bytes("1k").unwrap(), 1024);
        assert_eq!(ram_in_bytes("1.5g").unwrap(), 1_610_612_736);
        assert_eq!(ram_in_bytes("100MB").unwrap(), 104_857_600);
        assert!(ram_in_bytes("x").is_err());
        assert!(restart_policy("sometimes").is_err());
        assert!(restart_policy("always:3").is_err());
        assert_eq!(restart_policy("no").unwrap().name, "no");
    }
}
