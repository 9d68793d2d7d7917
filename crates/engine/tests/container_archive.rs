//! `docker cp`, export and commit against the real kernel: paths resolve
//! inside the container's root whatever its symlinks say, hostile tars are
//! refused without writing outside the root, and a running container is
//! reached through its own root.
#![allow(clippy::unwrap_used)]

mod common;

use berth_base::testenv::{is_root, require};
use berth_base::ErrorKind;
use berth_engine::container::{CommitRequest, Containers, ExtractOptions, Options};
use common::*;
use serde_json::json;
use std::path::{Path, PathBuf};

/// A host directory the image's symlinks point at: the container must
/// never reach it.
struct HostDir(PathBuf);

impl HostDir {
    fn new(tag: &str) -> Self {
        let p = PathBuf::from(format!("/tmp/berth-archive-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("secret"), b"host secret").unwrap();
        Self(p)
    }

    fn untouched(&self) {
        let mut names: Vec<_> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["secret"], "something was written to {:?}", self.0);
    }
}

impl Drop for HostDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An engine with a busybox image whose `/abs` points at `host` (image
/// layers cannot hold relative links that climb out: the applier refuses
/// them), and the container service.
fn setup(t: &TestEngine, host: &Path) -> Containers {
    let abs = host.display().to_string();
    let mut rootfs = busybox_rootfs();
    // Drop the end-of-archive blocks and append the link.
    rootfs.truncate(rootfs.len() - 1024);
    rootfs.extend(tar_of(&[symlink("abs", &abs)]));
    import_busybox(&t.engine, &rootfs);
    Containers::open(
        &t.engine,
        Options {
            shim: shim_binary().unwrap_or_else(|| PathBuf::from("berth-shim")),
            runtime: None,
        },
    )
    .unwrap()
}

fn get(c: &Containers, id: &str, path: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    c.archive_get(id, path, &mut out).unwrap();
    let mut ar = tar::Archive::new(out.as_slice());
    let mut entries = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        entries.push((name, data));
    }
    entries
}

fn put(c: &Containers, id: &str, path: &str, tar: &[u8]) -> berth_engine::container::Result<()> {
    c.archive_put(
        id,
        path,
        &mut &tar[..],
        ExtractOptions {
            no_overwrite_dir_non_dir: true,
            copy_uid_gid: false,
        },
    )
}

/// A tar sink that, at its first write, says it is inside the copy and
/// waits to be let go on.
struct Gate {
    inside: Option<std::sync::mpsc::Sender<()>>,
    go: std::sync::mpsc::Receiver<()>,
}

impl std::io::Write for Gate {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if let Some(tx) = self.inside.take() {
            tx.send(()).unwrap();
            self.go.recv().unwrap();
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The checks shared by the stopped and the running container.
fn resolution_stays_inside(c: &Containers, id: &str, host: &HostDir) {
    // Through symlinks and `..`, reads land in the container.
    let up = format!("/../../../..{}/secret", host.0.display());
    let up_from_tmp = format!("/tmp/../../..{}/secret", host.0.display());
    for p in ["/abs/secret", up.as_str(), up_from_tmp.as_str()] {
        let e = c.archive_stat(id, p).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{p}: {e}");
    }
    let passwd = get(c, id, "/../../../etc/passwd");
    assert_eq!(passwd[0].0, "passwd");
    assert!(String::from_utf8_lossy(&passwd[0].1).contains("app:x:1000"));

    // Writes through the links land in the container too.
    put(c, id, "/tmp", &tar_of(&[dir("abs-target/")])).unwrap();
    let err = put(c, id, "/abs", &tar_of(&[file("pwned", b"x")])).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    // Hostile tars are refused.
    for bad in [
        tar_of(&[file("../x", b"x")]),
        tar_of(&[file("/abs-entry", b"x")]),
        tar_of(&[
            symlink("out", "../../../../../../../../../../"),
            file("out/pwned", b"x"),
        ]),
        tar_of(&[hardlink("hl", "../../../../../../../etc/shadow")]),
    ] {
        let e = put(c, id, "/tmp", &bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
    }
    host.untouched();

    // A file in, the same file out, with the stat docker sends.
    put(c, id, "/tmp", &tar_of(&[dir("d/"), file("d/f", b"hello")])).unwrap();
    let st = c.archive_stat(id, "/tmp/d/f").unwrap();
    assert_eq!((st.name.as_str(), st.size, st.mode), ("f", 5, 0o644));
    assert_eq!(
        c.archive_stat(id, "/tmp/d").unwrap().mode,
        (1 << 31) | 0o755
    );
    let st = c.archive_stat(id, "/abs").unwrap();
    assert_eq!(st.mode & (1 << 27), 1 << 27);
    let names: Vec<String> = get(c, id, "/tmp/d/.").into_iter().map(|e| e.0).collect();
    assert_eq!(names, ["./", "./f"]);
    let d = get(c, id, "/tmp/d");
    assert_eq!(d[1], ("d/f".to_owned(), b"hello".to_vec()));
    // A directory does not become a file, nor the reverse.
    let e = put(c, id, "/tmp", &tar_of(&[file("d", b"x")])).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
    let e = put(c, id, "/tmp/d/f", &tar_of(&[file("g", b"x")])).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
}

#[test]
fn stopped_container_cp_export_commit() {
    if !require(is_root(), "needs root (overlay mounts, chroot)") {
        return;
    }
    let host = HostDir::new("stopped");
    let t = engine();
    let c = setup(&t, &host.0);
    let id = c
        .create(
            None,
            &json!({"Image": "busybox", "Cmd": ["cat", "/tmp/d/f"]}),
        )
        .unwrap()
        .id;
    resolution_stays_inside(&c, &id, &host);

    let mut tar = Vec::new();
    c.export(&id, &mut tar).unwrap();
    let mut names = Vec::new();
    for e in tar::Archive::new(tar.as_slice()).entries().unwrap() {
        names.push(String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned());
    }
    for want in ["bin/busybox", "etc/passwd", "tmp/d/f", "abs"] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }

    // While a copy works in the stopped container's own snapshot mount,
    // start and removal are refused: two overlay mounts of one upper
    // directory must never exist. Both work again once it ends.
    let (inside_tx, inside_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        let copy = s.spawn(|| {
            let mut gate = Gate {
                inside: Some(inside_tx),
                go: go_rx,
            };
            c.archive_get(&id, "/etc", &mut gate)
        });
        inside_rx.recv().unwrap();
        let started = c.start(&id);
        let removed = c.remove(&id, true, false);
        // Let the copy go on before judging, so a failure cannot hang it.
        go_tx.send(()).unwrap();
        copy.join().unwrap().unwrap();
        let e = started.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
        let e = removed.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    });

    let image = c
        .commit(
            &id,
            &CommitRequest {
                reference: Some("committed:v1".into()),
                comment: "with f".into(),
                changes: vec!["CMD [\"cat\", \"/tmp/d/f\"]".into()],
                pause: true,
                ..CommitRequest::default()
            },
        )
        .unwrap();
    assert!(image.starts_with("sha256:"), "{image}");
    let got = t
        .engine
        .images()
        .read_image_file("committed:v1", "tmp/d/f")
        .unwrap();
    assert_eq!(got.as_deref(), Some(&b"hello"[..]));
    // No view is left mounted or behind.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&t.dir.path().display().to_string()));
    let views = t.dir.path().join("exec/archive");
    assert_eq!(std::fs::read_dir(&views).unwrap().count(), 0);
}

#[test]
fn running_container_cp_through_its_root() {
    if !(require(is_root(), "needs root")
        && require(
            shim_binary().is_some(),
            "needs berth-shim built (cargo build -p berth-shim)",
        ))
    {
        return;
    }
    let host = HostDir::new("running");
    let t = engine();
    let _cleanup = Cleanup(t.dir.path().to_owned());
    let c = setup(&t, &host.0);
    let id = c
        .create(
            None,
            &json!({"Image": "busybox", "Cmd": ["busybox", "sleep", "100"]}),
        )
        .unwrap()
        .id;
    c.start(&id).unwrap();
    resolution_stays_inside(&c, &id, &host);
    // The file is in the live container's own root.
    let pid = c.inspect(&id).unwrap()["State"]["Pid"].as_i64().unwrap();
    let seen = std::fs::read(format!("/proc/{pid}/root/tmp/d/f")).unwrap();
    assert_eq!(seen, b"hello");
    // Commit pauses and resumes it.
    c.commit(
        &id,
        &CommitRequest {
            pause: true,
            ..CommitRequest::default()
        },
    )
    .unwrap();
    assert_eq!(c.inspect(&id).unwrap()["State"]["Status"], "running");
    c.remove(&id, true, false).unwrap();
}

#[test]
fn stopped_container_mounts_and_read_only_root() {
    if !require(is_root(), "needs root (overlay mounts, chroot)") {
        return;
    }
    let host = HostDir::new("mounts");
    let rw = HostDir::new("bind-rw");
    let ro = HostDir::new("bind-ro");
    let t = engine();
    let c = setup(&t, &host.0);
    let binds = [
        format!("{}:/b", rw.0.display()),
        format!("{}:/r:ro", ro.0.display()),
    ];
    let id = c
        .create(
            None,
            &json!({"Image": "busybox", "HostConfig": {"Binds": binds, "ReadonlyRootfs": true}}),
        )
        .unwrap()
        .id;
    put(&c, &id, "/b", &tar_of(&[file("in-bind", b"b")])).unwrap();
    assert_eq!(std::fs::read(rw.0.join("in-bind")).unwrap(), b"b");
    assert_eq!(get(&c, &id, "/r/secret")[0].1, b"host secret");
    for (path, want) in [
        ("/r", "mounted volume is marked read-only"),
        ("/tmp", "container rootfs is marked read-only"),
    ] {
        let e = put(&c, &id, path, &tar_of(&[file("x", b"x")])).unwrap_err();
        assert_eq!(e.to_string(), want);
    }
    ro.untouched();
    host.untouched();
}
