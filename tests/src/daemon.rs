//! A berthd on a private socket, data root and exec root for process
//! tests, with helpers to drive it with the docker CLI and berth.

use crate::bin_dir;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A berthd on a temporary socket and data root, killed (by pid) and
/// cleaned up on drop.
pub struct Daemon {
    pub child: Child,
    pub dir: tempfile::TempDir,
}

impl Daemon {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts berthd on its UNIX socket and with `extra` flags.
    pub fn start_with(extra: &[String]) -> Self {
        // Short: the shims' sockets live under it, and a UNIX socket path
        // has at most 107 bytes (exec/shims/<64-hex id>/shim.sock).
        let dir = tempfile::Builder::new()
            .prefix(&format!("be{}", std::process::id()))
            .rand_bytes(3)
            .tempdir()
            .expect("tempdir");
        std::fs::write(dir.path().join("daemon.json"), "{}").expect("write daemon.json");
        let child = spawn_berthd(dir.path(), extra);
        let mut d = Self { child, dir };
        d.wait_ready();
        d
    }

    /// Kills berthd with SIGKILL and starts it again on the same state.
    pub fn kill9_and_restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn_berthd(self.dir.path(), &[]);
        self.wait_ready();
    }

    pub fn wait_ready(&mut self) {
        let t0 = Instant::now();
        while !self.ping() {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("berthd exited before answering /_ping: {st}");
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "berthd did not answer /_ping"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        eprintln!("berthd answered /_ping {:?} after exec", t0.elapsed());
    }

    pub fn sock(&self) -> PathBuf {
        self.dir.path().join("berth.sock")
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.sock().display())
    }

    pub fn ping(&self) -> bool {
        self.sock().exists()
            && Command::new("curl")
                .args(["-sf", "-o", "/dev/null", "--unix-socket"])
                .arg(self.sock())
                .arg("http://berth/_ping")
                .status()
                .is_ok_and(|s| s.success())
    }

    /// GET `path` with curl, returning the body.
    pub fn get(&self, path: &str) -> String {
        let o = Command::new("curl")
            .args(["-sS", "--unix-socket"])
            .arg(self.sock())
            .arg(format!("http://berth{path}"))
            .output()
            .expect("curl");
        assert!(
            o.status.success(),
            "curl {path}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).expect("utf-8 body")
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .output()
            .expect("run docker")
    }

    pub fn berth(&self, args: &[&str]) -> Output {
        Command::new(bin_dir().join("berth"))
            .args(args)
            .env("BERTH_HOST", self.host())
            .output()
            .expect("run berth")
    }
}

/// berthd on `dir`'s socket, state and config file.
pub fn spawn_berthd(dir: &Path, extra: &[String]) -> Child {
    Command::new(bin_dir().join("berthd"))
        .arg("-H")
        .arg(format!("unix://{}", dir.join("berth.sock").display()))
        .arg("--data-root")
        .arg(dir.join("data"))
        .arg("--exec-root")
        .arg(dir.join("exec"))
        .arg("--config-file")
        .arg(dir.join("daemon.json"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start berthd")
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Containers a failed test left behind go first: their shims
        // outlive berthd by design.
        let berth = |args: &[&str]| {
            Command::new(bin_dir().join("berth"))
                .args(args)
                .env("BERTH_HOST", self.host())
                .output()
        };
        if let Ok(o) = berth(&["ps", "-aq"]) {
            let ids = String::from_utf8_lossy(&o.stdout).into_owned();
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids);
                let _ = berth(&args);
            }
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn ok(o: Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8(o.stdout).expect("utf-8 output")
}

/// A busybox rootfs tarball (busybox and its sh link) in `dir`.
pub fn busybox_tar(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    std::fs::create_dir_all(root.join("bin")).expect("mkdir rootfs");
    std::fs::copy("/usr/bin/busybox", root.join("bin/busybox")).expect("copy busybox");
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).expect("symlink sh");
    let tar = dir.join("rootfs.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .expect("tar");
    assert!(st.success());
    tar
}
