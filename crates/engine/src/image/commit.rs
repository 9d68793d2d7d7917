//! `docker commit`: a container's writable layer becomes a new image on top
//! of the container's image. The diff is written from the overlay upper
//! directory and unpacked in the same pass (through a pipe), so the new
//! layer is never stored twice.

use super::config::{ContainerConfig, History, ImageConfig};
use super::ingest::{ingest_layer, NewImage, EXISTING};
use super::Images;
use crate::error::{Error, Result};
use berth_base::reference::Reference;
use std::collections::HashMap;
use std::path::Path;

/// Options of [`Images::commit`].
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// `repo[:tag]` to name the image, if any.
    pub reference: Option<String>,
    /// The container's config (its Cmd, Env, ... as it runs); `None` keeps
    /// the parent image's.
    pub config: Option<ContainerConfig>,
    /// `--change` instructions applied over that config.
    pub changes: Vec<String>,
    /// `--message`.
    pub message: String,
    /// `--author`.
    pub author: String,
    /// What the history shows as the step's command (the container's
    /// command line).
    pub created_by: String,
}

impl Images {
    /// Commits the overlay upper directory `upper` (a container's writable
    /// layer, which must not change meanwhile: pause the container) as a new
    /// layer on top of `parent` (the container's image). Returns the new id.
    pub fn commit(&self, parent: &str, upper: &Path, opts: &CommitOptions) -> Result<String> {
        let parent_id = self.resolve(parent)?;
        let base = self.read_config(&parent_id)?;
        let parent_layers = self.layers(&parent_id)?;
        let tags = match &opts.reference {
            Some(name) if !name.is_empty() => {
                let rf = Reference::parse(name)?.with_default_tag();
                if rf.digest.is_some() {
                    return Err(Error::InvalidReference(format!(
                        "cannot commit to a digest: {name:?}"
                    )));
                }
                vec![rf]
            }
            _ => Vec::new(),
        };
        let mut cc = opts
            .config
            .clone()
            .unwrap_or_else(|| base.container_config());
        for c in &opts.changes {
            super::import::apply_change(&mut cc, c)?;
        }

        let (reader, writer) =
            rustix::pipe::pipe().map_err(|e| Error::io("pipe for the layer diff", e.into()))?;
        let (reader, writer) = (std::fs::File::from(reader), std::fs::File::from(writer));
        let upper_owned = upper.to_owned();
        let differ = std::thread::Builder::new()
            .name("berth-diff".into())
            .spawn(move || berth_store::diff::write_overlay_diff(&upper_owned, writer))
            .map_err(|e| Error::io("start the diff thread", e))?;
        let ingested = ingest_layer(&self.store, reader, None);
        let diffed = differ
            .join()
            .map_err(|_| Error::Invalid("the diff thread panicked".into()))?;
        let layer = ingested?;
        let stats = diffed?;
        if stats.diff_id != layer.stats.diff_id {
            return Err(Error::Invalid(format!(
                "commit: diff {} and unpacked layer {} differ",
                stats.diff_id, layer.stats.diff_id
            )));
        }
        let blob = layer.blob.to_string();

        let created = berth_base::time::format_rfc3339_nano(berth_base::time::now_nanos());
        let mut diff_ids = base.rootfs.diff_ids.clone();
        diff_ids.push(layer.stats.diff_id.to_string());
        let mut history = base.history.clone();
        history.push(History {
            created: Some(created.clone()),
            created_by: (!opts.created_by.is_empty()).then(|| opts.created_by.clone()),
            author: (!opts.author.is_empty()).then(|| opts.author.clone()),
            comment: (!opts.message.is_empty()).then(|| opts.message.clone()),
            empty_layer: false,
        });
        let cfg = ImageConfig {
            architecture: base.architecture.clone(),
            variant: base.variant.clone(),
            os: base.os.clone(),
            created: Some(created),
            author: (!opts.author.is_empty()).then(|| opts.author.clone()),
            comment: (!opts.message.is_empty()).then(|| opts.message.clone()),
            docker_version: None,
            config: Some(cc),
            rootfs: super::config::RootFs {
                typ: "layers".into(),
                diff_ids,
            },
            history,
        };
        let config =
            serde_json::to_vec(&cfg).map_err(|e| Error::Invalid(format!("image config: {e}")))?;
        let mut layers: Vec<String> = parent_layers
            .iter()
            .map(|c| format!("{EXISTING}{c}"))
            .collect();
        layers.push("commit".into());
        let mut ingested = HashMap::new();
        ingested.insert("commit".to_owned(), layer);
        let img = NewImage {
            config,
            layers,
            tags: tags.clone(),
            parent: parent_id,
        };
        let result = self.commit_images(std::slice::from_ref(&img), &mut ingested);
        drop(ingested);
        if result.is_err() {
            let _ = self.store.gc_blobs_among(&[blob]);
        }
        let id = result?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Invalid("commit made no image".into()))?;
        let name = tags.first().map(|t| t.familiar());
        self.event("commit", &id, Some(name.as_deref().unwrap_or(&id)));
        Ok(id)
    }
}
