//! `berth-runtime`: runc's command line over the berth_runtime library.
//! Parses arguments, sets up the log, runs one command and turns its result
//! into an exit code (errors: message on stderr and, with --log, a log line).
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use berth_runtime::log::Logger;
use berth_runtime::{CreateOptions, Error, ExecOptions, Result, Runtime};
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "berth-runtime",
    version = concat!(env!("CARGO_PKG_VERSION"), "\nspec: 1.2.0"),
    about = "An OCI runtime with runc's command line"
)]
struct Cli {
    /// Where container state is kept.
    #[arg(long, global = true, default_value = berth_runtime::DEFAULT_ROOT)]
    root: PathBuf,
    /// Log file (default: stderr).
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Debug logging.
    #[arg(long, global = true)]
    debug: bool,
    /// Use systemd to manage cgroups (not supported).
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    /// Accepted for runc compatibility.
    #[arg(long, global = true, hide = true)]
    criu: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Table,
    Json,
}

#[derive(Args)]
struct CreateArgs {
    /// The bundle directory.
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// UNIX socket that receives the pty master.
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// File to write the init's pid to.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root.
    #[arg(long)]
    no_pivot: bool,
    /// Accepted for runc compatibility (no session keyring is created).
    #[arg(long)]
    no_new_keyring: bool,
    /// Pass this many descriptors (from 3) into the container.
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    /// The container id.
    id: String,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a container (it waits for `start`).
    Create(CreateArgs),
    /// Start a created container.
    Start { id: String },
    /// Print the OCI state of a container.
    State { id: String },
    /// Send a signal to a container.
    Kill {
        /// Signal every process in the container.
        #[arg(short, long)]
        all: bool,
        id: String,
        /// Name or number.
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a container.
    Delete {
        /// Kill it first if it runs.
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Create and start a container, and wait for it unless --detach.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Return once started.
        #[arg(short, long)]
        detach: bool,
        /// Keep the container after it exits.
        #[arg(long)]
        keep: bool,
    },
    /// Run a process in a running container.
    Exec(ExecArgs),
    /// Freeze a container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// List the processes of a container.
    Ps {
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        format: Format,
        id: String,
        /// Arguments for ps(1) (default -ef).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// List containers.
    List {
        /// Only ids.
        #[arg(short, long)]
        quiet: bool,
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Change the resource limits of a container.
    Update {
        /// LinuxResources JSON, from a file or `-` for stdin.
        #[arg(short, long)]
        resources: PathBuf,
        id: String,
    },
    /// Print the features this runtime supports (JSON).
    Features,
    /// Write a default config.json.
    Spec {
        /// Where to write it.
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// For a container run without root.
        #[arg(long)]
        rootless: bool,
    },
}

#[derive(Args)]
struct ExecArgs {
    /// process.json with the whole process.
    #[arg(short, long)]
    process: Option<PathBuf>,
    /// Allocate a terminal.
    #[arg(short, long)]
    tty: bool,
    /// Return once started.
    #[arg(short, long)]
    detach: bool,
    #[arg(long)]
    pid_file: Option<PathBuf>,
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// Working directory in the container.
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// Extra environment (KEY=VALUE).
    #[arg(short, long)]
    env: Vec<String>,
    /// uid[:gid].
    #[arg(short, long)]
    user: Option<String>,
    /// Extra groups.
    #[arg(short = 'g', long)]
    additional_gids: Vec<u32>,
    /// Extra capabilities.
    #[arg(short, long)]
    cap: Vec<String>,
    /// Set no_new_privs.
    #[arg(long)]
    no_new_privs: bool,
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    /// Accepted for runc compatibility (no AppArmor/SELinux here).
    #[arg(long, hide = true)]
    apparmor: Option<String>,
    #[arg(long, hide = true)]
    process_label: Option<String>,
    id: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log = match Logger::open(
        cli.log.as_deref(),
        cli.log_format == LogFormat::Json,
        cli.debug,
    ) {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "berth-runtime: open log {}: {e}",
                cli.log.unwrap_or_default().display()
            );
            return ExitCode::FAILURE;
        }
    };
    match run(cli, &log) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            let msg = e.chain();
            if log.has_file() {
                log.error(&msg);
            }
            eprintln!("berth-runtime: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli, log: &Logger) -> Result<i32> {
    if cli.systemd_cgroup {
        return Err(Error::Unsupported(
            "--systemd-cgroup (berth-runtime manages cgroupfs directly)".into(),
        ));
    }
    let rt = Runtime::new(&cli.root).with_log(log.clone());
    log.debug(&format!("root {}", cli.root.display()));
    match cli.cmd {
        Cmd::Create(a) => {
            let id = a.id.clone();
            let created = rt.create(&id, create_opts(a))?;
            if created.pty_master.is_some() {
                let _ = rt.delete(&id, true);
                return Err(Error::Invalid(
                    "process.terminal needs --console-socket when the runtime does not stay attached"
                        .into(),
                ));
            }
            Ok(0)
        }
        Cmd::Start { id } => rt.start(&id).map(|()| 0),
        Cmd::State { id } => {
            let st = rt.state(&id)?;
            print_json(&st);
            Ok(0)
        }
        Cmd::Kill { all, id, signal } => {
            let sig = berth_runtime::signals::parse(&signal)?;
            rt.kill(&id, sig, all).map(|()| 0)
        }
        Cmd::Delete { force, id } => rt.delete(&id, force).map(|()| 0),
        Cmd::Run {
            create,
            detach,
            keep,
        } => run_container(&rt, create, detach, keep),
        Cmd::Exec(a) => exec(&rt, a),
        Cmd::Pause { id } => rt.pause(&id).map(|()| 0),
        Cmd::Resume { id } => rt.resume(&id).map(|()| 0),
        Cmd::Ps {
            format,
            id,
            ps_args,
        } => ps(&rt, &id, format, ps_args),
        Cmd::List { quiet, format } => list(&rt, quiet, format),
        Cmd::Update { resources, id } => {
            let data = if resources == std::path::Path::new("-") {
                let mut v = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut v).map_err(|e| {
                    Error::Io {
                        context: "read resources from stdin".into(),
                        source: e,
                    }
                })?;
                v
            } else {
                std::fs::read(&resources).map_err(|e| Error::Config {
                    path: resources.clone(),
                    msg: format!("cannot read: {e}"),
                })?
            };
            let res: oci_spec::runtime::LinuxResources =
                serde_json::from_slice(&data).map_err(|e| Error::Config {
                    path: resources.clone(),
                    msg: e.to_string(),
                })?;
            rt.update(&id, &res).map(|()| 0)
        }
        Cmd::Features => {
            print_json(&berth_runtime::features::features());
            Ok(0)
        }
        Cmd::Spec { bundle, rootless } => {
            let path = bundle.join("config.json");
            if path.exists() {
                return Err(Error::Invalid(format!("{} already exists", path.display())));
            }
            let spec = berth_runtime::features::default_spec(rootless);
            let data = serde_json::to_vec_pretty(&spec).map_err(|e| Error::Io {
                context: "encode config.json".into(),
                source: e.into(),
            })?;
            std::fs::write(&path, data).map_err(|e| Error::Io {
                context: format!("write {}", path.display()),
                source: e,
            })?;
            Ok(0)
        }
    }
}

fn create_opts(a: CreateArgs) -> CreateOptions {
    let _ = a.no_new_keyring;
    CreateOptions {
        bundle: a.bundle,
        pid_file: a.pid_file,
        console_socket: a.console_socket,
        no_pivot: a.no_pivot,
        preserve_fds: a.preserve_fds,
        stdio: None,
    }
}

fn print_json<T: serde::Serialize>(v: &T) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut out, v);
    let _ = out.write_all(b"\n");
}

fn run_container(rt: &Runtime, a: CreateArgs, detach: bool, keep: bool) -> Result<i32> {
    let id = a.id.clone();
    if !detach {
        // Before the container exists, so that no signal meant for it is lost.
        berth_runtime::wait::block_signals()?;
        let created = rt.run(&id, create_opts(a))?;
        let code = berth_runtime::wait::wait(created.pid, created.pty_master)?;
        if !keep {
            rt.delete(&id, true)?;
        }
        return Ok(code);
    }
    // Detached: create first, to refuse a terminal nobody would read before
    // the program starts.
    let created = rt.create(&id, create_opts(a))?;
    if created.pty_master.is_some() {
        let _ = rt.delete(&id, true);
        return Err(Error::Invalid(
            "process.terminal with --detach needs --console-socket".into(),
        ));
    }
    if let Err(e) = rt.start(&id) {
        let _ = rt.delete(&id, true);
        return Err(e);
    }
    Ok(0)
}

fn exec(rt: &Runtime, a: ExecArgs) -> Result<i32> {
    let process = match &a.process {
        Some(p) => {
            let data = std::fs::read(p).map_err(|e| Error::Config {
                path: p.clone(),
                msg: format!("cannot read: {e}"),
            })?;
            serde_json::from_slice(&data).map_err(|e| Error::Config {
                path: p.clone(),
                msg: e.to_string(),
            })?
        }
        None => exec_process(rt, &a)?,
    };
    if !a.detach {
        berth_runtime::wait::block_signals()?;
    }
    let created = rt.exec(
        &a.id,
        ExecOptions {
            process,
            pid_file: a.pid_file.clone(),
            console_socket: a.console_socket.clone(),
            preserve_fds: a.preserve_fds,
            stdio: None,
        },
    )?;
    if a.detach {
        if created.pty_master.is_some() {
            return Err(Error::Invalid(
                "exec --tty --detach needs --console-socket".into(),
            ));
        }
        return Ok(0);
    }
    berth_runtime::wait::wait(created.pid, created.pty_master)
}

/// The process of an exec given on the command line: the container's own
/// process settings with the command, and the flags applied on top.
fn exec_process(rt: &Runtime, a: &ExecArgs) -> Result<oci_spec::runtime::Process> {
    if a.command.is_empty() {
        return Err(Error::Invalid("exec needs a command or --process".into()));
    }
    let mut p = rt.container_process(&a.id)?;
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    p.set_console_size(None);
    let mut env = p.env().clone().unwrap_or_default();
    for e in &a.env {
        let key = e.split('=').next().unwrap_or_default();
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    p.set_env(Some(env));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(u) = &a.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u.as_str(), None),
        };
        let parse = |s: &str| {
            s.parse::<u32>()
                .map_err(|_| Error::Invalid(format!("--user {u:?}: use uid[:gid] numbers")))
        };
        let user = p.user_mut();
        user.set_uid(parse(uid)?);
        user.set_gid(gid.map(parse).transpose()?.unwrap_or(0));
    }
    if !a.additional_gids.is_empty() {
        p.user_mut()
            .set_additional_gids(Some(a.additional_gids.clone()));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for c in &a.cap {
            let cap = berth_runtime::parse_capability(c)?;
            let add = |s: &Option<oci_spec::runtime::Capabilities>| {
                let mut s = s.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            let (b, e, pm) = (
                add(caps.bounding()),
                add(caps.effective()),
                add(caps.permitted()),
            );
            caps.set_bounding(b);
            caps.set_effective(e);
            caps.set_permitted(pm);
        }
        p.set_capabilities(Some(caps));
    }
    Ok(p)
}

fn ps(rt: &Runtime, id: &str, format: Format, args: Vec<String>) -> Result<i32> {
    let pids = rt.ps(id)?;
    if format == Format::Json {
        print_json(&pids);
        return Ok(0);
    }
    let args = if args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        args
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| Error::Io {
            context: "run ps".into(),
            source: e,
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| Error::Invalid("ps output has no PID column".into()))?;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{header}");
    for l in lines {
        let pid = l
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            let _ = writeln!(stdout, "{l}");
        }
    }
    Ok(0)
}

fn list(rt: &Runtime, quiet: bool, format: Format) -> Result<i32> {
    let all = rt.list()?;
    let mut out = std::io::stdout().lock();
    if quiet {
        for s in &all {
            let _ = writeln!(out, "{}", s.id);
        }
        return Ok(0);
    }
    if format == Format::Json {
        drop(out);
        print_json(&all);
        return Ok(0);
    }
    let _ = writeln!(
        out,
        "{:<12} {:<8} {:<10} {:<40} {:<30} OWNER",
        "ID", "PID", "STATUS", "BUNDLE", "CREATED"
    );
    for s in &all {
        let _ = writeln!(
            out,
            "{:<12} {:<8} {:<10} {:<40} {:<30} {}",
            s.id,
            s.pid,
            s.status,
            s.bundle.display(),
            s.created,
            s.owner
        );
    }
    Ok(0)
}
