//! Turning the current process into the container's process: limits,
//! identity, capabilities, no_new_privs, seccomp and finally `execve`.
//! Shared by the init of a new container and by `exec`.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::sys::resource::setrlimit;
use nix::sys::stat::{umask, Mode};
use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};

use std::os::fd::AsRawFd;

use crate::channel::Channel;
use crate::config::{ProcPlan, SeccompPlan};
use crate::error::{Context, Error, Result};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Finds `args[0]` the way execvp would, in the current root, with the
/// process's own PATH.
pub fn find_executable(p: &ProcPlan) -> Result<CString> {
    let name = Path::new(std::ffi::OsStr::from_bytes(p.args[0].as_bytes()));
    let is_exec = |path: &Path| {
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let found: Option<PathBuf> = if name.as_os_str().as_bytes().contains(&b'/') {
        let full = if name.is_absolute() {
            name.to_path_buf()
        } else {
            p.cwd.join(name)
        };
        if !is_exec(&full) {
            return Err(Error::Invalid(format!(
                "exec {}: no such executable file",
                name.display()
            )));
        }
        Some(name.to_path_buf())
    } else {
        p.path_env
            .as_deref()
            .unwrap_or(DEFAULT_PATH)
            .split(':')
            .map(|d| Path::new(if d.is_empty() { "." } else { d }).join(name))
            .find(|c| is_exec(c))
    };
    let found = found.ok_or_else(|| {
        Error::Invalid(format!(
            "exec {:?}: executable file not found in $PATH",
            name.display().to_string()
        ))
    })?;
    CString::new(found.as_os_str().as_bytes())
        .map_err(|_| Error::Invalid("executable path contains a NUL byte".into()))
}

/// Applies the rlimits and oom_score_adj (needs the runtime's privileges,
/// so runs before the identity changes).
pub fn limits(p: &ProcPlan) -> Result<()> {
    for (res, soft, hard) in &p.rlimits {
        setrlimit(*res, *soft, *hard).ctx(|| format!("setrlimit {res:?} {soft} {hard}"))?;
    }
    if let Some(adj) = p.oom_score_adj {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .ctx(|| format!("write oom_score_adj {adj}"))?;
    }
    Ok(())
}

/// Switches to the process's uid, gid and groups and sets its five
/// capability sets. `setgroups_allowed` is false in a user namespace whose
/// setgroups is denied.
pub fn identity(p: &ProcPlan, setgroups_allowed: bool) -> Result<()> {
    if let Some(c) = &p.caps {
        berth_sys::caps::limit_bounding(c.bounding).ctx(|| "drop bounding capabilities".into())?;
    }
    // Keep the permitted set across the uid change, to set it exactly below.
    nix::sys::prctl::set_keepcaps(true).ctx(|| "prctl PR_SET_KEEPCAPS".into())?;
    if setgroups_allowed {
        let groups: Vec<Gid> = p
            .additional_gids
            .iter()
            .map(|g| Gid::from_raw(*g))
            .collect();
        setgroups(&groups).ctx(|| format!("setgroups {:?}", p.additional_gids))?;
    }
    let gid = Gid::from_raw(p.gid);
    setresgid(gid, gid, gid).ctx(|| format!("setresgid {}", p.gid))?;
    let uid = Uid::from_raw(p.uid);
    setresuid(uid, uid, uid).ctx(|| format!("setresuid {}", p.uid))?;
    nix::sys::prctl::set_keepcaps(false).ctx(|| "prctl PR_SET_KEEPCAPS".into())?;
    if let Some(c) = &p.caps {
        berth_sys::caps::set(c.effective, c.permitted, c.inheritable)
            .ctx(|| "set capabilities".into())?;
        // The kernel only allows ambient capabilities that are also
        // permitted and inheritable; runc skips the others too.
        berth_sys::caps::set_ambient(c.ambient & c.permitted & c.inheritable)
            .ctx(|| "set ambient capabilities".into())?;
    }
    Ok(())
}

/// Asks AppArmor to confine the program with `profile` from its exec on, as
/// runc does (the plan checked that AppArmor is enabled).
fn apparmor_on_exec(profile: &str) -> Result<()> {
    let cmd = format!("exec {profile}");
    std::fs::write("/proc/thread-self/attr/apparmor/exec", &cmd)
        .or_else(|_| std::fs::write("/proc/self/attr/exec", &cmd))
        .ctx(|| format!("set apparmor profile {profile}"))
}

/// Whether this process may call setgroups (false in a user namespace
/// whose /proc/self/setgroups says "deny").
pub fn setgroups_allowed() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").map_or(true, |s| s.trim() != "deny")
}

/// The umask of the process (0022 when the config does not say).
pub fn set_umask(p: &ProcPlan) {
    umask(Mode::from_bits_truncate(p.umask.unwrap_or(0o022)));
}

/// Loads a compiled seccomp filter; a filter with SCMP_ACT_NOTIFY rules is
/// loaded with a listener, which goes to the runtime over `chan` (message
/// `S`) for the seccomp agent.
pub fn load_seccomp(sc: &SeccompPlan, chan: &Channel) -> Result<()> {
    if sc.notify.is_none() {
        return berth_sys::seccomp::load(&sc.filter, sc.flags).ctx(|| "load seccomp filter".into());
    }
    let listener = berth_sys::seccomp::load_with_listener(&sc.filter, sc.flags)
        .ctx(|| "load seccomp filter with a listener".into())?;
    chan.send(b'S', b"", Some(listener.as_raw_fd()))
}

/// Seccomp, identity and no_new_privs in the order that works: without
/// no_new_privs loading a filter needs privileges, so it comes first; with
/// it the filter comes as late as possible, at `exec` (returned as still to
/// do), unless the runtime must receive its listener first.
pub fn secure(p: &ProcPlan, sc: Option<&SeccompPlan>, chan: &Channel) -> Result<bool> {
    if let Some(profile) = &p.apparmor_profile {
        apparmor_on_exec(profile)?;
    }
    let mut pending = sc.is_some();
    if let Some(sc) = sc.filter(|_| !p.no_new_privs) {
        load_seccomp(sc, chan)?;
        pending = false;
    }
    identity(p, setgroups_allowed())?;
    if p.no_new_privs {
        nix::sys::prctl::set_no_new_privs().ctx(|| "prctl PR_SET_NO_NEW_PRIVS".into())?;
    }
    if let Some(sc) = sc.filter(|s| pending && s.notify.is_some()) {
        load_seccomp(sc, chan)?;
        pending = false;
    }
    set_umask(p);
    Ok(pending)
}

/// Gets the process ready to exec before a seccomp filter may forbid the
/// calls this needs: signals back to their defaults, every descriptor from
/// `3 + preserve_fds` marked close-on-exec.
pub fn before_exec(preserve_fds: u32) -> Result<()> {
    berth_sys::process::reset_signals().ctx(|| "reset signals".into())?;
    berth_sys::process::cloexec_from(3 + preserve_fds).ctx(|| "close descriptors".into())
}

/// The environment of the program: the configured one, plus HOME from the
/// container's /etc/passwd (or `/`) when it does not set HOME, as runc does.
pub fn environment(p: &ProcPlan) -> Vec<CString> {
    let mut env = p.env.clone();
    if p.env.iter().any(|e| e.as_bytes().starts_with(b"HOME=")) {
        return env;
    }
    let uid = p.uid.to_string();
    let home = std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 5 && f[2] == uid).then(|| f[5].to_string())
            })
        })
        .unwrap_or_else(|| "/".to_string());
    if let Ok(h) = CString::new(format!("HOME={home}")) {
        env.push(h);
    }
    env
}

/// Replaces the process with the container's program.
pub fn exec(p: &ProcPlan, path: &CString, env: &[CString]) -> Result<std::convert::Infallible> {
    nix::unistd::execve(path, &p.args, env).ctx(|| format!("exec {path:?}"))
}
