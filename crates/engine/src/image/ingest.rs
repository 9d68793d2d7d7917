//! Shared by load and import: a layer stream is stored as a blob and
//! unpacked in the same pass; images are committed to the metadata in one
//! transaction once every layer is in place.

use super::config::ImageConfig;
use super::Images;
use crate::error::{Error, Result};
use berth_base::digest::Digest;
use berth_base::reference::Reference;
use berth_store::apply::{apply_layer, apply_layer_split, ApplyStats};
use berth_store::hashio::{peek, Compression, TeeReader};
use berth_store::snapshot::StagedLayer;
use berth_store::tarsplit;
use berth_store::{chain_id, ContentStore, ImageRecord, LayerRecord, Snapshotter, Store};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;

/// A layer read from a stream: stored and unpacked.
pub(crate) struct IngestedLayer {
    /// The stored blob: the layer as it came if compressed, else its
    /// tar-split record.
    pub blob: Digest,
    pub blob_size: u64,
    pub media_type: &'static str,
    pub stats: ApplyStats,
    pub staged: Option<StagedLayer>,
    /// Where the unpacked copy went, for a second copy on another parent.
    pub placed: Option<Digest>,
}

/// Unpacks `r` into a staged directory in one pass, checking it against
/// `expected` (the digest of the bytes as they come) if given. A compressed
/// layer is stored as it came (so it can be pushed as it was pulled); an
/// uncompressed one is kept only unpacked, with a tar-split record that
/// gives its exact bytes back.
pub(crate) fn ingest_layer(
    store: &Store,
    r: impl Read,
    expected: Option<&Digest>,
) -> Result<IngestedLayer> {
    let staged = store.snapshots.stage()?;
    let (head, r) = peek(r, 4).map_err(|e| Error::io("reading layer", e))?;
    if Compression::detect(&head) == Compression::None {
        let (stats, split) = apply_layer_split(r, &staged.fs())?;
        if let Some(want) = expected {
            if *want != stats.diff_id {
                return Err(berth_store::Error::DigestMismatch {
                    expected: want.to_string(),
                    actual: stats.diff_id.to_string(),
                }
                .into());
            }
        }
        let split = split.ok_or_else(|| {
            Error::Invalid("uncompressed layer without a tar-split record".into())
        })?;
        let (blob, blob_size) = {
            let mut w = store.content.writer()?;
            std::io::Write::write_all(&mut w, &split)
                .map_err(|e| Error::io("write tar-split record", e))?;
            // Made durable with the layer by the syncfs before the commit.
            store.content.commit_unsynced(w, None)?
        };
        return Ok(IngestedLayer {
            blob,
            blob_size,
            media_type: tarsplit::MEDIA_TYPE,
            stats,
            staged: Some(staged),
            placed: None,
        });
    }
    let mut w = store.content.writer()?;
    let mut tee = TeeReader::new(r, &mut w);
    let stats = apply_layer(&mut tee, &staged.fs())?;
    tee.finish()
        .map_err(|e| Error::io("reading the rest of the layer", e))?;
    // Made durable by the syncfs before the metadata commit.
    let (blob, blob_size) = store.content.commit_unsynced(w, expected)?;
    Ok(IngestedLayer {
        blob,
        blob_size,
        media_type: stats.compression.oci_layer_media_type(),
        stats,
        staged: Some(staged),
        placed: None,
    })
}

/// An image ready to commit: its config and, for each diff id of the
/// config, where the layer comes from.
pub(crate) struct NewImage {
    pub config: Vec<u8>,
    /// Layer keys (into the ingested map, or [`EXISTING`] + chain id for a
    /// layer already in the store), bottom first.
    pub layers: Vec<String>,
    pub tags: Vec<Reference>,
    /// The parent image id (commit), or empty.
    pub parent: String,
}

/// Prefix of a layer key naming a layer the store already has.
pub(crate) const EXISTING: &str = "existing-layer:";

impl Images {
    /// Puts every layer of `images` in place and records them, with the
    /// images and their tags, in one transaction. Returns the ids.
    pub(crate) fn commit_images(
        &self,
        images: &[NewImage],
        ingested: &mut HashMap<String, IngestedLayer>,
    ) -> Result<Vec<String>> {
        let store = &self.store;
        let _g = super::lock(&self.lock);
        let mut layer_recs: Vec<LayerRecord> = Vec::new();
        let mut image_recs = Vec::new();
        let r = store.meta.read()?;
        for img in images {
            let id = Digest::of(&img.config);
            let cfg = ImageConfig::parse(&img.config)
                .map_err(|e| Error::Invalid(format!("image config {id}: {e}")))?;
            if cfg.rootfs.diff_ids.len() != img.layers.len() {
                return Err(Error::Invalid(format!(
                    "image {id}: config lists {} layers, manifest {}",
                    cfg.rootfs.diff_ids.len(),
                    img.layers.len()
                )));
            }
            let mut parent: Option<Digest> = None;
            let mut chains = Vec::new();
            let mut size = 0;
            for (want, key) in cfg.rootfs.diff_ids.iter().zip(&img.layers) {
                if let Some(chain) = key.strip_prefix(EXISTING) {
                    let rec = r.layer(chain)?.ok_or_else(|| {
                        Error::Invalid(format!("layer {chain} is not in the store"))
                    })?;
                    let diff: Digest = rec
                        .diff_id
                        .parse()
                        .map_err(|_| Error::Invalid(rec.diff_id.clone()))?;
                    let want_chain = chain_id(parent.as_ref(), &diff);
                    if rec.diff_id != *want || want_chain.to_string() != chain {
                        return Err(Error::Invalid(format!(
                            "layer {chain} does not match the image config"
                        )));
                    }
                    size += rec.size;
                    chains.push(chain.to_owned());
                    parent = Some(want_chain);
                    continue;
                }
                let layer = ingested
                    .get_mut(key)
                    .ok_or_else(|| Error::Invalid(format!("layer {key} is not in the archive")))?;
                if layer.stats.diff_id.to_string() != *want {
                    return Err(Error::Invalid(format!(
                        "layer {key}: content has diff id {}, but the image config says {want}",
                        layer.stats.diff_id
                    )));
                }
                let chain = chain_id(parent.as_ref(), &layer.stats.diff_id);
                let known = r.layer(&chain.to_string())?.is_some()
                    || layer_recs.iter().any(|l| l.chain_id == chain.to_string());
                if !known {
                    let staged = match layer.staged.take() {
                        Some(s) => s,
                        // The same layer again on another parent: unpack a second copy.
                        None => second_copy(store, layer)?,
                    };
                    store.snapshots.place(staged, &chain)?;
                    layer.placed.get_or_insert_with(|| chain.clone());
                    layer_recs.push(LayerRecord {
                        chain_id: chain.to_string(),
                        diff_id: layer.stats.diff_id.to_string(),
                        parent: parent.as_ref().map(|p| p.to_string()),
                        blob: layer.blob.to_string(),
                        media_type: layer.media_type.to_owned(),
                        blob_size: layer.blob_size,
                        tar_size: layer.stats.tar_size,
                        size: layer.stats.content_size,
                        refs: 0,
                    });
                }
                size += layer.stats.content_size;
                chains.push(chain.to_string());
                parent = Some(chain);
            }
            let created = cfg.created.clone().unwrap_or_default();
            image_recs.push((
                ImageRecord {
                    id: id.to_string(),
                    layers: chains,
                    size,
                    created_unix: berth_base::time::parse_rfc3339(&created)
                        .map_or(0, |n| n / 1_000_000_000),
                    created,
                    labels: cfg
                        .config
                        .as_ref()
                        .and_then(|c| c.labels.clone())
                        .unwrap_or_else(BTreeMap::new),
                    parent: img.parent.clone(),
                    ..Default::default()
                },
                img,
            ));
        }
        drop(r);
        for (rec, img) in &image_recs {
            let d: Digest = rec.id.parse().map_err(|_| Error::Invalid(rec.id.clone()))?;
            let mut w = store.content.writer()?;
            std::io::Write::write_all(&mut w, &img.config)
                .map_err(|e| Error::io("write image config", e))?;
            store.content.commit_unsynced(w, Some(&d))?;
        }
        store.sync()?;
        let mut tx = store.meta.write()?;
        for l in &layer_recs {
            tx.add_layer(l)?;
        }
        let mut ids = Vec::new();
        let now = berth_base::time::format_rfc3339_nano(berth_base::time::now_nanos());
        for (rec, img) in &image_recs {
            let mut rec = match tx.image(&rec.id)? {
                Some(existing) => existing,
                None => rec.clone(),
            };
            if !img.tags.is_empty() {
                rec.last_tag_time = Some(now.clone());
            }
            tx.put_image(&rec)?;
            for t in &img.tags {
                tx.set_ref(&t.to_string(), &rec.id)?;
            }
            ids.push(rec.id.clone());
        }
        store.commit(tx)?;
        Ok(ids)
    }
}

/// Unpacks a layer again into a new staged directory: from its stored blob,
/// or reassembled from its first unpacked copy.
fn second_copy(store: &Store, layer: &IngestedLayer) -> Result<StagedLayer> {
    let staged = store.snapshots.stage()?;
    if layer.media_type == tarsplit::MEDIA_TYPE {
        let first = layer.placed.as_ref().ok_or_else(|| {
            Error::Invalid(format!("layer {}: no first copy", layer.stats.diff_id))
        })?;
        let record = store.content.read(&layer.blob)?;
        let r = tarsplit::reassemble(
            &record,
            &store.snapshots.layer_dir(first),
            &layer.stats.diff_id,
        )?;
        apply_layer(r, &staged.fs())?;
    } else {
        apply_layer(store.content.open(&layer.blob)?, &staged.fs())?;
    }
    Ok(staged)
}
