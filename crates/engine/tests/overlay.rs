//! Real-kernel check of the snapshotter's mounts: a prepared snapshot of a
//! two-layer image, mounted as overlayfs, shows the merged content, with
//! whiteouts and opaque directories hiding the lower files.
#![allow(clippy::unwrap_used)]

mod common;

use berth_base::testenv::{is_root, require};
use berth_store::Snapshotter;
use common::*;
use std::ffi::CString;
use std::path::{Path, PathBuf};

struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH);
    }
}

fn mount(m: &berth_store::Mount, target: &Path) -> Unmount {
    let data = CString::new(m.options.join(",")).unwrap();
    rustix::mount::mount(
        m.source.as_str(),
        target,
        m.kind.as_str(),
        rustix::mount::MountFlags::empty(),
        data.as_c_str(),
    )
    .unwrap_or_else(|e| panic!("mount {m:?}: {e}"));
    Unmount(target.to_owned())
}

#[test]
fn prepared_snapshot_mounts_with_whiteouts() {
    if !require(is_root(), "overlay mounts need root") {
        return;
    }
    let t = engine();
    let lower = tar_of(&[
        dir("a/"),
        file("a/gone", b"lower"),
        file("a/kept", b"lower"),
        dir("opq/"),
        file("opq/hidden", b"lower"),
        file("top", b"lower"),
    ]);
    let upper = tar_of(&[
        dir("a/"),
        file("a/.wh.gone", b""),
        dir("opq/"),
        file("opq/.wh..wh..opq", b""),
        file("opq/new", b"upper"),
        file("top", b"upper"),
    ]);
    let archive = docker_archive(&[lower, upper], "two:layers");
    t.engine
        .images()
        .load(&mut &archive[..], &mut |_| {})
        .unwrap();
    let layers = t.engine.images().layers("two:layers").unwrap();
    assert_eq!(layers.len(), 2);

    let snaps = &t.engine.store().snapshots;
    // The whiteout is a 0/0 character device, the opaque dir has the xattr.
    let upper_dir = snaps.layer_dir(&layers[1]);
    let md = std::fs::symlink_metadata(upper_dir.join("a/gone")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &md.file_type()
    ));
    let mut buf = [0u8; 4];
    let n =
        rustix::fs::lgetxattr(upper_dir.join("opq"), "trusted.overlay.opaque", &mut buf).unwrap();
    assert_eq!(&buf[..n], b"y");

    let key = format!("test-{}", std::process::id());
    let mounts = snaps.prepare(&key, layers.last()).unwrap();
    let target = t.dir.path().join("rootfs");
    std::fs::create_dir(&target).unwrap();
    {
        let _m = mount(&mounts[0], &target);
        let read = |p: &str| std::fs::read_to_string(target.join(p)).ok();
        assert_eq!(read("a/kept").as_deref(), Some("lower"));
        assert_eq!(read("a/gone"), None, "whiteout hides the lower file");
        assert_eq!(read("opq/hidden"), None, "opaque dir hides the lower dir");
        assert_eq!(read("opq/new").as_deref(), Some("upper"));
        assert_eq!(read("top").as_deref(), Some("upper"));
        std::fs::write(target.join("written"), "rw").unwrap();
        // The kernel records this deletion as a whiteout in the upper dir.
        std::fs::remove_file(target.join("a/kept")).unwrap();
        std::fs::remove_dir_all(target.join("opq")).unwrap();
        std::fs::create_dir(target.join("opq")).unwrap();
    }
    let upper_rw = snaps.upper_dir(&key).unwrap();
    assert_eq!(
        std::fs::read_to_string(upper_rw.join("written")).unwrap(),
        "rw"
    );

    // The container's changes as a layer (what commit will store).
    let mut tar = Vec::new();
    let stats = berth_store::diff::write_overlay_diff(&upper_rw, &mut tar).unwrap();
    assert_eq!(stats.diff_id, berth_base::digest::Digest::of(&tar));
    let names: Vec<String> = tar::Archive::new(&tar[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    for want in ["written", "a/.wh.kept", "opq/", "opq/.wh..wh..opq"] {
        assert!(names.contains(&want.to_string()), "{want} not in {names:?}");
    }

    // The snapshot keeps the layers after the image goes.
    t.engine.images().remove("two:layers", false, true).unwrap();
    assert!(snaps.has_layer(&layers[1]));
    snaps.remove(&key).unwrap();
    assert!(!snaps.has_layer(&layers[1]));
    assert!(!snaps.has_layer(&layers[0]));
}

#[test]
fn commit_makes_an_image_of_a_containers_changes() {
    if !require(is_root(), "overlay mounts need root") {
        return;
    }
    let t = engine();
    let base = tar_of(&[
        dir("etc/"),
        file("etc/keep", b"base"),
        file("etc/drop", b"base"),
    ]);
    t.engine
        .images()
        .load(&mut &docker_archive(&[base], "base:1")[..], &mut |_| {})
        .unwrap();
    let layers = t.engine.images().layers("base:1").unwrap();
    let snaps = &t.engine.store().snapshots;
    let key = format!("commit-{}", std::process::id());
    let mounts = snaps.prepare(&key, layers.last()).unwrap();
    let target = t.dir.path().join("rootfs");
    std::fs::create_dir(&target).unwrap();
    {
        let _m = mount(&mounts[0], &target);
        std::fs::write(target.join("etc/new"), "made in the container").unwrap();
        std::fs::remove_file(target.join("etc/drop")).unwrap();
    }
    let id = t
        .engine
        .images()
        .commit(
            "base:1",
            &snaps.upper_dir(&key).unwrap(),
            &berth_engine::image::CommitOptions {
                reference: Some("committed:1".into()),
                changes: vec!["CMD [\"/bin/true\"]".into()],
                message: "my change".into(),
                author: "me".into(),
                created_by: "/bin/sh -c edit".into(),
                ..Default::default()
            },
        )
        .unwrap();
    let d = t.engine.images().inspect("committed:1").unwrap();
    assert_eq!(d.id, id);
    assert_eq!(d.root_fs.layers.len(), 2);
    assert_eq!(d.parent, t.engine.images().resolve("base:1").unwrap());
    assert_eq!((d.comment.as_str(), d.author.as_str()), ("my change", "me"));
    assert_eq!(
        d.config.cmd.as_deref(),
        Some(&["/bin/true".to_string()][..])
    );
    let read = |p: &str| t.engine.images().read_image_file("committed:1", p).unwrap();
    assert_eq!(
        read("etc/new").as_deref(),
        Some(&b"made in the container"[..])
    );
    assert_eq!(read("etc/keep").as_deref(), Some(&b"base"[..]));
    assert_eq!(
        read("etc/drop"),
        None,
        "the deletion is a whiteout in the new layer"
    );
    let h = t.engine.images().history("committed:1").unwrap();
    assert_eq!(h[0].created_by, "/bin/sh -c edit");
    // The new image round trips through save and load with the same id.
    let mut saved = Vec::new();
    t.engine
        .images()
        .save(&["committed:1".into()], &mut saved)
        .unwrap();
    let other = engine();
    other
        .engine
        .images()
        .load(&mut &saved[..], &mut |_| {})
        .unwrap();
    assert_eq!(other.engine.images().resolve("committed:1").unwrap(), id);
    snaps.remove(&key).unwrap();
}

#[test]
fn long_chains_mount_through_short_links() {
    if !require(is_root(), "overlay mounts need root") {
        return;
    }
    let t = engine();
    let names: Vec<String> = (0..45).map(|i| format!("layer{i}")).collect();
    let layers: Vec<Vec<u8>> = names
        .iter()
        .map(|n| tar_of(&[file(n, n.as_bytes())]))
        .collect();
    t.engine
        .images()
        .load(&mut &docker_archive(&layers, "tall:1")[..], &mut |_| {})
        .unwrap();
    let chain = t.engine.images().layers("tall:1").unwrap();
    let snaps = &t.engine.store().snapshots;
    let key = format!("tall-{}", std::process::id());
    let mounts = snaps.prepare(&key, chain.last()).unwrap();
    // Full paths would not fit in a page under this long test root.
    assert!(
        mounts[0].options[0].contains("/l/"),
        "{:?}",
        mounts[0].options
    );
    let target = t.dir.path().join("rootfs");
    std::fs::create_dir(&target).unwrap();
    {
        let _m = mount(&mounts[0], &target);
        for n in [&names[0], &names[22], &names[44]] {
            assert_eq!(std::fs::read_to_string(target.join(n)).unwrap(), *n);
        }
    }
    snaps.remove(&key).unwrap();
}
