//! Copy-up: filling a new, empty volume with what the image has at the
//! mount point, as docker does the first time a volume is used there.
//!
//! Everything is done on directory file descriptors with `O_NOFOLLOW`, so a
//! symlink in the source is copied as a symlink and never followed, and a
//! container racing to plant symlinks in a shared volume cannot redirect the
//! copy outside it. Owners, permission bits (after the chown, which clears
//! set-id bits), symlinks, hard links, device nodes, fifos, extended
//! attributes and timestamps are preserved.

use std::collections::HashMap;
use std::ffi::{CStr, OsStr};
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::fs::{
    AtFlags, FileType, Gid, Mode, OFlags, ResolveFlags, Stat, Timespec, Timestamps, Uid, XattrFlags,
};
use rustix::io::Errno;

use crate::error::{io_err, Result};

/// Whether the directory `dir` has no entries.
pub fn is_empty_dir(dir: &Path) -> Result<bool> {
    let mut it = std::fs::read_dir(dir).map_err(io_err("read dir", dir))?;
    Ok(it.next().is_none())
}

/// Copies the contents of directory `src` into directory `dst`, and gives
/// `dst` the owner and permission bits of `src` (an image's
/// `RUN chown app /data` then `VOLUME /data` makes a volume owned by app).
/// Entries already in `dst` with the same name make the copy fail: call it
/// on an empty volume.
pub fn copy_dir_contents(src: &Path, dst: &Path) -> Result<()> {
    let sfd = open_dir(rustix::fs::CWD, src.as_os_str()).map_err(io_err("open", src))?;
    let dfd = open_dir(rustix::fs::CWD, dst.as_os_str()).map_err(io_err("open", dst))?;
    let mut c = Copier {
        src_root: src.to_path_buf(),
        dst_root: dst.to_path_buf(),
        dst_root_fd: rustix::io::dup(&dfd).map_err(io_err("dup", dst))?,
        links: HashMap::new(),
    };
    c.copy_dir(&sfd, &dfd, Path::new(""))?;
    let st = rustix::fs::fstat(&sfd).map_err(io_err("stat", src))?;
    owner_and_mode(&dfd, &st).map_err(io_err("chown", dst))?;
    Ok(())
}

struct Copier {
    src_root: PathBuf,
    dst_root: PathBuf,
    dst_root_fd: OwnedFd,
    /// First copy of each multiply-linked source inode, by (dev, ino),
    /// as a path relative to the destination root.
    links: HashMap<(u64, u64), PathBuf>,
}

fn open_dir(parent: impl AsFd, name: &OsStr) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

impl Copier {
    fn copy_dir(&mut self, src: &OwnedFd, dst: &OwnedFd, rel: &Path) -> Result<()> {
        let src_path = self.src_root.join(rel);
        let entries = rustix::fs::Dir::read_from(src).map_err(io_err("read dir", &src_path))?;
        for entry in entries {
            let entry = entry.map_err(io_err("read dir", &src_path))?;
            let name = entry.file_name();
            if matches!(name.to_bytes(), b"." | b"..") {
                continue;
            }
            let name = OsStr::from_bytes(name.to_bytes());
            self.copy_entry(src, dst, &rel.join(name), name)?;
        }
        Ok(())
    }

    fn copy_entry(
        &mut self,
        sdir: &OwnedFd,
        ddir: &OwnedFd,
        rel: &Path,
        name: &OsStr,
    ) -> Result<()> {
        let spath = self.src_root.join(rel);
        let dpath = self.dst_root.join(rel);
        let st = rustix::fs::statat(sdir, name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(io_err("stat", &spath))?;
        let kind = FileType::from_raw_mode(st.st_mode);
        let key = (st.st_dev, st.st_ino);
        if kind != FileType::Directory && st.st_nlink > 1 {
            if let Some(first) = self.links.get(&key) {
                return self
                    .link_to(first, ddir, name)
                    .map_err(io_err("link", &dpath));
            }
            self.links.insert(key, rel.to_path_buf());
        }
        match kind {
            FileType::Directory => {
                rustix::fs::mkdirat(ddir, name, Mode::from_raw_mode(0o700))
                    .map_err(io_err("mkdir", &dpath))?;
                let s = open_dir(sdir, name).map_err(io_err("open", &spath))?;
                let d = open_dir(ddir, name).map_err(io_err("open", &dpath))?;
                self.copy_dir(&s, &d, rel)?;
                fd_meta(&s, &d, &st).map_err(io_err("copy attributes", &dpath))?;
            }
            FileType::RegularFile => {
                let s = rustix::fs::openat(
                    sdir,
                    name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(io_err("open", &spath))?;
                let d = rustix::fs::openat(
                    ddir,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(io_err("create", &dpath))?;
                let (mut sf, mut df) = (File::from(s), File::from(d));
                std::io::copy(&mut sf, &mut df).map_err(io_err("copy", &dpath))?;
                fd_meta(&sf, &df, &st).map_err(io_err("copy attributes", &dpath))?;
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(sdir, name, Vec::new())
                    .map_err(io_err("readlink", &spath))?;
                rustix::fs::symlinkat(target.as_c_str(), ddir, name)
                    .map_err(io_err("symlink", &dpath))?;
                at_meta(sdir, ddir, name, &st, true).map_err(io_err("copy attributes", &dpath))?;
            }
            FileType::Fifo
            | FileType::CharacterDevice
            | FileType::BlockDevice
            | FileType::Socket => {
                rustix::fs::mknodat(ddir, name, kind, Mode::from_raw_mode(0o600), st.st_rdev)
                    .map_err(io_err("mknod", &dpath))?;
                at_meta(sdir, ddir, name, &st, false).map_err(io_err("copy attributes", &dpath))?;
            }
            FileType::Unknown => {}
        }
        Ok(())
    }
}

impl Copier {
    /// Hard-links the earlier copy `first` (relative to the destination
    /// root) as `name` in `ddir`. Its parent is reached with
    /// `RESOLVE_NO_SYMLINKS`, so a container racing on a shared volume
    /// cannot swap a directory for a symlink and have us link a file from
    /// elsewhere into the volume.
    fn link_to(&self, first: &Path, ddir: &OwnedFd, name: &OsStr) -> rustix::io::Result<()> {
        let base = first.file_name().unwrap_or_default();
        let parent = match first.parent().filter(|p| !p.as_os_str().is_empty()) {
            None => rustix::io::dup(&self.dst_root_fd)?,
            Some(p) => rustix::fs::openat2(
                &self.dst_root_fd,
                p,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
            )?,
        };
        rustix::fs::linkat(&parent, base, ddir, name, AtFlags::empty())
    }
}

fn ids(st: &Stat) -> (Option<Uid>, Option<Gid>) {
    (
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    )
}

fn times(st: &Stat) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: st.st_atime as _,
            tv_nsec: st.st_atime_nsec as _,
        },
        last_modification: Timespec {
            tv_sec: st.st_mtime as _,
            tv_nsec: st.st_mtime_nsec as _,
        },
    }
}

/// Owner first: chown clears the set-id bits that the chmod then restores.
fn owner_and_mode(d: impl AsFd, st: &Stat) -> rustix::io::Result<()> {
    let (u, g) = ids(st);
    rustix::fs::fchown(&d, u, g)?;
    rustix::fs::fchmod(&d, Mode::from_raw_mode(st.st_mode & 0o7777))
}

/// Attributes of an opened file or directory.
fn fd_meta(s: impl AsFd, d: impl AsFd, st: &Stat) -> rustix::io::Result<()> {
    owner_and_mode(&d, st)?;
    copy_xattrs(&Xattrs::Fd(s.as_fd()), &Xattrs::Fd(d.as_fd()))?;
    rustix::fs::futimens(&d, &times(st))
}

/// Attributes of an entry that cannot be opened safely (symlinks, device
/// nodes, fifos), set through its parent directory.
fn at_meta(
    sdir: &OwnedFd,
    ddir: &OwnedFd,
    name: &OsStr,
    st: &Stat,
    symlink: bool,
) -> rustix::io::Result<()> {
    let (u, g) = ids(st);
    rustix::fs::chownat(ddir, name, u, g, AtFlags::SYMLINK_NOFOLLOW)?;
    if !symlink {
        rustix::fs::chmodat(
            ddir,
            name,
            Mode::from_raw_mode(st.st_mode & 0o7777),
            AtFlags::empty(),
        )?;
    }
    copy_xattrs(
        &Xattrs::At(proc_path(sdir, name)),
        &Xattrs::At(proc_path(ddir, name)),
    )?;
    rustix::fs::utimensat(ddir, name, &times(st), AtFlags::SYMLINK_NOFOLLOW)
}

/// A name for `name` in the directory `dir` that the l*xattr calls resolve
/// through the fd, never through a path someone could swap.
fn proc_path(dir: &OwnedFd, name: &OsStr) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name)
}

enum Xattrs<'a> {
    Fd(BorrowedFd<'a>),
    At(PathBuf),
}

impl Xattrs<'_> {
    fn list(&self) -> rustix::io::Result<Vec<u8>> {
        let n = match self {
            Xattrs::Fd(fd) => rustix::fs::flistxattr_query(fd),
            Xattrs::At(p) => rustix::fs::llistxattr_query(p),
        };
        let n = match n {
            Ok(n) => n,
            Err(Errno::NOTSUP) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut buf = vec![0u8; n];
        let len = match self {
            Xattrs::Fd(fd) => rustix::fs::flistxattr(fd, &mut buf[..])?,
            Xattrs::At(p) => rustix::fs::llistxattr(p, &mut buf[..])?,
        };
        buf.truncate(len);
        Ok(buf)
    }

    fn get(&self, name: &CStr) -> rustix::io::Result<Vec<u8>> {
        let n = match self {
            Xattrs::Fd(fd) => rustix::fs::fgetxattr_query(fd, name)?,
            Xattrs::At(p) => rustix::fs::lgetxattr_query(p, name)?,
        };
        let mut buf = vec![0u8; n];
        let len = match self {
            Xattrs::Fd(fd) => rustix::fs::fgetxattr(fd, name, &mut buf[..])?,
            Xattrs::At(p) => rustix::fs::lgetxattr(p, name, &mut buf[..])?,
        };
        buf.truncate(len);
        Ok(buf)
    }

    fn set(&self, name: &CStr, value: &[u8]) -> rustix::io::Result<()> {
        match self {
            Xattrs::Fd(fd) => rustix::fs::fsetxattr(fd, name, value, XattrFlags::empty()),
            Xattrs::At(p) => rustix::fs::lsetxattr(p, name, value, XattrFlags::empty()),
        }
    }
}

/// Copies every extended attribute. One that the destination file system
/// does not take (no user xattrs on the volume's file system, `trusted.*`
/// without the capability) is skipped with a debug line: the copy of the
/// data matters more than the attribute, as for docker.
fn copy_xattrs(src: &Xattrs<'_>, dst: &Xattrs<'_>) -> rustix::io::Result<()> {
    let names = src.list()?;
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let Ok(cname) = std::ffi::CString::new(name) else {
            continue;
        };
        let value = match src.get(&cname) {
            Ok(v) => v,
            Err(Errno::NODATA) => continue,
            Err(e) => return Err(e),
        };
        match dst.set(&cname, &value) {
            Ok(()) => {}
            Err(e @ (Errno::NOTSUP | Errno::PERM | Errno::ACCESS)) => {
                tracing::debug!(xattr = ?cname, error = %e, "xattr not copied to volume");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
