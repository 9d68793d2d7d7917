//! Volume commands: create, ls, inspect, rm, prune.

use super::image::{deleted_lines, filters_of, prune, query_filters};
use super::network::{inspect_each, key_values, remove_each};
use crate::format::units::human_size;
use crate::format::{row, RowFormat};
use crate::{App, CliError};
use berth_api_types::volume::{Volume, VolumeCreateRequest, VolumeList, VolumePruneReport};
use clap::{Args, Subcommand};
use hyper::Method;
use serde_json::Value;

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(ListArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(RemoveArgs),
    /// Remove unused local volumes
    Prune(PruneArgs),
}

pub async fn run(app: &App, c: VolumeCommand) -> Result<(), CliError> {
    match c {
        VolumeCommand::Create(a) => run_create(app, a).await,
        VolumeCommand::Ls(a) => run_list(app, a).await,
        VolumeCommand::Inspect(a) => run_inspect(app, a).await,
        VolumeCommand::Rm(a) => run_remove(app, a).await,
        VolumeCommand::Prune(a) => run_prune(app, a).await,
    }
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short, long, default_value = "local")]
    pub driver: String,
    /// Set metadata for a volume
    #[arg(long)]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short, long = "opt")]
    pub opt: Vec<String>,
    /// Specify volume name
    #[arg(long = "name")]
    pub name_flag: Option<String>,
    /// [VOLUME]
    pub name: Option<String>,
}

pub async fn run_create(app: &App, a: CreateArgs) -> Result<(), CliError> {
    if a.name.is_some() && a.name_flag.is_some() {
        return Err(CliError::usage(
            "conflicting options: either specify --name or provide positional arg, not both",
        ));
    }
    let req = VolumeCreateRequest {
        name: a.name.or(a.name_flag).unwrap_or_default(),
        driver: a.driver,
        driver_opts: Some(key_values(&a.opt)),
        labels: Some(key_values(&a.label)),
    };
    let v: Volume = app
        .client
        .send_json(Method::POST, "/volumes/create", &[], Some(&req))
        .await?;
    app.print(&format!("{}\n", v.name))
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short, long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template: 'table', 'table TEMPLATE',
    /// 'json', or a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Only display volume names
    #[arg(short, long)]
    pub quiet: bool,
}

const VOLUME_HEADERS: &[(&str, &str)] = &[
    ("Name", "VOLUME NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Labels", "LABELS"),
    ("CreatedAt", "CREATED AT"),
];

pub async fn run_list(app: &App, a: ListArgs) -> Result<(), CliError> {
    let f = filters_of(&a.filter)?;
    let mut list: VolumeList = app.client.get_json("/volumes", &query_filters(&f)).await?;
    list.volumes.sort_by(|x, y| x.name.cmp(&y.name));
    let format = if a.quiet {
        "{{.Name}}".to_owned()
    } else {
        a.format
            .filter(|f| !f.is_empty())
            .unwrap_or_else(|| "table {{.Driver}}\t{{.Name}}".into())
    };
    let rows: Vec<Value> = list
        .volumes
        .iter()
        .map(|v| {
            row(&[
                ("Name", v.name.clone()),
                ("Driver", v.driver.clone()),
                ("Scope", v.scope.clone()),
                ("Mountpoint", v.mountpoint.clone()),
                (
                    "Labels",
                    v.labels
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                ("CreatedAt", v.created_at.clone()),
            ])
        })
        .collect();
    app.print(&RowFormat::new(&format, VOLUME_HEADERS)?.render(&rows)?)
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short, long)]
    pub format: Option<String>,
    /// VOLUME...
    #[arg(required = true)]
    pub names: Vec<String>,
}

pub async fn run_inspect(app: &App, a: InspectArgs) -> Result<(), CliError> {
    inspect_each(
        app,
        &a.names,
        |n| format!("/volumes/{n}"),
        a.format.as_deref(),
    )
    .await
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Force the removal of one or more volumes
    #[arg(short, long)]
    pub force: bool,
    /// VOLUME...
    #[arg(required = true)]
    pub names: Vec<String>,
}

pub async fn run_remove(app: &App, a: RemoveArgs) -> Result<(), CliError> {
    let q = if a.force {
        vec![("force", "1".to_owned())]
    } else {
        vec![]
    };
    remove_each(app, &a.names, |n| format!("/volumes/{n}"), &q, false).await
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short, long)]
    pub all: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

pub async fn run_prune(app: &App, a: PruneArgs) -> Result<(), CliError> {
    let mut f = filters_of(&a.filter)?;
    if a.all {
        f.add("all", "true");
    }
    let warning = if a.all {
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    };
    let Some(r) = prune::<VolumePruneReport>(app, "/volumes/prune", &f, a.force, warning).await?
    else {
        return Ok(());
    };
    let mut s = String::new();
    if let Some(names) = r.volumes_deleted.filter(|d| !d.is_empty()) {
        s.push_str(&deleted_lines("Deleted Volumes:", &names));
        s.push('\n');
    }
    s.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size(r.space_reclaimed as f64)
    ));
    app.print(&s)
}
