//! Resolving a container path inside a rootfs as if the rootfs were `/`.
//!
//! A mount destination such as `/etc/app` must land inside the container's
//! rootfs even when the image holds hostile symlinks (`/etc -> ../../../tmp`,
//! absolute links, `..` chains). The kernel does this for us with
//! `openat2(RESOLVE_IN_ROOT)`; where it cannot (an old kernel, a seccomp
//! filter answering ENOSYS, or a path whose tail does not exist yet) a
//! userspace walk does the same thing one component at a time on file
//! descriptors, so no intermediate path is ever re-resolved by name.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::error::{io_err, Error, Result};

/// Linux's own limit on symlinks followed in one lookup.
const MAX_SYMLINKS: usize = 40;

/// What to create when the mount point does not exist yet: a directory for
/// directory sources (volumes, tmpfs, bound directories), an empty file for a
/// bound file (docker's `-v /etc/resolv.conf:/etc/resolv.conf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountPointKind {
    /// A directory.
    Dir,
    /// An empty regular file.
    File,
}

/// The host path that `path` (a path in the container) names inside
/// `rootfs`, following symlinks as if `rootfs` were `/`. The result is always
/// under the canonical `rootfs`; missing trailing components are kept as
/// they are (after `..` is applied within the root). Nothing is created.
pub fn resolve_in_root(rootfs: &Path, path: &Path) -> Result<PathBuf> {
    let root = Root::open(rootfs)?;
    if let Some(found) = root.kernel_resolve(path)? {
        return Ok(found);
    }
    root.walk(path, None)
}

/// Like [`resolve_in_root`], and creates the missing components: directories
/// on the way, and the last one as `kind`. Returns the host path of the
/// mount point, always under the canonical `rootfs`.
pub fn create_in_root(rootfs: &Path, path: &Path, kind: MountPointKind) -> Result<PathBuf> {
    Root::open(rootfs)?.walk(path, Some(kind))
}

/// The container path of a host path returned by [`resolve_in_root`] or
/// [`create_in_root`] (`/` joined with the part below the rootfs). Use it as
/// the OCI mount destination, so that the runtime's own join cannot be
/// fooled by the symlink the resolution already followed.
pub fn container_path(rootfs: &Path, resolved: &Path) -> Result<PathBuf> {
    let root = canonical(rootfs)?;
    let rel = resolved.strip_prefix(&root).map_err(|_| {
        Error::Invalid(format!(
            "{} is not inside rootfs {}",
            resolved.display(),
            root.display()
        ))
    })?;
    Ok(Path::new("/").join(rel))
}

fn canonical(rootfs: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(rootfs).map_err(io_err("canonicalize rootfs", rootfs))
}

struct Root {
    path: PathBuf,
    fd: OwnedFd,
}

impl Root {
    fn open(rootfs: &Path) -> Result<Self> {
        let path = canonical(rootfs)?;
        let fd = rustix::fs::open(
            &path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(io_err("open rootfs", &path))?;
        Ok(Root { path, fd })
    }

    /// The kernel's answer, or `None` when the userspace walk must decide
    /// (no openat2, or the path does not fully exist).
    fn kernel_resolve(&self, path: &Path) -> Result<Option<PathBuf>> {
        let rel = relative(path);
        let fd = match rustix::fs::openat2(
            &self.fd,
            &rel,
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        ) {
            Ok(fd) => fd,
            Err(Errno::NOSYS | Errno::PERM | Errno::NOENT | Errno::INVAL | Errno::AGAIN) => {
                return Ok(None)
            }
            Err(e) => return Err(io_err("openat2", &self.path.join(&rel))(e)),
        };
        let proc = PathBuf::from(format!("/proc/self/fd/{}", fd_number(fd.as_fd())));
        let Ok(found) = std::fs::read_link(&proc) else {
            return Ok(None);
        };
        // The fd's name can disagree with the rootfs path (a mount moved
        // meanwhile, a deleted directory); the walk is authoritative then.
        Ok(found.starts_with(&self.path).then_some(found))
    }

    fn walk(&self, path: &Path, create: Option<MountPointKind>) -> Result<PathBuf> {
        let mut todo: VecDeque<OsString> = components(path.as_os_str().as_bytes());
        // Directories entered so far, below the root, each opened O_PATH.
        let mut dirs: Vec<(OwnedFd, OsString)> = Vec::new();
        // Components past the first missing one (only without `create`).
        let mut missing: Vec<OsString> = Vec::new();
        let mut last_file: Option<OsString> = None;
        let mut links = 0;
        while let Some(name) = todo.pop_front() {
            if name == ".." {
                if missing.pop().is_none() {
                    dirs.pop();
                }
                continue;
            }
            if !missing.is_empty() {
                missing.push(name);
                continue;
            }
            let is_last = todo.is_empty();
            let parent = dirs.last().map_or(self.fd.as_fd(), |(fd, _)| fd.as_fd());
            let here = self.describe(&dirs, &name);
            match rustix::fs::statat(parent, &name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => match FileType::from_raw_mode(st.st_mode) {
                    FileType::Symlink => {
                        links += 1;
                        if links > MAX_SYMLINKS {
                            return Err(io_err("resolve", &here)(Errno::LOOP));
                        }
                        let target = rustix::fs::readlinkat(parent, &name, Vec::new())
                            .map_err(io_err("readlink", &here))?;
                        let target = target.as_bytes();
                        if target.first() == Some(&b'/') {
                            dirs.clear();
                        }
                        for c in components(target).into_iter().rev() {
                            todo.push_front(c);
                        }
                    }
                    FileType::Directory => {
                        let fd = open_dir(parent, &name).map_err(io_err("open", &here))?;
                        dirs.push((fd, name));
                    }
                    _ if is_last => {
                        if create == Some(MountPointKind::Dir) {
                            return Err(io_err("mount point", &here)(Errno::NOTDIR));
                        }
                        last_file = Some(name);
                    }
                    _ => return Err(io_err("resolve", &here)(Errno::NOTDIR)),
                },
                Err(Errno::NOENT) => match create {
                    None => missing.push(name),
                    Some(MountPointKind::File) if is_last => {
                        create_file(parent, &name).map_err(io_err("create", &here))?;
                        last_file = Some(name);
                    }
                    Some(_) => {
                        match rustix::fs::mkdirat(parent, &name, Mode::from_raw_mode(0o755)) {
                            Ok(()) | Err(Errno::EXIST) => {}
                            Err(e) => return Err(io_err("mkdir", &here)(e)),
                        }
                        let fd = open_dir(parent, &name).map_err(io_err("open", &here))?;
                        dirs.push((fd, name));
                    }
                },
                Err(e) => return Err(io_err("stat", &here)(e)),
            }
        }
        let mut out = self.path.clone();
        out.extend(dirs.iter().map(|(_, n)| n));
        out.extend(last_file.iter());
        out.extend(missing.iter());
        Ok(out)
    }

    fn describe(&self, dirs: &[(OwnedFd, OsString)], name: &OsString) -> PathBuf {
        let mut p = self.path.clone();
        p.extend(dirs.iter().map(|(_, n)| n));
        p.push(name);
        p
    }
}

fn open_dir(parent: BorrowedFd<'_>, name: &OsString) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        parent,
        name,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

fn create_file(parent: BorrowedFd<'_>, name: &OsString) -> rustix::io::Result<()> {
    rustix::fs::openat(
        parent,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o755),
    )
    .map(drop)
}

fn fd_number(fd: BorrowedFd<'_>) -> i32 {
    use rustix::fd::AsRawFd;
    fd.as_raw_fd()
}

/// The components of a path, without empty and `.` ones; `..` is kept.
fn components(path: &[u8]) -> VecDeque<OsString> {
    path.split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(|c| OsString::from_vec(c.to_vec()))
        .collect()
}

/// `path` made relative (for openat2 with the root fd).
fn relative(path: &Path) -> PathBuf {
    let rel: PathBuf = path
        .components()
        .filter(|c| !matches!(c, Component::RootDir | Component::Prefix(_)))
        .collect();
    if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("usr/lib")).unwrap();
        std::fs::write(d.path().join("usr/lib/file"), b"x").unwrap();
        d
    }

    fn both(root: &Path, p: &str) -> (PathBuf, PathBuf) {
        let r = Root::open(root).unwrap();
        let walked = r.walk(Path::new(p), None).unwrap();
        (resolve_in_root(root, Path::new(p)).unwrap(), walked)
    }

    #[test]
    fn plain_paths_and_dotdot_stay_inside() {
        let d = tree();
        let root = std::fs::canonicalize(d.path()).unwrap();
        for (p, want) in [
            ("/usr/lib", "usr/lib"),
            ("usr/lib/", "usr/lib"),
            ("/../../usr/./lib", "usr/lib"),
            ("/usr/../../../..", ""),
            ("/usr/lib/file", "usr/lib/file"),
            ("/nope/../usr/x/y", "usr/x/y"),
        ] {
            let (k, w) = both(d.path(), p);
            assert_eq!(k, root.join(want), "kernel {p}");
            assert_eq!(w, root.join(want), "walk {p}");
        }
    }

    #[test]
    fn hostile_symlinks_are_followed_within_the_root() {
        let d = tree();
        let root = std::fs::canonicalize(d.path()).unwrap();
        symlink("/../../../../tmp/x", d.path().join("etc")).unwrap();
        symlink("/usr", d.path().join("abs")).unwrap();
        symlink("../../../../../../", d.path().join("usr/up")).unwrap();
        symlink("up/usr/up/usr/lib", d.path().join("usr/chain")).unwrap();
        for (p, want) in [
            ("/etc/passwd", "tmp/x/passwd"),
            ("/abs/lib", "usr/lib"),
            ("/usr/up/etc/x", "tmp/x/x"),
            ("/usr/chain/file", "usr/lib/file"),
            ("/usr/up/../../abs", "usr"),
        ] {
            let (k, w) = both(d.path(), p);
            assert_eq!(k, root.join(want), "kernel {p}");
            assert_eq!(w, root.join(want), "walk {p}");
        }
    }

    #[test]
    fn symlink_loops_fail() {
        let d = tree();
        symlink("b", d.path().join("a")).unwrap();
        symlink("a", d.path().join("b")).unwrap();
        assert!(resolve_in_root(d.path(), Path::new("/a/x")).is_err());
        assert!(create_in_root(d.path(), Path::new("/a/x"), MountPointKind::Dir).is_err());
    }

    #[test]
    fn create_makes_dangling_targets_inside() {
        let d = tree();
        let root = std::fs::canonicalize(d.path()).unwrap();
        symlink("/../../../../tmp/x", d.path().join("etc")).unwrap();
        let p = create_in_root(d.path(), Path::new("/etc/app/conf"), MountPointKind::Dir).unwrap();
        assert_eq!(p, root.join("tmp/x/app/conf"));
        assert!(p.is_dir());
        let f = create_in_root(d.path(), Path::new("/etc/hosts"), MountPointKind::File).unwrap();
        assert_eq!(f, root.join("tmp/x/hosts"));
        assert!(f.is_file());
        assert_eq!(
            container_path(d.path(), &f).unwrap(),
            Path::new("/tmp/x/hosts")
        );
        // A file where a directory mount point is wanted is refused.
        assert!(create_in_root(d.path(), Path::new("/usr/lib/file"), MountPointKind::Dir).is_err());
        // An existing file is fine for a file mount.
        let e = create_in_root(d.path(), Path::new("/usr/lib/file"), MountPointKind::File).unwrap();
        assert_eq!(e, root.join("usr/lib/file"));
    }

    #[test]
    fn file_in_the_middle_is_not_a_directory() {
        let d = tree();
        assert!(resolve_in_root(d.path(), Path::new("/usr/lib/file/x")).is_err());
    }
}
