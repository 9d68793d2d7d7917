//! berth's image store: verified content blobs, overlay snapshots of
//! unpacked layers, and the metadata (images, references, layer reference
//! counts) in one redb database.
//!
//! Layout under the data root:
//! ```text
//! content/blobs/sha256/<hex>     verified blobs (configs, layers as they came)
//! content/ingest/                blobs being written
//! snapshots/overlay/<chain>/fs   one unpacked layer per chain id
//! snapshots/overlay/rw/<key>/    writable snapshots (fs = upper, work)
//! snapshots/overlay/l/<12 hex>   short links to layers, for chains whose full
//!                                lowerdir paths would not fit in a page
//! meta.db                        images, refs, layers, snapshots
//! ```
//!
//! Crash safety: blobs and layer directories are written under temporary
//! names and renamed; they become part of an image only when the metadata
//! transaction that records them commits. [`Store::open`] removes anything
//! that no record accounts for.
#![forbid(unsafe_code)]

pub mod apply;
pub mod content;
pub mod diff;
pub mod error;
pub mod hashio;
pub mod meta;
pub mod snapshot;
pub mod tarsplit;

pub use content::{ContentStore, LocalContent};
pub use error::{Error, Result};
pub use meta::{ImageRecord, LayerRecord, Meta, SnapshotRecord};
pub use snapshot::{Mount, OverlaySnapshotter, Snapshotter};

use berth_base::digest::Digest;
use error::IoContext;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The chain id of a layer given its parent's chain id: docker's
/// `sha256("<parent chain id> <diff id>")`, and the diff id itself at the
/// bottom.
pub fn chain_id(parent: Option<&Digest>, diff_id: &Digest) -> Digest {
    match parent {
        None => diff_id.clone(),
        Some(p) => Digest::of(format!("{p} {diff_id}").as_bytes()),
    }
}

/// The image store under one data root.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    /// Metadata database.
    pub meta: Arc<Meta>,
    /// Content blobs.
    pub content: LocalContent,
    /// Unpacked layers and writable snapshots.
    pub snapshots: OverlaySnapshotter,
}

impl Store {
    /// Opens (creating) the store under `data_root` and cleans up what an
    /// interrupted operation left behind.
    pub fn open(data_root: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_root).ctx(|| format!("create {}", data_root.display()))?;
        let meta = Arc::new(Meta::open(&data_root.join("meta.db"))?);
        let content = LocalContent::open(&data_root.join("content"))?;
        let snapshots =
            OverlaySnapshotter::open(&data_root.join("snapshots/overlay"), meta.clone())?;
        let store = Self {
            root: data_root.to_owned(),
            meta,
            content,
            snapshots,
        };
        store.gc_blobs()?;
        Ok(store)
    }

    /// The data root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Commits a write transaction and removes the directories of layers
    /// that lost their last user.
    pub fn commit(&self, tx: meta::WriteTxn) -> Result<()> {
        let removed = tx.commit()?;
        self.snapshots.remove_layers(&removed);
        Ok(())
    }

    /// Flushes everything written to the data root's filesystem to disk,
    /// before a metadata transaction makes it reachable.
    pub fn sync(&self) -> Result<()> {
        let f = std::fs::File::open(&self.root).ctx(|| format!("open {}", self.root.display()))?;
        rustix::fs::syncfs(&f).ctx(|| format!("syncfs {}", self.root.display()))
    }

    /// Deletes blobs that no image or layer refers to (configs of deleted
    /// images, layers that are gone, leftovers of an interrupted load).
    /// Returns the bytes freed.
    pub fn gc_blobs(&self) -> Result<u64> {
        let r = self.meta.read()?;
        let mut keep: HashSet<String> = r.images()?.into_iter().map(|i| i.id).collect();
        keep.extend(r.layers()?.into_iter().map(|l| l.blob));
        let mut freed = 0;
        for d in self.content.list()? {
            if !keep.contains(&d.to_string()) {
                freed += self.content.size(&d)?.unwrap_or(0);
                self.content.delete(&d)?;
            }
        }
        Ok(freed)
    }
}

impl Store {
    /// The uncompressed tar of a layer, whatever form it is kept in: a
    /// stored blob (decompressed as it is read) or a tar-split record
    /// reassembled with the unpacked directory (checked against the diff id).
    pub fn layer_tar(&self, rec: &LayerRecord) -> Result<Box<dyn std::io::Read>> {
        let blob: Digest = rec
            .blob
            .parse()
            .map_err(|_| Error::InvalidName(rec.blob.clone()))?;
        if rec.media_type == tarsplit::MEDIA_TYPE {
            let record = self.content.read(&blob)?;
            let chain: Digest = rec
                .chain_id
                .parse()
                .map_err(|_| Error::InvalidName(rec.chain_id.clone()))?;
            let diff: Digest = rec
                .diff_id
                .parse()
                .map_err(|_| Error::InvalidName(rec.diff_id.clone()))?;
            let r = tarsplit::reassemble(&record, &self.snapshots.layer_dir(&chain), &diff)?;
            return Ok(Box::new(r));
        }
        let f = self.content.open(&blob)?;
        let (_, plain) = hashio::decompress(f).ctx(|| format!("read layer blob {blob}"))?;
        Ok(plain)
    }

    /// Deletes those of `candidates` (blob digests) that no image or layer
    /// refers to any more. Safe while other loads run: it never touches a
    /// blob it was not given.
    pub fn gc_blobs_among(&self, candidates: &[String]) -> Result<u64> {
        let r = self.meta.read()?;
        let mut keep: HashSet<String> = r.images()?.into_iter().map(|i| i.id).collect();
        keep.extend(r.layers()?.into_iter().map(|l| l.blob));
        let mut freed = 0;
        for c in candidates {
            let Ok(d) = c.parse::<Digest>() else { continue };
            if !keep.contains(c) {
                freed += self.content.size(&d)?.unwrap_or(0);
                self.content.delete(&d)?;
            }
        }
        Ok(freed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_match_docker() {
        let a: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        let b: Digest = format!("sha256:{}", "b".repeat(64)).parse().unwrap();
        assert_eq!(chain_id(None, &a), a);
        assert_eq!(
            chain_id(Some(&a), &b),
            Digest::of(format!("{a} {b}").as_bytes())
        );
    }

    #[test]
    fn overlay_snapshotter_passes_the_suite() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path()).unwrap();
        let register = |chain: &Digest, parent: Option<&Digest>| {
            let mut tx = store.meta.write().unwrap();
            let rec = LayerRecord {
                chain_id: chain.to_string(),
                diff_id: chain.to_string(),
                parent: parent.map(|p| p.to_string()),
                blob: chain.to_string(),
                media_type: String::new(),
                blob_size: 0,
                tar_size: 0,
                size: 0,
                refs: 0,
            };
            tx.add_layer(&rec).unwrap();
            // Pin the layer as an image would, so removing snapshots keeps it.
            tx.inc_layer(&rec.chain_id).unwrap();
            store.commit(tx).unwrap();
        };
        snapshot::testsuite::run(&store.snapshots, &register);
    }

    #[test]
    fn long_chains_mount_through_short_links() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path()).unwrap();
        let mut chain: Vec<Digest> = Vec::new();
        for i in 0..200u32 {
            let staged = store.snapshots.stage().unwrap();
            let id = Digest::of(&i.to_le_bytes());
            store.snapshots.place(staged, &id).unwrap();
            let mut tx = store.meta.write().unwrap();
            tx.add_layer(&LayerRecord {
                chain_id: id.to_string(),
                diff_id: id.to_string(),
                parent: chain.last().map(|p| p.to_string()),
                blob: id.to_string(),
                media_type: String::new(),
                blob_size: 0,
                tar_size: 0,
                size: 0,
                refs: 0,
            })
            .unwrap();
            store.commit(tx).unwrap();
            chain.push(id);
        }
        // 60 layers need the short links, and then fit.
        let m = store.snapshots.prepare("long", Some(&chain[59])).unwrap();
        let len: usize = m[0].options.iter().map(|o| o.len() + 1).sum();
        assert!(len <= 4000, "{len}");
        assert!(m[0].options[0].contains("/l/"));
        store.snapshots.remove("long").unwrap();
        // 200 do not: a clear error, and nothing prepared.
        let err = store.snapshots.prepare("huge", chain.last()).unwrap_err();
        assert!(matches!(err, Error::TooManyLayers(200)), "{err}");
        assert!(store.snapshots.list().unwrap().is_empty());
        // The links of removed layers go with them.
        let mut tx = store.meta.write().unwrap();
        tx.add_snapshot(&SnapshotRecord {
            key: "pin".into(),
            parent: Some(chain[199].to_string()),
        })
        .unwrap();
        store.commit(tx).unwrap();
        store.snapshots.remove("pin").unwrap();
        let links = std::fs::read_dir(d.path().join("snapshots/overlay/l"))
            .unwrap()
            .count();
        assert_eq!(links, 0);
    }

    #[test]
    fn open_removes_unrecorded_leftovers() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path()).unwrap();
        let staged = store.snapshots.stage().unwrap();
        let chain = Digest::of(b"orphan");
        store.snapshots.place(staged, &chain).unwrap();
        let blob = store.content.put(b"orphan blob", None).unwrap();
        drop(store);
        let store = Store::open(d.path()).unwrap();
        assert!(!store.snapshots.has_layer(&chain));
        assert_eq!(store.content.size(&blob).unwrap(), None);
    }
}
