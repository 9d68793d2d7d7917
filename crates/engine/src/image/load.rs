//! `docker load`: docker-archive tarballs (the old layout with
//! `<id>/layer.tar`, and Docker 25+'s with `blobs/sha256/` and an OCI index)
//! and OCI image layouts (skopeo's `oci:` directories, tarred), plain or
//! compressed with gzip or zstd.
//!
//! The archive is read once, front to back: each layer is stored and
//! unpacked while it streams by, small JSON files are kept in memory, and
//! once the manifest is known the images are checked against what was read
//! (config digest, diff ids, blob digests) and committed in one
//! transaction. Anything wrong leaves the store as it was: staged layers and
//! unreferenced blobs are removed.

use super::ingest::{ingest_layer, IngestedLayer, NewImage};
use super::Images;
use crate::error::{Error, Result};
use berth_base::digest::Digest;
use berth_base::reference::Reference;
use berth_store::hashio::{decompress, peek, Compression};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

/// Progress of a load, one message per layer start and end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadProgress {
    /// Short id of the layer (first 12 hex of its digest or its archive dir).
    pub id: String,
    /// `Loading layer`, `Loaded`.
    pub status: String,
    /// Bytes done.
    pub current: u64,
    /// Bytes in all, when known.
    pub total: Option<u64>,
}

/// What a load made, as `docker load` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// `Loaded image: busybox:latest` (familiar form).
    Tag(String),
    /// `Loaded image ID: sha256:...` (an image without tags).
    Id(String),
}

/// Files bigger than this are never manifests or configs.
const MAX_JSON: u64 = 16 << 20;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct OciManifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

/// The architecture name images use for this machine.
pub(crate) fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// Normalises an archive path: no leading `./`, no trailing `/`.
fn clean(p: &str) -> String {
    let p = p.trim_start_matches("./").trim_end_matches('/');
    p.to_owned()
}

/// The digest a `blobs/sha256/<hex>` path announces.
fn blob_digest(path: &str) -> Option<Digest> {
    path.strip_prefix("blobs/sha256/")
        .and_then(|h| format!("sha256:{h}").parse().ok())
}

/// Everything read from the archive.
#[derive(Default)]
struct Archive {
    files: HashMap<String, Vec<u8>>,
    layers: HashMap<String, IngestedLayer>,
    links: HashMap<String, String>,
    /// Blobs written to the content store by this load, removed again if
    /// nothing ends up referring to them.
    written: Vec<String>,
}

impl Archive {
    fn resolve(&self, path: &str) -> String {
        let mut p = clean(path);
        for _ in 0..16 {
            match self.links.get(&p) {
                Some(t) => p = t.clone(),
                None => break,
            }
        }
        p
    }

    fn file(&self, path: &str) -> Result<&[u8]> {
        let p = self.resolve(path);
        self.files
            .get(&p)
            .map(Vec::as_slice)
            .ok_or_else(|| Error::Invalid(format!("invalid archive: {p} is missing")))
    }

    fn json<T: for<'a> Deserialize<'a>>(&self, path: &str) -> Result<T> {
        serde_json::from_slice(self.file(path)?)
            .map_err(|e| Error::Invalid(format!("invalid archive: {path}: {e}")))
    }
}

impl Images {
    /// `docker load`: reads an archive from `r` and adds its images.
    pub fn load(
        &self,
        r: &mut dyn Read,
        progress: &mut dyn FnMut(&LoadProgress),
    ) -> Result<Vec<Loaded>> {
        let mut ar = Archive::default();
        let result = self
            .read_archive(r, &mut ar, progress)
            .and_then(|()| self.commit_archive(&mut ar));
        self.finish_load(ar, result)
    }

    /// Cleans up after a load and reports what it made.
    fn finish_load(
        &self,
        mut ar: Archive,
        result: Result<(Vec<String>, Vec<Vec<Reference>>)>,
    ) -> Result<Vec<Loaded>> {
        // Whatever went wrong, staged layers go on drop; blobs this load
        // wrote that nothing refers to go here.
        let written = std::mem::take(&mut ar.written);
        drop(ar);
        if let Err(e) = self.store.gc_blobs_among(&written) {
            tracing::warn!(error = %e, "removing blobs of a load");
        }
        let (ids, tags) = result?;
        let mut out = Vec::new();
        for (id, tags) in ids.iter().zip(tags) {
            if tags.is_empty() {
                self.event("load", id, Some(id));
                out.push(Loaded::Id(id.clone()));
            }
            for t in tags {
                self.event("load", id, Some(&t.familiar()));
                out.push(Loaded::Tag(t.familiar()));
            }
        }
        Ok(out)
    }

    fn read_archive(
        &self,
        r: &mut dyn Read,
        ar: &mut Archive,
        progress: &mut dyn FnMut(&LoadProgress),
    ) -> Result<()> {
        let (_, stream) = decompress(r).map_err(|e| Error::io("reading archive", e))?;
        let mut tarball = tar::Archive::new(stream);
        let bad = |e: std::io::Error| Error::Invalid(format!("invalid archive: {e}"));
        let mut entries = 0;
        for entry in tarball.entries().map_err(bad)? {
            let mut entry = entry.map_err(|e| {
                if entries == 0 {
                    Error::Invalid(format!("invalid archive: not a tar archive ({e})"))
                } else {
                    bad(e)
                }
            })?;
            entries += 1;
            let path = clean(&String::from_utf8_lossy(&entry.path_bytes()));
            let kind = entry.header().entry_type();
            if kind.is_symlink() || kind.is_hard_link() {
                // Old docker-archives link repeated layers to the first copy.
                if let Some(t) = entry.link_name_bytes() {
                    let t = String::from_utf8_lossy(&t).into_owned();
                    let target = if kind.is_symlink() {
                        let base = Path::new(&path).parent().unwrap_or(Path::new(""));
                        normalize(&base.join(&t).to_string_lossy())
                    } else {
                        clean(&t)
                    };
                    ar.links.insert(path, target);
                }
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let size = entry.size();
            self.read_file(ar, path, size, &mut entry, progress)?;
        }
        if entries == 0 {
            return Err(Error::Invalid("invalid archive: empty".into()));
        }
        Ok(())
    }

    /// One regular file of an archive (tarball or directory): a layer is
    /// stored and unpacked as it streams by, small files are kept.
    fn read_file(
        &self,
        ar: &mut Archive,
        path: String,
        size: u64,
        r: &mut dyn Read,
        progress: &mut dyn FnMut(&LoadProgress),
    ) -> Result<()> {
        let bad = |e: std::io::Error| Error::Invalid(format!("invalid archive: {e}"));
        let named_blob = blob_digest(&path);
        let (head, mut rest) = peek(r, 512).map_err(bad)?;
        let looks_like_layer = Compression::detect(&head) != Compression::None
            || (head.len() >= 262 && &head[257..262] == b"ustar");
        if looks_like_layer && (path.ends_with("layer.tar") || named_blob.is_some()) {
            let short = match &named_blob {
                Some(d) => d.short().to_owned(),
                None => path
                    .split('/')
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(12)
                    .collect(),
            };
            progress(&LoadProgress {
                id: short.clone(),
                status: "Loading layer".into(),
                current: 0,
                total: Some(size),
            });
            let reporting = Reporting {
                inner: &mut rest,
                progress: &mut *progress,
                id: &short,
                done: 0,
                total: size,
                reported: 0,
            };
            let layer = ingest_layer(&self.store, reporting, named_blob.as_ref())
                .map_err(|e| in_entry(&path, e))?;
            ar.written.push(layer.blob.to_string());
            progress(&LoadProgress {
                id: short,
                status: "Loaded".into(),
                current: size,
                total: Some(size),
            });
            ar.layers.insert(path, layer);
        } else if size <= MAX_JSON {
            let mut data = Vec::with_capacity(size as usize);
            rest.read_to_end(&mut data).map_err(bad)?;
            if data.len() as u64 != size {
                return Err(Error::Invalid(format!(
                    "invalid archive: {path} is cut short"
                )));
            }
            if let Some(want) = &named_blob {
                let got = Digest::of(&data);
                if got != *want {
                    return Err(Error::Invalid(format!(
                        "invalid archive: {path} has digest {got}"
                    )));
                }
            }
            ar.files.insert(path, data);
        } else {
            std::io::copy(&mut rest, &mut std::io::sink()).map_err(bad)?;
        }
        Ok(())
    }

    /// Loads from a path: an archive file (any compression) or a directory
    /// holding an OCI image layout or an unpacked docker-archive.
    pub fn load_path(
        &self,
        path: &Path,
        progress: &mut dyn FnMut(&LoadProgress),
    ) -> Result<Vec<Loaded>> {
        if !path.is_dir() {
            let mut f = std::fs::File::open(path)
                .map_err(|e| Error::io(format!("open {}", path.display()), e))?;
            return self.load(&mut f, progress);
        }
        let mut files = Vec::new();
        walk(path, path, &mut files)?;
        let mut ar = Archive::default();
        let result = (|| {
            if files.is_empty() {
                return Err(Error::Invalid(format!(
                    "invalid archive: {} is empty",
                    path.display()
                )));
            }
            for (rel, full) in files {
                let mut f = std::fs::File::open(&full)
                    .map_err(|e| Error::io(format!("open {}", full.display()), e))?;
                let size = f
                    .metadata()
                    .map_err(|e| Error::io(format!("stat {}", full.display()), e))?
                    .len();
                self.read_file(&mut ar, rel, size, &mut f, progress)?;
            }
            self.commit_archive(&mut ar)
        })();
        self.finish_load(ar, result)
    }

    fn commit_archive(&self, ar: &mut Archive) -> Result<(Vec<String>, Vec<Vec<Reference>>)> {
        let images = if ar.files.contains_key("manifest.json") {
            docker_images(ar)?
        } else if ar.files.contains_key("index.json") {
            oci_images(ar)?
        } else {
            return Err(Error::Invalid(
                "invalid archive: neither manifest.json nor index.json found (not a docker-archive or OCI layout)"
                    .into(),
            ));
        };
        // Map layer keys through archive links, so they name ingested layers.
        let images: Vec<NewImage> = images
            .into_iter()
            .map(|mut img| {
                img.layers = img.layers.iter().map(|l| ar.resolve(l)).collect();
                img
            })
            .collect();
        for img in &images {
            for l in &img.layers {
                if !ar.layers.contains_key(l) {
                    self.adopt_known_blob(ar, l)?;
                }
            }
        }
        let ids = self.commit_images(&images, &mut ar.layers)?;
        Ok((ids, images.into_iter().map(|i| i.tags).collect()))
    }

    /// A layer the archive names but did not carry as a layer: a blob that
    /// is already stored (docker-archive layers may be empty files that
    /// were read as JSON), unpacked again from the store.
    fn adopt_known_blob(&self, ar: &mut Archive, path: &str) -> Result<()> {
        let data = ar
            .files
            .remove(path)
            .ok_or_else(|| Error::Invalid(format!("invalid archive: layer {path} is missing")))?;
        let layer = ingest_layer(&self.store, &data[..], blob_digest(path).as_ref())
            .map_err(|e| in_entry(path, e))?;
        ar.written.push(layer.blob.to_string());
        ar.layers.insert(path.to_owned(), layer);
        Ok(())
    }
}

/// Reports "Loading layer" progress every few MiB of a layer read.
struct Reporting<'a, R> {
    inner: R,
    progress: &'a mut dyn FnMut(&LoadProgress),
    id: &'a str,
    done: u64,
    total: u64,
    reported: u64,
}

/// Bytes between two progress reports.
const REPORT_EVERY: u64 = 4 << 20;

impl<R: Read> Read for Reporting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if self.done - self.reported >= REPORT_EVERY && self.done < self.total {
            self.reported = self.done;
            (self.progress)(&LoadProgress {
                id: self.id.to_owned(),
                status: "Loading layer".into(),
                current: self.done,
                total: Some(self.total),
            });
        }
        Ok(n)
    }
}

/// Regular files under `dir` (symlinks are not followed), as
/// (archive-relative path, full path), sorted.
fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, std::path::PathBuf)>) -> Result<()> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(format!("read {}", dir.display()), e))?;
    let mut ents: Vec<_> = rd
        .collect::<std::io::Result<_>>()
        .map_err(|e| Error::io(format!("read {}", dir.display()), e))?;
    ents.sort_by_key(|e| e.file_name());
    for e in ents {
        let p = e.path();
        let ft = e
            .file_type()
            .map_err(|err| Error::io(format!("stat {}", p.display()), err))?;
        if ft.is_dir() {
            walk(root, &p, out)?;
        } else if ft.is_file() {
            let rel = p
                .strip_prefix(root)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            out.push((rel, p));
        }
    }
    Ok(())
}

fn in_entry(path: &str, e: Error) -> Error {
    match e {
        Error::Store(s) => Error::Invalid(format!("layer {path}: {s}")),
        other => other,
    }
}

/// Resolves `.` and `..` in an archive-relative path.
fn normalize(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

fn parse_tags(tags: &[String]) -> Result<Vec<Reference>> {
    tags.iter()
        .map(|t| Ok(Reference::parse(t)?.with_default_tag()))
        .collect()
}

fn docker_images(ar: &Archive) -> Result<Vec<NewImage>> {
    let manifest: Vec<ManifestEntry> = ar.json("manifest.json")?;
    if manifest.is_empty() {
        return Err(Error::Invalid(
            "invalid archive: manifest.json lists no images".into(),
        ));
    }
    let mut out = Vec::new();
    for m in manifest {
        let config = ar.file(&m.config)?.to_vec();
        if let Some(want) = blob_digest(&ar.resolve(&m.config)) {
            if Digest::of(&config) != want {
                return Err(Error::Invalid(format!(
                    "invalid archive: config {} has the wrong digest",
                    m.config
                )));
            }
        }
        out.push(NewImage {
            config,
            layers: m.layers.iter().map(|l| clean(l)).collect(),
            tags: parse_tags(&m.repo_tags.unwrap_or_default())?,
            parent: String::new(),
        });
    }
    Ok(out)
}

fn oci_images(ar: &Archive) -> Result<Vec<NewImage>> {
    if let Ok(layout) = ar.json::<serde_json::Value>("oci-layout") {
        if layout["imageLayoutVersion"] != "1.0.0" {
            return Err(Error::Invalid(
                "invalid archive: unsupported oci-layout version".into(),
            ));
        }
    }
    let index: Index = ar.json("index.json")?;
    let mut out = Vec::new();
    let mut todo: Vec<(Descriptor, u32)> = index.manifests.into_iter().map(|d| (d, 0)).collect();
    while let Some((d, depth)) = todo.pop() {
        if depth > 4 {
            return Err(Error::Invalid(
                "invalid archive: indexes nested too deep".into(),
            ));
        }
        if let Some(p) = &d.platform {
            if p.os != "linux" || p.architecture != host_arch() {
                continue;
            }
        }
        let digest: Digest = d
            .digest
            .parse()
            .map_err(|_| Error::Invalid(format!("invalid archive: bad digest {}", d.digest)))?;
        let path = format!("blobs/sha256/{}", digest.hex());
        if d.media_type.contains("index") || d.media_type.contains("manifest.list") {
            let nested: Index = ar.json(&path)?;
            todo.extend(nested.manifests.into_iter().map(|n| (n, depth + 1)));
            continue;
        }
        let m: OciManifest = ar.json(&path)?;
        let cfg_path = format!(
            "blobs/sha256/{}",
            m.config
                .digest
                .parse::<Digest>()
                .map_err(|_| Error::Invalid(format!(
                    "invalid archive: bad digest {}",
                    m.config.digest
                )))?
                .hex()
        );
        let mut tags = Vec::new();
        let name = d.annotations.get("io.containerd.image.name").or_else(|| {
            d.annotations
                .get("org.opencontainers.image.ref.name")
                .filter(|n| n.contains(':') || n.contains('/'))
        });
        if let Some(n) = name {
            tags = parse_tags(std::slice::from_ref(n))?;
        }
        let mut layers = Vec::new();
        for l in &m.layers {
            let ld: Digest = l
                .digest
                .parse()
                .map_err(|_| Error::Invalid(format!("invalid archive: bad digest {}", l.digest)))?;
            layers.push(format!("blobs/sha256/{}", ld.hex()));
        }
        out.push(NewImage {
            config: ar.file(&cfg_path)?.to_vec(),
            layers,
            tags,
            parent: String::new(),
        });
    }
    if out.is_empty() {
        return Err(Error::Invalid(format!(
            "invalid archive: index.json has no image for linux/{}",
            host_arch()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_paths_normalise() {
        assert_eq!(clean("./manifest.json"), "manifest.json");
        assert_eq!(normalize("abc/../def/layer.tar"), "def/layer.tar");
        assert!(blob_digest(&format!("blobs/sha256/{}", "a".repeat(64))).is_some());
        assert!(blob_digest("blobs/sha256/zz").is_none());
    }
}
