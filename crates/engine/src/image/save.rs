//! `docker save`: one tarball that is both a docker-archive (manifest.json,
//! repositories) and an OCI image layout (oci-layout, index.json), as
//! Docker 25+ writes it, so `docker load`, `podman load`, skopeo and umoci
//! all read it. Layers are written uncompressed, named by their diff id.

use super::{Images, View};
use crate::error::{Error, Result};
use berth_base::digest::Digest;
use berth_base::reference::{familiar, Reference};
use berth_store::{ContentStore, ImageRecord};
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

struct Writer<'a> {
    tar: tar::Builder<&'a mut dyn Write>,
    written: HashSet<String>,
}

impl Writer<'_> {
    fn header(path: &str, size: u64, dir: bool) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(if dir {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        h.set_mode(if dir { 0o755 } else { 0o644 });
        h.set_size(size);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        // Paths here are short ASCII; set_path cannot fail for them, but
        // report it if it does.
        if let Err(e) = h.set_path(path) {
            tracing::warn!(error = %e, path, "tar path");
        }
        h.set_cksum();
        h
    }

    fn dir(&mut self, path: &str) -> Result<()> {
        let h = Self::header(path, 0, true);
        self.tar
            .append(&h, std::io::empty())
            .map_err(|e| Error::io(format!("write {path}"), e))
    }

    fn file(&mut self, path: &str, data: &[u8]) -> Result<()> {
        if !self.written.insert(path.to_owned()) {
            return Ok(());
        }
        let h = Self::header(path, data.len() as u64, false);
        self.tar
            .append(&h, data)
            .map_err(|e| Error::io(format!("write {path}"), e))
    }

    fn blob(&mut self, data: &[u8]) -> Result<Digest> {
        let d = Digest::of(data);
        self.file(&format!("blobs/sha256/{}", d.hex()), data)?;
        Ok(d)
    }

    fn stream(&mut self, path: &str, size: u64, r: impl Read) -> Result<()> {
        if !self.written.insert(path.to_owned()) {
            return Ok(());
        }
        let h = Self::header(path, size, false);
        // tar::Builder pads and checks nothing: count to be sure the stored
        // size was right, or the archive would be corrupt.
        let mut counted = Counted { inner: r, n: 0 };
        self.tar
            .append(&h, &mut counted)
            .map_err(|e| Error::io(format!("write {path}"), e))?;
        if counted.n != size {
            return Err(Error::Invalid(format!(
                "layer {path}: stored layer has {} bytes, expected {size}",
                counted.n
            )));
        }
        Ok(())
    }
}

struct Counted<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n += k as u64;
        Ok(k)
    }
}

impl Images {
    /// `docker save NAME...`: a name without a tag saves every tag of that
    /// repository; an id saves the image without tags.
    pub fn save(&self, names: &[String], w: &mut dyn Write) -> Result<()> {
        let r = self.store.meta.read()?;
        let view = View::read(&r)?;
        // (image, tags to write), in the order asked, each image once.
        let mut picked: Vec<(ImageRecord, Vec<String>)> = Vec::new();
        for name in names {
            let explicit = Reference::parse(name).ok();
            let mut tags = Vec::new();
            let img = match &explicit {
                Some(rf) if rf.tag.is_none() && rf.digest.is_none() && !is_id_like(name, &view) => {
                    // All tags of the repository.
                    let repo = rf.name();
                    let mut found = None;
                    for (id, refs) in &view.refs {
                        for full in refs {
                            if full.rsplit_once(':').is_some_and(|(n, _)| n == repo) {
                                tags.push(full.clone());
                                found.get_or_insert_with(|| id.clone());
                            }
                        }
                    }
                    // Several images may share the repository: take each.
                    tags.sort();
                    for t in &tags {
                        let img = self.find(&view, &r, t)?;
                        push(&mut picked, img, vec![t.clone()]);
                    }
                    if found.is_some() {
                        continue;
                    }
                    self.find(&view, &r, name)?
                }
                Some(rf) if rf.digest.is_none() => {
                    let img = self.find(&view, &r, name)?;
                    let full = rf.clone().with_default_tag().to_string();
                    if view.refs.get(&img.id).is_some_and(|v| v.contains(&full)) {
                        tags.push(full);
                    }
                    img
                }
                _ => self.find(&view, &r, name)?,
            };
            push(&mut picked, img, tags);
        }
        drop(r);

        let mut out = Writer {
            tar: tar::Builder::new(w),
            written: HashSet::new(),
        };
        out.dir("blobs")?;
        out.dir("blobs/sha256")?;
        let mut manifest_json = Vec::new();
        let mut index = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (img, tags) in &picked {
            let id: Digest = img.id.parse().map_err(|_| Error::Invalid(img.id.clone()))?;
            let config = self.store.content.read(&id)?;
            let mut layer_paths = Vec::new();
            let mut layer_descs = Vec::new();
            let meta = self.store.meta.read()?;
            for chain in &img.layers {
                let l = meta.layer(chain)?.ok_or_else(|| {
                    Error::Invalid(format!("image {}: layer {chain} is missing", img.id))
                })?;
                let diff: Digest = l
                    .diff_id
                    .parse()
                    .map_err(|_| Error::Invalid(l.diff_id.clone()))?;
                let path = format!("blobs/sha256/{}", diff.hex());
                out.stream(&path, l.tar_size, self.store.layer_tar(&l)?)?;
                layer_paths.push(path);
                layer_descs
                    .push(json!({"mediaType": OCI_LAYER, "digest": l.diff_id, "size": l.tar_size}));
            }
            out.blob(&config)?;
            let manifest = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": img.id, "size": config.len()},
                "layers": layer_descs,
            }))
            .map_err(|e| Error::Invalid(format!("manifest: {e}")))?;
            let md = out.blob(&manifest)?;
            let desc = |ann: Option<(&str, &str)>| {
                let mut d = json!({"mediaType": OCI_MANIFEST, "digest": md.to_string(), "size": manifest.len()});
                if let Some((full, tag)) = ann {
                    d["annotations"] = json!({
                        "io.containerd.image.name": full,
                        "org.opencontainers.image.ref.name": tag,
                    });
                }
                d
            };
            if tags.is_empty() {
                index.push(desc(None));
            }
            let mut familiar_tags = Vec::new();
            for t in tags {
                let tag = t.rsplit_once(':').map_or("latest", |(_, t)| t);
                index.push(desc(Some((t, tag))));
                let fam = familiar(t);
                if let Some((repo, tag)) = fam.rsplit_once(':') {
                    if let Some(top) = layer_paths.last() {
                        repositories.entry(repo.to_owned()).or_default().insert(
                            tag.to_owned(),
                            top.trim_start_matches("blobs/sha256/").to_owned(),
                        );
                    }
                }
                familiar_tags.push(fam);
            }
            manifest_json.push(json!({
                "Config": format!("blobs/sha256/{}", id.hex()),
                "RepoTags": if familiar_tags.is_empty() { serde_json::Value::Null } else { json!(familiar_tags) },
                "Layers": layer_paths,
            }));
        }
        let enc = |v: &serde_json::Value| {
            serde_json::to_vec(v).map_err(|e| Error::Invalid(format!("json: {e}")))
        };
        out.file("oci-layout", &enc(&json!({"imageLayoutVersion": "1.0.0"}))?)?;
        out.file(
            "index.json",
            &enc(&json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": index,
            }))?,
        )?;
        out.file("manifest.json", &enc(&json!(manifest_json))?)?;
        if !repositories.is_empty() {
            out.file("repositories", &enc(&json!(repositories))?)?;
        }
        out.tar
            .into_inner()
            .and_then(|w| w.flush())
            .map_err(|e| Error::io("finish archive", e))?;
        for (img, _) in &picked {
            self.event("save", &img.id, None);
        }
        Ok(())
    }
}

/// Whether `name` is meant as an id: it is no known repository but a
/// prefix of an image id.
fn is_id_like(name: &str, view: &View) -> bool {
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    super::is_hex(hex)
        && view
            .images
            .iter()
            .any(|i| i.id.trim_start_matches("sha256:").starts_with(hex))
        && !view.refs.values().flatten().any(|r| {
            Reference::parse(name)
                .is_ok_and(|rf| r.rsplit_once(':').is_some_and(|(n, _)| n == rf.name()))
        })
}

fn push(picked: &mut Vec<(ImageRecord, Vec<String>)>, img: ImageRecord, tags: Vec<String>) {
    match picked.iter_mut().find(|(i, _)| i.id == img.id) {
        Some((_, t)) => {
            for tag in tags {
                if !t.contains(&tag) {
                    t.push(tag);
                }
            }
        }
        None => picked.push((img, tags)),
    }
}
