//! Container routes: create, list, inspect, start, stop, restart, kill,
//! pause, unpause, wait, remove, logs, attach (hijacked), resize, rename,
//! prune, and the stream pump shared with exec start; the archive, export
//! and commit endpoints are served by `archive.rs`.

use crate::body::Body;
use crate::error::ApiError;
use crate::router::{empty, json, streaming, Ctx, Req, Response};
use crate::service::Backend;
use berth_api_types::ApiVersion;
use berth_engine::container::{
    frame, time, AttachHandle, AttachStream, Containers, Error as CError, ListOptions, LogOptions,
    WaitCondition,
};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE, UPGRADE};
use hyper::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(crate) enum Ep {
    List,
    Create,
    Prune,
    Inspect(String),
    Start(String),
    Stop(String),
    Restart(String),
    Kill(String),
    Pause(String),
    Unpause(String),
    Wait(String),
    Remove(String),
    Logs(String),
    Attach(String),
    Resize(String),
    Rename(String),
    Top(String),
    Changes(String),
    Stats(String),
    Update(String),
    ArchiveGet(String),
    ArchiveHead(String),
    ArchivePut(String),
    Export(String),
    Commit,
}

pub(crate) fn resolve(m: &Method, path: &str) -> Option<Ep> {
    if m == Method::POST && path == "/commit" {
        return Some(Ep::Commit);
    }
    let rest = path.strip_prefix("/containers/")?;
    match (m.as_str(), rest) {
        ("GET", "json") => return Some(Ep::List),
        ("POST", "create") => return Some(Ep::Create),
        ("POST", "prune") => return Some(Ep::Prune),
        _ => {}
    }
    let (id, action) = match rest.split_once('/') {
        Some((id, a)) => (id.to_owned(), a),
        None => (rest.to_owned(), ""),
    };
    if id.is_empty() {
        return None;
    }
    Some(match (m.as_str(), action) {
        ("GET", "json") => Ep::Inspect(id),
        ("POST", "start") => Ep::Start(id),
        ("POST", "stop") => Ep::Stop(id),
        ("POST", "restart") => Ep::Restart(id),
        ("POST", "kill") => Ep::Kill(id),
        ("POST", "pause") => Ep::Pause(id),
        ("POST", "unpause") => Ep::Unpause(id),
        ("POST", "wait") => Ep::Wait(id),
        ("DELETE", "") => Ep::Remove(id),
        ("GET", "logs") => Ep::Logs(id),
        ("POST", "attach") => Ep::Attach(id),
        ("POST", "resize") => Ep::Resize(id),
        ("POST", "rename") => Ep::Rename(id),
        ("GET", "top") => Ep::Top(id),
        ("GET", "changes") => Ep::Changes(id),
        ("GET", "stats") => Ep::Stats(id),
        ("POST", "update") => Ep::Update(id),
        ("GET", "archive") => Ep::ArchiveGet(id),
        ("HEAD", "archive") => Ep::ArchiveHead(id),
        ("PUT", "archive") => Ep::ArchivePut(id),
        ("GET", "export") => Ep::Export(id),
        _ => return None,
    })
}

/// A container-service error as the API answers it, in docker's words.
pub(crate) fn api(e: CError) -> ApiError {
    match &e {
        CError::Engine(berth_engine::Error::NoSuchImage(name)) => {
            ApiError::not_found(format!("No such image: {name}"))
        }
        _ => ApiError::from_error(e.kind(), &e),
    }
}

fn containers<B: Backend>(b: &B) -> Result<&Containers, ApiError> {
    b.containers()
}

/// A JSON request body (an empty one reads as `{}`).
pub(crate) async fn body_json(body: crate::body::InBody) -> Result<serde_json::Value, ApiError> {
    let bytes = body
        .collect()
        .await
        .map_err(|e| ApiError::invalid(format!("read body: {e}")))?
        .to_bytes();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::invalid(format!("invalid JSON: {e}")))
}

fn q_i64(req: &Req, k: &str) -> Result<Option<i64>, ApiError> {
    match req.q(k).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| ApiError::invalid(format!("invalid value for {k}: {v:?}"))),
    }
}

pub(crate) async fn serve<B: Backend>(
    ep: Ep,
    ctx: &Ctx<B>,
    req: Req,
) -> Result<Response, ApiError> {
    match ep {
        Ep::List => {
            let filters = req.filters(&[
                "ancestor",
                "before",
                "expose",
                "exited",
                "health",
                "id",
                "isolation",
                "is-task",
                "label",
                "label!",
                "name",
                "network",
                "publish",
                "since",
                "status",
                "volume",
            ])?;
            let opts = ListOptions {
                all: req.q_bool("all"),
                limit: q_i64(&req, "limit")?
                    .filter(|l| *l > 0)
                    .map_or(0, |l| l as usize),
                latest: req.q_bool("latest"),
                filters: filters.to_map(),
            };
            let list = ctx
                .blocking(move |b| containers(b)?.list(&opts).map_err(api))
                .await?;
            json(StatusCode::OK, &list)
        }
        Ep::Create => {
            let name = req.q("name").map(str::to_owned);
            let body = body_json(req.body).await?;
            let c = ctx
                .blocking(move |b| containers(b)?.create(name.as_deref(), &body).map_err(api))
                .await?;
            json(
                StatusCode::CREATED,
                &json!({"Id": c.id, "Warnings": c.warnings}),
            )
        }
        Ep::Prune => {
            let filters = req.filters(&["label", "label!", "until"])?.to_map();
            let ids = ctx
                .blocking(move |b| containers(b)?.prune(&filters).map_err(api))
                .await?;
            json(
                StatusCode::OK,
                &json!({"ContainersDeleted": ids, "SpaceReclaimed": 0}),
            )
        }
        Ep::Inspect(id) => {
            let v = ctx
                .blocking(move |b| containers(b)?.inspect(&id).map_err(api))
                .await?;
            json(StatusCode::OK, &v)
        }
        Ep::Start(id) => {
            ctx.blocking(move |b| containers(b)?.start(&id).map_err(api))
                .await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Ep::Stop(id) | Ep::Restart(id) => {
            let restart = req.path.ends_with("/restart");
            let t = q_i64(&req, "t")?.or(q_i64(&req, "timeout")?);
            let signal = req.q("signal").filter(|s| !s.is_empty()).map(str::to_owned);
            ctx.blocking(move |b| {
                let c = containers(b)?;
                if restart {
                    c.restart(&id, signal.as_deref(), t)
                } else {
                    c.stop(&id, signal.as_deref(), t)
                }
                .map_err(api)
            })
            .await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Ep::Kill(id) => {
            let signal = req.q("signal").filter(|s| !s.is_empty()).map(str::to_owned);
            ctx.blocking(move |b| containers(b)?.kill(&id, signal.as_deref()).map_err(api))
                .await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Ep::Pause(id) | Ep::Unpause(id) => {
            let pause = req.path.ends_with("/pause");
            ctx.blocking(move |b| containers(b)?.pause(&id, pause).map_err(api))
                .await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Ep::Wait(id) => {
            let cond = req.q("condition").unwrap_or("");
            let cond = WaitCondition::parse(cond)
                .ok_or_else(|| ApiError::invalid(format!("invalid condition: {cond:?}")))?;
            let waiter = ctx
                .blocking(move |b| containers(b)?.wait_for(&id, cond).map_err(api))
                .await?;
            // Headers go out now; the answer when the condition holds.
            let (tx, body) = Body::channel();
            tokio::task::spawn_blocking(move || {
                // Gives up when the client (or the daemon) goes away.
                let Some(r) = waiter.wait_while(|| !tx.is_closed()) else {
                    return;
                };
                let error = r.error.map(|m| json!({"Message": m}));
                let mut line =
                    serde_json::to_vec(&json!({"StatusCode": r.status_code, "Error": error}))
                        .unwrap_or_default();
                line.push(b'\n');
                let _ = tx.blocking_send(Ok(Bytes::from(line)));
            });
            Ok(streaming("application/json", body))
        }
        Ep::Remove(id) => {
            let force = req.q_bool("force");
            let volumes = req.q_bool("v");
            if req.q_bool("link") {
                return Err(ApiError::invalid("links are not supported by berth"));
            }
            ctx.blocking(move |b| containers(b)?.remove(&id, force, volumes).map_err(api))
                .await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Ep::Logs(id) => logs(ctx, id, &req).await,
        Ep::Top(id) => {
            let args = req.q("ps_args").unwrap_or("").to_owned();
            let v = ctx
                .blocking(move |b| containers(b)?.top(&id, &args).map_err(api))
                .await?;
            json(StatusCode::OK, &v)
        }
        Ep::Stats(id) => stats(ctx, id, &req).await,
        Ep::Update(id) => {
            let body = body_json(req.body).await?;
            let w = ctx
                .blocking(move |b| containers(b)?.update(&id, &body).map_err(api))
                .await?;
            json(StatusCode::OK, &json!({"Warnings": w}))
        }
        Ep::Changes(id) => {
            let v = ctx
                .blocking(move |b| containers(b)?.changes(&id).map_err(api))
                .await?;
            json(StatusCode::OK, &v)
        }
        Ep::Attach(id) => attach(ctx, id, req).await,
        Ep::ArchiveGet(id) => super::archive::get(ctx, id, &req).await,
        Ep::ArchiveHead(id) => super::archive::head(ctx, id, &req).await,
        Ep::ArchivePut(id) => super::archive::put(ctx, id, req).await,
        Ep::Export(id) => super::archive::export(ctx, id).await,
        Ep::Commit => super::archive::commit(ctx, req).await,
        Ep::Resize(id) => {
            let h = q_i64(&req, "h")?.unwrap_or(0);
            let w = q_i64(&req, "w")?.unwrap_or(0);
            let (h, w) = (u16::try_from(h), u16::try_from(w));
            let (Ok(h), Ok(w)) = (h, w) else {
                return Err(ApiError::invalid("invalid terminal size"));
            };
            ctx.blocking(move |b| containers(b)?.resize(&id, h, w).map_err(api))
                .await?;
            Ok(empty(StatusCode::OK))
        }
        Ep::Rename(id) => {
            let name = req.q("name").unwrap_or("").to_owned();
            ctx.blocking(move |b| containers(b)?.rename(&id, &name).map_err(api))
                .await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
    }
}

/// `GET /containers/{id}/stats`: one sample (`stream=false`, with the
/// previous one a second before for CPU rates, as dockerd), or one a
/// second until the client leaves.
async fn stats<B: Backend>(ctx: &Ctx<B>, id: String, req: &Req) -> Result<Response, ApiError> {
    let stream = req
        .q("stream")
        .is_none_or(berth_api_types::query::parse_bool);
    let one_shot = req.q_bool("one-shot");
    let id2 = id.clone();
    let first = ctx
        .blocking(move |b| containers(b)?.stats(&id2, None).map_err(api))
        .await?;
    let (tx, body) = Body::channel();
    let b = std::sync::Arc::clone(&ctx.backend);
    tokio::task::spawn_blocking(move || {
        let Ok(c) = containers(&*b) else { return };
        let mut prev = first;
        let send = |v: &serde_json::Value| {
            let mut line = serde_json::to_vec(v).unwrap_or_default();
            line.push(b'\n');
            tx.blocking_send(Ok(Bytes::from(line))).is_ok()
        };
        if one_shot {
            let _ = send(&prev);
            return;
        }
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
            let Ok(next) = c.stats(&id, Some(&prev)) else {
                return;
            };
            if !send(&next) || !stream {
                return;
            }
            prev = next;
        }
    });
    Ok(streaming("application/json", body))
}

/// Content type of a stdio stream.
fn stream_type(tty: bool, v: ApiVersion) -> &'static str {
    if !tty && v >= ApiVersion::new(1, 42) {
        "application/vnd.docker.multiplexed-stream"
    } else {
        "application/vnd.docker.raw-stream"
    }
}

async fn logs<B: Backend>(ctx: &Ctx<B>, id: String, req: &Req) -> Result<Response, ApiError> {
    let stdout = req.q_bool("stdout");
    let stderr = req.q_bool("stderr");
    if !stdout && !stderr {
        return Err(ApiError::invalid(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let time_of = |k: &str| -> Result<i64, ApiError> {
        match req.q(k).filter(|v| !v.is_empty()) {
            None => Ok(0),
            Some(v) => berth_engine::container::parse_log_time(v)
                .ok_or_else(|| ApiError::invalid(format!("invalid value for \"{k}\": {v:?}"))),
        }
    };
    // A tail that is not a count (`all`, negative) means everything.
    let tail = req.q("tail").and_then(|t| t.parse::<usize>().ok());
    let opts = LogOptions {
        stdout,
        stderr,
        since: time_of("since")?,
        until: time_of("until")?,
        tail,
        follow: req.q_bool("follow"),
    };
    let timestamps = req.q_bool("timestamps");
    let version = req.version;
    let id2 = id.clone();
    let tty = ctx
        .blocking(move |b| containers(b)?.is_tty(&id2).map_err(api))
        .await?;
    let (tx, body) = Body::channel();
    let b = std::sync::Arc::clone(&ctx.backend);
    tokio::task::spawn_blocking(move || {
        let Ok(c) = containers(&*b) else { return };
        let mut sink = |l: berth_engine::container::LogLine| -> bool {
            if l.text.is_empty() {
                return !tx.is_closed();
            }
            let mut payload = Vec::with_capacity(l.text.len() + 32);
            if timestamps {
                payload.extend_from_slice(time::format_fixed(l.time).as_bytes());
                payload.push(b' ');
            }
            payload.extend_from_slice(&l.text);
            let mut out = Vec::with_capacity(payload.len() + 8);
            if !tty {
                let kind = if l.stderr {
                    frame::STDERR
                } else {
                    frame::STDOUT
                };
                out.extend_from_slice(&frame::header(kind, payload.len()));
            }
            out.extend_from_slice(&payload);
            tx.blocking_send(Ok(Bytes::from(out))).is_ok()
        };
        if let Err(e) = c.logs(&id, &opts, &mut sink) {
            tracing::warn!("logs of {id}: {e}");
        }
    });
    Ok(streaming(stream_type(tty, version), body))
}

/// The log so far in the client's framing (docker's `attach?logs=1`), up
/// to `until` (Unix nanoseconds).
fn log_replay(
    c: &Containers,
    id: &str,
    stdout: bool,
    stderr: bool,
    until: i64,
    tty: bool,
) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    if !stdout && !stderr {
        return Ok(out);
    }
    let opts = LogOptions {
        stdout,
        stderr,
        until,
        ..LogOptions::default()
    };
    c.logs(id, &opts, &mut |l| {
        if !tty {
            let kind = if l.stderr {
                frame::STDERR
            } else {
                frame::STDOUT
            };
            out.extend_from_slice(&frame::header(kind, l.text.len()));
        }
        out.extend_from_slice(&l.text);
        true
    })
    .map_err(api)?;
    Ok(out)
}

async fn attach<B: Backend>(ctx: &Ctx<B>, id: String, req: Req) -> Result<Response, ApiError> {
    let (stream, logs) = (req.q_bool("stream"), req.q_bool("logs"));
    let (stdin, stdout, stderr) = (
        req.q_bool("stdin"),
        req.q_bool("stdout"),
        req.q_bool("stderr"),
    );
    let keys = detach_keys(req.q("detachKeys").unwrap_or(""))?;
    let (live, tty, replay) = ctx
        .blocking(move |b| {
            let c = containers(b)?;
            let tty = c.is_tty(&id).map_err(api)?;
            // Live output from the attach on, the log before it: the log
            // is read up to the moment the attach was asked for, so a line
            // shows once (docker reads the log first and may lose lines
            // written meanwhile).
            let until = time::now();
            let live = if stream {
                Some(c.attach(&id, stdin, stdout, stderr).map_err(api)?)
            } else {
                None
            };
            let replay = if logs {
                log_replay(c, &id, stdout, stderr, until, tty)?
            } else {
                Vec::new()
            };
            Ok((live, tty, replay))
        })
        .await?;
    hijack_replay(req.upgrade, req.version, tty, replay, live, keys)
}

/// Docker's `--detach-keys`: `ctrl-p,ctrl-q` (the default), letters, `ctrl-@`…
pub(crate) fn detach_keys(spec: &str) -> Result<Vec<u8>, ApiError> {
    let spec = if spec.is_empty() {
        "ctrl-p,ctrl-q"
    } else {
        spec
    };
    spec.split(',')
        .map(|k| {
            let bad = || ApiError::invalid(format!("Invalid detach keys ({spec}) provided"));
            match k.strip_prefix("ctrl-") {
                Some(c) if c.len() == 1 => {
                    let b = c.as_bytes()[0].to_ascii_lowercase();
                    match b {
                        b'a'..=b'z' => Ok(b - b'a' + 1),
                        b'@' => Ok(0),
                        b'[' => Ok(27),
                        b'\\' => Ok(28),
                        b']' => Ok(29),
                        b'^' => Ok(30),
                        b'_' => Ok(31),
                        _ => Err(bad()),
                    }
                }
                None if k.len() == 1 => Ok(k.as_bytes()[0]),
                _ => Err(bad()),
            }
        })
        .collect()
}

/// How long a hijacked connection whose output ended waits for the client
/// to close its side (a client normally closes at once on the EOF).
const CLIENT_CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Answer `101 UPGRADED` and pump the connection to and from the shim:
/// the client's bytes become stdin frames (a half-close is stdin EOF, the
/// detach keys end the session), the shim's frames go out as they are
/// (multiplexed) or unwrapped (tty).
pub(crate) fn hijack(
    upgrade: Option<hyper::upgrade::OnUpgrade>,
    version: ApiVersion,
    h: AttachHandle,
    keys: Vec<u8>,
) -> Result<Response, ApiError> {
    hijack_replay(upgrade, version, h.tty, Vec::new(), Some(h), keys)
}

/// Like [`hijack`], sending `replay` (bytes in the client's framing) first;
/// without a live stream the connection ends after it.
fn hijack_replay(
    upgrade: Option<hyper::upgrade::OnUpgrade>,
    version: ApiVersion,
    tty: bool,
    replay: Vec<u8>,
    live: Option<AttachHandle>,
    keys: Vec<u8>,
) -> Result<Response, ApiError> {
    let Some(on_upgrade) = upgrade else {
        return Err(ApiError::invalid(
            "attach needs a connection upgrade (Connection: Upgrade, Upgrade: tcp)",
        ));
    };
    let ct = stream_type(tty, version);
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!("attach upgrade: {e}");
                return;
            }
        };
        let mut io = hyper_util::rt::TokioIo::new(upgraded);
        if !replay.is_empty() && io.write_all(&replay).await.is_err() {
            return;
        }
        let Some(h) = live else {
            let _ = io.shutdown().await;
            return;
        };
        // A container that has not started yet connects at its start;
        // the blocking wait ends too if this task is dropped.
        let alive = std::sync::Arc::new(());
        let weak = std::sync::Arc::downgrade(&alive);
        let s = match tokio::task::spawn_blocking(move || h.wait_while(|| weak.strong_count() > 0))
            .await
        {
            Ok(Some(Ok(s))) => s,
            Ok(Some(Err(e))) => {
                tracing::debug!("attach: {e}");
                return;
            }
            _ => return,
        };
        drop(alive);
        let AttachStream { sock, pending, .. } = s;
        let shim = match sock
            .set_nonblocking(true)
            .and_then(|()| tokio::net::UnixStream::from_std(sock))
        {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!("attach: {e}");
                return;
            }
        };
        let (mut cr, mut cw) = tokio::io::split(io);
        let (mut sr, mut sw) = shim.into_split();
        let to_client = async move {
            let mut buf = pending;
            let mut chunk = vec![0u8; 32 * 1024];
            loop {
                // Forward every complete frame.
                let mut off = 0;
                while buf.len() >= off + 8 {
                    let mut h = [0u8; 8];
                    h.copy_from_slice(&buf[off..off + 8]);
                    let (_, len) = frame::parse_header(&h);
                    if buf.len() < off + 8 + len {
                        break;
                    }
                    let out = if tty {
                        &buf[off + 8..off + 8 + len]
                    } else {
                        &buf[off..off + 8 + len]
                    };
                    if cw.write_all(out).await.is_err() {
                        return;
                    }
                    off += 8 + len;
                }
                buf.drain(..off);
                let _ = cw.flush().await;
                match sr.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let _ = cw.shutdown().await;
        };
        // The client's input, framed for the shim, until the client's EOF
        // (false) or its detach keys (true). Once the shim stops taking
        // input, what still comes is read and dropped.
        let from_client = async move {
            let mut chunk = vec![0u8; 32 * 1024];
            let mut matched = 0usize;
            let mut shim_open = true;
            loop {
                let n = match cr.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let mut out = Vec::with_capacity(n + 8);
                for &b in &chunk[..n] {
                    if !keys.is_empty() && b == keys[matched] {
                        matched += 1;
                        if matched == keys.len() {
                            return true;
                        }
                        continue;
                    }
                    out.extend_from_slice(&keys[..matched]);
                    matched = 0;
                    out.push(b);
                }
                if shim_open && !out.is_empty() {
                    let mut f = frame::header(frame::STDIN, out.len()).to_vec();
                    f.extend_from_slice(&out);
                    shim_open = sw.write_all(&f).await.is_ok();
                }
            }
            let _ = sw.shutdown().await;
            false
        };
        tokio::pin!(to_client, from_client);
        tokio::select! {
            () = &mut to_client => {
                // The output ended and the client was sent EOF. Wait for
                // the client to close, reading what it still sends (a
                // terminal's last keys): a UNIX socket closed with unread
                // input resets the connection, and the client would read
                // ECONNRESET where the end of the output was.
                let _ = tokio::time::timeout(CLIENT_CLOSE_GRACE, &mut from_client).await;
            }
            detached = &mut from_client => {
                if !detached {
                    // Stdin ended; keep the output flowing.
                    to_client.await;
                }
            }
        }
    });
    let mut r = hyper::Response::new(Body::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(UPGRADE, HeaderValue::from_static("tcp"));
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse_like_docker() {
        assert_eq!(detach_keys("").unwrap(), vec![16, 17]);
        assert_eq!(detach_keys("ctrl-a,x").unwrap(), vec![1, b'x']);
        assert!(detach_keys("ctrl-").is_err());
        assert!(detach_keys("abc").is_err());
    }
}
