//! The OCI mounts this crate produces, run for real by a peer runtime
//! (runc) in a busybox container: a copied-up named volume, a read-only
//! bind, a tmpfs, and a volume whose mount point hides behind a hostile
//! symlink in the image.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_base::testenv::{have_program, require};
use berth_volume::*;
use common::{private_mounts, Scratch};

/// Deletes the runc container (and its cgroups) even when the test fails.
struct RuncGuard {
    state: PathBuf,
    id: String,
}

impl Drop for RuncGuard {
    fn drop(&mut self) {
        let _ = Command::new("runc")
            .arg("--root")
            .arg(&self.state)
            .args(["delete", "-f", &self.id])
            .output();
    }
}

fn busybox_rootfs(root: &Path) {
    std::fs::create_dir_all(root.join("bin")).unwrap();
    for d in ["proc", "dev", "sys", "tmp", "data"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/usr/bin/busybox", root.join("bin/busybox")).unwrap();
    for applet in ["sh", "cat", "echo", "touch", "grep"] {
        symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    std::fs::write(root.join("data/from-image"), b"image content\n").unwrap();
    // The image's hostile symlink: /etc points above the root.
    symlink("/../../../../outside", root.join("etc")).unwrap();
}

#[test]
fn runc_sees_volumes_binds_and_tmpfs_where_planned() {
    if !require(have_program("runc"), "needs runc")
        || !require(
            Path::new("/usr/bin/busybox").exists(),
            "needs busybox-static",
        )
        || !private_mounts()
    {
        return;
    }
    let s = Scratch::new();
    let bundle = s.path().join("bundle");
    let rootfs = bundle.join("rootfs");
    busybox_rootfs(&rootfs);
    let outside = s.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let host_ro = s.path().join("host-ro");
    std::fs::create_dir(&host_ro).unwrap();
    std::fs::write(host_ro.join("seen"), b"host file\n").unwrap();

    let store = VolumeStore::open(&s.path().join("root")).unwrap();
    let id = format!("berth-volume-test-{}", std::process::id());
    let plan = combine(&MountRequest {
        binds: vec![
            parse_volume("runcvol:/data").unwrap(),
            parse_volume(&format!("{}:/ro:ro", host_ro.display())).unwrap(),
            parse_volume("evilvol:/etc/app").unwrap(),
        ],
        tmpfs: vec![parse_tmpfs("/run/t:size=1m").unwrap()],
        ..Default::default()
    })
    .unwrap();
    let mounts = store.prepare(&id, &plan, Some(&rootfs)).unwrap();
    let oci = store.activate(&id, &mounts, &rootfs).unwrap();

    let state = s.path().join("runc-state");
    let out = Command::new("runc")
        .args(["spec", "--bundle"])
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let cfg_path = bundle.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
    cfg["process"]["terminal"] = false.into();
    cfg["root"]["readonly"] = false.into();
    cfg["process"]["args"] = serde_json::json!([
        "/bin/sh",
        "-c",
        "cat /data/from-image; echo from-container > /data/written; \
         cat /ro/seen; if touch /ro/x 2>/dev/null; then echo RO-WRITABLE; fi; \
         grep ' /run/t tmpfs ' /proc/mounts; echo inside > /etc/app/note; echo done"
    ]);
    let list = cfg["mounts"].as_array_mut().unwrap();
    for m in &oci {
        list.push(serde_json::to_value(m).unwrap());
    }
    std::fs::write(&cfg_path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();

    let _guard = RuncGuard {
        state: state.clone(),
        id: id.clone(),
    };
    let out = Command::new("runc")
        .arg("--root")
        .arg(&state)
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&id)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "runc failed: {stdout}\n{stderr}\nmounts: {oci:?}"
    );
    assert!(stdout.contains("image content"), "{stdout}");
    assert!(stdout.contains("host file"), "{stdout}");
    assert!(!stdout.contains("RO-WRITABLE"), "{stdout}");
    assert!(stdout.contains("/run/t tmpfs"), "{stdout}");
    assert!(stdout.contains("done"), "{stdout}\n{stderr}");
    assert_eq!(
        std::fs::read(store.data_path("runcvol").join("written")).unwrap(),
        b"from-container\n"
    );
    assert_eq!(
        std::fs::read(store.data_path("evilvol").join("note")).unwrap(),
        b"inside\n"
    );
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    assert!(!host_ro.join("x").exists());

    store.deactivate(&id, &mounts).unwrap();
    store.release(&id, &mounts, true).unwrap();
}
