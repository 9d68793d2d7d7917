//! berth: docker's commands and flags, over HTTP to berthd.
//!
//! # Adding commands (extension points)
//!
//! One file per command group under `cmd/` (`image.rs`, `system.rs`; the
//! containers work adds `container.rs`, then `network.rs`, `volume.rs`).
//! A group defines clap `Args` structs and one `async fn run_*(app: &App,
//! args) -> Result<(), CliError>` per command. To add one:
//! 1. write the args and the function in the group's file;
//! 2. add a variant to [`Command`] (and to the group's subcommand enum
//!    for `berth <group> <cmd>`; docker's top-level shortcuts such as
//!    `berth ps` are plain variants that reuse the same args);
//! 3. add its arm to `dispatch`.
//!
//! Output goes through `format::RowFormat` for tables, templates and JSON
//! (docker's `--format`), `progress::ProgressPrinter` for progress
//! streams, and [`App::print`]. Errors are [`CliError`]s with docker's
//! exit codes: 1 for daemon and general errors, 125 for usage errors (and
//! `run` failures before the container starts).
#![forbid(unsafe_code)]

pub mod cmd;
pub mod format;
pub mod progress;

use berth_client::{Client, Host, TlsFiles};
use clap::{CommandFactory, Parser, Subcommand};
use std::io::Write;
use std::process::ExitCode;

/// berth's command line (docker's global options).
#[derive(Debug, Parser)]
#[command(
    name = "berth",
    about = "A self-sufficient runtime for containers",
    // `berth -v` prints `berth version 0.1.0`, as `docker -v` does.
    version = concat!("version ", env!("CARGO_PKG_VERSION")),
    disable_version_flag = true,
    disable_help_subcommand = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// Daemon socket to connect to (default $BERTH_HOST, $DOCKER_HOST, or
    /// unix:///run/berth/berth.sock)
    #[arg(short = 'H', long = "host")]
    pub host: Option<String>,
    /// Enable debug mode
    #[arg(short = 'D', long)]
    pub debug: bool,
    /// Set the logging level ("debug", "info", "warn", "error", "fatal")
    #[arg(short = 'l', long = "log-level", default_value = "info")]
    pub log_level: String,
    /// Use TLS and verify the remote (also $DOCKER_TLS_VERIFY)
    #[arg(long)]
    pub tlsverify: bool,
    /// Trust certs signed only by this CA (default $DOCKER_CERT_PATH/ca.pem)
    #[arg(long)]
    pub tlscacert: Option<std::path::PathBuf>,
    /// Path to TLS certificate file (default $DOCKER_CERT_PATH/cert.pem)
    #[arg(long)]
    pub tlscert: Option<std::path::PathBuf>,
    /// Path to TLS key file (default $DOCKER_CERT_PATH/key.pem)
    #[arg(long)]
    pub tlskey: Option<std::path::PathBuf>,
    /// Print version information and quit
    #[arg(short = 'v', long = "version", action = clap::ArgAction::Version)]
    pub version: Option<bool>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List images
    Images(Lazy<cmd::image::ListArgs>),
    /// Manage images
    #[command(subcommand, arg_required_else_help = true)]
    Image(Lazy<cmd::image::ImageCommand>),
    /// Remove one or more images
    Rmi(Lazy<cmd::image::RemoveArgs>),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(Lazy<cmd::image::TagArgs>),
    /// Load an image from a tar archive or STDIN
    Load(Lazy<cmd::image::LoadArgs>),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(Lazy<cmd::image::SaveArgs>),
    /// Import the contents from a tarball to create a filesystem image
    Import(Lazy<cmd::image::ImportArgs>),
    /// Show the history of an image
    History(Lazy<cmd::image::HistoryArgs>),
    /// Manage berth
    #[command(subcommand, arg_required_else_help = true)]
    System(Lazy<cmd::system::SystemCommand>),
    /// Manage networks
    #[command(subcommand)]
    Network(Lazy<cmd::network::NetworkCommand>),
    /// Manage volumes
    #[command(subcommand)]
    Volume(Lazy<cmd::volume::VolumeCommand>),
    /// Show the berth version information
    Version(Lazy<cmd::system::VersionArgs>),
    /// Display system-wide information
    Info(Lazy<cmd::system::InfoArgs>),
    /// Get real time events from the server
    Events(Lazy<cmd::system::EventsArgs>),
    /// Manage containers
    #[command(subcommand, arg_required_else_help = true)]
    Container(Lazy<cmd::container::ContainerCommand>),
    /// Create and run a new container from an image
    #[command(disable_help_flag = true)]
    Run(Lazy<cmd::run::RunArgs>),
    /// Create a new container
    #[command(disable_help_flag = true)]
    Create(Lazy<cmd::run::CreateArgs>),
    /// Start one or more stopped containers
    Start(Lazy<cmd::container::StartArgs>),
    /// Stop one or more running containers
    Stop(Lazy<cmd::container::StopArgs>),
    /// Restart one or more containers
    Restart(Lazy<cmd::container::StopArgs>),
    /// Kill one or more running containers
    Kill(Lazy<cmd::container::KillArgs>),
    /// Pause all processes within one or more containers
    Pause(Lazy<cmd::container::NamesArgs>),
    /// Unpause all processes within one or more containers
    Unpause(Lazy<cmd::container::NamesArgs>),
    /// Remove one or more containers
    Rm(Lazy<cmd::container::RmArgs>),
    /// List containers
    Ps(Lazy<cmd::container::PsArgs>),
    /// Fetch the logs of a container
    Logs(Lazy<cmd::container::LogsArgs>),
    /// Attach local standard input, output, and error streams to a running container
    Attach(Lazy<cmd::container::AttachArgs>),
    /// Execute a command in a running container
    #[command(disable_help_flag = true)]
    Exec(Lazy<cmd::container::ExecArgs>),
    /// Block until one or more containers stop, then print their exit codes
    Wait(Lazy<cmd::container::NamesArgs>),
    /// Rename a container
    Rename(Lazy<cmd::container::RenameArgs>),
    /// Return low-level information on berth objects
    Inspect(Lazy<cmd::container::InspectArgs>),
    /// Display the running processes of a container
    Top(Lazy<cmd::container::TopArgs>),
    /// Display a live stream of container(s) resource usage statistics
    Stats(Lazy<cmd::container::StatsArgs>),
    /// Update configuration of one or more containers
    Update(Lazy<cmd::container::UpdateArgs>),
    /// Copy files/folders between a container and the local filesystem
    Cp(Lazy<cmd::cp::CpArgs>),
    /// Export a container's filesystem as a tar archive
    Export(Lazy<cmd::container::ExportArgs>),
    /// Create a new image from a container's changes
    Commit(Lazy<cmd::container::CommitArgs>),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(Lazy<cmd::container::NameArg>),
    /// List port mappings or a specific mapping for the container
    Port(Lazy<cmd::container::PortArgs>),
    /// Print a shell completion script (bash, zsh, fish)
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// A subcommand whose flags clap builds only when it is the one being
/// parsed. Building the whole tree (five copies of `run`'s ~90 flags among
/// ~700) was most of the CLI's start-up, paid by every command.
#[derive(Debug)]
pub struct Lazy<T>(pub T);

impl<T: clap::FromArgMatches> clap::FromArgMatches for Lazy<T> {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(m).map(Lazy)
    }

    fn from_arg_matches_mut(m: &mut clap::ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(m).map(Lazy)
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(m)
    }

    fn update_from_arg_matches_mut(&mut self, m: &mut clap::ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(m)
    }
}

impl<T: clap::Args> clap::Args for Lazy<T> {
    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }

    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.defer(|c| keeping_about(c, T::augment_args))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        cmd.defer(|c| keeping_about(c, T::augment_args_for_update))
    }
}

/// Builds `cmd`'s flags with `build`, keeping the about text the
/// subcommand's variant gave it: an `Args` struct's doc comment would
/// replace it, as it runs last now.
fn keeping_about(cmd: clap::Command, build: fn(clap::Command) -> clap::Command) -> clap::Command {
    let about = cmd.get_about().cloned();
    let long_about = cmd.get_long_about().cloned();
    let cmd = build(cmd);
    let cmd = match about {
        Some(a) => cmd.about(a),
        None => cmd,
    };
    match long_about {
        Some(l) => cmd.long_about(l),
        None => cmd.long_about(None::<&str>),
    }
}

impl<T: Subcommand> Subcommand for Lazy<T> {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        cmd.defer(T::augment_subcommands)
    }

    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        cmd.defer(T::augment_subcommands_for_update)
    }

    fn has_subcommand(name: &str) -> bool {
        T::has_subcommand(name)
    }
}

/// An error ending the command, with its exit code. The message is
/// printed once, to stderr.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    /// A general error (exit 1).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
        }
    }

    /// A usage error (exit 125, as docker's flag errors).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 125,
            message: message.into(),
        }
    }
}

impl From<berth_client::Error> for CliError {
    fn from(e: berth_client::Error) -> Self {
        Self::new(e.to_string())
    }
}

impl From<format::template::TemplateError> for CliError {
    /// A template that does not parse exits 64, as docker's.
    fn from(e: format::template::TemplateError) -> Self {
        let code = match e {
            format::template::TemplateError::Parse { .. } => 64,
            format::template::TemplateError::Exec { .. } => 1,
        };
        Self {
            code,
            message: e.to_string(),
        }
    }
}

/// What every command gets: the client.
pub struct App {
    pub client: Client,
}

impl App {
    /// Writes to stdout; a closed pipe (`berth images | head`) is not an
    /// error.
    pub fn print(&self, s: &str) -> Result<(), CliError> {
        let mut out = std::io::stdout().lock();
        match out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(CliError::new(format!("write output: {e}")))
            }
            _ => Ok(()),
        }
    }
}

/// Runs the command line `args` (with the program name first) and
/// returns the exit code.
pub fn main_with_args<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            // Help for a bare `berth` or `berth image` goes to stdout with
            // success, as docker's; usage errors exit 125.
            if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                print!("{}", e.render());
                return ExitCode::SUCCESS;
            }
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 125 } else { 0 });
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !e.message.is_empty() {
                eprintln!("{}", e.message);
            }
            ExitCode::from(e.code)
        }
    }
}

async fn dispatch(cli: Cli) -> Result<(), CliError> {
    use cmd::container::{self, ContainerCommand};
    use cmd::{image, system};
    if let Command::Completion { shell } = cli.command {
        let mut c = Cli::command();
        clap_complete::generate(shell, &mut c, "berth", &mut std::io::stdout());
        return Ok(());
    }
    let host = Host::from_env(cli.host.as_deref()).map_err(|e| CliError::usage(e.to_string()))?;
    let mut client = Client::new(host);
    let env_verify = std::env::var("DOCKER_TLS_VERIFY").is_ok_and(|v| !v.is_empty());
    if cli.tlsverify || (env_verify && matches!(client.host(), Host::Tcp(_))) {
        let dir = std::env::var_os("DOCKER_CERT_PATH")
            .filter(|d| !d.is_empty())
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                    .join(".docker")
            });
        let d = TlsFiles::in_dir(&dir);
        let files = TlsFiles {
            ca: cli.tlscacert.clone().unwrap_or(d.ca),
            cert: cli.tlscert.clone().or(d.cert),
            key: cli.tlskey.clone().or(d.key),
        };
        client = client.with_tls(&files)?;
    }
    // The version is negotiated by the first request (`version` shows the
    // client part even without a daemon).
    client.pin_version_from_env()?;
    let app = App { client };
    match cli.command {
        Command::Images(Lazy(a)) => image::run_list(&app, a).await,
        Command::Image(Lazy(c)) => image::run(&app, c).await,
        Command::Rmi(Lazy(a)) => image::run_remove(&app, a).await,
        Command::Tag(Lazy(a)) => image::run_tag(&app, a).await,
        Command::Load(Lazy(a)) => image::run_load(&app, a).await,
        Command::Save(Lazy(a)) => image::run_save(&app, a).await,
        Command::Import(Lazy(a)) => image::run_import(&app, a).await,
        Command::History(Lazy(a)) => image::run_history(&app, a).await,
        Command::System(Lazy(c)) => system::run(&app, c).await,
        Command::Network(Lazy(c)) => cmd::network::run(&app, c).await,
        Command::Volume(Lazy(c)) => cmd::volume::run(&app, c).await,
        Command::Version(Lazy(a)) => system::run_version(&app, a).await,
        Command::Info(Lazy(a)) => system::run_info(&app, a).await,
        Command::Events(Lazy(a)) => system::run_events(&app, a).await,
        Command::Container(Lazy(c)) => container::run(&app, c).await,
        Command::Run(Lazy(a)) => container::run(&app, ContainerCommand::Run(a)).await,
        Command::Create(Lazy(a)) => container::run(&app, ContainerCommand::Create(a)).await,
        Command::Start(Lazy(a)) => container::run(&app, ContainerCommand::Start(a)).await,
        Command::Stop(Lazy(a)) => container::run(&app, ContainerCommand::Stop(a)).await,
        Command::Restart(Lazy(a)) => container::run(&app, ContainerCommand::Restart(a)).await,
        Command::Kill(Lazy(a)) => container::run(&app, ContainerCommand::Kill(a)).await,
        Command::Pause(Lazy(a)) => container::run(&app, ContainerCommand::Pause(a)).await,
        Command::Unpause(Lazy(a)) => container::run(&app, ContainerCommand::Unpause(a)).await,
        Command::Rm(Lazy(a)) => container::run(&app, ContainerCommand::Rm(a)).await,
        Command::Ps(Lazy(a)) => container::run(&app, ContainerCommand::Ls(a)).await,
        Command::Logs(Lazy(a)) => container::run(&app, ContainerCommand::Logs(a)).await,
        Command::Attach(Lazy(a)) => container::run(&app, ContainerCommand::Attach(a)).await,
        Command::Exec(Lazy(a)) => container::run(&app, ContainerCommand::Exec(a)).await,
        Command::Wait(Lazy(a)) => container::run(&app, ContainerCommand::Wait(a)).await,
        Command::Rename(Lazy(a)) => container::run(&app, ContainerCommand::Rename(a)).await,
        Command::Inspect(Lazy(a)) => container::run_inspect(&app, a).await,
        Command::Top(Lazy(a)) => container::run(&app, ContainerCommand::Top(a)).await,
        Command::Stats(Lazy(a)) => container::run(&app, ContainerCommand::Stats(a)).await,
        Command::Update(Lazy(a)) => container::run(&app, ContainerCommand::Update(a)).await,
        Command::Cp(Lazy(a)) => container::run(&app, ContainerCommand::Cp(a)).await,
        Command::Export(Lazy(a)) => container::run(&app, ContainerCommand::Export(a)).await,
        Command::Commit(Lazy(a)) => container::run(&app, ContainerCommand::Commit(a)).await,
        Command::Diff(Lazy(a)) => container::run(&app, ContainerCommand::Diff(a)).await,
        Command::Port(Lazy(a)) => container::run(&app, ContainerCommand::Port(a)).await,
        Command::Completion { .. } => Ok(()),
    }
}

/// Whether stdout is a terminal.
pub fn stdout_is_tty() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_docker_style_invocations() {
        let lines: Vec<Vec<&str>> = vec![
            vec!["berth", "images", "-q", "--no-trunc"],
            vec![
                "berth",
                "-H",
                "unix:///x",
                "image",
                "ls",
                "--filter",
                "dangling=true",
            ],
            vec!["berth", "image", "list", "--format", "{{.ID}}"],
            vec!["berth", "history", "-H=false", "busybox"],
            vec!["berth", "image", "rmi", "-f", "a", "b"],
            vec!["berth", "system", "df", "-v"],
            vec!["berth", "completion", "bash"],
        ];
        for args in lines {
            if let Err(e) = Cli::try_parse_from(args.clone()) {
                panic!("{args:?}: {e}");
            }
        }
        assert!(Cli::try_parse_from(["berth", "images", "--bogus"]).is_err());
    }
}
