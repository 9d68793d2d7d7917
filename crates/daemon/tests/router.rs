//! The router alone, over a stub backend: version negotiation and bounds,
//! dockerd's error shapes and statuses, route matching (with and without
//! `/vX.YY`, percent-encoded names), streams, and a deterministic fuzz of
//! methods and paths that must never panic.

use berth_api_types::image::{DeleteItem, HistoryItem, ImageInspect, ImageSummary, PruneReport};
use berth_api_types::progress::JsonMessage;
use berth_api_types::system::{DiskUsage, EventActor, EventMessage};
use berth_api_types::Filters;
use berth_daemon::body::InBody;
use berth_daemon::host::HostFacts;
use berth_daemon::router::{handle, Ctx, DaemonFacts};
use berth_daemon::service::{
    Backend, DiskUsageOptions, EngineInfo, EventSubscription, ImageListOptions, ImportOptions,
    Progress, Result,
};
use berth_daemon::ApiError;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use std::io::{Read, Write};
use std::sync::Mutex;

const ID: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

#[derive(Default)]
struct Stub {
    /// What the last call saw, for assertions on argument passing.
    seen: Mutex<Vec<String>>,
}

impl Stub {
    fn saw(&self, s: String) {
        self.seen.lock().expect("seen lock").push(s);
    }
}

fn summary() -> ImageSummary {
    ImageSummary {
        id: ID.into(),
        repo_tags: vec!["busybox:latest".into()],
        size: 100,
        shared_size: -1,
        containers: -1,
        ..Default::default()
    }
}

fn known(name: &str) -> Result<()> {
    if name == "busybox" || name == "busybox:latest" || name == "library/busybox:latest" {
        Ok(())
    } else {
        Err(ApiError::not_found(format!("No such image: {name}")))
    }
}

fn ev(action: &str, t: i64, name: &str) -> EventMessage {
    let mut attributes = std::collections::BTreeMap::new();
    attributes.insert("name".to_owned(), name.to_owned());
    EventMessage {
        kind: "image".into(),
        action: action.into(),
        actor: EventActor {
            id: ID.into(),
            attributes,
        },
        scope: "local".into(),
        time: t,
        time_nano: t * 1_000_000_000,
    }
}

impl Backend for Stub {
    fn info(&self) -> Result<EngineInfo> {
        Ok(EngineInfo {
            id: "stub".into(),
            images: 1,
            driver: "overlay2".into(),
            ..Default::default()
        })
    }
    fn disk_usage(&self, opts: DiskUsageOptions) -> Result<DiskUsage> {
        self.saw(format!("df images={}", opts.images));
        Ok(DiskUsage {
            layers_size: 100,
            images: vec![summary()],
            ..Default::default()
        })
    }
    fn subscribe(&self, since: Option<i64>) -> Result<EventSubscription> {
        let (_tx, live) = tokio::sync::mpsc::channel(1);
        let past = vec![
            ev("tag", 100, "busybox:latest"),
            ev("untag", 200, "busybox:latest"),
            ev("tag", 300, "other:1"),
        ];
        Ok(EventSubscription {
            past: past
                .into_iter()
                .filter(|e| since.is_none_or(|s| e.time_nano >= s))
                .collect(),
            live,
        })
    }
    fn images(&self, opts: &ImageListOptions) -> Result<Vec<ImageSummary>> {
        self.saw(format!(
            "list all={} filters={}",
            opts.all,
            opts.filters.to_json()
        ));
        Ok(vec![summary()])
    }
    fn image_inspect(&self, name: &str) -> Result<ImageInspect> {
        known(name)?;
        Ok(ImageInspect {
            id: ID.into(),
            size: 100,
            ..Default::default()
        })
    }
    fn image_history(&self, name: &str) -> Result<Vec<HistoryItem>> {
        known(name)?;
        Ok(vec![HistoryItem {
            id: ID.into(),
            ..Default::default()
        }])
    }
    fn image_tag(&self, name: &str, repo: &str, tag: &str) -> Result<()> {
        known(name)?;
        self.saw(format!("tag {name} {repo} {tag}"));
        Ok(())
    }
    fn image_remove(&self, name: &str, force: bool, prune: bool) -> Result<Vec<DeleteItem>> {
        known(name)?;
        self.saw(format!("rm {name} force={force} prune={prune}"));
        Ok(vec![DeleteItem::Untagged("busybox:latest".into())])
    }
    fn images_prune(&self, filters: &Filters) -> Result<PruneReport> {
        self.saw(format!("prune {}", filters.to_json()));
        Ok(PruneReport::default())
    }
    fn image_import(
        &self,
        o: &ImportOptions,
        src: &mut dyn Read,
        _p: Progress<'_>,
    ) -> Result<String> {
        let mut b = Vec::new();
        src.read_to_end(&mut b)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        self.saw(format!("import {} {:?} {}", o.repo, o.changes, b.len()));
        Ok(ID.into())
    }
    fn image_load(&self, src: &mut dyn Read, quiet: bool, progress: Progress<'_>) -> Result<()> {
        let mut b = Vec::new();
        src.read_to_end(&mut b)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        match &b[..] {
            b"bad" => Err(ApiError::invalid("not an image archive")),
            b"late" => {
                progress(JsonMessage::status("starting"));
                Err(ApiError::invalid("broke halfway"))
            }
            _ => {
                if !quiet {
                    progress(JsonMessage::progress("abc", "Loading layer", 1, Some(2)));
                }
                progress(JsonMessage::stream("Loaded image: busybox:latest\n"));
                Ok(())
            }
        }
    }
    fn image_save(&self, names: &[String], out: &mut dyn Write) -> Result<()> {
        for n in names {
            known(n)?;
        }
        out.write_all(b"TARDATA")
            .map_err(|e| ApiError::internal(e.to_string()))
    }
}

fn ctx() -> Ctx<Stub> {
    Ctx::new(
        Stub::default(),
        DaemonFacts {
            version: "0.1.0".into(),
            git_commit: "test".into(),
            debug: false,
            exec_root: "/nonexistent".into(),
            host: HostFacts::default(),
        },
    )
}

struct Resp {
    status: StatusCode,
    headers: hyper::HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
    fn message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
    fn header(&self, k: &str) -> &str {
        self.headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

async fn call(c: &Ctx<Stub>, method: Method, uri: &str, body: &[u8]) -> Resp {
    let b: InBody = Full::new(Bytes::copy_from_slice(body))
        .map_err(|never| match never {})
        .boxed();
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(b)
        .expect("request");
    let resp = handle(c, req).await;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = match resp.into_body().collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(e) => format!("<aborted: {e}>").into_bytes(),
    };
    Resp {
        status,
        headers,
        body,
    }
}

#[tokio::test]
async fn ping_advertises_the_version() {
    let c = ctx();
    let r = call(&c, Method::GET, "/_ping", b"").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, b"OK");
    assert_eq!(r.header("api-version"), "1.47");
    assert_eq!(r.header("ostype"), "linux");
    assert_eq!(r.header("docker-experimental"), "false");
    assert_eq!(
        r.header("cache-control"),
        "no-cache, no-store, must-revalidate"
    );
    assert!(r.header("server").starts_with("Berth/0.1.0"));
    let r = call(&c, Method::HEAD, "/_ping", b"").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-length"), "0");
    assert_eq!(r.header("content-type"), "text/plain; charset=utf-8");
    let r = call(&c, Method::HEAD, "/v1.44/_ping", b"").await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn version_bounds_and_prefixes() {
    let c = ctx();
    for ok in [
        "/version",
        "/v1.24/version",
        "/v1.41/version",
        "/v1.47/version",
    ] {
        let r = call(&c, Method::GET, ok, b"").await;
        assert_eq!(r.status, StatusCode::OK, "{ok}");
        assert_eq!(r.json()["ApiVersion"], "1.47");
        assert_eq!(r.json()["MinAPIVersion"], "1.24");
    }
    let r = call(&c, Method::GET, "/v1.99/version", b"").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.message(),
        "client version 1.99 is too new. Maximum supported API version is 1.47"
    );
    let r = call(&c, Method::GET, "/v1.12/info", b"").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.message().starts_with("client version 1.12 is too old"),
        "{}",
        r.message()
    );
    // Headers come on errors too.
    assert_eq!(r.header("api-version"), "1.47");
}

#[tokio::test]
async fn unknown_routes_are_404_page_not_found() {
    let c = ctx();
    for (m, p) in [
        (Method::GET, "/nope"),
        (Method::POST, "/version"),
        (Method::GET, "/v1.41/nope/x"),
        (Method::PUT, "/images/json"),
        (Method::GET, "/v1.2.3/info"),
    ] {
        let r = call(&c, m.clone(), p, b"").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{m} {p}");
        assert_eq!(r.message(), "page not found");
        assert_eq!(r.header("content-type"), "application/json");
    }
}

#[tokio::test]
async fn image_list_filters_and_versions() {
    let c = ctx();
    let q = berth_api_types::query::encode(r#"{"dangling":["true"],"label":["a=b"]}"#);
    let r = call(
        &c,
        Method::GET,
        &format!("/v1.47/images/json?all=1&filters={q}"),
        b"",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.json()[0].get("VirtualSize").is_none());
    assert_eq!(
        c.backend.seen.lock().unwrap().last().unwrap(),
        r#"list all=true filters={"dangling":["true"],"label":["a=b"]}"#
    );
    let r = call(&c, Method::GET, "/v1.41/images/json", b"").await;
    assert_eq!(r.json()[0]["VirtualSize"], 100);
    // `until` is applied by the router: the stub's image is from time 0.
    for (until, n) in [("1", 1), ("0", 0), ("1h", 1)] {
        let q = berth_api_types::query::encode(&format!(r#"{{"until":["{until}"]}}"#));
        let r = call(&c, Method::GET, &format!("/images/json?filters={q}"), b"").await;
        assert_eq!(r.json().as_array().map(Vec::len), Some(n), "until={until}");
        assert!(!c
            .backend
            .seen
            .lock()
            .unwrap()
            .last()
            .unwrap()
            .contains("until"));
    }
    let q = berth_api_types::query::encode(r#"{"until":["soon"]}"#);
    let r = call(&c, Method::GET, &format!("/images/json?filters={q}"), b"").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let q = berth_api_types::query::encode(r#"{"bogus":["1"]}"#);
    let r = call(&c, Method::GET, &format!("/images/json?filters={q}"), b"").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.message(), "invalid filter 'bogus'");
    let r = call(&c, Method::GET, "/images/json?filters=%7Bnot-json", b"").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn image_routes_map_names_and_errors() {
    let c = ctx();
    let r = call(
        &c,
        Method::GET,
        "/images/library%2Fbusybox:latest/json",
        b"",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(&c, Method::GET, "/v1.44/images/nope/json", b"").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.message(), "No such image: nope");
    let r = call(&c, Method::GET, "/v1.44/images/busybox/json", b"").await;
    assert!(
        r.json().get("ContainerConfig").is_some(),
        "API < 1.45 keeps it"
    );
    let r = call(&c, Method::GET, "/v1.47/images/busybox/json", b"").await;
    assert!(r.json().get("ContainerConfig").is_none());
    let r = call(&c, Method::GET, "/images/busybox/history", b"").await;
    assert_eq!(r.json()[0]["Id"], ID);
    let r = call(
        &c,
        Method::POST,
        "/images/busybox/tag?repo=docker.io%2Flibrary%2Fbb&tag=1",
        b"",
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        c.backend.seen.lock().unwrap().last().unwrap(),
        "tag busybox docker.io/library/bb 1"
    );
    let r = call(&c, Method::POST, "/images/busybox/tag", b"").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = call(
        &c,
        Method::DELETE,
        "/images/busybox?force=1&noprune=true",
        b"",
    )
    .await;
    assert_eq!(
        r.json(),
        serde_json::json!([{"Untagged": "busybox:latest"}])
    );
    assert_eq!(
        c.backend.seen.lock().unwrap().last().unwrap(),
        "rm busybox force=true prune=false"
    );
    let r = call(&c, Method::POST, "/images/prune", b"").await;
    assert_eq!(
        r.json(),
        serde_json::json!({"ImagesDeleted": null, "SpaceReclaimed": 0})
    );
    let r = call(
        &c,
        Method::POST,
        "/images/create?fromImage=busybox&tag=latest",
        b"",
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_IMPLEMENTED);
    let r = call(&c, Method::POST, "/images/create", b"").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn import_load_and_save_stream() {
    let c = ctx();
    let r = call(
        &c,
        Method::POST,
        "/images/create?fromSrc=-&repo=bb:1&changes=CMD%20%5B%22sh%22%5D&changes=ENV%20A%3D1",
        b"0123456789",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        format!("{{\"status\":\"{ID}\"}}\r\n")
    );
    assert_eq!(
        c.backend.seen.lock().unwrap().last().unwrap(),
        r#"import bb:1 ["CMD [\"sh\"]", "ENV A=1"] 10"#
    );
    let r = call(&c, Method::POST, "/images/load", b"ok").await;
    let text = String::from_utf8_lossy(&r.body).into_owned();
    assert!(text.contains("Loading layer"), "{text}");
    assert!(
        text.ends_with("{\"stream\":\"Loaded image: busybox:latest\\n\"}\r\n"),
        "{text}"
    );
    let r = call(&c, Method::POST, "/images/load?quiet=1", b"ok").await;
    assert!(!String::from_utf8_lossy(&r.body).contains("Loading layer"));
    let r = call(&c, Method::POST, "/images/load", b"bad").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.message(), "not an image archive");
    let r = call(&c, Method::POST, "/images/load", b"late").await;
    assert_eq!(r.status, StatusCode::OK);
    let text = String::from_utf8_lossy(&r.body).into_owned();
    assert!(
        text.contains("\"errorDetail\":{\"message\":\"broke halfway\"}"),
        "{text}"
    );
    let r = call(&c, Method::GET, "/images/busybox/get", b"").await;
    assert_eq!(r.body, b"TARDATA");
    assert_eq!(r.header("content-type"), "application/x-tar");
    let r = call(&c, Method::GET, "/images/get?names=busybox&names=nope", b"").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn events_in_a_window_with_filters() {
    let c = ctx();
    let r = call(&c, Method::GET, "/events?since=150&until=400", b"").await;
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&r.body)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["Action"], "untag");
    let f = berth_api_types::query::encode(r#"{"image":["other"],"event":["tag"]}"#);
    let r = call(
        &c,
        Method::GET,
        &format!("/events?since=0&until=400&filters={f}"),
        b"",
    )
    .await;
    let text = String::from_utf8_lossy(&r.body).into_owned();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("other:1"));
    let r = call(&c, Method::GET, "/events?since=yesterday", b"").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn system_routes_and_swarm_answers() {
    let c = ctx();
    let r = call(&c, Method::GET, "/info", b"").await;
    assert_eq!(r.json()["Images"], 1);
    assert_eq!(r.json()["Swarm"]["LocalNodeState"], "inactive");
    let r = call(&c, Method::GET, "/v1.41/system/df", b"").await;
    assert_eq!(r.json()["Images"][0]["VirtualSize"], 100);
    let r = call(&c, Method::GET, "/system/df?type=volume", b"").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        c.backend.seen.lock().unwrap().last().unwrap(),
        "df images=false"
    );
    let r = call(&c, Method::GET, "/system/df?type=bogus", b"").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    for p in [
        "/swarm",
        "/nodes",
        "/services/x",
        "/tasks",
        "/secrets",
        "/configs",
    ] {
        let r = call(&c, Method::GET, p, b"").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{p}");
        assert!(r.message().contains("not a swarm manager"));
    }
    let r = call(&c, Method::POST, "/auth", b"{}").await;
    assert_eq!(r.status, StatusCode::NOT_IMPLEMENTED);
    let r = call(&c, Method::POST, "/build/prune", b"").await;
    assert_eq!(r.json()["SpaceReclaimed"], 0);
    let r = call(&c, Method::POST, "/build?t=x", b"").await;
    assert_eq!(r.status, StatusCode::NOT_IMPLEMENTED);
    let r = call(&c, Method::POST, "/swarm/init", b"{}").await;
    assert_eq!(r.status, StatusCode::NOT_IMPLEMENTED);
    let r = call(&c, Method::GET, "/plugins", b"").await;
    assert_eq!(r.json(), serde_json::json!([]));
    let r = call(&c, Method::GET, "/plugins/x/json", b"").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

/// A small deterministic fuzz: every method over paths built from route
/// pieces and junk must answer (never panic), and every error is JSON with
/// a message.
#[tokio::test]
async fn fuzzed_requests_never_panic() {
    let c = ctx();
    let pieces = [
        "",
        "/",
        "v1.41",
        "v1.",
        "v",
        "images",
        "json",
        "busybox",
        "%2F",
        "..",
        "get",
        "tag",
        "history",
        "create",
        "load",
        "prune",
        "_ping",
        "events",
        "system",
        "df",
        "info",
        "version",
        "swarm",
        "plugins",
        "%",
        "%zz",
        "a:b@c",
        "?",
        "?filters=",
        "?filters=%7B",
        "?since=x",
        "?names=",
        "&",
        "=",
    ];
    let methods = [
        Method::GET,
        Method::POST,
        Method::DELETE,
        Method::HEAD,
        Method::PUT,
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..2000 {
        let n = (next() % 5) as usize + 1;
        let mut path = String::new();
        for _ in 0..n {
            let p = pieces[(next() % pieces.len() as u64) as usize];
            if !p.starts_with('?') && !p.starts_with('&') {
                path.push('/');
            }
            path.push_str(p);
        }
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        let m = methods[(next() % methods.len() as u64) as usize].clone();
        let Ok(uri) = path.parse::<hyper::Uri>() else {
            continue;
        };
        let r = call(&c, m.clone(), &uri.to_string(), b"x").await;
        if (r.status.is_client_error() || r.status.is_server_error()) && m != Method::HEAD {
            assert!(!r.message().is_empty(), "{m} {path}: {:?}", r.body);
        }
    }
}
