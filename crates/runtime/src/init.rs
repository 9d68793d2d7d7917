//! The container's init between clone and exec: it joins and sets up its
//! namespaces, builds its filesystem, reports "ready" to the runtime and
//! then blocks on the exec fifo until `start`.
//!
//! It runs in a fresh child of a single-threaded runtime (see
//! [`berth_sys::process::clone_fork`]), so it may allocate. It never returns:
//! it execs the container's program or exits, after telling the runtime
//! what went wrong while the runtime still listens.

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

use nix::fcntl::OFlag;
use nix::sched::{setns, unshare, CloneFlags};
use nix::unistd::{dup2, setresgid, setresuid, setsid, Gid, Uid};

use crate::cgroup_join::Join;
use crate::channel::Channel;
use crate::config::{Plan, ProcPlan};
use crate::error::{Context, Error, Result};
use crate::state::OciState;
use crate::{hooks, process, rootfs};

/// What the init gets from the runtime besides the plan.
pub struct InitArgs<'a> {
    pub plan: &'a Plan,
    pub chan: Channel,
    /// The exec fifo, opened read-write (never blocks to open); `None` for
    /// `run`, where the word to start comes on the channel.
    pub fifo: Option<OwnedFd>,
    /// A connected console socket to send the pty master to.
    pub console: Option<OwnedFd>,
    /// Descriptors to become the container's stdin, stdout and stderr.
    pub stdio: Option<[OwnedFd; 3]>,
    pub preserve_fds: u32,
    /// The container's state, for the hooks run in its namespaces.
    pub state: OciState,
    /// The cgroup hierarchies the init joins by itself.
    pub join: Join,
}

/// Runs the init; never returns.
pub fn run(mut args: InitArgs<'_>) -> ! {
    // A panic must not unwind into the runtime's frames that this child
    // shares (their destructors would undo the create).
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| setup(&mut args)));
    let err = match res {
        Ok(Ok(never)) => match never {},
        Ok(Err(e)) => e,
        Err(_) => berth_sys::process::exit_now(1),
    };
    let msg = err.chain();
    // While the runtime listens it reports the error; after `start` only
    // the container's stderr is left.
    if args.chan.send(b'E', msg.as_bytes(), None).is_err() {
        eprintln!("berth-runtime: container init: {msg}");
    }
    berth_sys::process::exit_now(1)
}

fn setup(args: &mut InitArgs<'_>) -> Result<std::convert::Infallible> {
    let plan = args.plan;
    args.join.join_self()?;
    // Device nodes and mount points get exactly the modes asked for.
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    let (payload, _) = args.chan.expect(b'G', "the runtime to write the id maps")?;
    args.state.pid = String::from_utf8_lossy(&payload).parse().unwrap_or(0);

    let joins_user = plan
        .join
        .first()
        .is_some_and(|j| j.flag == CloneFlags::CLONE_NEWUSER);
    for j in &plan.join {
        setns(j.fd.as_fd(), j.flag).ctx(|| format!("setns {}", j.path.display()))?;
    }
    if plan.new_user_ns || joins_user {
        // Become root of the user namespace (the ids only exist in it now
        // that the maps are written).
        setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
            .ctx(|| "setresgid 0 in the user namespace".into())?;
        setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
            .ctx(|| "setresuid 0 in the user namespace".into())?;
    }
    // The runtime moves us into the hierarchies we could not join by
    // ourselves while we set up (writing cgroup.procs can wait for an RCU
    // grace period); `in_cgroup` waits for its word where it matters, at the
    // latest before reporting ready.
    let in_cgroup_done = std::cell::Cell::new(false);
    let in_cgroup = || -> Result<()> {
        if !in_cgroup_done.get() {
            args.chan
                .expect(b'A', "the runtime to move the init into its cgroup")?;
            in_cgroup_done.set(true);
        }
        Ok(())
    };
    if plan.new_cgroup_ns {
        in_cgroup()?;
        // Only now: the runtime has moved us into our cgroup, which becomes
        // the namespace's root.
        unshare(CloneFlags::CLONE_NEWCGROUP).ctx(|| "unshare the cgroup namespace".into())?;
    }
    if let Some(h) = &plan.hostname {
        nix::unistd::sethostname(h).ctx(|| format!("sethostname {h}"))?;
    }
    if let Some(d) = &plan.domainname {
        berth_sys::process::setdomainname(d).ctx(|| format!("setdomainname {d}"))?;
    }

    rootfs::prepare(plan, &in_cgroup)?;
    in_cgroup()?;
    if plan.runtime_hooks {
        args.chan.send(b'H', b"", None)?;
        args.chan
            .expect(b'C', "the prestart and createRuntime hooks")?;
    }
    if !plan.create_container_hooks.is_empty() {
        hooks::run_all(
            "createContainer",
            &plan.create_container_hooks,
            &args.state.to_json(),
        )?;
    }
    // oom_score_adj through the runtime's /proc, which is still visible.
    let proc_plan = &plan.process;
    process::limits(proc_plan)?;
    rootfs::enter(plan)?;
    if !proc_plan.cwd.is_dir() {
        // As runc: a missing working directory is created (image WORKDIRs
        // need not exist in the rootfs), before the root may turn read-only.
        std::fs::create_dir_all(&proc_plan.cwd)
            .ctx(|| format!("mkdir {}", proc_plan.cwd.display()))?;
    }
    rootfs::sysctls(plan)?;
    rootfs::finish(plan)?;

    let p = proc_plan;
    setup_stdio(args, p)?;
    nix::unistd::chdir(&p.cwd).ctx(|| format!("chdir {}", p.cwd.display()))?;
    let exe = process::find_executable(p)?;
    let env = process::environment(p);
    process::before_exec(args.preserve_fds)?;
    if let Some(persona) = plan.personality {
        nix::sys::personality::set(persona).ctx(|| format!("personality {persona:?}"))?;
    }
    let seccomp_pending = process::secure(p, plan.seccomp.as_ref(), &args.chan)?;

    args.chan.send(b'R', b"", None)?;
    match &args.fifo {
        Some(fifo) => wait_for_start(fifo)?,
        None => drop(
            args.chan
                .expect(b'P', "the runtime to start the container")?,
        ),
    }
    if !plan.start_container_hooks.is_empty() {
        args.state.status = "running".into();
        hooks::run_all(
            "startContainer",
            &plan.start_container_hooks,
            &args.state.to_json(),
        )?;
    }
    if seccomp_pending {
        if let Some(sc) = &plan.seccomp {
            process::load_seccomp(sc, &args.chan)?;
        }
    }
    process::exec(p, &exe, &env)
}

/// Blocks until `start` writes a byte into the fifo.
fn wait_for_start(fifo: &OwnedFd) -> Result<()> {
    let mut f = std::fs::File::from(fifo.try_clone().ctx(|| "dup exec fifo".into())?);
    let mut b = [0u8; 1];
    loop {
        match f.read(&mut b) {
            Ok(1) => return Ok(()),
            Ok(_) => return Err(Error::Init("exec fifo closed".into())),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).ctx(|| "read exec fifo".into()),
        }
    }
}

/// A new session; the terminal (sent to the console socket or the runtime)
/// or the given descriptors become stdin, stdout and stderr.
fn setup_stdio(args: &mut InitArgs<'_>, p: &ProcPlan) -> Result<()> {
    setsid().ctx(|| "setsid".into())?;
    if p.terminal {
        let slave = open_pty(&args.chan, args.console.take(), p.console_size)?;
        berth_sys::term::set_controlling(slave.as_fd()).ctx(|| "set controlling tty".into())?;
        for n in 0..3 {
            dup2(slave.as_raw_fd(), n).ctx(|| format!("dup2 tty onto {n}"))?;
        }
    } else if let Some(stdio) = args.stdio.take() {
        for (n, fd) in stdio.iter().enumerate() {
            dup2(fd.as_raw_fd(), n as i32).ctx(|| format!("dup2 onto {n}"))?;
        }
    }
    Ok(())
}

/// Opens a pty in the container's devpts, hands its master to the console
/// socket (or the runtime) and returns the slave.
pub fn open_pty(
    chan: &Channel,
    console: Option<OwnedFd>,
    size: Option<(u16, u16)>,
) -> Result<OwnedFd> {
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .ctx(|| "open /dev/ptmx".into())?;
    nix::pty::grantpt(&master).ctx(|| "grantpt".into())?;
    nix::pty::unlockpt(&master).ctx(|| "unlockpt".into())?;
    let name = nix::pty::ptsname_r(&master).ctx(|| "ptsname".into())?;
    let slave: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(&name)
        .ctx(|| format!("open {name}"))?
        .into();
    if let Some((rows, cols)) = size {
        berth_sys::term::set_size(slave.as_fd(), rows, cols).ctx(|| "set tty size".into())?;
    }
    match console {
        Some(sock) => crate::tty::send_master(&sock, master.as_raw_fd(), &name)?,
        None => chan.send(b'T', name.as_bytes(), Some(master.as_raw_fd()))?,
    }
    Ok(slave)
}
