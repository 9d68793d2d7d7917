//! Reading config.json and turning it into a [`Plan`]: everything the
//! container's init needs, checked and resolved in the runtime before the
//! clone, so that the child mostly makes system calls and bad input is
//! reported before anything is created.

use std::ffi::CString;
use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use nix::sys::resource::Resource;
use oci_spec::runtime::{
    Capability, Hook, LinuxCapabilities, LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType,
    LinuxIdMapping, LinuxNamespaceType, LinuxResources, LinuxSeccomp, Mount, PosixRlimitType,
    Process, Spec,
};

use crate::error::{Error, Result};

/// Parses config.json at `path`.
pub fn load_spec(path: &Path) -> Result<Spec> {
    let data = fs::read(path).map_err(|e| Error::Config {
        path: path.to_path_buf(),
        msg: format!("cannot read: {e}"),
    })?;
    serde_json::from_slice(&data).map_err(|e| Error::Config {
        path: path.to_path_buf(),
        msg: e.to_string(),
    })
}

/// Capability sets as bit masks.
#[derive(Debug, Clone, Copy, Default)]
pub struct CapSets {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

/// The resolved process of a container or an exec.
#[derive(Debug)]
pub struct ProcPlan {
    pub args: Vec<CString>,
    pub env: Vec<CString>,
    /// The PATH from `env`, for finding `args[0]`.
    pub path_env: Option<String>,
    pub cwd: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub umask: Option<u32>,
    pub caps: Option<CapSets>,
    pub rlimits: Vec<(Resource, u64, u64)>,
    pub no_new_privs: bool,
    pub oom_score_adj: Option<i32>,
    pub terminal: bool,
    pub console_size: Option<(u16, u16)>,
    pub apparmor_profile: Option<String>,
}

/// A namespace to join by path.
#[derive(Debug)]
pub struct Join {
    pub flag: CloneFlags,
    pub fd: OwnedFd,
    pub path: PathBuf,
}

/// The container's time namespace.
#[derive(Debug)]
pub enum TimeNs {
    /// A new one, with these /proc/self/timens_offsets lines.
    New(String),
    /// An existing one.
    Join(Join),
}

/// The `timens_offsets` lines for `linux.timeOffsets` (monotonic, boottime).
fn time_offsets(linux: &oci_spec::runtime::Linux, cfg: &Path) -> Result<String> {
    let mut out = String::new();
    let mut offsets: Vec<_> = linux
        .time_offsets()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    offsets.sort_by(|a, b| a.0.cmp(&b.0));
    for (clock, o) in offsets {
        if clock != "monotonic" && clock != "boottime" {
            return Err(invalid(
                cfg,
                format!("timeOffsets clock {clock:?} is not monotonic or boottime"),
            ));
        }
        out.push_str(&format!(
            "{clock} {} {}\n",
            o.secs().unwrap_or(0),
            o.nanosecs().unwrap_or(0)
        ));
    }
    Ok(out)
}

/// Everything the container's init does, resolved.
#[derive(Debug)]
pub struct Plan {
    /// `CLONE_NEW*` flags for namespaces created at clone time.
    pub clone_flags: CloneFlags,
    /// Namespaces joined by path, the user namespace first; never pid.
    pub join: Vec<Join>,
    /// A pid namespace to join (done by the runtime around the clone).
    pub join_pid: Option<Join>,
    /// A time namespace (also entered by the runtime around the clone).
    pub time_ns: Option<TimeNs>,
    /// A new cgroup namespace, unshared once the init is in its cgroup.
    pub new_cgroup_ns: bool,
    pub new_user_ns: bool,
    /// The container has a mount namespace of its own (new or joined).
    pub own_mount_ns: bool,
    pub uid_map: Option<String>,
    pub gid_map: Option<String>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub readonly_root: bool,
    pub root_propagation: Option<MsFlags>,
    pub mounts: Vec<Mount>,
    pub devices: Vec<LinuxDevice>,
    pub masked: Vec<String>,
    pub readonly: Vec<String>,
    pub sysctl: Vec<(String, String)>,
    pub no_pivot: bool,
    pub process: ProcPlan,
    pub runtime_hooks: bool,
    pub create_container_hooks: Vec<Hook>,
    pub start_container_hooks: Vec<Hook>,
    pub seccomp: Option<SeccompPlan>,
    /// The execution domain (linux.personality).
    pub personality: Option<nix::sys::personality::Persona>,
}

/// A compiled seccomp filter.
#[derive(Debug)]
pub struct SeccompPlan {
    pub filter: Vec<berth_sys::seccomp::SockFilter>,
    pub flags: u32,
    /// The profile, when it has SCMP_ACT_NOTIFY rules: the filter is then
    /// loaded with a listener that goes to `listenerPath`.
    pub notify: Option<LinuxSeccomp>,
}

/// Compiles the seccomp section of a config.
pub fn seccomp_plan(s: &LinuxSeccomp) -> Result<SeccompPlan> {
    Ok(SeccompPlan {
        filter: crate::seccomp::compile(s).map_err(Error::Seccomp)?,
        flags: crate::seccomp::filter_flags(s),
        notify: crate::seccomp::uses_notify(s).then(|| s.clone()),
    })
}

fn invalid(path: &Path, msg: impl Into<String>) -> Error {
    Error::Config {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

/// Builds the plan of a new container from its bundle's config.
pub fn plan(spec: &Spec, bundle: &Path, cfg_path: &Path, no_pivot: bool) -> Result<Plan> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| invalid(cfg_path, "root is missing"))?;
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    let rootfs = fs::canonicalize(&rootfs)
        .map_err(|e| invalid(cfg_path, format!("root.path {}: {e}", rootfs.display())))?;
    if !rootfs.is_dir() {
        return Err(invalid(
            cfg_path,
            format!("root.path {} is not a directory", rootfs.display()),
        ));
    }
    let linux = spec.linux().clone().unwrap_or_default();

    // Namespaces.
    let mut clone_flags = CloneFlags::empty();
    let mut join = Vec::new();
    let mut join_pid = None;
    let mut time_ns = None;
    let mut seen = CloneFlags::empty();
    let mut new_cgroup_ns = false;
    for ns in linux.namespaces().as_deref().unwrap_or_default() {
        let flag = CloneFlags::from_bits_retain(ns.typ() as libc::c_int);
        if seen.contains(flag) {
            return Err(invalid(
                cfg_path,
                format!("namespace {} is listed twice", ns.typ()),
            ));
        }
        seen |= flag;
        match ns.path() {
            Some(p) if !p.as_os_str().is_empty() => {
                let fd = fs::File::open(p)
                    .map_err(|e| {
                        invalid(
                            cfg_path,
                            format!("{} namespace path {}: {e}", ns.typ(), p.display()),
                        )
                    })?
                    .into();
                let j = Join {
                    flag,
                    fd,
                    path: p.clone(),
                };
                if ns.typ() == LinuxNamespaceType::Pid {
                    join_pid = Some(j);
                } else if ns.typ() == LinuxNamespaceType::Time {
                    time_ns = Some(TimeNs::Join(j));
                } else if ns.typ() == LinuxNamespaceType::User {
                    join.insert(0, j);
                } else {
                    join.push(j);
                }
            }
            _ if ns.typ() == LinuxNamespaceType::Cgroup => new_cgroup_ns = true,
            _ if ns.typ() == LinuxNamespaceType::Time => {
                time_ns = Some(TimeNs::New(time_offsets(&linux, cfg_path)?))
            }
            _ => clone_flags |= flag,
        }
    }
    if linux.time_offsets().as_ref().is_some_and(|o| !o.is_empty())
        && !matches!(time_ns, Some(TimeNs::New(_)))
    {
        return Err(invalid(
            cfg_path,
            "linux.timeOffsets need a new time namespace",
        ));
    }
    let has = |t: LinuxNamespaceType| seen.contains(CloneFlags::from_bits_retain(t as i32));
    let new_user_ns = clone_flags.contains(CloneFlags::CLONE_NEWUSER);
    let maps = |m: &Option<Vec<LinuxIdMapping>>| {
        m.as_ref().filter(|v| !v.is_empty()).map(|v| {
            v.iter()
                .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
                .collect::<String>()
        })
    };
    let uid_map = maps(linux.uid_mappings());
    let gid_map = maps(linux.gid_mappings());
    if new_user_ns && (uid_map.is_none() || gid_map.is_none()) {
        return Err(invalid(
            cfg_path,
            "a new user namespace needs linux.uidMappings and linux.gidMappings",
        ));
    }
    if !new_user_ns && (uid_map.is_some() || gid_map.is_some()) {
        return Err(invalid(
            cfg_path,
            "linux.uidMappings/gidMappings need a new user namespace",
        ));
    }
    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        return Err(invalid(
            cfg_path,
            "hostname needs a uts namespace of the container's own",
        ));
    }
    if spec.domainname().as_deref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts)
    {
        return Err(invalid(
            cfg_path,
            "domainname needs a uts namespace of the container's own",
        ));
    }

    let mut sysctl: Vec<(String, String)> = linux
        .sysctl()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    sysctl.sort();
    for (k, _) in &sysctl {
        check_sysctl(k, &has, cfg_path)?;
    }

    let root_propagation = match linux.rootfs_propagation().as_deref() {
        None | Some("") => None,
        Some(p) => Some(
            propagation_flag(p)
                .ok_or_else(|| invalid(cfg_path, format!("rootfsPropagation {p:?} is unknown")))?,
        ),
    };

    let mounts = spec.mounts().clone().unwrap_or_default();
    for m in &mounts {
        if !m.destination().is_absolute() {
            return Err(invalid(
                cfg_path,
                format!(
                    "mount destination {} is not absolute",
                    m.destination().display()
                ),
            ));
        }
        if m.options()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|o| o == "idmap" || o == "ridmap")
        {
            return Err(Error::Unsupported(format!(
                "idmapped mount {}",
                m.destination().display()
            )));
        }
    }
    for d in linux.devices().as_deref().unwrap_or_default() {
        if !d.path().is_absolute() {
            return Err(invalid(
                cfg_path,
                format!("device path {} is not absolute", d.path().display()),
            ));
        }
    }

    // Parts of the spec this runtime does not implement are refused, never
    // silently skipped.
    let unsupported = [
        ("linux.intelRdt", linux.intel_rdt().is_some()),
        (
            "linux.netDevices",
            linux.net_devices().as_ref().is_some_and(|d| !d.is_empty()),
        ),
        ("linux.memoryPolicy", linux.memory_policy().is_some()),
        (
            "process.ioPriority",
            spec.process()
                .as_ref()
                .is_some_and(|p| p.io_priority().is_some()),
        ),
        (
            "process.scheduler",
            spec.process()
                .as_ref()
                .is_some_and(|p| p.scheduler().is_some()),
        ),
        (
            "process.execCPUAffinity",
            spec.process()
                .as_ref()
                .is_some_and(|p| p.exec_cpu_affinity().is_some()),
        ),
    ];
    if let Some((what, _)) = unsupported.iter().find(|(_, set)| *set) {
        return Err(Error::Unsupported((*what).to_string()));
    }
    let personality = match linux.personality() {
        None => None,
        Some(p) => {
            if p.flags().as_ref().is_some_and(|f| !f.is_empty()) {
                return Err(Error::Unsupported("linux.personality.flags".into()));
            }
            Some(match p.domain() {
                oci_spec::runtime::LinuxPersonalityDomain::PerLinux => {
                    nix::sys::personality::Persona::empty()
                }
                oci_spec::runtime::LinuxPersonalityDomain::PerLinux32 => {
                    nix::sys::personality::Persona::from_bits_retain(0x0008)
                }
            })
        }
    };

    // SELinux labels mean nothing on a host without SELinux (runc and crun
    // ignore them there too); on a host with it they would not be applied.
    let wants_label = linux
        .mount_label()
        .as_deref()
        .is_some_and(|l| !l.is_empty())
        || spec
            .process()
            .as_ref()
            .and_then(|p| p.selinux_label().as_deref())
            .is_some_and(|l| !l.is_empty());
    if wants_label && Path::new("/sys/fs/selinux/enforce").exists() {
        return Err(Error::Unsupported("SELinux labels".into()));
    }

    let process = spec
        .process()
        .as_ref()
        .map(|p| proc_plan(p, cfg_path))
        .ok_or_else(|| invalid(cfg_path, "process is missing"))??;

    let hooks = spec.hooks().clone().unwrap_or_default();
    #[allow(deprecated)]
    let runtime_hooks = hooks.prestart().as_ref().is_some_and(|h| !h.is_empty())
        || hooks
            .create_runtime()
            .as_ref()
            .is_some_and(|h| !h.is_empty());

    let seccomp = linux.seccomp().as_ref().map(seccomp_plan).transpose()?;

    Ok(Plan {
        clone_flags,
        own_mount_ns: has(LinuxNamespaceType::Mount),
        join,
        join_pid,
        time_ns,
        new_cgroup_ns,
        new_user_ns,
        uid_map,
        gid_map,
        hostname: spec.hostname().clone().filter(|h| !h.is_empty()),
        domainname: spec.domainname().clone().filter(|h| !h.is_empty()),
        bundle: bundle.to_path_buf(),
        rootfs,
        readonly_root: root.readonly().unwrap_or(false),
        root_propagation,
        mounts,
        devices: linux.devices().clone().unwrap_or_default(),
        masked: linux.masked_paths().clone().unwrap_or_default(),
        readonly: linux.readonly_paths().clone().unwrap_or_default(),
        sysctl,
        no_pivot,
        process,
        runtime_hooks,
        create_container_hooks: hooks.create_container().clone().unwrap_or_default(),
        start_container_hooks: hooks.start_container().clone().unwrap_or_default(),
        seccomp,
        personality,
    })
}

/// The container's device cgroup rules: the config's own, then access to
/// the default devices (null, zero, full, random, urandom, tty, ptmx, the
/// ptys, tun) and mknod of any node, then the config's `linux.devices`, as
/// runc does: a config that denies everything still gets a working /dev.
pub fn with_default_devices(res: &LinuxResources, devices: &[LinuxDevice]) -> LinuxResources {
    let mut res = res.clone();
    let Some(rules) = res.devices().as_ref().filter(|r| !r.is_empty()) else {
        return res;
    };
    let mut rules = rules.clone();
    let rule = |typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true);
        r.set_typ(Some(typ));
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.to_string()));
        r
    };
    use LinuxDeviceType::{B, C};
    rules.push(rule(C, None, None, "m"));
    rules.push(rule(B, None, None, "m"));
    for (major, minor) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
        (10, 200),
    ] {
        rules.push(rule(C, Some(major), Some(minor), "rwm"));
    }
    rules.push(rule(C, Some(136), None, "rwm"));
    for d in devices {
        // FIFOs are not governed by the device controller.
        let typ = match d.typ() {
            LinuxDeviceType::U => C,
            LinuxDeviceType::P | LinuxDeviceType::A => continue,
            t => t,
        };
        rules.push(rule(typ, Some(d.major()), Some(d.minor()), "rwm"));
    }
    res.set_devices(Some(rules));
    res
}

/// Only namespaced sysctls may be set, and net.* only with a network
/// namespace of the container's own (otherwise the host would change).
fn check_sysctl(key: &str, has: &dyn Fn(LinuxNamespaceType) -> bool, cfg: &Path) -> Result<()> {
    let ipc = matches!(
        key,
        "kernel.msgmax"
            | "kernel.msgmnb"
            | "kernel.msgmni"
            | "kernel.sem"
            | "kernel.shmall"
            | "kernel.shmmax"
            | "kernel.shmmni"
            | "kernel.shm_rmid_forced"
    ) || key.starts_with("fs.mqueue.");
    let (ok, ns) = if ipc {
        (has(LinuxNamespaceType::Ipc), "ipc")
    } else if key.starts_with("net.") {
        (has(LinuxNamespaceType::Network), "network")
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        (has(LinuxNamespaceType::Uts), "uts")
    } else {
        return Err(invalid(
            cfg,
            format!("sysctl {key:?} is not namespaced and would change the host"),
        ));
    };
    if ok {
        Ok(())
    } else {
        Err(invalid(
            cfg,
            format!("sysctl {key:?} needs a {ns} namespace of the container's own"),
        ))
    }
}

/// The propagation flag of a mount option, if it is one.
pub fn propagation_flag(opt: &str) -> Option<MsFlags> {
    Some(match opt {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

fn cstring(s: &str, what: &str, cfg: &Path) -> Result<CString> {
    CString::new(s).map_err(|_| invalid(cfg, format!("{what} {s:?} contains a NUL byte")))
}

/// Resolves an OCI process.
pub fn proc_plan(p: &Process, cfg: &Path) -> Result<ProcPlan> {
    let args = p.args().clone().unwrap_or_default();
    if args.is_empty() || args[0].is_empty() {
        return Err(invalid(cfg, "process.args must name a program"));
    }
    if !p.cwd().is_absolute() {
        return Err(invalid(
            cfg,
            format!("process.cwd {} is not absolute", p.cwd().display()),
        ));
    }
    let env_list = p.env().clone().unwrap_or_default();
    let mut env = Vec::with_capacity(env_list.len());
    let mut path_env = None;
    for e in &env_list {
        if !e.contains('=') {
            return Err(invalid(cfg, format!("process.env entry {e:?} has no '='")));
        }
        if let Some(v) = e.strip_prefix("PATH=") {
            path_env = Some(v.to_string());
        }
        env.push(cstring(e, "process.env entry", cfg)?);
    }
    let mut rlimits = Vec::new();
    for r in p.rlimits().as_deref().unwrap_or_default() {
        if r.soft() > r.hard() {
            return Err(invalid(
                cfg,
                format!("rlimit {:?}: soft limit is above the hard limit", r.typ()),
            ));
        }
        rlimits.push((rlimit_resource(r.typ()), r.soft(), r.hard()));
    }
    let apparmor_profile = p.apparmor_profile().clone().filter(|a| !a.is_empty());
    if let Some(profile) = &apparmor_profile {
        // Running without the confinement asked for would be a silent
        // security downgrade.
        let enabled = fs::read_to_string("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|s| s.trim() == "Y");
        if !enabled {
            return Err(invalid(
                cfg,
                format!("process.apparmorProfile {profile:?} needs AppArmor, which is not enabled on this host"),
            ));
        }
    }
    let user = p.user();
    Ok(ProcPlan {
        args: args
            .iter()
            .map(|a| cstring(a, "process.args entry", cfg))
            .collect::<Result<_>>()?,
        env,
        path_env,
        cwd: p.cwd().clone(),
        uid: user.uid(),
        gid: user.gid(),
        additional_gids: user.additional_gids().clone().unwrap_or_default(),
        umask: user.umask(),
        caps: p.capabilities().as_ref().map(cap_sets),
        rlimits,
        no_new_privs: p.no_new_privileges().unwrap_or(false),
        oom_score_adj: p.oom_score_adj(),
        terminal: p.terminal().unwrap_or(false),
        console_size: p
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16)),
        apparmor_profile,
    })
}

fn rlimit_resource(t: PosixRlimitType) -> Resource {
    use PosixRlimitType as T;
    match t {
        T::RlimitCpu => Resource::RLIMIT_CPU,
        T::RlimitFsize => Resource::RLIMIT_FSIZE,
        T::RlimitData => Resource::RLIMIT_DATA,
        T::RlimitStack => Resource::RLIMIT_STACK,
        T::RlimitCore => Resource::RLIMIT_CORE,
        T::RlimitRss => Resource::RLIMIT_RSS,
        T::RlimitNproc => Resource::RLIMIT_NPROC,
        T::RlimitNofile => Resource::RLIMIT_NOFILE,
        T::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        T::RlimitAs => Resource::RLIMIT_AS,
        T::RlimitLocks => Resource::RLIMIT_LOCKS,
        T::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        T::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        T::RlimitNice => Resource::RLIMIT_NICE,
        T::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        T::RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

/// The kernel's number of a capability.
pub fn cap_number(c: Capability) -> u32 {
    use Capability as C;
    match c {
        C::Chown => 0,
        C::DacOverride => 1,
        C::DacReadSearch => 2,
        C::Fowner => 3,
        C::Fsetid => 4,
        C::Kill => 5,
        C::Setgid => 6,
        C::Setuid => 7,
        C::Setpcap => 8,
        C::LinuxImmutable => 9,
        C::NetBindService => 10,
        C::NetBroadcast => 11,
        C::NetAdmin => 12,
        C::NetRaw => 13,
        C::IpcLock => 14,
        C::IpcOwner => 15,
        C::SysModule => 16,
        C::SysRawio => 17,
        C::SysChroot => 18,
        C::SysPtrace => 19,
        C::SysPacct => 20,
        C::SysAdmin => 21,
        C::SysBoot => 22,
        C::SysNice => 23,
        C::SysResource => 24,
        C::SysTime => 25,
        C::SysTtyConfig => 26,
        C::Mknod => 27,
        C::Lease => 28,
        C::AuditWrite => 29,
        C::AuditControl => 30,
        C::Setfcap => 31,
        C::MacOverride => 32,
        C::MacAdmin => 33,
        C::Syslog => 34,
        C::WakeAlarm => 35,
        C::BlockSuspend => 36,
        C::AuditRead => 37,
        C::Perfmon => 38,
        C::Bpf => 39,
        C::CheckpointRestore => 40,
    }
}

/// Parses a capability name as runc's `--cap` takes it (`CAP_NET_ADMIN`).
pub fn parse_cap(name: &str) -> Result<Capability> {
    serde_json::from_value(serde_json::Value::String(name.to_ascii_uppercase()))
        .map_err(|_| Error::Invalid(format!("unknown capability {name:?}")))
}

fn cap_sets(c: &LinuxCapabilities) -> CapSets {
    let mask = |s: &Option<oci_spec::runtime::Capabilities>| {
        s.as_ref()
            .map(|s| s.iter().fold(0u64, |m, c| m | 1 << cap_number(*c)))
            .unwrap_or(0)
    };
    CapSets {
        bounding: mask(c.bounding()),
        effective: mask(c.effective()),
        permitted: mask(c.permitted()),
        inheritable: mask(c.inheritable()),
        ambient: mask(c.ambient()),
    }
}

/// Mount flags, propagation flags and filesystem data from fstab options.
#[derive(Debug, Clone)]
pub struct MountOpts {
    pub flags: MsFlags,
    /// Flags cleared explicitly (`rw`, `suid`, …): not kept from the source on
    /// a bind remount.
    pub cleared: MsFlags,
    pub propagation: Vec<MsFlags>,
    pub data: String,
}

/// Parses fstab-style mount options.
pub fn mount_opts(options: &[String]) -> MountOpts {
    let mut o = MountOpts {
        flags: MsFlags::empty(),
        cleared: MsFlags::empty(),
        propagation: Vec::new(),
        data: String::new(),
    };
    for opt in options {
        let (set, clear) = match opt.as_str() {
            "defaults" | "tmpcopyup" => (MsFlags::empty(), MsFlags::empty()),
            "ro" | "rro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" | "rrw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nosuid" | "rnosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "nodev" | "rnodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "noexec" | "rnoexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "noatime" | "rnoatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "nodiratime" | "rnodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "relatime" | "rrelatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" | "rstrictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "nosymfollow" => (MsFlags::from_bits_retain(256), MsFlags::empty()),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            other => {
                if let Some(p) = propagation_flag(other) {
                    o.propagation.push(p);
                } else {
                    if !o.data.is_empty() {
                        o.data.push(',');
                    }
                    o.data.push_str(other);
                }
                continue;
            }
        };
        o.flags = (o.flags | set) & !clear;
        o.cleared = (o.cleared | clear) & !set;
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_options_split_into_flags_propagation_and_data() {
        let o = mount_opts(&[
            "nosuid".into(),
            "rbind".into(),
            "ro".into(),
            "rslave".into(),
            "mode=755".into(),
            "size=1m".into(),
        ]);
        assert!(o
            .flags
            .contains(MsFlags::MS_NOSUID | MsFlags::MS_BIND | MsFlags::MS_REC));
        assert!(o.flags.contains(MsFlags::MS_RDONLY));
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
        assert_eq!(o.data, "mode=755,size=1m");
    }

    #[test]
    fn later_option_wins() {
        let o = mount_opts(&["ro".into(), "rw".into()]);
        assert!(!o.flags.contains(MsFlags::MS_RDONLY));
        assert!(o.cleared.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn capability_names_parse() {
        assert_eq!(cap_number(parse_cap("CAP_NET_ADMIN").unwrap()), 12);
        assert!(parse_cap("CAP_TEST").is_err());
    }
}
