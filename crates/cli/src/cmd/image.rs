//! Image commands: images/ls, inspect, history, tag, rm/rmi, prune,
//! import, load, save.

use super::system::ellipsis;
use crate::format::json::indent;
use crate::format::units::{human_size, human_size_prec, since};
use crate::format::{row, RowFormat};
use crate::progress::ProgressPrinter;
use crate::{stdout_is_tty, App, CliError};
use berth_api_types::image::{DeleteItem, HistoryItem, ImageSummary, PruneReport};
use berth_api_types::progress::JsonMessage;
use berth_api_types::time::Timestamp;
use berth_api_types::Filters;
use berth_base::reference::Reference;
use berth_client::{for_each_json_line, next_chunk, Error as ClientError, ReqBody};
use clap::{Args, Subcommand};
use hyper::Method;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List images
    #[command(visible_alias = "list")]
    Ls(ListArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    #[command(visible_alias = "rmi", alias = "remove")]
    Rm(RemoveArgs),
    /// Remove unused images
    Prune(PruneArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
}

pub async fn run(app: &App, c: ImageCommand) -> Result<(), CliError> {
    match c {
        ImageCommand::Ls(a) => run_list(app, a).await,
        ImageCommand::Inspect(a) => run_inspect(app, a).await,
        ImageCommand::History(a) => run_history(app, a).await,
        ImageCommand::Tag(a) => run_tag(app, a).await,
        ImageCommand::Rm(a) => run_remove(app, a).await,
        ImageCommand::Prune(a) => run_prune(app, a).await,
        ImageCommand::Import(a) => run_import(app, a).await,
        ImageCommand::Load(a) => run_load(app, a).await,
        ImageCommand::Save(a) => run_save(app, a).await,
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    pub all: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided
    #[arg(short, long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template: 'table', 'table TEMPLATE',
    /// 'json', or a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// [REPOSITORY[:TAG]]
    pub reference: Option<String>,
}

const IMAGE_HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("VirtualSize", "VIRTUAL SIZE"),
];

/// `sha256:abc...` → `abc...` (12), as docker's `TruncateID`.
pub fn short_id(id: &str) -> String {
    let hex = id.split_once(':').map_or(id, |(_, h)| h);
    hex.chars().take(12).collect()
}

pub(crate) fn filters_of(args: &[String]) -> Result<Filters, CliError> {
    Filters::from_args(args.iter().map(String::as_str)).map_err(|e| CliError::new(e.to_string()))
}

pub(crate) fn query_filters(f: &Filters) -> Vec<(&'static str, String)> {
    if f.is_empty() {
        vec![]
    } else {
        vec![("filters", f.to_json())]
    }
}

/// The rows docker shows for one image: one per tag (and per digest with
/// `--digests`), `<none>` for dangling ones.
fn image_rows(i: &ImageSummary, trunc: bool, digests: bool) -> Vec<Value> {
    let mut tags: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut dgsts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in &i.repo_tags {
        if let Ok(r) = Reference::parse(t) {
            if let Some(tag) = r.tag.clone() {
                tags.entry(r.familiar_name()).or_default().push(tag);
            }
        }
    }
    for d in &i.repo_digests {
        if let Ok(r) = Reference::parse(d) {
            if let Some(dg) = r.digest.clone() {
                dgsts.entry(r.familiar_name()).or_default().push(dg);
            }
        }
    }
    let mut out = Vec::new();
    let mk = |repo: &str, tag: &str, digest: &str| {
        let size = human_size_prec(i.size as f64, 3);
        row(&[
            ("ID", if trunc { short_id(&i.id) } else { i.id.clone() }),
            ("Repository", repo.to_owned()),
            ("Tag", tag.to_owned()),
            ("Digest", digest.to_owned()),
            ("CreatedSince", since(i.created)),
            (
                "CreatedAt",
                Timestamp {
                    secs: i.created,
                    nanos: 0,
                }
                .to_go_string(),
            ),
            ("Size", size),
            (
                "Containers",
                if i.containers < 0 {
                    "N/A".into()
                } else {
                    i.containers.to_string()
                },
            ),
            (
                "SharedSize",
                if i.shared_size < 0 {
                    "N/A".into()
                } else {
                    human_size_prec(i.shared_size as f64, 3)
                },
            ),
            (
                "UniqueSize",
                if i.shared_size < 0 {
                    "N/A".into()
                } else {
                    human_size_prec((i.size - i.shared_size) as f64, 3)
                },
            ),
            ("VirtualSize", human_size(i.size as f64)),
        ])
    };
    if tags.is_empty() && dgsts.is_empty() {
        out.push(mk("<none>", "<none>", "<none>"));
        return out;
    }
    for (repo, ts) in &tags {
        let ds = dgsts.remove(repo).filter(|_| digests).unwrap_or_default();
        for t in ts {
            if ds.is_empty() {
                out.push(mk(repo, t, "<none>"));
            }
            for d in &ds {
                out.push(mk(repo, t, d));
            }
        }
    }
    for (repo, ds) in &dgsts {
        if digests {
            for d in ds {
                out.push(mk(repo, "<none>", d));
            }
        } else {
            out.push(mk(repo, "<none>", "<none>"));
        }
    }
    out
}

pub async fn run_list(app: &App, a: ListArgs) -> Result<(), CliError> {
    let mut f = filters_of(&a.filter)?;
    if let Some(r) = &a.reference {
        f.add("reference", r.clone());
    }
    let mut q = query_filters(&f);
    if a.all {
        q.push(("all", "1".into()));
    }
    let images: Vec<ImageSummary> = app.client.get_json("/images/json", &q).await?;
    let format = if a.quiet {
        "{{.ID}}".to_owned()
    } else if let Some(f) = a.format.filter(|f| !f.is_empty() && f != "table") {
        f
    } else if a.digests {
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}".into()
    } else {
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}".into()
    };
    let rows: Vec<Value> = images
        .iter()
        .flat_map(|i| image_rows(i, !a.no_trunc, a.digests))
        .collect();
    let fmt = RowFormat::new(&format, IMAGE_HEADERS)?;
    app.print(&fmt.render(&rows)?)
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short, long)]
    pub format: Option<String>,
    /// IMAGE...
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub async fn run_inspect(app: &App, a: InspectArgs) -> Result<(), CliError> {
    let mut raws: Vec<String> = Vec::new();
    let mut errors = Vec::new();
    for name in &a.images {
        match app
            .client
            .get_bytes(&format!("/images/{name}/json"), &[])
            .await
        {
            Ok(b) => raws.push(String::from_utf8_lossy(&b).trim().to_owned()),
            Err(e) => errors.push(e.to_string()),
        }
    }
    match a
        .format
        .as_deref()
        .filter(|f| !f.is_empty() && *f != "json")
    {
        None => {
            let joined = format!("[{}]", raws.join(","));
            app.print(&format!("{}\n", indent(&joined, "    ")))?;
        }
        Some(f) => {
            let objects = raws
                .iter()
                .map(|r| serde_json::from_str(r))
                .collect::<Result<Vec<Value>, _>>()
                .map_err(|e| CliError::new(format!("decode image: {e}")))?;
            app.print(&super::network::render_inspected(f, &objects)?)?;
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::new(errors.join("\n")))
    }
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub human: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// IMAGE
    pub image: String,
}

pub async fn run_history(app: &App, a: HistoryArgs) -> Result<(), CliError> {
    let items: Vec<HistoryItem> = app
        .client
        .get_json(&format!("/images/{}/history", a.image), &[])
        .await?;
    let trunc = !a.no_trunc;
    let rows: Vec<Value> = items
        .iter()
        .map(|h| {
            let created_by = h.created_by.replace('\t', " ");
            let ts = Timestamp {
                secs: h.created,
                nanos: 0,
            };
            row(&[
                (
                    "ID",
                    if trunc && h.id != "<missing>" {
                        short_id(&h.id)
                    } else {
                        h.id.clone()
                    },
                ),
                (
                    "CreatedSince",
                    if a.human {
                        since(h.created)
                    } else {
                        ts.to_rfc3339_nanos()
                    },
                ),
                ("CreatedAt", ts.to_rfc3339_nanos()),
                (
                    "CreatedBy",
                    if trunc {
                        ellipsis(&created_by, 45)
                    } else {
                        created_by
                    },
                ),
                (
                    "Size",
                    if a.human {
                        human_size_prec(h.size as f64, 3)
                    } else {
                        h.size.to_string()
                    },
                ),
                ("Comment", h.comment.clone()),
            ])
        })
        .collect();
    let format = if a.quiet {
        "{{.ID}}".to_owned()
    } else {
        a.format
            .filter(|f| !f.is_empty() && f != "table")
            .unwrap_or_else(|| {
                "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}".into()
            })
    };
    let headers = [
        ("ID", "IMAGE"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("CreatedBy", "CREATED BY"),
        ("Size", "SIZE"),
        ("Comment", "COMMENT"),
    ];
    app.print(&RowFormat::new(&format, &headers)?.render(&rows)?)
}

#[derive(Debug, Args)]
pub struct TagArgs {
    /// SOURCE_IMAGE[:TAG]
    pub source: String,
    /// TARGET_IMAGE[:TAG]
    pub target: String,
}

pub async fn run_tag(app: &App, a: TagArgs) -> Result<(), CliError> {
    let r = Reference::parse(&a.target).map_err(|e| {
        CliError::new(format!(
            "Error parsing reference: {:?} is not a valid repository/tag: {e}",
            a.target
        ))
    })?;
    if r.digest.is_some() {
        return Err(CliError::new(
            "refusing to create a tag with a digest reference",
        ));
    }
    let q = [("repo", r.name()), ("tag", r.tag_or_latest().to_owned())];
    let _: Value = app
        .client
        .send_json(
            Method::POST,
            &format!("/images/{}/tag", a.source),
            &q,
            None::<&()>,
        )
        .await?;
    Ok(())
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Force removal of the image
    #[arg(short, long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long)]
    pub no_prune: bool,
    /// IMAGE...
    #[arg(required = true)]
    pub images: Vec<String>,
}

fn delete_lines(items: &[DeleteItem], lower: bool) -> String {
    let mut s = String::new();
    for i in items {
        let (k, v) = match i {
            DeleteItem::Untagged(v) => ("Untagged", v),
            DeleteItem::Deleted(v) => ("Deleted", v),
        };
        let k = if lower {
            k.to_lowercase()
        } else {
            k.to_owned()
        };
        s.push_str(&format!("{k}: {v}\n"));
    }
    s
}

pub async fn run_remove(app: &App, a: RemoveArgs) -> Result<(), CliError> {
    let mut q = Vec::new();
    if a.force {
        q.push(("force", "1".to_owned()));
    }
    if a.no_prune {
        q.push(("noprune", "1".to_owned()));
    }
    let mut errors = Vec::new();
    for name in &a.images {
        let r: Result<Vec<DeleteItem>, ClientError> = app
            .client
            .send_json(Method::DELETE, &format!("/images/{name}"), &q, None::<&()>)
            .await;
        match r {
            Ok(items) => app.print(&delete_lines(&items, false))?,
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
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

/// Asks `question [y/N]` on stderr; only `y`/`yes` on stdin is a yes.
pub(crate) fn confirm(question: &str) -> bool {
    eprint!("{question}\nAre you sure you want to continue? [y/N] ");
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_lowercase().as_str(), "y" | "yes")
}

/// `docker <object> prune`: asks unless `force`, then POSTs `path` with
/// the filters. `None` when the user said no.
pub(crate) async fn prune<R: serde::de::DeserializeOwned>(
    app: &App,
    path: &str,
    f: &Filters,
    force: bool,
    warning: &str,
) -> Result<Option<R>, CliError> {
    if !force && !confirm(warning) {
        return Ok(None);
    }
    let r = app
        .client
        .send_json(Method::POST, path, &query_filters(f), None::<&()>)
        .await?;
    Ok(Some(r))
}

/// A prune's listing: the title, then one line per deleted object.
pub(crate) fn deleted_lines<'a>(
    title: &str,
    items: impl IntoIterator<Item = &'a String>,
) -> String {
    let mut s = format!("{title}\n");
    for it in items {
        s.push_str(it);
        s.push('\n');
    }
    s
}

pub async fn run_prune(app: &App, a: PruneArgs) -> Result<(), CliError> {
    let mut f = filters_of(&a.filter)?;
    f.add("dangling", if a.all { "false" } else { "true" });
    let warning = if a.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    let Some(r) = prune::<PruneReport>(app, "/images/prune", &f, a.force, warning).await? else {
        return Ok(());
    };
    let mut s = String::new();
    if let Some(items) = r.images_deleted.filter(|d| !d.is_empty()) {
        s.push_str("Deleted Images:\n");
        s.push_str(&delete_lines(&items, true));
        s.push('\n');
    }
    s.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size(r.space_reclaimed as f64)
    ));
    app.print(&s)
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long = "change")]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// file|URL|- (a rootfs tarball)
    pub source: String,
    /// [REPOSITORY[:TAG]]
    pub reference: Option<String>,
}

/// Shows a progress stream, failing on an in-band error.
async fn show_progress(
    resp: hyper::Response<hyper::body::Incoming>,
    tty: bool,
) -> Result<(), CliError> {
    let mut p = ProgressPrinter::new(tty);
    let mut failed = None;
    for_each_json_line(resp, |m: JsonMessage| {
        let mut out = std::io::stdout().lock();
        if let Err(e) = p.show(&m, &mut out) {
            failed = Some(e);
        }
        Ok(())
    })
    .await?;
    match failed {
        Some(e) => Err(CliError::new(e)),
        None => Ok(()),
    }
}

fn open_input(path: &str) -> Result<std::fs::File, CliError> {
    std::fs::File::open(path).map_err(|e| CliError::new(format!("open {path}: {e}")))
}

pub async fn run_import(app: &App, a: ImportArgs) -> Result<(), CliError> {
    if let Some(r) = &a.reference {
        Reference::parse(r).map_err(|e| CliError::new(e.to_string()))?;
    }
    let is_url = a.source.starts_with("http://") || a.source.starts_with("https://");
    let (src, body) = if a.source == "-" {
        ("-".to_owned(), ReqBody::from_reader(std::io::stdin()))
    } else if is_url {
        (a.source.clone(), ReqBody::Empty)
    } else {
        ("-".to_owned(), ReqBody::from_reader(open_input(&a.source)?))
    };
    let mut q = vec![("fromSrc", src)];
    q.push(("repo", a.reference.clone().unwrap_or_default()));
    q.push(("tag", String::new()));
    q.push(("message", a.message.clone().unwrap_or_default()));
    for c in &a.change {
        q.push(("changes", c.clone()));
    }
    if let Some(p) = &a.platform {
        q.push(("platform", p.clone()));
    }
    let resp = app
        .client
        .request(
            Method::POST,
            "/images/create",
            &q,
            body,
            &[("content-type", "application/x-tar")],
        )
        .await?;
    show_progress(resp, stdout_is_tty()).await
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long)]
    pub input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    pub quiet: bool,
}

pub async fn run_load(app: &App, a: LoadArgs) -> Result<(), CliError> {
    let body = match &a.input {
        Some(p) => ReqBody::from_reader(open_input(&p.to_string_lossy())?),
        None => {
            if std::io::stdin().is_terminal() {
                return Err(CliError::new(
                    "requested load from stdin, but stdin is empty",
                ));
            }
            ReqBody::from_reader(std::io::stdin())
        }
    };
    let tty = stdout_is_tty();
    let quiet = a.quiet || !tty;
    let q = [("quiet", if quiet { "1" } else { "0" }.to_owned())];
    let resp = app
        .client
        .request(
            Method::POST,
            "/images/load",
            &q,
            body,
            &[("content-type", "application/x-tar")],
        )
        .await?;
    show_progress(resp, tty).await
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// IMAGE...
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub async fn run_save(app: &App, a: SaveArgs) -> Result<(), CliError> {
    if a.output.is_none() && stdout_is_tty() {
        return Err(CliError::new(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let q: Vec<(&str, String)> = a.images.iter().map(|n| ("names", n.clone())).collect();
    let resp = app
        .client
        .request(Method::GET, "/images/get", &q, ReqBody::Empty, &[])
        .await?;
    let mut body = resp.into_body();
    // Into a temporary file renamed at the end, so a failed save leaves
    // no partial archive under the name asked for.
    let (mut out, tmp): (Box<dyn Write>, Option<(PathBuf, PathBuf)>) = match &a.output {
        Some(p) => {
            let dir = p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let t = dir.join(format!(".{name}.tmp-{}", std::process::id()));
            let f = std::fs::File::create(&t)
                .map_err(|e| CliError::new(format!("create {}: {e}", t.display())))?;
            (Box::new(std::io::BufWriter::new(f)), Some((t, p.clone())))
        }
        None => (Box::new(std::io::stdout().lock()), None),
    };
    let show = std::io::stderr().is_terminal();
    let mut total = 0u64;
    let result: Result<(), CliError> = async {
        while let Some(chunk) = next_chunk(&mut body).await? {
            out.write_all(&chunk)
                .map_err(|e| CliError::new(format!("write image archive: {e}")))?;
            total += chunk.len() as u64;
            if show {
                eprint!("\rSaving: {:>10}", human_size(total as f64));
            }
        }
        out.flush()
            .map_err(|e| CliError::new(format!("write image archive: {e}")))
    }
    .await;
    if show {
        eprintln!();
    }
    drop(out);
    match (result, tmp) {
        (Ok(()), Some((t, p))) => std::fs::rename(&t, &p)
            .map_err(|e| CliError::new(format!("rename {} to {}: {e}", t.display(), p.display()))),
        (Err(e), Some((t, _))) => {
            let _ = std::fs::remove_file(&t);
            Err(e)
        }
        (r, None) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(tags: &[&str], digests: &[&str]) -> ImageSummary {
        ImageSummary {
            id: format!("sha256:{}", "ab".repeat(32)),
            repo_tags: tags.iter().map(|s| s.to_string()).collect(),
            repo_digests: digests.iter().map(|s| s.to_string()).collect(),
            created: 0,
            size: 4_261_000,
            shared_size: -1,
            containers: -1,
            ..Default::default()
        }
    }

    #[test]
    fn rows_per_tag_and_dangling() {
        let r = image_rows(
            &summary(&["busybox:latest", "busybox:1", "me/x:2"], &[]),
            true,
            false,
        );
        let pairs: Vec<(String, String)> = r
            .iter()
            .map(|v| {
                (
                    v["Repository"].as_str().unwrap().into(),
                    v["Tag"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("busybox".into(), "latest".into()),
                ("busybox".into(), "1".into()),
                ("me/x".into(), "2".into())
            ]
        );
        assert_eq!(r[0]["ID"], "abababababab");
        assert_eq!(r[0]["Size"], "4.26MB");
        let d = image_rows(&summary(&[], &[]), false, false);
        assert_eq!(d[0]["Repository"], "<none>");
        assert_eq!(d[0]["ID"].as_str().unwrap().len(), 71);
        let dg = format!("busybox@sha256:{}", "cd".repeat(32));
        let r = image_rows(&summary(&["busybox:latest"], &[&dg]), true, true);
        assert_eq!(r[0]["Digest"].as_str().unwrap(), &dg["busybox@".len()..]);
    }

    #[test]
    fn ellipsis_like_docker() {
        assert_eq!(ellipsis("abc", 45), "abc");
        let long = "x".repeat(50);
        let e = ellipsis(&long, 45);
        assert_eq!(e.chars().count(), 45);
        assert!(e.ends_with('…'));
    }
}
