//! TLS for TCP hosts: the daemon's certificate checked against a CA, and
//! our client certificate presented (berthd's `--tlsverify` requires it).

use crate::Error;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The PEM files of `--tlscacert`, `--tlscert` and `--tlskey`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    /// Client certificate and key; without them only servers that do not
    /// ask for one accept us.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl TlsFiles {
    /// docker's defaults: `ca.pem`, `cert.pem`, `key.pem` in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            ca: dir.join("ca.pem"),
            cert: Some(dir.join("cert.pem")),
            key: Some(dir.join("key.pem")),
        }
    }
}

fn tls_err(what: &str, path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Tls(format!("{what} {}: {e}", path.display()))
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    CertificateDer::pem_file_iter(path)
        .map_err(|e| tls_err("read certificates", path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_err("parse certificates", path, e))
}

pub(crate) fn client_config(f: &TlsFiles) -> Result<Arc<rustls::ClientConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(&f.ca)? {
        roots.add(c).map_err(|e| tls_err("add CA", &f.ca, e))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("protocol versions for", &f.ca, e))?
        .with_root_certificates(roots);
    let cfg = match (&f.cert, &f.key) {
        (Some(c), Some(k)) => {
            let key = PrivateKeyDer::from_pem_file(k).map_err(|e| tls_err("read key", k, e))?;
            builder
                .with_client_auth_cert(certs(c)?, key)
                .map_err(|e| tls_err("client certificate", c, e))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(cfg))
}
