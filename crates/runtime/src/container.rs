//! The lifecycle operations of [`Runtime`]: create, start, state, kill,
//! delete, pause, resume, ps and list.

use std::fs;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use berth_sys::process::Forked;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::unistd::Pid;

use crate::cgroup_join::Join;
use crate::channel::{self, Channel};
use crate::config::{self, Plan};
use crate::error::{Context, Error, Result};
use crate::init::{self, InitArgs};
use crate::state::{self, Dir, OciState, Saved, Status};
use crate::{hooks, tty, CreateOptions, Created, Runtime};

/// Container ids as runc accepts them.
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.+-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_string()))
    }
}

/// What a half-done create has made, to undo it when the create fails.
struct Undo {
    dir: Option<PathBuf>,
    cgroup: Option<berth_cgroups::Manager>,
    pid: Option<i32>,
}

impl Undo {
    /// Kills the init, removes the cgroup and the state directory; returns
    /// the first thing that could not be undone.
    fn rollback(&mut self) -> Result<()> {
        let mut first = None;
        if let Some(pid) = self.pid.take() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            // The init is our child: reap it.
            let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
        }
        if let Some(cg) = self.cgroup.take() {
            if let Err(e) = cg.destroy() {
                first.get_or_insert(Error::Cgroup(e));
            }
        }
        if let Some(dir) = self.dir.take() {
            if let Err(e) = fs::remove_dir_all(&dir) {
                first.get_or_insert(Error::Io {
                    context: format!("remove {}", dir.display()),
                    source: e,
                });
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Undoes after `original` failed, keeping a cleanup failure with it.
    fn fail(&mut self, original: Error) -> Error {
        match self.rollback() {
            Ok(()) => original,
            Err(cleanup) => Error::Rollback {
                original: Box::new(original),
                cleanup: Box::new(cleanup),
            },
        }
    }
}

impl Runtime {
    fn dir(&self, id: &str) -> Result<Dir> {
        check_id(id)?;
        Ok(Dir::new(&self.root, id))
    }

    /// Loads a container's saved state and its current status.
    fn load(&self, id: &str) -> Result<(Dir, Saved, Status)> {
        let dir = self.dir(id)?;
        let saved = dir.load(id)?;
        let status = saved.status(&dir);
        Ok((dir, saved, status))
    }

    /// Creates container `id` from the bundle in `opts`. Returns when the
    /// container's init is set up and waiting for [`Runtime::start`].
    ///
    /// The init is a child of the calling process, which must be
    /// single-threaded (the runtime forks without exec). When the caller
    /// exits, the init is re-parented to the nearest subreaper.
    pub fn create(&self, id: &str, opts: CreateOptions) -> Result<Created> {
        self.create_with(id, opts, false)
    }

    /// Creates and starts container `id` in one go (`run`): returns once
    /// its program runs (after the poststart hooks), like [`Runtime::create`]
    /// then [`Runtime::start`], but without the exec fifo: the init waits
    /// for the word on the channel it already shares with the runtime, and
    /// an error of its last steps (seccomp, startContainer hooks) comes back
    /// as this call's error.
    pub fn run(&self, id: &str, opts: CreateOptions) -> Result<Created> {
        self.create_with(id, opts, true)
    }

    fn create_with(&self, id: &str, opts: CreateOptions, run_now: bool) -> Result<Created> {
        check_id(id)?;
        let bundle = fs::canonicalize(&opts.bundle).map_err(|e| Error::Config {
            path: opts.bundle.clone(),
            msg: format!("bundle: {e}"),
        })?;
        let cfg_path = bundle.join("config.json");
        let raw = fs::read(&cfg_path).map_err(|e| Error::Config {
            path: cfg_path.clone(),
            msg: format!("cannot read: {e}"),
        })?;
        let spec: oci_spec::runtime::Spec =
            serde_json::from_slice(&raw).map_err(|e| Error::Config {
                path: cfg_path.clone(),
                msg: e.to_string(),
            })?;
        let plan = config::plan(&spec, &bundle, &cfg_path, opts.no_pivot)?;

        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(&self.root)
            .ctx(|| format!("mkdir {}", self.root.display()))?;
        let dir = Dir::new(&self.root, id);
        match fs::DirBuilder::new().mode(0o711).create(&dir.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Exists(id.to_string()))
            }
            Err(e) => return Err(e).ctx(|| format!("mkdir {}", dir.path.display())),
        }
        let mut undo = Undo {
            dir: Some(dir.path.clone()),
            cgroup: None,
            pid: None,
        };
        self.create_in(
            id, &dir, &spec, &raw, &plan, &bundle, opts, run_now, &mut undo,
        )
        .map_err(|e| undo.fail(e))
    }

    /// The part of `create` after the state directory exists; everything it
    /// makes is recorded in `undo`.
    #[allow(clippy::too_many_arguments)]
    fn create_in(
        &self,
        id: &str,
        dir: &Dir,
        spec: &oci_spec::runtime::Spec,
        raw: &[u8],
        plan: &Plan,
        bundle: &Path,
        opts: CreateOptions,
        run_now: bool,
        undo: &mut Undo,
    ) -> Result<Created> {
        let linux = spec.linux().clone().unwrap_or_default();
        let mut saved = Saved {
            oci_version: spec.version().clone(),
            id: id.to_string(),
            pid: 0,
            pid_start: 0,
            creator: std::process::id() as i32,
            bundle: bundle.to_path_buf(),
            rootfs: plan.rootfs.clone(),
            created: String::new(),
            annotations: spec.annotations().clone().unwrap_or_default(),
            cgroup: None,
            hooks: spec.hooks().clone(),
            own_pid_ns: plan.clone_flags.contains(CloneFlags::CLONE_NEWPID),
            paused: false,
            owner: nix::unistd::geteuid().as_raw(),
        };
        let cg_path = linux
            .cgroups_path()
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned());
        let cg = berth_cgroups::Manager::new(cg_path.as_deref(), id).map_err(Error::Cgroup)?;
        saved.cgroup = Some(cg.clone());
        // Written before anything else exists, so that a crash from here on
        // leaves enough for `delete` to clean up.
        dir.save(&saved)?;
        undo.cgroup = Some(cg.clone());
        cg.create().map_err(Error::Cgroup)?;
        if let Some(res) = linux.resources() {
            cg.set(&config::with_default_devices(res, &plan.devices))
                .map_err(Error::Cgroup)?;
        }
        fs::write(dir.config(), raw).ctx(|| format!("write {}", dir.config().display()))?;
        let fifo = if run_now {
            None
        } else {
            nix::unistd::mkfifo(&dir.fifo(), Mode::from_bits_truncate(0o600))
                .ctx(|| format!("mkfifo {}", dir.fifo().display()))?;
            // Read-write: opening never blocks, and the init can block
            // reading it until `start` writes.
            let fifo: OwnedFd = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_CLOEXEC)
                .open(dir.fifo())
                .ctx(|| format!("open {}", dir.fifo().display()))?
                .into();
            Some(fifo)
        };
        let console = opts
            .console_socket
            .as_deref()
            .map(tty::connect_console)
            .transpose()?;

        let oci = OciState::new(&saved, Status::Created);
        let (ours, theirs) = channel::pair()?;
        let (pid, join) = spawn_init(
            plan,
            theirs,
            fifo,
            console,
            opts.stdio,
            opts.preserve_fds,
            oci.clone(),
            Join::open(Some(&cg)),
        )?;
        undo.pid = Some(pid);
        // A `run` with nothing for the runtime to do between the init's
        // "ready" and its exec (hooks, a seccomp agent) gives the word to
        // start at once: the init then never sleeps waiting for it.
        let early_start = run_now
            && !plan.runtime_hooks
            && plan.seccomp.as_ref().is_none_or(|s| s.notify.is_none());
        let pty_master = setup_init(plan, &ours, pid, &join, &saved, &oci, early_start)?;

        let (start, _) = state::proc_start(pid)
            .ok_or_else(|| Error::Init("exited right after setting up".into()))?;
        saved.pid = pid;
        saved.pid_start = start;
        saved.created = state::now_rfc3339();
        dir.save(&saved)?;
        if let Some(pf) = &opts.pid_file {
            write_pid_file(pf, pid)?;
        }
        if run_now {
            start_now(&ours, !early_start)?;
        }
        // Created: nothing is undone any more.
        *undo = Undo {
            dir: None,
            cgroup: None,
            pid: None,
        };
        if run_now {
            self.poststart(&saved);
        }
        Ok(Created { pid, pty_master })
    }

    /// Starts the program of a created container. Returns once the program
    /// runs (after the poststart hooks).
    pub fn start(&self, id: &str) -> Result<()> {
        let (dir, saved, status) = self.load(id)?;
        if status != Status::Created {
            return Err(Error::WrongState {
                id: id.to_string(),
                status: status.as_str(),
                op: "start",
            });
        }
        let f: OwnedFd = match fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(dir.fifo())
        {
            Ok(f) => f.into(),
            // No reader: the init is gone or already started.
            Err(e)
                if e.raw_os_error() == Some(libc::ENXIO)
                    || e.kind() == std::io::ErrorKind::NotFound =>
            {
                return Err(Error::WrongState {
                    id: id.to_string(),
                    status: Status::Stopped.as_str(),
                    op: "start",
                })
            }
            Err(e) => return Err(e).ctx(|| format!("open {}", dir.fifo().display())),
        };
        // Only one start may win: whoever removes the fifo.
        fs::remove_file(dir.fifo()).map_err(|_| Error::WrongState {
            id: id.to_string(),
            status: Status::Running.as_str(),
            op: "start",
        })?;
        nix::unistd::write(&f, b"0").ctx(|| format!("write {}", dir.fifo().display()))?;
        // The init's end closes when it execs (or dies): then the fifo has
        // no reader left and poll reports POLLERR.
        let mut fds = [PollFd::new(f.as_fd(), PollFlags::empty())];
        loop {
            match poll(&mut fds, PollTimeout::NONE) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => {
                    r.ctx(|| "wait for the container's program to start".into())?;
                    break;
                }
            }
        }
        // The program may well have exited already (true): as runc, start
        // does not report what happens after the exec.
        drop(f);
        self.poststart(&saved);
        Ok(())
    }

    fn poststart(&self, saved: &Saved) {
        if let Some(h) = saved.hooks.as_ref().and_then(|h| h.poststart().clone()) {
            let st = OciState::new(saved, Status::Running).to_json();
            for hook in &h {
                // Poststart failures are logged, not fatal (runtime-spec).
                if let Err(e) = hooks::run("poststart", hook, &st) {
                    self.warn(&e.chain());
                }
            }
        }
    }

    /// The OCI state of container `id`.
    pub fn state(&self, id: &str) -> Result<OciState> {
        let (_, saved, status) = self.load(id)?;
        Ok(OciState::new(&saved, status))
    }

    /// Sends `signal` to the container's init, or with `all` to every
    /// process in its cgroup.
    pub fn kill(&self, id: &str, signal: Signal, all: bool) -> Result<()> {
        let (_, saved, status) = self.load(id)?;
        if all {
            if let Some(cg) = &saved.cgroup {
                return cg.kill_all(signal).map_err(Error::Cgroup);
            }
        }
        if !matches!(status, Status::Created | Status::Running | Status::Paused) {
            return Err(Error::NotRunning(id.to_string()));
        }
        kill(Pid::from_raw(saved.pid), signal)
            .ctx(|| format!("kill pid {} with {signal}", saved.pid))?;
        if saved.paused && signal == Signal::SIGKILL {
            if let Some(cg) = &saved.cgroup {
                cg.thaw().map_err(Error::Cgroup)?;
            }
        }
        Ok(())
    }

    /// Deletes a stopped (or created) container: its cgroup and state go,
    /// then the poststop hooks run. `force` kills a running one first.
    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        let (dir, saved, status) = match self.load(id) {
            Ok(x) => x,
            Err(Error::NotFound(_)) if force => return Ok(()),
            Err(e) => return Err(e),
        };
        match status {
            // A create that crashed after the clone may have left an init
            // behind that never got recorded.
            Status::Stopped if saved.pid == 0 => self.stop(&saved)?,
            Status::Stopped => {}
            Status::Created | Status::Creating => self.stop(&saved)?,
            Status::Running | Status::Paused if force => self.stop(&saved)?,
            s => {
                return Err(Error::WrongState {
                    id: id.to_string(),
                    status: s.as_str(),
                    op: "delete (use --force)",
                })
            }
        }
        if let Some(cg) = &saved.cgroup {
            if !saved.own_pid_ns {
                // Without a pid namespace of its own the init's exit did not
                // take the other processes along (runc kills them too).
                let _ = cg.kill_all(Signal::SIGKILL);
            }
            cg.destroy().map_err(Error::Cgroup)?;
        }
        fs::remove_dir_all(&dir.path).ctx(|| format!("remove {}", dir.path.display()))?;
        if let Some(h) = saved.hooks.as_ref().and_then(|h| h.poststop().clone()) {
            let st = OciState::new(&saved, Status::Stopped).to_json();
            for hook in &h {
                if let Err(e) = hooks::run("poststop", hook, &st) {
                    self.warn(&e.chain());
                }
            }
        }
        Ok(())
    }

    /// Kills every process of the container and waits until the init is gone.
    fn stop(&self, saved: &Saved) -> Result<()> {
        if saved.pid > 0 && saved.init_alive() {
            let pidfd = berth_sys::process::pidfd_open(saved.pid).ok();
            let _ = kill(Pid::from_raw(saved.pid), Signal::SIGKILL);
            if let Some(cg) = &saved.cgroup {
                let _ = cg.kill_all(Signal::SIGKILL);
            }
            if let Some(fd) = pidfd {
                let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
                let _ = poll(&mut fds, PollTimeout::from(10_000u16));
            }
        } else if let Some(cg) = &saved.cgroup {
            // Processes of an exec may outlive the init.
            let _ = cg.kill_all(Signal::SIGKILL);
        }
        Ok(())
    }

    /// Freezes every process of the container.
    pub fn pause(&self, id: &str) -> Result<()> {
        self.set_paused(id, true)
    }

    /// Thaws a paused container.
    pub fn resume(&self, id: &str) -> Result<()> {
        self.set_paused(id, false)
    }

    fn set_paused(&self, id: &str, pause: bool) -> Result<()> {
        let (dir, mut saved, status) = self.load(id)?;
        let want = if pause {
            Status::Running
        } else {
            Status::Paused
        };
        if status != want {
            return Err(Error::WrongState {
                id: id.to_string(),
                status: status.as_str(),
                op: if pause { "pause" } else { "resume" },
            });
        }
        let cg = saved.cgroup.clone().ok_or_else(|| {
            Error::Unsupported(format!("pausing container {id} without a cgroup"))
        })?;
        if pause {
            cg.freeze().map_err(Error::Cgroup)?;
        } else {
            cg.thaw().map_err(Error::Cgroup)?;
        }
        saved.paused = pause;
        dir.save(&saved)
    }

    /// Changes the cgroup limits of a created, running or paused container.
    pub fn update(&self, id: &str, resources: &oci_spec::runtime::LinuxResources) -> Result<()> {
        let (_, saved, status) = self.load(id)?;
        if status == Status::Stopped {
            return Err(Error::WrongState {
                id: id.to_string(),
                status: status.as_str(),
                op: "update",
            });
        }
        let cg = saved.cgroup.ok_or_else(|| {
            Error::Unsupported(format!("updating container {id} without a cgroup"))
        })?;
        cg.update(resources).map_err(Error::Cgroup)
    }

    /// The pids (as seen from the runtime) of every process in the container.
    pub fn ps(&self, id: &str) -> Result<Vec<i32>> {
        let (_, saved, _) = self.load(id)?;
        match &saved.cgroup {
            Some(cg) => cg.pids().map_err(Error::Cgroup),
            None => Ok(vec![saved.pid]),
        }
    }

    /// The state of every container in the state root.
    pub fn list(&self) -> Result<Vec<OciState>> {
        let mut out = Vec::new();
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e).ctx(|| format!("read {}", self.root.display())),
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Ok(st) = self.state(&name) {
                out.push(st);
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// The config.json the container was created with.
    pub(crate) fn saved_config(
        &self,
        id: &str,
    ) -> Result<(Saved, Status, oci_spec::runtime::Spec)> {
        let (dir, saved, status) = self.load(id)?;
        let spec = config::load_spec(&dir.config())?;
        Ok((saved, status, spec))
    }
}

/// A namespace that only a process's children enter (pid, time).
pub(crate) enum ChildNs<'a> {
    /// Join this one.
    Join(BorrowedFd<'a>, CloneFlags),
    /// A new time namespace with these `/proc/self/timens_offsets` lines.
    NewTime(&'a str),
}

/// Clones a child with `flags`, first entering `for_children` (setns of a
/// pid or time namespace changes where our children go, not ourselves) and
/// leaving them again in the parent right after.
pub(crate) fn clone_in(
    flags: CloneFlags,
    for_children: &[ChildNs<'_>],
    join: &mut Join,
) -> Result<Forked> {
    let mut restore: Vec<(OwnedFd, CloneFlags)> = Vec::new();
    let undo = |restore: &[(OwnedFd, CloneFlags)]| -> Result<()> {
        for (fd, flag) in restore {
            setns(fd.as_fd(), *flag).ctx(|| format!("setns back to the runtime's {flag:?}"))?;
        }
        Ok(())
    };
    let entered = (|| {
        for ns in for_children {
            let (flag, name) = match ns {
                ChildNs::Join(_, f) if *f == CloneFlags::CLONE_NEWPID => (*f, "pid"),
                ChildNs::Join(_, f) => (*f, "time"),
                ChildNs::NewTime(_) => (CLONE_NEWTIME, "time"),
            };
            let own: OwnedFd = fs::File::open(format!("/proc/self/ns/{name}"))
                .ctx(|| format!("open /proc/self/ns/{name}"))?
                .into();
            restore.push((own, flag));
            match ns {
                ChildNs::Join(fd, f) => setns(fd, *f).ctx(|| format!("setns {name}"))?,
                ChildNs::NewTime(offsets) => {
                    nix::sched::unshare(CLONE_NEWTIME).ctx(|| "unshare time".into())?;
                    fs::write("/proc/self/timens_offsets", offsets)
                        .ctx(|| "write /proc/self/timens_offsets".into())?;
                }
            }
        }
        Ok(())
    })();
    if let Err(e) = entered {
        undo(&restore)?;
        return Err(e);
    }
    let forked = match join.v2_dir() {
        Some(dir) => match berth_sys::process::clone_fork_into(flags.bits(), Some(dir)) {
            Ok(f) => {
                join.born_in_v2();
                Ok(f)
            }
            // No clone3, or a cgroup it refuses: clone as before, and the
            // runtime writes cgroup.procs (which reports a real problem).
            Err(_) => berth_sys::process::clone_fork(flags.bits()),
        },
        None => berth_sys::process::clone_fork(flags.bits()),
    };
    if !matches!(forked, Ok(Forked::Child)) {
        undo(&restore)?;
    }
    forked.ctx(|| "clone".into())
}

/// `CLONE_NEWTIME`, which nix does not name.
pub(crate) const CLONE_NEWTIME: CloneFlags = CloneFlags::from_bits_retain(0x80);

/// Clones the init into its new namespaces (and, where it can, its cgroup)
/// and runs it there. Returns its pid and what is left of `join` for the
/// runtime to do.
#[allow(clippy::too_many_arguments)]
fn spawn_init(
    plan: &Plan,
    chan: Channel,
    fifo: Option<OwnedFd>,
    console: Option<OwnedFd>,
    stdio: Option<[OwnedFd; 3]>,
    preserve_fds: u32,
    state: OciState,
    mut join: Join,
) -> Result<(i32, Join)> {
    let mut for_children = Vec::new();
    if let Some(j) = &plan.join_pid {
        for_children.push(ChildNs::Join(j.fd.as_fd(), CloneFlags::CLONE_NEWPID));
    }
    match &plan.time_ns {
        Some(config::TimeNs::Join(j)) => {
            for_children.push(ChildNs::Join(j.fd.as_fd(), CLONE_NEWTIME))
        }
        Some(config::TimeNs::New(offsets)) => for_children.push(ChildNs::NewTime(offsets)),
        None => {}
    }
    match clone_in(plan.clone_flags, &for_children, &mut join)? {
        Forked::Child => init::run(InitArgs {
            plan,
            chan,
            fifo,
            console,
            stdio,
            preserve_fds,
            state,
            join,
        }),
        Forked::Parent(pid) => Ok((pid, join)),
    }
}

/// The runtime's side of the init's setup: id maps, cgroup, hooks, and the
/// pty master if the init sends one.
fn setup_init(
    plan: &Plan,
    chan: &Channel,
    pid: i32,
    join: &Join,
    saved: &Saved,
    oci: &OciState,
    early_start: bool,
) -> Result<Option<OwnedFd>> {
    if plan.new_user_ns {
        if let Some(m) = &plan.gid_map {
            fs::write(format!("/proc/{pid}/gid_map"), m)
                .ctx(|| format!("write gid_map of {pid}"))?;
        }
        if let Some(m) = &plan.uid_map {
            fs::write(format!("/proc/{pid}/uid_map"), m)
                .ctx(|| format!("write uid_map of {pid}"))?;
        }
    }
    chan.send(b'G', pid.to_string().as_bytes(), None)?;
    join.apply_rest(pid)?;
    chan.send(b'A', b"", None)?;
    if early_start {
        chan.send(b'P', b"", None)?;
    }
    let mut master = None;
    loop {
        match chan.recv()? {
            Some((b'H', _, _)) => {
                let mut st = oci.clone();
                st.pid = pid;
                let st = st.to_json();
                if let Some(h) = &saved.hooks {
                    #[allow(deprecated)]
                    hooks::run_all("prestart", h.prestart().as_deref().unwrap_or_default(), &st)?;
                    hooks::run_all(
                        "createRuntime",
                        h.create_runtime().as_deref().unwrap_or_default(),
                        &st,
                    )?;
                }
                chan.send(b'C', b"", None)?;
            }
            Some((b'T', _, fd)) => master = fd,
            Some((b'S', _, Some(fd))) => {
                let mut st = oci.clone();
                st.pid = pid;
                st.status = Status::Creating.as_str().into();
                send_listener(plan.seccomp.as_ref(), fd, pid, &st)?;
            }
            Some((b'R', _, _)) => return Ok(master),
            Some((b'E', msg, _)) => {
                return Err(Error::Init(String::from_utf8_lossy(&msg).into_owned()))
            }
            Some((t, _, _)) => {
                return Err(Error::Init(format!("unexpected message {:?}", t as char)))
            }
            None => return Err(Error::Init("exited while setting up".into())),
        }
    }
}

/// Tells the init of a `run` to exec its program (unless `setup_init` did
/// already), and waits until it has: the init's end of the channel closes
/// on exec (or the init reports why it could not).
fn start_now(chan: &Channel, send: bool) -> Result<()> {
    if send {
        chan.send(b'P', b"", None)?;
    }
    match chan.recv()? {
        None => Ok(()),
        Some((b'E', msg, _)) => Err(Error::Init(String::from_utf8_lossy(&msg).into_owned())),
        Some((t, _, _)) => Err(Error::Init(format!("unexpected message {:?}", t as char))),
    }
}

/// Writes a pid file atomically (as runc: temporary name, then rename).
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_extension("berth-tmp");
    fs::write(&tmp, pid.to_string()).ctx(|| format!("write {}", tmp.display()))?;
    fs::rename(&tmp, path).ctx(|| format!("rename {} to {}", tmp.display(), path.display()))
}

/// Hands a seccomp listener to the agent at the profile's listenerPath.
pub fn send_listener(
    sc: Option<&config::SeccompPlan>,
    fd: OwnedFd,
    pid: i32,
    st: &OciState,
) -> Result<()> {
    let Some(profile) = sc.and_then(|s| s.notify.as_ref()) else {
        return Err(Error::Init(
            "sent a seccomp listener without a notify profile".into(),
        ));
    };
    let state: oci_spec::runtime::State =
        serde_json::from_str(&st.to_json()).map_err(|e| Error::Io {
            context: "encode the state for the seccomp agent".into(),
            source: e.into(),
        })?;
    crate::seccomp::send_to_agent(profile, fd.as_fd(), pid, &state).map_err(Error::Seccomp)
}
