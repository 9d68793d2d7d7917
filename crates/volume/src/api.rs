//! Docker's `HostConfig.Mounts[]` JSON (`Mount` in the Engine API) and its
//! conversion to and from [`MountSpec`], so the daemon can hand the API's
//! mounts to the engine, and a client can send what `--mount` parsed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::spec::{validate, MountSpec, MountType, Origin, Propagation};

/// One `HostConfig.Mounts` entry, field for field as the Engine API has it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiMount {
    /// `bind`, `volume` or `tmpfs`.
    #[serde(rename = "Type", default)]
    pub kind: String,
    /// Host path, volume name, or empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// Container path.
    #[serde(default)]
    pub target: String,
    /// Read-only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// `consistent`, `cached`, `delegated` or `default` (ignored on Linux).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub consistency: String,
    /// Bind options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<ApiBindOptions>,
    /// Volume options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<ApiVolumeOptions>,
    /// tmpfs options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<ApiTmpfsOptions>,
}

/// `Mount.BindOptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiBindOptions {
    /// Propagation mode.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub propagation: String,
    /// Bind without the submounts.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub non_recursive: bool,
    /// Create the source directory when missing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create_mountpoint: bool,
}

/// `Mount.VolumeOptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiVolumeOptions {
    /// Do not copy image content into a new volume.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_copy: bool,
    /// Labels for a volume created by the mount.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Driver and options for a volume created by the mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<ApiDriverConfig>,
    /// A path inside the volume (API 1.45); not supported by berth yet.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subpath: String,
}

/// `Mount.VolumeOptions.DriverConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiDriverConfig {
    /// Driver name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Driver options.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

/// `Mount.TmpfsOptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiTmpfsOptions {
    /// Size in bytes (0: the kernel's default).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub size_bytes: i64,
    /// Permission bits as a number (Go's `os.FileMode`).
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub mode: u32,
    /// Further options, each `[flag]` or `[key, value]` (API 1.46).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<Vec<String>>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

impl ApiMount {
    /// Converts and validates as dockerd does; errors name the mount by its
    /// JSON form.
    pub fn to_spec(&self) -> Result<MountSpec> {
        let name = serde_json::to_string(self).unwrap_or_else(|_| self.target.clone());
        let extra = |field: &str| {
            Error::spec(
                &name,
                format!("field {field} must not be specified for type {}", self.kind),
            )
        };
        let kind = match self.kind.as_str() {
            "bind" => MountType::Bind,
            "volume" => MountType::Volume,
            "tmpfs" => MountType::Tmpfs,
            "" => return Err(Error::spec(&name, "mount type is required")),
            t => {
                return Err(Error::spec(
                    &name,
                    format!("mount type {t:?} is not supported"),
                ))
            }
        };
        let mut m = MountSpec::new(kind, &self.source, &self.target, Origin::Mount);
        m.read_only = self.read_only;
        if !self.consistency.is_empty() {
            m.consistency = Some(self.consistency.clone());
        }
        if let Some(b) = &self.bind_options {
            if kind != MountType::Bind {
                return Err(extra("BindOptions"));
            }
            if !b.propagation.is_empty() {
                m.propagation = Some(Propagation::parse(&b.propagation).ok_or_else(|| {
                    Error::spec(
                        &name,
                        format!("invalid propagation mode {:?}", b.propagation),
                    )
                })?);
            }
            m.non_recursive = b.non_recursive;
            m.create_source = b.create_mountpoint;
        }
        if let Some(v) = &self.volume_options {
            if kind != MountType::Volume {
                return Err(extra("VolumeOptions"));
            }
            if !v.subpath.is_empty() {
                return Err(Error::Unsupported(format!(
                    "volume subpath {:?} is not supported",
                    v.subpath
                )));
            }
            m.nocopy = v.no_copy;
            m.labels = v.labels.clone();
            if let Some(d) = &v.driver_config {
                m.driver = (!d.name.is_empty()).then(|| d.name.clone());
                m.driver_opts = d.options.clone();
            }
        }
        if let Some(t) = &self.tmpfs_options {
            if kind != MountType::Tmpfs {
                return Err(extra("TmpfsOptions"));
            }
            if t.size_bytes < 0 {
                return Err(Error::spec(&name, "tmpfs size must not be negative"));
            }
            m.tmpfs_size = (t.size_bytes > 0).then_some(t.size_bytes as u64);
            m.tmpfs_mode = (t.mode != 0).then_some(t.mode & 0o7777);
            for o in &t.options {
                match o.as_slice() {
                    [flag] => m.tmpfs_options.push(flag.clone()),
                    [k, v] => m.tmpfs_options.push(format!("{k}={v}")),
                    _ => return Err(Error::spec(&name, format!("invalid tmpfs option {o:?}"))),
                }
            }
        }
        validate(&name, &m)?;
        Ok(m)
    }
}

impl From<&MountSpec> for ApiMount {
    fn from(m: &MountSpec) -> Self {
        let mut a = ApiMount {
            kind: m.kind.as_str().to_owned(),
            source: m.source.clone(),
            target: m.target.clone(),
            read_only: m.read_only,
            consistency: m.consistency.clone().unwrap_or_default(),
            ..Default::default()
        };
        match m.kind {
            MountType::Bind => {
                if m.propagation.is_some() || m.non_recursive || m.create_source {
                    a.bind_options = Some(ApiBindOptions {
                        propagation: m
                            .propagation
                            .map(|p| p.as_str().to_owned())
                            .unwrap_or_default(),
                        non_recursive: m.non_recursive,
                        create_mountpoint: m.create_source,
                    });
                }
            }
            MountType::Volume => {
                if m.nocopy
                    || !m.labels.is_empty()
                    || m.driver.is_some()
                    || !m.driver_opts.is_empty()
                {
                    a.volume_options = Some(ApiVolumeOptions {
                        no_copy: m.nocopy,
                        labels: m.labels.clone(),
                        driver_config: (m.driver.is_some() || !m.driver_opts.is_empty()).then(
                            || ApiDriverConfig {
                                name: m.driver.clone().unwrap_or_default(),
                                options: m.driver_opts.clone(),
                            },
                        ),
                        subpath: String::new(),
                    });
                }
            }
            MountType::Tmpfs => {
                if m.tmpfs_size.is_some() || m.tmpfs_mode.is_some() || !m.tmpfs_options.is_empty() {
                    a.tmpfs_options = Some(ApiTmpfsOptions {
                        size_bytes: m.tmpfs_size.map_or(0, |s| s as i64),
                        mode: m.tmpfs_mode.unwrap_or(0),
                        options: m
                            .tmpfs_options
                            .iter()
                            .map(|o| match o.split_once('=') {
                                Some((k, v)) => vec![k.to_owned(), v.to_owned()],
                                None => vec![o.clone()],
                            })
                            .collect(),
                    });
                }
            }
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse_mount;

    #[test]
    fn api_json_round_trips_through_mount_specs() {
        for csv in [
            "type=bind,src=/h,dst=/c,readonly,bind-propagation=rslave,bind-create-mountpoint",
            "type=volume,src=vv,dst=/d,volume-nocopy,volume-label=a=b,volume-opt=type=tmpfs,volume-opt=device=tmpfs",
            "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1777",
            "type=volume,dst=/anon",
        ] {
            let spec = parse_mount(csv).unwrap();
            let json = serde_json::to_value(ApiMount::from(&spec)).unwrap();
            let back: ApiMount = serde_json::from_value(json.clone()).unwrap();
            assert_eq!(back.to_spec().unwrap(), spec, "{csv} via {json}");
        }
    }

    #[test]
    fn docker_json_is_read_and_checked() {
        let a: ApiMount = serde_json::from_str(
            r#"{"Type":"tmpfs","Target":"/run","TmpfsOptions":{"SizeBytes":65536,"Mode":1023,"Options":[["exec"],["uid","5"]]}}"#,
        )
        .unwrap();
        let m = a.to_spec().unwrap();
        assert_eq!(m.tmpfs_size, Some(65536));
        assert_eq!(m.tmpfs_mode, Some(0o1777));
        assert_eq!(m.tmpfs_options, ["exec", "uid=5"]);

        for bad in [
            r#"{"Type":"bind","Target":"/c"}"#,
            r#"{"Type":"bind","Source":"rel","Target":"/c"}"#,
            r#"{"Type":"bind","Source":"/h","Target":"/c","VolumeOptions":{"NoCopy":true}}"#,
            r#"{"Type":"volume","Target":"/c","BindOptions":{"Propagation":"shared"}}"#,
            r#"{"Type":"volume","Target":"/c","ReadOnly":true}"#,
            r#"{"Type":"tmpfs","Source":"x","Target":"/c"}"#,
            r#"{"Type":"npipe","Target":"/c"}"#,
            r#"{"Target":"/c"}"#,
            r#"{"Type":"volume","Target":"c"}"#,
            r#"{"Type":"bind","Source":"/h","Target":"/c","BindOptions":{"Propagation":"odd"}}"#,
        ] {
            let a: ApiMount = serde_json::from_str(bad).unwrap();
            let e = a.to_spec().unwrap_err();
            assert_eq!(e.kind(), berth_base::ErrorKind::Invalid, "{bad}: {e}");
        }
    }
}
