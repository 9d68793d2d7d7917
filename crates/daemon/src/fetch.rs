//! A small HTTP(S) GET for `POST /images/create?fromSrc=<url>` (import
//! from a URL, which dockerd downloads itself): redirects followed, TLS
//! checked against the system's CA bundle.

use crate::error::ApiError;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::sync::Arc;
use tokio::net::TcpStream;

const MAX_REDIRECTS: usize = 10;
const CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
];

/// The parts of an `http(s)://host[:port]/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub path: String,
}

pub fn parse_url(s: &str) -> Result<Url, ApiError> {
    let bad = || ApiError::invalid(format!("invalid URL {s:?}"));
    let (tls, rest) = if let Some(r) = s.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = s.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(bad());
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or_else(bad)?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    let port = match port {
        Some(p) => p.parse().map_err(|_| bad())?,
        None if tls => 443,
        None => 80,
    };
    Ok(Url {
        tls,
        host: host.to_owned(),
        port,
        path: path.split('#').next().unwrap_or("/").to_owned(),
    })
}

fn tls_config() -> Result<Arc<rustls::ClientConfig>, ApiError> {
    let mut roots = rustls::RootCertStore::empty();
    for b in CA_BUNDLES {
        if let Ok(it) = CertificateDer::pem_file_iter(b) {
            for c in it.flatten() {
                let _ = roots.add(c);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ApiError::internal(format!("tls: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

async fn get_once(u: &Url) -> Result<hyper::Response<Incoming>, ApiError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        ApiError::internal(format!("{what} {}:{}: {e}", u.host, u.port))
    };
    let tcp = TcpStream::connect((u.host.as_str(), u.port))
        .await
        .map_err(|e| fail("connect to", &e))?;
    let host_header = if (u.tls && u.port == 443) || (!u.tls && u.port == 80) {
        u.host.clone()
    } else {
        format!("{}:{}", u.host, u.port)
    };
    let req = Request::get(&u.path)
        .header(hyper::header::HOST, host_header)
        .header(
            hyper::header::USER_AGENT,
            concat!("berthd/", env!("CARGO_PKG_VERSION")),
        )
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| ApiError::invalid(format!("request: {e}")))?;
    macro_rules! send {
        ($io:expr) => {{
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new($io))
                .await
                .map_err(|e| fail("http handshake with", &e))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            sender
                .send_request(req)
                .await
                .map_err(|e| fail("GET from", &e))
        }};
    }
    if u.tls {
        let name = ServerName::try_from(u.host.clone())
            .map_err(|e| ApiError::invalid(format!("server name {:?}: {e}", u.host)))?;
        let tls = tokio_rustls::TlsConnector::from(tls_config()?)
            .connect(name, tcp)
            .await
            .map_err(|e| fail("tls handshake with", &e))?;
        send!(tls)
    } else {
        send!(tcp)
    }
}

/// GETs `url`, following redirects; an error status is an error.
pub async fn get(url: &str) -> Result<hyper::Response<Incoming>, ApiError> {
    let mut u = parse_url(url)?;
    for _ in 0..MAX_REDIRECTS {
        let resp = get_once(&u).await?;
        let status = resp.status();
        if status.is_redirection() {
            let loc = resp
                .headers()
                .get(hyper::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    ApiError::internal(format!("redirect without a location from {url}"))
                })?;
            u = if loc.starts_with('/') {
                Url {
                    path: loc.to_owned(),
                    ..u
                }
            } else {
                parse_url(loc)?
            };
            continue;
        }
        if status != StatusCode::OK {
            return Err(ApiError::invalid(format!("GET {url}: {status}")));
        }
        return Ok(resp);
    }
    Err(ApiError::invalid(format!("GET {url}: too many redirects")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://127.0.0.1:8080/a/b.tar").unwrap(),
            Url {
                tls: false,
                host: "127.0.0.1".into(),
                port: 8080,
                path: "/a/b.tar".into()
            }
        );
        let u = parse_url("https://example.org").unwrap();
        assert_eq!((u.tls, u.port, u.path.as_str()), (true, 443, "/"));
        let u = parse_url("http://[::1]:99/x").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 99));
        for bad in ["ftp://x", "http://", "http://h:port/"] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
