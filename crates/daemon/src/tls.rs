//! Mutual TLS for TCP listeners: the server presents `--tlscert`/`--tlskey`
//! and accepts only clients whose certificate chains to `--tlscacert`, as
//! dockerd with `--tlsverify` (anyone who reaches an open Engine API
//! socket is root on the host).

use crate::config::TlsConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use std::path::Path;
use std::sync::Arc;

/// A TLS setting that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("tls: {what} {path}: {message}")]
pub struct TlsError {
    pub what: &'static str,
    pub path: String,
    pub message: String,
}

fn err(what: &'static str, path: &Path, e: impl std::fmt::Display) -> TlsError {
    TlsError {
        what,
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let v = CertificateDer::pem_file_iter(path)
        .map_err(|e| err("read certificates", path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err("parse certificates", path, e))?;
    if v.is_empty() {
        return Err(err("read certificates", path, "no certificate in the file"));
    }
    Ok(v)
}

/// The server side: our certificate, and client certificates required.
pub fn server_config(t: &TlsConfig) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(&t.ca)? {
        roots.add(c).map_err(|e| err("add CA", &t.ca, e))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| err("client verifier from", &t.ca, e))?;
    let key = PrivateKeyDer::from_pem_file(&t.key).map_err(|e| err("read key", &t.key, e))?;
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err("protocol versions for", &t.cert, e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(&t.cert)?, key)
        .map_err(|e| err("certificate and key", &t.cert, e))?;
    Ok(Arc::new(cfg))
}
