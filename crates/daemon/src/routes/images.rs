//! Image routes: list, inspect, history, tag, remove, prune, import
//! (`/images/create?fromSrc=`), save (`/images/{name}/get`,
//! `/images/get`) and load.

use crate::body::{BodyReader, InBody};
use crate::error::ApiError;
use crate::fetch;
use crate::router::{empty, finish_progress, json, progress_sink, Ctx, Req, Response};
use crate::service::{Backend, ImageListOptions, ImportOptions};
use berth_api_types::progress::JsonMessage;
use berth_api_types::time::Timestamp;
use berth_api_types::ApiVersion;
use http_body_util::BodyExt;
use hyper::{Method, StatusCode};
use std::io::{BufWriter, Write};

pub(crate) enum Ep {
    List,
    Create,
    Load,
    SaveMany,
    Prune,
    Search,
    Inspect(String),
    History(String),
    Tag(String),
    Save(String),
    Push(String),
    Remove(String),
}

pub(crate) fn resolve(m: &Method, path: &str) -> Option<Ep> {
    let rest = path.strip_prefix("/images/")?;
    let name = |suffix: &str| {
        rest.strip_suffix(suffix)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
    };
    Some(match (m.as_str(), rest) {
        ("GET", "json") => Ep::List,
        ("POST", "create") => Ep::Create,
        ("POST", "load") => Ep::Load,
        ("GET", "get") => Ep::SaveMany,
        ("POST", "prune") => Ep::Prune,
        ("GET", "search") => Ep::Search,
        ("GET", _) if rest.ends_with("/json") => Ep::Inspect(name("/json")?),
        ("GET", _) if rest.ends_with("/history") => Ep::History(name("/history")?),
        ("GET", _) if rest.ends_with("/get") => Ep::Save(name("/get")?),
        ("POST", _) if rest.ends_with("/tag") => Ep::Tag(name("/tag")?),
        ("POST", _) if rest.ends_with("/push") => Ep::Push(name("/push")?),
        ("DELETE", _) if !rest.is_empty() => Ep::Remove(rest.to_owned()),
        _ => return None,
    })
}

pub(crate) async fn serve<B: Backend>(
    ep: Ep,
    ctx: &Ctx<B>,
    req: Req,
) -> Result<Response, ApiError> {
    match ep {
        Ep::List => list(ctx, &req).await,
        Ep::Inspect(name) => {
            let old_size = req.version < ApiVersion::new(1, 44);
            let old_container = req.version < ApiVersion::new(1, 45);
            let mut i = ctx.blocking(move |b| b.image_inspect(&name)).await?;
            if old_size {
                i.virtual_size = Some(i.size);
            }
            if old_container {
                i.container.get_or_insert_with(String::new);
                i.container_config.get_or_insert_with(Default::default);
            }
            json(StatusCode::OK, &i)
        }
        Ep::History(name) => {
            let h = ctx.blocking(move |b| b.image_history(&name)).await?;
            json(StatusCode::OK, &h)
        }
        Ep::Tag(name) => {
            let repo = req.q("repo").unwrap_or("").to_owned();
            let tag = req.q("tag").unwrap_or("").to_owned();
            if repo.is_empty() {
                return Err(ApiError::invalid(
                    "repository name must have at least one component",
                ));
            }
            ctx.blocking(move |b| b.image_tag(&name, &repo, &tag))
                .await?;
            Ok(empty(StatusCode::CREATED))
        }
        Ep::Remove(name) => {
            let force = req.q_bool("force");
            let noprune = req.q_bool("noprune");
            let items = ctx
                .blocking(move |b| b.image_remove(&name, force, !noprune))
                .await?;
            json(StatusCode::OK, &items)
        }
        Ep::Prune => {
            let filters = req.filters(&["dangling", "label", "label!", "until"])?;
            let r = ctx.blocking(move |b| b.images_prune(&filters)).await?;
            json(StatusCode::OK, &r)
        }
        Ep::Create => create(ctx, req).await,
        Ep::Load => {
            let quiet = req.q_bool("quiet");
            let mut src = BodyReader::spawn(req.body);
            ctx.stream("application/json", true, move |b, w| {
                b.image_load(&mut src, quiet, &mut progress_sink(w))
            })
            .await
        }
        Ep::Save(name) => save(ctx, vec![name]).await,
        Ep::SaveMany => {
            let names = req.q_all("names");
            if names.is_empty() {
                return Err(ApiError::invalid("no images named to save"));
            }
            save(ctx, names).await
        }
        Ep::Search => Err(ApiError::unsupported(
            "image search is not supported by berth yet: it needs registry access",
        )),
        Ep::Push(name) => Err(ApiError::unsupported(format!(
            "pushing {name} is not supported by berth yet: registry distribution is not built"
        ))),
    }
}

async fn list<B: Backend>(ctx: &Ctx<B>, req: &Req) -> Result<Response, ApiError> {
    let mut filters = req.filters(&[
        "before",
        "dangling",
        "label",
        "label!",
        "reference",
        "since",
        "until",
    ])?;
    // API < 1.41 clients send the reference as `filter=`.
    if let Some(r) = req.q("filter").filter(|r| !r.is_empty()) {
        filters.add("reference", r);
    }
    filters.get_bool("dangling")?;
    // `until` (images created before a time) is applied here, on what the
    // backend lists.
    let mut until = None;
    for v in filters.remove("until") {
        let t = Timestamp::parse_relative(&v, Timestamp::now())
            .ok_or_else(|| ApiError::invalid(format!("invalid filter 'until={v}'")))?;
        until = Some(t);
    }
    let opts = ImageListOptions {
        all: req.q_bool("all"),
        filters,
        shared_size: req.q_bool("shared-size"),
        digests: req.q_bool("digests"),
    };
    let old = req.version < ApiVersion::new(1, 44);
    let mut images = ctx.blocking(move |b| b.images(&opts)).await?;
    if let Some(u) = until {
        images.retain(|i| {
            Timestamp {
                secs: i.created,
                nanos: 0,
            } < u
        });
    }
    if old {
        for i in &mut images {
            i.virtual_size = Some(i.size);
        }
    }
    json(StatusCode::OK, &images)
}

/// `POST /images/create`: import with `fromSrc`, pull with `fromImage`.
async fn create<B: Backend>(ctx: &Ctx<B>, req: Req) -> Result<Response, ApiError> {
    if let Some(image) = req.q("fromImage").filter(|s| !s.is_empty()) {
        return Err(ApiError::unsupported(format!(
            "pulling {image} is not supported by berth yet: registry distribution is not built; \
             use `berth load` or `berth import`"
        )));
    }
    let Some(src) = req
        .q("fromSrc")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
    else {
        return Err(ApiError::invalid(
            "either fromSrc or fromImage must be given",
        ));
    };
    let opts = ImportOptions {
        repo: req.q("repo").unwrap_or("").to_owned(),
        tag: req.q("tag").unwrap_or("").to_owned(),
        changes: req.q_all("changes"),
        message: req.q("message").unwrap_or("").to_owned(),
        platform: req.q("platform").unwrap_or("").to_owned(),
        source: src.clone(),
    };
    let input: InBody = if src == "-" {
        req.body
    } else if src.starts_with("http://") || src.starts_with("https://") {
        fetch::get(&src)
            .await?
            .into_body()
            .map_err(Into::into)
            .boxed()
    } else {
        return Err(ApiError::invalid(format!(
            "invalid fromSrc {src:?}: want - (the request body) or an http(s) URL"
        )));
    };
    let mut body = BodyReader::spawn(input);
    ctx.stream("application/json", true, move |b, w| {
        let id = b.image_import(&opts, &mut body, &mut progress_sink(w))?;
        let r = w
            .write_all(&JsonMessage::status(id).to_line())
            .map_err(|e| ApiError::internal(format!("write response: {e}")));
        finish_progress(w, r)
    })
    .await
}

async fn save<B: Backend>(ctx: &Ctx<B>, names: Vec<String>) -> Result<Response, ApiError> {
    ctx.stream("application/x-tar", false, move |b, w| {
        let mut out = BufWriter::with_capacity(256 * 1024, w);
        b.image_save(&names, &mut out)?;
        out.flush()
            .map_err(|e| ApiError::internal(format!("write image archive: {e}")))
    })
    .await
}
