//! The Engine API router: strips and checks the `/vX.YY` prefix, matches
//! method and path to an endpoint, runs it, and answers errors as
//! `{"message": ...}` with the status of their kind.
//!
//! # Adding routes (extension points)
//!
//! Each API resource has one file under `routes/` with:
//! - an `Ep` enum of its endpoints (path parameters inside the variants),
//! - `pub(crate) fn resolve(method: &Method, path: &str) -> Option<Ep>`
//!   matching a version-less, percent-decoded path,
//! - `pub(crate) async fn serve<B: Backend>(ep: Ep, ctx: &Ctx<B>, req: Req)
//!   -> Result<Response, ApiError>`.
//!
//! To add one (containers, exec, networks, volumes): write the file, add it
//! to `routes/mod.rs`, add a variant to [`Endpoint`] and one line each to
//! [`resolve`] and [`serve`]. Resources tried earlier win, so put exact
//! paths (`/containers/json`) in a resource before patterns that would also
//! match them. Hijacking endpoints (attach, exec start) take
//! [`Req::upgrade`] and answer `101 UPGRADED` (see engine-api.md 2.4);
//! the server already serves connections with upgrades enabled.
//!
//! Blocking backend calls go through [`Ctx::blocking`]; streamed responses
//! through [`Ctx::stream`] (progress JSON or raw bytes from a blocking
//! job) or [`Body::channel`] (async producers such as events).

use crate::body::{Body, InBody, StreamWriter};
use crate::error::ApiError;
use crate::host::HostFacts;
use crate::routes;
use crate::service::Backend;
use berth_api_types::progress::JsonMessage;
use berth_api_types::query;
use berth_api_types::version::{MAX_API_VERSION, MIN_API_VERSION};
use berth_api_types::{ApiVersion, ErrorResponse, Filters};
use hyper::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode};
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use tokio::sync::oneshot;

pub type Response = hyper::Response<Body>;

/// The daemon's own facts, fixed at startup.
#[derive(Debug, Clone)]
pub struct DaemonFacts {
    /// berth's version, shown as the engine version.
    pub version: String,
    pub git_commit: String,
    pub debug: bool,
    pub exec_root: PathBuf,
    pub host: HostFacts,
}

/// What every handler gets: the backend and the daemon's facts.
pub struct Ctx<B> {
    pub backend: Arc<B>,
    pub facts: DaemonFacts,
    /// Open `/events` streams, for `/info`'s `NEventsListener`.
    pub event_listeners: Arc<AtomicI64>,
}

impl<B: Backend> Ctx<B> {
    pub fn new(backend: B, facts: DaemonFacts) -> Self {
        Self {
            backend: Arc::new(backend),
            facts,
            event_listeners: Arc::new(AtomicI64::new(0)),
        }
    }

    /// Runs a backend call on the blocking pool.
    pub async fn blocking<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&B) -> Result<T, ApiError> + Send + 'static,
    {
        let b = Arc::clone(&self.backend);
        tokio::task::spawn_blocking(move || f(&b))
            .await
            .map_err(|e| ApiError::internal(format!("backend task failed: {e}")))?
    }

    /// Runs a blocking job that writes a response stream. An error before
    /// its first byte is answered as a plain error; a later one ends a
    /// progress stream (`progress: true`) with an in-band error message,
    /// or cuts a raw stream short so the client sees a failed transfer.
    pub async fn stream<F>(
        &self,
        content_type: &'static str,
        progress: bool,
        job: F,
    ) -> Result<Response, ApiError>
    where
        F: FnOnce(&B, &mut StreamWriter) -> Result<(), ApiError> + Send + 'static,
    {
        let (tx, body) = Body::channel();
        let (started_tx, started_rx) = oneshot::channel();
        let b = Arc::clone(&self.backend);
        tokio::task::spawn_blocking(move || {
            let mut w = StreamWriter::new(tx, started_tx);
            let mut result = job(&b, &mut w);
            if progress {
                result = finish_progress(&mut w, result);
            }
            if let Err(e) = w.finish(result) {
                tracing::warn!("stream failed after its start: {e}");
                w.abort(e.message);
            }
        });
        match started_rx.await {
            Ok(None) => Ok(with_type(StatusCode::OK, content_type, body)),
            Ok(Some(e)) => Err(e),
            Err(_) => Err(ApiError::internal("backend task failed")),
        }
    }
}

/// A progress sink over a stream: each message is one chunk. A failed write
/// (the client went away) is ignored: the job runs to its end, so the store
/// is left as a finished operation leaves it, not half done.
pub fn progress_sink(w: &mut StreamWriter) -> impl FnMut(JsonMessage) + '_ {
    move |m: JsonMessage| {
        let _ = w.write_all(&m.to_line());
    }
}

/// Ends a progress job: after the first byte an error becomes an in-band
/// error message, before it the response's status.
pub fn finish_progress(w: &mut StreamWriter, r: Result<(), ApiError>) -> Result<(), ApiError> {
    match r {
        Err(e) if w.has_started() => {
            let _ = w.write_all(&JsonMessage::error(e.message).to_line());
            Ok(())
        }
        r => r,
    }
}

/// A request with its version prefix stripped and its query parsed.
pub struct Req {
    pub method: Method,
    /// The path without `/vX.YY`, percent-decoded.
    pub path: String,
    /// The version the client asked for (the maximum when unversioned).
    pub version: ApiVersion,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: InBody,
    /// The connection upgrade, for hijacking endpoints.
    pub upgrade: Option<hyper::upgrade::OnUpgrade>,
}

impl Req {
    /// The first value of query parameter `k`.
    pub fn q(&self, k: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated parameter (`names=a&names=b`).
    pub fn q_all(&self, k: &str) -> Vec<String> {
        self.query
            .iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A boolean parameter as dockerd reads it (absent is false).
    pub fn q_bool(&self, k: &str) -> bool {
        self.q(k).is_some_and(query::parse_bool)
    }

    /// The `filters` parameter, with its keys checked against `allowed`.
    pub fn filters(&self, allowed: &[&str]) -> Result<Filters, ApiError> {
        let f = Filters::parse(self.q("filters").unwrap_or(""))?;
        f.validate(allowed)?;
        Ok(f)
    }
}

/// Every endpoint, by resource.
pub(crate) enum Endpoint {
    System(routes::system::Ep),
    Images(routes::images::Ep),
    Containers(routes::containers::Ep),
    Exec(routes::exec::Ep),
    Networks(routes::networks::Ep),
    Volumes(routes::volumes::Ep),
    Unsupported(routes::unsupported::Ep),
}

/// Matches a version-less path; `None` is a 404.
pub(crate) fn resolve(method: &Method, path: &str) -> Option<Endpoint> {
    routes::system::resolve(method, path)
        .map(Endpoint::System)
        .or_else(|| routes::images::resolve(method, path).map(Endpoint::Images))
        .or_else(|| routes::exec::resolve(method, path).map(Endpoint::Exec))
        .or_else(|| routes::containers::resolve(method, path).map(Endpoint::Containers))
        .or_else(|| routes::networks::resolve(method, path).map(Endpoint::Networks))
        .or_else(|| routes::volumes::resolve(method, path).map(Endpoint::Volumes))
        .or_else(|| routes::unsupported::resolve(method, path).map(Endpoint::Unsupported))
}

async fn serve<B: Backend>(ep: Endpoint, ctx: &Ctx<B>, req: Req) -> Result<Response, ApiError> {
    match ep {
        Endpoint::System(ep) => routes::system::serve(ep, ctx, req).await,
        Endpoint::Images(ep) => routes::images::serve(ep, ctx, req).await,
        Endpoint::Containers(ep) => routes::containers::serve(ep, ctx, req).await,
        Endpoint::Exec(ep) => routes::exec::serve(ep, ctx, req).await,
        Endpoint::Networks(ep) => routes::networks::serve(ep, ctx, req).await,
        Endpoint::Volumes(ep) => routes::volumes::serve(ep, ctx, req).await,
        Endpoint::Unsupported(ep) => routes::unsupported::serve(ep),
    }
}

/// Splits `/v1.41/images/json` into the version and `/images/json`.
/// `Ok(None)` means an unversioned path; `Err` a version that does not
/// parse (answered as 404, as moby's route pattern would not match).
fn split_version(path: &str) -> Result<(Option<ApiVersion>, &str), ()> {
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok((None, path));
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let (v, tail) = rest.split_at(end);
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Ok((None, path));
    }
    let version = match v.parse::<ApiVersion>() {
        Ok(v) => v,
        Err(_) => match v.parse::<u32>() {
            Ok(major) => ApiVersion::new(major, 0),
            Err(_) => return Err(()),
        },
    };
    Ok((Some(version), if tail.is_empty() { "/" } else { tail }))
}

/// Checks a requested version against the range served, with dockerd's
/// messages.
pub fn check_version(v: ApiVersion) -> Result<(), ApiError> {
    if v > MAX_API_VERSION {
        return Err(ApiError::invalid(format!(
            "client version {v} is too new. Maximum supported API version is {MAX_API_VERSION}"
        )));
    }
    if v < MIN_API_VERSION {
        return Err(ApiError::invalid(format!(
            "client version {v} is too old. Minimum supported API version is {MIN_API_VERSION}, \
             please upgrade your client to a newer version"
        )));
    }
    Ok(())
}

/// Serves one request. Never fails: errors become error responses.
pub async fn handle<B: Backend>(ctx: &Ctx<B>, mut req: Request<InBody>) -> Response {
    let upgrade = req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>();
    let (parts, body) = req.into_parts();
    let raw_path = parts.uri.path().to_owned();
    let method = parts.method.clone();
    let started = std::time::Instant::now();
    let mut resp = match split_version(&raw_path) {
        Err(()) => not_found(),
        Ok((version, path)) => {
            let path = query::decode_path(path);
            let checked = version.map_or(Ok(()), check_version);
            match (checked, resolve(&parts.method, &path)) {
                (_, None) => not_found(),
                (Err(e), Some(_)) => error_response(&e),
                (Ok(()), Some(ep)) => {
                    let r = Req {
                        method: parts.method.clone(),
                        path,
                        version: version.unwrap_or(MAX_API_VERSION),
                        query: query::parse_pairs(parts.uri.query().unwrap_or("")),
                        headers: parts.headers,
                        body,
                        upgrade,
                    };
                    match serve(ep, ctx, r).await {
                        Ok(resp) => resp,
                        Err(e) => {
                            tracing::debug!("{} {raw_path}: {}", parts.method, e.message);
                            error_response(&e)
                        }
                    }
                }
            }
        }
    };
    // Streams are logged when their headers go out, not when they end.
    tracing::debug!(
        "{method} {raw_path} {} {:?}",
        resp.status().as_u16(),
        started.elapsed()
    );
    let h = resp.headers_mut();
    let server = format!("Berth/{} (linux)", ctx.facts.version);
    if let Ok(v) = HeaderValue::from_str(&server) {
        h.insert(hyper::header::SERVER, v);
    }
    if let Ok(v) = HeaderValue::from_str(&MAX_API_VERSION.to_string()) {
        h.insert("api-version", v);
    }
    h.insert("ostype", HeaderValue::from_static("linux"));
    resp
}

fn with_type(status: StatusCode, content_type: &'static str, body: Body) -> Response {
    let mut r = hyper::Response::new(body);
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// A JSON response, newline-terminated as Go's encoder writes it.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, v: &T) -> Result<Response, ApiError> {
    let mut b = serde_json::to_vec(v).map_err(|e| ApiError::internal(format!("encode: {e}")))?;
    b.push(b'\n');
    Ok(with_type(status, "application/json", Body::full(b)))
}

/// A response without a body (`204`, `201` from tag).
pub fn empty(status: StatusCode) -> Response {
    let mut r = hyper::Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

/// A streamed response fed by an async producer.
pub fn streaming(content_type: &'static str, body: Body) -> Response {
    with_type(StatusCode::OK, content_type, body)
}

pub fn error_response(e: &ApiError) -> Response {
    let body = ErrorResponse {
        message: e.message.clone(),
    };
    let mut b = serde_json::to_vec(&body).unwrap_or_default();
    b.push(b'\n');
    with_type(e.status(), "application/json", Body::full(b))
}

fn not_found() -> Response {
    error_response(&ApiError::not_found("page not found"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_version_forms() {
        assert_eq!(
            split_version("/v1.41/images/json"),
            Ok((Some(ApiVersion::new(1, 41)), "/images/json"))
        );
        assert_eq!(split_version("/_ping"), Ok((None, "/_ping")));
        assert_eq!(split_version("/volumes"), Ok((None, "/volumes")));
        assert_eq!(
            split_version("/v1/info"),
            Ok((Some(ApiVersion::new(1, 0)), "/info"))
        );
        assert_eq!(split_version("/v1.2.3/info"), Err(()));
    }

    #[test]
    fn version_bounds() {
        assert!(check_version(MAX_API_VERSION).is_ok());
        assert!(check_version(MIN_API_VERSION).is_ok());
        let e = check_version(ApiVersion::new(1, 99)).unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert!(e.message.contains("too new"), "{}", e.message);
        let e = check_version(ApiVersion::new(1, 12)).unwrap_err();
        assert!(e.message.contains("too old"), "{}", e.message);
    }
}
