//! Driving the OCI runtime: berth-runtime linked in (the default: no
//! second binary is executed on the hot path), or an external binary with
//! runc's command line (runc, crun) whose errors are read from its JSON log.

use std::fs::{self, File};
use std::io::{self, Read};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Errors from the runtime, with the runtime's own message when it gave one.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("run {runtime} {action}")]
    Spawn {
        runtime: PathBuf,
        action: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("runtime {action} failed: {msg}")]
    Failed { action: &'static str, msg: String },
    #[error("receive the console from the runtime at {path}")]
    Console {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("runtime {action}")]
    Builtin {
        action: &'static str,
        #[source]
        source: berth_runtime::Error,
    },
    #[error("read pid file {path}")]
    PidFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The child ends of a process's stdio (`None`: /dev/null).
#[derive(Default)]
pub(crate) struct ChildStdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

fn stdio(fd: Option<OwnedFd>) -> Stdio {
    fd.map_or_else(Stdio::null, Stdio::from)
}

/// A runtime reached through its command line.
pub(crate) struct External {
    path: PathBuf,
    root: PathBuf,
    /// The runtime's log, named through `log_file` (see [`External::new`]).
    log: PathBuf,
    log_file: File,
}

/// A listening socket the runtime connects to, to hand over a pty master.
pub(crate) struct ConsoleSocket {
    /// Where it is bound, relative to the shim's directory (its cwd).
    path: PathBuf,
    /// The name the runtime connects to (see [`ConsoleSocket::bind`]).
    runtime_path: PathBuf,
    listener: UnixListener,
    /// Keeps the directory open for a `/proc/<pid>/fd/<n>/` path.
    _dir: Option<File>,
}

impl ConsoleSocket {
    /// Bind `name` in the current directory. The runtime is told the
    /// absolute path, or, when that is too long for a sockaddr, a path
    /// through this process's open directory descriptor (a runtime may
    /// change directory, so a relative name would not do).
    pub(crate) fn bind(name: PathBuf) -> io::Result<Self> {
        use std::os::fd::AsRawFd;
        let _ = fs::remove_file(&name);
        let listener = UnixListener::bind(&name)?;
        listener.set_nonblocking(true)?;
        let abs = std::env::current_dir()?.join(&name);
        let (runtime_path, dir) = if abs.as_os_str().len() < 100 {
            (abs, None)
        } else {
            let d = File::open(".")?;
            let p = PathBuf::from(format!("/proc/{}/fd/{}", std::process::id(), d.as_raw_fd()))
                .join(&name);
            (p, Some(d))
        };
        Ok(Self {
            path: name,
            runtime_path,
            listener,
            _dir: dir,
        })
    }

    /// The master the runtime sent; call after the runtime command returned,
    /// so the connection is already queued.
    pub(crate) fn receive(self) -> Result<OwnedFd, Error> {
        let err = |source| Error::Console {
            path: self.path.clone(),
            source,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        let (conn, _) = loop {
            match self.listener.accept() {
                Ok(c) => break c,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(err(e)),
            }
        };
        conn.set_nonblocking(false).map_err(err)?;
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut cmsg = rustix::net::RecvAncillaryBuffer::new(&mut space);
        let mut name = [0u8; 4096];
        rustix::net::recvmsg(
            &conn,
            &mut [io::IoSliceMut::new(&mut name)],
            &mut cmsg,
            rustix::net::RecvFlags::CMSG_CLOEXEC,
        )
        .map_err(|e| err(e.into()))?;
        for msg in cmsg.drain() {
            if let rustix::net::RecvAncillaryMessage::ScmRights(mut fds) = msg {
                if let Some(fd) = fds.next() {
                    return Ok(fd);
                }
            }
        }
        Err(err(io::Error::new(
            io::ErrorKind::InvalidData,
            "no file descriptor in the message",
        )))
    }

    /// The path to give the runtime.
    pub(crate) fn runtime_path(&self) -> &Path {
        &self.runtime_path
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

pub(crate) fn read_pid(path: &Path) -> Result<i32, Error> {
    let err = |source| Error::PidFile {
        path: path.to_owned(),
        source,
    };
    let mut s = String::new();
    File::open(path)
        .and_then(|mut f| f.read_to_string(&mut s))
        .map_err(err)?;
    s.trim()
        .parse()
        .map_err(|_| err(io::Error::new(io::ErrorKind::InvalidData, "not a pid")))
}

impl External {
    /// Open the runtime's log at `log`. The runtime is given the name
    /// `/proc/<shim>/fd/<n>` of the open file: it still works after the
    /// engine removed the shim's directory, as it may remove an `--rm`
    /// container's while the shim deletes the runtime's state.
    pub(crate) fn new(path: PathBuf, root: PathBuf, log: &Path) -> io::Result<Self> {
        use std::os::fd::AsRawFd;
        let log_file = fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(log)?;
        let log = PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            log_file.as_raw_fd()
        ));
        Ok(Self {
            path,
            root,
            log,
            log_file,
        })
    }

    /// Empty the log, so the errors in it belong to the next call.
    fn clear_log(&self) {
        let _ = self.log_file.set_len(0);
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.path);
        c.arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(&self.log)
            .arg("--log-format")
            .arg("json");
        c
    }

    /// The last error the runtime logged, else its stderr, else its status.
    fn failure(
        &self,
        action: &'static str,
        stderr: &[u8],
        status: std::process::ExitStatus,
    ) -> Error {
        let from_log = fs::read(&self.log).ok().and_then(|data| {
            data.split(|&b| b == b'\n')
                .rev()
                .filter_map(|l| serde_json::from_slice::<serde_json::Value>(l).ok())
                .find(|v| v["level"] == "error" || v["level"] == "fatal")
                .and_then(|v| v["msg"].as_str().map(str::to_owned))
        });
        let msg = from_log
            .or_else(|| {
                let s = String::from_utf8_lossy(stderr).trim().to_owned();
                (!s.is_empty()).then_some(s)
            })
            .unwrap_or_else(|| format!("exited with {status}"));
        Error::Failed { action, msg }
    }

    fn run(&self, action: &'static str, mut c: Command) -> Result<(), Error> {
        self.clear_log();
        let out = c
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|source| Error::Spawn {
                runtime: self.path.clone(),
                action,
                source,
            })?;
        if out.status.success() {
            Ok(())
        } else {
            Err(self.failure(action, &out.stderr, out.status))
        }
    }

    /// Run a command whose stdio belongs to the container: the runtime's
    /// own error text then lands in the container's pipes, so only the log
    /// file and the status tell us what happened.
    fn run_with_stdio(
        &self,
        action: &'static str,
        mut c: Command,
        io: ChildStdio,
    ) -> Result<(), Error> {
        self.clear_log();
        c.stdin(stdio(io.stdin))
            .stdout(stdio(io.stdout))
            .stderr(stdio(io.stderr));
        let status = c.status().map_err(|source| Error::Spawn {
            runtime: self.path.clone(),
            action,
            source,
        });
        // Drop our copies of the child ends now, so EOF can arrive.
        drop(c);
        let status = status?;
        if status.success() {
            Ok(())
        } else {
            Err(self.failure(action, b"", status))
        }
    }

    pub(crate) fn create(
        &self,
        id: &str,
        bundle: &Path,
        pid_file: &Path,
        console: Option<&ConsoleSocket>,
        io: ChildStdio,
    ) -> Result<(), Error> {
        let mut c = self.cmd();
        c.arg("create")
            .arg("--bundle")
            .arg(bundle)
            .arg("--pid-file")
            .arg(pid_file);
        if let Some(cs) = console {
            c.arg("--console-socket").arg(cs.runtime_path());
        }
        c.arg(id);
        self.run_with_stdio("create", c, io)
    }

    pub(crate) fn exec(
        &self,
        id: &str,
        process: &Path,
        pid_file: &Path,
        console: Option<&ConsoleSocket>,
        io: ChildStdio,
    ) -> Result<(), Error> {
        let mut c = self.cmd();
        c.arg("exec")
            .arg("--detach")
            .arg("--process")
            .arg(process)
            .arg("--pid-file")
            .arg(pid_file);
        if let Some(cs) = console {
            c.arg("--console-socket").arg(cs.runtime_path());
        }
        c.arg(id);
        self.run_with_stdio("exec", c, io)
    }

    fn simple(&self, action: &'static str, args: &[&str], id: &str) -> Result<(), Error> {
        let mut c = self.cmd();
        c.args(args).arg(id);
        self.run(action, c)
    }

    pub(crate) fn start(&self, id: &str) -> Result<(), Error> {
        self.simple("start", &["start"], id)
    }

    pub(crate) fn delete(&self, id: &str) -> Result<(), Error> {
        self.simple("delete", &["delete", "--force"], id)
    }

    pub(crate) fn pause(&self, id: &str) -> Result<(), Error> {
        self.simple("pause", &["pause"], id)
    }

    pub(crate) fn resume(&self, id: &str) -> Result<(), Error> {
        self.simple("resume", &["resume"], id)
    }

    pub(crate) fn kill_all(&self, id: &str, signal: i32) -> Result<(), Error> {
        let mut c = self.cmd();
        c.args(["kill", "--all", id, &signal.to_string()]);
        self.run("kill", c)
    }

    /// Resource usage: the `data` of runc's `events --stats`.
    pub(crate) fn stats(&self, id: &str) -> Result<serde_json::Value, Error> {
        let mut c = self.cmd();
        c.args(["events", "--stats", id]);
        let out = c
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|source| Error::Spawn {
                runtime: self.path.clone(),
                action: "events",
                source,
            })?;
        if !out.status.success() {
            return Err(self.failure("events", &out.stderr, out.status));
        }
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).map_err(|e| Error::Failed {
                action: "events",
                msg: e.to_string(),
            })?;
        Ok(v.get("data").cloned().unwrap_or(v))
    }
}

/// The runtime a shim drives.
pub(crate) enum Runtime {
    Builtin(berth_runtime::Runtime),
    External(External),
}

fn builtin(action: &'static str) -> impl FnOnce(berth_runtime::Error) -> Error {
    move |source| Error::Builtin { action, source }
}

fn fds(io: ChildStdio) -> Result<[OwnedFd; 3], Error> {
    let null = |f: Option<OwnedFd>| -> Result<OwnedFd, Error> {
        match f {
            Some(f) => Ok(f),
            None => File::options()
                .read(true)
                .write(true)
                .open("/dev/null")
                .map(OwnedFd::from)
                .map_err(|source| Error::Spawn {
                    runtime: PathBuf::from("berth-runtime"),
                    action: "open /dev/null",
                    source,
                }),
        }
    };
    Ok([null(io.stdin)?, null(io.stdout)?, null(io.stderr)?])
}

/// Signals the shim keeps blocked (for its signalfd); they are unblocked
/// while the linked runtime forks, so the container does not inherit them
/// blocked.
pub(crate) fn blocked_signals() -> nix::sys::signal::SigSet {
    let mut mask = nix::sys::signal::SigSet::empty();
    mask.add(nix::sys::signal::Signal::SIGCHLD);
    mask
}

fn unblocked<T>(f: impl FnOnce() -> T) -> T {
    use nix::sys::signal::{sigprocmask, SigmaskHow};
    let mask = blocked_signals();
    let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&mask), None);
    let r = f();
    let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None);
    r
}

impl Runtime {
    /// Whether this runtime hands a pty master over a console socket (the
    /// linked one returns it directly).
    pub(crate) fn needs_console_socket(&self) -> bool {
        matches!(self, Runtime::External(_))
    }

    /// Create the container; returns its init's pid and, from the linked
    /// runtime, the pty master.
    pub(crate) fn create(
        &self,
        id: &str,
        bundle: &Path,
        pid_file: &Path,
        console: Option<&ConsoleSocket>,
        io: ChildStdio,
    ) -> Result<(i32, Option<OwnedFd>), Error> {
        match self {
            Runtime::External(x) => {
                x.create(id, bundle, pid_file, console, io)?;
                Ok((read_pid(pid_file)?, None))
            }
            Runtime::Builtin(rt) => {
                let mut opts = berth_runtime::CreateOptions::new(bundle);
                opts.stdio = Some(fds(io)?);
                let c = unblocked(|| rt.create(id, opts)).map_err(builtin("create"))?;
                Ok((c.pid, c.pty_master))
            }
        }
    }

    /// Start a process in the container; like `create`.
    pub(crate) fn exec(
        &self,
        id: &str,
        process: &serde_json::Value,
        spec_file: &Path,
        pid_file: &Path,
        console: Option<&ConsoleSocket>,
        io: ChildStdio,
    ) -> Result<(i32, Option<OwnedFd>), Error> {
        match self {
            Runtime::External(x) => {
                fs::write(spec_file, serde_json::to_vec(process).unwrap_or_default()).map_err(
                    |source| Error::Spawn {
                        runtime: x.path.clone(),
                        action: "write the exec process spec",
                        source,
                    },
                )?;
                let r = x.exec(id, spec_file, pid_file, console, io);
                let _ = fs::remove_file(spec_file);
                r?;
                let pid = read_pid(pid_file);
                let _ = fs::remove_file(pid_file);
                Ok((pid?, None))
            }
            Runtime::Builtin(rt) => {
                // runc runs a process without a user as root; oci-spec wants it.
                let mut process = process.clone();
                if process.get("user").is_none() {
                    process["user"] = serde_json::json!({"uid": 0, "gid": 0});
                }
                let process: oci_spec::runtime::Process =
                    serde_json::from_value(process).map_err(|e| Error::Failed {
                        action: "exec",
                        msg: format!("bad process: {e}"),
                    })?;
                let opts = berth_runtime::ExecOptions {
                    process,
                    pid_file: None,
                    console_socket: None,
                    preserve_fds: 0,
                    stdio: Some(fds(io)?),
                };
                let c = unblocked(|| rt.exec(id, opts)).map_err(builtin("exec"))?;
                Ok((c.pid, c.pty_master))
            }
        }
    }

    pub(crate) fn start(&self, id: &str) -> Result<(), Error> {
        match self {
            Runtime::External(x) => x.start(id),
            Runtime::Builtin(rt) => rt.start(id).map_err(builtin("start")),
        }
    }

    pub(crate) fn delete(&self, id: &str) -> Result<(), Error> {
        match self {
            Runtime::External(x) => x.delete(id),
            Runtime::Builtin(rt) => rt.delete(id, true).map_err(builtin("delete")),
        }
    }

    pub(crate) fn pause(&self, id: &str) -> Result<(), Error> {
        match self {
            Runtime::External(x) => x.pause(id),
            Runtime::Builtin(rt) => rt.pause(id).map_err(builtin("pause")),
        }
    }

    pub(crate) fn resume(&self, id: &str) -> Result<(), Error> {
        match self {
            Runtime::External(x) => x.resume(id),
            Runtime::Builtin(rt) => rt.resume(id).map_err(builtin("resume")),
        }
    }

    pub(crate) fn kill_all(&self, id: &str, signal: i32) -> Result<(), Error> {
        match self {
            Runtime::External(x) => x.kill_all(id, signal),
            Runtime::Builtin(rt) => {
                let sig =
                    nix::sys::signal::Signal::try_from(signal).map_err(|_| Error::Failed {
                        action: "kill",
                        msg: format!("invalid signal {signal}"),
                    })?;
                rt.kill(id, sig, true).map_err(builtin("kill"))
            }
        }
    }

    /// Resource usage (runc's `events --stats` data); the linked runtime
    /// leaves this to the engine, which reads the cgroup itself.
    pub(crate) fn stats(&self, id: &str) -> Result<serde_json::Value, Error> {
        match self {
            Runtime::External(x) => x.stats(id),
            Runtime::Builtin(_) => Err(Error::Failed {
                action: "stats",
                msg: "the engine reads the cgroup of a berth-runtime container".into(),
            }),
        }
    }
}
