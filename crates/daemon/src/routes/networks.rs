//! Network routes: list, inspect, create, remove, connect, disconnect,
//! prune.

use crate::body::InBody;
use crate::error::ApiError;
use crate::router::{empty, json, Ctx, Req, Response};
use crate::service::Backend;
use berth_api_types::network::{
    NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest,
};
use http_body_util::BodyExt;
use hyper::{Method, StatusCode};
use serde::de::DeserializeOwned;

pub(crate) enum Ep {
    List,
    Create,
    Prune,
    Inspect(String),
    Remove(String),
    Connect(String),
    Disconnect(String),
}

pub(crate) fn resolve(m: &Method, path: &str) -> Option<Ep> {
    if path == "/networks" || path == "/networks/" {
        return (m == Method::GET).then_some(Ep::List);
    }
    let rest = path.strip_prefix("/networks/")?;
    let name = |suffix: &str| {
        rest.strip_suffix(suffix)
            .filter(|n| !n.is_empty() && !n.contains('/'))
            .map(str::to_owned)
    };
    Some(match (m.as_str(), rest) {
        ("POST", "create") => Ep::Create,
        ("POST", "prune") => Ep::Prune,
        ("POST", _) if rest.ends_with("/connect") => Ep::Connect(name("/connect")?),
        ("POST", _) if rest.ends_with("/disconnect") => Ep::Disconnect(name("/disconnect")?),
        ("GET", _) if !rest.contains('/') => Ep::Inspect(rest.to_owned()),
        ("DELETE", _) if !rest.contains('/') => Ep::Remove(rest.to_owned()),
        _ => return None,
    })
}

/// A JSON request body; an empty body is the type's default.
pub(crate) async fn body_json<T: DeserializeOwned + Default>(body: InBody) -> Result<T, ApiError> {
    let bytes = body
        .collect()
        .await
        .map_err(|e| ApiError::invalid(format!("read body: {e}")))?
        .to_bytes();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::invalid(format!("invalid JSON: {e}")))
}

pub(crate) async fn serve<B: Backend>(
    ep: Ep,
    ctx: &Ctx<B>,
    req: Req,
) -> Result<Response, ApiError> {
    match ep {
        Ep::List => {
            let f = req.filters(&["dangling", "driver", "id", "label", "name", "scope", "type"])?;
            let nets = ctx.blocking(move |b| b.networks(&f)).await?;
            json(StatusCode::OK, &nets)
        }
        Ep::Inspect(name) => {
            let n = ctx.blocking(move |b| b.network_inspect(&name)).await?;
            json(StatusCode::OK, &n)
        }
        Ep::Create => {
            let body: NetworkCreateRequest = body_json(req.body).await?;
            if body.name.is_empty() {
                return Err(ApiError::invalid("network name is required"));
            }
            let r = ctx.blocking(move |b| b.network_create(&body)).await?;
            json(StatusCode::CREATED, &r)
        }
        Ep::Remove(name) => {
            ctx.blocking(move |b| b.network_remove(&name)).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Ep::Connect(name) => {
            let body: NetworkConnectRequest = body_json(req.body).await?;
            ctx.blocking(move |b| b.network_connect(&name, &body))
                .await?;
            Ok(empty(StatusCode::OK))
        }
        Ep::Disconnect(name) => {
            let body: NetworkDisconnectRequest = body_json(req.body).await?;
            ctx.blocking(move |b| b.network_disconnect(&name, &body))
                .await?;
            Ok(empty(StatusCode::OK))
        }
        Ep::Prune => {
            let f = req.filters(&["until", "label", "label!"])?;
            let r = ctx.blocking(move |b| b.networks_prune(&f)).await?;
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
        assert!(matches!(resolve(&get, "/networks"), Some(Ep::List)));
        assert!(matches!(resolve(&get, "/networks/"), Some(Ep::List)));
        assert!(matches!(
            resolve(&post, "/networks/create"),
            Some(Ep::Create)
        ));
        assert!(matches!(resolve(&post, "/networks/prune"), Some(Ep::Prune)));
        assert!(matches!(resolve(&get, "/networks/web"), Some(Ep::Inspect(n)) if n == "web"));
        assert!(
            matches!(resolve(&Method::DELETE, "/networks/web"), Some(Ep::Remove(n)) if n == "web")
        );
        assert!(
            matches!(resolve(&post, "/networks/web/connect"), Some(Ep::Connect(n)) if n == "web")
        );
        assert!(
            matches!(resolve(&post, "/networks/web/disconnect"), Some(Ep::Disconnect(n)) if n == "web")
        );
        assert!(resolve(&post, "/networks/a/b/connect").is_none());
        assert!(resolve(&post, "/networks").is_none());
    }
}
