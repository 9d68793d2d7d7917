//! A busybox bundle in a temporary directory and a private state root,
//! driving the real `berth-runtime` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub const BUSYBOX: &str = "/usr/bin/busybox";

/// Whether the prerequisites hold (root and a static busybox); skips (or
/// fails in CI) otherwise.
pub fn ready() -> bool {
    berth_base::testenv::require(berth_base::testenv::is_root(), "needs root")
        && berth_base::testenv::require(Path::new(BUSYBOX).exists(), "needs busybox-static")
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_berth-runtime")
}

/// A bundle with a busybox rootfs and a default config; the state root and
/// every container created through it are removed on drop.
pub struct Bundle {
    pub dir: tempfile::TempDir,
    pub state: tempfile::TempDir,
    pub config: Value,
    ids: Vec<String>,
}

impl Bundle {
    pub fn new() -> Bundle {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = tempfile::tempdir().expect("tempdir");
        let rootfs = dir.path().join("rootfs");
        for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root"] {
            std::fs::create_dir_all(rootfs.join(d)).expect("mkdir");
        }
        std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).expect("copy busybox");
        let list = Command::new(BUSYBOX)
            .arg("--list")
            .output()
            .expect("busybox --list");
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            if applet != "busybox" {
                let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet));
            }
        }
        std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
            .expect("passwd");
        let out = Command::new(bin())
            .args(["spec", "--bundle"])
            .arg(dir.path())
            .output()
            .expect("run spec");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut config: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).expect("read"))
                .expect("parse config");
        config["process"]["terminal"] = Value::Bool(false);
        config["root"]["readonly"] = Value::Bool(false);
        Bundle {
            dir,
            state,
            config,
            ids: Vec::new(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// A container id unique to this test process.
    pub fn id(&mut self, name: &str) -> String {
        let id = format!("t{}-{name}", std::process::id());
        self.ids.push(id.clone());
        id
    }

    pub fn write_config(&self) {
        std::fs::write(
            self.dir.path().join("config.json"),
            serde_json::to_vec_pretty(&self.config).expect("encode"),
        )
        .expect("write config");
    }

    /// Runs the runtime with the private state root. Its stdout and stderr
    /// go through files, not pipes: a detached container inherits them and
    /// would keep a pipe open long after the runtime exits.
    pub fn runtime(&self, args: &[&str]) -> Output {
        let out_path = self.dir.path().join("runtime.out");
        let err_path = self.dir.path().join("runtime.err");
        let out = std::fs::File::create(&out_path).expect("create runtime.out");
        let err = std::fs::File::create(&err_path).expect("create runtime.err");
        let status = Command::new(bin())
            .arg("--root")
            .arg(self.state.path())
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .expect("run berth-runtime");
        Output {
            status,
            stdout: std::fs::read(&out_path).expect("read runtime.out"),
            stderr: std::fs::read(&err_path).expect("read runtime.err"),
        }
    }

    /// `run` of `sh -c script` in a new container; returns the output.
    pub fn sh(&mut self, name: &str, script: &str) -> Output {
        self.config["process"]["args"] = serde_json::json!(["/bin/sh", "-c", script]);
        self.write_config();
        let id = self.id(name);
        let bundle = self.path();
        self.runtime(&["run", "--bundle", bundle.to_str().expect("utf8"), &id])
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = self.runtime(&["delete", "--force", id]);
        }
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
