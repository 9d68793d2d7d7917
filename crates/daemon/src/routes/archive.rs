//! A container's files: `GET`/`HEAD`/`PUT /containers/{id}/archive`
//! (`docker cp`), `GET /containers/{id}/export` and `POST /commit`. The
//! endpoints are matched in `containers.rs`; the work is the engine's
//! (`berth_engine::container::archive`).

use super::containers::{api, body_json};
use crate::body::BodyReader;
use crate::error::ApiError;
use crate::router::{empty, json, Ctx, Req, Response};
use crate::service::Backend;
use berth_api_types::query;
use berth_engine::container::{CommitRequest, ExtractOptions, PathStat};
use hyper::header::HeaderValue;
use hyper::StatusCode;
use serde_json::json;

const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

/// Standard base64 with padding, as Go's `base64.StdEncoding`.
fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn stat_header(stat: &PathStat) -> Result<HeaderValue, ApiError> {
    let j = serde_json::to_vec(stat).map_err(|e| ApiError::internal(format!("encode: {e}")))?;
    HeaderValue::from_str(&base64(&j)).map_err(|e| ApiError::internal(format!("header: {e}")))
}

fn path_param(req: &Req) -> Result<String, ApiError> {
    req.q("path")
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| ApiError::invalid("Path cannot be empty"))
}

/// `HEAD /containers/{id}/archive?path=`: only the stat header.
pub(crate) async fn head<B: Backend>(
    ctx: &Ctx<B>,
    id: String,
    req: &Req,
) -> Result<Response, ApiError> {
    let path = path_param(req)?;
    let stat = ctx
        .blocking(move |b| b.containers()?.archive_stat(&id, &path).map_err(api))
        .await?;
    let mut r = empty(StatusCode::OK);
    r.headers_mut().insert(STAT_HEADER, stat_header(&stat)?);
    Ok(r)
}

/// `GET /containers/{id}/archive?path=`: the stat header and a tar.
pub(crate) async fn get<B: Backend>(
    ctx: &Ctx<B>,
    id: String,
    req: &Req,
) -> Result<Response, ApiError> {
    let path = path_param(req)?;
    let (id2, path2) = (id.clone(), path.clone());
    let stat = ctx
        .blocking(move |b| b.containers()?.archive_stat(&id2, &path2).map_err(api))
        .await?;
    let mut r = ctx
        .stream("application/x-tar", false, move |b, w| {
            b.containers()?.archive_get(&id, &path, w).map_err(api)
        })
        .await?;
    r.headers_mut().insert(STAT_HEADER, stat_header(&stat)?);
    Ok(r)
}

/// `PUT /containers/{id}/archive?path=DIR`: extracts the body (a tar).
pub(crate) async fn put<B: Backend>(
    ctx: &Ctx<B>,
    id: String,
    req: Req,
) -> Result<Response, ApiError> {
    let path = path_param(&req)?;
    let opts = ExtractOptions {
        no_overwrite_dir_non_dir: req.q_bool("noOverwriteDirNonDir"),
        copy_uid_gid: req.q_bool("copyUIDGID"),
    };
    let mut body = BodyReader::spawn(req.body);
    ctx.blocking(move |b| {
        b.containers()?
            .archive_put(&id, &path, &mut body, opts)
            .map_err(api)
    })
    .await?;
    Ok(empty(StatusCode::OK))
}

/// `GET /containers/{id}/export`.
pub(crate) async fn export<B: Backend>(ctx: &Ctx<B>, id: String) -> Result<Response, ApiError> {
    ctx.stream("application/x-tar", false, move |b, w| {
        b.containers()?.export(&id, w).map_err(api)
    })
    .await
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=`
/// with an optional container config as the body.
pub(crate) async fn commit<B: Backend>(ctx: &Ctx<B>, req: Req) -> Result<Response, ApiError> {
    let container = req.q("container").unwrap_or("").to_owned();
    let repo = req.q("repo").unwrap_or("");
    let tag = req.q("tag").unwrap_or("");
    let reference = match (repo, tag) {
        ("", "") => None,
        ("", _) => return Err(ApiError::invalid("a tag needs a repository")),
        (r, "") => Some(r.to_owned()),
        (r, t) => Some(format!("{r}:{t}")),
    };
    // Absent means pause, as dockerd answers API 1.13 and later.
    let pause = req.q("pause").is_none_or(query::parse_bool);
    let changes = req.q_all("changes");
    let comment = req.q("comment").unwrap_or("").to_owned();
    let author = req.q("author").unwrap_or("").to_owned();
    let body = body_json(req.body).await?;
    let config = match body {
        serde_json::Value::Object(ref o) if o.is_empty() => None,
        serde_json::Value::Null => None,
        v => Some(v),
    };
    let r = CommitRequest {
        reference,
        comment,
        author,
        pause,
        changes,
        config,
    };
    let id = ctx
        .blocking(move |b| b.containers()?.commit(&container, &r).map_err(api))
        .await?;
    json(StatusCode::CREATED, &json!({"Id": id}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_resolve() {
        use super::super::containers::{resolve, Ep};
        use hyper::Method;
        let r = |m: Method, p: &str| resolve(&m, p);
        assert!(
            matches!(r(Method::GET, "/containers/c/archive"), Some(Ep::ArchiveGet(id)) if id == "c")
        );
        assert!(matches!(
            r(Method::HEAD, "/containers/c/archive"),
            Some(Ep::ArchiveHead(_))
        ));
        assert!(matches!(
            r(Method::PUT, "/containers/c/archive"),
            Some(Ep::ArchivePut(_))
        ));
        assert!(matches!(
            r(Method::GET, "/containers/c/export"),
            Some(Ep::Export(_))
        ));
        assert!(matches!(r(Method::POST, "/commit"), Some(Ep::Commit)));
        assert!(r(Method::GET, "/commit").is_none());
    }

    #[test]
    fn base64_matches_go() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"{\"name\":\"a\"}"), "eyJuYW1lIjoiYSJ9");
    }
}
