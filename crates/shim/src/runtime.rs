//! Driving the OCI runtime. The external form runs a binary with runc's
//! command line (runc, crun, berth-runtime); its errors are read from the
//! runtime's JSON log so they can be reported to the user.

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
    log: PathBuf,
}

/// A listening socket the runtime connects to, to hand over a pty master.
pub(crate) struct ConsoleSocket {
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    pub(crate) fn bind(path: PathBuf) -> io::Result<Self> {
        let _ = fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        listener.set_nonblocking(true)?;
        Ok(Self { path, listener })
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

    pub(crate) fn path(&self) -> &Path {
        &self.path
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
    pub(crate) fn new(path: PathBuf, root: PathBuf, log: PathBuf) -> Self {
        Self { path, root, log }
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
        // Start each call with an empty log so errors belong to this call.
        let _ = fs::remove_file(&self.log);
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
        let _ = fs::remove_file(&self.log);
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
            c.arg("--console-socket").arg(cs.path());
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
            c.arg("--console-socket").arg(cs.path());
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
