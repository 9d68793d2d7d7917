//! Volumes on the real kernel, as root, each test in its own mount
//! namespace: tmpfs and bind volumes mounted on first use and unmounted on
//! last release, copy-up, data kept across uses, and mount points that stay
//! inside a hostile rootfs.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;

use berth_volume::*;
use common::{is_mounted, private_mounts, Scratch};

fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn create(store: &VolumeStore, name: &str, o: &[(&str, &str)]) {
    store
        .create(CreateRequest {
            name: Some(name.into()),
            options: opts(o),
            ..Default::default()
        })
        .unwrap();
}

/// A tmpfs volume mounted with `o`.
fn create_tmpfs(store: &VolumeStore, name: &str, o: &str) {
    create(
        store,
        name,
        &[("type", "tmpfs"), ("device", "tmpfs"), ("o", o)],
    );
}

/// A volume bind-mounting the host directory `device` with `o`.
fn create_bind(store: &VolumeStore, name: &str, o: &str, device: &Path) {
    let device = device.to_str().unwrap();
    create(
        store,
        name,
        &[("type", "none"), ("o", o), ("device", device)],
    );
}

/// The plan of `-v` specs `binds`.
fn plan_of(binds: &[&str]) -> Vec<Planned> {
    combine(&MountRequest {
        binds: binds.iter().map(|b| parse_volume(b).unwrap()).collect(),
        ..Default::default()
    })
    .unwrap()
}

/// A private mount namespace, a scratch dir, and a volume store in it
/// (under `root`); `None` (the test skips) without private mounts.
fn setup() -> Option<(Scratch, VolumeStore)> {
    if !private_mounts() {
        return None;
    }
    let s = Scratch::new();
    let store = VolumeStore::open(&s.path().join("root")).unwrap();
    Some((s, store))
}

/// Bind-mounts `src` on `dst` for the life of the guard, as a runtime
/// would for a container.
struct BindGuard(std::path::PathBuf);

impl BindGuard {
    fn new(src: &Path, dst: &Path) -> Self {
        rustix::mount::mount_bind(src, dst).unwrap();
        BindGuard(dst.to_path_buf())
    }
}

impl Drop for BindGuard {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH);
    }
}

fn fs_type(p: &Path) -> String {
    let info = std::fs::read_to_string("/proc/thread-self/mountinfo").unwrap();
    info.lines()
        .find(|l| l.split(' ').nth(4) == p.to_str())
        .and_then(|l| l.split(" - ").nth(1))
        .and_then(|r| r.split(' ').next())
        .unwrap_or("")
        .to_owned()
}

#[test]
fn tmpfs_volume_mounts_on_first_use_and_unmounts_on_last_release() {
    if !private_mounts() {
        return;
    }
    let s = Scratch::new();
    let store = VolumeStore::open(s.path()).unwrap();
    create_tmpfs(&store, "tmp1", "size=1m,uid=1000,mode=0750");
    let data = store.data_path("tmp1");
    assert!(!is_mounted(&data));
    assert_eq!(store.mount("tmp1", "c1").unwrap(), data);
    assert!(is_mounted(&data));
    assert_eq!(fs_type(&data), "tmpfs");
    let md = std::fs::metadata(&data).unwrap();
    assert_eq!((md.uid(), md.mode() & 0o7777), (1000, 0o750));
    std::fs::write(data.join("f"), b"x").unwrap();

    store.mount("tmp1", "c2").unwrap();
    store.mount("tmp1", "c2").unwrap();
    store.unmount("tmp1", "c1").unwrap();
    assert!(is_mounted(&data), "c2 still holds it");
    assert!(data.join("f").exists());

    // The holders survive a restart of the daemon.
    drop(store);
    let store = VolumeStore::open(s.path()).unwrap();
    assert_eq!(
        store.remove("tmp1", false).unwrap_err().kind(),
        berth_base::ErrorKind::Conflict
    );
    store.unmount("tmp1", "c2").unwrap();
    assert!(!is_mounted(&data));
    assert!(
        !data.join("f").exists(),
        "tmpfs content goes with the mount"
    );
    store.remove("tmp1", false).unwrap();
}

#[test]
fn bind_volume_shows_the_device_directory() {
    let Some((s, store)) = setup() else {
        return;
    };
    let host = s.path().join("srv");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("hello"), b"hi").unwrap();
    create_bind(&store, "bound", "bind", &host);
    let data = store.mount("bound", "c1").unwrap();
    assert_eq!(std::fs::read(data.join("hello")).unwrap(), b"hi");
    std::fs::write(data.join("from-volume"), b"v").unwrap();
    assert!(host.join("from-volume").exists());
    store.unmount("bound", "c1").unwrap();
    assert!(!is_mounted(&data));
    assert!(!data.join("hello").exists());
    // Removing the volume never touches the device directory.
    store.remove("bound", false).unwrap();
    assert!(host.join("hello").exists());

    // A read-only bind volume.
    create_bind(&store, "bound-ro", "bind,ro", &host);
    let data = store.mount("bound-ro", "c1").unwrap();
    let err = std::fs::write(data.join("nope"), b"x").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc_erofs()));
    store.unmount("bound-ro", "c1").unwrap();

    // A device that has gone is named in the error.
    let gone = s.path().join("gone");
    create_bind(&store, "bound-gone", "bind", &gone);
    let e = store.mount("bound-gone", "c1").unwrap_err();
    assert!(e.to_string().contains(gone.to_str().unwrap()), "{e}");
    assert!(!is_mounted(&store.data_path("bound-gone")));
}

fn libc_erofs() -> i32 {
    rustix::io::Errno::ROFS.raw_os_error()
}

#[test]
fn named_volume_keeps_a_file_across_two_uses() {
    let Some((s, store)) = setup() else {
        return;
    };
    let target = s.path().join("ctr");
    std::fs::create_dir(&target).unwrap();
    for (i, holder) in ["first", "second"].iter().enumerate() {
        let plan = plan_of(&["keep1:/data"]);
        let mounts = store.prepare(holder, &plan, None).unwrap();
        let data = store.mount("keep1", holder).unwrap();
        {
            let _b = BindGuard::new(&data, &target);
            if i == 0 {
                std::fs::write(target.join("kept"), b"across uses").unwrap();
            } else {
                assert_eq!(std::fs::read(target.join("kept")).unwrap(), b"across uses");
            }
        }
        store.unmount("keep1", holder).unwrap();
        store.release(holder, &mounts, true).unwrap();
    }
    assert!(!target.join("kept").exists());
}

fn image_rootfs(root: &Path) {
    let data = root.join("data");
    std::fs::create_dir_all(data.join("sub/deeper")).unwrap();
    std::fs::write(data.join("plain"), b"plain").unwrap();
    std::fs::write(data.join("secret"), b"s").unwrap();
    std::fs::write(data.join("setuid"), b"#!/bin/sh").unwrap();
    std::fs::write(data.join("sub/deeper/file"), b"deep").unwrap();
    std::fs::hard_link(data.join("plain"), data.join("sub/hardlink")).unwrap();
    symlink("../plain", data.join("sub/rel-link")).unwrap();
    symlink("/etc/shadow", data.join("abs-link")).unwrap();
    nix::unistd::mkfifo(
        &data.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o620),
    )
    .unwrap();
    let own = |p: &Path, uid: u32, gid: u32, mode: u32| {
        std::os::unix::fs::lchown(p, Some(uid), Some(gid)).unwrap();
        if !p.is_symlink() {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    };
    own(&data, 1000, 1000, 0o750);
    own(&data.join("secret"), 1001, 1002, 0o600);
    own(&data.join("setuid"), 1003, 1003, 0o4755);
    own(&data.join("sub"), 0, 1000, 0o2775);
    own(&data.join("abs-link"), 1004, 1004, 0);
    own(&data.join("fifo"), 1005, 1005, 0o620);
    let _ = rustix::fs::setxattr(
        data.join("plain"),
        "user.berth",
        b"copied",
        rustix::fs::XattrFlags::empty(),
    );
}

/// A private mount namespace, a scratch dir with an image rootfs in it,
/// and a volume store beside it.
fn image_setup() -> Option<(Scratch, std::path::PathBuf, VolumeStore)> {
    let (s, store) = setup()?;
    let rootfs = s.path().join("rootfs");
    image_rootfs(&rootfs);
    Some((s, rootfs, store))
}

fn check_copy(src: &Path, dst: &Path) {
    for rel in [
        "",
        "plain",
        "secret",
        "setuid",
        "sub",
        "sub/deeper",
        "sub/deeper/file",
        "sub/rel-link",
        "abs-link",
        "fifo",
        "sub/hardlink",
    ] {
        let a = std::fs::symlink_metadata(src.join(rel)).unwrap();
        let b = std::fs::symlink_metadata(dst.join(rel)).unwrap();
        assert_eq!(
            (a.uid(), a.gid(), a.mode()),
            (b.uid(), b.gid(), b.mode()),
            "{rel}"
        );
        // Directory sizes differ between file systems (ext4, tmpfs).
        if !a.is_dir() {
            assert_eq!(a.len(), b.len(), "size of {rel}");
            assert_eq!(a.mtime(), b.mtime(), "mtime of {rel}");
        }
    }
    assert_eq!(
        std::fs::read_link(dst.join("abs-link")).unwrap(),
        Path::new("/etc/shadow")
    );
    assert_eq!(std::fs::read(dst.join("sub/rel-link")).unwrap(), b"plain");
    let (a, b) = (
        std::fs::metadata(dst.join("plain")).unwrap(),
        std::fs::metadata(dst.join("sub/hardlink")).unwrap(),
    );
    assert_eq!(a.ino(), b.ino(), "hard link kept");
    let mut buf = [0u8; 16];
    if let Ok(n) = rustix::fs::getxattr(src.join("plain"), "user.berth", &mut buf[..]) {
        let mut out = [0u8; 16];
        let m = rustix::fs::getxattr(dst.join("plain"), "user.berth", &mut out[..]).unwrap();
        assert_eq!(&out[..m], &buf[..n]);
    }
}

#[test]
fn copy_up_preserves_owners_modes_links_and_xattrs() {
    let Some((_s, rootfs, store)) = image_setup() else {
        return;
    };
    let plan = combine(&MountRequest {
        binds: vec![parse_volume("copied:/data").unwrap()],
        image_volumes: vec!["/data".into()],
        ..Default::default()
    })
    .unwrap();
    let mounts = store.prepare("c1", &plan, Some(&rootfs)).unwrap();
    let data = store.data_path("copied");
    check_copy(&rootfs.join("data"), &data);

    // Not copied again into a volume that has content.
    std::fs::remove_file(data.join("plain")).unwrap();
    let m2 = store.prepare("c2", &plan, Some(&rootfs)).unwrap();
    assert!(!data.join("plain").exists());

    // nocopy leaves a new volume empty.
    let plan = plan_of(&["empty1:/data:nocopy"]);
    let m3 = store.prepare("c3", &plan, Some(&rootfs)).unwrap();
    assert_eq!(
        std::fs::read_dir(store.data_path("empty1"))
            .unwrap()
            .count(),
        0
    );
    for (id, m) in [("c1", &mounts), ("c2", &m2), ("c3", &m3)] {
        store.release(id, m, true).unwrap();
    }
}

#[test]
fn tmpfs_volume_gets_its_copy_when_mounted_at_start() {
    let Some((_s, rootfs, store)) = image_setup() else {
        return;
    };
    let plan = combine(&MountRequest {
        mounts: vec![parse_mount(
            "src=tmpvol,dst=/data,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-opt=o=size=4m",
        )
        .unwrap()],
        ..Default::default()
    })
    .unwrap();
    let mounts = store.prepare("c1", &plan, Some(&rootfs)).unwrap();
    let oci = store.activate("c1", &mounts, &rootfs).unwrap();
    assert_eq!(oci.len(), 1);
    let data = store.data_path("tmpvol");
    assert!(is_mounted(&data));
    check_copy(&rootfs.join("data"), &data);
    store.deactivate("c1", &mounts).unwrap();
    assert!(!is_mounted(&data));
    store.release("c1", &mounts, true).unwrap();
}

#[test]
fn mounts_land_inside_a_hostile_rootfs() {
    let Some((s, store)) = setup() else {
        return;
    };
    let rootfs = s.path().join("rootfs");
    let outside = s.path().join("outside");
    std::fs::create_dir_all(rootfs.join("usr")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    // Each symlink tries to point the mount at `outside` (a sibling of the
    // rootfs) or at the host's /etc.
    symlink("/../../../../../outside", rootfs.join("etc")).unwrap();
    symlink("../../outside", rootfs.join("usr/rel")).unwrap();
    symlink(&outside, rootfs.join("abs")).unwrap();
    let hostfile = s.path().join("hostfile");
    std::fs::write(&hostfile, b"host").unwrap();
    symlink("/../../../etc/hostname", rootfs.join("hn")).unwrap();

    let plan = combine(&MountRequest {
        binds: vec![
            parse_volume("evil1:/etc/app").unwrap(),
            parse_volume("evil2:/usr/rel/x/../y").unwrap(),
            parse_volume(&format!("{}:/abs/z", s.path().join("src").display())).unwrap(),
            parse_volume(&format!("{}:/hn", hostfile.display())).unwrap(),
        ],
        tmpfs: vec![parse_tmpfs("/usr/rel/../../../t").unwrap()],
        ..Default::default()
    })
    .unwrap();
    let mounts = store.prepare("c1", &plan, Some(&rootfs)).unwrap();
    let oci = store.activate("c1", &mounts, &rootfs).unwrap();
    let root = std::fs::canonicalize(&rootfs).unwrap();
    let dests: Vec<String> = oci
        .iter()
        .map(|m| m.destination().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing created outside the rootfs; destinations {dests:?}"
    );
    for m in &oci {
        let host = root.join(m.destination().strip_prefix("/").unwrap());
        assert!(host.exists(), "{} exists inside the rootfs", host.display());
        assert!(!m.destination().to_string_lossy().contains(".."));
    }
    assert!(dests.contains(&"/outside/app".to_string()), "{dests:?}");
    assert!(dests.contains(&"/outside/y".to_string()), "{dests:?}");
    assert!(dests.contains(&"/t".to_string()), "{dests:?}");
    assert!(
        dests.contains(&"/etc/hostname".to_string())
            || dests.contains(&"/outside/hostname".to_string()),
        "{dests:?}"
    );
    // The file mount point is a file, made inside the root.
    let hn = oci
        .iter()
        .find(|m| m.source().as_deref() == Some(hostfile.as_path()))
        .unwrap();
    assert!(root
        .join(hn.destination().strip_prefix("/").unwrap())
        .is_file());

    // Mounting the resolved destinations as a runtime would puts the
    // volume's data inside the rootfs.
    let vol = oci
        .iter()
        .find(|m| m.destination() == Path::new("/outside/app"))
        .unwrap();
    {
        let _b = BindGuard::new(vol.source().as_deref().unwrap(), &root.join("outside/app"));
        std::fs::write(root.join("outside/app/written"), b"in").unwrap();
    }
    assert!(store.data_path("evil1").join("written").exists());
    assert!(!outside.join("app").exists());
    store.deactivate("c1", &mounts).unwrap();
    store.release("c1", &mounts, true).unwrap();
}

#[test]
fn reconcile_drops_dead_holders_and_unmounts() {
    if !private_mounts() {
        return;
    }
    let s = Scratch::new();
    let store = VolumeStore::open(s.path()).unwrap();
    create_tmpfs(&store, "rec1", "size=1m");
    store.add_user("rec1", "alive").unwrap();
    store.add_user("rec1", "gone").unwrap();
    store.mount("rec1", "gone").unwrap();
    let data = store.data_path("rec1");
    assert!(is_mounted(&data));
    drop(store);
    let store = VolumeStore::open(s.path()).unwrap();
    let changed = store
        .reconcile(&|id| id == "alive", &|id| id == "alive")
        .unwrap();
    assert_eq!(changed, ["rec1"]);
    assert!(!is_mounted(&data));
    assert_eq!(store.users("rec1").unwrap(), ["alive"]);
    assert!(store.reconcile(&|_| true, &|_| true).unwrap().is_empty());
}

#[test]
fn removal_never_deletes_through_a_mount() {
    let Some((s, store)) = setup() else {
        return;
    };
    let precious = s.path().join("precious");
    std::fs::create_dir(&precious).unwrap();
    std::fs::write(precious.join("keep"), b"x").unwrap();
    create(&store, "holey", &[]);
    let sub = store.data_path("holey").join("sub");
    std::fs::create_dir(&sub).unwrap();
    let guard = BindGuard::new(&precious, &sub);
    let e = store.remove("holey", true).unwrap_err();
    assert_eq!(e.kind(), berth_base::ErrorKind::Conflict, "{e}");
    assert!(precious.join("keep").exists());
    store.inspect("holey").unwrap();
    let e = store
        .prune(&PruneOptions {
            all: true,
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(e.kind(), berth_base::ErrorKind::Conflict, "{e}");
    assert!(precious.join("keep").exists());
    drop(guard);
    store.remove("holey", false).unwrap();
    assert!(precious.join("keep").exists());
}

#[test]
fn leftovers_of_a_crash_are_not_volumes_and_are_cleared() {
    let s = Scratch::new();
    let store = VolumeStore::open(s.path()).unwrap();
    // What a crash between the record's removal and the data's leaves.
    let left = s.path().join("volumes/ghost1/_data");
    std::fs::create_dir_all(&left).unwrap();
    std::fs::write(left.join("old"), b"old").unwrap();
    assert!(store.list(&VolumeFilters::default()).unwrap().is_empty());
    assert_eq!(
        store.inspect("ghost1").unwrap_err().kind(),
        berth_base::ErrorKind::NotFound
    );
    create(&store, "ghost1", &[]);
    assert!(!store.data_path("ghost1").join("old").exists());
}

#[test]
fn a_mount_point_resolving_to_the_root_is_refused() {
    let Some((s, store)) = setup() else {
        return;
    };
    let rootfs = s.path().join("rootfs");
    std::fs::create_dir(&rootfs).unwrap();
    symlink("/", rootfs.join("data")).unwrap();
    symlink("../..", rootfs.join("up")).unwrap();
    for target in ["/data", "/up"] {
        let plan = plan_of(&[&format!("rootvol:{target}")]);
        let mounts = store.prepare("c1", &plan, Some(&rootfs)).unwrap();
        let e = store.activate("c1", &mounts, &rootfs).unwrap_err();
        assert!(
            matches!(&e, Error::Spec { spec, .. } if spec == target),
            "{e}"
        );
        store.release("c1", &mounts, true).unwrap();
    }
}
