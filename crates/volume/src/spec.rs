//! Parsing of the mount flags of `run`/`create` into [`MountSpec`]s: pure
//! functions, no file system access (whether a bind source exists is decided
//! when the container is prepared, on the daemon's host).
//!
//! - `-v` / `HostConfig.Binds`: [`parse_volume`]
//! - `--mount` (CSV with quoting): [`parse_mount`]
//! - `--tmpfs` / `HostConfig.Tmpfs`: [`parse_tmpfs`], [`tmpfs_entry`]
//! - `--volumes-from` / `HostConfig.VolumesFrom`: [`parse_volumes_from`]

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The three kinds of mount a container can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountType {
    /// A host path bound into the container.
    Bind,
    /// A named or anonymous volume.
    Volume,
    /// A fresh tmpfs.
    Tmpfs,
}

impl MountType {
    /// Docker's name for the type.
    pub fn as_str(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Volume => "volume",
            MountType::Tmpfs => "tmpfs",
        }
    }
}

/// Mount propagation, as docker and the OCI spec name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Propagation {
    /// `private`
    Private,
    /// `rprivate` (docker's default for binds)
    Rprivate,
    /// `shared`
    Shared,
    /// `rshared`
    Rshared,
    /// `slave`
    Slave,
    /// `rslave`
    Rslave,
}

impl Propagation {
    /// Parses docker's name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "private" => Propagation::Private,
            "rprivate" => Propagation::Rprivate,
            "shared" => Propagation::Shared,
            "rshared" => Propagation::Rshared,
            "slave" => Propagation::Slave,
            "rslave" => Propagation::Rslave,
            _ => return None,
        })
    }

    /// Docker's (and the OCI mount option's) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Propagation::Private => "private",
            Propagation::Rprivate => "rprivate",
            Propagation::Shared => "shared",
            Propagation::Rshared => "rshared",
            Propagation::Slave => "slave",
            Propagation::Rslave => "rslave",
        }
    }
}

/// Where a spec came from; it decides docker's small differences (a missing
/// bind source is created for `-v` and refused for `--mount`; `--tmpfs`
/// mounts are not listed in inspect's `Mounts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// `-v` / `HostConfig.Binds`.
    Volume,
    /// `--mount` / `HostConfig.Mounts`.
    Mount,
    /// `--tmpfs` / `HostConfig.Tmpfs`.
    Tmpfs,
    /// The image's `VOLUME` (`Config.Volumes`).
    Image,
}

/// One requested mount, before volumes are created or paths checked. It
/// carries everything of docker's `HostConfig.Mounts[]` entry that Linux
/// uses, so the daemon can also build it from that JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    /// Bind, volume or tmpfs.
    pub kind: MountType,
    /// Host path (bind), volume name (empty: anonymous), empty for tmpfs.
    pub source: String,
    /// Absolute path in the container.
    pub target: String,
    /// Mounted read-only.
    pub read_only: bool,
    /// Which flag it came from.
    pub origin: Origin,
    /// The `-v` mode string as given (inspect's `Mode`).
    pub mode: String,
    /// Bind propagation; `None` is docker's default (`rprivate`).
    pub propagation: Option<Propagation>,
    /// Bind without `MS_REC` (`bind-recursive=disabled`).
    pub non_recursive: bool,
    /// Bind: create a missing source directory (`-v` always does, docker's
    /// `BindOptions.CreateMountpoint`); otherwise a missing one is refused.
    #[serde(default)]
    pub create_source: bool,
    /// Volume: do not copy the image's content in (`nocopy`).
    pub nocopy: bool,
    /// Volume driver for a volume created by this mount.
    pub driver: Option<String>,
    /// Driver options for a volume created by this mount (`volume-opt`).
    pub driver_opts: BTreeMap<String, String>,
    /// Labels for a volume created by this mount (`volume-label`).
    pub labels: BTreeMap<String, String>,
    /// tmpfs `size=` in bytes.
    pub tmpfs_size: Option<u64>,
    /// tmpfs `mode=` (permission bits).
    pub tmpfs_mode: Option<u32>,
    /// Further tmpfs mount options from `--tmpfs /p:opts` (`exec`, `uid=`…).
    pub tmpfs_options: Vec<String>,
    /// `consistency=` (accepted and ignored on Linux, as docker does).
    pub consistency: Option<String>,
}

impl MountSpec {
    /// An empty spec of `kind` on `target`, with everything else defaulted.
    pub fn new(kind: MountType, source: &str, target: &str, origin: Origin) -> Self {
        MountSpec {
            kind,
            source: source.to_owned(),
            target: target.to_owned(),
            read_only: false,
            origin,
            mode: String::new(),
            propagation: None,
            non_recursive: false,
            create_source: false,
            nocopy: false,
            driver: None,
            driver_opts: BTreeMap::new(),
            labels: BTreeMap::new(),
            tmpfs_size: None,
            tmpfs_mode: None,
            tmpfs_options: Vec::new(),
            consistency: None,
        }
    }
}

const CONSISTENCY: [&str; 4] = ["consistent", "cached", "delegated", "default"];

/// Whether a `-v` mode string is valid: comma-separated, at most one of each
/// of rw/ro, z/Z, a propagation, nocopy, a consistency.
pub(crate) fn valid_mode(mode: &str) -> bool {
    if mode.is_empty() {
        return true;
    }
    let mut seen = [0u8; 5];
    for m in mode.split(',') {
        let class = match m {
            "rw" | "ro" => 0,
            "z" | "Z" => 1,
            "nocopy" => 3,
            _ if Propagation::parse(m).is_some() => 2,
            _ if CONSISTENCY.contains(&m) => 4,
            _ => return false,
        };
        seen[class] += 1;
        if seen[class] > 1 {
            return false;
        }
    }
    true
}

pub(crate) fn check_target(spec: &str, target: &str) -> Result<()> {
    if target.is_empty() {
        return Err(Error::spec(spec, "target is required"));
    }
    if !target.starts_with('/') {
        return Err(Error::spec(
            spec,
            format!("mount path {target:?} must be absolute"),
        ));
    }
    if target.split('/').all(|c| c.is_empty() || c == ".") {
        return Err(Error::spec(spec, "destination can't be '/'"));
    }
    Ok(())
}

/// A volume name as docker's local driver accepts it:
/// `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_volume_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Parses a `-v` spec (`HostConfig.Binds` entry): `name:/path[:mode]`,
/// `/host:/path[:mode]` or `/path` (an anonymous volume).
pub fn parse_volume(spec: &str) -> Result<MountSpec> {
    let parts: Vec<&str> = spec.split(':').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(Error::spec(spec, "empty section between colons"));
    }
    let (source, target, mode) = match parts.as_slice() {
        [t] => ("", *t, ""),
        [_, m] if valid_mode(m) => {
            return Err(Error::spec(
                spec,
                "an anonymous volume cannot have a mode; use /path only",
            ))
        }
        [s, t] => (*s, *t, ""),
        [s, t, m] => (*s, *t, *m),
        _ => return Err(Error::spec(spec, "too many colons")),
    };
    if !valid_mode(mode) {
        return Err(Error::spec(spec, format!("invalid mode: {mode}")));
    }
    check_target(spec, target)?;
    let kind = if source.starts_with('/') {
        MountType::Bind
    } else {
        if !source.is_empty() && !valid_volume_name(source) {
            return Err(Error::spec(
                spec,
                format!(
                    "{source:?} is neither an absolute host path nor a valid volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]+); relative host paths are not allowed"
                ),
            ));
        }
        MountType::Volume
    };
    let mut m = MountSpec::new(kind, source, target, Origin::Volume);
    m.mode = mode.to_owned();
    m.create_source = kind == MountType::Bind;
    for opt in mode.split(',').filter(|o| !o.is_empty()) {
        match opt {
            "ro" => m.read_only = true,
            "nocopy" if kind == MountType::Bind => {
                return Err(Error::spec(spec, "nocopy applies to volumes, not binds"))
            }
            "nocopy" => m.nocopy = true,
            _ => {
                if let Some(p) = Propagation::parse(opt) {
                    if kind == MountType::Volume {
                        return Err(Error::spec(
                            spec,
                            format!("propagation {opt} applies to binds, not volumes"),
                        ));
                    }
                    m.propagation = Some(p);
                } else if CONSISTENCY.contains(&opt) {
                    m.consistency = Some(opt.to_owned());
                }
            }
        }
    }
    if kind == MountType::Volume && source.is_empty() && m.read_only {
        return Err(Error::spec(spec, "an anonymous volume cannot be read-only"));
    }
    Ok(m)
}

/// Splits one CSV record as docker's `--mount` does, with double quotes
/// protecting commas. Unlike Go's strict reader, quotes may also start in
/// the middle of a field (`volume-opt=o="addr=1.2.3.4,rw"`); `""` inside
/// quotes is a literal quote.
fn split_csv(spec: &str) -> Result<Vec<String>> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = spec.chars().peekable();
    while let Some(c) = chars.next() {
        let field = fields.last_mut().expect("fields always has one entry");
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(String::new()),
            _ => field.push(c),
        }
    }
    if quoted {
        return Err(Error::spec(spec, "unterminated quote"));
    }
    Ok(fields)
}

fn parse_bool(spec: &str, key: &str, value: Option<&str>) -> Result<bool> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("1" | "true") => Ok(true),
        Some("0" | "false") => Ok(false),
        Some(v) => Err(Error::spec(
            spec,
            format!("invalid value for {key}: {v:?} (want true or false)"),
        )),
    }
}

/// Parses a size with docker's units (`64m`, `1.5g`, `512k`, `1024`),
/// binary multiples as `go-units.RAMInBytes`.
pub fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim().to_ascii_lowercase();
    let digits = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let n: f64 = num.parse().ok()?;
    let mult: u64 = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        "p" => 1 << 50,
        _ => return None,
    };
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    Some((n * mult as f64) as u64)
}

fn kv<'a>(spec: &str, key: &str, value: Option<&'a str>) -> Result<&'a str> {
    value.ok_or_else(|| Error::spec(spec, format!("{key} needs a value ({key}=...)")))
}

fn split_pair(spec: &str, key: &str, v: &str) -> Result<(String, String)> {
    match v.split_once('=') {
        Some((k, val)) if !k.is_empty() => Ok((k.to_owned(), val.to_owned())),
        _ => Err(Error::spec(
            spec,
            format!("{key} needs name=value, got {v:?}"),
        )),
    }
}

/// Parses a `--mount` spec (docker's CSV syntax): `type=bind|volume|tmpfs`
/// (default volume), `source`/`src`, `target`/`destination`/`dst`,
/// `readonly`/`ro[=bool]`, `bind-propagation`, `bind-recursive`,
/// `bind-nonrecursive`, `volume-nocopy[=bool]`, `volume-driver`,
/// `volume-opt=k=v`, `volume-label=k=v`, `tmpfs-size`, `tmpfs-mode`,
/// `consistency`.
pub fn parse_mount(spec: &str) -> Result<MountSpec> {
    let mut m = MountSpec::new(MountType::Volume, "", "", Origin::Mount);
    let mut used_prefix: Vec<&'static str> = Vec::new();
    for field in split_csv(spec)? {
        let field = field.trim();
        if field.is_empty() {
            continue;
        }
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v)),
            None => (field.to_ascii_lowercase(), None),
        };
        let key = key.as_str();
        match key {
            "type" => {
                m.kind = match kv(spec, key, value)? {
                    "bind" => MountType::Bind,
                    "volume" => MountType::Volume,
                    "tmpfs" => MountType::Tmpfs,
                    t => return Err(Error::spec(spec, format!("unknown mount type {t:?}"))),
                }
            }
            "source" | "src" => m.source = kv(spec, key, value)?.to_owned(),
            "target" | "destination" | "dst" => m.target = kv(spec, key, value)?.to_owned(),
            "readonly" | "ro" => m.read_only = parse_bool(spec, key, value)?,
            "consistency" => {
                let v = kv(spec, key, value)?;
                if !CONSISTENCY.contains(&v) {
                    return Err(Error::spec(spec, format!("invalid consistency {v:?}")));
                }
                m.consistency = Some(v.to_owned());
            }
            "bind-propagation" => {
                let v = kv(spec, key, value)?;
                m.propagation =
                    Some(Propagation::parse(v).ok_or_else(|| {
                        Error::spec(spec, format!("invalid propagation mode {v:?}"))
                    })?);
                used_prefix.push("bind");
            }
            "bind-create-mountpoint" => {
                m.create_source = parse_bool(spec, key, value)?;
                used_prefix.push("bind");
            }
            "bind-nonrecursive" => {
                m.non_recursive = parse_bool(spec, key, value)?;
                used_prefix.push("bind");
            }
            "bind-recursive" => {
                m.non_recursive = match kv(spec, key, value)? {
                    "enabled" => false,
                    "disabled" => true,
                    v => {
                        return Err(Error::spec(
                            spec,
                            format!("unsupported bind-recursive {v:?} (enabled or disabled)"),
                        ))
                    }
                };
                used_prefix.push("bind");
            }
            "volume-nocopy" => {
                m.nocopy = parse_bool(spec, key, value)?;
                used_prefix.push("volume");
            }
            "volume-driver" => {
                m.driver = Some(kv(spec, key, value)?.to_owned());
                used_prefix.push("volume");
            }
            "volume-opt" => {
                let (k, v) = split_pair(spec, key, kv(spec, key, value)?)?;
                m.driver_opts.insert(k, v);
                used_prefix.push("volume");
            }
            "volume-label" => {
                let (k, v) = split_pair(spec, key, kv(spec, key, value)?)?;
                m.labels.insert(k, v);
                used_prefix.push("volume");
            }
            "tmpfs-size" => {
                let v = kv(spec, key, value)?;
                m.tmpfs_size = Some(
                    parse_size(v)
                        .ok_or_else(|| Error::spec(spec, format!("invalid tmpfs-size {v:?}")))?,
                );
                used_prefix.push("tmpfs");
            }
            "tmpfs-mode" => {
                let v = kv(spec, key, value)?;
                m.tmpfs_mode = Some(
                    u32::from_str_radix(v, 8)
                        .ok()
                        .filter(|m| *m <= 0o7777)
                        .ok_or_else(|| Error::spec(spec, format!("invalid tmpfs-mode {v:?}")))?,
                );
                used_prefix.push("tmpfs");
            }
            _ if value.is_none() => {
                return Err(Error::spec(
                    spec,
                    format!("invalid field {field:?}: must be a key=value pair"),
                ))
            }
            _ => return Err(Error::spec(spec, format!("unexpected key {key:?}"))),
        }
    }
    if let Some(p) = used_prefix.iter().find(|p| **p != m.kind.as_str()) {
        return Err(Error::spec(
            spec,
            format!(
                "cannot mix '{p}-*' options with mount type '{}'",
                m.kind.as_str()
            ),
        ));
    }
    validate(spec, &m)?;
    Ok(m)
}

/// Docker's checks of a `--mount` (or `HostConfig.Mounts`) entry, with
/// errors naming `spec`.
pub(crate) fn validate(spec: &str, m: &MountSpec) -> Result<()> {
    check_target(spec, &m.target)?;
    match m.kind {
        MountType::Bind if m.source.is_empty() => {
            return Err(Error::spec(spec, "source is required for a bind mount"))
        }
        MountType::Bind if !m.source.starts_with('/') => {
            return Err(Error::spec(
                spec,
                format!("bind source {:?} must be an absolute path", m.source),
            ))
        }
        MountType::Volume if !m.source.is_empty() && !valid_volume_name(&m.source) => {
            return Err(Error::spec(
                spec,
                format!(
                    "{:?} is not a valid volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]+)",
                    m.source
                ),
            ))
        }
        MountType::Volume if m.source.is_empty() && m.read_only => {
            return Err(Error::spec(spec, "an anonymous volume cannot be read-only"))
        }
        MountType::Tmpfs if !m.source.is_empty() => {
            return Err(Error::spec(spec, "a tmpfs mount takes no source"))
        }
        _ => {}
    }
    Ok(())
}

/// Parses a `--tmpfs /path[:opts]` spec; the options are tmpfs mount options
/// (`size=64m`, `mode=1777`, `uid=`, `exec`, `ro`…).
pub fn parse_tmpfs(spec: &str) -> Result<MountSpec> {
    let (path, opts) = spec.split_once(':').unwrap_or((spec, ""));
    tmpfs_entry(path, opts).map_err(|e| match e {
        Error::Spec { reason, .. } => Error::spec(spec, reason),
        e => e,
    })
}

/// A `HostConfig.Tmpfs` entry (`{"/run": "size=64m,exec"}`) as a spec.
pub fn tmpfs_entry(path: &str, opts: &str) -> Result<MountSpec> {
    let spec = if opts.is_empty() {
        path.to_owned()
    } else {
        format!("{path}:{opts}")
    };
    check_target(&spec, path)?;
    let mut m = MountSpec::new(MountType::Tmpfs, "", path, Origin::Tmpfs);
    for o in opts.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        match o.split_once('=') {
            Some(("size", v)) => {
                m.tmpfs_size = Some(
                    parse_size(v)
                        .ok_or_else(|| Error::spec(&spec, format!("invalid size {v:?}")))?,
                )
            }
            Some(("mode", v)) => {
                m.tmpfs_mode = Some(
                    u32::from_str_radix(v, 8)
                        .ok()
                        .filter(|m| *m <= 0o7777)
                        .ok_or_else(|| Error::spec(&spec, format!("invalid mode {v:?}")))?,
                )
            }
            _ if o == "ro" => m.read_only = true,
            _ if o == "rw" => m.read_only = false,
            _ if o.contains(':') => {
                return Err(Error::spec(&spec, format!("invalid option {o:?}")))
            }
            _ => m.tmpfs_options.push(o.to_owned()),
        }
    }
    Ok(m)
}

/// Parses a `--volumes-from container[:ro|rw]` entry into the container
/// reference and the access override (`None`: keep each mount's own).
pub fn parse_volumes_from(spec: &str) -> Result<(String, Option<bool>)> {
    let (name, mode) = match spec.split_once(':') {
        Some((n, m)) => (n, Some(m)),
        None => (spec, None),
    };
    if name.is_empty() {
        return Err(Error::spec(spec, "container name is required"));
    }
    let read_only = match mode {
        None => None,
        Some("ro") => Some(true),
        Some("rw") => Some(false),
        Some(m) => return Err(Error::spec(spec, format!("invalid mode: {m} (ro or rw)"))),
    };
    Ok((name.to_owned(), read_only))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_flag_table() {
        use MountType::*;
        // spec, kind, source, target, ro, propagation, nocopy
        type Row<'a> = (
            &'a str,
            MountType,
            &'a str,
            &'a str,
            bool,
            Option<&'a str>,
            bool,
        );
        let ok: &[Row] = &[
            ("/data", Volume, "", "/data", false, None, false),
            ("vol:/data", Volume, "vol", "/data", false, None, false),
            ("vol:/data:ro", Volume, "vol", "/data", true, None, false),
            (
                "vol:/data:rw,nocopy",
                Volume,
                "vol",
                "/data",
                false,
                None,
                true,
            ),
            ("vol:/data:ro,z", Volume, "vol", "/data", true, None, false),
            ("/host:/c", Bind, "/host", "/c", false, None, false),
            ("/host:/c:ro", Bind, "/host", "/c", true, None, false),
            (
                "/h:/c:ro,Z,rshared",
                Bind,
                "/h",
                "/c",
                true,
                Some("rshared"),
                false,
            ),
            (
                "/h:/c:rslave",
                Bind,
                "/h",
                "/c",
                false,
                Some("rslave"),
                false,
            ),
            (
                "/h:/c:private,cached",
                Bind,
                "/h",
                "/c",
                false,
                Some("private"),
                false,
            ),
            ("a.b-c_d:/x", Volume, "a.b-c_d", "/x", false, None, false),
        ];
        for (spec, kind, src, dst, ro, prop, nocopy) in ok {
            let m = parse_volume(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
            assert_eq!(m.kind, *kind, "{spec}");
            assert_eq!(m.source, *src, "{spec}");
            assert_eq!(m.target, *dst, "{spec}");
            assert_eq!(m.read_only, *ro, "{spec}");
            assert_eq!(m.propagation.map(Propagation::as_str), *prop, "{spec}");
            assert_eq!(m.nocopy, *nocopy, "{spec}");
            assert_eq!(m.origin, Origin::Volume);
        }
        for bad in [
            "",
            "vol:",
            ":/data",
            "/data:ro",
            "vol:/data:rw,ro",
            "vol:/data:bogus",
            "vol:/data:z,Z",
            "vol:relative",
            "vol:/",
            "vol:/data:ro:x",
            "./rel:/data",
            "rel/dir:/data",
            "a:/data",
            "-x:/data",
            "/h:/c:nocopy",
            "vol:/c:rshared",
            "/data:/x:shared,private",
        ] {
            let err = parse_volume(bad).expect_err(bad);
            assert!(
                matches!(&err, Error::Spec { spec, .. } if spec == bad),
                "{bad}: {err}"
            );
            assert_eq!(err.kind(), berth_base::ErrorKind::Invalid);
        }
    }

    #[test]
    fn mount_flag_table() {
        let m =
            parse_mount("type=bind,source=/h,target=/c,readonly,bind-propagation=rslave").unwrap();
        assert_eq!(
            (m.kind, m.source.as_str(), m.target.as_str(), m.read_only),
            (MountType::Bind, "/h", "/c", true)
        );
        assert_eq!(m.propagation, Some(Propagation::Rslave));
        assert_eq!(m.origin, Origin::Mount);

        let m = parse_mount("src=v1,dst=/d,volume-nocopy,volume-label=a=b,volume-opt=type=tmpfs,volume-opt=device=tmpfs,\"volume-opt=o=size=1m,uid=1000\"").unwrap();
        assert_eq!(m.kind, MountType::Volume);
        assert!(m.nocopy);
        assert_eq!(m.labels.get("a").map(String::as_str), Some("b"));
        assert_eq!(
            m.driver_opts.get("o").map(String::as_str),
            Some("size=1m,uid=1000")
        );
        assert_eq!(m.driver_opts.get("type").map(String::as_str), Some("tmpfs"));

        // Quotes in the middle of a field, and escaped quotes.
        let m = parse_mount("target=/d,volume-opt=o=\"addr=10.0.0.1,rw\",volume-opt=x=\"a\"\"b\"")
            .unwrap();
        assert_eq!(
            m.driver_opts.get("o").map(String::as_str),
            Some("addr=10.0.0.1,rw")
        );
        assert_eq!(m.driver_opts.get("x").map(String::as_str), Some("a\"b"));

        let m = parse_mount("type=tmpfs,destination=/t,tmpfs-size=64m,tmpfs-mode=1770").unwrap();
        assert_eq!(m.tmpfs_size, Some(64 << 20));
        assert_eq!(m.tmpfs_mode, Some(0o1770));

        let m = parse_mount("type=bind,src=/a,dst=/b,ro=false,bind-recursive=disabled").unwrap();
        assert!(!m.read_only && m.non_recursive);

        let m = parse_mount("type=volume,target=/anon").unwrap();
        assert!(m.source.is_empty());

        for bad in [
            "type=bind,target=/c",
            "type=bind,source=rel,target=/c",
            "type=bind,source=/h",
            "type=bind,source=/h,target=c",
            "type=bind,source=/h,target=/",
            "type=bind,source=/h,target=/c,volume-nocopy",
            "type=volume,source=v,target=/c,bind-propagation=shared",
            "type=tmpfs,source=x,target=/c",
            "type=tmpfs,target=/c,tmpfs-size=lots",
            "type=tmpfs,target=/c,tmpfs-mode=999",
            "type=nfs,target=/c",
            "target=/c,bogus=1",
            "target=/c,bogus",
            "target=/c,readonly=maybe",
            "target=/c,bind-propagation=sideways,type=bind,src=/x",
            "target=/c,volume-opt=novalue",
            "target=/c,\"unterminated",
            "source=-bad,target=/c",
            "target=/c,readonly",
        ] {
            let err = parse_mount(bad).expect_err(bad);
            assert!(
                matches!(&err, Error::Spec { spec, .. } if spec == bad),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn tmpfs_flag_table() {
        let m = parse_tmpfs("/run").unwrap();
        assert_eq!((m.kind, m.target.as_str()), (MountType::Tmpfs, "/run"));
        let m = parse_tmpfs("/run:rw,size=64m,mode=1777,uid=1000,exec").unwrap();
        assert_eq!(m.tmpfs_size, Some(64 << 20));
        assert_eq!(m.tmpfs_mode, Some(0o1777));
        assert_eq!(m.tmpfs_options, vec!["uid=1000", "exec"]);
        assert!(parse_tmpfs("/run:ro").unwrap().read_only);
        for bad in ["run", "/", "/run:size=x", "/run:mode=8", ""] {
            let err = parse_tmpfs(bad).expect_err(bad);
            assert!(
                matches!(&err, Error::Spec { spec, .. } if spec == bad),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn volumes_from_table() {
        assert_eq!(parse_volumes_from("c1").unwrap(), ("c1".into(), None));
        assert_eq!(
            parse_volumes_from("c1:ro").unwrap(),
            ("c1".into(), Some(true))
        );
        assert_eq!(
            parse_volumes_from("c1:rw").unwrap(),
            ("c1".into(), Some(false))
        );
        assert!(parse_volumes_from("c1:z").is_err());
        assert!(parse_volumes_from(":ro").is_err());
    }

    #[test]
    fn sizes() {
        for (s, n) in [
            ("1024", 1024),
            ("1k", 1024),
            ("64m", 64 << 20),
            ("64MB", 64 << 20),
            ("1.5g", 3 << 29),
            ("2GiB", 2 << 30),
            ("10b", 10),
        ] {
            assert_eq!(parse_size(s), Some(n), "{s}");
        }
        for s in ["", "m", "1x", "-1", "1..2"] {
            assert_eq!(parse_size(s), None, "{s}");
        }
    }

    #[test]
    fn names() {
        for ok in ["ab", "a1", "my_vol.1-2", "0abc", &"f".repeat(64)] {
            assert!(valid_volume_name(ok), "{ok}");
        }
        for bad in ["", "a", "_ab", ".ab", "-ab", "a/b", "a b", "a:b", "é1"] {
            assert!(!valid_volume_name(bad), "{bad}");
        }
    }
}
