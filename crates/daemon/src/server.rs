//! Listening and serving: the UNIX socket (mode 0660, group `berth`), TCP
//! with mutual TLS only (`tls.rs`), the
//! pid file, connections served by hyper with upgrades enabled (for the
//! hijacked attach and exec streams), and a clean stop on SIGTERM/SIGINT
//! that removes the socket and the pid file.

use crate::body::InBody;
use crate::config::Config;
use crate::router::{self, Ctx};
use crate::service::Backend;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::{TcpListener, UnixListener};
use tokio::signal::unix::{signal, SignalKind};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("unsupported host {0:?}: want unix:///path or tcp://host:port")]
    BadHost(String),
    #[error(
        "refusing to listen on {0}: TCP needs --tlsverify with --tlscacert, --tlscert and --tlskey \
         (an unauthenticated TCP socket gives root to anyone who can reach it)"
    )]
    TcpWithoutTls(String),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("pid file found, ensure berthd is not running or delete {0}")]
    Running(PathBuf),
    #[error("another daemon is already listening on {0}")]
    SocketInUse(PathBuf),
    #[error("group {0:?} not found")]
    NoGroup(String),
    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ServeError {
    let path = path.to_owned();
    move |source| ServeError::Io { what, path, source }
}

/// A listen address from `-H`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Unix(PathBuf),
    Tcp(String),
}

pub fn parse_host(h: &str) -> Result<ListenAddr, ServeError> {
    if let Some(p) = h.strip_prefix("unix://") {
        let p = if p.is_empty() {
            crate::config::DEFAULT_SOCKET
        } else {
            p
        };
        return Ok(ListenAddr::Unix(PathBuf::from(p)));
    }
    if let Some(a) = h.strip_prefix("tcp://") {
        if a.is_empty() {
            return Err(ServeError::BadHost(h.into()));
        }
        return Ok(ListenAddr::Tcp(a.into()));
    }
    if h.starts_with('/') {
        return Ok(ListenAddr::Unix(PathBuf::from(h)));
    }
    Err(ServeError::BadHost(h.into()))
}

/// Files the daemon made and removes when it stops.
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Serves until SIGTERM or SIGINT.
pub async fn serve<B: Backend>(config: &Config, ctx: Arc<Ctx<B>>) -> Result<(), ServeError> {
    let addrs = config
        .hosts
        .iter()
        .map(|h| parse_host(h))
        .collect::<Result<Vec<_>, _>>()?;
    let tls = match &config.tls {
        Some(t) => Some(tokio_rustls::TlsAcceptor::from(crate::tls::server_config(
            t,
        )?)),
        None => None,
    };
    for a in &addrs {
        if let (ListenAddr::Tcp(t), None) = (a, &tls) {
            return Err(ServeError::TcpWithoutTls(t.clone()));
        }
    }
    std::fs::create_dir_all(&config.exec_root).map_err(io_err("create", &config.exec_root))?;
    let mut cleanup = Cleanup(Vec::new());
    write_pidfile(&config.pidfile)?;
    cleanup.0.push(config.pidfile.clone());
    let gid = socket_group(config.group.as_deref())?;
    let mut listeners = Vec::new();
    let mut tcp_listeners = Vec::new();
    for a in &addrs {
        match a {
            ListenAddr::Unix(p) => {
                let l = bind_unix(p, gid)?;
                cleanup.0.push(p.clone());
                tracing::info!("API listen on {}", p.display());
                listeners.push(l);
            }
            ListenAddr::Tcp(t) => {
                let l = TcpListener::bind(t)
                    .await
                    .map_err(io_err("bind", Path::new(t)))?;
                tracing::info!("API listen on {t} (mutual TLS)");
                tcp_listeners.push(l);
            }
        }
    }
    let mut term =
        signal(SignalKind::terminate()).map_err(io_err("signal", Path::new("SIGTERM")))?;
    let mut int = signal(SignalKind::interrupt()).map_err(io_err("signal", Path::new("SIGINT")))?;
    let mut tasks = tokio::task::JoinSet::new();
    for l in listeners {
        let ctx = Arc::clone(&ctx);
        tasks.spawn(accept_loop(l, ctx));
    }
    if let Some(acceptor) = tls {
        for l in tcp_listeners {
            tasks.spawn(accept_tls_loop(l, acceptor.clone(), Arc::clone(&ctx)));
        }
    }
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
    tasks.abort_all();
    drop(cleanup);
    Ok(())
}

async fn accept_loop<B: Backend>(l: UnixListener, ctx: Arc<Ctx<B>>) {
    loop {
        match l.accept().await {
            Ok((s, _)) => {
                tokio::spawn(serve_conn(s, Arc::clone(&ctx)));
            }
            Err(e) => accept_failed(e).await,
        }
    }
}

/// How long a client has to send a request's headers.
const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// How long a TCP client has to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

async fn accept_tls_loop<B: Backend>(
    l: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    ctx: Arc<Ctx<B>>,
) {
    loop {
        match l.accept().await {
            Ok((s, peer)) => {
                let acceptor = acceptor.clone();
                let ctx = Arc::clone(&ctx);
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(s)).await {
                        Ok(Ok(tls)) => serve_conn(tls, ctx).await,
                        Ok(Err(e)) => tracing::info!("tls handshake with {peer}: {e}"),
                        Err(_) => tracing::info!("tls handshake with {peer}: timed out"),
                    }
                });
            }
            Err(e) => accept_failed(e).await,
        }
    }
}

/// Backs off after a failed accept (out of file descriptors, say).
async fn accept_failed(e: io::Error) {
    tracing::warn!("accept: {e}");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
}

/// Serves one connection with HTTP/1.1, upgrades enabled.
async fn serve_conn<B, IO>(io: IO, ctx: Arc<Ctx<B>>)
where
    B: Backend,
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req: hyper::Request<Incoming>| {
        let ctx = Arc::clone(&ctx);
        async move {
            let req = req.map(|b| -> InBody { b.map_err(Into::into).boxed() });
            Ok::<_, Infallible>(router::handle(&ctx, req).await)
        }
    });
    // A client gets HEADER_TIMEOUT to send each request's headers, so idle
    // or stuck connections do not pile up; bodies and streams are not
    // limited.
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(io), svc)
        .with_upgrades();
    if let Err(e) = conn.await {
        tracing::debug!("connection: {e}");
    }
}

/// Writes the pid file, refusing when it names a live process.
fn write_pidfile(p: &Path) -> Result<(), ServeError> {
    ensure_not_running(p)?;
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir).map_err(io_err("create", dir))?;
    }
    std::fs::write(p, format!("{}\n", std::process::id())).map_err(io_err("write", p))
}

/// Fails when the pid file names another live berthd (checked before the
/// engine opens its state, so a second daemon says why it stops).
pub fn ensure_not_running(p: &Path) -> Result<(), ServeError> {
    if let Ok(old) = std::fs::read_to_string(p) {
        if let Ok(pid) = old.trim().parse::<u32>() {
            if pid != std::process::id() && berthd_alive(pid) {
                return Err(ServeError::Running(p.into()));
            }
        }
    }
    Ok(())
}

/// Whether `pid` is a live berthd: a daemon killed with -9 and restarted at
/// once may still be a zombie, and its pid may since belong to another
/// program; neither holds the pid file.
fn berthd_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // `pid (comm) state ...`; comm may hold spaces and parentheses.
    let Some((head, rest)) = stat.rsplit_once(')') else {
        return false;
    };
    let comm = head.split_once('(').map_or("", |(_, c)| c);
    let state = rest.split_whitespace().next().unwrap_or("");
    comm.starts_with("berthd") && !matches!(state, "Z" | "X" | "x")
}

/// The gid for the socket: the named group (which must exist), or
/// `berth` if it exists, else none (root's group stays).
fn socket_group(name: Option<&str>) -> Result<Option<u32>, ServeError> {
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    let find = |n: &str| {
        groups.lines().find_map(|l| {
            let mut f = l.split(':');
            (f.next()? == n).then_some(())?;
            f.nth(1)?.parse::<u32>().ok()
        })
    };
    match name {
        Some(n) => find(n)
            .map(Some)
            .ok_or_else(|| ServeError::NoGroup(n.into())),
        None => Ok(find("berth")),
    }
}

fn bind_unix(p: &Path, gid: Option<u32>) -> Result<UnixListener, ServeError> {
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir).map_err(io_err("create", dir))?;
    }
    if p.exists() {
        if std::os::unix::net::UnixStream::connect(p).is_ok() {
            return Err(ServeError::SocketInUse(p.into()));
        }
        std::fs::remove_file(p).map_err(io_err("remove stale socket", p))?;
    }
    let l = UnixListener::bind(p).map_err(io_err("bind", p))?;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o660))
        .map_err(io_err("chmod", p))?;
    if let Some(g) = gid {
        std::os::unix::fs::chown(p, None, Some(g)).map_err(io_err("chown", p))?;
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(
            parse_host("unix:///tmp/a.sock").unwrap(),
            ListenAddr::Unix("/tmp/a.sock".into())
        );
        assert_eq!(
            parse_host("unix://").unwrap(),
            ListenAddr::Unix(crate::config::DEFAULT_SOCKET.into())
        );
        assert_eq!(
            parse_host("tcp://0.0.0.0:2376").unwrap(),
            ListenAddr::Tcp("0.0.0.0:2376".into())
        );
        assert!(parse_host("fd://").is_err());
        assert!(parse_host("tcp://").is_err());
    }

    #[test]
    fn pidfile_refuses_only_a_live_berthd() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.pid");
        // A live process that is not berthd (pid reuse) does not hold it.
        std::fs::write(&p, "1\n").unwrap();
        write_pidfile(&p).unwrap();
        // A live berthd does.
        let exe = d.path().join("berthd");
        std::os::unix::fs::symlink("/bin/sleep", &exe).unwrap();
        let mut child = std::process::Command::new(&exe).arg("30").spawn().unwrap();
        std::fs::write(&p, format!("{}\n", child.id())).unwrap();
        let r = write_pidfile(&p);
        // Killed but not yet reaped (a zombie), it no longer does.
        child.kill().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let zombie = write_pidfile(&p);
        child.wait().unwrap();
        assert!(matches!(r, Err(ServeError::Running(_))), "{r:?}");
        assert!(zombie.is_ok(), "{zombie:?}");
        std::fs::write(&p, "999999999\n").unwrap();
        write_pidfile(&p).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap().trim(),
            std::process::id().to_string()
        );
    }
}
