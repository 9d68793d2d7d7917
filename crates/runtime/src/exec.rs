//! `exec`: a new process in the namespaces, cgroup and root of a running
//! container.

use std::fs;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};

use nix::sched::{setns, CloneFlags};
use nix::unistd::{dup2, setresgid, setresuid, setsid, Gid, Uid};

use crate::cgroup_join::Join;
use crate::channel::{self, Channel};
use crate::config::{self, ProcPlan, SeccompPlan};
use crate::container::{clone_in, write_pid_file, ChildNs, CLONE_NEWTIME};
use crate::error::{Context, Error, Result};
use crate::state::Status;
use crate::{init, process, tty, Created, ExecOptions, Runtime};

/// The namespaces an exec joins, user first, pid last (pid is joined by the
/// runtime around the clone).
const NAMESPACES: [(&str, CloneFlags); 8] = [
    ("user", CloneFlags::CLONE_NEWUSER),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("mnt", CloneFlags::CLONE_NEWNS),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("time", CLONE_NEWTIME),
];

struct Target {
    joins: Vec<(CloneFlags, OwnedFd)>,
    pid_ns: Option<OwnedFd>,
    time_ns: Option<OwnedFd>,
    root: OwnedFd,
}

fn open_target(pid: i32) -> Result<Target> {
    let mut joins = Vec::new();
    let mut pid_ns = None;
    let mut time_ns = None;
    for (name, flag) in NAMESPACES {
        let theirs = format!("/proc/{pid}/ns/{name}");
        let Ok(m) = fs::metadata(&theirs) else {
            continue;
        };
        // Joining the namespace one is already in is pointless, and for a
        // user namespace an error.
        if fs::metadata(format!("/proc/self/ns/{name}"))
            .is_ok_and(|o| o.ino() == m.ino() && o.dev() == m.dev())
        {
            continue;
        }
        let fd: OwnedFd = fs::File::open(&theirs)
            .ctx(|| format!("open {theirs}"))?
            .into();
        if flag == CloneFlags::CLONE_NEWPID {
            pid_ns = Some(fd);
        } else if flag == CLONE_NEWTIME {
            time_ns = Some(fd);
        } else {
            joins.push((flag, fd));
        }
    }
    let root: OwnedFd = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(format!("/proc/{pid}/root"))
        .ctx(|| format!("open /proc/{pid}/root"))?
        .into();
    Ok(Target {
        joins,
        pid_ns,
        time_ns,
        root,
    })
}

impl Runtime {
    /// The process section of the config container `id` was created with
    /// (the defaults for an exec given on the command line).
    pub fn container_process(&self, id: &str) -> Result<oci_spec::runtime::Process> {
        let (_, _, spec) = self.saved_config(id)?;
        Ok(spec.process().clone().unwrap_or_default())
    }

    /// Starts `opts.process` in running container `id`. The new process is
    /// a child of the caller (which must be single-threaded); returns its
    /// pid once it is about to exec.
    pub fn exec(&self, id: &str, opts: ExecOptions) -> Result<Created> {
        let (saved, status, spec) = self.saved_config(id)?;
        if !matches!(status, Status::Running | Status::Created) {
            return Err(Error::WrongState {
                id: id.to_string(),
                status: status.as_str(),
                op: "exec in",
            });
        }
        let cfg = std::path::Path::new("process.json");
        let plan = config::proc_plan(&opts.process, cfg)?;
        let seccomp = spec
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref())
            .map(config::seccomp_plan)
            .transpose()?;
        let target = open_target(saved.pid)?;
        let console = opts
            .console_socket
            .as_deref()
            .map(tty::connect_console)
            .transpose()?;
        let (ours, theirs) = channel::pair()?;

        let mut for_children = Vec::new();
        if let Some(ns) = &target.pid_ns {
            for_children.push(ChildNs::Join(ns.as_fd(), CloneFlags::CLONE_NEWPID));
        }
        if let Some(ns) = &target.time_ns {
            for_children.push(ChildNs::Join(ns.as_fd(), CLONE_NEWTIME));
        }
        let mut join = Join::open(saved.cgroup.as_ref());
        let forked = clone_in(CloneFlags::empty(), &for_children, &mut join);
        let pid = match forked? {
            berth_sys::process::Forked::Child => {
                drop(ours);
                child(
                    theirs,
                    join,
                    &target,
                    &plan,
                    seccomp.as_ref(),
                    console,
                    opts.stdio,
                    opts.preserve_fds,
                )
            }
            berth_sys::process::Forked::Parent(pid) => pid,
        };
        drop(theirs);
        let result = (|| {
            join.apply_rest(pid)?;
            ours.send(b'G', b"", None)?;
            let mut master = None;
            loop {
                match ours.recv()? {
                    Some((b'T', _, fd)) => master = fd,
                    Some((b'S', _, Some(fd))) => {
                        let st = crate::state::OciState::new(&saved, Status::Running);
                        crate::container::send_listener(seccomp.as_ref(), fd, pid, &st)?;
                    }
                    Some((b'R', _, _)) => break,
                    Some((b'E', msg, _)) => {
                        return Err(Error::Init(String::from_utf8_lossy(&msg).into_owned()))
                    }
                    _ => return Err(Error::Init("exec process exited while setting up".into())),
                }
            }
            if let Some(pf) = &opts.pid_file {
                write_pid_file(pf, pid)?;
            }
            Ok(master)
        })();
        match result {
            Ok(pty_master) => Ok(Created { pid, pty_master }),
            Err(e) => {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
                Err(e)
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn child(
    chan: Channel,
    mut join: Join,
    target: &Target,
    p: &ProcPlan,
    seccomp: Option<&SeccompPlan>,
    console: Option<OwnedFd>,
    stdio: Option<[OwnedFd; 3]>,
    preserve_fds: u32,
) -> ! {
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        join.join_self()?;
        child_setup(&chan, target, p, seccomp, console, stdio, preserve_fds)
    }));
    match res {
        Ok(Ok(never)) => match never {},
        Ok(Err(e)) => {
            let msg = e.chain();
            if chan.send(b'E', msg.as_bytes(), None).is_err() {
                eprintln!("berth-runtime: exec: {msg}");
            }
        }
        Err(_) => {}
    }
    berth_sys::process::exit_now(1)
}

fn child_setup(
    chan: &Channel,
    target: &Target,
    p: &ProcPlan,
    seccomp: Option<&SeccompPlan>,
    console: Option<OwnedFd>,
    stdio: Option<[OwnedFd; 3]>,
    preserve_fds: u32,
) -> Result<std::convert::Infallible> {
    chan.expect(b'G', "the runtime to place the process in its cgroup")?;
    for (flag, fd) in &target.joins {
        setns(fd.as_fd(), *flag).ctx(|| format!("setns {flag:?}"))?;
        if *flag == CloneFlags::CLONE_NEWUSER {
            setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
                .ctx(|| "setresgid 0 in the user namespace".into())?;
            setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
                .ctx(|| "setresuid 0 in the user namespace".into())?;
        }
    }
    nix::unistd::fchdir(target.root.as_raw_fd()).ctx(|| "fchdir to the container root".into())?;
    nix::unistd::chroot(".").ctx(|| "chroot to the container root".into())?;
    setsid().ctx(|| "setsid".into())?;
    if p.terminal {
        let slave = init::open_pty(chan, console, p.console_size)?;
        berth_sys::term::set_controlling(slave.as_fd()).ctx(|| "set controlling tty".into())?;
        for n in 0..3 {
            dup2(slave.as_raw_fd(), n).ctx(|| format!("dup2 tty onto {n}"))?;
        }
    } else if let Some(stdio) = stdio {
        for (n, fd) in stdio.iter().enumerate() {
            dup2(fd.as_raw_fd(), n as i32).ctx(|| format!("dup2 onto {n}"))?;
        }
    }
    nix::unistd::chdir(&p.cwd).ctx(|| format!("chdir {}", p.cwd.display()))?;
    process::limits(p)?;
    let exe = process::find_executable(p)?;
    let env = process::environment(p);
    process::before_exec(preserve_fds)?;
    let pending = process::secure(p, seccomp, chan)?;
    chan.send(b'R', b"", None)?;
    if pending {
        if let Some(sc) = seccomp {
            process::load_seccomp(sc, chan)?;
        }
    }
    process::exec(p, &exe, &env)
}
