//! Fixtures for the real-kernel network tests: named network namespaces and
//! links with unique names, removed by Drop guards even when a test panics.
#![allow(dead_code)]

use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use berth_base::testenv::{have_program, is_root, require};

/// Whether the real-kernel tests can run here (root, ip, busybox, nft).
pub fn can_run() -> bool {
    require(is_root(), "network tests need root")
        && require(
            have_program("ip"),
            "network tests need iproute2 for fixtures",
        )
        && require(have_program("busybox"), "network tests need busybox")
}

/// A name unique to this process and call, short enough for an interface
/// (`tag` ≤ 3 bytes).
pub fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{tag}{:x}{:x}", std::process::id(), n)
}

/// A named network namespace (`ip netns add`), deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Self {
        let name = unique(tag);
        run("ip", &["netns", "add", &name]);
        Netns { name }
    }

    pub fn path(&self) -> std::path::PathBuf {
        format!("/run/netns/{}", self.name).into()
    }

    /// Runs a command inside the namespace.
    pub fn exec(&self, args: &[&str]) -> Output {
        let mut a = vec!["netns", "exec", &self.name];
        a.extend_from_slice(args);
        Command::new("ip")
            .args(&a)
            .output()
            .expect("spawn ip netns exec")
    }

    /// Pings `to` (IPv6 when it has a colon) from the namespace until it
    /// answers, 10 tries of 2 s at most; the last try's output. A new
    /// link's first packets can be lost while it comes up (its queue, the
    /// neighbour's address, IPv6's duplicate address detection).
    pub fn ping(&self, to: &str) -> Output {
        let family = if to.contains(':') { "-6" } else { "-4" };
        let mut out = self.exec(&["busybox", "ping", family, "-c", "1", "-W", "2", to]);
        for _ in 1..10 {
            if out.status.success() {
                break;
            }
            out = self.exec(&["busybox", "ping", family, "-c", "1", "-W", "2", to]);
        }
        out
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Deletes a link on drop, if it still exists.
pub struct LinkGuard(pub String);

impl Drop for LinkGuard {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).output();
    }
}

/// Runs a command that must succeed, returning its stdout.
pub fn run(prog: &str, args: &[&str]) -> String {
    let out = Command::new(prog).args(args).output().expect("spawn");
    assert!(
        out.status.success(),
        "{prog} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether a link named `name` exists in the host namespace.
pub fn link_exists(name: &str) -> bool {
    Command::new("ip")
        .args(["link", "show", "dev", name])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A child process killed (by its pid) and reaped on drop.
pub struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Netns {
    /// Starts a long-running command inside the namespace.
    pub fn spawn(&self, args: &[&str]) -> ChildGuard {
        let mut a = vec!["netns", "exec", &self.name];
        a.extend_from_slice(args);
        ChildGuard(
            Command::new("ip")
                .args(&a)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn ip netns exec"),
        )
    }
}

/// A berth-network manager with a temporary state dir, its own link
/// prefix and nft table; destroys everything it made on drop.
pub struct Fixture {
    pub mgr: berth_network::NetworkManager,
    pub prefix: String,
    pub table: String,
    dir: Option<tempfile::TempDir>,
    crashed: bool,
}

impl Fixture {
    /// `tag` is one letter that keeps tests of one process apart.
    pub fn new(tag: char, upstreams: Vec<std::net::SocketAddr>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::open_in(dir, tag, upstreams)
    }

    pub fn open_in(
        dir: tempfile::TempDir,
        tag: char,
        upstreams: Vec<std::net::SocketAddr>,
    ) -> Self {
        let prefix = format!("t{:x}{tag}", std::process::id() & 0xff_ffff);
        let table = format!("berth_test_{prefix}");
        let mut cfg = berth_network::Config::new(dir.path());
        cfg.prefix = prefix.clone();
        cfg.nft_table = table.clone();
        cfg.dns_upstreams = Some(upstreams);
        let mgr = berth_network::NetworkManager::open(cfg).expect("open manager");
        Fixture {
            mgr,
            prefix,
            table,
            dir: Some(dir),
            crashed: false,
        }
    }

    /// Drops the manager without cleaning up, as a crash would (its DNS
    /// threads stop, kernel objects and state files stay); returns the
    /// state dir for the next manager.
    pub fn crash(mut self) -> tempfile::TempDir {
        self.crashed = true;
        self.dir.take().expect("state dir")
    }

    /// The manager's state directory.
    pub fn state_dir(&self) -> &std::path::Path {
        self.dir.as_ref().expect("state dir").path()
    }

    /// Links in the host namespace whose name starts with our prefix.
    pub fn our_links(&self) -> Vec<String> {
        run("ip", &["-o", "link"])
            .lines()
            .filter_map(|l| l.split(':').nth(1))
            .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
            .filter(|n| n.starts_with(&self.prefix))
            .collect()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if !self.crashed {
            let _ = self.mgr.destroy_all();
        }
    }
}

/// Whether the nft table exists.
pub fn nft_table_exists(table: &str) -> bool {
    Command::new("nft")
        .args(["list", "table", "inet", table])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// An HTTP/1.0 GET over a plain TCP connection, retried for a while so
/// that a server started a moment ago has time to listen.
pub fn http_get(addr: std::net::SocketAddr) -> Result<String, String> {
    use std::io::{Read, Write};
    let mut last = String::new();
    for _ in 0..40 {
        match std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)) {
            Ok(mut c) => {
                c.set_read_timeout(Some(std::time::Duration::from_secs(3)))
                    .ok();
                c.write_all(b"GET /index.html HTTP/1.0\r\n\r\n")
                    .map_err(|e| e.to_string())?;
                let mut s = String::new();
                c.read_to_string(&mut s).map_err(|e| e.to_string())?;
                if !s.is_empty() {
                    return Ok(s);
                }
                last = "empty reply".into();
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Err(format!("{addr}: {last}"))
}
