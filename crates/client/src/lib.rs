//! Engine API client: HTTP/1.1 over a UNIX socket or TCP with mutual
//! TLS, with version negotiation (from the first answer's `Api-Version`,
//! or `HEAD /_ping` as the docker client does), JSON helpers,
//! streamed request and response bodies, and connection upgrades for the
//! hijacked attach/exec streams.
#![forbid(unsafe_code)]

mod body;
mod error;
mod tls;

pub use body::ReqBody;
pub use error::Error;
pub use tls::TlsFiles;

use berth_api_types::query;
use berth_api_types::version::{MAX_API_VERSION, MIN_API_VERSION};
use berth_api_types::ApiVersion;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use tokio::net::{TcpStream, UnixStream};

pub use hyper::Response;

/// The default daemon socket.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Unix(PathBuf),
    /// `host:port`.
    Tcp(String),
}

impl Host {
    /// Parses `unix:///path`, `tcp://host:port` (or a bare absolute path).
    pub fn parse(s: &str) -> Result<Self, Error> {
        if let Some(p) = s.strip_prefix("unix://") {
            if !p.is_empty() {
                return Ok(Self::Unix(p.into()));
            }
        } else if let Some(a) = s.strip_prefix("tcp://") {
            let a = a.trim_end_matches('/');
            if a.contains(':') {
                return Ok(Self::Tcp(a.into()));
            }
        } else if s.starts_with('/') {
            return Ok(Self::Unix(s.into()));
        } else if s.starts_with("ssh://") || s.starts_with("npipe://") {
            return Err(Error::UnsupportedHost(s.into()));
        }
        Err(Error::BadHost(s.into()))
    }

    /// The host to use: the flag, else `BERTH_HOST`, else `DOCKER_HOST`,
    /// else the default socket.
    pub fn from_env(flag: Option<&str>) -> Result<Self, Error> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let s = flag
            .map(str::to_owned)
            .or_else(|| env("BERTH_HOST"))
            .or_else(|| env("DOCKER_HOST"))
            .unwrap_or_else(|| DEFAULT_HOST.to_owned());
        Self::parse(&s)
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Unix(p) => write!(f, "unix://{}", p.display()),
            Host::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// A client for one daemon. Each request uses its own connection (cheap on
/// a UNIX socket, and what hijacking needs anyway).
#[derive(Debug, Clone)]
pub struct Client {
    host: Host,
    /// The version in request paths, once negotiated or pinned (shared by
    /// clones, which negotiate once between them).
    version: Arc<OnceLock<ApiVersion>>,
    /// TLS for a TCP host.
    tls: Option<Arc<rustls::ClientConfig>>,
}

/// A connection of any kind, for hyper.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// What a `/_ping` told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ping {
    pub api_version: Option<ApiVersion>,
    pub os_type: String,
    pub experimental: bool,
}

impl Client {
    pub fn new(host: Host) -> Self {
        Self {
            host,
            version: Arc::default(),
            tls: None,
        }
    }

    /// Speaks TLS to a TCP host with these certificates.
    pub fn with_tls(mut self, files: &TlsFiles) -> Result<Self, Error> {
        self.tls = Some(tls::client_config(files)?);
        Ok(self)
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The version requests use (the client's maximum until negotiated).
    pub fn api_version(&self) -> ApiVersion {
        self.version.get().copied().unwrap_or(MAX_API_VERSION)
    }

    /// Pins the version, as `DOCKER_API_VERSION` does (no negotiation).
    pub fn pin_version(&mut self, v: ApiVersion) {
        self.version = Arc::new(OnceLock::from(v));
    }

    /// Pins the version `BERTH_API_VERSION` or `DOCKER_API_VERSION` names,
    /// if one does.
    pub fn pin_version_from_env(&mut self) -> Result<(), Error> {
        for k in ["BERTH_API_VERSION", "DOCKER_API_VERSION"] {
            if let Ok(s) = std::env::var(k) {
                let v = s
                    .trim_start_matches('v')
                    .parse()
                    .map_err(|_| Error::BadVersion(s.clone()))?;
                self.pin_version(v);
                return Ok(());
            }
        }
        Ok(())
    }

    /// `HEAD /_ping`, falling back to `GET` as the docker client does.
    pub async fn ping(&self) -> Result<Ping, Error> {
        let mut resp = self
            .send_raw(Method::HEAD, "/_ping", ReqBody::Empty, &[])
            .await?;
        if resp.status() != StatusCode::OK {
            resp = self
                .send_raw(Method::GET, "/_ping", ReqBody::Empty, &[])
                .await?;
        }
        let h = resp.headers();
        let text = |k: &str| {
            h.get(k)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        Ok(Ping {
            api_version: daemon_version(h),
            os_type: text("ostype"),
            experimental: text("docker-experimental") == "true",
        })
    }

    /// Negotiates the version now, with a ping, unless it is known. A
    /// request does it by itself, without the ping's round trip when it
    /// can.
    pub async fn negotiate(&self) -> Result<ApiVersion, Error> {
        if let Some(v) = self.version.get() {
            return Ok(*v);
        }
        let ping = self.ping().await?;
        self.settle(ping.api_version)
    }

    /// Settles the version on the lower of the daemon's and ours (ours for
    /// a daemon that does not tell).
    fn settle(&self, server: Option<ApiVersion>) -> Result<ApiVersion, Error> {
        let v = match server {
            None => MAX_API_VERSION,
            Some(server) if server < MIN_API_VERSION => {
                return Err(Error::DaemonTooOld(server));
            }
            Some(server) => server.min(MAX_API_VERSION),
        };
        Ok(*self.version.get_or_init(|| v))
    }

    /// Sends `path` with the version prefix. The first request goes out at
    /// our version, without a ping: the daemon's `Api-Version` header, on
    /// every answer and set before its version check, settles the version,
    /// and a 400 from a daemon older than us is the version check, which
    /// did nothing, so the request is sent again at its version. A
    /// streamed body cannot be sent twice, so it waits for a ping.
    /// Returns the response whatever its status.
    pub async fn send_versioned(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: ReqBody,
        headers: &[(&str, &str)],
    ) -> Result<Response<Incoming>, Error> {
        let again = match (&body, self.version.get()) {
            (_, Some(_)) => None,
            (ReqBody::Empty, None) => Some(ReqBody::Empty),
            (ReqBody::Full(b), None) => Some(ReqBody::Full(b.clone())),
            (ReqBody::Stream(_), None) => {
                self.negotiate().await?;
                None
            }
        };
        let sent = self.api_version();
        let resp = self
            .send_raw(method.clone(), &url(sent, path, query), body, headers)
            .await?;
        let Some(again) = again else {
            return Ok(resp);
        };
        let v = self.settle(daemon_version(resp.headers()))?;
        if v >= sent || resp.status() != StatusCode::BAD_REQUEST {
            return Ok(resp);
        }
        self.send_raw(method, &url(v, path, query), again, headers)
            .await
    }

    async fn connect(&self) -> Result<Box<dyn Io>, Error> {
        let fail = |source| Error::Connect {
            host: self.host.to_string(),
            source,
        };
        match &self.host {
            Host::Unix(p) => Ok(Box::new(UnixStream::connect(p).await.map_err(fail)?)),
            Host::Tcp(a) => {
                let s = TcpStream::connect(a).await.map_err(fail)?;
                let Some(cfg) = &self.tls else {
                    return Ok(Box::new(s));
                };
                let host = a.rsplit_once(':').map_or(a.as_str(), |(h, _)| h);
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let name = rustls::pki_types::ServerName::try_from(host.to_owned())
                    .map_err(|e| Error::Tls(format!("server name {host:?}: {e}")))?;
                let tls = tokio_rustls::TlsConnector::from(Arc::clone(cfg))
                    .connect(name, s)
                    .await
                    .map_err(|e| Error::Tls(format!("handshake with {a}: {e}")))?;
                Ok(Box::new(tls))
            }
        }
    }

    /// Sends a request to `path` as given (no version prefix), returning
    /// the response whatever its status.
    pub async fn send_raw(
        &self,
        method: Method,
        path_and_query: &str,
        body: ReqBody,
        headers: &[(&str, &str)],
    ) -> Result<Response<Incoming>, Error> {
        let stream = self.connect().await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(Error::Http)?;
        tokio::spawn(async move {
            // Errors surface on the request side; upgrades keep the
            // connection for hijacked streams.
            let _ = conn.with_upgrades().await;
        });
        let mut req = Request::builder()
            .method(method)
            .uri(path_and_query)
            .header(HOST, "berth")
            .body(body)
            .map_err(|e| Error::Request(e.to_string()))?;
        for (k, v) in headers {
            let name =
                HeaderName::from_bytes(k.as_bytes()).map_err(|e| Error::Request(e.to_string()))?;
            let value = HeaderValue::from_str(v).map_err(|e| Error::Request(e.to_string()))?;
            req.headers_mut().insert(name, value);
        }
        sender.send_request(req).await.map_err(Error::Http)
    }

    /// Sends a versioned request; a status of 400 or more becomes
    /// [`Error::Daemon`] with the daemon's message.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: ReqBody,
        headers: &[(&str, &str)],
    ) -> Result<Response<Incoming>, Error> {
        let resp = self
            .send_versioned(method, path, query, body, headers)
            .await?;
        if resp.status().is_client_error() || resp.status().is_server_error() {
            return Err(error::from_response(resp).await);
        }
        Ok(resp)
    }

    /// GET and decode JSON.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, Error> {
        let b = self.get_bytes(path, query).await?;
        serde_json::from_slice(&b).map_err(|e| Error::Decode(path.into(), e))
    }

    /// GET and return the raw body (for `inspect`, which keeps the
    /// daemon's JSON as it is).
    pub async fn get_bytes(&self, path: &str, query: &[(&str, String)]) -> Result<Bytes, Error> {
        let resp = self
            .request(Method::GET, path, query, ReqBody::Empty, &[])
            .await?;
        read_all(resp).await
    }

    /// A request with an optional JSON body, decoding a JSON answer (an
    /// empty answer decodes as `null`).
    pub async fn send_json<T: DeserializeOwned, S: Serialize>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&S>,
    ) -> Result<T, Error> {
        let (body, headers): (ReqBody, &[(&str, &str)]) = match body {
            Some(b) => (
                ReqBody::Full(Bytes::from(
                    serde_json::to_vec(b).map_err(|e| Error::Request(e.to_string()))?,
                )),
                &[("content-type", "application/json")],
            ),
            None => (ReqBody::Empty, &[]),
        };
        let resp = self.request(method, path, query, body, headers).await?;
        let b = read_all(resp).await?;
        let b: &[u8] = if b.iter().all(u8::is_ascii_whitespace) {
            b"null"
        } else {
            &b
        };
        serde_json::from_slice(b).map_err(|e| Error::Decode(path.into(), e))
    }
}

/// The API version an answer says the daemon speaks (`Api-Version`).
fn daemon_version(h: &hyper::HeaderMap) -> Option<ApiVersion> {
    h.get("api-version")?.to_str().ok()?.parse().ok()
}

/// `path` with the version prefix and the query encoded.
fn url(version: ApiVersion, path: &str, query: &[(&str, String)]) -> String {
    let mut u = format!("/v{version}{path}");
    let mut sep = '?';
    for (k, v) in query {
        u.push(sep);
        u.push_str(&query::encode(k));
        u.push('=');
        u.push_str(&query::encode(v));
        sep = '&';
    }
    u
}

/// A hijacked connection: after `101 UPGRADED` the socket is a raw
/// bidirectional byte stream (attach, exec start).
pub type Upgraded = TokioIo<hyper::upgrade::Upgraded>;

impl Client {
    /// Sends a request that asks to take over the connection
    /// (`Connection: Upgrade`, `Upgrade: tcp`, as the docker client does for
    /// attach and exec start). Returns the response headers (the
    /// `Content-Type` tells raw from multiplexed streams) and the raw
    /// stream. A status other than 101 is an error.
    pub async fn upgrade(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: ReqBody,
        headers: &[(&str, &str)],
    ) -> Result<(hyper::HeaderMap, Upgraded), Error> {
        let mut h: Vec<(&str, &str)> = vec![("connection", "Upgrade"), ("upgrade", "tcp")];
        h.extend_from_slice(headers);
        let resp = self.send_versioned(method, path, query, body, &h).await?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            if resp.status().is_client_error() || resp.status().is_server_error() {
                return Err(error::from_response(resp).await);
            }
            return Err(Error::Request(format!(
                "unable to upgrade to tcp, received {}",
                resp.status().as_u16()
            )));
        }
        let headers = resp.headers().clone();
        let io = hyper::upgrade::on(resp).await.map_err(Error::Http)?;
        Ok((headers, TokioIo::new(io)))
    }
}

/// The whole body of a response.
pub async fn read_all(resp: Response<Incoming>) -> Result<Bytes, Error> {
    Ok(resp
        .into_body()
        .collect()
        .await
        .map_err(Error::Http)?
        .to_bytes())
}

/// The next chunk of a streamed body, `None` at its end.
pub async fn next_chunk(body: &mut Incoming) -> Result<Option<Bytes>, Error> {
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.map_err(Error::Http)?.into_data() {
            if !data.is_empty() {
                return Ok(Some(data));
            }
        }
    }
    Ok(None)
}

/// Reads a stream of newline-separated JSON messages, calling `f` with
/// each as it arrives.
pub async fn for_each_json_line<T, F>(resp: Response<Incoming>, mut f: F) -> Result<(), Error>
where
    T: DeserializeOwned,
    F: FnMut(T) -> Result<(), Error>,
{
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let chunk = next_chunk(&mut body).await?;
        if let Some(c) = &chunk {
            buf.extend_from_slice(c);
        } else if !buf.iter().all(u8::is_ascii_whitespace) {
            buf.push(b'\n');
        }
        while let Some(i) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=i).collect();
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let v = serde_json::from_slice(&line).map_err(|e| Error::Decode("stream".into(), e))?;
            f(v)?;
        }
        if chunk.is_none() {
            return Ok(());
        }
    }
}

/// The content type of a response, if any.
pub fn content_type(resp: &Response<Incoming>) -> &str {
    resp.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(
            Host::parse("unix:///tmp/x.sock").unwrap(),
            Host::Unix("/tmp/x.sock".into())
        );
        assert_eq!(
            Host::parse("tcp://1.2.3.4:2376").unwrap(),
            Host::Tcp("1.2.3.4:2376".into())
        );
        assert!(matches!(
            Host::parse("ssh://me@host"),
            Err(Error::UnsupportedHost(_))
        ));
        assert!(matches!(Host::parse("nope"), Err(Error::BadHost(_))));
        assert_eq!(
            Host::from_env(Some("unix:///a")).unwrap().to_string(),
            "unix:///a"
        );
    }

    #[tokio::test]
    async fn upgrade_hands_over_the_raw_stream() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let dir = std::env::temp_dir().join(format!("berth-client-up-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("s.sock");
        let _ = std::fs::remove_file(&sock);
        let l = tokio::net::UnixListener::bind(&sock).unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut req = Vec::new();
            let mut b = [0u8; 1];
            while !req.ends_with(b"\r\n\r\n") {
                s.read_exact(&mut b).await.unwrap();
                req.push(b[0]);
            }
            let req = String::from_utf8(req).unwrap().to_lowercase();
            assert!(
                req.starts_with("post /v1.47/containers/x/attach?stream=1 "),
                "{req}"
            );
            assert!(req.contains("upgrade: tcp"), "{req}");
            s.write_all(
                b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n\
                  Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
            )
            .await
            .unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf).await.unwrap();
        });
        let mut c = Client::new(Host::Unix(sock.clone()));
        c.pin_version(MAX_API_VERSION);
        let (h, mut io) = c
            .upgrade(
                Method::POST,
                "/containers/x/attach",
                &[("stream", "1".into())],
                ReqBody::Empty,
                &[],
            )
            .await
            .unwrap();
        assert_eq!(h["content-type"], "application/vnd.docker.raw-stream");
        io.write_all(b"ping").await.unwrap();
        let mut back = [0u8; 4];
        io.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"ping");
        server.await.unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A daemon at 1.41: answers 400 to a newer version, as docker's
    /// version check does, and records the request lines.
    async fn old_daemon(l: tokio::net::UnixListener, n: usize) -> Vec<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut lines = Vec::new();
        for _ in 0..n {
            let (mut s, _) = l.accept().await.unwrap();
            let mut req = Vec::new();
            let mut b = [0u8; 1];
            while !req.ends_with(b"\r\n\r\n") {
                s.read_exact(&mut b).await.unwrap();
                req.push(b[0]);
            }
            let req = String::from_utf8(req).unwrap();
            let line = req.lines().next().unwrap().to_owned();
            let answer: &[u8] = if line.contains(" /v1.41/") {
                b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\n[]"
            } else {
                b"HTTP/1.1 400 Bad Request\r\nApi-Version: 1.41\r\nContent-Length: 83\r\n\r\n\
                  {\"message\":\"client version 1.47 is too new. Maximum supported API version is 1.41\"}"
            };
            s.write_all(answer).await.unwrap();
            lines.push(line);
        }
        lines
    }

    #[tokio::test]
    async fn the_first_answer_settles_the_version_without_a_ping() {
        let dir = std::env::temp_dir().join(format!("berth-client-ver-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("s.sock");
        let _ = std::fs::remove_file(&sock);
        let server = tokio::spawn(old_daemon(
            tokio::net::UnixListener::bind(&sock).unwrap(),
            3,
        ));
        let c = Client::new(Host::Unix(sock.clone()));
        let body = Some(&serde_json::json!({"a": 1}));
        let got: serde_json::Value = c
            .send_json(Method::POST, "/x/create", &[], body)
            .await
            .unwrap();
        assert_eq!(got, serde_json::json!([]));
        assert_eq!(c.api_version(), ApiVersion::new(1, 41));
        let got: serde_json::Value = c.get_json("/x/json", &[]).await.unwrap();
        assert_eq!(got, serde_json::json!([]));
        assert_eq!(
            server.await.unwrap(),
            [
                "POST /v1.47/x/create HTTP/1.1",
                "POST /v1.41/x/create HTTP/1.1",
                "GET /v1.41/x/json HTTP/1.1",
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn urls_carry_version_and_query() {
        let mut c = Client::new(Host::Unix("/x".into()));
        c.pin_version(ApiVersion::new(1, 41));
        assert_eq!(
            url(
                c.api_version(),
                "/images/json",
                &[("filters", r#"{"a":["b c"]}"#.into())]
            ),
            "/v1.41/images/json?filters=%7B%22a%22%3A%5B%22b%20c%22%5D%7D"
        );
    }
}
