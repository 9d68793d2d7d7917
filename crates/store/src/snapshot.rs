//! The overlay snapshotter. Committed layers live in
//! `<root>/<chain-id hex>/fs`, unpacked once and shared by every image that
//! has them; active snapshots (containers' writable layers) live in
//! `<root>/rw/<key>/{fs,work}`. The snapshotter never mounts anything: it
//! returns the mounts, and the caller performs them where they are needed
//! (STYLE.md rule 9).

use crate::error::{Error, IoContext, Result};
use crate::meta::{Meta, SnapshotRecord};
use berth_base::digest::Digest;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A mount to perform, as `mount -t <kind> <source> <target> -o <options>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Filesystem type: `overlay` or `bind`.
    pub kind: String,
    /// Mount source.
    pub source: String,
    /// Mount options.
    pub options: Vec<String>,
}

/// An active snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The key it was prepared under.
    pub key: String,
    /// The chain id of the layer below.
    pub parent: Option<Digest>,
}

/// A directory being filled with an unpacked layer; removed on drop unless
/// placed.
#[derive(Debug)]
pub struct StagedLayer {
    dir: PathBuf,
    placed: bool,
}

impl StagedLayer {
    /// The directory to unpack into.
    pub fn fs(&self) -> PathBuf {
        self.dir.join("fs")
    }
}

impl Drop for StagedLayer {
    fn drop(&mut self) {
        if !self.placed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Layers by chain id, and writable snapshots on top of them.
pub trait Snapshotter: Send + Sync {
    /// A new empty directory to unpack a layer into.
    fn stage(&self) -> Result<StagedLayer>;
    /// Moves a staged layer into place as `chain_id`. It becomes live when a
    /// metadata transaction records it; until then the startup cleanup
    /// removes it. If the layer is already there, the staged copy is dropped.
    fn place(&self, staged: StagedLayer, chain_id: &Digest) -> Result<()>;
    /// Whether the directory of a committed layer exists.
    fn has_layer(&self, chain_id: &Digest) -> bool;
    /// The unpacked directory of a committed layer.
    fn layer_dir(&self, chain_id: &Digest) -> PathBuf;
    /// Creates a writable snapshot `key` on top of the committed layer
    /// `parent` (or empty) and returns the mounts that make its root. Its
    /// record reaches the disk in the background: a crash before may lose
    /// the (still empty) snapshot, never what was written into it, as
    /// [`Snapshotter::mounts`] and [`Snapshotter::upper_dir`] wait for it.
    fn prepare(&self, key: &str, parent: Option<&Digest>) -> Result<Vec<Mount>>;
    /// The mounts of an active snapshot, its record on disk.
    fn mounts(&self, key: &str) -> Result<Vec<Mount>>;
    /// The writable directory of an active snapshot (its overlay upper
    /// dir), its record on disk.
    fn upper_dir(&self, key: &str) -> Result<PathBuf>;
    /// Removes an active snapshot; its layers go if nothing else uses them.
    fn remove(&self, key: &str) -> Result<()>;
    /// All active snapshots.
    fn list(&self) -> Result<Vec<SnapshotInfo>>;
    /// Removes the directories of layers whose records are gone.
    fn remove_layers(&self, chain_ids: &[String]);
}

/// The overlayfs implementation of [`Snapshotter`].
#[derive(Debug)]
pub struct OverlaySnapshotter {
    root: PathBuf,
    meta: Arc<Meta>,
}

fn check_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.len() <= 128
        && key != "."
        && key != ".."
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName(key.to_owned()))
    }
}

impl OverlaySnapshotter {
    /// Opens the snapshotter under `root` (normally
    /// `<data-root>/snapshots/overlay`), removing directories that no record
    /// accounts for: half-unpacked layers and leftovers of a crash.
    pub fn open(root: &Path, meta: Arc<Meta>) -> Result<Self> {
        for d in [root.join("rw"), root.join("l")] {
            fs::create_dir_all(&d).ctx(|| format!("create {}", d.display()))?;
        }
        let s = Self {
            root: root.to_owned(),
            meta,
        };
        s.cleanup()?;
        Ok(s)
    }

    fn cleanup(&self) -> Result<()> {
        let r = self.meta.read()?;
        let layers: std::collections::HashSet<String> = r
            .layers()?
            .into_iter()
            .map(|l| l.chain_id.trim_start_matches("sha256:").to_owned())
            .collect();
        let snaps: std::collections::HashSet<String> =
            r.snapshots()?.into_iter().map(|s| s.key).collect();
        for (dir, keep) in [(self.root.clone(), &layers), (self.root.join("rw"), &snaps)] {
            for ent in fs::read_dir(&dir).ctx(|| format!("read {}", dir.display()))? {
                let ent = ent.ctx(|| format!("read {}", dir.display()))?;
                let name = ent.file_name().to_string_lossy().into_owned();
                if (dir == self.root && (name == "rw" || name == "l")) || keep.contains(&name) {
                    continue;
                }
                tracing::info!(path = %ent.path().display(), "removing leftover snapshot directory");
                remove_tree(&ent.path())?;
            }
        }
        // Short links whose layer is gone.
        let links = self.root.join("l");
        for ent in fs::read_dir(&links).ctx(|| format!("read {}", links.display()))? {
            let ent = ent.ctx(|| format!("read {}", links.display()))?;
            if fs::metadata(ent.path()).is_err() {
                let _ = fs::remove_file(ent.path());
            }
        }
        Ok(())
    }

    /// A short path to a layer's directory (`l/<12 hex>`, a symlink), so
    /// that long chains fit in the one page the mount options may take.
    fn short_link(&self, d: &Digest) -> Result<PathBuf> {
        let link = self.root.join("l").join(&d.hex()[..12]);
        match std::os::unix::fs::symlink(Path::new("..").join(d.hex()).join("fs"), &link) {
            Ok(()) => Ok(link),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(link),
            Err(e) => Err(Error::io(format!("symlink {}", link.display()), e)),
        }
    }

    fn rw_dir(&self, key: &str) -> PathBuf {
        self.root.join("rw").join(key)
    }

    fn mounts_for(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>> {
        let dir = self.rw_dir(key);
        let upper = dir.join("fs");
        let Some(parent) = parent else {
            return Ok(vec![Mount {
                kind: "bind".into(),
                source: upper.display().to_string(),
                options: vec!["rbind".into(), "rw".into()],
            }]);
        };
        let r = self.meta.read()?;
        let mut chain = Vec::new();
        let mut next = Some(parent.to_owned());
        while let Some(id) = next.take() {
            let rec = r
                .layer(&id)?
                .ok_or_else(|| Error::SnapshotNotFound(id.clone()))?;
            let d: Digest = rec
                .chain_id
                .parse()
                .map_err(|_| Error::InvalidName(rec.chain_id.clone()))?;
            chain.push(d);
            next = rec.parent;
        }
        let options = |lowers: Vec<String>| {
            vec![
                format!("lowerdir={}", lowers.join(":")),
                format!("upperdir={}", upper.display()),
                format!("workdir={}", dir.join("work").display()),
            ]
        };
        let len = |o: &[String]| o.iter().map(|s| s.len() + 1).sum::<usize>();
        let mut opts = options(
            chain
                .iter()
                .map(|d| self.layer_dir(d).display().to_string())
                .collect(),
        );
        if len(&opts) > MAX_MOUNT_DATA {
            let short: Vec<String> = chain
                .iter()
                .map(|d| self.short_link(d).map(|p| p.display().to_string()))
                .collect::<Result<_>>()?;
            opts = options(short);
            if len(&opts) > MAX_MOUNT_DATA {
                return Err(Error::TooManyLayers(chain.len()));
            }
        }
        Ok(vec![Mount {
            kind: "overlay".into(),
            source: "overlay".into(),
            options: opts,
        }])
    }
}

/// The mount options of an overlay must fit in one page with the
/// separators and the terminating NUL; keep some room for flags the caller
/// adds.
const MAX_MOUNT_DATA: usize = 4000;

fn remove_tree(p: &Path) -> Result<()> {
    match fs::remove_dir_all(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("remove {}", p.display()), e)),
    }
}

impl Snapshotter for OverlaySnapshotter {
    fn stage(&self) -> Result<StagedLayer> {
        let name = berth_base::id::random_id().ctx(|| "random staging name")?;
        let dir = self.root.join(format!("tmp-{}", &name[..16]));
        fs::create_dir_all(dir.join("fs")).ctx(|| format!("create {}", dir.display()))?;
        Ok(StagedLayer { dir, placed: false })
    }

    fn place(&self, mut staged: StagedLayer, chain_id: &Digest) -> Result<()> {
        let dest = self.root.join(chain_id.hex());
        if dest.exists() {
            return Ok(());
        }
        fs::rename(&staged.dir, &dest)
            .ctx(|| format!("rename {} to {}", staged.dir.display(), dest.display()))?;
        staged.placed = true;
        Ok(())
    }

    fn has_layer(&self, chain_id: &Digest) -> bool {
        self.layer_dir(chain_id).is_dir()
    }

    fn layer_dir(&self, chain_id: &Digest) -> PathBuf {
        self.root.join(chain_id.hex()).join("fs")
    }

    fn prepare(&self, key: &str, parent: Option<&Digest>) -> Result<Vec<Mount>> {
        check_key(key)?;
        let parent = parent.map(|p| p.to_string());
        let mut tx = self.meta.write()?;
        tx.add_snapshot(&SnapshotRecord {
            key: key.to_owned(),
            parent: parent.clone(),
        })?;
        let dir = self.rw_dir(key);
        for d in [dir.join("fs"), dir.join("work")] {
            fs::create_dir_all(&d).ctx(|| format!("create {}", d.display()))?;
        }
        let mounts = match self.mounts_for(key, parent.as_deref()) {
            Ok(m) => m,
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        if let Err(e) = self.meta.commit_lazy(tx) {
            let _ = fs::remove_dir_all(&dir);
            return Err(e);
        }
        // The fsync goes on while the caller (a container's create) goes
        // on; its start waits for it in `mounts`.
        let meta = Arc::clone(&self.meta);
        let flush = move || {
            if let Err(e) = meta.make_durable() {
                tracing::warn!(error = %e, "write the metadata to disk");
            }
        };
        if std::thread::Builder::new()
            .name("meta-flush".into())
            .spawn(flush.clone())
            .is_err()
        {
            flush();
        }
        Ok(mounts)
    }

    fn mounts(&self, key: &str) -> Result<Vec<Mount>> {
        check_key(key)?;
        self.meta.make_durable()?;
        let rec = self
            .meta
            .read()?
            .snapshot(key)?
            .ok_or_else(|| Error::SnapshotNotFound(key.to_owned()))?;
        self.mounts_for(key, rec.parent.as_deref())
    }

    fn upper_dir(&self, key: &str) -> Result<PathBuf> {
        check_key(key)?;
        self.meta.make_durable()?;
        if self.meta.read()?.snapshot(key)?.is_none() {
            return Err(Error::SnapshotNotFound(key.to_owned()));
        }
        Ok(self.rw_dir(key).join("fs"))
    }

    fn remove(&self, key: &str) -> Result<()> {
        check_key(key)?;
        let mut tx = self.meta.write()?;
        tx.delete_snapshot(key)?;
        let removed = tx.commit()?;
        remove_tree(&self.rw_dir(key))?;
        self.remove_layers(&removed);
        Ok(())
    }

    fn list(&self) -> Result<Vec<SnapshotInfo>> {
        Ok(self
            .meta
            .read()?
            .snapshots()?
            .into_iter()
            .map(|s| SnapshotInfo {
                key: s.key,
                parent: s.parent.and_then(|p| p.parse().ok()),
            })
            .collect())
    }

    fn remove_layers(&self, chain_ids: &[String]) {
        for id in chain_ids {
            let hex = id.trim_start_matches("sha256:");
            if let Some(short) = hex.get(..12) {
                let _ = fs::remove_file(self.root.join("l").join(short));
            }
            let dir = self.root.join(hex);
            if let Err(e) = remove_tree(&dir) {
                // The startup cleanup retries what is left.
                tracing::warn!(error = %e, "removing layer directory");
            }
        }
    }
}

/// The conformance suite every [`Snapshotter`] passes.
pub mod testsuite {
    use super::*;

    /// Records a placed layer in the metadata, as a load would.
    pub type Register<'a> = &'a dyn Fn(&Digest, Option<&Digest>);

    /// Runs every check. `register` records a layer the suite placed.
    pub fn run(s: &dyn Snapshotter, register: Register<'_>) {
        let base = layer(s, register, None, "base");
        let top = layer(s, register, Some(&base), "top");
        prepare_without_parent(s);
        prepare_lists_lowers_top_first(s, &base, &top);
        keys_are_unique_and_checked(s, &top);
        staged_layer_vanishes_on_drop(s);
    }

    fn layer(
        s: &dyn Snapshotter,
        register: Register<'_>,
        parent: Option<&Digest>,
        name: &str,
    ) -> Digest {
        let staged = s.stage().expect("stage");
        fs::write(staged.fs().join(name), name).expect("write layer file");
        let chain = Digest::of(name.as_bytes());
        s.place(staged, &chain).expect("place");
        register(&chain, parent);
        assert!(s.has_layer(&chain));
        chain
    }

    fn prepare_without_parent(s: &dyn Snapshotter) {
        let m = s.prepare("empty", None).expect("prepare");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].kind, "bind");
        assert!(s.upper_dir("empty").expect("upper").is_dir());
        s.remove("empty").expect("remove");
        assert!(matches!(s.mounts("empty"), Err(Error::SnapshotNotFound(_))));
    }

    fn prepare_lists_lowers_top_first(s: &dyn Snapshotter, base: &Digest, top: &Digest) {
        let m = s.prepare("ctr-1", Some(top)).expect("prepare");
        assert_eq!(m[0].kind, "overlay");
        let want = format!(
            "lowerdir={}:{}",
            s.layer_dir(top).display(),
            s.layer_dir(base).display()
        );
        assert!(m[0].options.contains(&want), "{:?}", m[0].options);
        assert_eq!(s.mounts("ctr-1").expect("mounts"), m);
        assert_eq!(s.list().expect("list").len(), 1);
        s.remove("ctr-1").expect("remove");
        assert!(s.list().expect("list").is_empty());
    }

    fn keys_are_unique_and_checked(s: &dyn Snapshotter, top: &Digest) {
        s.prepare("dup", Some(top)).expect("prepare");
        assert!(matches!(
            s.prepare("dup", Some(top)),
            Err(Error::SnapshotExists(_))
        ));
        s.remove("dup").expect("remove");
        for bad in ["", "../x", "a/b", ".."] {
            assert!(
                matches!(s.prepare(bad, None), Err(Error::InvalidName(_))),
                "{bad}"
            );
        }
        let missing = Digest::of(b"no such layer");
        assert!(s.prepare("orphan", Some(&missing)).is_err());
        assert!(s.list().expect("list").is_empty());
    }

    fn staged_layer_vanishes_on_drop(s: &dyn Snapshotter) {
        let staged = s.stage().expect("stage");
        let dir = staged.fs();
        assert!(dir.is_dir());
        drop(staged);
        assert!(!dir.exists());
    }
}
