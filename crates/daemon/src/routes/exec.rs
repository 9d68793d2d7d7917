//! Exec routes: `POST /containers/{id}/exec`, `POST /exec/{id}/start`
//! (hijacked, or detached), `POST /exec/{id}/resize`, `GET /exec/{id}/json`.

use crate::error::ApiError;
use crate::router::{empty, json, Ctx, Req, Response};
use crate::routes::containers::{api, body_json, detach_keys, hijack};
use crate::service::Backend;
use hyper::{Method, StatusCode};
use serde_json::json;

pub(crate) enum Ep {
    Create(String),
    Start(String),
    Resize(String),
    Inspect(String),
}

pub(crate) fn resolve(m: &Method, path: &str) -> Option<Ep> {
    if let Some(rest) = path.strip_prefix("/containers/") {
        let id = rest
            .strip_suffix("/exec")
            .filter(|i| !i.is_empty() && !i.contains('/'))?;
        return (m == Method::POST).then(|| Ep::Create(id.to_owned()));
    }
    let rest = path.strip_prefix("/exec/")?;
    let (id, action) = rest.split_once('/')?;
    if id.is_empty() {
        return None;
    }
    let id = id.to_owned();
    Some(match (m.as_str(), action) {
        ("POST", "start") => Ep::Start(id),
        ("POST", "resize") => Ep::Resize(id),
        ("GET", "json") => Ep::Inspect(id),
        _ => return None,
    })
}

pub(crate) async fn serve<B: Backend>(
    ep: Ep,
    ctx: &Ctx<B>,
    req: Req,
) -> Result<Response, ApiError> {
    match ep {
        Ep::Create(id) => {
            let body = body_json(req.body).await?;
            let exec_id = ctx
                .blocking(move |b| b.containers()?.exec_create(&id, &body).map_err(api))
                .await?;
            json(StatusCode::CREATED, &json!({"Id": exec_id}))
        }
        Ep::Start(id) => {
            let (upgrade, version) = (req.upgrade, req.version);
            let body = body_json(req.body).await?;
            let detach = body["Detach"].as_bool().unwrap_or(false);
            let keys = detach_keys("")?;
            let s = ctx
                .blocking(move |b| b.containers()?.exec_start(&id, detach).map_err(api))
                .await?;
            match s {
                None => Ok(empty(StatusCode::OK)),
                Some(s) => hijack(
                    upgrade,
                    version,
                    berth_engine::container::AttachHandle::ready(s),
                    keys,
                ),
            }
        }
        Ep::Resize(id) => {
            let num = |k: &str| req.q(k).and_then(|v| v.parse::<u16>().ok()).unwrap_or(0);
            let (h, w) = (num("h"), num("w"));
            ctx.blocking(move |b| b.containers()?.exec_resize(&id, h, w).map_err(api))
                .await?;
            Ok(empty(StatusCode::OK))
        }
        Ep::Inspect(id) => {
            let i = ctx
                .blocking(move |b| b.containers()?.exec_inspect(&id).map_err(api))
                .await?;
            json(StatusCode::OK, &i.to_json())
        }
    }
}
