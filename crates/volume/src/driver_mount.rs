//! Mounting a local volume that has driver options (`type`, `device`, `o`),
//! as docker's local driver does: the `o` string is split into mount flags
//! (`ro`, `nosuid`, `bind`…) and file-system data (`size=64m`, `addr=…`).

use std::collections::BTreeMap;
use std::ffi::CString;
use std::net::ToSocketAddrs;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use rustix::io::Errno;
use rustix::mount::{MountFlags, MountPropagationFlags, UnmountFlags};

use crate::error::{io_err, Error, Result};

/// The driver options a local volume accepts.
pub(crate) const KNOWN_OPTS: [&str; 3] = ["type", "device", "o"];

/// `o=` split into what `mount(2)` takes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ParsedOptions {
    pub flags: MountFlags,
    pub propagation: Option<MountPropagationFlags>,
    pub data: Vec<String>,
}

impl ParsedOptions {
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MountFlags::BIND)
    }
}

/// Splits a mount option string into flags and data, the way `mount(8)`
/// does; later flags override earlier ones (`ro,rw` is rw).
pub(crate) fn parse_options(o: &str) -> ParsedOptions {
    let mut p = ParsedOptions {
        flags: MountFlags::empty(),
        propagation: None,
        data: Vec::new(),
    };
    for opt in o.split(',').filter(|s| !s.is_empty()) {
        let (set, clear) = match opt {
            "defaults" => (MountFlags::empty(), MountFlags::empty()),
            "ro" => (MountFlags::RDONLY, MountFlags::empty()),
            "rw" => (MountFlags::empty(), MountFlags::RDONLY),
            "nosuid" => (MountFlags::NOSUID, MountFlags::empty()),
            "suid" => (MountFlags::empty(), MountFlags::NOSUID),
            "nodev" => (MountFlags::NODEV, MountFlags::empty()),
            "dev" => (MountFlags::empty(), MountFlags::NODEV),
            "noexec" => (MountFlags::NOEXEC, MountFlags::empty()),
            "exec" => (MountFlags::empty(), MountFlags::NOEXEC),
            "sync" => (MountFlags::SYNCHRONOUS, MountFlags::empty()),
            "async" => (MountFlags::empty(), MountFlags::SYNCHRONOUS),
            "dirsync" => (MountFlags::DIRSYNC, MountFlags::empty()),
            "noatime" => (MountFlags::NOATIME, MountFlags::empty()),
            "atime" => (MountFlags::empty(), MountFlags::NOATIME),
            "nodiratime" => (MountFlags::NODIRATIME, MountFlags::empty()),
            "diratime" => (MountFlags::empty(), MountFlags::NODIRATIME),
            "relatime" => (MountFlags::RELATIME, MountFlags::empty()),
            "norelatime" => (MountFlags::empty(), MountFlags::RELATIME),
            "strictatime" => (MountFlags::STRICTATIME, MountFlags::empty()),
            "nostrictatime" => (MountFlags::empty(), MountFlags::STRICTATIME),
            "bind" => (MountFlags::BIND, MountFlags::empty()),
            "rbind" => (MountFlags::BIND | MountFlags::REC, MountFlags::empty()),
            _ => {
                let prop = match opt {
                    "private" => Some(MountPropagationFlags::PRIVATE),
                    "rprivate" => Some(MountPropagationFlags::PRIVATE | MountPropagationFlags::REC),
                    "shared" => Some(MountPropagationFlags::SHARED),
                    "rshared" => Some(MountPropagationFlags::SHARED | MountPropagationFlags::REC),
                    "slave" => Some(MountPropagationFlags::DOWNSTREAM),
                    "rslave" => {
                        Some(MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC)
                    }
                    "unbindable" => Some(MountPropagationFlags::UNBINDABLE),
                    "runbindable" => {
                        Some(MountPropagationFlags::UNBINDABLE | MountPropagationFlags::REC)
                    }
                    _ => None,
                };
                match prop {
                    Some(pr) => p.propagation = Some(pr),
                    None => p.data.push(opt.to_owned()),
                }
                continue;
            }
        };
        p.flags = (p.flags | set) & !clear;
    }
    p
}

/// Checks driver options at `volume create`, as docker's local driver does.
pub(crate) fn validate(opts: &BTreeMap<String, String>) -> Result<()> {
    if let Some(k) = opts.keys().find(|k| !KNOWN_OPTS.contains(&k.as_str())) {
        if k == "size" {
            return Err(Error::Unsupported(
                "volume option \"size\" needs quota support, which this driver has not".into(),
            ));
        }
        return Err(Error::Invalid(format!("invalid volume option {k:?}")));
    }
    let get = |k: &str| opts.get(k).map(String::as_str).unwrap_or("");
    if !get("type").is_empty() && get("device").is_empty() {
        return Err(Error::Invalid(
            "missing required volume option \"device\"".into(),
        ));
    }
    if !get("device").is_empty() && get("type").is_empty() {
        return Err(Error::Invalid(
            "missing required volume option \"type\"".into(),
        ));
    }
    if get("type").is_empty() && !get("o").is_empty() {
        return Err(Error::Invalid(
            "missing required volume option \"type\"".into(),
        ));
    }
    if parse_options(get("o")).is_bind() && !get("device").starts_with('/') {
        return Err(Error::Invalid(format!(
            "bind volume device {:?} must be an absolute host path",
            get("device")
        )));
    }
    Ok(())
}

/// Whether the volume needs a mount of its own (any driver option given).
pub(crate) fn needs_mount(opts: &BTreeMap<String, String>) -> bool {
    opts.get("type").is_some_and(|t| !t.is_empty())
}

/// Mounts the volume described by `opts` on `target`.
pub(crate) fn mount(opts: &BTreeMap<String, String>, target: &Path) -> Result<()> {
    let get = |k: &str| opts.get(k).map(String::as_str).unwrap_or("");
    let fstype = get("type");
    let device = get("device");
    let parsed = parse_options(get("o"));
    let mut data = parsed.data.clone();
    if matches!(fstype, "nfs" | "nfs4" | "cifs") {
        resolve_addr(&mut data)?;
    }
    let data = CString::new(data.join(","))
        .map_err(|_| Error::Invalid("volume option \"o\" contains a NUL byte".into()))?;
    if parsed.is_bind() {
        if !Path::new(device).exists() {
            return Err(Error::Invalid(format!(
                "bind volume device {device} does not exist"
            )));
        }
        let rec = parsed.flags & MountFlags::REC;
        rustix::mount::mount(device, target, "none", MountFlags::BIND | rec, None)
            .map_err(io_err("mount bind", target))?;
        // A bind mount ignores every flag but MS_REC; ro, nosuid and the
        // rest need a remount of the new mount point.
        let rest = parsed.flags & !(MountFlags::BIND | MountFlags::REC);
        if !rest.is_empty() {
            if let Err(e) = rustix::mount::mount_remount(target, MountFlags::BIND | rest, "") {
                let _ = rustix::mount::unmount(target, UnmountFlags::DETACH);
                return Err(io_err("remount", target)(e));
            }
        }
    } else {
        rustix::mount::mount(device, target, fstype, parsed.flags, data.as_c_str())
            .map_err(io_err("mount", target))?;
    }
    if let Some(p) = parsed.propagation {
        if let Err(e) = rustix::mount::mount_change(target, p) {
            let _ = rustix::mount::unmount(target, UnmountFlags::DETACH);
            return Err(io_err("mount propagation", target)(e));
        }
    }
    Ok(())
}

/// Replaces a host name in `addr=` with its address: the kernel's NFS and
/// CIFS clients take only numeric addresses (docker does the same).
fn resolve_addr(data: &mut [String]) -> Result<()> {
    for d in data.iter_mut() {
        let Some(host) = d.strip_prefix("addr=") else {
            continue;
        };
        if host.parse::<std::net::IpAddr>().is_ok() {
            continue;
        }
        let addr = (host, 0)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| Error::Invalid(format!("cannot resolve volume addr {host:?}")))?;
        *d = format!("addr={}", addr.ip());
    }
    Ok(())
}

/// Unmounts `target`; a busy mount is detached lazily so that the volume can
/// be released even while a process still holds a file open in it.
pub(crate) fn unmount(target: &Path) -> Result<()> {
    match rustix::mount::unmount(target, UnmountFlags::NOFOLLOW) {
        Ok(()) | Err(Errno::INVAL) => Ok(()),
        Err(Errno::BUSY) => {
            rustix::mount::unmount(target, UnmountFlags::DETACH | UnmountFlags::NOFOLLOW)
                .map_err(io_err("umount", target))
        }
        Err(e) => Err(io_err("umount", target)(e)),
    }
}

/// Whether `path` is a mount point in our mount namespace (per
/// /proc/thread-self/mountinfo, which also sees bind mounts of the same file
/// system, unlike a device-number comparison).
pub(crate) fn is_mount_point(path: &Path) -> Result<bool> {
    let want = path.as_os_str().as_encoded_bytes();
    Ok(mount_points()?.iter().any(|mp| mp.as_slice() == want))
}

/// Mount points at or below `dir`.
pub(crate) fn mounts_below(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(mount_points()?
        .into_iter()
        .map(|m| PathBuf::from(std::ffi::OsString::from_vec(m)))
        .filter(|m| m.starts_with(dir))
        .collect())
}

fn mount_points() -> Result<Vec<Vec<u8>>> {
    let path = Path::new("/proc/thread-self/mountinfo");
    let info = std::fs::read_to_string(path).map_err(io_err("read", path))?;
    Ok(info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .collect())
}

/// Deletes `dir` and everything in it, but refuses while anything is
/// mounted at or below it: a recursive delete descends into mounts and
/// would delete the mounted files (a host directory bound into a volume,
/// say) instead of the volume's own.
pub(crate) fn remove_tree(dir: &Path) -> Result<()> {
    if let Some(m) = mounts_below(dir)?.into_iter().next() {
        return Err(Error::Mounted(m));
    }
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("remove", dir)(e)),
    }
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn option_strings_split_into_flags_and_data() {
        let p = parse_options("size=64m,uid=1000,ro,noexec");
        assert_eq!(p.flags, MountFlags::RDONLY | MountFlags::NOEXEC);
        assert_eq!(p.data, vec!["size=64m", "uid=1000"]);
        let p = parse_options("bind,ro,rw,rshared");
        assert!(p.is_bind());
        assert!(!p.flags.contains(MountFlags::RDONLY));
        assert_eq!(
            p.propagation,
            Some(MountPropagationFlags::SHARED | MountPropagationFlags::REC)
        );
        let p = parse_options("addr=10.0.0.1,nfsvers=4,soft");
        assert_eq!(p.flags, MountFlags::empty());
        assert_eq!(p.data.len(), 3);
    }

    #[test]
    fn driver_options_are_validated_like_docker() {
        assert!(validate(&opts(&[])).is_ok());
        assert!(validate(&opts(&[
            ("type", "tmpfs"),
            ("device", "tmpfs"),
            ("o", "size=1m")
        ]))
        .is_ok());
        assert!(validate(&opts(&[
            ("type", "none"),
            ("device", "/srv"),
            ("o", "bind")
        ]))
        .is_ok());
        for bad in [
            opts(&[("type", "tmpfs")]),
            opts(&[("device", "tmpfs")]),
            opts(&[("o", "size=1m")]),
            opts(&[("bogus", "1")]),
            opts(&[("type", "none"), ("device", "rel"), ("o", "bind")]),
        ] {
            assert_eq!(
                validate(&bad).unwrap_err().kind(),
                berth_base::ErrorKind::Invalid,
                "{bad:?}"
            );
        }
        assert_eq!(
            validate(&opts(&[("size", "1g")])).unwrap_err().kind(),
            berth_base::ErrorKind::Unsupported
        );
    }

    #[test]
    fn numeric_addresses_stay_and_names_resolve() {
        let mut d = vec![
            "addr=10.1.2.3".to_string(),
            "addr=localhost".to_string(),
            "vers=4".into(),
        ];
        resolve_addr(&mut d).unwrap();
        assert_eq!(d[0], "addr=10.1.2.3");
        assert!(d[1] == "addr=127.0.0.1" || d[1] == "addr=::1", "{}", d[1]);
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mountinfo("/a\\040b"), b"/a b");
        assert_eq!(unescape_mountinfo("/a\\134"), b"/a\\");
        assert_eq!(unescape_mountinfo("/plain"), b"/plain");
        assert!(is_mount_point(Path::new("/")).unwrap());
    }
}
