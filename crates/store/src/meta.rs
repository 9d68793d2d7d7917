//! Metadata in one redb database (`meta.db`): images, the reference index,
//! layers with their reference counts, and active (container) snapshots.
//!
//! Records are JSON values under string keys. Everything an operation
//! changes goes into one write transaction, so a crash leaves either all of
//! it or none of it.
//!
//! Layer reference counts form a tree: a layer is referenced by each image
//! whose top layer it is, by each layer whose parent it is, and by each
//! active snapshot made on it. When a count drops to zero the layer goes,
//! and its parent loses one reference.

use crate::error::{Error, Result};
use redb::{ReadableTable, TableDefinition};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

const IMAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("images");
const REFS: TableDefinition<&str, &str> = TableDefinition::new("refs");
const LAYERS: TableDefinition<&str, &[u8]> = TableDefinition::new("layers");
const SNAPSHOTS: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshots");

/// A committed layer: an unpacked directory named by its chain id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LayerRecord {
    /// `sha256:` chain id (the key).
    pub chain_id: String,
    /// `sha256:` of the uncompressed tar.
    pub diff_id: String,
    /// Chain id of the layer below, if any.
    pub parent: Option<String>,
    /// Digest of the layer blob in the content store, as it came.
    pub blob: String,
    /// OCI media type of that blob (tells its compression).
    pub media_type: String,
    /// Size of the stored blob.
    pub blob_size: u64,
    /// Size of the uncompressed tar stream.
    pub tar_size: u64,
    /// Bytes of regular files in the layer.
    pub size: u64,
    /// Users: images on top of it, child layers, snapshots.
    #[serde(default)]
    pub refs: u64,
}

/// An image: a config blob plus its layers and names.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ImageRecord {
    /// `sha256:` digest of the config blob: the image id.
    pub id: String,
    /// Chain ids, bottom first.
    pub layers: Vec<String>,
    /// Total unpacked size of the layers.
    pub size: u64,
    /// The config's `created`, as written there.
    pub created: String,
    /// `created` as Unix seconds, for listing and filters.
    pub created_unix: i64,
    /// The config's labels, for listing and filters.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `name@sha256:...` of manifests this image was pulled or loaded by.
    #[serde(default)]
    pub repo_digests: Vec<String>,
    /// The parent image id (local builds and commits only).
    #[serde(default)]
    pub parent: String,
    /// When a tag last moved onto this image (RFC 3339), if ever.
    #[serde(default)]
    pub last_tag_time: Option<String>,
}

/// An active snapshot (a container's writable layer).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SnapshotRecord {
    /// The snapshot key.
    pub key: String,
    /// Chain id of the layer it sits on.
    pub parent: Option<String>,
}

fn hexkey(id: &str) -> &str {
    id.strip_prefix("sha256:").unwrap_or(id)
}

fn decode<T: DeserializeOwned>(key: &str, v: &[u8]) -> Result<T> {
    serde_json::from_slice(v).map_err(|source| Error::Record {
        key: key.to_owned(),
        source,
    })
}

fn encode<T: Serialize>(key: &str, v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|source| Error::Record {
        key: key.to_owned(),
        source,
    })
}

fn get<T: DeserializeOwned>(
    t: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<Option<T>> {
    match t.get(key).map_err(|e| Error::db(format!("get {key}"), e))? {
        Some(v) => Ok(Some(decode(key, v.value())?)),
        None => Ok(None),
    }
}

fn all<T: DeserializeOwned>(
    t: &impl ReadableTable<&'static str, &'static [u8]>,
    what: &str,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for item in t.iter().map_err(|e| Error::db(format!("list {what}"), e))? {
        let (k, v) = item.map_err(|e| Error::db(format!("list {what}"), e))?;
        out.push(decode(k.value(), v.value())?);
    }
    Ok(out)
}

fn all_refs(t: &impl ReadableTable<&'static str, &'static str>) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for item in t.iter().map_err(|e| Error::db("list refs", e))? {
        let (k, v) = item.map_err(|e| Error::db("list refs", e))?;
        out.push((k.value().to_owned(), format!("sha256:{}", v.value())));
    }
    Ok(out)
}

/// The metadata database.
pub struct Meta {
    db: redb::Database,
    lazy: std::sync::Mutex<Lazy>,
}

/// How many lazy commits were made, and how many of them are known to be
/// on disk.
#[derive(Default)]
struct Lazy {
    committed: u64,
    durable: u64,
}

impl std::fmt::Debug for Meta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Meta")
    }
}

impl Meta {
    /// Opens (creating) the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let db = redb::Database::create(path)
            .map_err(|e| Error::db(format!("open {}", path.display()), e))?;
        let tx = db.begin_write().map_err(|e| Error::db("begin", e))?;
        tx.open_table(IMAGES)
            .map_err(|e| Error::db("create images", e))?;
        tx.open_table(REFS)
            .map_err(|e| Error::db("create refs", e))?;
        tx.open_table(LAYERS)
            .map_err(|e| Error::db("create layers", e))?;
        tx.open_table(SNAPSHOTS)
            .map_err(|e| Error::db("create snapshots", e))?;
        tx.commit().map_err(|e| Error::db("commit", e))?;
        Ok(Self {
            db,
            lazy: std::sync::Mutex::default(),
        })
    }

    /// Commits `tx` without waiting for the disk: the change is seen at
    /// once and is on disk after the next [`Meta::make_durable`] (or any
    /// other commit). A crash before that loses it, so what must not be
    /// lost with it waits for `make_durable` first.
    pub fn commit_lazy(&self, mut tx: WriteTxn) -> Result<Vec<String>> {
        tx.tx.set_durability(redb::Durability::None);
        let removed = tx.commit()?;
        // Counted after the commit: a `make_durable` that reads the count
        // first may then count this one as not yet durable, never the
        // reverse.
        self.lazy().committed += 1;
        Ok(removed)
    }

    /// Puts every lazy commit made so far on disk (one empty durable
    /// commit, which writers being serialised places after them).
    pub fn make_durable(&self) -> Result<()> {
        let target = {
            let l = self.lazy();
            if l.durable >= l.committed {
                return Ok(());
            }
            l.committed
        };
        self.write()?.commit()?;
        let mut l = self.lazy();
        l.durable = l.durable.max(target);
        Ok(())
    }

    fn lazy(&self) -> std::sync::MutexGuard<'_, Lazy> {
        self.lazy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A consistent read-only view.
    pub fn read(&self) -> Result<ReadTxn> {
        Ok(ReadTxn {
            tx: self
                .db
                .begin_read()
                .map_err(|e| Error::db("begin read", e))?,
        })
    }

    /// A write transaction. Writers are serialised by the database.
    pub fn write(&self) -> Result<WriteTxn> {
        Ok(WriteTxn {
            tx: self
                .db
                .begin_write()
                .map_err(|e| Error::db("begin write", e))?,
            removed: Vec::new(),
        })
    }
}

/// A read-only view of the metadata.
pub struct ReadTxn {
    tx: redb::ReadTransaction,
}

macro_rules! table {
    ($tx:expr, $def:expr, $what:literal) => {
        $tx.open_table($def)
            .map_err(|e| Error::db(concat!("open ", $what), e))?
    };
}

impl ReadTxn {
    /// All images.
    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        all(&table!(self.tx, IMAGES, "images"), "images")
    }

    /// One image by full id.
    pub fn image(&self, id: &str) -> Result<Option<ImageRecord>> {
        get(&table!(self.tx, IMAGES, "images"), hexkey(id))
    }

    /// All references as (full name, image id).
    pub fn refs(&self) -> Result<Vec<(String, String)>> {
        all_refs(&table!(self.tx, REFS, "refs"))
    }

    /// The image a reference points at.
    pub fn resolve_ref(&self, name: &str) -> Result<Option<String>> {
        let t = table!(self.tx, REFS, "refs");
        let v = t
            .get(name)
            .map_err(|e| Error::db(format!("get ref {name}"), e))?;
        Ok(v.map(|v| format!("sha256:{}", v.value())))
    }

    /// One layer by chain id.
    pub fn layer(&self, chain_id: &str) -> Result<Option<LayerRecord>> {
        get(&table!(self.tx, LAYERS, "layers"), hexkey(chain_id))
    }

    /// All layers.
    pub fn layers(&self) -> Result<Vec<LayerRecord>> {
        all(&table!(self.tx, LAYERS, "layers"), "layers")
    }

    /// All active snapshots.
    pub fn snapshots(&self) -> Result<Vec<SnapshotRecord>> {
        all(&table!(self.tx, SNAPSHOTS, "snapshots"), "snapshots")
    }

    /// One active snapshot.
    pub fn snapshot(&self, key: &str) -> Result<Option<SnapshotRecord>> {
        get(&table!(self.tx, SNAPSHOTS, "snapshots"), key)
    }
}

/// A write transaction. Dropping it without [`WriteTxn::commit`] changes nothing.
pub struct WriteTxn {
    tx: redb::WriteTransaction,
    removed: Vec<String>,
}

impl WriteTxn {
    /// One image by full id.
    pub fn image(&self, id: &str) -> Result<Option<ImageRecord>> {
        get(&table!(self.tx, IMAGES, "images"), hexkey(id))
    }

    /// All images.
    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        all(&table!(self.tx, IMAGES, "images"), "images")
    }

    /// Adds or replaces an image record. A new image takes a reference on
    /// its top layer; the caller adds layers first.
    pub fn put_image(&mut self, rec: &ImageRecord) -> Result<()> {
        let key = hexkey(&rec.id).to_owned();
        let existed = self.image(&rec.id)?.is_some();
        let v = encode(&key, rec)?;
        table!(self.tx, IMAGES, "images")
            .insert(key.as_str(), v.as_slice())
            .map_err(|e| Error::db(format!("put image {key}"), e))?;
        if !existed {
            if let Some(top) = rec.layers.last() {
                self.inc_layer(top)?;
            }
        }
        Ok(())
    }

    /// Removes an image record and drops its reference on its top layer.
    /// References pointing at it must be removed by the caller.
    pub fn delete_image(&mut self, id: &str) -> Result<Option<ImageRecord>> {
        let rec: Option<ImageRecord> = self.image(id)?;
        if let Some(rec) = &rec {
            table!(self.tx, IMAGES, "images")
                .remove(hexkey(id))
                .map_err(|e| Error::db(format!("delete image {id}"), e))?;
            if let Some(top) = rec.layers.last() {
                self.dec_layer(top)?;
            }
        }
        Ok(rec)
    }

    /// All references as (full name, image id).
    pub fn refs(&self) -> Result<Vec<(String, String)>> {
        all_refs(&table!(self.tx, REFS, "refs"))
    }

    /// Points `name` at image `id`; returns the image it pointed at before.
    pub fn set_ref(&mut self, name: &str, id: &str) -> Result<Option<String>> {
        let mut t = table!(self.tx, REFS, "refs");
        let old = t
            .insert(name, hexkey(id))
            .map_err(|e| Error::db(format!("set ref {name}"), e))?;
        Ok(old.map(|v| format!("sha256:{}", v.value())))
    }

    /// Removes a reference; returns the image it pointed at.
    pub fn delete_ref(&mut self, name: &str) -> Result<Option<String>> {
        let mut t = table!(self.tx, REFS, "refs");
        let old = t
            .remove(name)
            .map_err(|e| Error::db(format!("delete ref {name}"), e))?;
        Ok(old.map(|v| format!("sha256:{}", v.value())))
    }

    /// One layer by chain id.
    pub fn layer(&self, chain_id: &str) -> Result<Option<LayerRecord>> {
        get(&table!(self.tx, LAYERS, "layers"), hexkey(chain_id))
    }

    fn put_layer(&mut self, rec: &LayerRecord) -> Result<()> {
        let key = hexkey(&rec.chain_id).to_owned();
        let v = encode(&key, rec)?;
        table!(self.tx, LAYERS, "layers")
            .insert(key.as_str(), v.as_slice())
            .map_err(|e| Error::db(format!("put layer {key}"), e))?;
        Ok(())
    }

    /// Records a new layer (with no users yet) on top of its parent, which
    /// gains a reference. Its directory must already be in place.
    pub fn add_layer(&mut self, rec: &LayerRecord) -> Result<()> {
        if self.layer(&rec.chain_id)?.is_some() {
            return Ok(());
        }
        let mut rec = rec.clone();
        rec.refs = 0;
        self.put_layer(&rec)?;
        if let Some(p) = &rec.parent {
            self.inc_layer(p)?;
        }
        Ok(())
    }

    /// Adds a reference to a layer.
    pub fn inc_layer(&mut self, chain_id: &str) -> Result<()> {
        let mut rec = self
            .layer(chain_id)?
            .ok_or_else(|| Error::SnapshotNotFound(chain_id.to_owned()))?;
        rec.refs += 1;
        self.put_layer(&rec)
    }

    /// Drops a reference to a layer; at zero the layer is removed and its
    /// parent loses a reference in turn.
    pub fn dec_layer(&mut self, chain_id: &str) -> Result<()> {
        let mut next = Some(chain_id.to_owned());
        while let Some(id) = next.take() {
            let mut rec = self
                .layer(&id)?
                .ok_or_else(|| Error::SnapshotNotFound(id.clone()))?;
            rec.refs = rec.refs.saturating_sub(1);
            if rec.refs > 0 {
                self.put_layer(&rec)?;
                break;
            }
            table!(self.tx, LAYERS, "layers")
                .remove(hexkey(&id))
                .map_err(|e| Error::db(format!("delete layer {id}"), e))?;
            self.removed.push(rec.chain_id.clone());
            next = rec.parent;
        }
        Ok(())
    }

    /// One active snapshot.
    pub fn snapshot(&self, key: &str) -> Result<Option<SnapshotRecord>> {
        get(&table!(self.tx, SNAPSHOTS, "snapshots"), key)
    }

    /// Records an active snapshot; its parent layer gains a reference.
    pub fn add_snapshot(&mut self, rec: &SnapshotRecord) -> Result<()> {
        if self.snapshot(&rec.key)?.is_some() {
            return Err(Error::SnapshotExists(rec.key.clone()));
        }
        let v = encode(&rec.key, rec)?;
        table!(self.tx, SNAPSHOTS, "snapshots")
            .insert(rec.key.as_str(), v.as_slice())
            .map_err(|e| Error::db(format!("put snapshot {}", rec.key), e))?;
        if let Some(p) = &rec.parent {
            self.inc_layer(p)?;
        }
        Ok(())
    }

    /// Removes an active snapshot; its parent layer loses a reference.
    pub fn delete_snapshot(&mut self, key: &str) -> Result<SnapshotRecord> {
        let rec = self
            .snapshot(key)?
            .ok_or_else(|| Error::SnapshotNotFound(key.to_owned()))?;
        table!(self.tx, SNAPSHOTS, "snapshots")
            .remove(key)
            .map_err(|e| Error::db(format!("delete snapshot {key}"), e))?;
        if let Some(p) = &rec.parent {
            self.dec_layer(p)?;
        }
        Ok(rec)
    }

    /// Commits; returns the chain ids of layers that lost their last user,
    /// whose directories the caller removes.
    pub fn commit(self) -> Result<Vec<String>> {
        self.tx.commit().map_err(|e| Error::db("commit", e))?;
        Ok(self.removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(chain: &str, parent: Option<&str>) -> LayerRecord {
        LayerRecord {
            chain_id: chain.into(),
            diff_id: chain.into(),
            parent: parent.map(Into::into),
            blob: chain.into(),
            media_type: String::new(),
            blob_size: 0,
            tar_size: 0,
            size: 0,
            refs: 0,
        }
    }

    #[test]
    fn a_lazy_commit_is_seen_at_once_and_kept_once_made_durable() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("meta.db");
        let m = Meta::open(&path).unwrap();
        let mut tx = m.write().unwrap();
        tx.add_layer(&layer("sha256:a", None)).unwrap();
        m.commit_lazy(tx).unwrap();
        assert!(m.read().unwrap().layer("sha256:a").unwrap().is_some());
        let counts = |m: &Meta| {
            let l = m.lazy();
            (l.committed, l.durable)
        };
        assert_eq!(counts(&m), (1, 0));
        m.make_durable().unwrap();
        assert_eq!(counts(&m), (1, 1));
        drop(m);
        let m = Meta::open(&path).unwrap();
        assert!(m.read().unwrap().layer("sha256:a").unwrap().is_some());
    }

    #[test]
    fn layers_go_when_the_last_image_goes() {
        let d = tempfile::tempdir().unwrap();
        let m = Meta::open(&d.path().join("meta.db")).unwrap();
        let mut tx = m.write().unwrap();
        tx.add_layer(&layer("sha256:a", None)).unwrap();
        tx.add_layer(&layer("sha256:b", Some("sha256:a"))).unwrap();
        tx.add_layer(&layer("sha256:c", Some("sha256:a"))).unwrap();
        for (id, top) in [("sha256:i1", "sha256:b"), ("sha256:i2", "sha256:c")] {
            tx.put_image(&ImageRecord {
                id: id.into(),
                layers: vec!["sha256:a".into(), top.into()],
                ..Default::default()
            })
            .unwrap();
        }
        tx.set_ref("docker.io/library/x:latest", "sha256:i1")
            .unwrap();
        assert!(tx.commit().unwrap().is_empty());

        let mut tx = m.write().unwrap();
        tx.delete_image("sha256:i1").unwrap();
        assert_eq!(tx.commit().unwrap(), vec!["sha256:b".to_string()]);
        let r = m.read().unwrap();
        assert_eq!(r.layer("sha256:a").unwrap().unwrap().refs, 1);
        assert_eq!(
            r.resolve_ref("docker.io/library/x:latest")
                .unwrap()
                .as_deref(),
            Some("sha256:i1")
        );

        let mut tx = m.write().unwrap();
        tx.add_snapshot(&SnapshotRecord {
            key: "ctr".into(),
            parent: Some("sha256:c".into()),
        })
        .unwrap();
        tx.delete_image("sha256:i2").unwrap();
        assert!(tx.commit().unwrap().is_empty(), "snapshot keeps c and a");
        let mut tx = m.write().unwrap();
        tx.delete_snapshot("ctr").unwrap();
        assert_eq!(
            tx.commit().unwrap(),
            vec!["sha256:c".to_string(), "sha256:a".to_string()]
        );
    }

    #[test]
    fn dropped_transaction_changes_nothing() {
        let d = tempfile::tempdir().unwrap();
        let m = Meta::open(&d.path().join("meta.db")).unwrap();
        let mut tx = m.write().unwrap();
        tx.add_layer(&layer("sha256:a", None)).unwrap();
        drop(tx);
        assert!(m.read().unwrap().layers().unwrap().is_empty());
    }
}
