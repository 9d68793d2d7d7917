//! From a container's mount requests to its mounts, in four steps that
//! follow the container's life:
//!
//! 1. [`combine`] (pure): `--volumes-from`, `-v`, `--mount`, `--tmpfs` and
//!    the image's `VOLUME`s merged with docker's precedence and duplicate
//!    checks.
//! 2. [`VolumeStore::prepare`] at create: volumes created and referenced,
//!    bind sources checked or created, image content copied into new
//!    volumes. The result, a list of [`MountPoint`]s, is stored with the
//!    container.
//! 3. [`VolumeStore::activate`] at each start: volumes with driver options
//!    mounted, mount points made inside the rootfs without escaping it, OCI
//!    mounts returned for config.json. [`VolumeStore::deactivate`] when the
//!    container stops.
//! 4. [`VolumeStore::release`] at container removal: references dropped,
//!    anonymous volumes removed with `rm -v`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Mount;
use serde::{Deserialize, Serialize};

use crate::driver_mount;
use crate::error::{io_err, Error, Result};
use crate::local::{CreateRequest, VolumeStore, LOCAL_DRIVER};
use crate::resolve::{container_path, create_in_root, resolve_in_root, MountPointKind};
use crate::spec::{MountSpec, MountType, Origin};

/// A container's mount once prepared: what the engine stores with the
/// container and hands back at start, stop and removal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPoint {
    /// The request it came from (kind, target, options).
    pub spec: MountSpec,
    /// Volume name (volumes only).
    pub name: String,
    /// Host path: the bind source or the volume's data; empty for tmpfs.
    pub source: String,
    /// Effective read-only flag (`--volumes-from c:ro` can force it).
    pub read_only: bool,
    /// Whether the volume was created anonymous for this container.
    pub anonymous: bool,
    /// Whether image content is copied into the volume when it is empty.
    pub copy_data: bool,
}

/// One entry of docker's inspect `Mounts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountInspect {
    /// `bind`, `volume` or `tmpfs`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Volume name.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub name: String,
    /// Host path.
    pub source: String,
    /// Container path.
    pub destination: String,
    /// Volume driver.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub driver: String,
    /// The `-v` mode string (`z` for local volumes given without one).
    pub mode: String,
    /// Writable.
    #[serde(rename = "RW")]
    pub rw: bool,
    /// Bind propagation (`rprivate` by default), empty for others.
    pub propagation: String,
}

/// Everything a container asks to mount, as the daemon receives it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountRequest {
    /// From [`volumes_from`], in `--volumes-from` order.
    pub volumes_from: Vec<MountPoint>,
    /// `-v` / `HostConfig.Binds`, parsed with [`crate::spec::parse_volume`].
    pub binds: Vec<MountSpec>,
    /// `--mount` / `HostConfig.Mounts`.
    pub mounts: Vec<MountSpec>,
    /// `--tmpfs` / `HostConfig.Tmpfs`.
    pub tmpfs: Vec<MountSpec>,
    /// Container paths of the image's and the config's `Volumes`.
    pub image_volumes: Vec<String>,
}

/// A planned mount: either a fresh spec, or one inherited with
/// `--volumes-from` (already prepared elsewhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Planned {
    /// To be prepared for this container.
    New(MountSpec),
    /// Shared from another container.
    Inherited(MountPoint),
}

impl Planned {
    fn target(&self) -> &str {
        match self {
            Planned::New(s) => &s.target,
            Planned::Inherited(m) => &m.spec.target,
        }
    }
}

/// The mounts of another container for `--volumes-from other[:ro|rw]`:
/// its volumes and binds (not its tmpfs), shared as they are, read-only if
/// asked (`rw` keeps a read-only mount read-only), never copied into again.
pub fn volumes_from(other: &[MountPoint], read_only: Option<bool>) -> Vec<MountPoint> {
    other
        .iter()
        .filter(|m| m.spec.kind != MountType::Tmpfs)
        .map(|m| MountPoint {
            read_only: m.read_only || read_only == Some(true),
            copy_data: false,
            anonymous: false,
            ..m.clone()
        })
        .collect()
}

/// Lexically cleans a container path (`//a/./b/` is `/a/b`), for
/// comparing mount points.
fn clean(p: &str) -> String {
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
    format!("/{}", out.join("/"))
}

/// Merges a container's requests with docker's precedence: binds and
/// `--mount`s replace `--volumes-from` mounts on the same path; two of
/// them (or a `--tmpfs`) on one path is an error; the image's `VOLUME`s
/// become anonymous volumes only where nothing else is mounted. The result
/// is in a stable order (by depth, then path) so parents mount first.
pub fn combine(req: &MountRequest) -> Result<Vec<Planned>> {
    let mut by_target: BTreeMap<String, Planned> = BTreeMap::new();
    for m in &req.volumes_from {
        by_target.insert(clean(&m.spec.target), Planned::Inherited(m.clone()));
    }
    let mut explicit: BTreeMap<String, ()> = BTreeMap::new();
    for s in req.binds.iter().chain(&req.mounts).chain(&req.tmpfs) {
        let t = clean(&s.target);
        if explicit.insert(t.clone(), ()).is_some() {
            return Err(Error::DuplicateMountPoint(t));
        }
        let mut s = s.clone();
        s.target = t.clone();
        by_target.insert(t, Planned::New(s));
    }
    for v in &req.image_volumes {
        let t = clean(v);
        if !v.starts_with('/') {
            return Err(Error::spec(v, "volume path must be absolute"));
        }
        if t == "/" {
            return Err(Error::spec(v, "destination can't be '/'"));
        }
        by_target.entry(t.clone()).or_insert_with(|| {
            Planned::New(MountSpec::new(MountType::Volume, "", &t, Origin::Image))
        });
    }
    let mut out: Vec<Planned> = by_target.into_values().collect();
    out.sort_by_key(|p| (p.target().matches('/').count(), p.target().to_owned()));
    Ok(out)
}

/// Docker's inspect `Mounts` for a container (its `--tmpfs` mounts are not
/// listed, as in docker).
pub fn inspect_mounts(mounts: &[MountPoint]) -> Vec<MountInspect> {
    mounts
        .iter()
        .filter(|m| m.spec.origin != Origin::Tmpfs)
        .map(|m| {
            let volume = m.spec.kind == MountType::Volume;
            let mode = if volume && m.spec.mode.is_empty() && m.spec.origin != Origin::Image {
                "z".to_owned()
            } else {
                m.spec.mode.clone()
            };
            MountInspect {
                kind: m.spec.kind.as_str().to_owned(),
                name: m.name.clone(),
                source: m.source.clone(),
                destination: m.spec.target.clone(),
                driver: if volume {
                    LOCAL_DRIVER.to_owned()
                } else {
                    String::new()
                },
                mode,
                rw: !m.read_only,
                propagation: match m.spec.kind {
                    MountType::Bind => m
                        .spec
                        .propagation
                        .map_or("rprivate", |p| p.as_str())
                        .to_owned(),
                    _ => String::new(),
                },
            }
        })
        .collect()
}

impl VolumeStore {
    /// At container create: creates the volumes the plan needs (named ones
    /// if missing, anonymous ones always), records `container_id` as their
    /// user, creates missing `-v` bind sources (docker does) and refuses
    /// missing `--mount` ones, and, when `rootfs` (the container's mounted
    /// root file system) is given, copies the image's content into new
    /// plain volumes. Volumes with driver options get their copy at start,
    /// once mounted. All or nothing: on failure what was done is undone.
    pub fn prepare(
        &self,
        container_id: &str,
        plan: &[Planned],
        rootfs: Option<&Path>,
    ) -> Result<Vec<MountPoint>> {
        let mut done: Vec<MountPoint> = Vec::new();
        for p in plan {
            match self.prepare_one(container_id, p, rootfs) {
                Ok(m) => done.push(m),
                Err(e) => return Err(rolled_back(e, self.release(container_id, &done, true))),
            }
        }
        Ok(done)
    }

    fn prepare_one(
        &self,
        container_id: &str,
        p: &Planned,
        rootfs: Option<&Path>,
    ) -> Result<MountPoint> {
        let s = match p {
            Planned::Inherited(m) => {
                if m.spec.kind == MountType::Volume {
                    self.add_user(&m.name, container_id)?;
                }
                return Ok(m.clone());
            }
            Planned::New(s) => s,
        };
        let mut mp = MountPoint {
            spec: s.clone(),
            name: String::new(),
            source: String::new(),
            read_only: s.read_only,
            anonymous: false,
            copy_data: false,
        };
        match s.kind {
            MountType::Tmpfs => {}
            MountType::Bind => {
                let src = Path::new(&s.source);
                if !src.exists() {
                    if !s.create_source {
                        return Err(Error::BindSourceMissing(src.to_path_buf()));
                    }
                    std::fs::create_dir_all(src).map_err(io_err("mkdir", src))?;
                }
                mp.source = s.source.clone();
            }
            MountType::Volume => {
                let v = self.create(CreateRequest {
                    name: (!s.source.is_empty()).then(|| s.source.clone()),
                    driver: s.driver.clone(),
                    labels: s.labels.clone(),
                    options: s.driver_opts.clone(),
                })?;
                mp.anonymous = s.source.is_empty();
                mp.name = v.name;
                mp.source = v.mountpoint;
                mp.copy_data = !s.nocopy;
                if let Err(e) = self.add_user(&mp.name, container_id) {
                    if mp.anonymous {
                        return Err(rolled_back(e, self.remove(&mp.name, true)));
                    }
                    return Err(e);
                }
                if let (Some(root), false) = (rootfs, driver_mount::needs_mount(&v.options)) {
                    if mp.copy_data {
                        let result = resolve_in_root(root, Path::new(&s.target))
                            .and_then(|src| self.populate(&mp.name, &src));
                        if let Err(e) = result {
                            // Undo this mount point too: it is not in `done`.
                            let undo = self.release(container_id, std::slice::from_ref(&mp), true);
                            return Err(rolled_back(e, undo));
                        }
                    }
                }
            }
        }
        Ok(mp)
    }

    /// At container start: mounts volumes with driver options (held by
    /// `container_id`), copies image content into those that are empty,
    /// creates each mount point inside `rootfs` (never outside it, whatever
    /// symlinks the image holds) and returns the OCI mounts for
    /// config.json, parents first, with destinations already resolved.
    /// On failure the volumes mounted here are released again.
    pub fn activate(
        &self,
        container_id: &str,
        mounts: &[MountPoint],
        rootfs: &Path,
    ) -> Result<Vec<Mount>> {
        let mut out = Vec::new();
        for (i, m) in mounts.iter().enumerate() {
            match self.activate_one(container_id, m, rootfs) {
                Ok(oci) => out.push(oci),
                Err(e) => return Err(rolled_back(e, self.deactivate(container_id, &mounts[..=i]))),
            }
        }
        Ok(out)
    }

    fn activate_one(&self, container_id: &str, m: &MountPoint, rootfs: &Path) -> Result<Mount> {
        let target = Path::new(&m.spec.target);
        let mut source = PathBuf::from(&m.source);
        let kind = match m.spec.kind {
            MountType::Volume => {
                source = self.mount(&m.name, container_id)?;
                if m.copy_data && driver_mount::needs_mount(&self.inspect(&m.name)?.options) {
                    self.populate(&m.name, &resolve_in_root(rootfs, target)?)?;
                }
                MountPointKind::Dir
            }
            MountType::Bind => match std::fs::metadata(&source) {
                Ok(md) if md.is_dir() => MountPointKind::Dir,
                Ok(_) => MountPointKind::File,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && m.spec.create_source => {
                    std::fs::create_dir_all(&source).map_err(io_err("mkdir", &source))?;
                    MountPointKind::Dir
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(Error::BindSourceMissing(source));
                }
                Err(e) => return Err(io_err("stat", &source)(e)),
            },
            MountType::Tmpfs => MountPointKind::Dir,
        };
        let host = create_in_root(rootfs, target, kind)?;
        let dest = container_path(rootfs, &host)?;
        // `/data -> /` in the image would put the mount over the root.
        if dest == Path::new("/") {
            return Err(Error::spec(
                &m.spec.target,
                "resolves to the container's root directory",
            ));
        }
        Ok(oci_mount(m, dest, source))
    }

    /// When the container has stopped: releases its hold on volumes with
    /// driver options (the last holder unmounts). Goes on past errors and
    /// returns the first.
    pub fn deactivate(&self, container_id: &str, mounts: &[MountPoint]) -> Result<()> {
        let mut first = None;
        for m in mounts.iter().filter(|m| m.spec.kind == MountType::Volume) {
            match self.unmount(&m.name, container_id) {
                // Removed with force while in use: nothing left to release.
                Ok(()) | Err(Error::NotFound(_)) => {}
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// At container removal: drops `container_id`'s references (and any
    /// mount hold it still has); with `remove_anonymous` (`rm -v`, `--rm`)
    /// also removes the anonymous volumes nobody else uses. Returns the
    /// names of the volumes removed. Goes on past errors, returns the first.
    pub fn release(
        &self,
        container_id: &str,
        mounts: &[MountPoint],
        remove_anonymous: bool,
    ) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        let mut first = None;
        for m in mounts.iter().filter(|m| m.spec.kind == MountType::Volume) {
            let step = self.unmount(&m.name, container_id).and_then(|()| {
                let unused = self.remove_user(&m.name, container_id)?;
                if remove_anonymous && m.anonymous && unused {
                    self.remove(&m.name, false)?;
                    removed.push(m.name.clone());
                }
                Ok(())
            });
            match step {
                Ok(()) | Err(Error::NotFound(_)) => {}
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        first.map_or(Ok(removed), Err)
    }
}

/// `error`, with the failure of undoing its first steps kept beside it.
fn rolled_back<T>(error: Error, undo: Result<T>) -> Error {
    match undo {
        Ok(_) => error,
        Err(cleanup) => Error::Rollback {
            error: Box::new(error),
            cleanup: Box::new(cleanup),
        },
    }
}

/// The OCI mount for a prepared mount point, with docker's options.
fn oci_mount(m: &MountPoint, dest: PathBuf, source: PathBuf) -> Mount {
    let mut opts: Vec<String> = Vec::new();
    let (typ, source) = match m.spec.kind {
        MountType::Tmpfs => {
            opts.extend(["noexec", "nosuid", "nodev"].map(String::from));
            if m.read_only {
                opts.push("ro".into());
            }
            if let Some(size) = m.spec.tmpfs_size {
                opts.push(format!("size={size}"));
            }
            if let Some(mode) = m.spec.tmpfs_mode {
                opts.push(format!("mode={mode:o}"));
            }
            opts.extend(m.spec.tmpfs_options.iter().cloned());
            ("tmpfs", PathBuf::from("tmpfs"))
        }
        MountType::Bind | MountType::Volume => {
            opts.push(
                if m.spec.non_recursive {
                    "bind"
                } else {
                    "rbind"
                }
                .into(),
            );
            if m.read_only {
                opts.push("ro".into());
            }
            opts.push(m.spec.propagation.map_or("rprivate", |p| p.as_str()).into());
            ("bind", source)
        }
    };
    let mut mount = Mount::default();
    mount
        .set_destination(dest)
        .set_typ(Some(typ.to_owned()))
        .set_source(Some(source))
        .set_options(Some(merge_flags(opts)));
    mount
}

/// Later options win over earlier opposites (`exec` after the default
/// `noexec`), as docker's tmpfs option merge does.
fn merge_flags(opts: Vec<String>) -> Vec<String> {
    let opposite = |o: &str| -> Option<String> {
        match o {
            "rw" => Some("ro".into()),
            "ro" => Some("rw".into()),
            _ => o
                .strip_prefix("no")
                .map(String::from)
                .or_else(|| Some(format!("no{o}"))),
        }
    };
    let key = |o: &str| o.split_once('=').map_or(o, |(k, _)| k).to_owned();
    let mut out: Vec<String> = Vec::new();
    for o in opts {
        let k = key(&o);
        let opp = opposite(&o);
        out.retain(|e| key(e) != k && Some(e.as_str()) != opp.as_deref());
        out.push(o);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{parse_mount, parse_tmpfs, parse_volume};

    fn mp(spec: MountSpec, name: &str, ro: bool) -> MountPoint {
        MountPoint {
            source: format!("/src/{name}"),
            name: name.into(),
            read_only: ro,
            anonymous: false,
            copy_data: true,
            spec,
        }
    }

    #[test]
    fn combine_precedence_and_duplicates() {
        let from = volumes_from(
            &[
                mp(parse_volume("v1:/data").unwrap(), "v1", false),
                mp(parse_volume("v2:/logs").unwrap(), "v2", false),
                mp(parse_tmpfs("/run").unwrap(), "", false),
            ],
            Some(true),
        );
        assert_eq!(from.len(), 2);
        assert!(from.iter().all(|m| m.read_only && !m.copy_data));
        let req = MountRequest {
            volumes_from: from,
            binds: vec![parse_volume("/h:/data/").unwrap()],
            mounts: vec![parse_mount("type=volume,src=v3,dst=/a/b").unwrap()],
            tmpfs: vec![parse_tmpfs("/tmp").unwrap()],
            image_volumes: vec!["/logs".into(), "/var/lib/x".into(), "/a".into()],
        };
        let plan = combine(&req).unwrap();
        for bad in ["relative", "/", "/.."] {
            let req = MountRequest {
                image_volumes: vec![bad.into()],
                ..Default::default()
            };
            assert!(combine(&req).is_err(), "{bad}");
        }
        let targets: Vec<&str> = plan.iter().map(Planned::target).collect();
        assert_eq!(
            targets,
            ["/a", "/data", "/logs", "/tmp", "/a/b", "/var/lib/x"]
        );
        assert!(matches!(&plan[1], Planned::New(s) if s.source == "/h"));
        assert!(matches!(&plan[2], Planned::Inherited(m) if m.name == "v2"));
        assert!(
            matches!(&plan[5], Planned::New(s) if s.origin == Origin::Image && s.source.is_empty())
        );

        for (binds, mounts, tmpfs) in [
            (vec!["vx:/x", "/h:/x/"], vec![], vec![]),
            (vec!["vx:/x"], vec!["type=bind,src=/h,dst=//x"], vec![]),
            (vec![], vec![], vec!["/x", "/x:size=1m"]),
            (vec!["/h:/x"], vec![], vec!["/x"]),
        ] {
            let req = MountRequest {
                binds: binds.iter().map(|b| parse_volume(b).unwrap()).collect(),
                mounts: mounts.iter().map(|b| parse_mount(b).unwrap()).collect(),
                tmpfs: tmpfs.iter().map(|b| parse_tmpfs(b).unwrap()).collect(),
                ..Default::default()
            };
            let err = combine(&req).unwrap_err();
            assert!(
                matches!(&err, Error::DuplicateMountPoint(p) if p == "/x"),
                "{err}"
            );
        }
    }

    #[test]
    fn volumes_from_modes() {
        let mine = [
            mp(parse_volume("v1:/rw").unwrap(), "v1", false),
            mp(parse_volume("v2:/ro:ro").unwrap(), "v2", true),
        ];
        let keep = volumes_from(&mine, None);
        assert_eq!((keep[0].read_only, keep[1].read_only), (false, true));
        // `rw` cannot make a read-only mount writable (docker's rule).
        let rw = volumes_from(&mine, Some(false));
        assert_eq!((rw[0].read_only, rw[1].read_only), (false, true));
        let ro = volumes_from(&mine, Some(true));
        assert_eq!((ro[0].read_only, ro[1].read_only), (true, true));
    }

    #[test]
    fn oci_options_like_docker() {
        let b = mp(parse_volume("/h:/c:ro,rslave").unwrap(), "", true);
        let m = oci_mount(&b, "/c".into(), "/h".into());
        assert_eq!(m.typ().as_deref(), Some("bind"));
        assert_eq!(m.options().clone().unwrap(), ["rbind", "ro", "rslave"]);
        let v = mp(
            parse_mount("type=bind,src=/h,dst=/c,bind-recursive=disabled").unwrap(),
            "",
            false,
        );
        assert_eq!(
            oci_mount(&v, "/c".into(), "/h".into())
                .options()
                .clone()
                .unwrap(),
            ["bind", "rprivate"]
        );
        let t = mp(
            parse_tmpfs("/run:exec,size=1m,mode=1777,uid=5").unwrap(),
            "",
            false,
        );
        let m = oci_mount(&t, "/run".into(), PathBuf::new());
        assert_eq!(m.typ().as_deref(), Some("tmpfs"));
        assert_eq!(m.source().clone().unwrap(), Path::new("tmpfs"));
        assert_eq!(
            m.options().clone().unwrap(),
            [
                "nosuid",
                "nodev",
                "size=1048576",
                "mode=1777",
                "exec",
                "uid=5"
            ]
        );
    }

    #[test]
    fn inspect_shapes() {
        let mounts = [
            mp(parse_volume("vd:/d").unwrap(), "vd", false),
            mp(parse_volume("/h:/b:ro").unwrap(), "", true),
            mp(parse_tmpfs("/run").unwrap(), "", false),
            mp(parse_mount("type=tmpfs,dst=/t").unwrap(), "", false),
        ];
        let i = inspect_mounts(&mounts);
        assert_eq!(i.len(), 3);
        let j = serde_json::to_value(&i).unwrap();
        assert_eq!(j[0]["Type"], "volume");
        assert_eq!(j[0]["Name"], "vd");
        assert_eq!(j[0]["Driver"], "local");
        assert_eq!(j[0]["Mode"], "z");
        assert_eq!(j[0]["RW"], true);
        assert_eq!(j[0]["Propagation"], "");
        assert_eq!(j[1]["Type"], "bind");
        assert_eq!(j[1]["Mode"], "ro");
        assert_eq!(j[1]["RW"], false);
        assert_eq!(j[1]["Propagation"], "rprivate");
        assert!(j[1].get("Name").is_none());
        assert_eq!(j[2]["Type"], "tmpfs");
    }

    #[test]
    fn clean_paths() {
        for (i, o) in [
            ("/a/", "/a"),
            ("//a/./b", "/a/b"),
            ("/a/../b", "/b"),
            ("/", "/"),
        ] {
            assert_eq!(clean(i), o);
        }
    }
}
