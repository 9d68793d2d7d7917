//! Round trips with the real peers (acceptance 1), each with private state:
//! a dockerd of our own (own data root, exec root, socket; no bridge, no
//! iptables), podman with its own root, skopeo and umoci on temporary
//! directories.
//!
//! - `docker save` → berth load (same image id and layers);
//! - berth save → `docker load` and `podman load`, and their `run` works;
//! - skopeo `oci:` layout (gzip layers) → berth load;
//! - umoci unpacks a berth-saved OCI layout.
#![allow(clippy::unwrap_used)]

mod common;

use berth_base::testenv::{have_program, is_root, require};
use berth_engine::image::{ImportOptions, Loaded};
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A dockerd of our own, stopped (by pid) on drop.
struct Dockerd {
    child: Child,
    host: String,
    dir: PathBuf,
}

impl Dockerd {
    fn start(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("daemon.json"), "{}").unwrap();
        let sock = dir.join("d.sock");
        let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
        let child = Command::new("dockerd")
            .arg("--config-file")
            .arg(dir.join("daemon.json"))
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let d = Self {
            child,
            host: format!("unix://{}", sock.display()),
            dir: dir.to_owned(),
        };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if d.docker()
                .arg("version")
                .output()
                .is_ok_and(|o| o.status.success())
            {
                return d;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "dockerd did not start: {}",
            std::fs::read_to_string(dir.join("dockerd.log")).unwrap_or_default()
        );
    }

    fn docker(&self) -> Command {
        let mut c = Command::new("/usr/bin/docker");
        c.env("DOCKER_HOST", &self.host)
            .env("DOCKER_CONFIG", self.dir.join("client"));
        c
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn busybox_tar(dir: &Path) -> PathBuf {
    let p = dir.join("busybox-rootfs.tar");
    std::fs::write(&p, busybox_rootfs()).unwrap();
    p
}

fn berth_busybox(t: &TestEngine, name: &str) -> String {
    t.engine
        .images()
        .import(
            &mut &busybox_rootfs()[..],
            &ImportOptions {
                reference: Some(name.into()),
                changes: vec!["CMD [\"/bin/sh\"]".into(), "ENV PATH=/bin".into()],
                message: "interop".into(),
                source: "-".into(),
            },
        )
        .unwrap()
}

fn save(t: &TestEngine, names: &[&str], path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    t.engine.images().save(&names, &mut f).unwrap();
}

#[test]
fn docker_round_trips() {
    if !require(
        is_root() && have_program("dockerd"),
        "needs root and dockerd",
    ) {
        return;
    }
    let t = engine();
    let d = Dockerd::start(&t.dir.path().join("docker"));

    // docker import + docker save → berth load: the same id and layers.
    let rootfs = busybox_tar(t.dir.path());
    let docker_id = run(d
        .docker()
        .args([
            "import",
            "--change",
            "CMD [\"/bin/sh\"]",
            "-m",
            "from docker",
        ])
        .arg(&rootfs)
        .arg("dockerbox:1"));
    let archive = t.dir.path().join("docker-save.tar");
    run(d
        .docker()
        .args(["save", "-o"])
        .arg(&archive)
        .arg("dockerbox:1"));
    let loaded = t
        .engine
        .images()
        .load(&mut std::fs::File::open(&archive).unwrap(), &mut |_| {})
        .unwrap();
    assert_eq!(loaded, vec![Loaded::Tag("dockerbox:1".into())]);
    let ours = t.engine.images().inspect("dockerbox:1").unwrap();
    assert_eq!(ours.id, docker_id);
    let layers = run(d.docker().args([
        "image",
        "inspect",
        "-f",
        "{{json .RootFS.Layers}}",
        "dockerbox:1",
    ]));
    assert_eq!(serde_json::to_string(&ours.root_fs.layers).unwrap(), layers);

    // Our import of the same tarball has the same diff id as docker's.
    let id = berth_busybox(&t, "berthbox:1");
    let ours = t.engine.images().inspect(&id).unwrap();
    assert_eq!(serde_json::to_string(&ours.root_fs.layers).unwrap(), layers);

    // berth save → docker load → docker run.
    let saved = t.dir.path().join("berth-save.tar");
    save(&t, &["berthbox:1"], &saved);
    let out = run(d.docker().args(["load", "-i"]).arg(&saved));
    assert!(out.contains("Loaded image: berthbox:1"), "{out}");
    assert_eq!(
        run(d
            .docker()
            .args(["image", "inspect", "-f", "{{.Id}}", "berthbox:1"])),
        id
    );
    let hello = run(d.docker().args([
        "run",
        "--rm",
        "--network",
        "none",
        "berthbox:1",
        "echo",
        "hello from berth",
    ]));
    assert_eq!(hello, "hello from berth");
}

#[test]
fn podman_loads_and_runs_berth_save() {
    if !require(is_root() && have_program("podman"), "needs root and podman") {
        return;
    }
    let t = engine();
    let id = berth_busybox(&t, "berthbox:2");
    let saved = t.dir.path().join("berth-save.tar");
    save(&t, &["berthbox:2"], &saved);
    let p = t.dir.path().join("podman");
    let podman = || {
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(p.join("root"))
            .arg("--runroot")
            .arg(p.join("run"))
            .arg("--tmpdir")
            .arg(p.join("tmp"))
            // crun refuses this machine's hybrid cgroup layout; runc copes.
            .args([
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
                "--runtime",
                "runc",
            ]);
        c
    };
    // podman keeps its store's overlay dir mounted; release it even when
    // an assertion fails.
    struct Reset<F: Fn() -> Command>(F, PathBuf);
    impl<F: Fn() -> Command> Drop for Reset<F> {
        fn drop(&mut self) {
            let _ = (self.0)().args(["system", "reset", "-f"]).output();
            let _ = rustix::mount::unmount(&self.1, rustix::mount::UnmountFlags::DETACH);
        }
    }
    let _reset = Reset(podman, p.join("root/overlay"));
    let podman = &_reset.0;
    let out = run(podman().args(["load", "-i"]).arg(&saved));
    assert!(out.contains("berthbox:2"), "{out}");
    let pid = run(podman().args(["image", "inspect", "-f", "{{.Id}}", "berthbox:2"]));
    assert_eq!(format!("sha256:{pid}"), id);
    let hello = run(podman().args([
        "run",
        "--rm",
        "--network",
        "none",
        "--ulimit",
        "nofile=20000:20000",
        "--ulimit",
        "nproc=32768:32768",
        "berthbox:2",
        "echo",
        "hello from berth",
    ]));
    assert_eq!(hello, "hello from berth");
}

#[test]
fn skopeo_oci_layout_loads_and_umoci_unpacks() {
    if !require(
        is_root() && have_program("skopeo") && have_program("umoci"),
        "needs root, skopeo and umoci",
    ) {
        return;
    }
    let t = engine();
    let id = berth_busybox(&t, "berthbox:3");
    let saved = t.dir.path().join("berth-save.tar");
    save(&t, &["berthbox:3"], &saved);

    // skopeo reads our archive and writes an OCI layout with gzip layers.
    let layout = t.dir.path().join("oci");
    run(Command::new("skopeo")
        .args([
            "copy",
            "--quiet",
            "--dest-compress-format",
            "gzip",
            "--dest-compress",
        ])
        .arg(format!("docker-archive:{}", saved.display()))
        .arg(format!("oci:{}:skopeo/box:gz", layout.display())));
    let mut tarred = Vec::new();
    {
        let mut b = tar::Builder::new(&mut tarred);
        b.append_dir_all(".", &layout).unwrap();
        b.finish().unwrap();
    }
    let other = engine();
    let loaded = other
        .engine
        .images()
        .load(&mut &tarred[..], &mut |_| {})
        .unwrap();
    assert_eq!(loaded, vec![Loaded::Tag("skopeo/box:gz".into())]);
    let theirs = other.engine.images().inspect("skopeo/box:gz").unwrap();
    let ours = t.engine.images().inspect(&id).unwrap();
    assert_eq!(theirs.root_fs, ours.root_fs, "same diff ids through gzip");

    // umoci unpacks the OCI layout inside our saved archive.
    let extracted = t.dir.path().join("extracted");
    tar::Archive::new(std::fs::File::open(&saved).unwrap())
        .unpack(&extracted)
        .unwrap();
    let bundle = t.dir.path().join("bundle");
    run(Command::new("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}:3", extracted.display()))
        .arg(&bundle));
    assert!(bundle.join("rootfs/bin/busybox").is_file());
    assert!(bundle.join("config.json").is_file());
}
