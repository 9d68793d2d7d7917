//! The container's filesystem, set up by its init inside its own mount
//! namespace: the rootfs bind mount, the configured mounts, /dev, pivot_root
//! (or MS_MOVE + chroot), masked and read-only paths.

use std::fs;
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use nix::sys::statvfs::{statvfs, FsFlags};
use nix::unistd::{chdir, chroot, pivot_root, Gid, Uid};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount};

use crate::config::{mount_opts, MountOpts, Plan};
use crate::error::{Context, Error, Result};

const NONE: Option<&str> = None;

/// Resolves `path` inside `root` as if `root` were `/`: symlinks (absolute
/// or relative, with `..`) never lead outside it. Components that do not
/// exist are appended as they are.
pub fn secure_join(root: &Path, path: &Path) -> Result<PathBuf> {
    let mut parts: Vec<std::ffi::OsString> = Vec::new();
    let mut todo: Vec<std::ffi::OsString> = path
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            parts.pop();
            continue;
        }
        let mut cur = root.to_path_buf();
        cur.extend(&parts);
        cur.push(&c);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > 40 {
                    return Err(Error::Invalid(format!(
                        "too many symlinks resolving {} in {}",
                        path.display(),
                        root.display()
                    )));
                }
                let target = fs::read_link(&cur).ctx(|| format!("readlink {}", cur.display()))?;
                if target.is_absolute() {
                    parts.clear();
                }
                for t in target.components().rev() {
                    match t {
                        Component::Normal(n) => todo.push(n.to_os_string()),
                        Component::ParentDir => todo.push("..".into()),
                        _ => {}
                    }
                }
            }
            _ => parts.push(c),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(&parts);
    Ok(out)
}

fn do_mount(
    src: Option<&Path>,
    dst: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    mount(src, dst, fstype, flags, data).ctx(|| {
        format!(
            "mount {} on {} (type {}, flags {:#x}, data {:?})",
            src.map(|s| s.display().to_string()).unwrap_or_default(),
            dst.display(),
            fstype.unwrap_or(""),
            flags.bits(),
            data.unwrap_or("")
        )
    })
}

/// The flags a bind remount must keep: in a user namespace the kernel
/// refuses to clear nosuid/nodev/noexec/atime flags locked by the parent
/// namespace, so they are carried over from the mount as it is.
fn locked_flags(path: &Path) -> MsFlags {
    let Ok(st) = statvfs(path) else {
        return MsFlags::empty();
    };
    let f = st.flags();
    let mut m = MsFlags::empty();
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(fs) {
            m |= ms;
        }
    }
    m
}

/// Remounts a bind mount with `flags` (plus whatever the kernel locked).
fn bind_remount(dst: &Path, flags: MsFlags, cleared: MsFlags) -> Result<()> {
    let keep = locked_flags(dst) & !cleared;
    let f = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | (flags & !MsFlags::MS_REC) | keep;
    match do_mount(None, dst, None, f, None) {
        Err(_) if !keep.is_empty() || !cleared.is_empty() => {
            // Retry keeping every locked flag, even ones asked to be cleared.
            do_mount(None, dst, None, f | locked_flags(dst), None)
        }
        r => r,
    }
}

/// Sets up the container's mounts and devices below `plan.rootfs`; the
/// process is still in the runtime's root.
pub fn prepare(plan: &Plan, in_cgroup: &dyn Fn() -> Result<()>) -> Result<()> {
    if !plan.own_mount_ns {
        // Sharing the runtime's mount namespace: every mount would land on
        // the host, so none is made (the process is only chrooted).
        return Ok(());
    }
    // Nothing done below may propagate back to the host: make everything a
    // slave (or private) first. The configured propagation of the container's
    // root is applied after pivot_root, which refuses shared mounts.
    let base = match plan.root_propagation {
        Some(p) if p.contains(MsFlags::MS_PRIVATE) => MsFlags::MS_PRIVATE,
        _ => MsFlags::MS_SLAVE,
    };
    do_mount(
        NONE.map(Path::new),
        Path::new("/"),
        None,
        base | MsFlags::MS_REC,
        None,
    )?;
    let root = &plan.rootfs;
    do_mount(
        Some(root),
        root,
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;
    let mut dev_bound = false;
    for m in &plan.mounts {
        mount_one(plan, m, in_cgroup)?;
        if m.destination() == Path::new("/dev") && is_bind(m) {
            dev_bound = true;
        }
    }
    if !dev_bound {
        default_devices(plan)?;
    }
    for d in &plan.devices {
        create_device(plan, d)?;
    }
    Ok(())
}

fn is_bind(m: &Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|o| o == "bind" || o == "rbind")
}

/// `in_cgroup` returns once the runtime has moved us into our cgroup (a
/// cgroup mount shows it).
fn mount_one(plan: &Plan, m: &Mount, in_cgroup: &dyn Fn() -> Result<()>) -> Result<()> {
    let dst = secure_join(&plan.rootfs, m.destination())?;
    let opts = mount_opts(m.options().as_deref().unwrap_or_default());
    let fstype = m.typ().as_deref().unwrap_or("");
    let source = m.source().as_deref();
    if is_bind(m) {
        let src = source.ok_or_else(|| {
            Error::Invalid(format!(
                "bind mount {} has no source",
                m.destination().display()
            ))
        })?;
        let src = if src.is_absolute() {
            src.to_path_buf()
        } else {
            plan.bundle.join(src)
        };
        let meta = fs::metadata(&src).ctx(|| format!("bind mount source {}", src.display()))?;
        make_target(&dst, meta.is_dir())?;
        do_mount(
            Some(&src),
            &dst,
            NONE,
            MsFlags::MS_BIND | (opts.flags & MsFlags::MS_REC),
            None,
        )?;
        let extra = opts.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        if !extra.is_empty() {
            bind_remount(&dst, extra, opts.cleared)?;
        }
    } else if fstype == "cgroup" || fstype == "cgroup2" {
        make_target(&dst, true)?;
        in_cgroup()?;
        mount_cgroup(plan, &dst, &opts)?;
    } else {
        make_target(&dst, true)?;
        let data = (!opts.data.is_empty()).then_some(opts.data.as_str());
        let flags = opts.flags & !MsFlags::MS_REMOUNT;
        let src = source
            .map(Path::to_path_buf)
            .unwrap_or_else(|| fstype.into());
        let r = do_mount(Some(&src), &dst, Some(fstype), flags, data);
        match r {
            // sysfs cannot be mounted in a user namespace that does not own
            // the network namespace: bind the host's (read-only if asked).
            Err(_) if fstype == "sysfs" && plan.new_user_ns => {
                do_mount(
                    Some(Path::new("/sys")),
                    &dst,
                    NONE,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None,
                )?;
                bind_remount(&dst, flags, opts.cleared)?;
            }
            Err(_) if fstype == "mqueue" && plan.new_user_ns => {
                do_mount(
                    Some(Path::new("/dev/mqueue")),
                    &dst,
                    NONE,
                    MsFlags::MS_BIND,
                    None,
                )?;
            }
            r => r?,
        }
    }
    for p in &opts.propagation {
        do_mount(NONE.map(Path::new), &dst, None, *p, None)?;
    }
    Ok(())
}

/// Creates the mount point: a directory, or an empty file for a bind mount
/// of a file.
fn make_target(dst: &Path, dir: bool) -> Result<()> {
    if dir {
        if !dst.is_dir() {
            fs::create_dir_all(dst).ctx(|| format!("mkdir {}", dst.display()))?;
        }
        return Ok(());
    }
    if let Some(parent) = dst.parent() {
        if !parent.is_dir() {
            fs::create_dir_all(parent).ctx(|| format!("mkdir {}", parent.display()))?;
        }
    }
    if fs::symlink_metadata(dst).is_err() {
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(dst)
            .ctx(|| format!("create mount point {}", dst.display()))?;
    }
    Ok(())
}

/// A `cgroup` mount: cgroup2 on a unified host; on a v1 (or hybrid) host a
/// tmpfs with one directory per hierarchy, each a fresh cgroup mount when
/// the container has a cgroup namespace, or a bind of the container's own
/// cgroup directory otherwise.
fn mount_cgroup(plan: &Plan, dst: &Path, opts: &MountOpts) -> Result<()> {
    let flags = opts.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
    let mountinfo =
        fs::read_to_string("/proc/self/mountinfo").ctx(|| "read /proc/self/mountinfo".into())?;
    let unified = fs::metadata("/sys/fs/cgroup/cgroup.controllers").is_ok();
    if unified {
        return do_mount(
            Some(Path::new("cgroup2")),
            dst,
            Some("cgroup2"),
            flags,
            None,
        );
    }
    do_mount(
        Some(Path::new("tmpfs")),
        dst,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=755"),
    )?;
    let own = fs::read_to_string("/proc/self/cgroup").ctx(|| "read /proc/self/cgroup".into())?;
    for line in mountinfo.lines() {
        // id parent major:minor root mountpoint options ... - fstype source superopts
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut r = right.split(' ');
        let fstype = r.next().unwrap_or("");
        let superopts = r.nth(1).unwrap_or("");
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        let mountpoint = left.split(' ').nth(4).unwrap_or("");
        let Some(name) = Path::new(mountpoint).file_name() else {
            continue;
        };
        let sub = dst.join(name);
        fs::create_dir_all(&sub).ctx(|| format!("mkdir {}", sub.display()))?;
        if plan.new_cgroup_ns {
            let (t, data) = if fstype == "cgroup2" {
                ("cgroup2", String::new())
            } else {
                let subs: Vec<&str> = superopts
                    .split(',')
                    .filter(|o| *o != "rw" && *o != "ro")
                    .collect();
                ("cgroup", subs.join(","))
            };
            do_mount(
                Some(Path::new(t)),
                &sub,
                Some(t),
                flags,
                (!data.is_empty()).then_some(data.as_str()),
            )?;
        } else {
            // The line of /proc/self/cgroup for this hierarchy names our cgroup.
            let key = if fstype == "cgroup2" {
                String::new()
            } else {
                superopts
                    .split(',')
                    .filter(|o| *o != "rw" && *o != "ro")
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let rel = own
                .lines()
                .find_map(|l| {
                    let mut p = l.splitn(3, ':');
                    let _ = p.next();
                    let c = p.next()?;
                    let path = p.next()?;
                    let matches = if fstype == "cgroup2" {
                        c.is_empty()
                    } else {
                        let mut a: Vec<&str> = c.split(',').collect();
                        let mut b: Vec<&str> = key
                            .split(',')
                            .filter(|o| *o != "none" && !o.starts_with("xattr"))
                            .collect();
                        a.sort_unstable();
                        b.sort_unstable();
                        a == b
                    };
                    matches.then(|| path.trim_start_matches('/').to_string())
                })
                .unwrap_or_default();
            let src = Path::new(mountpoint).join(rel);
            do_mount(
                Some(&src),
                &sub,
                NONE,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            )?;
            bind_remount(&sub, flags, opts.cleared)?;
        }
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        do_mount(
            NONE.map(Path::new),
            dst,
            None,
            MsFlags::MS_REMOUNT
                | MsFlags::MS_RDONLY
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV
                | MsFlags::MS_NOEXEC,
            Some("mode=755"),
        )?;
    }
    Ok(())
}

const DEFAULT_DEVICES: [(&str, u64, u64); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

fn default_devices(plan: &Plan) -> Result<()> {
    let dev = secure_join(&plan.rootfs, Path::new("/dev"))?;
    if !dev.is_dir() {
        fs::create_dir_all(&dev).ctx(|| format!("mkdir {}", dev.display()))?;
    }
    for (path, major, minor) in DEFAULT_DEVICES {
        if plan.devices.iter().any(|d| d.path() == Path::new(path)) {
            continue;
        }
        let target = secure_join(&plan.rootfs, Path::new(path))?;
        make_node(plan, &target, SFlag::S_IFCHR, major, minor, 0o666, 0, 0)?;
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ] {
        let l = dev.join(link);
        if fs::symlink_metadata(&l).is_ok() {
            if link != "ptmx" {
                continue;
            }
            // A ptmx node from the image would be the host's pty
            // multiplexer: the container's is the devpts one.
            fs::remove_file(&l).ctx(|| format!("remove {}", l.display()))?;
        }
        symlink(target, &l).ctx(|| format!("symlink {}", l.display()))?;
    }
    if fs::metadata("/proc/kcore").is_ok() {
        let l = dev.join("core");
        if fs::symlink_metadata(&l).is_err() {
            symlink("/proc/kcore", &l).ctx(|| format!("symlink {}", l.display()))?;
        }
    }
    Ok(())
}

fn create_device(plan: &Plan, d: &LinuxDevice) -> Result<()> {
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => {
            return Err(Error::Invalid(format!(
                "device {}: type a is only for cgroup rules",
                d.path().display()
            )))
        }
    };
    let target = secure_join(&plan.rootfs, d.path())?;
    make_node(
        plan,
        &target,
        kind,
        d.major() as u64,
        d.minor() as u64,
        d.file_mode().unwrap_or(0o666) & 0o7777,
        d.uid().unwrap_or(0),
        d.gid().unwrap_or(0),
    )
}

/// Creates a device node, or in a user namespace (where mknod is not
/// allowed) bind-mounts the host's node onto an empty file.
#[allow(clippy::too_many_arguments)]
fn make_node(
    plan: &Plan,
    target: &Path,
    kind: SFlag,
    major: u64,
    minor: u64,
    mode: u32,
    uid: u32,
    gid: u32,
) -> Result<()> {
    if let Some(parent) = target.parent() {
        if !parent.is_dir() {
            fs::create_dir_all(parent).ctx(|| format!("mkdir {}", parent.display()))?;
        }
    }
    if let Ok(m) = fs::symlink_metadata(target) {
        let ft = m.file_type();
        if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() || ft.is_file() {
            fs::remove_file(target).ctx(|| format!("remove {}", target.display()))?;
        }
    }
    let in_user_ns = plan.new_user_ns
        || plan
            .join
            .iter()
            .any(|j| j.flag == nix::sched::CloneFlags::CLONE_NEWUSER);
    if in_user_ns {
        let host = Path::new("/").join(target.strip_prefix(&plan.rootfs).unwrap_or(target));
        make_target(target, false)?;
        return do_mount(Some(&host), target, NONE, MsFlags::MS_BIND, None);
    }
    mknod(
        target,
        kind,
        Mode::from_bits_truncate(mode),
        makedev(major, minor),
    )
    .ctx(|| format!("mknod {}", target.display()))?;
    // By path: the node was just created by us and is not a symlink.
    nix::unistd::chown(target, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
        .ctx(|| format!("chown {}", target.display()))?;
    nix::sys::stat::fchmodat(
        None,
        target,
        Mode::from_bits_truncate(mode),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .ctx(|| format!("chmod {}", target.display()))?;
    Ok(())
}

/// Makes the rootfs the process's root: pivot_root when the container has a
/// mount namespace of its own, otherwise (or with --no-pivot) MS_MOVE and
/// chroot.
pub fn enter(plan: &Plan) -> Result<()> {
    let root = &plan.rootfs;
    chdir(root).ctx(|| format!("chdir {}", root.display()))?;
    if !plan.own_mount_ns {
        chroot(".").ctx(|| format!("chroot {}", root.display()))?;
    } else if !plan.no_pivot {
        let want = fs::metadata(".").ctx(|| format!("stat {}", root.display()))?;
        // pivot_root(".", "."): the old root ends up stacked on the new
        // one, from where it is detached.
        pivot_root(".", ".").ctx(|| format!("pivot_root {}", root.display()))?;
        // Cut the old root off from every peer group: its unmount must not
        // propagate anywhere, and a private tree is also the cheapest to
        // detach.
        do_mount(
            NONE.map(Path::new),
            Path::new("."),
            None,
            MsFlags::MS_PRIVATE | MsFlags::MS_REC,
            None,
        )?;
        // Detach until the rootfs itself is on top: whatever was mounted
        // over the old root must not stay visible in the container.
        for _ in 0..16 {
            umount2(".", MntFlags::MNT_DETACH).ctx(|| "detach the old root".into())?;
            let now = fs::metadata(".").ctx(|| "stat the new root".into())?;
            if (now.dev(), now.ino()) == (want.dev(), want.ino()) {
                break;
            }
        }
        let now = fs::metadata(".").ctx(|| "stat the new root".into())?;
        if (now.dev(), now.ino()) != (want.dev(), want.ino()) {
            return Err(Error::Invalid(format!(
                "pivot_root {}: the old root could not be detached",
                root.display()
            )));
        }
    } else {
        do_mount(Some(root), Path::new("/"), NONE, MsFlags::MS_MOVE, None)?;
        chroot(".").ctx(|| format!("chroot {}", root.display()))?;
    }
    chdir("/").ctx(|| "chdir /".into())?;
    if let Some(p) = plan.root_propagation {
        do_mount(NONE.map(Path::new), Path::new("/"), None, p, None)?;
    }
    Ok(())
}

/// Masks and read-only paths, and the read-only root; run after `enter`.
pub fn finish(plan: &Plan) -> Result<()> {
    if !plan.own_mount_ns {
        return Ok(());
    }
    for p in &plan.masked {
        let path = Path::new(p);
        match fs::metadata(path) {
            Ok(m) if m.is_dir() => do_mount(
                Some(Path::new("tmpfs")),
                path,
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                None,
            )?,
            Ok(_) => do_mount(
                Some(Path::new("/dev/null")),
                path,
                NONE,
                MsFlags::MS_BIND,
                None,
            )?,
            Err(_) => {}
        }
    }
    for p in &plan.readonly {
        let path = Path::new(p);
        if fs::symlink_metadata(path).is_err() {
            continue;
        }
        do_mount(
            Some(path),
            path,
            NONE,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )?;
        bind_remount(path, MsFlags::MS_RDONLY | MsFlags::MS_REC, MsFlags::empty())?;
    }
    if plan.readonly_root {
        bind_remount(Path::new("/"), MsFlags::MS_RDONLY, MsFlags::empty())?;
    }
    Ok(())
}

/// Writes the sysctls (through the container's /proc when it has one).
pub fn sysctls(plan: &Plan) -> Result<()> {
    for (k, v) in &plan.sysctl {
        let path = PathBuf::from("/proc/sys").join(k.replace('.', "/"));
        fs::write(&path, v.as_bytes()).ctx(|| format!("sysctl {k}={v}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_join_keeps_symlinks_inside() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir_all(r.join("a/b")).unwrap();
        symlink("/etc", r.join("abs")).unwrap();
        symlink("../../..", r.join("a/b/up")).unwrap();
        assert_eq!(
            secure_join(r, Path::new("/abs/passwd")).unwrap(),
            r.join("etc/passwd")
        );
        assert_eq!(secure_join(r, Path::new("/a/b/up/x")).unwrap(), r.join("x"));
        assert_eq!(
            secure_join(r, Path::new("/../../tmp")).unwrap(),
            r.join("tmp")
        );
    }

    #[test]
    fn secure_join_stops_symlink_loops() {
        let d = tempfile::tempdir().unwrap();
        symlink("loop", d.path().join("loop")).unwrap();
        assert!(secure_join(d.path(), Path::new("/loop/x")).is_err());
    }
}
