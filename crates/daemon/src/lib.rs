//! berthd: the Docker Engine API over HTTP on a UNIX socket, onto the
//! engine. The router (`router`, `routes/`) is generic over the
//! [`service::Backend`] trait; `backend` implements it over `berth_engine`.
#![forbid(unsafe_code)]

pub mod backend;
pub mod body;
pub mod config;
pub mod error;
pub mod fetch;
pub mod host;
pub mod router;
pub mod routes;
pub mod server;
pub mod service;
pub mod tls;

pub use config::{Config, Flags};
pub use error::ApiError;
pub use router::{Ctx, DaemonFacts};
pub use service::Backend;

use std::sync::Arc;

/// berth's version, reported as the engine's.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The facts `/version` and `/info` report for this daemon.
pub fn daemon_facts(config: &Config) -> DaemonFacts {
    DaemonFacts {
        version: VERSION.to_owned(),
        git_commit: option_env!("BERTH_GIT_COMMIT")
            .unwrap_or("unknown")
            .to_owned(),
        debug: config.debug,
        exec_root: config.exec_root.clone(),
        host: host::HostFacts::read(),
    }
}

/// Runs the daemon with `backend` until SIGTERM/SIGINT, on one small
/// tokio runtime (blocking backend calls use its blocking pool).
pub fn run<B: Backend>(config: &Config, backend: B) -> Result<(), server::ServeError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| server::ServeError::Io {
            what: "start runtime",
            path: "tokio".into(),
            source,
        })?;
    let ctx = Arc::new(Ctx::new(backend, daemon_facts(config)));
    rt.block_on(server::serve(config, ctx))
}
