//! Volume routes: list, create, inspect, remove, prune.

use super::networks::body_json;
use crate::error::ApiError;
use crate::router::{empty, json, Ctx, Req, Response};
use crate::service::Backend;
use berth_api_types::volume::VolumeCreateRequest;
use berth_api_types::ApiVersion;
use hyper::{Method, StatusCode};

pub(crate) enum Ep {
    List,
    Create,
    Prune,
    Inspect(String),
    Remove(String),
}

pub(crate) fn resolve(m: &Method, path: &str) -> Option<Ep> {
    if path == "/volumes" || path == "/volumes/" {
        return (m == Method::GET).then_some(Ep::List);
    }
    let rest = path.strip_prefix("/volumes/")?;
    if rest.is_empty() || rest.contains('/') {
        return None;
    }
    Some(match (m.as_str(), rest) {
        ("POST", "create") => Ep::Create,
        ("POST", "prune") => Ep::Prune,
        ("GET", _) => Ep::Inspect(rest.to_owned()),
        ("DELETE", _) => Ep::Remove(rest.to_owned()),
        _ => return None,
    })
}

pub(crate) async fn serve<B: Backend>(
    ep: Ep,
    ctx: &Ctx<B>,
    req: Req,
) -> Result<Response, ApiError> {
    match ep {
        Ep::List => {
            let f = req.filters(&["dangling", "driver", "label", "name"])?;
            let list = ctx.blocking(move |b| b.volumes(&f)).await?;
            json(StatusCode::OK, &list)
        }
        Ep::Create => {
            let body: VolumeCreateRequest = body_json(req.body).await?;
            let v = ctx.blocking(move |b| b.volume_create(&body)).await?;
            json(StatusCode::CREATED, &v)
        }
        Ep::Inspect(name) => {
            let v = ctx.blocking(move |b| b.volume_inspect(&name)).await?;
            json(StatusCode::OK, &v)
        }
        Ep::Remove(name) => {
            let force = req.q_bool("force");
            ctx.blocking(move |b| b.volume_remove(&name, force)).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Ep::Prune => {
            let mut f = req.filters(&["all", "label", "label!"])?;
            // Before API 1.42 prune removed every unused volume; since, only
            // anonymous ones unless `all` is given.
            if req.version < ApiVersion::new(1, 42) && !f.contains("all") {
                f.add("all", "true");
            }
            let r = ctx.blocking(move |b| b.volumes_prune(&f)).await?;
            json(StatusCode::OK, &r)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let get = Method::GET;
        let post = Method::POST;
        assert!(matches!(resolve(&get, "/volumes"), Some(Ep::List)));
        assert!(matches!(
            resolve(&post, "/volumes/create"),
            Some(Ep::Create)
        ));
        assert!(matches!(resolve(&post, "/volumes/prune"), Some(Ep::Prune)));
        assert!(matches!(resolve(&get, "/volumes/data"), Some(Ep::Inspect(n)) if n == "data"));
        assert!(
            matches!(resolve(&Method::DELETE, "/volumes/data"), Some(Ep::Remove(n)) if n == "data")
        );
        assert!(resolve(&get, "/volumes/a/b").is_none());
        assert!(resolve(&Method::PUT, "/volumes/data").is_none());
    }
}
