//! Container commands: the `container` group and docker's top-level
//! shortcuts (ps, start, stop, kill, restart, pause, unpause, wait, rm,
//! logs, attach, exec, inspect, top, stats, rename, update, cp, export,
//! commit, diff, port, prune). `run` and `create` are in `run.rs`, the
//! terminal and stream handling in `stream.rs`.

use super::cp::CpArgs;
use super::image::{deleted_lines, filters_of, prune, query_filters, short_id};
use super::network::print_inspected;
use super::run::{self, Attach, CreateArgs, RunArgs};
use super::stream::{self, Output, RawMode, Session};
use super::system::{ellipsis, timestamp_arg};
use crate::format::units::{human_duration, human_size_prec};
use crate::format::{row, RowFormat};
use crate::{App, CliError};
use berth_api_types::container_cfg::{
    Change, ContainerSummary, ExecConfig, ExecInspect, ExecStart, IdResponse, PruneReport,
    TopResponse, UpdateConfig, UpdateResponse,
};
use berth_api_types::time::Timestamp;
use berth_client::{content_type, next_chunk, Error as ClientError, ReqBody};
use clap::{ArgAction, Args, Subcommand};
use hyper::Method;
use serde_json::Value;
use std::io::{IsTerminal, Write};

#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// Create and run a new container from an image
    #[command(disable_help_flag = true)]
    Run(RunArgs),
    /// Create a new container
    #[command(disable_help_flag = true)]
    Create(CreateArgs),
    /// List containers
    #[command(visible_aliases = ["ps", "list"])]
    Ls(PsArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Pause all processes within one or more containers
    Pause(NamesArgs),
    /// Unpause all processes within one or more containers
    Unpause(NamesArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(NamesArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Display detailed information on one or more containers
    Inspect(InspectArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(NameArg),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Remove all stopped containers
    Prune(PruneArgs),
}

pub async fn run(app: &App, c: ContainerCommand) -> Result<(), CliError> {
    match c {
        ContainerCommand::Run(a) => run::run_run(app, a).await,
        ContainerCommand::Create(a) => run::run_create(app, a).await,
        ContainerCommand::Ls(a) => run_ps(app, a).await,
        ContainerCommand::Start(a) => run_start(app, a).await,
        ContainerCommand::Stop(a) => run_stop(app, a, false).await,
        ContainerCommand::Restart(a) => run_stop(app, a, true).await,
        ContainerCommand::Kill(a) => run_kill(app, a).await,
        ContainerCommand::Pause(a) => run_simple(app, a, "pause").await,
        ContainerCommand::Unpause(a) => run_simple(app, a, "unpause").await,
        ContainerCommand::Wait(a) => run_wait(app, a).await,
        ContainerCommand::Rm(a) => run_rm(app, a).await,
        ContainerCommand::Logs(a) => run_logs(app, a).await,
        ContainerCommand::Attach(a) => run_attach(app, a).await,
        ContainerCommand::Exec(a) => run_exec(app, a).await,
        // `container inspect` looks at containers only.
        ContainerCommand::Inspect(mut a) => {
            a.kind.get_or_insert_with(|| "container".to_owned());
            run_inspect(app, a).await
        }
        ContainerCommand::Top(a) => run_top(app, a).await,
        ContainerCommand::Stats(a) => run_stats(app, a).await,
        ContainerCommand::Rename(a) => run_rename(app, a).await,
        ContainerCommand::Update(a) => run_update(app, a).await,
        ContainerCommand::Cp(a) => super::cp::run_cp(app, a).await,
        ContainerCommand::Export(a) => run_export(app, a).await,
        ContainerCommand::Commit(a) => run_commit(app, a).await,
        ContainerCommand::Diff(a) => run_diff(app, a).await,
        ContainerCommand::Port(a) => run_port(app, a).await,
        ContainerCommand::Prune(a) => run_prune(app, a).await,
    }
}

/// A POST with no body whose answer is empty.
async fn post(app: &App, path: &str, query: &[(&str, String)]) -> Result<(), ClientError> {
    app.client
        .send_json::<Value, ()>(Method::POST, path, query, None)
        .await
        .map(|_| ())
}

/// Runs `f` for each name, printing the name after each success and
/// collecting the errors (docker's exit 1 after trying them all).
async fn for_each<F, Fut>(app: &App, names: &[String], f: F) -> Result<(), CliError>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<(), ClientError>>,
{
    for_each_print(app, names, |n| {
        let done = f(n.clone());
        async move { done.await.map(|()| n) }
    })
    .await
}

/// Runs `f` for each name, printing the line it returns and collecting
/// the errors.
async fn for_each_print<F, Fut>(app: &App, names: &[String], f: F) -> Result<(), CliError>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<String, ClientError>>,
{
    let mut errors = Vec::new();
    for n in names {
        match f(n.clone()).await {
            Ok(line) => app.print(&format!("{line}\n"))?,
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::new(errors.join("\n")))
    }
}

#[derive(Debug, Args)]
pub struct NamesArgs {
    /// CONTAINER...
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NameArg {
    /// CONTAINER
    pub container: String,
}

async fn run_simple(app: &App, a: NamesArgs, action: &str) -> Result<(), CliError> {
    for_each(app, &a.containers, |n| async move {
        post(app, &format!("/containers/{n}/{action}"), &[]).await
    })
    .await
}

// ---- ps ----

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Filter output based on conditions provided
    #[arg(short, long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template: 'table', 'table TEMPLATE',
    /// 'json', or a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", default_value_t = -1, allow_hyphen_values = true)]
    pub last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short, long)]
    pub latest: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only display container IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Display total file sizes
    #[arg(short, long)]
    pub size: bool,
}

const PS_HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Status", "STATUS"),
    ("Ports", "PORTS"),
    ("Names", "NAMES"),
    ("Size", "SIZE"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("State", "STATE"),
    ("LocalVolumes", "LOCAL VOLUMES"),
    ("Platform", "PLATFORM"),
];

/// docker's port column: `0.0.0.0:8080->80/tcp, 53/udp`.
fn ports_text(c: &ContainerSummary) -> String {
    let mut ps = c.ports.clone();
    ps.sort_by(|a, b| (a.private_port, &a.r#type, &a.ip).cmp(&(b.private_port, &b.r#type, &b.ip)));
    let mut out: Vec<String> = Vec::new();
    for p in ps {
        let s = match p.public_port {
            Some(pub_port) if p.ip.contains(':') => {
                format!("[{}]:{pub_port}->{}/{}", p.ip, p.private_port, p.r#type)
            }
            Some(pub_port) => format!("{}:{pub_port}->{}/{}", p.ip, p.private_port, p.r#type),
            None => format!("{}/{}", p.private_port, p.r#type),
        };
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out.join(", ")
}

fn ps_row(c: &ContainerSummary, trunc: bool) -> Value {
    let names: Vec<String> = c
        .names
        .iter()
        .map(|n| n.trim_start_matches('/').to_owned())
        .filter(|n| !trunc || !n.contains('/'))
        .collect();
    let command = if trunc {
        ellipsis(&c.command, 20)
    } else {
        c.command.clone()
    };
    let image = if trunc && c.image.starts_with("sha256:") {
        short_id(&c.image)
    } else {
        c.image.clone()
    };
    // docker's: the rw size, and the virtual size when there is one.
    let rw = human_size_prec(c.size_rw.unwrap_or(0) as f64, 3);
    let size = match c.size_root_fs.filter(|r| *r > 0) {
        Some(root) => format!("{rw} (virtual {})", human_size_prec(root as f64, 3)),
        None => rw,
    };
    let labels: Vec<String> = c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mounts: Vec<String> = c
        .mounts
        .iter()
        .map(|m| {
            let n = if m.name.is_empty() {
                &m.source
            } else {
                &m.name
            };
            if trunc {
                ellipsis(n, 15)
            } else {
                n.clone()
            }
        })
        .collect();
    let networks: Vec<String> = c
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .map(|n| n.keys().cloned().collect())
        .unwrap_or_default();
    let local_volumes = c.mounts.iter().filter(|m| m.r#type == "volume").count();
    let mut v = row(&[
        ("ID", if trunc { short_id(&c.id) } else { c.id.clone() }),
        ("Image", image),
        ("Command", format!("{:?}", command)),
        (
            "CreatedAt",
            Timestamp {
                secs: c.created,
                nanos: 0,
            }
            .to_go_string(),
        ),
        (
            "RunningFor",
            format!("{} ago", human_duration(Timestamp::now().secs - c.created)),
        ),
        ("Status", c.status.clone()),
        ("State", c.state.clone()),
        ("Ports", ports_text(c)),
        ("Names", names.join(",")),
        ("Size", size),
        ("Labels", labels.join(",")),
        ("Mounts", mounts.join(",")),
        ("Networks", networks.join(",")),
        ("LocalVolumes", local_volumes.to_string()),
        ("Platform", String::new()),
    ]);
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "LabelMap".into(),
            serde_json::to_value(&c.labels).unwrap_or_default(),
        );
    }
    v
}

pub async fn run_ps(app: &App, a: PsArgs) -> Result<(), CliError> {
    let f = filters_of(&a.filter)?;
    let mut q = query_filters(&f);
    if a.all {
        q.push(("all", "1".into()));
    }
    if a.last > 0 {
        q.push(("limit", a.last.to_string()));
    }
    if a.latest {
        q.push(("limit", "1".into()));
    }
    let format = if a.quiet {
        "{{.ID}}".to_owned()
    } else {
        match a.format.filter(|f| !f.is_empty() && f != "table") {
            Some(f) => f,
            None => {
                let mut f = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}".to_owned();
                if a.size {
                    f.push_str("\t{{.Size}}");
                }
                f
            }
        }
    };
    if a.size || format.contains(".Size") {
        q.push(("size", "1".into()));
    }
    let list: Vec<ContainerSummary> = app.client.get_json("/containers/json", &q).await?;
    let rows: Vec<Value> = list.iter().map(|c| ps_row(c, !a.no_trunc)).collect();
    app.print(&RowFormat::new(&format, PS_HEADERS)?.render(&rows)?)
}

// ---- start / stop / restart / kill / wait / rm ----

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", default_value = "")]
    pub detach_keys: String,
    /// CONTAINER...
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// The parts of a container's inspect that attach needs.
async fn tty_and_stdin(app: &App, name: &str) -> Result<(String, bool, bool, bool), CliError> {
    let v: Value = app
        .client
        .get_json(&format!("/containers/{name}/json"), &[])
        .await?;
    let id = v["Id"].as_str().unwrap_or(name).to_owned();
    let tty = v["Config"]["Tty"].as_bool().unwrap_or(false);
    let open_stdin = v["Config"]["OpenStdin"].as_bool().unwrap_or(false);
    let auto_remove = v["HostConfig"]["AutoRemove"].as_bool().unwrap_or(false);
    Ok((id, tty, open_stdin, auto_remove))
}

pub async fn run_start(app: &App, a: StartArgs) -> Result<(), CliError> {
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            return Err(CliError::new(
                "you cannot start and attach multiple containers at once",
            ));
        }
        let (id, tty, open_stdin, auto_remove) = tty_and_stdin(app, &a.containers[0]).await?;
        let code = run::attach_and_start(
            app,
            &id,
            Attach {
                tty,
                stdout: true,
                stderr: true,
                stdin: a.interactive && open_stdin,
                detach_keys: a.detach_keys,
                sig_proxy: true,
                auto_remove,
                start: true,
            },
        )
        .await?;
        return run::exit_code(code);
    }
    for_each(app, &a.containers, |n| async move {
        post(app, &format!("/containers/{n}/start"), &[]).await
    })
    .await
    .map_err(|e| {
        CliError::new(format!(
            "{}\nError: failed to start containers: {}",
            e.message,
            a.containers.join(", ")
        ))
    })
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short, long)]
    pub signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(
        short,
        long = "time",
        visible_alias = "timeout",
        allow_hyphen_values = true
    )]
    pub time: Option<i64>,
    /// CONTAINER...
    #[arg(required = true)]
    pub containers: Vec<String>,
}

async fn run_stop(app: &App, a: StopArgs, restart: bool) -> Result<(), CliError> {
    let mut q = Vec::new();
    if let Some(t) = a.time {
        q.push(("t", t.to_string()));
    }
    if let Some(s) = &a.signal {
        q.push(("signal", s.clone()));
    }
    let action = if restart { "restart" } else { "stop" };
    let q = &q;
    for_each(app, &a.containers, |n| async move {
        post(app, &format!("/containers/{n}/{action}"), q).await
    })
    .await
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long, default_value = "")]
    pub signal: String,
    /// CONTAINER...
    #[arg(required = true)]
    pub containers: Vec<String>,
}

async fn run_kill(app: &App, a: KillArgs) -> Result<(), CliError> {
    let q = if a.signal.is_empty() {
        vec![]
    } else {
        vec![("signal", a.signal.clone())]
    };
    let q = &q;
    for_each(app, &a.containers, |n| async move {
        post(app, &format!("/containers/{n}/kill"), q).await
    })
    .await
}

async fn run_wait(app: &App, a: NamesArgs) -> Result<(), CliError> {
    for_each_print(app, &a.containers, |n| async move {
        let w: berth_api_types::container_cfg::WaitResponse = app
            .client
            .send_json(
                Method::POST,
                &format!("/containers/{n}/wait"),
                &[],
                None::<&()>,
            )
            .await?;
        Ok(w.status_code.to_string())
    })
    .await
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,
    /// Remove the specified link
    #[arg(short, long)]
    pub link: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    pub volumes: bool,
    /// CONTAINER...
    #[arg(required = true)]
    pub containers: Vec<String>,
}

async fn run_rm(app: &App, a: RmArgs) -> Result<(), CliError> {
    let mut q = Vec::new();
    if a.force {
        q.push(("force", "1".to_owned()));
    }
    if a.volumes {
        q.push(("v", "1".to_owned()));
    }
    if a.link {
        q.push(("link", "1".to_owned()));
    }
    let q = &q;
    for_each(app, &a.containers, |n| async move {
        app.client
            .send_json::<Value, ()>(Method::DELETE, &format!("/containers/{n}"), q, None)
            .await
            .map(|_| ())
    })
    .await
}

// ---- logs / attach / exec ----

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long)]
    pub since: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long)]
    pub until: Option<String>,
    /// CONTAINER
    pub container: String,
}

pub async fn run_logs(app: &App, a: LogsArgs) -> Result<(), CliError> {
    let mut q = vec![
        ("stdout", "1".to_owned()),
        ("stderr", "1".to_owned()),
        ("tail", a.tail.clone()),
    ];
    let flags = [
        ("follow", a.follow),
        ("timestamps", a.timestamps),
        ("details", a.details),
    ];
    for (k, on) in flags {
        if on {
            q.push((k, "1".to_owned()));
        }
    }
    if let Some(s) = &a.since {
        q.push(("since", timestamp_arg(s)));
    }
    if let Some(u) = &a.until {
        q.push(("until", timestamp_arg(u)));
    }
    let (_, tty, _, _) = tty_and_stdin(app, &a.container).await?;
    let resp = app
        .client
        .request(
            Method::GET,
            &format!("/containers/{}/logs", a.container),
            &q,
            ReqBody::Empty,
            &[],
        )
        .await?;
    // Framed unless the container has a tty (the content type says so
    // only from API 1.42 on), as docker's CLI decides from inspect.
    let raw = content_type(&resp) != "application/vnd.docker.multiplexed-stream" && tty;
    let mut out = Output::new(raw);
    let mut body = resp.into_body();
    while let Some(chunk) = next_chunk(&mut body).await? {
        out.write(&chunk)?;
        if out.closed() {
            break;
        }
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", default_value = "")]
    pub detach_keys: String,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub sig_proxy: bool,
    /// CONTAINER
    pub container: String,
}

pub async fn run_attach(app: &App, a: AttachArgs) -> Result<(), CliError> {
    let v: Value = app
        .client
        .get_json(&format!("/containers/{}/json", a.container), &[])
        .await?;
    if v["State"]["Running"].as_bool() != Some(true) {
        return Err(CliError::new(
            "You cannot attach to a stopped container, start it first",
        ));
    }
    if v["State"]["Paused"].as_bool() == Some(true) {
        return Err(CliError::new(
            "You cannot attach to a paused container, unpause it first",
        ));
    }
    let (id, tty, open_stdin, _) = tty_and_stdin(app, &a.container).await?;
    let code = run::attach_and_start(
        app,
        &id,
        Attach {
            tty,
            stdout: true,
            stderr: true,
            stdin: !a.no_stdin && open_stdin,
            detach_keys: a.detach_keys,
            sig_proxy: a.sig_proxy,
            auto_remove: false,
            start: false,
        },
    )
    .await?;
    run::exit_code(code)
}

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", default_value = "")]
    pub detach_keys: String,
    /// Set environment variables
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Print usage
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
    /// CONTAINER COMMAND [ARG...]
    #[arg(required = true, num_args = 2.., trailing_var_arg = true,
          value_name = "CONTAINER COMMAND [ARG...]")]
    pub args: Vec<String>,
}

pub async fn run_exec(app: &App, a: ExecArgs) -> Result<(), CliError> {
    let (container, cmd) = a
        .args
        .split_first()
        .ok_or_else(|| CliError::usage("\"exec\" requires at least 2 arguments."))?;
    if a.tty && a.interactive && !a.detach && !std::io::stdin().is_terminal() {
        return Err(CliError::new("the input device is not a TTY"));
    }
    let console_size = a.tty.then(stream::term_size).flatten().map(|(h, w)| [h, w]);
    let env = run::env_list(&a.env, &a.env_file)?;
    let cfg = ExecConfig {
        user: a.user.clone().unwrap_or_default(),
        privileged: a.privileged,
        tty: a.tty,
        console_size,
        attach_stdin: a.interactive && !a.detach,
        attach_stderr: !a.detach,
        attach_stdout: !a.detach,
        detach: a.detach,
        detach_keys: a.detach_keys.clone(),
        env: (!env.is_empty()).then_some(env),
        working_dir: a.workdir.clone().unwrap_or_default(),
        cmd: cmd.to_vec(),
    };
    let created: IdResponse = app
        .client
        .send_json(
            Method::POST,
            &format!("/containers/{container}/exec"),
            &[],
            Some(&cfg),
        )
        .await?;
    let id = created.id;
    let start = ExecStart {
        detach: a.detach,
        tty: a.tty,
        console_size,
    };
    let body = ReqBody::Full(
        serde_json::to_vec(&start)
            .map_err(|e| CliError::new(format!("encode: {e}")))?
            .into(),
    );
    let json_ct = [("content-type", "application/json")];
    if a.detach {
        app.client
            .request(
                Method::POST,
                &format!("/exec/{id}/start"),
                &[],
                body,
                &json_ct,
            )
            .await?;
        return Ok(());
    }
    let keys = stream::detach_keys(&a.detach_keys)?;
    // A process that cannot start: 126, as docker's exec.
    let (_, io) = app
        .client
        .upgrade(
            Method::POST,
            &format!("/exec/{id}/start"),
            &[],
            body,
            &json_ct,
        )
        .await
        .map_err(|e| CliError {
            code: 126,
            message: e.to_string(),
        })?;
    let raw = if a.tty && a.interactive {
        RawMode::enable()?
    } else {
        None
    };
    let _resize = a
        .tty
        .then(|| run::AbortOnDrop(stream::monitor_size(app, format!("/exec/{id}/resize"))));
    let ended = stream::pump(
        io,
        Session {
            tty: a.tty,
            stdin: a.interactive,
            detach_keys: keys,
        },
    )
    .await;
    drop(raw);
    if ended? == stream::Ended::Detached {
        return Ok(());
    }
    // The process may be reaped a moment after its output closes.
    for _ in 0..100 {
        let i: ExecInspect = app
            .client
            .get_json(&format!("/exec/{id}/json"), &[])
            .await?;
        if !i.running {
            return run::exit_code(i.exit_code.unwrap_or(0));
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    Err(CliError::new(format!(
        "exec {id} still running after its output closed"
    )))
}

// ---- inspect ----

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short, long)]
    pub format: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short, long)]
    pub size: bool,
    /// Return JSON for specified type
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// NAME|ID...
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// docker's `inspect`: each name as a container, then an image, network
/// or volume (or only the `--type` given).
pub async fn run_inspect(app: &App, a: InspectArgs) -> Result<(), CliError> {
    let kinds: &[&str] = match a.kind.as_deref() {
        None | Some("") => &["container", "image", "network", "volume"],
        Some("container") => &["container"],
        Some("image") => &["image"],
        Some("network") => &["network"],
        Some("volume") => &["volume"],
        Some(t) => {
            return Err(CliError::new(format!(
                "\"{t}\" is not a valid value for --type"
            )))
        }
    };
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &a.names {
        let mut hit = None;
        let mut last_err = None;
        for kind in kinds {
            let (path, q) = match *kind {
                "container" if a.size => (
                    format!("/containers/{name}/json"),
                    vec![("size", "1".to_owned())],
                ),
                "container" => (format!("/containers/{name}/json"), vec![]),
                "image" => (format!("/images/{name}/json"), vec![]),
                "network" => (format!("/networks/{name}"), vec![]),
                _ => (format!("/volumes/{name}"), vec![]),
            };
            match app.client.get_json::<Value>(&path, &q).await {
                Ok(v) => {
                    hit = Some(v);
                    break;
                }
                Err(e) if e.kind() == berth_base::ErrorKind::NotFound => last_err = Some(e),
                Err(e) => {
                    last_err = Some(e);
                    break;
                }
            }
        }
        match (hit, last_err) {
            (Some(v), _) => found.push(v),
            (None, Some(e)) if e.kind() != berth_base::ErrorKind::NotFound => {
                errors.push(e.to_string())
            }
            (None, _) if kinds.len() == 1 => {
                errors.push(format!("Error: No such {}: {name}", kinds[0]))
            }
            (None, _) => errors.push(format!("Error: No such object: {name}")),
        }
    }
    print_inspected(app, a.format.as_deref(), &found, errors)
}

// ---- top / stats ----

#[derive(Debug, Args)]
pub struct TopArgs {
    /// CONTAINER
    pub container: String,
    /// [ps OPTIONS]
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

pub async fn run_top(app: &App, a: TopArgs) -> Result<(), CliError> {
    let q = if a.ps_args.is_empty() {
        vec![]
    } else {
        vec![("ps_args", a.ps_args.join(" "))]
    };
    let t: TopResponse = app
        .client
        .get_json(&format!("/containers/{}/top", a.container), &q)
        .await?;
    let mut text = t.titles.join("\t");
    text.push('\n');
    for p in &t.processes {
        text.push_str(&p.join("\t"));
        text.push('\n');
    }
    app.print(&crate::format::tabwriter::TabWriter::TOP.format(&text))
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// [CONTAINER...]
    pub containers: Vec<String>,
}

const STATS_HEADERS: &[(&str, &str)] = &[
    ("Container", "CONTAINER"),
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

fn u64_at(v: &Value, path: &[&str]) -> f64 {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_f64().unwrap_or(0.0)
}

/// One row of `docker stats` from a stats sample, computed as docker's
/// CLI does (CPU from the delta to `precpu_stats`, memory without the
/// page cache).
fn stats_row(name: &str, id: &str, s: &Value, trunc: bool) -> Value {
    let cpu_delta = u64_at(s, &["cpu_stats", "cpu_usage", "total_usage"])
        - u64_at(s, &["precpu_stats", "cpu_usage", "total_usage"]);
    let sys_delta = u64_at(s, &["cpu_stats", "system_cpu_usage"])
        - u64_at(s, &["precpu_stats", "system_cpu_usage"]);
    let mut cpus = u64_at(s, &["cpu_stats", "online_cpus"]);
    if cpus == 0.0 {
        cpus = s["cpu_stats"]["cpu_usage"]["percpu_usage"]
            .as_array()
            .map_or(1.0, |a| a.len().max(1) as f64);
    }
    let cpu = if sys_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / sys_delta * cpus * 100.0
    } else {
        0.0
    };
    let stats = &s["memory_stats"]["stats"];
    let cache = ["total_inactive_file", "inactive_file"]
        .iter()
        .find_map(|k| stats[*k].as_f64())
        .unwrap_or(0.0);
    let usage = (u64_at(s, &["memory_stats", "usage"]) - cache).max(0.0);
    let limit = u64_at(s, &["memory_stats", "limit"]);
    let mem_perc = if limit > 0.0 {
        usage / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0.0, 0.0);
    if let Some(nets) = s["networks"].as_object() {
        for n in nets.values() {
            rx += n["rx_bytes"].as_f64().unwrap_or(0.0);
            tx += n["tx_bytes"].as_f64().unwrap_or(0.0);
        }
    }
    let (mut rd, mut wr) = (0.0, 0.0);
    if let Some(ios) = s["blkio_stats"]["io_service_bytes_recursive"].as_array() {
        for e in ios {
            match e["op"].as_str().map(str::to_ascii_lowercase).as_deref() {
                Some("read") => rd += e["value"].as_f64().unwrap_or(0.0),
                Some("write") => wr += e["value"].as_f64().unwrap_or(0.0),
                _ => {}
            }
        }
    }
    let hs = |x: f64| human_size_prec(x, 3);
    let bs = crate::format::units::bytes_size;
    row(&[
        ("Container", name.to_owned()),
        ("ID", if trunc { short_id(id) } else { id.to_owned() }),
        ("Name", name.trim_start_matches('/').to_owned()),
        ("CPUPerc", format!("{cpu:.2}%")),
        ("MemUsage", format!("{} / {}", bs(usage), bs(limit))),
        ("MemPerc", format!("{mem_perc:.2}%")),
        ("NetIO", format!("{} / {}", hs(rx), hs(tx))),
        ("BlockIO", format!("{} / {}", hs(rd), hs(wr))),
        (
            "PIDs",
            format!("{}", u64_at(s, &["pids_stats", "current"]) as u64),
        ),
    ])
}

/// `docker stats`: a stats stream per container (one sample each with
/// `--no-stream`); the table is redrawn every second from the latest
/// samples until interrupted.
pub async fn run_stats(app: &App, a: StatsArgs) -> Result<(), CliError> {
    let format = a
        .format
        .clone()
        .filter(|f| !f.is_empty() && f != "table")
        .unwrap_or_else(|| {
            "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}".into()
        });
    let fmt = RowFormat::new(&format, STATS_HEADERS)?;
    let names: Vec<String> = if a.containers.is_empty() {
        let q = if a.all {
            vec![("all", "1".to_owned())]
        } else {
            vec![]
        };
        let list: Vec<ContainerSummary> = app.client.get_json("/containers/json", &q).await?;
        list.into_iter().map(|c| c.id).collect()
    } else {
        a.containers.clone()
    };
    type Latest = std::sync::Arc<std::sync::Mutex<Vec<Option<Value>>>>;
    let latest: Latest = std::sync::Arc::new(std::sync::Mutex::new(vec![None; names.len()]));
    let mut tasks = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let client = app.client.clone();
        let latest = std::sync::Arc::clone(&latest);
        let path = format!("/containers/{n}/stats");
        let stream = if a.no_stream { "0" } else { "1" };
        tasks.push(tokio::spawn(async move {
            let resp = client
                .request(
                    Method::GET,
                    &path,
                    &[("stream", stream.to_owned())],
                    ReqBody::Empty,
                    &[],
                )
                .await?;
            berth_client::for_each_json_line(resp, |v: Value| {
                if let Ok(mut l) = latest.lock() {
                    l[i] = Some(v);
                }
                Ok(())
            })
            .await
        }));
    }
    let render = |latest: &Latest| -> Result<String, CliError> {
        let samples = latest
            .lock()
            .map_err(|_| CliError::new("stats: a reader panicked"))?
            .clone();
        let rows: Vec<Value> = names
            .iter()
            .zip(samples)
            .filter_map(|(n, s)| {
                let s = s?;
                let id = s["id"].as_str().unwrap_or(n).to_owned();
                let name = s["name"].as_str().unwrap_or(n).to_owned();
                Some(stats_row(&name, &id, &s, !a.no_trunc))
            })
            .collect();
        Ok(fmt.render(&rows)?)
    };
    if a.no_stream {
        let mut errors = Vec::new();
        for t in tasks {
            match t.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => errors.push(e.to_string()),
                Err(e) => errors.push(e.to_string()),
            }
        }
        if !errors.is_empty() {
            return Err(CliError::new(errors.join("\n")));
        }
        return app.print(&render(&latest)?);
    }
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        if tasks.iter().all(tokio::task::JoinHandle::is_finished) {
            for t in tasks {
                if let Ok(Err(e)) = t.await {
                    return Err(e.into());
                }
            }
            return Ok(());
        }
        if latest
            .lock()
            .map(|l| l.iter().all(Option::is_none))
            .unwrap_or(false)
        {
            continue;
        }
        // Clear the screen and draw from the top, as docker's.
        app.print(&format!("\x1b[2J\x1b[H{}", render(&latest)?))?;
    }
}

// ---- rename / update ----

#[derive(Debug, Args)]
pub struct RenameArgs {
    /// CONTAINER
    pub container: String,
    /// NEW_NAME
    pub new_name: String,
}

pub async fn run_rename(app: &App, a: RenameArgs) -> Result<(), CliError> {
    if a.new_name.trim().is_empty() {
        return Err(CliError::new(
            "Error: Neither old nor new names may be empty",
        ));
    }
    post(
        app,
        &format!("/containers/{}/rename", a.container),
        &[("name", a.new_name.clone())],
    )
    .await?;
    Ok(())
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long = "blkio-weight", default_value_t = 0)]
    pub blkio_weight: i64,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", default_value_t = 0)]
    pub cpu_period: i64,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", default_value_t = 0, allow_hyphen_values = true)]
    pub cpu_quota: i64,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", default_value_t = 0)]
    pub cpu_shares: i64,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", default_value = "")]
    pub cpuset_cpus: String,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", default_value = "")]
    pub cpuset_mems: String,
    /// Memory limit
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    /// CONTAINER...
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub async fn run_update(app: &App, a: UpdateArgs) -> Result<(), CliError> {
    let size = |s: &Option<String>| -> Result<i64, CliError> {
        match s.as_deref() {
            None => Ok(0),
            Some("-1") => Ok(-1),
            Some(v) => run::ram_in_bytes(v),
        }
    };
    let cfg = UpdateConfig {
        memory: size(&a.memory)?,
        memory_swap: size(&a.memory_swap)?,
        memory_reservation: size(&a.memory_reservation)?,
        nano_cpus: a.cpus.map_or(0, |c| (c * 1e9) as i64),
        cpu_shares: a.cpu_shares,
        cpu_period: a.cpu_period,
        cpu_quota: a.cpu_quota,
        cpuset_cpus: a.cpuset_cpus.clone(),
        cpuset_mems: a.cpuset_mems.clone(),
        pids_limit: a.pids_limit,
        blkio_weight: a.blkio_weight,
        restart_policy: a.restart.as_deref().map(run::restart_policy).transpose()?,
    };
    if cfg == UpdateConfig::default() {
        return Err(CliError::usage(
            "you must provide one or more flags when using this command",
        ));
    }
    let cfg = &cfg;
    for_each(app, &a.containers, |n| async move {
        let r: UpdateResponse = app
            .client
            .send_json(
                Method::POST,
                &format!("/containers/{n}/update"),
                &[],
                Some(cfg),
            )
            .await?;
        for w in r.warnings.iter().flatten() {
            eprintln!("{w}");
        }
        Ok(())
    })
    .await
}

// ---- export / commit / diff / port / prune ----

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    pub output: Option<String>,
    /// CONTAINER
    pub container: String,
}

/// Streams a response body to `-o FILE` or stdout (never to a terminal).
pub(crate) async fn save_body(
    resp: hyper::Response<hyper::body::Incoming>,
    output: Option<&str>,
) -> Result<(), CliError> {
    let mut out: Box<dyn Write> = match output {
        Some(p) => Box::new(
            std::fs::File::create(p).map_err(|e| CliError::new(format!("create {p}: {e}")))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut body = resp.into_body();
    while let Some(chunk) = next_chunk(&mut body).await? {
        out.write_all(&chunk)
            .map_err(|e| CliError::new(format!("write: {e}")))?;
    }
    out.flush()
        .map_err(|e| CliError::new(format!("write: {e}")))
}

pub async fn run_export(app: &App, a: ExportArgs) -> Result<(), CliError> {
    if a.output.is_none() && std::io::stdout().is_terminal() {
        return Err(CliError::new(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let resp = app
        .client
        .request(
            Method::GET,
            &format!("/containers/{}/export", a.container),
            &[],
            ReqBody::Empty,
            &[],
        )
        .await?;
    save_body(resp, a.output.as_deref()).await
}

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long)]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short, long)]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short, long, default_value_t = true, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub pause: bool,
    /// CONTAINER
    pub container: String,
    /// [REPOSITORY[:TAG]]
    pub reference: Option<String>,
}

pub async fn run_commit(app: &App, a: CommitArgs) -> Result<(), CliError> {
    let mut q = vec![
        ("container", a.container.clone()),
        ("pause", if a.pause { "1" } else { "0" }.to_owned()),
    ];
    if let Some(r) = &a.reference {
        let r =
            berth_base::reference::Reference::parse(r).map_err(|e| CliError::new(e.to_string()))?;
        q.push(("repo", r.name()));
        q.push(("tag", r.tag_or_latest().to_owned()));
    }
    if let Some(m) = &a.message {
        q.push(("comment", m.clone()));
    }
    if let Some(au) = &a.author {
        q.push(("author", au.clone()));
    }
    for c in &a.change {
        q.push(("changes", c.clone()));
    }
    let r: IdResponse = app
        .client
        .send_json(Method::POST, "/commit", &q, None::<&()>)
        .await?;
    app.print(&format!("{}\n", r.id))
}

async fn run_diff(app: &App, a: NameArg) -> Result<(), CliError> {
    let changes: Option<Vec<Change>> = app
        .client
        .get_json(&format!("/containers/{}/changes", a.container), &[])
        .await?;
    let mut s = String::new();
    for c in changes.unwrap_or_default() {
        let k = match c.kind {
            0 => 'C',
            1 => 'A',
            _ => 'D',
        };
        s.push_str(&format!("{k} {}\n", c.path));
    }
    app.print(&s)
}

#[derive(Debug, Args)]
pub struct PortArgs {
    /// CONTAINER
    pub container: String,
    /// [PRIVATE_PORT[/PROTO]]
    pub port: Option<String>,
}

async fn run_port(app: &App, a: PortArgs) -> Result<(), CliError> {
    let v: Value = app
        .client
        .get_json(&format!("/containers/{}/json", a.container), &[])
        .await?;
    let ports = v["NetworkSettings"]["Ports"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let want = a.port.as_ref().map(|p| {
        if p.contains('/') {
            p.clone()
        } else {
            format!("{p}/tcp")
        }
    });
    let mut keys: Vec<&String> = ports.keys().collect();
    keys.sort_by_key(|k| {
        let (n, proto) = k.split_once('/').unwrap_or((k, ""));
        (n.parse::<u32>().unwrap_or(0), proto.to_owned())
    });
    let mut out = String::new();
    for k in keys {
        if want.as_ref().is_some_and(|w| w != k) {
            continue;
        }
        for b in ports[k].as_array().into_iter().flatten() {
            let ip = b["HostIp"].as_str().unwrap_or("");
            let port = b["HostPort"].as_str().unwrap_or("");
            let host = if ip.contains(':') {
                format!("[{ip}]:{port}")
            } else {
                format!("{ip}:{port}")
            };
            if want.is_some() {
                out.push_str(&format!("{host}\n"));
            } else {
                out.push_str(&format!("{k} -> {host}\n"));
            }
        }
    }
    if out.is_empty() {
        if let Some(p) = &a.port {
            return Err(CliError::new(format!(
                "Error: No public port '{}' published for {}",
                want.as_deref().unwrap_or(p),
                a.container
            )));
        }
    }
    app.print(&out)
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

pub async fn run_prune(app: &App, a: PruneArgs) -> Result<(), CliError> {
    let f = filters_of(&a.filter)?;
    let warning = "WARNING! This will remove all stopped containers.";
    let Some(r) = prune::<PruneReport>(app, "/containers/prune", &f, a.force, warning).await?
    else {
        return Ok(());
    };
    let mut s = String::new();
    let deleted = r.containers_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        s.push_str(&deleted_lines("Deleted Containers:", &deleted));
        s.push('\n');
    }
    s.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size_prec(r.space_reclaimed as f64, 3)
    ));
    app.print(&s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api_types::container_cfg::Port;

    #[test]
    fn ps_rows_like_docker() {
        let c = ContainerSummary {
            id: "f34594d7002b0123456789abcdef0123456789abcdef0123456789abcdef0123".into(),
            names: vec!["/web".into(), "/other/link".into()],
            image: "busybox".into(),
            command: "sh -c while true; do sleep 1; done".into(),
            created: Timestamp::now().secs - 120,
            ports: vec![
                Port {
                    ip: "127.0.0.1".into(),
                    private_port: 80,
                    public_port: Some(8080),
                    r#type: "tcp".into(),
                },
                Port {
                    ip: "::".into(),
                    private_port: 80,
                    public_port: Some(8080),
                    r#type: "tcp".into(),
                },
                Port {
                    private_port: 53,
                    r#type: "udp".into(),
                    ..Default::default()
                },
            ],
            state: "running".into(),
            status: "Up 2 minutes".into(),
            size_rw: Some(0),
            ..Default::default()
        };
        let r = ps_row(&c, true);
        assert_eq!(r["ID"], "f34594d7002b");
        assert_eq!(r["Names"], "web");
        assert_eq!(r["Command"], "\"sh -c while true; d…\"");
        assert_eq!(r["RunningFor"], "2 minutes ago");
        assert_eq!(
            r["Ports"],
            "53/udp, 127.0.0.1:8080->80/tcp, [::]:8080->80/tcp"
        );
        assert_eq!(r["Size"], "0B");
        let r = ps_row(&c, false);
        assert_eq!(r["Names"], "web,other/link");
        assert_eq!(r["Command"], "\"sh -c while true; do sleep 1; done\"");
    }

    #[test]
    fn stats_compute_rates_like_docker() {
        let s: Value = serde_json::json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
            "memory_stats": {"usage": 2_097_152, "limit": 8_388_608, "stats": {"inactive_file": 1_048_576}},
            "pids_stats": {"current": 3},
        });
        let r = stats_row("/c", "0123456789abcdef", &s, true);
        assert_eq!(r["CPUPerc"], "40.00%");
        assert_eq!(r["MemUsage"], "1MiB / 8MiB");
        assert_eq!(r["MemPerc"], "12.50%");
        assert_eq!(r["PIDs"], "3");
        assert_eq!(r["Name"], "c");
        assert_eq!(r["ID"], "0123456789ab");
    }
}
