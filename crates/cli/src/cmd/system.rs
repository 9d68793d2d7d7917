//! System commands: version, info, system df, events.

use crate::format::tabwriter::TabWriter;
use crate::format::template::Template;
use crate::format::units::{bytes_size, human_size, human_size_prec};
use crate::format::{row, RowFormat};
use crate::{App, CliError};
use berth_api_types::system::{DiskUsage, EventMessage, Info, Version};
use berth_api_types::time::Timestamp;
use berth_api_types::version::MAX_API_VERSION;
use berth_api_types::Filters;
use berth_base::time::parse_go_duration;
use berth_client::for_each_json_line;
use clap::{Args, Subcommand};
use hyper::Method;
use serde_json::{json, Value};

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Show berth disk usage
    Df(DfArgs),
    /// Display system-wide information
    Info(InfoArgs),
    /// Get real time events from the server
    Events(EventsArgs),
    /// Remove unused data
    Prune(PruneArgs),
}

pub async fn run(app: &App, c: SystemCommand) -> Result<(), CliError> {
    match c {
        SystemCommand::Prune(a) => run_prune(app, a).await,
        SystemCommand::Df(a) => run_df(app, a).await,
        SystemCommand::Info(a) => run_info(app, a).await,
        SystemCommand::Events(a) => run_events(app, a).await,
    }
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short, long)]
    pub format: Option<String>,
}

fn client_info(app: &App) -> Value {
    let v = app.client.api_version().to_string();
    json!({
        "Platform": {"Name": ""},
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": v,
        "DefaultAPIVersion": MAX_API_VERSION.to_string(),
        "GitCommit": option_env!("BERTH_GIT_COMMIT").unwrap_or("unknown"),
        "GoVersion": "rust",
        "Os": "linux",
        "Arch": go_arch(),
        "BuildTime": "",
        "Context": "default",
    })
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn render_template(format: &str, v: &Value) -> Result<String, CliError> {
    let f = if format == "json" {
        "{{json .}}"
    } else {
        format
    };
    // As docker's version and info, the template is taken as written
    // (`\t` stays two characters; only the list commands turn it into a tab).
    let t = Template::parse(f)?;
    Ok(format!("{}\n", t.render(v)?))
}

pub async fn run_version(app: &App, a: VersionArgs) -> Result<(), CliError> {
    let server: Result<Version, CliError> = app
        .client
        .get_json("/version", &[])
        .await
        .map_err(Into::into);
    let client = client_info(app);
    let server_json = server
        .as_ref()
        .ok()
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or(Value::Null);
    if let Some(f) = a.format.filter(|f| !f.is_empty()) {
        let v = json!({"Client": client, "Server": server_json});
        app.print(&render_template(&f, &v)?)?;
        return server.map(|_| ());
    }
    let c = &client;
    let mut text = String::from("Client:\n");
    let api = c["ApiVersion"].as_str().unwrap_or("");
    let default = c["DefaultAPIVersion"].as_str().unwrap_or("");
    let downgraded = if api != default {
        format!(" (downgraded from {default})")
    } else {
        String::new()
    };
    for (k, v) in [
        ("Version", c["Version"].as_str().unwrap_or("").to_owned()),
        ("API version", format!("{api}{downgraded}")),
        ("Go version", "rust".to_owned()),
        (
            "Git commit",
            c["GitCommit"].as_str().unwrap_or("").to_owned(),
        ),
        ("Built", String::new()),
        ("OS/Arch", format!("linux/{}", go_arch())),
        ("Context", "default".to_owned()),
    ] {
        text.push_str(&format!(" {k}:\t{v}\n"));
    }
    if let Ok(s) = &server {
        text.push_str(&format!("\nServer: {}\n", s.platform.name));
        for comp in &s.components {
            text.push_str(&format!(" {}:\n", comp.name));
            let d = |k: &str| comp.details.get(k).cloned().unwrap_or_default();
            if comp.name == "Engine" {
                for (k, v) in [
                    ("Version", comp.version.clone()),
                    (
                        "API version",
                        format!(
                            "{} (minimum version {})",
                            d("ApiVersion"),
                            d("MinAPIVersion")
                        ),
                    ),
                    ("Go version", d("GoVersion")),
                    ("Git commit", d("GitCommit")),
                    ("Built", d("BuildTime")),
                    ("OS/Arch", format!("{}/{}", d("Os"), d("Arch"))),
                    ("Experimental", d("Experimental")),
                ] {
                    text.push_str(&format!("  {k}:\t{v}\n"));
                }
            } else {
                text.push_str(&format!("  Version:\t{}\n", comp.version));
            }
        }
    }
    app.print(&TabWriter::VERSION.format(&text))?;
    server.map(|_| ())
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short, long)]
    pub format: Option<String>,
}

pub async fn run_info(app: &App, a: InfoArgs) -> Result<(), CliError> {
    let raw = app.client.get_bytes("/info", &[]).await?;
    let mut v: Value =
        serde_json::from_slice(&raw).map_err(|e| CliError::new(format!("decode info: {e}")))?;
    if let Some(f) = a.format.filter(|f| !f.is_empty()) {
        if let Value::Object(m) = &mut v {
            m.insert("ClientInfo".into(), client_info(app));
        }
        return app.print(&render_template(&f, &v)?);
    }
    let i: Info =
        serde_json::from_slice(&raw).map_err(|e| CliError::new(format!("decode info: {e}")))?;
    let mut s = String::new();
    let mut p = |l: String| {
        s.push_str(&l);
        s.push('\n');
    };
    p("Client:".into());
    p(format!(" Version:    {}", env!("CARGO_PKG_VERSION")));
    p(" Context:    default".into());
    p(" Debug Mode: false".into());
    p(String::new());
    p("Server:".into());
    p(format!(" Containers: {}", i.containers));
    p(format!("  Running: {}", i.containers_running));
    p(format!("  Paused: {}", i.containers_paused));
    p(format!("  Stopped: {}", i.containers_stopped));
    p(format!(" Images: {}", i.images));
    p(format!(" Server Version: {}", i.server_version));
    p(format!(" Storage Driver: {}", i.driver));
    for [k, v] in &i.driver_status {
        p(format!("  {k}: {v}"));
    }
    p(format!(" Logging Driver: {}", i.logging_driver));
    p(format!(" Cgroup Driver: {}", i.cgroup_driver));
    p(format!(" Cgroup Version: {}", i.cgroup_version));
    p(" Plugins:".into());
    p(format!("  Volume: {}", i.plugins.volume.join(" ")));
    p(format!("  Network: {}", i.plugins.network.join(" ")));
    p(format!("  Log: {}", i.plugins.log.join(" ")));
    p(format!(" Swarm: {}", i.swarm.local_node_state));
    p(format!(
        " Runtimes: {}",
        i.runtimes.keys().cloned().collect::<Vec<_>>().join(" ")
    ));
    p(format!(" Default Runtime: {}", i.default_runtime));
    if !i.security_options.is_empty() {
        p(" Security Options:".into());
        for o in &i.security_options {
            let mut parts = o.split(',');
            let name = parts.next().unwrap_or("").trim_start_matches("name=");
            p(format!("  {name}"));
            for kv in parts {
                if let Some((k, v)) = kv.split_once('=') {
                    p(format!("   {}: {v}", title(k)));
                }
            }
        }
    }
    p(format!(" Kernel Version: {}", i.kernel_version));
    p(format!(" Operating System: {}", i.operating_system));
    p(format!(" OSType: {}", i.os_type));
    p(format!(" Architecture: {}", i.architecture));
    p(format!(" CPUs: {}", i.ncpu));
    p(format!(" Total Memory: {}", bytes_size(i.mem_total as f64)));
    p(format!(" Name: {}", i.name));
    p(format!(" ID: {}", i.id));
    p(format!(" Docker Root Dir: {}", i.docker_root_dir));
    p(format!(" Debug Mode: {}", i.debug));
    p(format!(" Experimental: {}", i.experimental_build));
    if let Some(r) = &i.registry_config {
        if !r.insecure_registry_cidrs.is_empty() {
            p(" Insecure Registries:".into());
            for c in &r.insecure_registry_cidrs {
                p(format!("  {c}"));
            }
        }
    }
    p(format!(" Live Restore Enabled: {}", i.live_restore_enabled));
    app.print(&s)?;
    // As docker, the daemon's warnings go to stderr.
    for w in &i.warnings {
        eprintln!("{w}");
    }
    Ok(())
}

fn title(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[derive(Debug, Args)]
pub struct DfArgs {
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Show detailed information on space usage
    #[arg(short, long)]
    pub verbose: bool,
}

fn i64_of(v: &Value, k: &str) -> i64 {
    v.get(k).and_then(Value::as_i64).unwrap_or(0)
}

fn with_percent(reclaimable: i64, total: i64) -> String {
    if total > 0 {
        format!(
            "{} ({}%)",
            human_size(reclaimable as f64),
            reclaimable * 100 / total
        )
    } else {
        human_size(reclaimable as f64)
    }
}

pub async fn run_df(app: &App, a: DfArgs) -> Result<(), CliError> {
    let du: DiskUsage = app.client.get_json("/system/df", &[]).await?;
    let used: i64 = du
        .images
        .iter()
        .filter(|i| i.containers > 0 && i.shared_size >= 0)
        .map(|i| i.size - i.shared_size)
        .sum();
    let images_active = du.images.iter().filter(|i| i.containers > 0).count();
    let c_size: i64 = du.containers.iter().map(|c| i64_of(c, "SizeRw")).sum();
    let running = |c: &Value| {
        matches!(
            c.get("State").and_then(Value::as_str),
            Some("running" | "paused" | "restarting")
        )
    };
    let c_active = du.containers.iter().filter(|c| running(c)).count();
    let c_reclaim: i64 = du
        .containers
        .iter()
        .filter(|c| !running(c))
        .map(|c| i64_of(c, "SizeRw"))
        .sum();
    let usage = |v: &Value, k: &str| v.get("UsageData").map_or(0, |u| i64_of(u, k));
    let v_size: i64 = du.volumes.iter().map(|v| usage(v, "Size").max(0)).sum();
    let v_active = du
        .volumes
        .iter()
        .filter(|v| usage(v, "RefCount") > 0)
        .count();
    let v_reclaim: i64 = du
        .volumes
        .iter()
        .filter(|v| usage(v, "RefCount") == 0)
        .map(|v| usage(v, "Size").max(0))
        .sum();
    let b_size: i64 = du.build_cache.iter().map(|b| i64_of(b, "Size")).sum();
    let in_use = |b: &Value| b.get("InUse").and_then(Value::as_bool).unwrap_or(false);
    let b_active = du.build_cache.iter().filter(|b| in_use(b)).count();
    let b_reclaim: i64 = du
        .build_cache
        .iter()
        .filter(|b| !in_use(b) && !b.get("Shared").and_then(Value::as_bool).unwrap_or(false))
        .map(|b| i64_of(b, "Size"))
        .sum();
    let rows = vec![
        row(&[
            ("Type", "Images".into()),
            ("TotalCount", du.images.len().to_string()),
            ("Active", images_active.to_string()),
            ("Size", human_size(du.layers_size as f64)),
            (
                "Reclaimable",
                with_percent(du.layers_size - used, du.layers_size),
            ),
        ]),
        row(&[
            ("Type", "Containers".into()),
            ("TotalCount", du.containers.len().to_string()),
            ("Active", c_active.to_string()),
            ("Size", human_size(c_size as f64)),
            ("Reclaimable", with_percent(c_reclaim, c_size)),
        ]),
        row(&[
            ("Type", "Local Volumes".into()),
            ("TotalCount", du.volumes.len().to_string()),
            ("Active", v_active.to_string()),
            ("Size", human_size(v_size as f64)),
            ("Reclaimable", with_percent(v_reclaim, v_size)),
        ]),
        row(&[
            ("Type", "Build Cache".into()),
            ("TotalCount", du.build_cache.len().to_string()),
            ("Active", b_active.to_string()),
            ("Size", human_size(b_size as f64)),
            ("Reclaimable", human_size(b_reclaim as f64)),
        ]),
    ];
    // A bare `table` means the default columns, as docker's.
    let format = a
        .format
        .filter(|f| !f.is_empty() && f != "table")
        .unwrap_or_else(|| {
            "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}".into()
        });
    let headers = [
        ("Type", "TYPE"),
        ("TotalCount", "TOTAL"),
        ("Active", "ACTIVE"),
        ("Size", "SIZE"),
        ("Reclaimable", "RECLAIMABLE"),
    ];
    if !a.verbose {
        return app.print(&RowFormat::new(&format, &headers)?.render(&rows)?);
    }
    // Verbose: each section as docker prints it.
    let mut text = String::from("Images space usage:\n\n");
    let img_rows: Vec<Value> = du
        .images
        .iter()
        .map(|i| {
            let (repo, tag) = i
                .repo_tags
                .first()
                .and_then(|t| t.rsplit_once(':'))
                .map_or(("<none>".to_owned(), "<none>".to_owned()), |(r, t)| {
                    (r.to_owned(), t.to_owned())
                });
            row(&[
                ("Repository", repo),
                ("Tag", tag),
                ("ID", super::image::short_id(&i.id)),
                ("CreatedSince", crate::format::units::since(i.created)),
                ("Size", human_size_prec(i.size as f64, 3)),
                ("SharedSize", human_size(i.shared_size.max(0) as f64)),
                (
                    "UniqueSize",
                    human_size((i.size - i.shared_size.max(0)) as f64),
                ),
                ("Containers", i.containers.max(0).to_string()),
            ])
        })
        .collect();
    let table = |format: &str, headers: &[(&str, &str)], rows: &[Value]| {
        RowFormat::new(format, headers).and_then(|f| f.render(rows))
    };
    text.push_str(&table(
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
        &[
            ("Repository", "REPOSITORY"),
            ("Tag", "TAG"),
            ("ID", "IMAGE ID"),
            ("CreatedSince", "CREATED"),
            ("Size", "SIZE"),
            ("SharedSize", "SHARED SIZE"),
            ("UniqueSize", "UNIQUE SIZE"),
            ("Containers", "CONTAINERS"),
        ],
        &img_rows,
    )?);
    let str_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let c_rows: Vec<Value> = du
        .containers
        .iter()
        .map(|c| {
            let name = c
                .get("Names")
                .and_then(|n| n.get(0))
                .and_then(Value::as_str)
                .unwrap_or("")
                .trim_start_matches('/')
                .to_owned();
            let volumes = c.get("Mounts").and_then(Value::as_array).map_or(0, |m| {
                m.iter().filter(|m| str_of(m, "Type") == "volume").count()
            });
            row(&[
                ("ID", super::image::short_id(&str_of(c, "Id"))),
                ("Image", str_of(c, "Image")),
                (
                    "Command",
                    format!("\"{}\"", ellipsis(&str_of(c, "Command"), 20)),
                ),
                ("LocalVolumes", volumes.to_string()),
                ("Size", human_size(i64_of(c, "SizeRw") as f64)),
                (
                    "CreatedSince",
                    crate::format::units::since(i64_of(c, "Created")),
                ),
                ("Status", str_of(c, "Status")),
                ("Names", name),
            ])
        })
        .collect();
    text.push_str("\nContainers space usage:\n\n");
    text.push_str(&table(
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.CreatedSince}}\t{{.Status}}\t{{.Names}}",
        &[
            ("ID", "CONTAINER ID"),
            ("Image", "IMAGE"),
            ("Command", "COMMAND"),
            ("LocalVolumes", "LOCAL VOLUMES"),
            ("Size", "SIZE"),
            ("CreatedSince", "CREATED"),
            ("Status", "STATUS"),
            ("Names", "NAMES"),
        ],
        &c_rows,
    )?);
    let v_rows: Vec<Value> = du
        .volumes
        .iter()
        .map(|v| {
            row(&[
                ("Name", str_of(v, "Name")),
                ("Links", usage(v, "RefCount").to_string()),
                ("Size", human_size(usage(v, "Size").max(0) as f64)),
            ])
        })
        .collect();
    text.push_str("\nLocal Volumes space usage:\n\n");
    text.push_str(&table(
        "table {{.Name}}\t{{.Links}}\t{{.Size}}",
        &[
            ("Name", "VOLUME NAME"),
            ("Links", "LINKS"),
            ("Size", "SIZE"),
        ],
        &v_rows,
    )?);
    let b_rows: Vec<Value> = du
        .build_cache
        .iter()
        .map(|b| {
            row(&[
                ("ID", str_of(b, "ID").chars().take(12).collect()),
                ("CacheType", str_of(b, "Type")),
                ("Size", human_size(i64_of(b, "Size") as f64)),
                ("CreatedSince", str_of(b, "CreatedAt")),
                ("LastUsedSince", str_of(b, "LastUsedAt")),
                ("UsageCount", i64_of(b, "UsageCount").to_string()),
                (
                    "Shared",
                    b.get("Shared")
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                        .to_string(),
                ),
            ])
        })
        .collect();
    text.push_str(&format!(
        "\nBuild cache usage: {}\n\n",
        human_size(b_size as f64)
    ));
    text.push_str(&table(
        "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}",
        &[
            ("ID", "CACHE ID"),
            ("CacheType", "CACHE TYPE"),
            ("Size", "SIZE"),
            ("CreatedSince", "CREATED"),
            ("LastUsedSince", "LAST USED"),
            ("UsageCount", "USAGE"),
            ("Shared", "SHARED"),
        ],
        &b_rows,
    )?);
    app.print(&text)
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    pub volumes: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

/// `system prune`: containers, networks, (volumes,) images and build
/// cache, each through its own prune route, printed as docker prints them.
pub async fn run_prune(app: &App, a: PruneArgs) -> Result<(), CliError> {
    let mut warning = String::from(
        "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n",
    );
    if a.volumes {
        warning.push_str("  - all anonymous volumes not used by at least one container\n");
    }
    warning.push_str(if a.all {
        "  - all images without at least one container associated to them\n  - all build cache\n"
    } else {
        "  - all dangling images\n  - unused build cache\n"
    });
    if !a.force && !super::image::confirm(&warning) {
        return Ok(());
    }
    let base = super::image::filters_of(&a.filter)?;
    let mut images = base.clone();
    images.add("dangling", if a.all { "false" } else { "true" });
    let mut steps: Vec<(&str, Filters, &str, &str)> = vec![
        (
            "/containers/prune",
            base.clone(),
            "ContainersDeleted",
            "Deleted Containers:",
        ),
        (
            "/networks/prune",
            base.clone(),
            "NetworksDeleted",
            "Deleted Networks:",
        ),
    ];
    if a.volumes {
        steps.push((
            "/volumes/prune",
            base.clone(),
            "VolumesDeleted",
            "Deleted Volumes:",
        ));
    }
    steps.push(("/images/prune", images, "ImagesDeleted", "Deleted Images:"));
    let mut build = base.clone();
    if a.all {
        build.add("all", "true");
    }
    steps.push((
        "/build/prune",
        build,
        "CachesDeleted",
        "Deleted build cache objects:",
    ));
    let mut reclaimed = 0u64;
    let mut out = String::new();
    for (path, f, key, title) in steps {
        let r: Value = app
            .client
            .send_json(
                Method::POST,
                path,
                &super::image::query_filters(&f),
                None::<&()>,
            )
            .await?;
        reclaimed += r.get("SpaceReclaimed").and_then(Value::as_u64).unwrap_or(0);
        let items = r
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if items.is_empty() {
            continue;
        }
        out.push_str(title);
        out.push('\n');
        for it in items {
            match it {
                Value::String(s) => out.push_str(&format!("{s}\n")),
                Value::Object(m) => {
                    for (k, v) in m {
                        out.push_str(&format!(
                            "{}: {}\n",
                            k.to_lowercase(),
                            v.as_str().unwrap_or("")
                        ));
                    }
                }
                other => out.push_str(&format!("{other}\n")),
            }
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size(reclaimed as f64)
    ));
    app.print(&out)
}

/// docker's `Ellipsis`: at most `max` characters, the last one `…`.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Show all events created since timestamp (or a duration like 10m)
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp (or a duration like 10m)
    #[arg(long)]
    pub until: Option<String>,
    /// Filter output based on conditions provided
    #[arg(short, long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template ('json' or a Go template)
    #[arg(long)]
    pub format: Option<String>,
}

/// The CLI's `GetTimestamp`: a duration is relative to now, anything else
/// goes to the daemon as given.
pub(crate) fn timestamp_arg(v: &str) -> String {
    match parse_go_duration(v) {
        Some(d) => {
            let t = Timestamp::from_nanos(Timestamp::now().as_nanos() - d);
            format!("{}.{:09}", t.secs, t.nanos)
        }
        None => v.to_owned(),
    }
}

/// Go's `RFC3339NanoFixed` in UTC.
fn fixed_nanos(nanos: i64) -> String {
    let t = Timestamp::from_nanos(nanos);
    let s = Timestamp {
        secs: t.secs,
        nanos: 0,
    }
    .to_rfc3339_nanos();
    format!("{}.{:09}Z", s.trim_end_matches('Z'), t.nanos)
}

pub async fn run_events(app: &App, a: EventsArgs) -> Result<(), CliError> {
    let f = Filters::from_args(a.filter.iter().map(String::as_str))
        .map_err(|e| CliError::new(e.to_string()))?;
    let mut q = Vec::new();
    if let Some(s) = &a.since {
        q.push(("since", timestamp_arg(s)));
    }
    if let Some(u) = &a.until {
        q.push(("until", timestamp_arg(u)));
    }
    if !f.is_empty() {
        q.push(("filters", f.to_json()));
    }
    let tmpl = match a.format.as_deref().filter(|f| !f.is_empty()) {
        Some("json") => Some(Template::parse("{{json .}}")?),
        Some(f) => Some(Template::parse(
            &f.replace("\\t", "\t").replace("\\n", "\n"),
        )?),
        None => None,
    };
    let resp = app
        .client
        .request(
            Method::GET,
            "/events",
            &q,
            berth_client::ReqBody::Empty,
            &[],
        )
        .await?;
    let mut failed = None;
    for_each_json_line(resp, |m: EventMessage| {
        let line = match &tmpl {
            Some(t) => match serde_json::to_value(&m).map(|v| t.render(&v)) {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    failed = Some(CliError::from(e));
                    return Ok(());
                }
                Err(e) => e.to_string(),
            },
            None => {
                let mut l = format!(
                    "{} {} {} {}",
                    fixed_nanos(m.time_nano),
                    m.kind,
                    m.action,
                    m.actor.id
                );
                if !m.actor.attributes.is_empty() {
                    let attrs: Vec<String> = m
                        .actor
                        .attributes
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect();
                    l.push_str(&format!(" ({})", attrs.join(", ")));
                }
                l
            }
        };
        let _ = app.print(&format!("{line}\n"));
        Ok(())
    })
    .await?;
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_fixed_times() {
        assert_eq!(
            fixed_nanos(1_700_000_000_000_000_001),
            "2023-11-14T22:13:20.000000001Z"
        );
        assert_eq!(timestamp_arg("1700000000"), "1700000000");
    }
}
