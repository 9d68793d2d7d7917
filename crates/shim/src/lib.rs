//! berth-shim: one per container. Holds the container's stdio, writes its
//! json-file log, reaps it, records its exit status, carries out its restart
//! policy, and answers the engine on a UNIX control socket (see
//! berth-shim-proto). Single-threaded, no async runtime: one poll loop.
//!
//! Start-up is a fork so the shim is not the daemon's child: the engine's
//! `berth-shim zygote` forks each shim on request, and `berth-shim start
//! <dir>` (the fallback, run by the engine with stdout a pipe) forks the
//! shim and exits at once (`berth-shim run <dir>` is the same shim in the
//! foreground). The forked process makes a new session, becomes a child
//! subreaper (so it reaps the container's init when the runtime's create
//! process exits), starts the container, writes one JSON answer line on
//! the inherited pipe, and closes it.
#![forbid(unsafe_code)]

mod logfile;
mod oom;
mod proc;
mod runtime;
mod server;

use berth_shim_proto::{
    encode_response, ErrorCode, Response, ShimConfig, SpecSummary, CONFIG_NAME,
};
use nix::sys::signal::SigmaskHow;
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

/// Errors of the shim.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("read shim config {path}")]
    Config {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("parse shim config {path}: {msg}")]
    ConfigParse { path: PathBuf, msg: String },
    #[error("{what}")]
    Io {
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{call}")]
    Sys {
        call: String,
        #[source]
        source: nix::errno::Errno,
    },
    #[error(transparent)]
    Runtime(#[from] runtime::Error),
}

impl Error {
    /// The class of failure, for the engine's status codes. A command that
    /// cannot be run is the user's mistake (docker answers 400 or 404).
    pub fn code(&self) -> ErrorCode {
        let text = error_chain(self);
        if text.contains("executable file not found")
            || text.contains("no such executable")
            || text.contains("no such file or directory")
            || text.contains("No such file or directory")
            || text.contains("permission denied")
            || text.contains("Permission denied")
        {
            return ErrorCode::Invalid;
        }
        match self {
            Error::Runtime(runtime::Error::Builtin { source, .. }) => match source.kind() {
                berth_base::ErrorKind::NotFound => ErrorCode::NotFound,
                berth_base::ErrorKind::Invalid => ErrorCode::Invalid,
                berth_base::ErrorKind::Conflict => ErrorCode::Conflict,
                _ => ErrorCode::Internal,
            },
            _ => ErrorCode::Internal,
        }
    }
}

/// `berth-shim start <dir>`: fork the real shim and return at once. Its
/// stdout (the engine's pipe) is passed on.
/// A fork, not a second exec of this binary: the start path of every
/// container saves loading and relocating the program once more.
pub fn launch(dir: &Path) -> io::Result<()> {
    // Single-threaded here (nothing has started a thread), as a fork needs.
    match berth_sys::process::clone_fork(0)? {
        berth_sys::process::Forked::Parent(_) => Ok(()),
        berth_sys::process::Forked::Child => std::process::exit(shim_main(dir)),
    }
}

/// The forked shim: stderr to `<dir>/shim.log`, `dir` as its working
/// directory, then [`run`]. Returns its exit code.
fn shim_main(dir: &Path) -> i32 {
    let ready = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("shim.log"))
        .and_then(|log| nix::unistd::dup2(log.as_raw_fd(), 2).map_err(io::Error::from))
        .and_then(|_| std::env::set_current_dir(dir));
    match ready {
        Ok(()) => run(dir),
        Err(e) => {
            eprintln!("berth-shim: prepare the shim in {}: {e}", dir.display());
            1
        }
    }
}

/// `berth-shim zygote`: fork the shim of each request on stdin (see
/// [`berth_shim_proto::zygote`]) until the engine closes its end, with the
/// request's pipe as the shim's stdout. One fork, straight to the shim:
/// the kernel reaps the shims (SIGCHLD ignored here), so the zygote never
/// waits, and a shim outliving its zygote goes to PID 1 as before.
pub fn zygote() -> i32 {
    if let Err(e) = berth_sys::process::reap_children_automatically(true) {
        eprintln!("berth-shim zygote: ignore SIGCHLD: {e}");
        return 1;
    }
    let stdin = io::stdin();
    loop {
        let (dir, answer) = match berth_shim_proto::zygote::recv(stdin.as_fd()) {
            Ok(Some(req)) => req,
            Ok(None) => return 0,
            Err(e) => {
                eprintln!("berth-shim zygote: {e}");
                return 1;
            }
        };
        match berth_sys::process::clone_fork(0) {
            Ok(berth_sys::process::Forked::Parent(_)) => drop(answer),
            Ok(berth_sys::process::Forked::Child) => {
                // Only the pipe may reach the shim: a second copy of its
                // write end would keep the engine reading after the answer.
                // The shim reaps its container, so SIGCHLD is its again.
                let ready = berth_sys::process::reap_children_automatically(false)
                    .and_then(|()| File::open("/dev/null"))
                    .and_then(|null| {
                        nix::unistd::dup2(null.as_raw_fd(), 0)?;
                        nix::unistd::dup2(answer.as_raw_fd(), 1)?;
                        Ok(())
                    });
                drop(answer);
                let code = match ready {
                    Ok(()) => shim_main(&dir),
                    Err(e) => {
                        eprintln!("berth-shim: start shim in {}: {e}", dir.display());
                        1
                    }
                };
                std::process::exit(code)
            }
            Err(e) => eprintln!("berth-shim zygote: fork for {}: {e}", dir.display()),
        }
    }
}

fn sys(call: impl Into<String>) -> impl FnOnce(nix::errno::Errno) -> Error {
    let call = call.into();
    move |source| Error::Sys { call, source }
}

fn load_config(dir: &Path) -> Result<ShimConfig, Error> {
    let path = dir.join(CONFIG_NAME);
    let data = std::fs::read(&path).map_err(|source| Error::Config {
        path: path.clone(),
        source,
    })?;
    serde_json::from_slice(&data).map_err(|e| Error::ConfigParse {
        path,
        msg: e.to_string(),
    })
}

/// What the shim needs of the bundle's spec: as the engine wrote it in
/// the shim's config, else read from config.json.
fn spec_summary(cfg: &ShimConfig) -> Result<SpecSummary, Error> {
    if let Some(s) = &cfg.spec {
        return Ok(s.clone());
    }
    let path = cfg.bundle.join("config.json");
    let data = std::fs::read(&path).map_err(|source| Error::Config {
        path: path.clone(),
        source,
    })?;
    let spec: serde_json::Value =
        serde_json::from_slice(&data).map_err(|e| Error::ConfigParse {
            path,
            msg: e.to_string(),
        })?;
    Ok(SpecSummary {
        root: spec["root"]["path"].as_str().unwrap_or("rootfs").into(),
        cgroups_path: spec["linux"]["cgroupsPath"].as_str().map(str::to_owned),
    })
}

/// Mount the container's root filesystem at `root` (the spec's root path)
/// in a mount namespace of the shim's own: the mount disappears with the
/// shim and never shows on the host.
fn mount_rootfs(cfg: &ShimConfig, root: &Path) -> Result<(), Error> {
    use nix::mount::{mount, MsFlags};
    if cfg.rootfs.is_empty() {
        return Ok(());
    }
    let target = cfg.bundle.join(root);
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(sys("unshare mount namespace"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .map_err(sys("make / rslave"))?;
    for m in &cfg.rootfs {
        let mut flags = MsFlags::empty();
        let mut data = Vec::new();
        for o in &m.options {
            match o.as_str() {
                "ro" => flags |= MsFlags::MS_RDONLY,
                "bind" => flags |= MsFlags::MS_BIND,
                "rbind" => flags |= MsFlags::MS_BIND | MsFlags::MS_REC,
                "rw" => {}
                other => data.push(other),
            }
        }
        let data = data.join(",");
        mount(
            Some(m.source.as_str()),
            &target,
            Some(m.kind.as_str()),
            flags,
            (!data.is_empty()).then_some(data.as_str()),
        )
        .map_err(sys(format!("mount {} on {}", m.kind, target.display())))?;
    }
    Ok(())
}

/// Everything before the container runs; the answer goes to the engine.
fn setup(dir: &Path) -> Result<server::Shim, Error> {
    let dir = &std::fs::canonicalize(dir).map_err(|source| Error::Io {
        what: "find the shim directory",
        source,
    })?;
    nix::unistd::setsid().map_err(sys("setsid"))?;
    nix::sys::prctl::set_child_subreaper(true).map_err(sys("prctl PR_SET_CHILD_SUBREAPER"))?;
    // SIGTERM, SIGINT and SIGHUP keep their default action: the shim has
    // its own session, so only a deliberate signal reaches it.
    let mask = runtime::blocked_signals();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)
        .map_err(sys("sigprocmask"))?;
    let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(sys("signalfd"))?;
    let cfg = load_config(dir)?;
    let spec = spec_summary(&cfg)?;
    mount_rootfs(&cfg, &spec.root)?;
    let sock = berth_shim_proto::socket_path(dir);
    let _ = std::fs::remove_file(&sock);
    // Bound by its relative name in the shim's directory (the working
    // directory), as a full path may not fit in a sockaddr.
    std::env::set_current_dir(dir).map_err(|source| Error::Io {
        what: "enter the shim directory",
        source,
    })?;
    let listener =
        UnixListener::bind(berth_shim_proto::SOCKET_NAME).map_err(|source| Error::Io {
            what: "bind the shim socket",
            source,
        })?;
    listener.set_nonblocking(true).map_err(|source| Error::Io {
        what: "set up the shim socket",
        source,
    })?;
    let log = match &cfg.log {
        Some(l) => Some(logfile::LogFile::open(l).map_err(|source| Error::Io {
            what: "open the container log",
            source,
        })?),
        None => None,
    };
    let rt = match &cfg.runtime {
        berth_shim_proto::RuntimeKind::External { path, root } => runtime::Runtime::External(
            runtime::External::new(path.clone(), root.clone(), &dir.join("runtime.log")).map_err(
                |source| Error::Io {
                    what: "open the runtime log",
                    source,
                },
            )?,
        ),
        berth_shim_proto::RuntimeKind::Builtin { root } => {
            runtime::Runtime::Builtin(berth_runtime::Runtime::new(root))
        }
    };
    let mut shim = server::Shim::new(
        cfg,
        spec.cgroups_path,
        dir.to_owned(),
        rt,
        listener,
        sigfd,
        log,
    );
    if let Err(e) = shim.start_container() {
        let _ = std::fs::remove_file(&sock);
        return Err(e);
    }
    Ok(shim)
}

/// `berth-shim run <dir>`: start the container, answer on stdout, then
/// serve until the container has stopped for good. Returns the exit code.
pub fn run(dir: &Path) -> i32 {
    let answer = match setup(dir) {
        Ok(shim) => Ok(shim),
        Err(e) => Err(Response::err(e.code(), error_chain(&e))),
    };
    let line = match &answer {
        Ok(shim) => encode_response(&Response {
            state: Some(shim.state()),
            ..Response::default()
        }),
        Err(r) => encode_response(r),
    };
    let mut out = io::stdout().lock();
    let _ = out.write_all(&line);
    let _ = out.flush();
    drop(out);
    // Close the engine's pipe so it sees EOF after the answer.
    if let Ok(null) = File::open("/dev/null") {
        let _ = nix::unistd::dup2(null.as_raw_fd(), 1);
    }
    match answer {
        Ok(shim) => {
            shim.run();
            0
        }
        Err(_) => 1,
    }
}

/// The error and its causes on one line, as binaries print them.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
