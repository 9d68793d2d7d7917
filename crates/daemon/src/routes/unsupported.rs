//! Routes berth answers like a dockerd that is not in a swarm and has no
//! plugins: swarm objects → 503 "not a swarm manager", swarm init/join →
//! 501 (berth has no swarm mode: past one machine, use Kubernetes),
//! plugins → an empty list and 404s.

use crate::error::ApiError;
use crate::router::{json, Response};
use hyper::{Method, StatusCode};

pub(crate) enum Ep {
    /// Reading or changing swarm objects on a node that is not a manager.
    NotSwarmManager,
    /// Creating or joining a swarm.
    NoSwarmMode,
    PluginList,
    /// Any other plugin route, naming the plugin path.
    Plugin(String),
}

const SWARM_OBJECTS: &[&str] = &["/nodes", "/services", "/tasks", "/secrets", "/configs"];

pub(crate) fn resolve(m: &Method, path: &str) -> Option<Ep> {
    let under = |p: &str, prefix: &str| p == prefix || p.starts_with(&format!("{prefix}/"));
    if m == Method::POST && matches!(path, "/swarm/init" | "/swarm/join") {
        return Some(Ep::NoSwarmMode);
    }
    if under(path, "/swarm") || SWARM_OBJECTS.iter().any(|p| under(path, p)) {
        return Some(Ep::NotSwarmManager);
    }
    if m == Method::GET && path == "/plugins" {
        return Some(Ep::PluginList);
    }
    if under(path, "/plugins") {
        return Some(Ep::Plugin(path.trim_start_matches("/plugins").to_owned()));
    }
    None
}

pub(crate) fn serve(ep: Ep) -> Result<Response, ApiError> {
    match ep {
        Ep::NotSwarmManager => Err(ApiError::unavailable(
            "This node is not a swarm manager. Use \"docker swarm init\" or \
             \"docker swarm join\" to connect this node to swarm and try again.",
        )),
        Ep::NoSwarmMode => Err(ApiError::unsupported(
            "berth has no swarm mode: it runs one machine; for a cluster use Kubernetes \
             with berth-runtime as a runtime class",
        )),
        Ep::PluginList => json(StatusCode::OK, &[] as &[()]),
        Ep::Plugin(p) => {
            let name = p.trim_start_matches('/').split('/').next().unwrap_or("");
            Err(ApiError::not_found(format!("plugin {name:?} not found")))
        }
    }
}
