//! The image service: list, inspect, history, tag, remove, prune, disk
//! usage, and (in submodules) load, save and import.

mod commit;
pub mod config;
mod import;
mod ingest;
mod load;
mod save;

pub use commit::CommitOptions;
pub use import::ImportOptions;
pub use load::{LoadProgress, Loaded};

use crate::error::{Error, Result};
use crate::events::{Event, Events};
use berth_base::reference::{familiar, Reference};
use berth_store::{meta::ReadTxn, ContentStore, ImageRecord, Store};
use config::{ContainerConfig, ImageConfig};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

/// Filters as the Engine API sends them: `{"label": ["a=b"], "dangling": ["true"]}`.
pub type Filters = BTreeMap<String, Vec<String>>;

/// A container that uses an image, as the containers service reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUser {
    /// Container id.
    pub container_id: String,
    /// Whether it runs now (then even a forced removal is refused).
    pub running: bool,
}

/// Tells the image service which containers use an image. The containers
/// service implements it and installs it with [`Images::set_users`].
pub trait ImageUsers: Send + Sync {
    /// Containers created from the image `image_id` (`sha256:...`).
    fn users(&self, image_id: &str) -> Vec<ImageUser>;
}

/// One line of `docker images`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSummary {
    /// `sha256:` image id.
    pub id: String,
    /// Parent image id, or empty.
    pub parent_id: String,
    /// Tags in familiar form (`busybox:latest`).
    pub repo_tags: Vec<String>,
    /// `name@sha256:` digests in familiar form.
    pub repo_digests: Vec<String>,
    /// Unix seconds.
    pub created: i64,
    /// Bytes of all layers.
    pub size: u64,
    /// Bytes of layers shared with other images; -1 unless computed.
    pub shared_size: i64,
    /// Labels of the config.
    pub labels: BTreeMap<String, String>,
    /// Containers using it; -1 unless computed.
    pub containers: i64,
}

/// Options of [`Images::list`].
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Show intermediate images too.
    pub all: bool,
    /// `reference`, `dangling`, `label`, `before`, `since`.
    pub filters: Filters,
}

/// The root filesystem as inspect shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFsInfo {
    /// Always `layers`.
    pub typ: String,
    /// Diff ids, bottom first.
    pub layers: Vec<String>,
}

/// `docker image inspect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageDetails {
    /// `sha256:` image id.
    pub id: String,
    /// Tags, familiar form.
    pub repo_tags: Vec<String>,
    /// Digests, familiar form.
    pub repo_digests: Vec<String>,
    /// Parent image id or empty.
    pub parent: String,
    /// Config comment.
    pub comment: String,
    /// Config creation time, RFC 3339.
    pub created: String,
    /// Docker version that built it.
    pub docker_version: String,
    /// Author.
    pub author: String,
    /// Container defaults.
    pub config: ContainerConfig,
    /// Architecture.
    pub architecture: String,
    /// Variant.
    pub variant: Option<String>,
    /// OS.
    pub os: String,
    /// Bytes of all layers.
    pub size: u64,
    /// Layers.
    pub root_fs: RootFsInfo,
    /// When a tag last moved onto it.
    pub last_tag_time: Option<String>,
    /// The full parsed config.
    pub image_config: ImageConfig,
}

/// One line of `docker history`, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Image id for the top entry, `<missing>` below.
    pub id: String,
    /// Unix seconds.
    pub created: i64,
    /// The step's command.
    pub created_by: String,
    /// Tags (top entry only).
    pub tags: Vec<String>,
    /// Bytes the step added.
    pub size: u64,
    /// Comment.
    pub comment: String,
}

/// One result of a removal, as `docker rmi` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeleteResponse {
    /// A reference removed (familiar form).
    Untagged(String),
    /// An image or layer removed (`sha256:`).
    Deleted(String),
}

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneReport {
    /// Untagged references and deleted images/layers.
    pub deleted: Vec<DeleteResponse>,
    /// Bytes freed.
    pub space_reclaimed: u64,
}

/// The images part of `docker system df`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskUsage {
    /// Bytes of all layers, each counted once.
    pub layers_size: u64,
    /// Every image, with `shared_size` and `containers` filled in.
    pub images: Vec<ImageSummary>,
}

/// The image service.
pub struct Images {
    store: Arc<Store>,
    events: Arc<Events>,
    users: RwLock<Option<Arc<dyn ImageUsers>>>,
    /// Serialises operations that read, decide, then write.
    lock: Mutex<()>,
}

impl std::fmt::Debug for Images {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Images")
    }
}

/// Everything needed to answer about images in one consistent read.
struct View {
    images: Vec<ImageRecord>,
    /// Image id → full references.
    refs: HashMap<String, Vec<String>>,
}

impl View {
    fn read(r: &ReadTxn) -> Result<Self> {
        let mut refs: HashMap<String, Vec<String>> = HashMap::new();
        for (name, id) in r.refs()? {
            refs.entry(id).or_default().push(name);
        }
        Ok(Self {
            images: r.images()?,
            refs,
        })
    }

    fn tags(&self, id: &str) -> Vec<String> {
        let mut t: Vec<String> = self
            .refs
            .get(id)
            .map(|v| v.iter().map(|s| familiar(s)).collect())
            .unwrap_or_default();
        t.sort();
        t
    }

    fn summary(&self, img: &ImageRecord) -> ImageSummary {
        ImageSummary {
            id: img.id.clone(),
            parent_id: img.parent.clone(),
            repo_tags: self.tags(&img.id),
            repo_digests: img.repo_digests.iter().map(|s| familiar(s)).collect(),
            created: img.created_unix,
            size: img.size,
            shared_size: -1,
            labels: img.labels.clone(),
            containers: -1,
        }
    }
}

fn lock(m: &Mutex<()>) -> std::sync::MutexGuard<'_, ()> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `path.Match`-style glob with `*` (not across `/`) and `?`.
fn glob(pattern: &[u8], s: &[u8]) -> bool {
    match (pattern.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob(&pattern[1..], s) || (!s.is_empty() && s[0] != b'/' && glob(pattern, &s[1..]))
        }
        (Some(b'?'), Some(c)) if *c != b'/' => glob(&pattern[1..], &s[1..]),
        (Some(p), Some(c)) if p == c => glob(&pattern[1..], &s[1..]),
        _ => false,
    }
}

fn truthy(v: &str) -> Result<bool> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(Error::Invalid(format!(
            "invalid filter value {v:?}: want true or false"
        ))),
    }
}

fn label_matches(labels: &BTreeMap<String, String>, filter: &str) -> bool {
    match filter.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(filter),
    }
}

impl Images {
    pub(crate) fn new(store: Arc<Store>, events: Arc<Events>) -> Self {
        Self {
            store,
            events,
            users: RwLock::new(None),
            lock: Mutex::new(()),
        }
    }

    /// Installs the hook that tells which containers use an image.
    pub fn set_users(&self, users: Arc<dyn ImageUsers>) {
        *self.users.write().unwrap_or_else(|p| p.into_inner()) = Some(users);
    }

    fn users_of(&self, id: &str) -> Vec<ImageUser> {
        match &*self.users.read().unwrap_or_else(|p| p.into_inner()) {
            Some(u) => u.users(id),
            None => Vec::new(),
        }
    }

    /// The store, for the services that build on it (containers, builder).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub(crate) fn event(&self, action: &str, id: &str, name: Option<&str>) {
        let mut attrs = BTreeMap::new();
        if let Some(n) = name {
            attrs.insert("name".to_owned(), n.to_owned());
        }
        self.events.publish(Event::new("image", action, id, attrs));
    }

    fn find(&self, view: &View, r: &ReadTxn, name: &str) -> Result<ImageRecord> {
        if let Ok(d) = name.parse::<berth_base::digest::Digest>() {
            return r
                .image(&d.to_string())?
                .ok_or_else(|| Error::NoSuchImage(name.to_owned()));
        }
        if let Ok(reference) = Reference::parse(name) {
            let reference = reference.with_default_tag();
            if reference.digest.is_some() {
                let full = reference.to_string();
                let by_name = format!(
                    "{}@{}",
                    reference.name(),
                    reference.digest.as_deref().unwrap_or("")
                );
                if let Some(img) = view
                    .images
                    .iter()
                    .find(|i| i.repo_digests.iter().any(|d| *d == full || *d == by_name))
                {
                    return Ok(img.clone());
                }
            } else if let Some(id) = r.resolve_ref(&reference.to_string())? {
                if let Some(img) = r.image(&id)? {
                    return Ok(img);
                }
            }
        }
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        if is_hex(hex) {
            let mut found = view
                .images
                .iter()
                .filter(|i| i.id.trim_start_matches("sha256:").starts_with(hex));
            if let Some(first) = found.next() {
                if found.next().is_some() {
                    return Err(Error::Conflict(format!(
                        "short image id {name:?} is ambiguous: give more characters"
                    )));
                }
                return Ok(first.clone());
            }
        }
        Err(Error::NoSuchImage(name.to_owned()))
    }

    /// Resolves a name (`busybox`, `busybox:1`, `name@sha256:...`), a full
    /// id (`sha256:...`) or an id prefix to the image id.
    pub fn resolve(&self, name: &str) -> Result<String> {
        let r = self.store.meta.read()?;
        let view = View::read(&r)?;
        Ok(self.find(&view, &r, name)?.id)
    }

    /// The chain ids of an image's layers, bottom first (for the
    /// containers service: `snapshots.prepare(key, layers.last())`).
    pub fn layers(&self, name: &str) -> Result<Vec<berth_base::digest::Digest>> {
        let r = self.store.meta.read()?;
        let view = View::read(&r)?;
        let img = self.find(&view, &r, name)?;
        img.layers
            .iter()
            .map(|l| {
                l.parse()
                    .map_err(|_| Error::Invalid(format!("image {}: bad chain id {l}", img.id)))
            })
            .collect()
    }

    /// The parsed config of an image.
    pub fn config(&self, name: &str) -> Result<ImageConfig> {
        let id = self.resolve(name)?;
        self.read_config(&id)
    }

    fn read_config(&self, id: &str) -> Result<ImageConfig> {
        let d: berth_base::digest::Digest = id
            .parse()
            .map_err(|_| Error::Invalid(format!("bad image id {id}")))?;
        let raw = self.store.content.read(&d)?;
        ImageConfig::parse(&raw).map_err(|e| Error::Invalid(format!("image {id}: bad config: {e}")))
    }

    /// Reads a file of an image's root filesystem (`etc/passwd`), looking
    /// through the layers from the top; `None` if no layer has it or a
    /// whiteout hides it. Paths resolve inside each layer
    /// (`RESOLVE_IN_ROOT`), so a symlink cannot lead outside.
    pub fn read_image_file(&self, name: &str, path: &str) -> Result<Option<Vec<u8>>> {
        use berth_store::Snapshotter;
        use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
        for chain in self.layers(name)?.iter().rev() {
            let dir = self.store.snapshots.layer_dir(chain);
            let root = rustix::fs::open(
                &dir,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| Error::io(format!("open {}", dir.display()), e.into()))?;
            let (parent, base) = path.rsplit_once('/').unwrap_or((".", path));
            let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
            let Ok(pfd) = rustix::fs::openat2(
                &root,
                parent,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                resolve,
            ) else {
                continue;
            };
            let Ok(st) = rustix::fs::statat(&pfd, base, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
            else {
                continue;
            };
            if FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice && st.st_rdev == 0 {
                return Ok(None);
            }
            let Ok(fd) = rustix::fs::openat2(
                &root,
                path,
                OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
                resolve,
            ) else {
                continue;
            };
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut std::fs::File::from(fd), &mut data)
                .map_err(|e| Error::io(format!("read {path} of image {name}"), e))?;
            return Ok(Some(data));
        }
        Ok(None)
    }

    /// `docker images`.
    pub fn list(&self, opts: &ListOptions) -> Result<Vec<ImageSummary>> {
        let r = self.store.meta.read()?;
        let view = View::read(&r)?;
        for k in opts.filters.keys() {
            if !["reference", "dangling", "label", "before", "since"].contains(&k.as_str()) {
                return Err(Error::Invalid(format!("invalid filter {k:?}")));
            }
        }
        let f = |k: &str| opts.filters.get(k).map(Vec::as_slice).unwrap_or_default();
        let dangling = match f("dangling") {
            [] => None,
            [v, ..] => Some(truthy(v)?),
        };
        let mut before = None;
        if let [name, ..] = f("before") {
            before = Some(self.find(&view, &r, name)?.created_unix);
        }
        let mut since = None;
        if let [name, ..] = f("since") {
            since = Some(self.find(&view, &r, name)?.created_unix);
        }
        let parents: HashSet<&str> = view.images.iter().map(|i| i.parent.as_str()).collect();
        let mut out = Vec::new();
        for img in &view.images {
            let s = view.summary(img);
            let is_dangling = s.repo_tags.is_empty() && s.repo_digests.is_empty();
            if !opts.all && is_dangling && parents.contains(img.id.as_str()) {
                continue;
            }
            if dangling.is_some_and(|d| d != s.repo_tags.is_empty()) {
                continue;
            }
            if before.is_some_and(|t| img.created_unix >= t)
                || since.is_some_and(|t| img.created_unix <= t)
            {
                continue;
            }
            if !f("label").iter().all(|l| label_matches(&img.labels, l)) {
                continue;
            }
            let mut s = s;
            if !f("reference").is_empty() {
                s.repo_tags.retain(|t| {
                    let name = t.rsplit_once(':').map_or(t.as_str(), |(n, _)| n);
                    f("reference").iter().any(|p| {
                        glob(p.as_bytes(), t.as_bytes()) || glob(p.as_bytes(), name.as_bytes())
                    })
                });
                if s.repo_tags.is_empty() {
                    continue;
                }
            }
            out.push(s);
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// `docker image inspect`.
    pub fn inspect(&self, name: &str) -> Result<ImageDetails> {
        let r = self.store.meta.read()?;
        let view = View::read(&r)?;
        let img = self.find(&view, &r, name)?;
        let cfg = self.read_config(&img.id)?;
        Ok(ImageDetails {
            id: img.id.clone(),
            repo_tags: view.tags(&img.id),
            repo_digests: img.repo_digests.iter().map(|s| familiar(s)).collect(),
            parent: img.parent.clone(),
            comment: cfg.comment.clone().unwrap_or_default(),
            created: cfg.created.clone().unwrap_or_default(),
            docker_version: cfg.docker_version.clone().unwrap_or_default(),
            author: cfg.author.clone().unwrap_or_default(),
            config: cfg.container_config(),
            architecture: cfg.architecture.clone(),
            variant: cfg.variant.clone(),
            os: cfg.os.clone(),
            size: img.size,
            root_fs: RootFsInfo {
                typ: "layers".into(),
                layers: cfg.rootfs.diff_ids.clone(),
            },
            last_tag_time: img.last_tag_time.clone(),
            image_config: cfg,
        })
    }

    /// `docker history`, newest first.
    pub fn history(&self, name: &str) -> Result<Vec<HistoryEntry>> {
        let r = self.store.meta.read()?;
        let view = View::read(&r)?;
        let img = self.find(&view, &r, name)?;
        let cfg = self.read_config(&img.id)?;
        let mut sizes = Vec::new();
        for chain in &img.layers {
            sizes.push(r.layer(chain)?.map_or(0, |l| l.size));
        }
        let mut sizes = sizes.into_iter();
        let mut out: Vec<HistoryEntry> = cfg
            .history
            .iter()
            .map(|h| HistoryEntry {
                id: "<missing>".into(),
                created: h
                    .created
                    .as_deref()
                    .and_then(berth_base::time::parse_rfc3339)
                    .map_or(0, |n| n / 1_000_000_000),
                created_by: h.created_by.clone().unwrap_or_default(),
                tags: Vec::new(),
                size: if h.empty_layer {
                    0
                } else {
                    sizes.next().unwrap_or(0)
                },
                comment: h.comment.clone().unwrap_or_default(),
            })
            .collect();
        out.reverse();
        match out.first_mut() {
            Some(top) => {
                top.id = img.id.clone();
                top.tags = view.tags(&img.id);
            }
            None => out.push(HistoryEntry {
                id: img.id.clone(),
                created: img.created_unix,
                created_by: String::new(),
                tags: view.tags(&img.id),
                size: img.size,
                comment: String::new(),
            }),
        }
        Ok(out)
    }

    /// `docker tag SRC REPO[:TAG]`: `repo` may carry the tag when `tag` is empty.
    pub fn tag(&self, source: &str, repo: &str, tag: &str) -> Result<()> {
        let full = if tag.is_empty() {
            repo.to_owned()
        } else {
            format!("{repo}:{tag}")
        };
        let reference = Reference::parse(&full)?.with_default_tag();
        if reference.digest.is_some() {
            return Err(Error::InvalidReference(format!(
                "refusing to create a tag with a digest: {full:?}"
            )));
        }
        let _g = lock(&self.lock);
        let r = self.store.meta.read()?;
        let view = View::read(&r)?;
        let img = self.find(&view, &r, source)?;
        drop(r);
        let mut tx = self.store.meta.write()?;
        tx.set_ref(&reference.to_string(), &img.id)?;
        let mut rec = img.clone();
        rec.last_tag_time = Some(berth_base::time::format_rfc3339_nano(
            berth_base::time::now_nanos(),
        ));
        tx.put_image(&rec)?;
        self.store.commit(tx)?;
        self.event("tag", &img.id, Some(&reference.familiar()));
        Ok(())
    }

    /// `docker rmi`. `force` removes an image with several tags by id, or
    /// untags one used by stopped containers; `_prune` (remove untagged
    /// parents) has nothing to do until commit and build make parents.
    pub fn remove(&self, name: &str, force: bool, _prune: bool) -> Result<Vec<DeleteResponse>> {
        let _g = lock(&self.lock);
        let r = self.store.meta.read()?;
        let view = View::read(&r)?;
        let img = self.find(&view, &r, name)?;
        drop(r);
        let refs = view.refs.get(&img.id).cloned().unwrap_or_default();
        let by_ref = Reference::parse(name)
            .ok()
            .map(|r| r.with_default_tag().to_string())
            .filter(|full| refs.contains(full));
        let mut out = Vec::new();
        let mut tx = self.store.meta.write()?;
        // Removing one of several names only untags.
        if let Some(full) = &by_ref {
            if refs.len() > 1 {
                tx.delete_ref(full)?;
                self.store.commit(tx)?;
                self.event("untag", &img.id, Some(&familiar(full)));
                return Ok(vec![DeleteResponse::Untagged(familiar(full))]);
            }
        }
        if by_ref.is_none() && refs.len() > 1 && !force {
            return Err(Error::Conflict(format!(
                "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                short(&img.id)
            )));
        }
        let users = self.users_of(&img.id);
        if let Some(u) = users.iter().find(|u| u.running) {
            return Err(Error::Conflict(format!(
                "conflict: unable to delete {} (cannot be forced) - image is being used by running container {}",
                short(&img.id),
                short(&u.container_id)
            )));
        }
        if let Some(u) = users.first() {
            if !force {
                return Err(Error::Conflict(format!(
                    "conflict: unable to delete {} (must be forced) - image is being used by stopped container {}",
                    short(&img.id),
                    short(&u.container_id)
                )));
            }
        }
        let mut untagged = Vec::new();
        for full in &refs {
            tx.delete_ref(full)?;
            untagged.push(familiar(full));
            out.push(DeleteResponse::Untagged(familiar(full)));
        }
        for d in &img.repo_digests {
            out.push(DeleteResponse::Untagged(familiar(d)));
        }
        let mut deleted = false;
        // Blobs that may have lost their last user: the config and the
        // blobs of removed layers. Only these are swept, so blobs of a load
        // running meanwhile (stored, not yet recorded) are left alone.
        let mut candidates = Vec::new();
        if users.is_empty() {
            let mut blobs = HashMap::new();
            for l in &img.layers {
                if let Some(rec) = tx.layer(l)? {
                    blobs.insert(l.clone(), rec.blob);
                }
            }
            tx.delete_image(&img.id)?;
            out.push(DeleteResponse::Deleted(img.id.clone()));
            deleted = true;
            candidates.push(img.id.clone());
            let mut gone = Vec::new();
            for l in img.layers.iter().rev() {
                if tx.layer(l)?.is_none() {
                    gone.push(l.clone());
                    candidates.extend(blobs.remove(l));
                }
            }
            out.extend(gone.into_iter().map(DeleteResponse::Deleted));
        }
        self.store.commit(tx)?;
        if deleted {
            self.store.gc_blobs_among(&candidates)?;
        }
        for t in &untagged {
            self.event("untag", &img.id, Some(t));
        }
        if deleted {
            self.event("delete", &img.id, None);
        }
        Ok(out)
    }

    /// `docker image prune`: dangling images, or with `all` every image no
    /// container uses. Filters: `until`, `label`, `label!`.
    pub fn prune(&self, all: bool, filters: &Filters) -> Result<PruneReport> {
        let until = match filters.get("until").and_then(|v| v.first()) {
            Some(u) => Some(parse_until(u)?),
            None => None,
        };
        for k in filters.keys() {
            if !["until", "label", "label!", "dangling"].contains(&k.as_str()) {
                return Err(Error::Invalid(format!("invalid filter {k:?}")));
            }
        }
        let all = match filters.get("dangling").and_then(|v| v.first()) {
            Some(v) => !truthy(v)?,
            None => all,
        };
        let view = View::read(&self.store.meta.read()?)?;
        let mut report = PruneReport::default();
        let before = self.layer_sizes()?;
        for img in &view.images {
            if !all && !view.tags(&img.id).is_empty() {
                continue;
            }
            if until.is_some_and(|u| img.created_unix >= u) {
                continue;
            }
            let labels = filters.get("label").map(Vec::as_slice).unwrap_or_default();
            let not_labels = filters.get("label!").map(Vec::as_slice).unwrap_or_default();
            if !labels.iter().all(|l| label_matches(&img.labels, l))
                || not_labels.iter().any(|l| label_matches(&img.labels, l))
            {
                continue;
            }
            if !self.users_of(&img.id).is_empty() {
                continue;
            }
            match self.remove(&img.id, true, true) {
                Ok(items) => report.deleted.extend(items),
                Err(Error::NoSuchImage(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let after = self.layer_sizes()?;
        report.space_reclaimed = before
            .iter()
            .filter(|(k, _)| !after.contains_key(*k))
            .map(|(_, v)| v)
            .sum();
        Ok(report)
    }

    fn layer_sizes(&self) -> Result<HashMap<String, u64>> {
        Ok(self
            .store
            .meta
            .read()?
            .layers()?
            .into_iter()
            .map(|l| (l.chain_id, l.size + l.blob_size))
            .collect())
    }

    /// The images part of `docker system df`.
    pub fn disk_usage(&self) -> Result<DiskUsage> {
        let r = self.store.meta.read()?;
        let view = View::read(&r)?;
        let layers: HashMap<String, u64> = r
            .layers()?
            .into_iter()
            .map(|l| (l.chain_id, l.size))
            .collect();
        let mut uses: HashMap<&str, usize> = HashMap::new();
        for img in &view.images {
            for l in &img.layers {
                *uses.entry(l.as_str()).or_default() += 1;
            }
        }
        let images = view
            .images
            .iter()
            .map(|img| {
                let mut s = view.summary(img);
                s.shared_size = img
                    .layers
                    .iter()
                    .filter(|l| uses.get(l.as_str()).copied().unwrap_or(0) > 1)
                    .map(|l| layers.get(l).copied().unwrap_or(0) as i64)
                    .sum();
                s.containers = self.users_of(&img.id).len() as i64;
                s
            })
            .collect();
        Ok(DiskUsage {
            layers_size: layers.values().sum(),
            images,
        })
    }
}

fn short(id: &str) -> &str {
    let hex = id.trim_start_matches("sha256:");
    &hex[..hex.len().min(12)]
}

/// `until` of prune, in seconds: Unix seconds, RFC 3339, or a Go duration
/// back from now (`24h`, `90m`, `30s`).
fn parse_until(v: &str) -> Result<i64> {
    berth_base::time::parse_since(v, berth_base::time::now_nanos())
        .map(|n| n.div_euclid(1_000_000_000))
        .ok_or_else(|| Error::Invalid(format!("invalid until filter {v:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_path_match() {
        assert!(glob(b"busy*", b"busybox"));
        assert!(glob(b"busybox:1.*", b"busybox:1.36"));
        assert!(!glob(b"*", b"me/app"));
        assert!(glob(b"*/*", b"me/app"));
        assert!(glob(b"b?sybox", b"busybox"));
    }

    #[test]
    fn until_accepts_the_three_forms() {
        assert_eq!(parse_until("1700000000").unwrap(), 1_700_000_000);
        assert_eq!(parse_until("2023-11-14T22:13:20Z").unwrap(), 1_700_000_000);
        assert!(parse_until("1h").unwrap() > 1_700_000_000);
        assert!(parse_until("soon").is_err());
    }
}
