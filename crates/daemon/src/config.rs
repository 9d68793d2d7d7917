//! berthd's configuration: command-line flags merged with the config file
//! (`/etc/berth/daemon.json`, dockerd's keys where they mean the same).
//! As dockerd, a key given both as a flag and in the file is an error.

use clap::Parser;
use std::path::{Path, PathBuf};

pub const DEFAULT_SOCKET: &str = "/run/berth/berth.sock";
pub const DEFAULT_CONFIG_FILE: &str = "/etc/berth/daemon.json";

/// berthd's flags (dockerd's names).
#[derive(Debug, Clone, Default, Parser)]
#[command(
    name = "berthd",
    version,
    about = "The berth daemon: the Docker Engine API on a UNIX socket"
)]
pub struct Flags {
    /// Daemon socket(s) to listen on: unix:///path or tcp://host:port
    #[arg(short = 'H', long = "host")]
    pub hosts: Vec<String>,
    /// Root of persistent state
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    /// Root of runtime state (socket, shims, pid file)
    #[arg(long)]
    pub exec_root: Option<PathBuf>,
    /// Debug logging
    #[arg(short = 'D', long)]
    pub debug: bool,
    /// Log level: debug, info, warn, error
    #[arg(short = 'l', long)]
    pub log_level: Option<String>,
    /// Daemon configuration file
    #[arg(long, default_value = DEFAULT_CONFIG_FILE)]
    pub config_file: PathBuf,
    /// Path of the pid file (default <exec-root>/berthd.pid)
    #[arg(short = 'p', long)]
    pub pidfile: Option<PathBuf>,
    /// Group owning the UNIX socket (default "berth" if it exists)
    #[arg(short = 'G', long)]
    pub group: Option<String>,
    /// Use TLS and verify the remote (required for tcp:// hosts)
    #[arg(long)]
    pub tlsverify: bool,
    /// Trust certs signed only by this CA
    #[arg(long)]
    pub tlscacert: Option<PathBuf>,
    /// Path to the TLS certificate file
    #[arg(long)]
    pub tlscert: Option<PathBuf>,
    /// Path to the TLS key file
    #[arg(long)]
    pub tlskey: Option<PathBuf>,
}

/// The merged configuration the daemon runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub hosts: Vec<String>,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub debug: bool,
    pub log_level: String,
    pub pidfile: PathBuf,
    /// `None`: "berth" if it exists; `Some`: must exist.
    pub group: Option<String>,
    pub tls: Option<TlsConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("read config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parse config file {path}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("config file {path}: key {key:?} must be {want}")]
    Type {
        path: PathBuf,
        key: String,
        want: &'static str,
    },
    #[error(
        "the following directives are specified both as a flag and in the configuration file: {0}"
    )]
    Both(String),
    #[error("the following directives don't match any configuration option: {0}")]
    Unknown(String),
    #[error("--tlsverify needs --tlscacert, --tlscert and --tlskey")]
    TlsIncomplete,
}

/// dockerd keys that berth accepts but does not act on yet; they are
/// logged, not refused, so a docker daemon.json can be reused.
const IGNORED_KEYS: &[&str] = &[
    "storage-driver",
    "storage-opts",
    "log-driver",
    "log-opts",
    "registry-mirrors",
    "insecure-registries",
    "live-restore",
    "default-address-pools",
    "bip",
    "dns",
    "dns-search",
    "dns-opts",
    "experimental",
    "features",
    "default-runtime",
    "runtimes",
    "exec-opts",
    "iptables",
    "ip-forward",
    "ipv6",
    "userland-proxy",
    "max-concurrent-downloads",
    "max-concurrent-uploads",
    "shutdown-timeout",
    "labels",
    "default-ulimits",
    "builder",
    "tls",
];

impl Config {
    /// Merges the flags with the config file, returning the warnings about
    /// ignored keys to log once logging is set up.
    pub fn load(flags: Flags) -> Result<(Self, Vec<String>), ConfigError> {
        let file = read_file(&flags.config_file)?;
        let mut warnings = Vec::new();
        let mut both = Vec::new();
        let mut unknown = Vec::new();
        let path = flags.config_file.clone();
        let str_of = |k: &str| -> Result<Option<String>, ConfigError> {
            match file.get(k) {
                None => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(ConfigError::Type {
                    path: path.clone(),
                    key: k.into(),
                    want: "a string",
                }),
            }
        };
        let bool_of = |k: &str| -> Result<Option<bool>, ConfigError> {
            match file.get(k) {
                None => Ok(None),
                Some(serde_json::Value::Bool(b)) => Ok(Some(*b)),
                Some(_) => Err(ConfigError::Type {
                    path: path.clone(),
                    key: k.into(),
                    want: "a boolean",
                }),
            }
        };
        for k in file.keys() {
            let known = matches!(
                k.as_str(),
                "hosts"
                    | "data-root"
                    | "exec-root"
                    | "debug"
                    | "log-level"
                    | "pidfile"
                    | "group"
                    | "tlsverify"
                    | "tlscacert"
                    | "tlscert"
                    | "tlskey"
            );
            if IGNORED_KEYS.contains(&k.as_str()) {
                warnings.push(format!(
                    "config file key {k:?} is not supported by berth; ignored"
                ));
            } else if !known {
                unknown.push(k.clone());
            }
        }
        if !unknown.is_empty() {
            return Err(ConfigError::Unknown(unknown.join(", ")));
        }
        let mut pick_path =
            |flag: Option<PathBuf>, key: &str| -> Result<Option<PathBuf>, ConfigError> {
                let f = str_of(key)?.map(PathBuf::from);
                if flag.is_some() && f.is_some() {
                    both.push(key.to_owned());
                }
                Ok(flag.or(f))
            };
        let data_root = pick_path(flags.data_root, "data-root")?;
        let exec_root = pick_path(flags.exec_root, "exec-root")?;
        let pidfile = pick_path(flags.pidfile, "pidfile")?;
        let tlscacert = pick_path(flags.tlscacert, "tlscacert")?;
        let tlscert = pick_path(flags.tlscert, "tlscert")?;
        let tlskey = pick_path(flags.tlskey, "tlskey")?;
        let file_hosts: Vec<String> = match file.get("hosts") {
            None => vec![],
            Some(v) => serde_json::from_value(v.clone()).map_err(|_| ConfigError::Type {
                path: flags.config_file.clone(),
                key: "hosts".into(),
                want: "a list of strings",
            })?,
        };
        if !flags.hosts.is_empty() && !file_hosts.is_empty() {
            both.push("hosts".into());
        }
        let group_file = str_of("group")?;
        if flags.group.is_some() && group_file.is_some() {
            both.push("group".into());
        }
        let log_level_file = str_of("log-level")?;
        if flags.log_level.is_some() && log_level_file.is_some() {
            both.push("log-level".into());
        }
        let debug = flags.debug || bool_of("debug")?.unwrap_or(false);
        let tlsverify = flags.tlsverify || bool_of("tlsverify")?.unwrap_or(false);
        if !both.is_empty() {
            return Err(ConfigError::Both(both.join(", ")));
        }
        let exec_root = exec_root.unwrap_or_else(|| PathBuf::from("/run/berth"));
        let hosts = if !flags.hosts.is_empty() {
            flags.hosts
        } else if !file_hosts.is_empty() {
            file_hosts
        } else {
            vec![format!("unix://{DEFAULT_SOCKET}")]
        };
        let tls = if tlsverify {
            match (tlscacert, tlscert, tlskey) {
                (Some(ca), Some(cert), Some(key)) => Some(TlsConfig { ca, cert, key }),
                _ => return Err(ConfigError::TlsIncomplete),
            }
        } else {
            None
        };
        let log_level = if debug {
            "debug".to_owned()
        } else {
            flags
                .log_level
                .or(log_level_file)
                .unwrap_or_else(|| "info".into())
        };
        Ok((
            Self {
                hosts,
                data_root: data_root.unwrap_or_else(|| PathBuf::from("/var/lib/berth")),
                pidfile: pidfile.unwrap_or_else(|| exec_root.join("berthd.pid")),
                exec_root,
                debug,
                log_level,
                group: flags.group.or(group_file),
                tls,
            },
            warnings,
        ))
    }
}

/// The config file as a JSON object; a missing default file is empty.
fn read_file(path: &Path) -> Result<serde_json::Map<String, serde_json::Value>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && path == Path::new(DEFAULT_CONFIG_FILE) =>
        {
            return Ok(Default::default())
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.into(),
                source,
            })
        }
    };
    if text.trim().is_empty() {
        return Ok(Default::default());
    }
    serde_json::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(dir: &Path, file: &str, args: &[&str]) -> Flags {
        let p = dir.join("daemon.json");
        std::fs::write(&p, file).unwrap();
        let mut v = vec!["berthd", "--config-file", p.to_str().unwrap()];
        v.extend_from_slice(args);
        Flags::parse_from(v)
    }

    #[test]
    fn merges_file_and_flags() {
        let d = tempfile::tempdir().unwrap();
        let (c, w) = Config::load(flags(
            d.path(),
            r#"{"data-root":"/d","debug":true,"log-driver":"json-file"}"#,
            &["--exec-root", "/e", "-H", "unix:///tmp/x.sock"],
        ))
        .unwrap();
        assert_eq!(c.data_root, PathBuf::from("/d"));
        assert_eq!(c.exec_root, PathBuf::from("/e"));
        assert_eq!(c.pidfile, PathBuf::from("/e/berthd.pid"));
        assert_eq!(c.hosts, vec!["unix:///tmp/x.sock".to_owned()]);
        assert!(c.debug);
        assert_eq!(c.log_level, "debug");
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn refuses_conflicts_unknown_keys_and_half_tls() {
        let d = tempfile::tempdir().unwrap();
        let e = Config::load(flags(
            d.path(),
            r#"{"data-root":"/d"}"#,
            &["--data-root", "/x"],
        ))
        .unwrap_err();
        assert!(
            matches!(e, ConfigError::Both(ref k) if k == "data-root"),
            "{e}"
        );
        let e = Config::load(flags(d.path(), r#"{"bogus":1}"#, &[])).unwrap_err();
        assert!(matches!(e, ConfigError::Unknown(_)), "{e}");
        let e = Config::load(flags(d.path(), "{}", &["--tlsverify"])).unwrap_err();
        assert!(matches!(e, ConfigError::TlsIncomplete), "{e}");
        let e = Config::load(flags(d.path(), r#"{"debug":"yes"}"#, &[])).unwrap_err();
        assert!(matches!(e, ConfigError::Type { .. }), "{e}");
        let (c, _) = Config::load(flags(d.path(), "", &[])).unwrap();
        assert_eq!(c.hosts, vec![format!("unix://{DEFAULT_SOCKET}")]);
    }
}
