//! A container's files from outside: `docker cp` (the archive routes),
//! `docker export` and `docker commit`.
//!
//! Every file operation runs on a thread of its own that first leaves the
//! daemon's filesystem context (`unshare(CLONE_FS)`) and then `chroot`s into
//! the container's root, so the kernel resolves every path, symlink and
//! `..` inside that root, as docker's `chrootarchive` does; the daemon's own
//! root and working directory are never touched. The root is:
//! - a running (or paused) container's own root, `/proc/<pid>/root`, with
//!   every mount it has (volumes, binds, tmpfs) as the container sees them;
//! - otherwise its snapshot mounted in a private mount namespace of that
//!   thread (`CLONE_NEWNS`), with its volumes and binds mounted at their
//!   destinations. They are unmounted when the job ends; were that to
//!   fail, the namespace still takes them away with the thread, so nothing
//!   ever shows in the host's mount table.
//!
//! `export` always reads a read-only overlay of the writable layer over the
//! image's layers (no upper or work directory, so it can be mounted beside
//! the running container's own mount), without volumes, as docker exports.
//!
//! Tars are extracted by berth-store's layer applier, which refuses entries
//! that leave the destination (`..`, absolute names, symlinks and hard
//! links pointing out). It names files through the host's /proc/self/fd,
//! so it runs on the calling thread, on a descriptor of the destination
//! opened inside the chroot, while the chrooted thread keeps the view
//! mounted. The input is spooled to an unlinked file first, so that
//! `noOverwriteDirNonDir` is checked for every entry before any is written.
//!
//! Not done as docker does: nothing stops a stopped container from being
//! started while a copy to or from it runs (docker holds the container's
//! lock); the two overlay mounts then share its writable layer.

use super::types::Record;
use super::{Containers, Error, Result};
use crate::image::config::ContainerConfig;
use crate::image::CommitOptions;
use berth_store::{Mount, Snapshotter};
use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use rustix::fs::{Mode, OFlags};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Seek, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// What `X-Docker-Container-Path-Stat` carries (base64 of this JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    /// Go's `os.FileMode` bits, as dockerd sends them.
    pub mode: u32,
    /// RFC 3339 with nanoseconds.
    pub mtime: String,
    /// For a symlink, where it leads in the container (empty otherwise).
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// `PUT /containers/{id}/archive` options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Refuse to replace a directory with a non-directory or the reverse.
    pub no_overwrite_dir_non_dir: bool,
    /// Give every extracted entry the container user's uid and gid.
    pub copy_uid_gid: bool,
}

/// `POST /commit` options.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommitRequest {
    /// `repo[:tag]`, if the image is to be named.
    pub reference: Option<String>,
    pub comment: String,
    pub author: String,
    /// Pause a running container while its layer is read.
    pub pause: bool,
    /// Dockerfile instructions (`CMD ["sh"]`) applied to the config.
    pub changes: Vec<String>,
    /// A container config whose non-empty fields replace the container's.
    pub config: Option<Value>,
}

// Go's os.FileMode type bits.
const GO_DIR: u32 = 1 << 31;
const GO_SYMLINK: u32 = 1 << 27;
const GO_DEVICE: u32 = 1 << 26;
const GO_PIPE: u32 = 1 << 25;
const GO_SOCKET: u32 = 1 << 24;
const GO_SETUID: u32 = 1 << 23;
const GO_SETGID: u32 = 1 << 22;
const GO_CHARDEV: u32 = 1 << 21;
const GO_STICKY: u32 = 1 << 20;

/// A Unix mode as Go's `os.FileMode`.
fn go_file_mode(md: &fs::Metadata) -> u32 {
    let ft = md.file_type();
    let mode = md.mode();
    let mut m = mode & 0o777;
    if ft.is_dir() {
        m |= GO_DIR;
    } else if ft.is_symlink() {
        m |= GO_SYMLINK;
    } else if ft.is_fifo() {
        m |= GO_PIPE;
    } else if ft.is_socket() {
        m |= GO_SOCKET;
    } else if ft.is_char_device() {
        m |= GO_DEVICE | GO_CHARDEV;
    } else if ft.is_block_device() {
        m |= GO_DEVICE;
    }
    for (bit, go) in [
        (0o4000, GO_SETUID),
        (0o2000, GO_SETGID),
        (0o1000, GO_STICKY),
    ] {
        if mode & bit != 0 {
            m |= go;
        }
    }
    m
}

/// The last element of a container path as Go's `filepath.Base` gives it
/// (trailing slashes dropped; `/dir/.` gives `.`).
fn base_name(path: &str) -> String {
    let t = path.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_owned()
}

/// A container path made absolute, trailing `/` or `/.` kept (they make
/// the last symlink be followed, as in docker).
fn absolute(path: &str) -> PathBuf {
    if path.starts_with('/') {
        PathBuf::from(path)
    } else {
        PathBuf::from(format!("/{path}"))
    }
}

/// The root a job runs in.
enum View {
    /// A live container's root (`/proc/<pid>/root`), open.
    Live(File),
    /// The container's snapshot mounted at a private directory.
    Snapshot {
        rootfs: Mount,
        /// (source, destination, read-only) of volumes and binds.
        binds: Vec<(PathBuf, String, bool)>,
        /// The writable layer as a lower one, read-only (export).
        read_only: bool,
        /// The root remounted read-only once the binds are in
        /// (`--read-only` containers: their volumes stay writable).
        lock_root: bool,
    },
}

fn sys_err(what: String) -> impl FnOnce(nix::Error) -> Error {
    move |e| Error::io(what, io::Error::from(e))
}

/// Mounts a container's rootfs at `dir`. `read_only` stacks the writable
/// layer as the top lower layer instead of mounting it as the upper one, so
/// the mount never competes with the container's own for its work dir.
fn mount_rootfs(m: &Mount, dir: &Path, read_only: bool) -> Result<()> {
    let what = || format!("mount {} rootfs at {}", m.kind, dir.display());
    if m.kind == "bind" {
        nix::mount::mount(
            Some(m.source.as_str()),
            dir,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(sys_err(what()))?;
        if read_only {
            remount_read_only(dir)?;
        }
        return Ok(());
    }
    let opt = |k: &str| m.options.iter().find_map(|o| o.strip_prefix(k));
    let options = match (read_only, opt("upperdir="), opt("lowerdir=")) {
        (true, Some(upper), Some(lower)) => format!("lowerdir={upper}:{lower}"),
        _ => m
            .options
            .iter()
            .filter(|o| !matches!(o.as_str(), "rw" | "ro"))
            .cloned()
            .collect::<Vec<_>>()
            .join(","),
    };
    let flags = if read_only {
        MsFlags::MS_RDONLY
    } else {
        MsFlags::empty()
    };
    nix::mount::mount(
        Some(m.source.as_str()),
        dir,
        Some(m.kind.as_str()),
        flags,
        Some(options.as_str()),
    )
    .map_err(sys_err(what()))
}

fn remount_read_only(dir: &Path) -> Result<()> {
    nix::mount::mount(
        None::<&str>,
        dir,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
        None::<&str>,
    )
    .map_err(sys_err(format!("remount {} read-only", dir.display())))
}

/// What [`enter`] mounted in the thread's namespace, unmounted (children
/// first) when dropped, after the thread left the chroot. Unmounting by
/// hand rather than with the namespace makes it synchronous: the next
/// mount of the same layer (another copy, the container's start) does not
/// find it still in use.
struct Entered {
    /// The host's root, to leave the chroot through.
    host_root: Option<File>,
    chrooted: bool,
    mounted: Vec<PathBuf>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        if self.mounted.is_empty() {
            return;
        }
        if self.chrooted {
            let back = self.host_root.as_ref().map_or(Err(nix::Error::EBADF), |r| {
                nix::unistd::fchdir(r.as_raw_fd()).and_then(|()| nix::unistd::chroot("."))
            });
            if let Err(e) = back {
                // The namespace still takes the mounts away with the thread.
                tracing::warn!(error = %e, "leave the archive chroot");
                return;
            }
        }
        for m in self.mounted.iter().rev() {
            if let Err(e) = nix::mount::umount(m) {
                tracing::warn!(path = %m.display(), error = %e, "unmount archive view");
                let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
            }
        }
    }
}

/// Moves the calling thread (only it: it has its own fs context first)
/// into the view's root.
fn enter(view: &View, dir: &Path) -> Result<Entered> {
    let mut entered = Entered {
        host_root: None,
        chrooted: false,
        mounted: Vec::new(),
    };
    let root = match view {
        View::Live(root) => {
            nix::sched::unshare(CloneFlags::CLONE_FS)
                .map_err(sys_err("unshare CLONE_FS".into()))?;
            // The directory checked when the view was made, not a path
            // whose pid may have been reused since.
            nix::unistd::fchdir(root.as_raw_fd())
                .map_err(sys_err("fchdir to the container root".into()))?;
            PathBuf::from(".")
        }
        View::Snapshot {
            rootfs,
            binds,
            read_only,
            lock_root,
        } => {
            nix::sched::unshare(CloneFlags::CLONE_FS | CloneFlags::CLONE_NEWNS)
                .map_err(sys_err("unshare CLONE_FS|CLONE_NEWNS".into()))?;
            // Nothing mounted here may reach the host's namespace.
            nix::mount::mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                None::<&str>,
            )
            .map_err(sys_err("make / private".into()))?;
            entered.host_root =
                Some(File::open("/").map_err(|e| Error::io("open the host root", e))?);
            mount_rootfs(rootfs, dir, *read_only)?;
            entered.mounted.push(dir.to_owned());
            for (source, dest, ro) in binds {
                let kind = if source.is_dir() {
                    berth_volume::MountPointKind::Dir
                } else {
                    berth_volume::MountPointKind::File
                };
                let target = berth_volume::create_in_root(dir, Path::new(dest), kind)
                    .map_err(|e| Error::Engine(e.into()))?;
                nix::mount::mount(
                    Some(source.as_path()),
                    &target,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )
                .map_err(sys_err(format!(
                    "bind {} at {}",
                    source.display(),
                    target.display()
                )))?;
                entered.mounted.push(target.clone());
                if *ro {
                    remount_read_only(&target)?;
                }
            }
            if *lock_root {
                remount_read_only(dir)?;
            }
            dir.to_owned()
        }
    };
    nix::unistd::chroot(&root).map_err(sys_err(format!("chroot {}", root.display())))?;
    entered.chrooted = true;
    nix::unistd::chdir("/").map_err(sys_err("chdir / in the container root".into()))?;
    Ok(entered)
}

/// The root of the live process `pid`, unless it is the host's own (the
/// container is gone and its pid was reused by a host process).
fn live_root(pid: i32) -> Option<File> {
    let root = File::open(format!("/proc/{pid}/root")).ok()?;
    let (theirs, ours) = (root.metadata().ok()?, fs::metadata("/").ok()?);
    ((theirs.dev(), theirs.ino()) != (ours.dev(), ours.ino())).then_some(root)
}

/// Which root an operation needs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// The container's files as it sees them (with its mounts).
    Files,
    /// Its own filesystem only, read-only.
    Export,
}

/// The way from a job in the container's root back to the calling thread.
struct Outside {
    send: mpsc::Sender<OwnedFd>,
    done: mpsc::Receiver<Result<()>>,
}

impl Outside {
    /// Runs the caller's `outside` on `fd` and waits for it.
    fn run(&self, fd: OwnedFd) -> Result<()> {
        let gone = || Error::io("archive job", io::Error::other("its caller went away"));
        self.send.send(fd).map_err(|_| gone())?;
        self.done.recv().map_err(|_| gone())?
    }
}

impl Containers {
    fn view(&self, rec: &Record, purpose: Purpose) -> Result<View> {
        if purpose == Purpose::Files && rec.state.is_running() && rec.state.pid > 0 {
            if let Some(root) = live_root(rec.state.pid) {
                return Ok(View::Live(root));
            }
        }
        let rootfs = self
            .inner
            .store
            .snapshots
            .mounts(&rec.rw_key)?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Invalid(format!("container {} has no rootfs", rec.id)))?;
        let mut binds = Vec::new();
        if purpose == Purpose::Files {
            for m in self
                .inner
                .netvol
                .mounts(&rec.id)
                .as_array()
                .into_iter()
                .flatten()
            {
                let (Some(src), Some(dest)) = (m["Source"].as_str(), m["Destination"].as_str())
                else {
                    continue;
                };
                if src.is_empty() || !matches!(m["Type"].as_str(), Some("bind" | "volume")) {
                    continue;
                }
                let ro = !m["RW"].as_bool().unwrap_or(true);
                binds.push((PathBuf::from(src), dest.to_owned(), ro));
            }
            // Parents before the mounts inside them.
            binds.sort_by_key(|(_, d, _)| d.split('/').filter(|c| !c.is_empty()).count());
        }
        Ok(View::Snapshot {
            rootfs,
            binds,
            read_only: purpose == Purpose::Export,
            lock_root: purpose == Purpose::Files && rec.host().readonly_rootfs,
        })
    }

    /// Runs `job` inside the container's root (see the module docs).
    fn in_root<T: Send>(
        &self,
        rec: &Record,
        purpose: Purpose,
        job: impl FnOnce() -> Result<T> + Send,
    ) -> Result<T> {
        self.in_root_with(rec, purpose, |_| job(), |_| Ok(()))
    }

    /// As [`Self::in_root`], and `job` may hand a directory it opened to
    /// `outside`, which runs on the calling thread (outside the chroot,
    /// with the host's /proc) while the root stays mounted.
    fn in_root_with<T: Send>(
        &self,
        rec: &Record,
        purpose: Purpose,
        job: impl FnOnce(&Outside) -> Result<T> + Send,
        mut outside: impl FnMut(BorrowedFd<'_>) -> Result<()>,
    ) -> Result<T> {
        let view = self.view(rec, purpose)?;
        // A stopped container's snapshot is mounted here; a running one's
        // export reads its layers as lowers and needs no hold.
        let _hold = match &view {
            View::Snapshot { .. } if !rec.state.is_running() => {
                Some(self.inner.hold_for_copy(&rec.id)?)
            }
            _ => None,
        };
        let dir = self.inner.shims.with_file_name("archive").join(format!(
            "{}-{}",
            rec.id,
            berth_shim_proto::time::now()
        ));
        if matches!(view, View::Snapshot { .. }) {
            fs::create_dir_all(&dir)
                .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        }
        let result = std::thread::scope(|s| {
            let (req_tx, req_rx) = mpsc::channel::<OwnedFd>();
            let (done_tx, done_rx) = mpsc::channel::<Result<()>>();
            let handle = std::thread::Builder::new()
                .name("berth-archive".into())
                .spawn_scoped(s, || {
                    let entered = enter(&view, &dir)?;
                    let result = job(&Outside {
                        send: req_tx,
                        done: done_rx,
                    });
                    drop(entered);
                    result
                })
                .map_err(|e| Error::io("start the archive thread", e))?;
            // Ends when the job (and so its sender) is done.
            while let Ok(fd) = req_rx.recv() {
                let r = outside(fd.as_fd());
                // Closed before the job goes on to unmount the view.
                drop(fd);
                let _ = done_tx.send(r);
            }
            handle
                .join()
                .map_err(|_| Error::io("archive job", io::Error::other("its thread panicked")))?
        });
        if matches!(view, View::Snapshot { .. }) {
            // The thread's namespace, and the mounts in it, ended with it.
            if let Err(e) = fs::remove_dir(&dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "remove archive mount point");
            }
        }
        result
    }

    /// `HEAD /containers/{id}/archive?path=`.
    pub fn archive_stat(&self, name: &str, path: &str) -> Result<PathStat> {
        let rec = self.inner.record(name)?;
        self.in_root(&rec, Purpose::Files, || stat_path(&rec, path))
    }

    /// `GET /containers/{id}/archive?path=`: `path` as a tar whose top
    /// entry is named as [`PathStat::name`].
    pub fn archive_get(&self, name: &str, path: &str, out: &mut (dyn Write + Send)) -> Result<()> {
        let rec = self.inner.record(name)?;
        self.in_root(&rec, Purpose::Files, || {
            let stat = stat_path(&rec, path)?;
            let mut tar = tar::Builder::new(BufWriter::with_capacity(256 * 1024, &mut *out));
            let mut links = HashMap::new();
            let p = absolute(path);
            // The root's entries are `/`, `/bin`, ...: the client rebases
            // them by replacing an empty prefix.
            let top = if stat.name == "/" { "" } else { &stat.name };
            append_tree(&mut tar, &p, top, &mut links)
                .map_err(|e| Error::io(format!("archive {path}"), e))?;
            tar.into_inner()
                .and_then(|mut w| w.flush())
                .map_err(|e| Error::io(format!("archive {path}"), e))
        })?;
        self.inner
            .publish(&rec, "archive-path", &[("path", path.to_owned())]);
        Ok(())
    }

    /// `PUT /containers/{id}/archive?path=`: extracts the tar `src` into
    /// the directory `path`.
    pub fn archive_put(
        &self,
        name: &str,
        path: &str,
        src: &mut (dyn Read + Send),
        opts: ExtractOptions,
    ) -> Result<()> {
        let rec = self.inner.record(name)?;
        let owner = if opts.copy_uid_gid {
            let images = &self.inner.images;
            let read = |p: &str| images.read_image_file(&rec.image_id, p).ok().flatten();
            let u = super::spec::resolve_user(&rec.cfg().user, &read)?;
            Some((u.uid, u.gid))
        } else {
            None
        };
        // Spooled first: the entries are read before they are applied.
        let mut spool = self.spool(&rec.id, src)?;
        let names = if opts.no_overwrite_dir_non_dir || owner.is_some() {
            entry_names(&mut spool)?
        } else {
            Vec::new()
        };
        self.in_root_with(
            &rec,
            Purpose::Files,
            |outside| {
                extract(
                    &rec,
                    path,
                    &names,
                    opts.no_overwrite_dir_non_dir,
                    owner,
                    outside,
                )
            },
            // The applier names files through the host's /proc/self/fd, so
            // it runs outside the chroot, on the directory opened inside it.
            |dest| {
                let p = PathBuf::from(format!("/proc/self/fd/{}", dest.as_raw_fd()));
                berth_store::apply::apply_layer(&mut spool, &p)?;
                Ok(())
            },
        )?;
        self.inner.publish(&rec, "extract-to-dir", &[]);
        Ok(())
    }

    /// A nameless temporary copy of `src` in the container's directory.
    fn spool(&self, id: &str, src: &mut (dyn Read + Send)) -> Result<File> {
        let p = self
            .inner
            .dir(id)
            .join(format!(".archive-{}", berth_shim_proto::time::now()));
        let mut f = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&p)
            .map_err(|e| Error::io(format!("create {}", p.display()), e))?;
        let _ = fs::remove_file(&p);
        io::copy(src, &mut f).map_err(|e| Error::io("read the archive", e))?;
        f.rewind()
            .map_err(|e| Error::io(format!("rewind {}", p.display()), e))?;
        Ok(f)
    }

    /// `GET /containers/{id}/export`: the container's filesystem as one tar.
    pub fn export(&self, name: &str, out: &mut (dyn Write + Send)) -> Result<()> {
        let rec = self.inner.record(name)?;
        self.in_root(&rec, Purpose::Export, || {
            // write_dir_diff against a tree that does not exist gives every
            // entry; the name is checked free in this read-only view.
            let none = PathBuf::from(format!(
                "/.berth-export-{}-{}",
                std::process::id(),
                berth_shim_proto::time::now()
            ));
            if none.symlink_metadata().is_ok() {
                return Err(Error::Conflict(format!("{} exists", none.display())));
            }
            let w = BufWriter::with_capacity(256 * 1024, &mut *out);
            berth_store::diff::write_dir_diff(&none, Path::new("/"), w)?;
            Ok(())
        })?;
        self.inner.publish(&rec, "export", &[]);
        Ok(())
    }

    /// `POST /commit?container=`: the container's writable layer as a new
    /// image; returns its id.
    pub fn commit(&self, name: &str, req: &CommitRequest) -> Result<String> {
        let rec = self.inner.record(name)?;
        let pause = req.pause && rec.state.status == "running";
        if pause {
            self.pause(&rec.id, true)?;
        }
        let result = self.commit_layer(&rec, req);
        if pause {
            if let Err(e) = self.pause(&rec.id, false) {
                tracing::warn!(container = %rec.id, error = %e, "unpause after commit");
            }
        }
        let id = result?;
        self.inner.publish(
            &rec,
            "commit",
            &[("comment", req.comment.clone()), ("imageID", id.clone())],
        );
        Ok(id)
    }

    fn commit_layer(&self, rec: &Record, req: &CommitRequest) -> Result<String> {
        let upper = self.inner.store.snapshots.upper_dir(&rec.rw_key)?;
        let config = merged_config(&rec.config, req.config.as_ref())?;
        let created_by = std::iter::once(rec.path.as_str())
            .chain(rec.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        let opts = CommitOptions {
            reference: req.reference.clone(),
            config: Some(config),
            changes: req.changes.clone(),
            message: req.comment.clone(),
            author: req.author.clone(),
            created_by: created_by.trim().to_owned(),
        };
        let id = self.inner.images.commit(&rec.image_id, &upper, &opts)?;
        Ok(if id.starts_with("sha256:") {
            id
        } else {
            format!("sha256:{id}")
        })
    }
}

/// The container's config with the non-empty fields of `over` on top, as
/// the image config of a commit.
fn merged_config(own: &Value, over: Option<&Value>) -> Result<ContainerConfig> {
    let mut cfg = own.clone();
    if let (Some(Value::Object(over)), Value::Object(base)) = (over, &mut cfg) {
        for (k, v) in over {
            let empty = match v {
                Value::Null => true,
                Value::String(s) => s.is_empty(),
                Value::Array(a) => a.is_empty(),
                Value::Object(o) => o.is_empty(),
                Value::Bool(b) => !b,
                Value::Number(_) => false,
            };
            if !empty {
                base.insert(k.clone(), v.clone());
            }
        }
    }
    serde_json::from_value(cfg).map_err(|e| Error::Invalid(format!("container config: {e}")))
}

fn not_found(rec: &Record, path: &str) -> Error {
    Error::NotFound(format!(
        "Could not find the file {path} in container {}",
        rec.name.trim_start_matches('/')
    ))
}

/// Stats `path` inside the current (container) root.
fn stat_path(rec: &Record, path: &str) -> Result<PathStat> {
    let p = absolute(path);
    let md = match fs::symlink_metadata(&p) {
        Ok(md) => md,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(not_found(rec, path)),
        Err(e) if e.raw_os_error() == Some(nix::libc::ENOTDIR) => {
            return Err(Error::Invalid(format!("{path}: not a directory")))
        }
        Err(e) => return Err(Error::io(format!("stat {path}"), e)),
    };
    let link_target = if md.file_type().is_symlink() {
        fs::canonicalize(&p)
            .or_else(|_| fs::read_link(&p))
            .map(|t| t.display().to_string())
            .unwrap_or_default()
    } else {
        String::new()
    };
    let nanos = md.mtime() * 1_000_000_000 + md.mtime_nsec();
    Ok(PathStat {
        name: base_name(path),
        size: md.len() as i64,
        mode: go_file_mode(&md),
        mtime: super::time::format_rfc3339_nano(nanos),
        link_target,
    })
}

/// Appends an entry named `name` exactly (the tar crate would drop a
/// leading `./`, which docker's client needs to rebase `dir/.` copies),
/// with GNU long-name records for names and link targets past 100 bytes.
fn append_raw<W: Write>(
    tar: &mut tar::Builder<W>,
    h: &mut tar::Header,
    name: &str,
    link: Option<&[u8]>,
    data: impl Read,
) -> io::Result<()> {
    let long = |tar: &mut tar::Builder<W>, kind: u8, value: &[u8]| -> io::Result<()> {
        let mut lh = tar::Header::new_gnu();
        lh.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        lh.set_mode(0o644);
        lh.set_entry_type(tar::EntryType::new(kind));
        lh.set_size(value.len() as u64 + 1);
        lh.set_cksum();
        tar.append(&lh, value.chain(&[0u8][..]))
    };
    let put = |field: &mut [u8; 100], v: &[u8]| {
        let n = v.len().min(100);
        field.fill(0);
        field[..n].copy_from_slice(&v[..n]);
    };
    if name.len() > 100 {
        long(tar, b'L', name.as_bytes())?;
    }
    put(&mut h.as_old_mut().name, name.as_bytes());
    if let Some(target) = link {
        if target.len() > 100 {
            long(tar, b'K', target)?;
        }
        put(&mut h.as_old_mut().linkname, target);
    }
    h.set_cksum();
    // Exactly the size in the header, even if a live container's file
    // grows or shrinks meanwhile (zeros pad a shrunk one).
    let size = h.size()?;
    tar.append(h, data.take(size).chain(io::repeat(0)).take(size))
}

/// Writes `path` (not following a last symlink unless the path ends in
/// `/`) as `name`, and a directory's content below `name/`. Sockets are
/// left out, as docker does; hard links within the tree stay links.
fn append_tree<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &Path,
    name: &str,
    links: &mut HashMap<(u64, u64), String>,
) -> io::Result<()> {
    let md = fs::symlink_metadata(path)?;
    let ft = md.file_type();
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(&md, tar::HeaderMode::Complete);
    h.set_size(0);
    if ft.is_dir() {
        append_raw(tar, &mut h, &format!("{name}/"), None, io::empty())?;
        let mut children: Vec<_> = fs::read_dir(path)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()?;
        children.sort();
        for c in children {
            let child = format!("{name}/{}", c.to_string_lossy());
            append_tree(tar, &path.join(&c), &child, links)?;
        }
        Ok(())
    } else if ft.is_symlink() {
        let target = fs::read_link(path)?;
        let target = target.as_os_str().as_encoded_bytes();
        append_raw(tar, &mut h, name, Some(target), io::empty())
    } else if ft.is_file() {
        if md.nlink() > 1 {
            if let Some(first) = links.get(&(md.dev(), md.ino())) {
                h.set_entry_type(tar::EntryType::Link);
                let first = first.clone();
                return append_raw(tar, &mut h, name, Some(first.as_bytes()), io::empty());
            }
            links.insert((md.dev(), md.ino()), name.to_owned());
        }
        h.set_size(md.len());
        append_raw(tar, &mut h, name, None, File::open(path)?)
    } else if ft.is_socket() {
        Ok(())
    } else {
        h.set_device_major(rustix::fs::major(md.rdev()))?;
        h.set_device_minor(rustix::fs::minor(md.rdev()))?;
        append_raw(tar, &mut h, name, None, io::empty())
    }
}

/// The normalized relative names of a tar's entries, with whether each is
/// a directory; the file is rewound after.
fn entry_names(spool: &mut File) -> Result<Vec<(PathBuf, bool)>> {
    let bad = |e: io::Error| Error::Invalid(format!("reading the archive: {e}"));
    let mut out = Vec::new();
    {
        let mut ar = tar::Archive::new(&mut *spool);
        for e in ar.entries().map_err(bad)? {
            let e = e.map_err(bad)?;
            let raw = e.path_bytes();
            let rel: PathBuf = String::from_utf8_lossy(&raw)
                .split('/')
                .filter(|c| !c.is_empty() && *c != ".")
                .collect();
            if rel.as_os_str().is_empty() {
                continue;
            }
            out.push((rel, e.header().entry_type().is_dir()));
        }
    }
    spool
        .rewind()
        .map_err(|e| Error::io("rewind the archive", e))?;
    Ok(out)
}

/// Checks the directory `path` of the current (container) root and the
/// entries against it, has the tar applied to it (outside), and gives the
/// entries to `owner` if asked.
fn extract(
    rec: &Record,
    path: &str,
    names: &[(PathBuf, bool)],
    no_overwrite_dir_non_dir: bool,
    owner: Option<(u32, u32)>,
    outside: &Outside,
) -> Result<()> {
    let dest = absolute(path);
    match fs::metadata(&dest) {
        Ok(md) if md.is_dir() => {}
        Ok(_) => return Err(Error::Invalid("extraction point is not a directory".into())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(not_found(rec, path)),
        Err(e) => return Err(Error::io(format!("stat {path}"), e)),
    }
    // Said as docker says it, rather than as the first failed write.
    let read_only = nix::sys::statvfs::statvfs(&dest)
        .is_ok_and(|v| v.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY));
    if read_only {
        let root_dev = fs::metadata("/").map(|m| m.dev()).ok();
        let dest_dev = fs::metadata(&dest).map(|m| m.dev()).ok();
        return Err(Error::Invalid(if root_dev == dest_dev {
            "container rootfs is marked read-only".into()
        } else {
            "mounted volume is marked read-only".into()
        }));
    }
    if no_overwrite_dir_non_dir {
        for (rel, is_dir) in names {
            let Ok(md) = fs::symlink_metadata(dest.join(rel)) else {
                continue;
            };
            if md.is_dir() != *is_dir {
                let what = |d: bool| if d { "directory" } else { "non-directory" };
                return Err(Error::Invalid(format!(
                    "cannot overwrite {} {:?} with {} {:?}",
                    what(md.is_dir()),
                    dest.join(rel).display().to_string(),
                    what(*is_dir),
                    rel.display().to_string()
                )));
            }
        }
    }
    let fd = rustix::fs::open(
        &dest,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io(format!("open {path}"), e.into()))?;
    outside.run(fd)?;
    if let Some((uid, gid)) = owner {
        for (rel, _) in names {
            let p = dest.join(rel);
            std::os::unix::fs::lchown(&p, Some(uid), Some(gid))
                .map_err(|e| Error::io(format!("chown {}", p.display()), e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_names_follow_go() {
        assert_eq!(base_name("/etc/passwd"), "passwd");
        assert_eq!(base_name("/etc/"), "etc");
        assert_eq!(base_name("/etc/."), ".");
        assert_eq!(base_name("rel"), "rel");
        assert_eq!(base_name("/"), "/");
    }

    #[test]
    fn modes_carry_go_type_bits() {
        let d = tempfile::tempdir().expect("tempdir");
        let md = fs::symlink_metadata(d.path()).expect("stat");
        assert_eq!(go_file_mode(&md) & GO_DIR, GO_DIR);
        let link = d.path().join("l");
        std::os::unix::fs::symlink("x", &link).expect("symlink");
        let md = fs::symlink_metadata(&link).expect("stat");
        assert_eq!(go_file_mode(&md), GO_SYMLINK | 0o777);
    }

    #[test]
    fn commit_config_takes_non_empty_fields() {
        let own = serde_json::json!({"Cmd": ["sh"], "Env": ["A=1"], "WorkingDir": "/w"});
        let over = serde_json::json!({"Cmd": ["true"], "Env": [], "WorkingDir": ""});
        let c = merged_config(&own, Some(&over)).expect("merge");
        assert_eq!(c.cmd, Some(vec!["true".to_owned()]));
        assert_eq!(c.env, Some(vec!["A=1".to_owned()]));
    }
}
