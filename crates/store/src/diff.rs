//! The reverse of [`crate::apply`]: a directory's changes as a layer tar
//! with whiteouts, for commit and build.
//!
//! Two sources: an overlay upper directory (a container's writable layer,
//! where deletions are already 0/0 character devices and opaque
//! directories carry `trusted.overlay.opaque`), and a plain comparison of a
//! new tree against an old one. Entries are written in sorted order, hard
//! links as links to the first path, xattrs as PAX `SCHILY.xattr.` records,
//! so the same tree always gives the same tar and the same diff id.

use crate::error::{IoContext, Result};
use crate::hashio::HashWriter;
use berth_base::digest::Digest;
use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// What a diff wrote.
#[derive(Debug, Clone)]
pub struct DiffStats {
    /// sha256 of the tar: the new layer's diff id.
    pub diff_id: Digest,
    /// Bytes of tar.
    pub tar_size: u64,
}

struct TarOut<W: Write> {
    tar: tar::Builder<HashWriter<W>>,
    /// (dev, inode) of files with several links → first path written.
    links: HashMap<(u64, u64), String>,
}

fn xattrs(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut names = vec![0u8; 4096];
    let Ok(n) = rustix::fs::llistxattr(path, &mut names) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for name in names[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        if name.starts_with("trusted.overlay.") {
            continue;
        }
        let mut v = vec![0u8; 65536];
        if let Ok(k) = rustix::fs::lgetxattr(path, name.as_str(), &mut v) {
            v.truncate(k);
            out.push((name, v));
        }
    }
    out
}

fn is_whiteout(md: &fs::Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

fn is_opaque(path: &Path) -> bool {
    let mut v = [0u8; 2];
    rustix::fs::lgetxattr(path, "trusted.overlay.opaque", &mut v).is_ok_and(|n| &v[..n] == b"y")
}

impl<W: Write> TarOut<W> {
    fn new(w: W) -> Self {
        let mut tar = tar::Builder::new(HashWriter::new(w));
        tar.mode(tar::HeaderMode::Complete);
        tar.follow_symlinks(false);
        Self {
            tar,
            links: HashMap::new(),
        }
    }

    fn ctx(rel: &str) -> impl FnOnce() -> String + '_ {
        move || format!("write layer entry {rel:?}")
    }

    /// Writes one filesystem object found at `path` as `rel`.
    fn entry(&mut self, path: &Path, rel: &str, md: &fs::Metadata) -> Result<()> {
        let ft = md.file_type();
        let mut h = tar::Header::new_gnu();
        h.set_mode(md.mode() & 0o7777);
        h.set_uid(md.uid() as u64);
        h.set_gid(md.gid() as u64);
        h.set_mtime(md.mtime().max(0) as u64);
        h.set_size(0);
        let xa = xattrs(path);
        if !xa.is_empty() {
            let recs: Vec<(String, Vec<u8>)> = xa
                .into_iter()
                .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v))
                .collect();
            self.tar
                .append_pax_extensions(recs.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
                .ctx(Self::ctx(rel))?;
        }
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            let name = format!("{rel}/");
            return self
                .tar
                .append_data(&mut h, name, std::io::empty())
                .ctx(Self::ctx(rel));
        }
        if ft.is_symlink() {
            let target = fs::read_link(path).ctx(|| format!("readlink {}", path.display()))?;
            h.set_entry_type(tar::EntryType::Symlink);
            return self
                .tar
                .append_link(&mut h, rel, target)
                .ctx(Self::ctx(rel));
        }
        if ft.is_file() {
            if md.nlink() > 1 {
                let key = (md.dev(), md.ino());
                if let Some(first) = self.links.get(&key) {
                    h.set_entry_type(tar::EntryType::Link);
                    let first = first.clone();
                    return self.tar.append_link(&mut h, rel, first).ctx(Self::ctx(rel));
                }
                self.links.insert(key, rel.to_owned());
            }
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(md.len());
            let f = fs::File::open(path).ctx(|| format!("open {}", path.display()))?;
            return self.tar.append_data(&mut h, rel, f).ctx(Self::ctx(rel));
        }
        let kind = if ft.is_char_device() {
            tar::EntryType::Char
        } else if ft.is_block_device() {
            tar::EntryType::Block
        } else if ft.is_fifo() {
            tar::EntryType::Fifo
        } else {
            // Sockets have no place in a layer (docker skips them too).
            return Ok(());
        };
        h.set_entry_type(kind);
        let dev = md.rdev();
        h.set_device_major(rustix::fs::major(dev))
            .ctx(Self::ctx(rel))?;
        h.set_device_minor(rustix::fs::minor(dev))
            .ctx(Self::ctx(rel))?;
        self.tar
            .append_data(&mut h, rel, std::io::empty())
            .ctx(Self::ctx(rel))
    }

    /// A whiteout for `rel` (`dir/.wh.name`), or an opaque marker.
    fn marker(&mut self, rel: &str) -> Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(0);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        self.tar
            .append_data(&mut h, rel, std::io::empty())
            .ctx(Self::ctx(rel))
    }

    fn finish(self) -> Result<DiffStats> {
        let hw = self.tar.into_inner().ctx(|| "finish layer tar")?;
        let (diff_id, tar_size, mut w) = hw.finish();
        w.flush().ctx(|| "flush layer tar")?;
        Ok(DiffStats { diff_id, tar_size })
    }
}

fn whiteout_name(rel: &str) -> String {
    match rel.rsplit_once('/') {
        Some((dir, name)) => format!("{dir}/.wh.{name}"),
        None => format!(".wh.{rel}"),
    }
}

fn join(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        name.to_owned()
    } else {
        format!("{rel}/{name}")
    }
}

fn sorted_children(dir: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .ctx(|| format!("read {}", dir.display()))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<_>>()
        .ctx(|| format!("read {}", dir.display()))?;
    names.sort();
    Ok(names)
}

/// Writes an overlay upper directory as a layer tar to `w`.
pub fn write_overlay_diff<W: Write>(upper: &Path, w: W) -> Result<DiffStats> {
    let mut out = TarOut::new(w);
    walk_upper(&mut out, upper, "")?;
    out.finish()
}

fn walk_upper<W: Write>(out: &mut TarOut<W>, dir: &Path, rel: &str) -> Result<()> {
    for name in sorted_children(dir)? {
        let path = dir.join(&name);
        let r = join(rel, &name);
        let md = fs::symlink_metadata(&path).ctx(|| format!("stat {}", path.display()))?;
        if is_whiteout(&md) {
            out.marker(&whiteout_name(&r))?;
            continue;
        }
        out.entry(&path, &r, &md)?;
        if md.is_dir() {
            if is_opaque(&path) {
                out.marker(&format!("{r}/.wh..wh..opq"))?;
            }
            walk_upper(out, &path, &r)?;
        }
    }
    Ok(())
}

/// Writes what changed from the tree `old` to the tree `new` as a layer tar
/// to `w`: new and changed entries (with their parent directories), and a
/// whiteout for each removed one.
pub fn write_dir_diff<W: Write>(old: &Path, new: &Path, w: W) -> Result<DiffStats> {
    let mut changed = BTreeSet::new();
    let mut removed = BTreeSet::new();
    compare(old, new, "", &mut changed, &mut removed)?;
    // Parents of every change go in too, so extraction keeps their metadata.
    let mut all: BTreeSet<String> = BTreeSet::new();
    for c in changed.iter().chain(removed.iter()) {
        let mut p = c.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            all.insert(parent.to_owned());
            p = parent;
        }
    }
    all.extend(changed.iter().cloned());
    let mut out = TarOut::new(w);
    let mut items: Vec<(String, bool)> = all.into_iter().map(|p| (p, false)).collect();
    items.extend(removed.into_iter().map(|p| (p, true)));
    items.sort_by(|a, b| a.0.split('/').cmp(b.0.split('/')));
    for (rel, gone) in items {
        if gone {
            out.marker(&whiteout_name(&rel))?;
        } else {
            let path: PathBuf = new.join(&rel);
            let md = fs::symlink_metadata(&path).ctx(|| format!("stat {}", path.display()))?;
            out.entry(&path, &rel, &md)?;
        }
    }
    out.finish()
}

fn same(a: &fs::Metadata, b: &fs::Metadata, pa: &Path, pb: &Path) -> bool {
    let basic = a.file_type() == b.file_type()
        && a.mode() == b.mode()
        && a.uid() == b.uid()
        && a.gid() == b.gid()
        && a.rdev() == b.rdev();
    if !basic {
        return false;
    }
    if a.is_dir() {
        return true;
    }
    if a.file_type().is_symlink() {
        return fs::read_link(pa).ok() == fs::read_link(pb).ok();
    }
    a.len() == b.len()
        && a.mtime() == b.mtime()
        && a.mtime_nsec() == b.mtime_nsec()
        && xattrs(pa) == xattrs(pb)
}

fn compare(
    old: &Path,
    new: &Path,
    rel: &str,
    changed: &mut BTreeSet<String>,
    removed: &mut BTreeSet<String>,
) -> Result<()> {
    let (o, n) = (old.join(rel), new.join(rel));
    let new_names = sorted_children(&n)?;
    let old_names: BTreeSet<String> = match fs::symlink_metadata(&o) {
        Ok(md) if md.is_dir() => sorted_children(&o)?.into_iter().collect(),
        _ => BTreeSet::new(),
    };
    for name in &old_names {
        if !new_names.contains(name) {
            removed.insert(join(rel, name));
        }
    }
    for name in new_names {
        let r = join(rel, &name);
        let (po, pn) = (old.join(&r), new.join(&r));
        let mn = fs::symlink_metadata(&pn).ctx(|| format!("stat {}", pn.display()))?;
        match fs::symlink_metadata(&po) {
            Ok(mo) if same(&mo, &mn, &po, &pn) => {}
            Ok(mo) if mo.is_dir() != mn.is_dir() => {
                // A type change hides the whole old entry.
                removed.insert(r.clone());
                changed.insert(r.clone());
            }
            _ => {
                changed.insert(r.clone());
            }
        }
        if mn.is_dir() {
            compare(old, new, &r, changed, removed)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::apply_layer;

    fn tree(root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
            for e in fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                let md = fs::symlink_metadata(&p).unwrap();
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                let what = if md.is_dir() {
                    "dir".to_string()
                } else if md.file_type().is_symlink() {
                    format!("-> {}", fs::read_link(&p).unwrap().display())
                } else if is_whiteout(&md) {
                    "whiteout".to_string()
                } else {
                    format!(
                        "{:o} {}",
                        md.mode() & 0o7777,
                        fs::read_to_string(&p).unwrap_or_default()
                    )
                };
                out.push(format!(
                    "{rel} {what} nlink={}",
                    if md.is_dir() { 0 } else { md.nlink() }
                ));
                if md.is_dir() {
                    walk(root, &p, out);
                }
            }
        }
        walk(root, root, &mut out);
        out.sort();
        out
    }

    #[test]
    fn overlay_upper_round_trips_through_apply() {
        if !berth_base::testenv::require(
            berth_base::testenv::is_root(),
            "whiteouts need mknod (root)",
        ) {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let upper = d.path().join("upper");
        fs::create_dir_all(upper.join("etc/conf.d")).unwrap();
        fs::write(upper.join("etc/conf.d/a"), "a").unwrap();
        fs::hard_link(upper.join("etc/conf.d/a"), upper.join("etc/a-link")).unwrap();
        std::os::unix::fs::symlink("conf.d/a", upper.join("etc/sym")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            upper.join("etc/deleted"),
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::empty(),
            0,
        )
        .unwrap();
        rustix::fs::setxattr(
            upper.join("etc/conf.d"),
            "trusted.overlay.opaque",
            b"y",
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
        let mut tar = Vec::new();
        let stats = write_overlay_diff(&upper, &mut tar).unwrap();
        assert_eq!(stats.diff_id, Digest::of(&tar));
        let names: Vec<String> = tar::Archive::new(&tar[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert!(names.contains(&"etc/.wh.deleted".to_string()), "{names:?}");
        assert!(
            names.contains(&"etc/conf.d/.wh..wh..opq".to_string()),
            "{names:?}"
        );
        let again = d.path().join("again");
        fs::create_dir(&again).unwrap();
        let applied = apply_layer(&tar[..], &again).unwrap();
        assert_eq!(applied.diff_id, stats.diff_id);
        assert_eq!(tree(&again), tree(&upper));
        assert!(is_opaque(&again.join("etc/conf.d")));
        // The same tree gives the same tar.
        let mut tar2 = Vec::new();
        assert_eq!(
            write_overlay_diff(&upper, &mut tar2).unwrap().diff_id,
            stats.diff_id
        );
    }

    #[test]
    fn dir_diff_has_changes_and_whiteouts() {
        let d = tempfile::tempdir().unwrap();
        let (old, new) = (d.path().join("old"), d.path().join("new"));
        for t in [&old, &new] {
            fs::create_dir_all(t.join("keep/sub")).unwrap();
            fs::write(t.join("keep/same"), "same").unwrap();
        }
        let same_time = fs::metadata(old.join("keep/same"))
            .unwrap()
            .modified()
            .unwrap();
        fs::File::options()
            .write(true)
            .open(new.join("keep/same"))
            .unwrap()
            .set_modified(same_time)
            .unwrap();
        fs::write(old.join("keep/sub/gone"), "x").unwrap();
        fs::create_dir(old.join("olddir")).unwrap();
        fs::write(old.join("olddir/inner"), "x").unwrap();
        fs::write(new.join("keep/sub/added"), "new").unwrap();
        let mut tar = Vec::new();
        write_dir_diff(&old, &new, &mut tar).unwrap();
        let names: Vec<String> = tar::Archive::new(&tar[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "keep/",
                "keep/sub/",
                "keep/sub/added",
                "keep/sub/.wh.gone",
                ".wh.olddir"
            ]
        );
    }
}
