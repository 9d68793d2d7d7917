//! Applying a layer tar to a directory in overlayfs form, as Docker's overlay2
//! driver does: each layer is unpacked alone into its own directory, whiteout
//! files (`.wh.NAME`) become 0/0 character devices and opaque markers
//! (`.wh..wh..opq`) become the `trusted.overlay.opaque=y` xattr.
//!
//! Every path is resolved with `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`
//! from a descriptor of the destination, so no entry can reach outside it,
//! whatever symlinks earlier entries made. Entries that try (`..`, absolute
//! paths, a relative symlink pointing above the root, a path through a symlink
//! that leaves the root, a hard link to outside) are refused with an error
//! naming the entry, like Docker's `breakoutError`.

use crate::error::{Error, IoContext, Result};
use crate::hashio::{decompress, Compression, ThreadedHashReader};
use crate::tarsplit::{CaptureReader, Recorder};
use berth_base::digest::Digest;
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps};
use rustix::io::Errno;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

/// What applying a layer found out about it.
#[derive(Debug, Clone)]
pub struct ApplyStats {
    /// sha256 of the uncompressed tar stream: the layer's diff id.
    pub diff_id: Digest,
    /// Length of the uncompressed tar stream.
    pub tar_size: u64,
    /// Sum of the sizes of the regular files unpacked (Docker's layer size).
    pub content_size: u64,
    /// Compression the stream came in.
    pub compression: Compression,
}

/// Decompresses (gzip, zstd or none, detected) and applies the layer read
/// from `src` to the existing directory `dest`. On error `dest` is left
/// partly written: callers unpack into a temporary directory and remove it.
pub fn apply_layer<R: Read>(src: R, dest: &Path) -> Result<ApplyStats> {
    Ok(apply(src, dest, false)?.0)
}

/// As [`apply_layer`]; for an uncompressed layer it also returns a
/// [tar-split record](crate::tarsplit), so the layer need not be kept as a
/// blob beside its unpacked directory.
pub fn apply_layer_split<R: Read>(src: R, dest: &Path) -> Result<(ApplyStats, Option<Vec<u8>>)> {
    apply(src, dest, true)
}

fn apply<R: Read>(src: R, dest: &Path, record: bool) -> Result<(ApplyStats, Option<Vec<u8>>)> {
    let (compression, stream) =
        decompress(src).map_err(|e| Error::BadLayer(format!("reading layer header: {e}")))?;
    let record = record && compression == Compression::None;
    let (recorder, cap) = Recorder::new();
    let hashing = ThreadedHashReader::new(stream).ctx(|| "start the hashing thread")?;
    let mut archive = tar::Archive::new(CaptureReader::new(hashing, cap, record));
    let mut applier = Applier::open(dest, record.then_some(recorder))?;
    let mut end_of_last = 0u64;
    {
        let entries = archive
            .entries()
            .map_err(|e| Error::BadLayer(format!("reading tar: {e}")))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| Error::BadLayer(format!("reading tar: {e}")))?;
            end_of_last = entry.raw_file_position() + entry.size().div_ceil(512) * 512;
            applier.entry(&mut entry)?;
        }
    }
    applier.finish()?;
    let cr = archive.into_inner();
    // The tar reader also stops at a clean end of file between entries: only
    // the end-of-archive zero block tells a complete layer from a cut one.
    if cr.get_ref().count() <= end_of_last {
        return Err(Error::BadLayer(
            "tar stream ends without an end-of-archive marker (truncated?)".into(),
        ));
    }
    let (diff_id, tar_size) = cr
        .finish()
        .and_then(ThreadedHashReader::finish)
        .map_err(|e| Error::BadLayer(format!("reading the end of the tar stream: {e}")))?;
    let split = applier.rec.take().map(Recorder::finish).transpose()?;
    Ok((
        ApplyStats {
            diff_id,
            tar_size,
            content_size: applier.content_size,
            compression,
        },
        split,
    ))
}

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_MAGICLINKS);

/// Splits a tar path into its components, refusing absolute paths and `..`.
/// Returns an empty list for the root itself (`./`).
fn components<'a>(raw: &'a [u8], entry: &str) -> Result<Vec<&'a [u8]>> {
    if raw.first() == Some(&b'/') {
        return Err(unsafe_entry(entry, "absolute path"));
    }
    let mut out = Vec::new();
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err(unsafe_entry(entry, "path contains \"..\"")),
            c => out.push(c),
        }
    }
    Ok(out)
}

fn unsafe_entry(entry: &str, reason: &str) -> Error {
    Error::UnsafeEntry {
        entry: entry.to_owned(),
        reason: reason.to_owned(),
    }
}

fn join(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(p);
    }
    out
}

fn os(b: &[u8]) -> &std::ffi::OsStr {
    std::os::unix::ffi::OsStrExt::from_bytes(b)
}

/// Whether a relative symlink target, seen from the directory `parent`,
/// stays inside the root (lexically, as Docker checks it).
fn symlink_stays_inside(parent: &[&[u8]], target: &[u8]) -> bool {
    if target.first() == Some(&b'/') {
        // Absolute targets are resolved against the container's root.
        return true;
    }
    let mut depth = parent.len() as i64;
    for c in target.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => depth += 1,
        }
    }
    true
}

struct Applier {
    root: OwnedFd,
    /// The last parent directory opened, reused for runs of entries in one
    /// directory. Dropped whenever an entry removes or replaces something.
    cached: Option<(Vec<u8>, OwnedFd)>,
    /// Directories whose times are set at the end (children change them).
    dir_times: Vec<(Vec<u8>, Timestamps)>,
    content_size: u64,
    buf: Vec<u8>,
    /// Records the stream for reassembly (uncompressed layers only).
    rec: Option<Recorder>,
}

/// Ownership, mode, times and xattrs of an entry, with PAX overrides applied.
struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
    mtime: Timespec,
    atime: Option<Timespec>,
    xattrs: Vec<(String, Vec<u8>)>,
}

fn pax_time(v: &[u8]) -> Option<Timespec> {
    let s = std::str::from_utf8(v).ok()?;
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let tv_sec: i64 = secs.parse().ok()?;
    let mut nanos = String::from(frac);
    nanos.truncate(9);
    while nanos.len() < 9 {
        nanos.push('0');
    }
    let tv_nsec = nanos.parse().ok()?;
    Some(Timespec { tv_sec, tv_nsec })
}

fn entry_meta<R: Read>(e: &mut tar::Entry<'_, R>, name: &str) -> Result<Meta> {
    let h = e.header();
    let bad =
        |what: &str, err: io::Error| Error::BadLayer(format!("entry {name:?}: {what}: {err}"));
    // An empty numeric field (all NUL or spaces) means 0, as Go's
    // archive/tar reads it; anything else that does not parse is an error.
    let old = h.as_old();
    let num = |v: io::Result<u64>, raw: &[u8], what: &str| match v {
        Ok(n) => Ok(n),
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
        Err(err) => Err(bad(what, err)),
    };
    let mut m = Meta {
        uid: num(h.uid(), &old.uid, "uid")? as u32,
        gid: num(h.gid(), &old.gid, "gid")? as u32,
        mode: num(h.mode().map(u64::from), &old.mode, "mode")? as u32 & 0o7777,
        mtime: Timespec {
            tv_sec: num(h.mtime(), &old.mtime, "mtime")? as i64,
            tv_nsec: 0,
        },
        atime: None,
        xattrs: Vec::new(),
    };
    if let Some(exts) = e.pax_extensions().map_err(|e| bad("pax header", e))? {
        for ext in exts {
            let ext = ext.map_err(|e| bad("pax header", e))?;
            let Ok(key) = ext.key() else { continue };
            let v = ext.value_bytes();
            match key {
                "uid" => {
                    m.uid = std::str::from_utf8(v)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(m.uid)
                }
                "gid" => {
                    m.gid = std::str::from_utf8(v)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(m.gid)
                }
                "mtime" => m.mtime = pax_time(v).unwrap_or(m.mtime),
                "atime" => m.atime = pax_time(v),
                k if k.starts_with("SCHILY.xattr.") => m
                    .xattrs
                    .push((k["SCHILY.xattr.".len()..].to_owned(), v.to_vec())),
                _ => {}
            }
        }
    }
    Ok(m)
}

impl Applier {
    fn open(dest: &Path, rec: Option<Recorder>) -> Result<Self> {
        let root = rustix::fs::open(
            dest,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ctx(|| format!("open {}", dest.display()))?;
        Ok(Self {
            root,
            cached: None,
            dir_times: Vec::new(),
            content_size: 0,
            buf: vec![0; 1 << 20],
            rec,
        })
    }

    /// Opens (creating missing directories) the directory `parts` beneath the root.
    fn dir(&mut self, parts: &[&[u8]], entry: &str) -> Result<BorrowedFd<'_>> {
        let key = join(parts);
        if self.cached.as_ref().map(|(k, _)| k) != Some(&key) {
            let fd = self.open_dir(parts, entry)?;
            self.cached = Some((key, fd));
        }
        match &self.cached {
            Some((_, fd)) => Ok(fd.as_fd()),
            None => Err(Error::BadLayer(format!(
                "entry {entry:?}: no parent directory"
            ))),
        }
    }

    fn open_dir(&self, parts: &[&[u8]], entry: &str) -> Result<OwnedFd> {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        if parts.is_empty() {
            return rustix::io::dup(&self.root).ctx(|| format!("dup root for {entry:?}"));
        }
        match rustix::fs::openat2(&self.root, os(&join(parts)), flags, Mode::empty(), RESOLVE) {
            Ok(fd) => return Ok(fd),
            Err(Errno::NOENT) => {}
            Err(e) => return Err(resolve_error(entry, e)),
        }
        // Create the missing directories one component at a time, each
        // step resolved beneath the previous one.
        let mut cur = rustix::io::dup(&self.root).ctx(|| format!("dup root for {entry:?}"))?;
        for c in parts {
            let next = match rustix::fs::openat2(&cur, os(c), flags, Mode::empty(), RESOLVE) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => {
                    match rustix::fs::mkdirat(&cur, os(c), Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => {
                            return Err(Error::io(format!("mkdir for entry {entry:?}"), e.into()))
                        }
                    }
                    rustix::fs::openat2(&cur, os(c), flags, Mode::empty(), RESOLVE)
                        .map_err(|e| resolve_error(entry, e))?
                }
                Err(e) => return Err(resolve_error(entry, e)),
            };
            cur = next;
        }
        Ok(cur)
    }

    /// Removes whatever is at `name` in `dir` unless both it and the new
    /// entry are directories. Returns whether a directory stays.
    fn clear(
        &mut self,
        parts: &[&[u8]],
        name: &[u8],
        new_is_dir: bool,
        entry: &str,
    ) -> Result<bool> {
        let dir = self.dir(parts, entry)?;
        let st = match rustix::fs::statat(dir, os(name), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(false),
            Err(e) => return Err(Error::io(format!("stat for entry {entry:?}"), e.into())),
        };
        let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
        if is_dir && new_is_dir {
            return Ok(true);
        }
        self.keep_recorded(parts, name, entry)?;
        let dir = self.dir(parts, entry)?;
        if is_dir {
            let p = proc_path(dir, name);
            std::fs::remove_dir_all(&p)
                .ctx(|| format!("remove directory replaced by entry {entry:?}"))?;
        } else {
            rustix::fs::unlinkat(dir, os(name), AtFlags::empty())
                .ctx(|| format!("remove file replaced by entry {entry:?}"))?;
        }
        self.cached = None;
        Ok(false)
    }

    /// Before files of this layer are removed (a later entry replaces
    /// them), their content moves into the tar-split record.
    fn keep_recorded(&mut self, parts: &[&[u8]], name: &[u8], entry: &str) -> Result<()> {
        let Some(rec) = &self.rec else {
            return Ok(());
        };
        let mut full = parts.to_vec();
        full.push(name);
        let paths = rec.recorded_under(&join(&full));
        for p in paths {
            let fd = rustix::fs::openat2(
                &self.root,
                os(&p),
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
                RESOLVE,
            )
            .map_err(|e| resolve_error(entry, e))?;
            let mut data = Vec::new();
            File::from(fd)
                .read_to_end(&mut data)
                .ctx(|| format!("keep replaced file for entry {entry:?}"))?;
            if let Some(r) = &mut self.rec {
                r.inline(&p, data);
            }
        }
        Ok(())
    }

    fn entry<R: Read>(&mut self, e: &mut tar::Entry<'_, R>) -> Result<()> {
        let raw = e.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let kind = e.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
        ) {
            return Ok(());
        }
        let parts = components(&raw, &name)?;
        let Some((base, parent)) = parts.split_last() else {
            // The root itself ("./"): take its metadata if it is a directory.
            if kind.is_dir() {
                let meta = entry_meta(e, &name)?;
                let root = rustix::io::dup(&self.root).ctx(|| "dup root")?;
                self.set_dir_meta(&root, &[], &meta, &name)?;
            }
            return Ok(());
        };
        let (base, parent) = (*base, parent.to_vec());

        if let Some(hidden) = base.strip_prefix(b".wh.") {
            return self.whiteout(e, &parent, hidden, &name);
        }

        let meta = entry_meta(e, &name)?;
        match kind {
            tar::EntryType::Directory => {
                let exists = self.clear(&parent, base, true, &name)?;
                let dir = self.dir(&parent, &name)?;
                if !exists {
                    rustix::fs::mkdirat(dir, os(base), Mode::from_raw_mode(0o700))
                        .ctx(|| format!("mkdir for entry {name:?}"))?;
                }
                let dirfd = rustix::fs::openat2(
                    dir,
                    os(base),
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                    RESOLVE,
                )
                .map_err(|err| resolve_error(&name, err))?;
                let mut full = parent.clone();
                full.push(base);
                self.set_dir_meta(&dirfd, &full, &meta, &name)?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                self.clear(&parent, base, false, &name)?;
                let size = e.size();
                if let Some(r) = &mut self.rec {
                    let mut full = parent.clone();
                    full.push(base);
                    r.begin_file(join(&full), size);
                }
                let mut buf = std::mem::take(&mut self.buf);
                let dir = self.dir(&parent, &name)?;
                let fd = rustix::fs::openat(
                    dir,
                    os(base),
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .ctx(|| format!("create file for entry {name:?}"))?;
                let mut f = File::from(fd);
                let copied =
                    copy(e, &mut f, &mut buf).ctx(|| format!("write file for entry {name:?}"));
                self.buf = buf;
                if let Some(r) = &self.rec {
                    r.end_file();
                }
                let copied = copied?;
                if copied != size {
                    return Err(Error::BadLayer(format!(
                        "entry {name:?}: file cut short ({copied} of {size} bytes)"
                    )));
                }
                self.content_size += size;
                drop(f);
                self.set_meta(&parent, base, &meta, true, &name)?;
            }
            tar::EntryType::Symlink => {
                let target = e
                    .link_name_bytes()
                    .ok_or_else(|| {
                        Error::BadLayer(format!("entry {name:?}: symlink without target"))
                    })?
                    .into_owned();
                if !symlink_stays_inside(&parent, &target) {
                    return Err(unsafe_entry(
                        &name,
                        &format!(
                            "symlink to {:?} points outside the root",
                            String::from_utf8_lossy(&target)
                        ),
                    ));
                }
                self.clear(&parent, base, false, &name)?;
                let dir = self.dir(&parent, &name)?;
                rustix::fs::symlinkat(os(&target), dir, os(base))
                    .ctx(|| format!("symlink for entry {name:?}"))?;
                // A new symlink can change how cached paths resolve.
                self.cached = None;
                self.set_meta(&parent, base, &meta, false, &name)?;
            }
            tar::EntryType::Link => {
                let target = e
                    .link_name_bytes()
                    .ok_or_else(|| {
                        Error::BadLayer(format!("entry {name:?}: hard link without target"))
                    })?
                    .into_owned();
                let tparts = components(&target, &name)
                    .map_err(|_| unsafe_entry(&name, "hard link target outside the root"))?;
                let Some((tbase, tparent)) = tparts.split_last() else {
                    return Err(unsafe_entry(&name, "hard link to the root"));
                };
                let tdir = self.open_dir(tparent, &name)?;
                self.clear(&parent, base, false, &name)?;
                let dir = self.dir(&parent, &name)?;
                rustix::fs::linkat(&tdir, os(tbase), dir, os(base), AtFlags::empty()).map_err(
                    |err| {
                        if err == Errno::NOENT {
                            Error::BadLayer(format!(
                                "entry {name:?}: hard link target {:?} not found",
                                String::from_utf8_lossy(&target)
                            ))
                        } else {
                            Error::io(format!("link for entry {name:?}"), err.into())
                        }
                    },
                )?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let ft = match kind {
                    tar::EntryType::Char => FileType::CharacterDevice,
                    tar::EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let h = e.header();
                let major = h.device_major().ok().flatten().unwrap_or(0);
                let minor = h.device_minor().ok().flatten().unwrap_or(0);
                self.clear(&parent, base, false, &name)?;
                let dir = self.dir(&parent, &name)?;
                rustix::fs::mknodat(
                    dir,
                    os(base),
                    ft,
                    Mode::from_raw_mode(0o600),
                    rustix::fs::makedev(major, minor),
                )
                .ctx(|| format!("mknod for entry {name:?}"))?;
                self.set_meta(&parent, base, &meta, true, &name)?;
            }
            other => {
                return Err(Error::BadLayer(format!(
                    "entry {name:?}: unsupported tar entry type {other:?}"
                )))
            }
        }
        Ok(())
    }

    fn whiteout<R: Read>(
        &mut self,
        e: &mut tar::Entry<'_, R>,
        parent: &[&[u8]],
        hidden: &[u8],
        name: &str,
    ) -> Result<()> {
        if hidden == b".wh..opq" {
            let dir = self.dir(parent, name)?;
            let p = proc_path(dir, b"");
            rustix::fs::setxattr(
                &p,
                "trusted.overlay.opaque",
                b"y",
                rustix::fs::XattrFlags::empty(),
            )
            .ctx(|| format!("set opaque xattr for entry {name:?}"))?;
            return Ok(());
        }
        if hidden.starts_with(b".wh.") || hidden.is_empty() {
            // aufs bookkeeping (.wh..wh.plnk and friends): not content.
            return Ok(());
        }
        let meta = entry_meta(e, name)?;
        self.clear(parent, hidden, false, name)?;
        let dir = self.dir(parent, name)?;
        rustix::fs::mknodat(
            dir,
            os(hidden),
            FileType::CharacterDevice,
            Mode::empty(),
            rustix::fs::makedev(0, 0),
        )
        .ctx(|| format!("mknod whiteout for entry {name:?}"))?;
        rustix::fs::chownat(
            dir,
            os(hidden),
            Some(rustix::fs::Uid::from_raw(meta.uid)),
            Some(rustix::fs::Gid::from_raw(meta.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .ctx(|| format!("chown whiteout for entry {name:?}"))?;
        Ok(())
    }

    /// Ownership, then mode (chown clears set-id bits), then xattrs (chown
    /// clears security.capability), then times.
    fn set_meta(
        &mut self,
        parent: &[&[u8]],
        base: &[u8],
        m: &Meta,
        chmod: bool,
        name: &str,
    ) -> Result<()> {
        let dir = self.dir(parent, name)?;
        rustix::fs::chownat(
            dir,
            os(base),
            Some(rustix::fs::Uid::from_raw(m.uid)),
            Some(rustix::fs::Gid::from_raw(m.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .ctx(|| format!("chown for entry {name:?}"))?;
        if chmod {
            rustix::fs::chmodat(dir, os(base), Mode::from_raw_mode(m.mode), AtFlags::empty())
                .ctx(|| format!("chmod for entry {name:?}"))?;
        }
        if !m.xattrs.is_empty() {
            let p = proc_path(dir, base);
            for (k, v) in &m.xattrs {
                rustix::fs::lsetxattr(&p, k.as_str(), v, rustix::fs::XattrFlags::empty())
                    .ctx(|| format!("set xattr {k} for entry {name:?}"))?;
            }
        }
        rustix::fs::utimensat(dir, os(base), &times(m), AtFlags::SYMLINK_NOFOLLOW)
            .ctx(|| format!("set times for entry {name:?}"))?;
        Ok(())
    }

    fn set_dir_meta(&mut self, fd: &OwnedFd, full: &[&[u8]], m: &Meta, name: &str) -> Result<()> {
        let p = proc_path(fd.as_fd(), b"");
        rustix::fs::chown(
            &p,
            Some(rustix::fs::Uid::from_raw(m.uid)),
            Some(rustix::fs::Gid::from_raw(m.gid)),
        )
        .ctx(|| format!("chown for entry {name:?}"))?;
        rustix::fs::chmod(&p, Mode::from_raw_mode(m.mode))
            .ctx(|| format!("chmod for entry {name:?}"))?;
        for (k, v) in &m.xattrs {
            rustix::fs::setxattr(&p, k.as_str(), v, rustix::fs::XattrFlags::empty())
                .ctx(|| format!("set xattr {k} for entry {name:?}"))?;
        }
        self.dir_times.push((join(full), times(m)));
        Ok(())
    }

    /// Sets the directory times last, deepest first, since creating
    /// children changed them.
    fn finish(&mut self) -> Result<()> {
        self.cached = None;
        for (path, t) in self.dir_times.iter().rev() {
            let fd = if path.is_empty() {
                rustix::fs::openat(
                    &self.root,
                    ".",
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
            } else {
                rustix::fs::openat2(
                    &self.root,
                    os(path),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                    RESOLVE,
                )
            };
            // A later entry may have replaced the directory; nothing to do then.
            let Ok(fd) = fd else { continue };
            rustix::fs::futimens(&fd, t)
                .ctx(|| format!("set times of directory {:?}", String::from_utf8_lossy(path)))?;
        }
        Ok(())
    }
}

fn times(m: &Meta) -> Timestamps {
    Timestamps {
        last_access: m.atime.unwrap_or(m.mtime),
        last_modification: m.mtime,
    }
}

/// A path naming `name` inside the directory open as `dir`, through procfs:
/// the kernel resolves the directory from the descriptor, not from a path an
/// entry could have tampered with; `name` is a single component.
fn proc_path(dir: BorrowedFd<'_>, name: &[u8]) -> std::path::PathBuf {
    let mut p = std::path::PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    if !name.is_empty() {
        p.push(os(name));
    }
    p
}

fn resolve_error(entry: &str, e: Errno) -> Error {
    match e {
        Errno::XDEV | Errno::LOOP => unsafe_entry(entry, "path leaves the root through a symlink"),
        Errno::NOTDIR => Error::BadLayer(format!("entry {entry:?}: a parent is not a directory")),
        e => Error::io(format!("resolve parent of entry {entry:?}"), e.into()),
    }
}

fn copy(r: &mut impl Read, w: &mut impl Write, buf: &mut [u8]) -> io::Result<u64> {
    let mut n = 0u64;
    loop {
        let k = match r.read(buf) {
            Ok(0) => return Ok(n),
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..k])?;
        n += k as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_refuse_escapes() {
        assert!(components(b"/etc/passwd", "x").is_err());
        assert!(components(b"a/../../b", "x").is_err());
        assert_eq!(
            components(b"./a//b/", "x").unwrap(),
            vec![&b"a"[..], &b"b"[..]]
        );
        assert!(components(b"./", "x").unwrap().is_empty());
    }

    #[test]
    fn symlink_escape_is_lexical() {
        assert!(symlink_stays_inside(&[b"usr", b"bin"], b"../lib/x"));
        assert!(symlink_stays_inside(&[], b"/etc"));
        assert!(!symlink_stays_inside(&[b"a"], b"../../etc"));
        assert!(!symlink_stays_inside(&[], b".."));
    }

    #[test]
    fn pax_times_parse_fractions() {
        let t = pax_time(b"1700000000.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1_700_000_000, 500_000_000));
        assert_eq!(pax_time(b"12").unwrap().tv_nsec, 0);
    }
}
