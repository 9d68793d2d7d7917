//! The container service: create, start, stop, kill, restart, pause, wait,
//! remove, list, inspect, logs, attach, exec — each container run by its
//! own berth-shim, reached only through berth-shim-proto so the daemon can
//! die and come back without touching running containers.
//!
//! State on disk: `<data-root>/containers/<id>/` holds `container.json`
//! (the record, written atomically), the json-file log, `exit.json` (the
//! shim's record of the last exit), and hostname/hosts/resolv.conf
//! (written by each start).
//! `<exec-root>/shims/<id>/` is the shim's directory (socket, state, bundle).
//! On [`Containers::open`], every container that was running is checked:
//! a live shim is re-attached, otherwise the exit file gives the real exit
//! code and time.
//!
//! ```text
//! let c = Containers::open(&engine, Options::default())?;
//! let id = c.create(Some("web"), &create_body_json)?.id;
//! let w = c.wait_for(&id, WaitCondition::NextExit)?;   // before start, as docker run does
//! c.start(&id)?;
//! let code = w.wait().status_code;
//! ```

mod archive;
mod exec;
mod fs;
mod health;
mod launcher;
mod logs;
mod names;
pub mod spec;
mod stats;
pub mod types;
mod view;

pub use archive::{CommitRequest, ExtractOptions, PathStat};
pub use berth_shim_proto::{frame, time};
pub use exec::ExecInspect;
pub use health::{CheckResult, Health};
pub use logs::{parse_time as parse_log_time, LogLine, LogOptions};
pub use view::ListOptions;

use crate::events::{Event, Events};
use crate::image::{ImageUser, ImageUsers, Images};
use crate::Engine;
use berth_base::fsutil::{atomic_write, replace_file};
use berth_shim_proto::{
    Client, ExitFile, LogConfig as ShimLog, Request, RestartPolicy, RootfsMount, RuntimeKind,
    ShimConfig, Status,
};
use berth_store::{Snapshotter, Store};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;
use types::{Config, HostConfig, Record, State};

/// Errors of the container service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error("No such exec instance: {0}")]
    NoSuchExec(String),
    /// A path in a container (archive routes).
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    /// Nothing to do (start of a running container): HTTP 304.
    #[error("{0}")]
    NotModified(String),
    #[error(transparent)]
    Engine(#[from] crate::Error),
    #[error(transparent)]
    Store(#[from] berth_store::Error),
    #[error(transparent)]
    Shim(#[from] berth_shim_proto::Error),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn kind(&self) -> berth_base::ErrorKind {
        use berth_base::ErrorKind as K;
        match self {
            Error::NoSuchContainer(_) | Error::NoSuchExec(_) | Error::NotFound(_) => K::NotFound,
            Error::Conflict(_) => K::Conflict,
            Error::Invalid(_) => K::Invalid,
            Error::NotModified(_) => K::NotModified,
            Error::Engine(e) => e.kind(),
            Error::Store(e) => e.kind(),
            Error::Shim(e) => e.kind(),
            Error::Io { .. } => K::Internal,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How containers are run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The berth-shim binary.
    pub shim: PathBuf,
    /// The default runtime: `None` = berth-runtime linked into the shim,
    /// else an external binary with runc's command line.
    pub runtime: Option<PathBuf>,
}

impl Default for Options {
    /// berth-shim next to the running binary (or on PATH), the linked runtime.
    fn default() -> Self {
        let shim = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join("berth-shim")))
            .filter(|p| p.exists())
            .unwrap_or_else(|| PathBuf::from("berth-shim"));
        Self {
            shim,
            runtime: None,
        }
    }
}

/// What `create` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub id: String,
    pub warnings: Vec<String>,
}

/// `POST /containers/{id}/wait?condition=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

impl WaitCondition {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "" | "not-running" => Some(Self::NotRunning),
            "next-exit" => Some(Self::NextExit),
            "removed" => Some(Self::Removed),
            _ => None,
        }
    }
}

/// The answer of a wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitResult {
    pub status_code: i64,
    pub error: Option<String>,
}

/// A registered wait; [`Waiter::wait`] blocks until the condition holds.
pub struct Waiter {
    inner: Arc<Inner>,
    id: String,
    cond: WaitCondition,
    exits_seen: u64,
}

struct PendingAttach {
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tx: std::sync::mpsc::Sender<Result<AttachStream>>,
}

/// An attach that may wait for the container to start;
/// [`AttachHandle::wait`] gives the stream once it is connected.
pub struct AttachHandle {
    pub tty: bool,
    rx: std::sync::mpsc::Receiver<Result<AttachStream>>,
}

impl AttachHandle {
    /// A handle for a stream that is already connected (exec).
    pub fn ready(s: AttachStream) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        let tty = s.tty;
        let _ = tx.send(Ok(s));
        Self { tty, rx }
    }

    /// Block until the stream is connected (or the container went away).
    pub fn wait(self) -> Result<AttachStream> {
        self.wait_while(|| true)
            .unwrap_or_else(|| Err(Error::Conflict("attach cancelled".into())))
    }

    /// As [`AttachHandle::wait`], giving up (`None`) once `go_on` says so
    /// (checked every 200 ms), so a caller that went away frees the thread.
    pub fn wait_while(self, go_on: impl Fn() -> bool) -> Option<Result<AttachStream>> {
        use std::sync::mpsc::RecvTimeoutError;
        loop {
            match self.rx.recv_timeout(Duration::from_millis(200)) {
                Ok(r) => return Some(r),
                Err(RecvTimeoutError::Disconnected) => {
                    return Some(Err(Error::Conflict(
                        "the container was removed before it started".into(),
                    )))
                }
                Err(RecvTimeoutError::Timeout) if go_on() => {}
                Err(RecvTimeoutError::Timeout) => return None,
            }
        }
    }
}

/// A container's stdio on a connection to its shim: frames with Docker's
/// 8-byte header (kind 1 stdout, 2 stderr from the shim; write kind 0 for
/// stdin; shut down writing for stdin EOF).
#[derive(Debug)]
pub struct AttachStream {
    pub tty: bool,
    pub sock: UnixStream,
    /// Bytes of the stream read along with the shim's answer.
    pub pending: Vec<u8>,
}

pub(crate) struct Entry {
    rec: Record,
    /// Number of exits seen, for `next-exit` waits.
    exits: u64,
    monitored: bool,
    /// Copies (cp, export) working in the stopped container's own mount
    /// of its filesystem; see [`Inner::hold_for_copy`].
    copies: u32,
    /// A start is under way (between the state check and the shim).
    starting: bool,
}

/// Undoes a mark on a container's entry when dropped, however the marked
/// operation ends.
pub(crate) struct Unmark<'a> {
    inner: &'a Inner,
    id: String,
    undo: fn(&mut Entry),
}

impl Drop for Unmark<'_> {
    fn drop(&mut self) {
        if let Some(e) = self.inner.lock().by_id.get_mut(&self.id) {
            (self.undo)(e);
        }
    }
}

#[derive(Default)]
pub(crate) struct Table {
    by_id: HashMap<String, Entry>,
    names: HashMap<String, String>,
    execs: HashMap<String, exec::ExecEntry>,
    removed: Vec<(String, i64)>,
    /// Attaches made before start (`docker run`), connected at start.
    pending: HashMap<String, Vec<PendingAttach>>,
}

pub(crate) struct Inner {
    data_root: PathBuf,
    root: PathBuf,
    shims: PathBuf,
    runtime_root: PathBuf,
    store: Arc<Store>,
    images: Images,
    events: Arc<Events>,
    opts: Options,
    netvol: crate::network::hooks::ContainerHooks,
    launcher: launcher::Launcher,
    table: Mutex<Table>,
    changed: Condvar,
    health: Arc<health::Scheduler>,
}

/// The container service.
#[derive(Clone)]
pub struct Containers {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Containers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Containers")
    }
}

struct Users(std::sync::Weak<Inner>);

impl ImageUsers for Users {
    fn users(&self, image_id: &str) -> Vec<ImageUser> {
        let Some(inner) = self.0.upgrade() else {
            return Vec::new();
        };
        let t = inner.lock();
        t.by_id
            .values()
            .filter(|e| e.rec.image_id == image_id)
            .map(|e| ImageUser {
                container_id: e.rec.id.clone(),
                running: e.rec.state.is_running(),
            })
            .collect()
    }
}

fn now() -> i64 {
    berth_shim_proto::time::now()
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    fn shim_dir(&self, id: &str) -> PathBuf {
        self.shims.join(id)
    }

    /// Where a container's directory goes when it is removed, until the
    /// rest of it (snapshot, network plan, volumes) is gone too. The name
    /// keeps whether the anonymous volumes go along; ids are hex, so it
    /// never clashes with a container's.
    fn tomb(&self, id: &str, volumes: bool) -> PathBuf {
        let prefix = if volumes { TOMB_VOLUMES } else { TOMB };
        self.root.join(format!("{prefix}{id}"))
    }

    /// What others see of a removed container, released before anyone is
    /// told it is gone: its network endpoints and volume references (a
    /// `volume rm` or `network rm` right after `docker run --rm` must
    /// succeed). With `stop`, its network and volume mounts first, which an
    /// `--rm` container's exit leaves to this (see [`Containers::finish`]).
    fn release(&self, id: &str, volumes: bool, stop: bool) {
        // The network is stopped by the removal below.
        if stop {
            self.netvol.unmount_volumes(id);
        }
        if let Err(e) = self.netvol.remove(id, volumes) {
            tracing::warn!("release the network and volumes of container {id}: {e}");
        }
    }

    /// The rest of a removed container, which nobody sees: its writable
    /// layer, its shim directory, then the directory that marked it
    /// removed.
    fn bury(&self, id: &str, rw_key: &str, tomb: &Path) -> Result<()> {
        match self.store.snapshots.remove(rw_key) {
            Ok(()) => {}
            Err(e) if e.kind() == berth_base::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let _ = std::fs::remove_dir_all(self.shim_dir(id));
        remove_container_dir(tomb)
    }

    /// Makes again the writable layer of each container whose snapshot a
    /// crash lost: it is recorded on disk in the background after the
    /// create, and before anything is written into it (see
    /// [`berth_store::Snapshotter::prepare`]), so it was empty.
    fn restore_snapshots(&self) {
        let have: std::collections::HashSet<String> = match self.store.snapshots.list() {
            Ok(l) => l.into_iter().map(|s| s.key).collect(),
            Err(e) => {
                tracing::warn!("list snapshots: {e}");
                return;
            }
        };
        let lost: Vec<Record> = self
            .lock()
            .by_id
            .values()
            .filter(|e| !have.contains(&e.rec.rw_key))
            .map(|e| e.rec.clone())
            .collect();
        for rec in lost {
            let made = self.images.layers(&rec.image_id).and_then(|layers| {
                self.store
                    .snapshots
                    .prepare(&rec.rw_key, layers.last())
                    .map_err(Into::into)
            });
            match made {
                Ok(_) => tracing::info!(container = %rec.id, "made its lost writable layer again"),
                Err(e) => {
                    tracing::warn!(container = %rec.id, "make its lost writable layer again: {e}")
                }
            }
        }
    }

    /// Finish the removals a crash of berthd interrupted, and take away
    /// what a create it interrupted had made (the record, written last, is
    /// missing then).
    fn bury_leftovers(&self) {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return;
        };
        for ent in entries.flatten() {
            let name = ent.file_name().to_string_lossy().into_owned();
            let (id, volumes) = if let Some(id) = name.strip_prefix(TOMB_VOLUMES) {
                (id, true)
            } else if let Some(id) = name.strip_prefix(TOMB) {
                (id, false)
            } else if !name.starts_with('.')
                && ent.path().is_dir()
                && !ent.path().join("container.json").exists()
            {
                (name.as_str(), true)
            } else {
                continue;
            };
            let rw_key = std::fs::read(ent.path().join("container.json"))
                .ok()
                .and_then(|d| serde_json::from_slice::<Record>(&d).ok())
                .map_or_else(|| id.to_owned(), |r| r.rw_key);
            self.release(id, volumes, true);
            if let Err(e) = self.bury(id, &rw_key, &ent.path()) {
                tracing::warn!("finish the removal of container {id}: {e}");
            }
        }
    }

    fn client(&self, id: &str) -> Client {
        Client::new(berth_shim_proto::socket_path(&self.shim_dir(id)))
    }

    /// Write the record. An `--rm` container's is not fsynced: a crash of
    /// berthd loses nothing either way (the rename is atomic and the page
    /// cache outlives the process), and a crash of the host ends the
    /// container, which `--rm` would then remove anyway.
    fn save(&self, rec: &Record) -> Result<()> {
        let data = serde_json::to_vec_pretty(rec).unwrap_or_default();
        let p = self.dir(&rec.id).join("container.json");
        let write = if rec.host().auto_remove {
            replace_file
        } else {
            atomic_write
        };
        write(&p, &data, 0o600).map_err(|e| Error::io(format!("write {}", p.display()), e))
    }

    fn publish(&self, rec: &Record, action: &str, extra: &[(&str, String)]) {
        let mut attrs = BTreeMap::new();
        attrs.insert("name".to_owned(), rec.name.clone());
        attrs.insert("image".to_owned(), rec.image.clone());
        if let Some(labels) = rec.cfg().labels {
            for (k, v) in labels {
                attrs.insert(k, v);
            }
        }
        for (k, v) in extra {
            attrs.insert((*k).to_owned(), v.clone());
        }
        self.events
            .publish(Event::new("container", action, &rec.id, attrs));
    }

    /// A run ended: `oom` first when the OOM killer struck, then `die`, as
    /// docker orders them.
    fn publish_exit(&self, rec: &Record) {
        if rec.state.oom_killed {
            self.publish(rec, "oom", &[]);
        }
        self.publish(rec, "die", &[("exitCode", rec.state.exit_code.to_string())]);
    }

    /// Find a container by full id, name, or unique id prefix.
    fn find(&self, t: &Table, name: &str) -> Result<String> {
        let name = name.strip_prefix('/').unwrap_or(name);
        if t.by_id.contains_key(name) {
            return Ok(name.to_owned());
        }
        if let Some(id) = t.names.get(name) {
            return Ok(id.clone());
        }
        if !name.is_empty() {
            let mut hits = t.by_id.keys().filter(|id| id.starts_with(name));
            if let Some(first) = hits.next() {
                if hits.next().is_some() {
                    return Err(Error::Invalid(format!(
                        "multiple IDs found with provided prefix: {name}"
                    )));
                }
                return Ok(first.clone());
            }
        }
        Err(Error::NoSuchContainer(name.to_owned()))
    }

    fn record(&self, name: &str) -> Result<Record> {
        let t = self.lock();
        let id = self.find(&t, name)?;
        Ok(t.by_id[&id].rec.clone())
    }

    /// Apply `f` to the record of `id`, save it and wake waiters.
    /// Marks a stopped container's filesystem as used by a copy until the
    /// returned guard drops. Meanwhile start and removal are refused: a
    /// second overlay mount of the same upper directory (the container's
    /// own) must never exist beside the copy's.
    pub(crate) fn hold_for_copy(&self, id: &str) -> Result<Unmark<'_>> {
        let mut t = self.lock();
        let e = t
            .by_id
            .get_mut(id)
            .ok_or_else(|| Error::NoSuchContainer(id.to_owned()))?;
        if e.starting || e.rec.state.is_running() || e.rec.state.status == "removing" {
            let what = if e.starting {
                "starting"
            } else {
                e.rec.state.status.as_str()
            };
            return Err(Error::Conflict(format!(
                "container {id} is {what}: its filesystem cannot be copied from its snapshot now, try again"
            )));
        }
        e.copies += 1;
        Ok(Unmark {
            inner: self,
            id: id.to_owned(),
            undo: |e| e.copies = e.copies.saturating_sub(1),
        })
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut Entry)) -> Option<Record> {
        self.change(id, true, f)
    }

    /// As [`Inner::update`], writing the record only with `save`.
    fn change(&self, id: &str, save: bool, f: impl FnOnce(&mut Entry)) -> Option<Record> {
        let mut t = self.lock();
        let e = t.by_id.get_mut(id)?;
        f(e);
        let rec = e.rec.clone();
        drop(t);
        // A container being removed has no record left to write (and a
        // write would race with the removal of its directory).
        if save && rec.state.status != "removing" {
            if let Err(e) = self.save(&rec) {
                tracing::warn!("container {}: {e}", rec.id);
            }
        }
        self.changed.notify_all();
        Some(rec)
    }

    /// Writes the record while the container runs. Once it has exited,
    /// the exit's own write (or for `--rm`, none: see [`Containers::finish`])
    /// stands. Under the lock, so that an exit recorded meanwhile is
    /// written after this, never before.
    fn save_if_running(&self, id: &str) {
        let t = self.lock();
        let Some(e) = t.by_id.get(id).filter(|e| e.rec.state.is_running()) else {
            return;
        };
        if let Err(err) = self.save(&e.rec) {
            tracing::warn!("container {id}: {err}");
        }
    }

    fn read_exit_file(&self, id: &str) -> Option<ExitFile> {
        let d = std::fs::read(self.dir(id).join("exit.json")).ok()?;
        serde_json::from_slice(&d).ok()
    }
}

impl Containers {
    /// Open the container service of `engine`, re-finding live shims.
    pub fn open(engine: &Engine, opts: Options) -> Result<Self> {
        let cfg = engine.config();
        // Absolute: the shims run in directories of their own.
        let abs = |p: &Path| {
            std::path::absolute(p).map_err(|e| Error::io(format!("resolve {}", p.display()), e))
        };
        let (data_root, exec_root) = (abs(&cfg.data_root)?, abs(&cfg.exec_root)?);
        let root = data_root.join("containers");
        let shims = exec_root.join("shims");
        for d in [&root, &shims] {
            std::fs::create_dir_all(d)
                .map_err(|e| Error::io(format!("create {}", d.display()), e))?;
        }
        let shim = opts.shim.clone();
        let inner = Arc::new(Inner {
            data_root,
            root: root.clone(),
            shims,
            runtime_root: exec_root.join("runtime"),
            store: engine.store().clone(),
            images: Images::new(engine.store().clone(), engine.events().clone()),
            events: engine.events().clone(),
            opts,
            netvol: crate::network::hooks::ContainerHooks::new(engine),
            launcher: launcher::Launcher::new(shim),
            table: Mutex::new(Table::default()),
            changed: Condvar::new(),
            health: Arc::default(),
        });
        let mut running = Vec::new();
        {
            let mut t = inner.lock();
            let entries = std::fs::read_dir(&root)
                .map_err(|e| Error::io(format!("read {}", root.display()), e))?;
            for ent in entries.flatten() {
                if ent.file_name().to_string_lossy().starts_with('.') {
                    continue;
                }
                let p = ent.path().join("container.json");
                let Ok(data) = std::fs::read(&p) else {
                    continue;
                };
                let rec: Record = match serde_json::from_slice(&data) {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!("skip {}: {e}", p.display());
                        continue;
                    }
                };
                // A stopped container with a shim directory was being
                // started (its record is written once the start is done):
                // its shim may have run it.
                let starting = inner.shim_dir(&rec.id).exists();
                if rec.state.is_running() || rec.state.status == "removing" || starting {
                    running.push(rec.id.clone());
                }
                t.names.insert(rec.name.clone(), rec.id.clone());
                t.by_id.insert(
                    rec.id.clone(),
                    Entry {
                        rec,
                        exits: 0,
                        monitored: false,
                        copies: 0,
                        starting: false,
                    },
                );
            }
        }
        let me = Self { inner };
        me.inner.bury_leftovers();
        me.inner.restore_snapshots();
        for id in running {
            me.recover(&id);
        }
        engine
            .images()
            .set_users(Arc::new(Users(Arc::downgrade(&me.inner))));
        me.inner
            .images
            .set_users(Arc::new(Users(Arc::downgrade(&me.inner))));
        Ok(me)
    }

    /// A container recorded as running: re-attach to its shim, or take the
    /// exit it recorded while nobody was watching.
    fn recover(&self, id: &str) {
        let inner = &self.inner;
        match inner.client(id).call(&Request::State) {
            Ok(r) => {
                if let Some(st) = r.state {
                    if st.status != Status::Stopped {
                        inner.update(id, |e| {
                            e.rec.state.pid = st.pid;
                            e.rec.state.status = status_name(st.status).into();
                            e.rec.restart_count = st.restart_count;
                            // The shim's is the truth: it may have restarted
                            // the container, or run one whose start berthd
                            // never saw finish.
                            if st.started_at > 0 {
                                e.rec.state.started_at = st.started_at;
                            }
                        });
                        self.monitor(id);
                        self.health_start(id, false);
                        return;
                    }
                }
                self.finish(id, None);
            }
            Err(_) => self.finish(id, None),
        }
    }

    /// The container's shim is done: record its last exit.
    fn finish(&self, id: &str, exit: Option<ExitFile>) {
        let inner = &self.inner;
        let exit = exit.or_else(|| inner.read_exit_file(id));
        let auto_remove = inner.record(id).is_ok_and(|r| r.host().auto_remove);
        // Before the state says "exited": a start right after must find a
        // clean directory for its new shim. An `--rm` container never
        // starts again: its removal does this after `docker run` is told.
        if !auto_remove {
            let _ = std::fs::remove_dir_all(inner.shim_dir(id));
            inner.netvol.stop(id);
        }
        // An `--rm` container's exit is not written: its record goes next,
        // and if berthd dies first, the record still says running, so the
        // next start finds the exit file and removes the container.
        let Some(rec) = inner.change(id, !auto_remove, |e| {
            let s = &mut e.rec.state;
            match &exit {
                Some(x) if x.exit.finished_at >= s.started_at => {
                    s.exit_code = x.exit.code;
                    s.finished_at = x.exit.finished_at;
                    s.oom_killed = x.exit.oom_killed;
                    s.error = x.exit.error.clone().unwrap_or_default();
                    e.rec.restart_count = x.restart_count;
                }
                // The shim vanished without a word (killed, or the host
                // rebooted): docker reports 128+SIGKILL.
                _ => {
                    s.exit_code = 137;
                    s.finished_at = now();
                    s.oom_killed = false;
                }
            }
            s.status = "exited".into();
            s.pid = 0;
            s.health_stopped();
            e.exits += 1;
            e.monitored = false;
        }) else {
            return;
        };
        inner.publish_exit(&rec);
        if rec.host().auto_remove {
            // `--rm` takes the anonymous volumes along, as docker's.
            if let Err(e) = self.remove(id, true, true) {
                tracing::warn!("auto-remove {id}: {e}");
            }
        }
    }

    /// Watch a running container's shim from a small thread: each exit
    /// (restarts included) updates the record and wakes waiters.
    fn monitor(&self, id: &str) {
        {
            let mut t = self.inner.lock();
            match t.by_id.get_mut(id) {
                Some(e) if !e.monitored => e.monitored = true,
                _ => return,
            }
        }
        let me = self.clone();
        let id = id.to_owned();
        let spawned = std::thread::Builder::new()
            .name("berth-monitor".into())
            .stack_size(128 * 1024)
            .spawn(move || me.watch(&id));
        if let Err(e) = spawned {
            tracing::warn!("monitor thread: {e}");
        }
    }

    fn watch(&self, id: &str) {
        let inner = &self.inner;
        let client = inner.client(id);
        loop {
            let answer = client.call(&Request::Wait);
            // The shim sends its state with the answer; one from before
            // it did is asked.
            let state = match answer.as_ref().ok().and_then(|r| r.state.clone()) {
                Some(st) => Some(st),
                None => client.call(&Request::State).ok().and_then(|r| r.state),
            };
            match (answer, state) {
                (Ok(_), Some(st)) if st.status != Status::Stopped => {
                    // A restart policy is at work: an exit, then a new run.
                    let exit = st.last_exit.clone();
                    if let Some(rec) = inner.update(id, |e| {
                        if let Some(x) = &exit {
                            e.rec.state.exit_code = x.code;
                            e.rec.state.finished_at = x.finished_at;
                            e.rec.state.oom_killed = x.oom_killed;
                        }
                        e.rec.state.status = status_name(st.status).into();
                        e.rec.state.pid = st.pid;
                        e.rec.state.health_stopped();
                        e.rec.restart_count = st.restart_count;
                        e.exits += 1;
                    }) {
                        inner.publish_exit(&rec);
                    }
                    self.follow_restart(id, &client);
                }
                (answer, state) => {
                    // The exit came with the answer; the file is read only
                    // when it did not (an older shim, or none at all).
                    let exit = answer
                        .ok()
                        .and_then(|r| r.exit)
                        .zip(state)
                        .map(|(exit, st)| ExitFile {
                            exit,
                            started_at: st.started_at,
                            restart_count: st.restart_count,
                            manually_stopped: st.manually_stopped,
                        });
                    self.finish(id, exit);
                    return;
                }
            }
        }
    }

    /// While the shim restarts the container, pick up the new run.
    fn follow_restart(&self, id: &str, client: &Client) {
        loop {
            match client.call(&Request::State).ok().and_then(|r| r.state) {
                Some(st) if st.status == Status::Restarting => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Some(st) if matches!(st.status, Status::Running | Status::Paused) => {
                    if let Some(rec) = self.inner.update(id, |e| {
                        e.rec.state.status = status_name(st.status).into();
                        e.rec.state.pid = st.pid;
                        e.rec.state.started_at = st.started_at;
                        e.rec.state.oom_killed = false;
                        e.rec.restart_count = st.restart_count;
                    }) {
                        self.inner.publish(&rec, "start", &[]);
                    }
                    self.health_start(id, true);
                    return;
                }
                _ => return,
            }
        }
    }

    /// Resolve a name, id or id prefix to the full id.
    pub fn resolve(&self, name: &str) -> Result<String> {
        let t = self.inner.lock();
        self.inner.find(&t, name)
    }

    /// `POST /containers/create`: `body` is Docker's create body (Config
    /// fields, `HostConfig`, `NetworkingConfig`).
    pub fn create(&self, name: Option<&str>, body: &Value) -> Result<Created> {
        let inner = &self.inner;
        let mut cfg_val = body.clone();
        let host_config = cfg_val
            .as_object_mut()
            .and_then(|o| o.remove("HostConfig"))
            .filter(|v| !v.is_null())
            .unwrap_or_else(|| json!({}));
        let mut networking = cfg_val
            .as_object_mut()
            .and_then(|o| o.remove("NetworkingConfig"))
            .unwrap_or(Value::Null);
        let mut host_config = host_config;
        normalize_default_network(&mut host_config, &mut networking);
        let mut cfg: Config = serde_json::from_value(cfg_val.clone())
            .map_err(|e| Error::Invalid(format!("invalid container config: {e}")))?;
        let hc: HostConfig = serde_json::from_value(host_config.clone())
            .map_err(|e| Error::Invalid(format!("invalid host config: {e}")))?;
        validate_host_config(&hc)?;
        if cfg.image.is_empty() {
            return Err(Error::Invalid("config.Image must not be empty".into()));
        }
        let image_id = inner
            .images
            .resolve(&cfg.image)
            .map_err(|e| match e.kind() {
                berth_base::ErrorKind::NotFound => {
                    Error::Engine(crate::Error::NoSuchImage(cfg.image.clone()))
                }
                _ => Error::Engine(e),
            })?;
        let icfg = inner.images.config(&image_id)?.container_config();
        merge_image_config(&mut cfg, &icfg);
        if cfg
            .entrypoint
            .iter()
            .flatten()
            .chain(cfg.cmd.iter().flatten())
            .next()
            .is_none()
        {
            return Err(Error::Invalid("no command specified".into()));
        }
        // Write the merged values back into the JSON we echo in inspect.
        let merged = serde_json::to_value(&cfg).unwrap_or_default();
        if let (Some(o), Some(m)) = (cfg_val.as_object_mut(), merged.as_object()) {
            for (k, v) in m {
                o.insert(k.clone(), v.clone());
            }
        }
        let id = berth_base::id::random_id().map_err(|e| Error::io("random id", e))?;
        let mut t = inner.lock();
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                let n = n.strip_prefix('/').unwrap_or(n);
                if !names::valid(n) {
                    return Err(Error::Invalid(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                if let Some(other) = t.names.get(n) {
                    return Err(Error::Conflict(format!(
                        "Conflict. The container name \"/{n}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                    )));
                }
                n.to_owned()
            }
            None => {
                let mut n = names::generate(0);
                let mut i = 0;
                while t.names.contains_key(&n) {
                    i += 1;
                    n = names::generate(i);
                }
                n
            }
        };
        // Reserve the name before the slow part.
        t.names.insert(name.clone(), id.clone());
        drop(t);
        let result =
            self.create_files(&id, &name, &cfg, cfg_val, host_config, networking, image_id);
        let mut t = inner.lock();
        match result {
            Ok(rec) => {
                t.by_id.insert(
                    id.clone(),
                    Entry {
                        rec: rec.clone(),
                        exits: 0,
                        monitored: false,
                        copies: 0,
                        starting: false,
                    },
                );
                drop(t);
                inner.publish(&rec, "create", &[]);
                let mut warnings = Vec::new();
                if hc.memory > 0
                    && !Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
                    && Path::new("/sys/fs/cgroup/memory").exists()
                {
                    warnings.push("Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.".into());
                }
                Ok(Created { id, warnings })
            }
            Err(e) => {
                t.names.remove(&name);
                drop(t);
                let _ = std::fs::remove_dir_all(inner.dir(&id));
                let _ = inner.store.snapshots.remove(&id);
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn create_files(
        &self,
        id: &str,
        name: &str,
        cfg: &Config,
        cfg_val: Value,
        host_config: Value,
        networking: Value,
        image_id: String,
    ) -> Result<Record> {
        let inner = &self.inner;
        let dir = inner.dir(id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        let layers = inner.images.layers(&image_id)?;
        let rootfs = inner.store.snapshots.prepare(id, layers.last())?;
        let resolve = |n: &str| self.resolve(n).ok();
        inner.netvol.create(
            id,
            name,
            &cfg_val,
            &host_config,
            &networking,
            &rootfs,
            &resolve,
        )?;
        let args: Vec<String> = cfg
            .entrypoint
            .iter()
            .flatten()
            .chain(cfg.cmd.iter().flatten())
            .cloned()
            .collect();
        let rec = Record {
            id: id.to_owned(),
            name: name.to_owned(),
            created: now(),
            image: cfg.image.clone(),
            image_id,
            config: cfg_val,
            host_config,
            networking_config: networking,
            path: args.first().cloned().unwrap_or_default(),
            args: args.get(1..).map(<[String]>::to_vec).unwrap_or_default(),
            state: State {
                status: "created".into(),
                ..State::default()
            },
            restart_count: 0,
            rw_key: id.to_owned(),
            log_path: dir.join(format!("{id}-json.log")),
            manually_stopped: false,
        };
        inner.save(&rec)?;
        Ok(rec)
    }

    /// `POST /containers/{id}/start`.
    pub fn start(&self, name: &str) -> Result<()> {
        let inner = &self.inner;
        let rec = inner.record(name)?;
        match rec.state.status.as_str() {
            "running" | "restarting" => {
                return Err(Error::NotModified(format!(
                    "container {} is already started",
                    rec.id
                )))
            }
            "paused" => {
                return Err(Error::Conflict(
                    "cannot start a paused container, try unpause instead".into(),
                ))
            }
            "removing" | "dead" => {
                return Err(Error::Conflict(format!(
                    "container {} is marked for removal and cannot be started",
                    rec.id
                )))
            }
            _ => {}
        }
        let id = rec.id.clone();
        // Cleared where the start ends; the guard covers the early returns.
        let _starting = {
            let mut t = inner.lock();
            let e = t
                .by_id
                .get_mut(&id)
                .ok_or_else(|| Error::NoSuchContainer(name.to_owned()))?;
            if e.copies > 0 || e.starting {
                return Err(Error::Conflict(format!(
                    "container {id} is busy: {}, try again",
                    if e.starting {
                        "it is being started"
                    } else {
                        "a copy from or into its filesystem is in progress"
                    }
                )));
            }
            e.starting = true;
            Unmark {
                inner,
                id: id.clone(),
                undo: |e| e.starting = false,
            }
        };
        // Waiting attaches whose client is gone are dropped first.
        let pending = self.inner.lock().pending.remove(&id).unwrap_or_default();
        let awaited = u32::try_from(pending.len()).unwrap_or(u32::MAX);
        match self.spawn_shim(&rec, awaited) {
            Ok(st) => {
                // Written once the attaches are in, below: they are what
                // the output (and so the exit of a short command) waits for.
                let started = inner.change(&id, false, |e| {
                    let s = &mut e.rec.state;
                    s.status = "running".into();
                    s.pid = st.pid;
                    s.started_at = st.started_at;
                    s.error.clear();
                    s.exit_code = 0;
                    s.oom_killed = false;
                    e.rec.manually_stopped = false;
                    // Running now: copies take the live root, and an
                    // exit's auto-remove must not find the start marked.
                    e.starting = false;
                });
                // Watched before the attaches connect: a short command has
                // often exited by now, and its shim answers the wait as
                // soon as the attaches have its output (not sooner, so the
                // exit cannot overtake them).
                self.monitor(&id);
                for p in pending {
                    let _ =
                        p.tx.send(self.connect_attach(&rec, p.stdin, p.stdout, p.stderr));
                }
                inner.save_if_running(&id);
                if let Some(rec) = started {
                    inner.publish(&rec, "start", &[]);
                }
                self.health_start(&id, true);
                Ok(())
            }
            Err(e) => {
                for p in pending {
                    let _ = p.tx.send(Err(Error::Conflict(e.to_string())));
                }
                let msg = e.to_string();
                let code = if msg.contains("ermission denied") {
                    126
                } else {
                    127
                };
                inner.update(&id, |e| {
                    e.rec.state.error = msg.clone();
                    e.rec.state.exit_code = code;
                    // Before the --rm removal below, which a start refuses.
                    e.starting = false;
                });
                let _ = std::fs::remove_dir_all(inner.shim_dir(&id));
                inner.netvol.stop(&id);
                // As dockerd: a --rm container that cannot start is removed.
                if rec.host().auto_remove {
                    let _ = self.remove(&id, true, false);
                }
                Err(e)
            }
        }
    }

    /// Build the bundle, write the shim's config and start it.
    fn spawn_shim(&self, rec: &Record, await_attach: u32) -> Result<berth_shim_proto::ShimState> {
        let inner = &self.inner;
        let id = &rec.id;
        let cfg = rec.cfg();
        let hc = crate::network::hooks::without_mounts(rec.host());
        let sdir = inner.shim_dir(id);
        let _ = std::fs::remove_dir_all(&sdir);
        let bundle = sdir.join("bundle");
        // Outermost first: `create_dir_all` tries the innermost first, and
        // fails twice before it gets there.
        std::fs::create_dir_all(&sdir)
            .and_then(|()| std::fs::create_dir(&bundle))
            .and_then(|()| std::fs::create_dir(bundle.join("rootfs")))
            .map_err(|e| Error::io(format!("create {}", bundle.display()), e))?;
        let images = &inner.images;
        let image_id = rec.image_id.clone();
        let read = move |p: &str| images.read_image_file(&image_id, p).ok().flatten();
        let user = spec::resolve_user(&cfg.user, &read)?;
        let dir = inner.dir(id);
        let mut spec = spec::build(
            id,
            &cfg,
            &hc,
            &user,
            &spec::EtcFiles {
                hosts: &dir.join("hosts"),
                hostname: &dir.join("hostname"),
                resolv_conf: &dir.join("resolv.conf"),
            },
            &inner.data_root,
        )?;
        let mounts = inner.store.snapshots.mounts(&rec.rw_key)?;
        inner.netvol.start(id, &mounts, &mut spec)?;
        let p = bundle.join("config.json");
        std::fs::write(&p, serde_json::to_vec(&spec).unwrap_or_default())
            .map_err(|e| Error::io(format!("write {}", p.display()), e))?;
        let log = match hc.log_config.r#type.as_str() {
            "none" => None,
            "" | "json-file" | "local" => Some(ShimLog {
                path: rec.log_path.clone(),
                max_size: hc
                    .log_config
                    .config
                    .get("max-size")
                    .and_then(|s| spec::parse_size(s))
                    .map_or(0, |v| v.max(0) as u64),
                max_file: hc
                    .log_config
                    .config
                    .get("max-file")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(1),
            }),
            other => {
                return Err(Error::Invalid(format!(
                    "logging driver {other:?} is not supported"
                )))
            }
        };
        let runtime = match &inner.opts.runtime {
            None => RuntimeKind::Builtin {
                root: inner.runtime_root.clone(),
            },
            Some(p) => RuntimeKind::External {
                path: p.clone(),
                root: inner.runtime_root.join(
                    p.file_name()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                ),
            },
        };
        let shim_cfg = ShimConfig {
            id: id.clone(),
            bundle,
            runtime,
            rootfs: mounts
                .into_iter()
                .map(|m| RootfsMount {
                    kind: m.kind,
                    source: m.source,
                    options: m.options,
                })
                .collect(),
            spec: spec["root"]["path"]
                .as_str()
                .map(|root| berth_shim_proto::SpecSummary {
                    root: root.into(),
                    cgroups_path: spec["linux"]["cgroupsPath"].as_str().map(str::to_owned),
                }),
            tty: cfg.tty,
            open_stdin: cfg.open_stdin,
            stdin_once: cfg.stdin_once,
            log,
            exit_file: dir.join("exit.json"),
            auto_remove: hc.auto_remove,
            restart: restart_policy(&hc)?,
            restart_count: rec.restart_count,
            console_size: hc
                .console_size
                .filter(|[h, w]| *h > 0 && *w > 0)
                .map(|[h, w]| (h, w)),
            await_attach,
        };
        let p = sdir.join(berth_shim_proto::CONFIG_NAME);
        std::fs::write(&p, serde_json::to_vec(&shim_cfg).unwrap_or_default())
            .map_err(|e| Error::io(format!("write {}", p.display()), e))?;
        let _ = std::fs::remove_file(dir.join("exit.json"));
        let out = inner
            .launcher
            .start(&sdir)
            .map_err(|e| Error::io(format!("run {}", inner.opts.shim.display()), e))?;
        let answer = berth_shim_proto::decode_response_line(&out).map_err(|msg| {
            Error::io(
                format!("start shim for {id}"),
                std::io::Error::other(format!(
                    "bad answer ({msg}); see {}",
                    sdir.join("shim.log").display()
                )),
            )
        })?;
        if let Some((code, msg)) = answer.error {
            // The docker CLI picks run's exit code (127, 126) from these words.
            let msg = msg.replace("no such executable file", "no such file or directory");
            let msg = format!("failed to create task for container: {msg}");
            return Err(match code {
                berth_shim_proto::ErrorCode::Invalid | berth_shim_proto::ErrorCode::NotFound => {
                    Error::Invalid(msg)
                }
                berth_shim_proto::ErrorCode::Conflict => Error::Conflict(msg),
                berth_shim_proto::ErrorCode::Internal => {
                    Error::io(msg, std::io::Error::other("runtime"))
                }
            });
        }
        answer.state.ok_or_else(|| {
            Error::io(
                format!("start shim for {id}"),
                std::io::Error::other("no state in answer"),
            )
        })
    }

    fn running(&self, name: &str) -> Result<Record> {
        let rec = self.inner.record(name)?;
        if !rec.state.is_running() {
            return Err(Error::Conflict(format!(
                "Container {} is not running",
                rec.id
            )));
        }
        Ok(rec)
    }

    /// `POST /containers/{id}/stop`: the stop signal, then SIGKILL after
    /// `timeout` seconds (default: the container's, else 10; -1 waits forever).
    pub fn stop(&self, name: &str, signal: Option<&str>, timeout: Option<i64>) -> Result<()> {
        let rec = self.inner.record(name)?;
        if !rec.state.is_running() {
            return Err(Error::NotModified(format!(
                "container {} is already stopped",
                rec.id
            )));
        }
        let cfg = rec.cfg();
        let sig = parse_signal(signal.or(cfg.stop_signal.as_deref()).unwrap_or("SIGTERM"))?;
        let timeout = timeout.or(cfg.stop_timeout).unwrap_or(10);
        self.inner
            .update(&rec.id, |e| e.rec.manually_stopped = true);
        let r = self.inner.client(&rec.id).call(&Request::Stop {
            signal: sig,
            timeout_secs: u64::try_from(timeout).ok(),
        });
        match r {
            Ok(_) => {}
            Err(e) if e.is_gone() => {}
            Err(e) => return Err(e.into()),
        }
        self.wait_stopped(&rec.id);
        self.inner.publish(&rec, "stop", &[]);
        Ok(())
    }

    /// Block until the monitor recorded the container as stopped.
    fn wait_stopped(&self, id: &str) {
        let inner = &self.inner;
        let mut t = inner.lock();
        loop {
            match t.by_id.get(id) {
                Some(e) if e.rec.state.is_running() => {}
                _ => return,
            }
            let (g, _) = inner
                .changed
                .wait_timeout(t, Duration::from_millis(200))
                .unwrap_or_else(|p| p.into_inner());
            t = g;
            // The monitor may have lost the shim: check it directly.
            if let Some(e) = t.by_id.get(id) {
                if e.rec.state.is_running()
                    && !berth_shim_proto::socket_path(&inner.shim_dir(id)).exists()
                {
                    drop(t);
                    self.finish(id, None);
                    t = inner.lock();
                }
            }
        }
    }

    /// `POST /containers/{id}/kill`.
    pub fn kill(&self, name: &str, signal: Option<&str>) -> Result<()> {
        let rec = self.running(name)?;
        let sig = parse_signal(signal.unwrap_or("SIGKILL"))?;
        if sig == 9 {
            self.inner
                .update(&rec.id, |e| e.rec.manually_stopped = true);
        }
        self.inner.client(&rec.id).call(&Request::Kill {
            signal: sig,
            all: false,
        })?;
        self.inner
            .publish(&rec, "kill", &[("signal", sig.to_string())]);
        if sig == 9 {
            self.wait_stopped(&rec.id);
        }
        Ok(())
    }

    /// `POST /containers/{id}/restart`.
    pub fn restart(&self, name: &str, signal: Option<&str>, timeout: Option<i64>) -> Result<()> {
        match self.stop(name, signal, timeout) {
            Ok(()) | Err(Error::NotModified(_)) => {}
            Err(e) => return Err(e),
        }
        let rec = self.inner.record(name)?;
        self.start(&rec.id)?;
        self.inner.publish(&rec, "restart", &[]);
        Ok(())
    }

    /// `POST /containers/{id}/pause` and `unpause`.
    pub fn pause(&self, name: &str, pause: bool) -> Result<()> {
        let rec = self.running(name)?;
        match (rec.state.status.as_str(), pause) {
            ("paused", true) => {
                return Err(Error::Conflict(format!(
                    "Container {} is already paused",
                    rec.id
                )))
            }
            ("running", false) => {
                return Err(Error::Conflict(format!(
                    "Container {} is not paused",
                    rec.id
                )))
            }
            _ => {}
        }
        let req = if pause {
            Request::Pause
        } else {
            Request::Resume
        };
        self.inner.client(&rec.id).call(&req)?;
        let status = if pause { "paused" } else { "running" };
        if let Some(rec) = self
            .inner
            .update(&rec.id, |e| e.rec.state.status = status.into())
        {
            self.inner
                .publish(&rec, if pause { "pause" } else { "unpause" }, &[]);
        }
        Ok(())
    }

    /// Register a wait now (before the container starts, as `docker run`
    /// does); [`Waiter::wait`] blocks until the condition holds.
    pub fn wait_for(&self, name: &str, cond: WaitCondition) -> Result<Waiter> {
        let t = self.inner.lock();
        let id = self.inner.find(&t, name)?;
        Ok(Waiter {
            inner: self.inner.clone(),
            exits_seen: t.by_id[&id].exits,
            id,
            cond,
        })
    }

    /// `DELETE /containers/{id}`.
    pub fn remove(&self, name: &str, force: bool, volumes: bool) -> Result<()> {
        let inner = &self.inner;
        let rec = inner.record(name)?;
        if rec.state.is_running() {
            if !force {
                return Err(Error::Conflict(format!(
                    "You cannot remove a {} container {}. Stop the container before attempting removal or force remove",
                    rec.state.status, rec.id
                )));
            }
            let _ = inner.client(&rec.id).call(&Request::Stop {
                signal: 9,
                timeout_secs: Some(0),
            });
            self.wait_stopped(&rec.id);
        }
        {
            let mut t = inner.lock();
            match t.by_id.get_mut(&rec.id) {
                Some(e) if e.rec.state.status == "removing" => {
                    return Err(Error::Conflict(format!(
                        "removal of container {} is already in progress",
                        rec.id
                    )));
                }
                Some(e) if e.copies > 0 || e.starting => {
                    return Err(Error::Conflict(format!(
                        "container {} is busy (being started, or a copy from or into it is in progress), try again",
                        rec.id
                    )));
                }
                Some(e) => e.rec.state.status = "removing".into(),
                None => return Err(Error::NoSuchContainer(name.to_owned())),
            }
        }
        // The commit point: a renamed directory is no container to the next
        // start of berthd, which finishes the cleanup below if a crash cut
        // it short. Waiters (`docker run --rm`) are answered from here on,
        // not after the cleanup.
        let tomb = inner.tomb(&rec.id, volumes);
        let dir = inner.dir(&rec.id);
        if let Err(e) = std::fs::rename(&dir, &tomb) {
            if e.kind() != std::io::ErrorKind::NotFound {
                inner.update(&rec.id, |e| e.rec.state.status = "dead".into());
                return Err(Error::io(format!("remove {}", dir.display()), e));
            }
        }
        inner.release(&rec.id, volumes, rec.host().auto_remove);
        {
            let mut t = inner.lock();
            t.by_id.remove(&rec.id);
            if t.names.get(&rec.name) == Some(&rec.id) {
                t.names.remove(&rec.name);
            }
            t.execs.retain(|_, x| x.container_id != rec.id);
            t.pending.remove(&rec.id);
            t.removed.push((rec.id.clone(), rec.state.exit_code.into()));
            if t.removed.len() > 256 {
                t.removed.remove(0);
            }
        }
        inner.changed.notify_all();
        if let Err(e) = inner.bury(&rec.id, &rec.rw_key, &tomb) {
            tracing::warn!(
                "remove container {}: {e} (retried at the next start)",
                rec.id
            );
        }
        inner.publish(&rec, "destroy", &[]);
        Ok(())
    }

    /// `POST /containers/{id}/rename`.
    pub fn rename(&self, name: &str, new: &str) -> Result<()> {
        let new = new.strip_prefix('/').unwrap_or(new);
        if !names::valid(new) {
            return Err(Error::Invalid(format!(
                "Invalid container name ({new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let inner = &self.inner;
        let mut t = inner.lock();
        let id = inner.find(&t, name)?;
        if let Some(other) = t.names.get(new) {
            return Err(Error::Conflict(format!(
                "Conflict. The container name \"/{new}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
            )));
        }
        let old = t.by_id[&id].rec.name.clone();
        t.names.remove(&old);
        t.names.insert(new.to_owned(), id.clone());
        drop(t);
        if let Some(rec) = inner.update(&id, |e| e.rec.name = new.to_owned()) {
            inner.publish(&rec, "rename", &[("oldName", format!("/{old}"))]);
        }
        Ok(())
    }

    /// `POST /containers/{id}/resize`.
    pub fn resize(&self, name: &str, height: u16, width: u16) -> Result<()> {
        let rec = self.running(name)?;
        self.inner.client(&rec.id).call(&Request::Resize {
            exec_id: None,
            height,
            width,
        })?;
        Ok(())
    }

    /// `POST /containers/{id}/attach` (stream=1): the container's stdio.
    /// On a container that has not started, the attach waits for `start`,
    /// which lets the process run only once it is connected (so `docker
    /// run` sees all the output of even the shortest command).
    pub fn attach(
        &self,
        name: &str,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    ) -> Result<AttachHandle> {
        let rec = self.inner.record(name)?;
        let tty = rec.cfg().tty;
        let (tx, rx) = std::sync::mpsc::channel();
        match rec.state.status.as_str() {
            "running" | "paused" => {
                let _ = tx.send(self.connect_attach(&rec, stdin, stdout, stderr));
            }
            "created" | "exited" => {
                let mut t = self.inner.lock();
                t.pending
                    .entry(rec.id.clone())
                    .or_default()
                    .push(PendingAttach {
                        stdin,
                        stdout,
                        stderr,
                        tx,
                    });
            }
            _ => {
                return Err(Error::Conflict(format!(
                    "Container {} is {}",
                    rec.id, rec.state.status
                )))
            }
        }
        self.inner.publish(&rec, "attach", &[]);
        Ok(AttachHandle { tty, rx })
    }

    fn connect_attach(
        &self,
        rec: &Record,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    ) -> Result<AttachStream> {
        let (_, stream) = self.inner.client(&rec.id).stream(&Request::Attach {
            stdin,
            stdout,
            stderr,
        })?;
        let (sock, pending) = stream.into_parts();
        Ok(AttachStream {
            tty: rec.cfg().tty,
            sock,
            pending,
        })
    }

    /// Whether the container has a tty (raw stream instead of frames).
    pub fn is_tty(&self, name: &str) -> Result<bool> {
        Ok(self.inner.record(name)?.cfg().tty)
    }

    /// `POST /containers/prune`: remove stopped containers; ids removed.
    pub fn prune(&self, filters: &BTreeMap<String, Vec<String>>) -> Result<Vec<String>> {
        let until = filters
            .get("until")
            .and_then(|v| v.first())
            .and_then(|s| crate::container::logs::parse_time(s));
        let candidates: Vec<Record> = {
            let t = self.inner.lock();
            t.by_id
                .values()
                .map(|e| e.rec.clone())
                .filter(|r| !r.state.is_running() && r.state.status != "removing")
                .filter(|r| until.is_none_or(|u| r.created < u))
                .filter(|r| view::labels_match(r, filters))
                .collect()
        };
        let mut out = Vec::new();
        for r in candidates {
            if self.remove(&r.id, false, false).is_ok() {
                out.push(r.id);
            }
        }
        Ok(out)
    }
}

impl Waiter {
    /// Block until the condition holds.
    pub fn wait(self) -> WaitResult {
        self.wait_while(|| true).unwrap_or(WaitResult {
            status_code: -1,
            error: Some("wait cancelled".into()),
        })
    }

    /// As [`Waiter::wait`], giving up (`None`) once `go_on` says so
    /// (checked every 200 ms), so a client that went away frees the thread.
    pub fn wait_while(self, go_on: impl Fn() -> bool) -> Option<WaitResult> {
        let inner = &self.inner;
        let mut t = inner.lock();
        loop {
            match t.by_id.get(&self.id) {
                None => {
                    let code = t
                        .removed
                        .iter()
                        .rev()
                        .find(|(id, _)| *id == self.id)
                        .map_or(0, |(_, c)| *c);
                    return Some(WaitResult {
                        status_code: code,
                        error: None,
                    });
                }
                Some(e) => {
                    let done = match self.cond {
                        WaitCondition::NotRunning => {
                            !e.rec.state.is_running() || e.exits > self.exits_seen
                        }
                        WaitCondition::NextExit => e.exits > self.exits_seen,
                        WaitCondition::Removed => false,
                    };
                    if done {
                        let s = &e.rec.state;
                        return Some(WaitResult {
                            status_code: s.exit_code.into(),
                            error: (!s.error.is_empty()).then(|| s.error.clone()),
                        });
                    }
                }
            }
            if !go_on() {
                return None;
            }
            t = inner
                .changed
                .wait_timeout(t, Duration::from_millis(200))
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
}

/// Prefixes of a removed container's directory (see [`Inner::tomb`]).
const TOMB: &str = ".removed-";
const TOMB_VOLUMES: &str = ".removed-v-";

/// Remove a container's directory. A write that began before the removal
/// (the monitor saving the exit, the shim's exit file) may add a file
/// while the tree is being emptied, and `remove_dir_all` then fails with
/// "Directory not empty": try again, the writer is done by then.
fn remove_container_dir(dir: &Path) -> Result<()> {
    let mut tries = 0;
    loop {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty && tries < 20 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(Error::io(format!("remove {}", dir.display()), e)),
        }
    }
}

fn status_name(s: Status) -> &'static str {
    match s {
        Status::Created | Status::Running => "running",
        Status::Paused => "paused",
        Status::Restarting => "restarting",
        Status::Stopped => "exited",
    }
}

/// Signal names (`SIGTERM`, `TERM`, `15`) to numbers.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        return Err(Error::Invalid(format!("Invalid signal: {s}")));
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let n = match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "TRAP" => 5,
        "ABRT" | "IOT" => 6,
        "BUS" => 7,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        "STKFLT" => 16,
        "CHLD" => 17,
        "CONT" => 18,
        "STOP" => 19,
        "TSTP" => 20,
        "TTIN" => 21,
        "TTOU" => 22,
        "URG" => 23,
        "XCPU" => 24,
        "XFSZ" => 25,
        "VTALRM" => 26,
        "PROF" => 27,
        "WINCH" => 28,
        "IO" | "POLL" => 29,
        "PWR" => 30,
        "SYS" => 31,
        _ => {
            if let Some(rest) = name.strip_prefix("RTMIN+") {
                return rest
                    .parse::<i32>()
                    .ok()
                    .filter(|n| *n <= 30)
                    .map(|n| 34 + n)
                    .ok_or_else(|| Error::Invalid(format!("Invalid signal: {s}")));
            }
            return Err(Error::Invalid(format!("Invalid signal: {s}")));
        }
    };
    Ok(n)
}

fn restart_policy(hc: &HostConfig) -> Result<RestartPolicy> {
    let rp = &hc.restart_policy;
    Ok(match rp.name.as_str() {
        "" | "no" => RestartPolicy::No,
        "always" => RestartPolicy::Always,
        "unless-stopped" => RestartPolicy::UnlessStopped,
        "on-failure" => RestartPolicy::OnFailure {
            max_retries: rp.maximum_retry_count,
        },
        other => return Err(Error::Invalid(format!("invalid restart policy '{other}'"))),
    })
}

fn validate_host_config(hc: &HostConfig) -> Result<()> {
    let rp = restart_policy(hc)?;
    if hc.auto_remove && !matches!(rp, RestartPolicy::No) {
        return Err(Error::Invalid(
            "can't create 'AutoRemove' container with restart policy".into(),
        ));
    }
    if hc.restart_policy.maximum_retry_count > 0 && !matches!(rp, RestartPolicy::OnFailure { .. }) {
        return Err(Error::Invalid(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'".into(),
        ));
    }
    if hc.memory > 0 && hc.memory < 6 * 1024 * 1024 {
        return Err(Error::Invalid("Minimum memory limit allowed is 6MB".into()));
    }
    if hc.memory_swap > 0 && hc.memory_swap < hc.memory {
        return Err(Error::Invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
        ));
    }
    if hc.nano_cpus < 0 || hc.cpu_shares < 0 {
        return Err(Error::Invalid(
            "Range of CPUs is from 0.01 to the number of CPUs".into(),
        ));
    }
    spec::capabilities(hc.privileged, &hc.cap_add, &hc.cap_drop)?;
    for o in &hc.security_opt {
        let ok = o.starts_with("seccomp")
            || o.starts_with("no-new-privileges")
            || o.starts_with("apparmor")
            || o.starts_with("label");
        if !ok {
            return Err(Error::Invalid(format!("invalid --security-opt: {o:?}")));
        }
    }
    Ok(())
}

/// The docker CLI names the default network `default` (NetworkMode and the
/// EndpointsConfig key); dockerd reads it as `bridge`, and so do we.
fn normalize_default_network(hc: &mut Value, net: &mut Value) {
    if let Some(o) = hc.as_object_mut() {
        let mode = o.get("NetworkMode").and_then(Value::as_str).unwrap_or("");
        if mode.is_empty() || mode == "default" {
            o.insert("NetworkMode".into(), json!("bridge"));
        }
    }
    if let Some(eps) = net
        .get_mut("EndpointsConfig")
        .and_then(Value::as_object_mut)
    {
        if let Some(v) = eps.remove("default") {
            eps.entry("bridge").or_insert(v);
        }
    }
}

/// Docker's merge of the image's defaults into the container's Config.
fn merge_image_config(cfg: &mut Config, img: &crate::image::config::ContainerConfig) {
    if cfg.user.is_empty() {
        cfg.user = img.user.clone();
    }
    let mut env: Vec<String> = img.env.clone().unwrap_or_default();
    for e in cfg.env.iter().flatten() {
        let k = e.split('=').next().unwrap_or_default();
        env.retain(|x| x.split('=').next() != Some(k));
        env.push(e.clone());
    }
    cfg.env = Some(env);
    if cfg.entrypoint.is_none() {
        cfg.entrypoint = img.entrypoint.clone();
        if cfg.cmd.as_ref().is_none_or(Vec::is_empty) {
            cfg.cmd = img.cmd.clone();
        }
    }
    if cfg.working_dir.is_empty() {
        cfg.working_dir = img.working_dir.clone();
    }
    if cfg.stop_signal.is_none() {
        cfg.stop_signal = img.stop_signal.clone();
    }
    if let Some(il) = &img.labels {
        let labels = cfg.labels.get_or_insert_with(BTreeMap::new);
        for (k, v) in il {
            labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    merge_healthcheck(&mut cfg.healthcheck, img.healthcheck.as_ref());
    if cfg.shell.as_ref().is_none_or(Vec::is_empty) {
        cfg.shell = img.shell.clone();
    }
    merge_set(&mut cfg.exposed_ports, img.exposed_ports.as_ref());
    merge_set(&mut cfg.volumes, img.volumes.as_ref());
}

/// Docker's merge of the image's HEALTHCHECK: each part the container
/// leaves unset (`--health-interval` alone, say) comes from the image.
fn merge_healthcheck(own: &mut Option<Value>, image: Option<&crate::image::config::HealthConfig>) {
    let Some(Value::Object(img)) = image.and_then(|h| serde_json::to_value(h).ok()) else {
        return;
    };
    match own {
        Some(Value::Object(o)) => {
            for (k, v) in img {
                let unset = o.get(&k).is_none_or(|x| {
                    x.is_null() || *x == 0 || x.as_array().is_some_and(Vec::is_empty)
                });
                if unset {
                    o.insert(k, v);
                }
            }
        }
        _ => *own = Some(Value::Object(img)),
    }
}

/// Docker's merge of the image's `ExposedPorts` or `Volumes` into the
/// container's: the union (the docker CLI sends an empty map, which must
/// not hide the image's).
fn merge_set<T: serde::Serialize>(own: &mut Option<Value>, image: Option<&T>) {
    let Some(Value::Object(img)) = image.and_then(|p| serde_json::to_value(p).ok()) else {
        return;
    };
    let mut merged = match own.take() {
        Some(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    for (k, v) in img {
        merged.entry(k).or_insert(v);
    }
    *own = Some(Value::Object(merged));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_like_docker() {
        assert_eq!(parse_signal("SIGTERM").unwrap(), 15);
        assert_eq!(parse_signal("kill").unwrap(), 9);
        assert_eq!(parse_signal("10").unwrap(), 10);
        assert_eq!(parse_signal("RTMIN+1").unwrap(), 35);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("0").is_err());
    }

    #[test]
    fn image_defaults_merge() {
        let img = crate::image::config::ContainerConfig {
            env: Some(vec!["PATH=/bin".into(), "A=1".into()]),
            cmd: Some(vec!["sh".into()]),
            entrypoint: None,
            working_dir: "/w".into(),
            ..Default::default()
        };
        let mut c = Config {
            env: Some(vec!["A=2".into()]),
            ..Default::default()
        };
        merge_image_config(&mut c, &img);
        assert_eq!(c.env.unwrap(), ["PATH=/bin", "A=2"]);
        assert_eq!(c.cmd.unwrap(), ["sh"]);
        assert_eq!(c.working_dir, "/w");
        // An entrypoint given at create drops the image's Cmd.
        let mut c = Config {
            entrypoint: Some(vec!["echo".into()]),
            ..Default::default()
        };
        merge_image_config(&mut c, &img);
        assert!(c.cmd.is_none());
    }

    #[test]
    fn image_healthcheck_fills_what_create_leaves_unset() {
        let img = crate::image::config::ContainerConfig {
            healthcheck: Some(crate::image::config::HealthConfig {
                test: vec!["CMD-SHELL".into(), "check".into()],
                interval: 5,
                retries: 4,
                ..Default::default()
            }),
            shell: Some(vec!["/bin/ash".into(), "-c".into()]),
            ..Default::default()
        };
        let mut c = Config {
            healthcheck: Some(json!({"Interval": 1_000_000_000})),
            ..Default::default()
        };
        merge_image_config(&mut c, &img);
        assert_eq!(
            c.healthcheck.unwrap(),
            json!({"Test": ["CMD-SHELL", "check"], "Interval": 1_000_000_000, "Retries": 4})
        );
        let mut c = Config::default();
        merge_image_config(&mut c, &img);
        assert_eq!(c.healthcheck.unwrap()["Interval"], 5);
        assert_eq!(c.shell.unwrap(), ["/bin/ash", "-c"]);
        // --no-healthcheck keeps NONE.
        let mut c = Config {
            healthcheck: Some(json!({"Test": ["NONE"]})),
            ..Default::default()
        };
        merge_image_config(&mut c, &img);
        assert_eq!(c.healthcheck.unwrap()["Test"], json!(["NONE"]));
    }
}
