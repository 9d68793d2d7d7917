//! Where the cgroup hierarchies are mounted and where this process sits in
//! them: read once from /proc/self/mountinfo and /proc/self/cgroup (a few
//! kilobytes, no directory scans).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::files;

/// The kind of cgroup setup of a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Hierarchy {
    /// cgroup v2 only: /sys/fs/cgroup is a cgroup2 mount.
    Unified,
    /// cgroup v1 only: one mount per controller (or group of controllers).
    Legacy,
    /// v1 controllers plus a cgroup2 mount (usually /sys/fs/cgroup/unified)
    /// holding the controllers no v1 hierarchy took (often none, or hugetlb).
    Hybrid,
}

/// Where a pure cgroup v2 host mounts its hierarchy.
const UNIFIED_MOUNT: &str = "/sys/fs/cgroup";

/// The cgroup v1 controllers the kernel knows; other mount options of a
/// cgroup mount (xattr, noprefix, release_agent=...) are not controllers.
const V1_CONTROLLERS: &[&str] = &[
    "cpuset",
    "cpu",
    "cpuacct",
    "blkio",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "perf_event",
    "net_prio",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
    "debug",
];

/// One mounted cgroup v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct V1Mount {
    /// Controllers bound to it, and `name=...` for named hierarchies.
    pub controllers: Vec<String>,
    pub mountpoint: PathBuf,
    /// Our cgroup in this hierarchy, relative to the mountpoint ("/" = root).
    pub own: String,
}

/// The mounted cgroup v2 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct V2Mount {
    pub mountpoint: PathBuf,
    /// Controllers available at its root (cgroup.controllers).
    pub controllers: Vec<String>,
    /// Our cgroup, relative to the mountpoint.
    pub own: String,
}

/// The hierarchies of a host (or of a fake tree in tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    pub v1: Vec<V1Mount>,
    pub v2: Option<V2Mount>,
}

impl Layout {
    /// Read the layout of the running host. Our own cgroups (needed only to
    /// resolve relative cgroup paths) are read only if `own` is true: the
    /// kernel builds /proc/self/cgroup by walking every hierarchy. A pure v2
    /// host is recognised by statfs alone, without parsing mountinfo.
    pub fn detect(own: bool) -> Result<Layout> {
        let proc = Path::new("/proc/self");
        let cgroup = if own {
            files::read(proc, "cgroup")?
        } else {
            String::new()
        };
        let unified = Path::new(UNIFIED_MOUNT);
        let is_cgroup2 = nix::sys::statfs::statfs(unified)
            .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC);
        let mut layout = if is_cgroup2 && !own {
            Layout {
                v1: Vec::new(),
                v2: Some(V2Mount {
                    mountpoint: unified.to_path_buf(),
                    controllers: Vec::new(),
                    own: "/".into(),
                }),
            }
        } else {
            Layout::parse(&files::read(proc, "mountinfo")?, &cgroup)
        };
        if let Some(v2) = &mut layout.v2 {
            v2.controllers = read_controllers(&v2.mountpoint)?;
        }
        if layout.v1.is_empty() && layout.v2.is_none() {
            return Err(Error::NoCgroupFs {
                path: PathBuf::from("/proc/self/mountinfo"),
            });
        }
        Ok(layout)
    }

    /// Mimic cgroupfs with plain directories, for tests: `root` holding
    /// cgroup.controllers is a v2 mount; otherwise each subdirectory is a v1
    /// hierarchy named by its controllers ("cpu,cpuacct"), and a
    /// subdirectory holding cgroup.controllers is the v2 mount of a hybrid
    /// host. We sit in the root cgroup everywhere.
    pub fn fake(root: &Path) -> Result<Layout> {
        if root.join("cgroup.controllers").exists() {
            return Ok(Layout {
                v1: Vec::new(),
                v2: Some(V2Mount {
                    mountpoint: root.to_path_buf(),
                    controllers: read_controllers(root)?,
                    own: "/".into(),
                }),
            });
        }
        let mut layout = Layout {
            v1: Vec::new(),
            v2: None,
        };
        let entries = std::fs::read_dir(root).map_err(|source| Error::Read {
            path: root.to_path_buf(),
            source,
        })?;
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        for dir in dirs {
            if dir.join("cgroup.controllers").exists() {
                layout.v2 = Some(V2Mount {
                    controllers: read_controllers(&dir)?,
                    mountpoint: dir,
                    own: "/".into(),
                });
            } else {
                let name = dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                layout.v1.push(V1Mount {
                    controllers: name.split(',').map(str::to_string).collect(),
                    mountpoint: dir,
                    own: "/".into(),
                });
            }
        }
        if layout.v1.is_empty() && layout.v2.is_none() {
            return Err(Error::NoCgroupFs {
                path: root.to_path_buf(),
            });
        }
        Ok(layout)
    }

    /// Parse mountinfo and /proc/self/cgroup. The v2 controllers are left
    /// empty (they come from a file).
    pub fn parse(mountinfo: &str, proc_cgroup: &str) -> Layout {
        let mut layout = Layout {
            v1: Vec::new(),
            v2: None,
        };
        // A later mount on the same mount point hides an earlier one (e.g. a
        // tmpfs laid over /sys/fs/cgroup/unified to hide cgroup2): only the
        // topmost mount of each path counts.
        let mut topmost = std::collections::HashMap::new();
        for (i, line) in mountinfo.lines().enumerate() {
            if let Some(mp) = line.split(' ').nth(4) {
                topmost.insert(mp, i);
            }
        }
        for (i, line) in mountinfo.lines().enumerate() {
            let Some((pre, post)) = line.split_once(" - ") else {
                continue;
            };
            let pre: Vec<&str> = pre.split(' ').collect();
            let post: Vec<&str> = post.split(' ').collect();
            if pre.len() < 5 || post.len() < 3 || topmost.get(pre[4]) != Some(&i) {
                continue;
            }
            let (root, mountpoint) = (unescape(pre[3]), PathBuf::from(unescape(pre[4])));
            match post[0] {
                "cgroup2" if layout.v2.is_none() => {
                    let own = own_path(proc_cgroup, |c| c.is_empty());
                    layout.v2 = Some(V2Mount {
                        mountpoint,
                        controllers: Vec::new(),
                        own: relative_to(&own, &root),
                    });
                }
                "cgroup" => {
                    let controllers: Vec<String> = post[2]
                        .split(',')
                        .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
                        .map(str::to_string)
                        .collect();
                    // A hierarchy mounted twice (bind mounts) counts once.
                    if controllers.is_empty()
                        || layout.v1.iter().any(|m| m.controllers == controllers)
                    {
                        continue;
                    }
                    let own = own_path(proc_cgroup, |c| {
                        let mut set: Vec<&str> = c.split(',').collect();
                        set.sort_unstable();
                        let mut want: Vec<&str> = controllers.iter().map(String::as_str).collect();
                        want.sort_unstable();
                        set == want
                    });
                    layout.v1.push(V1Mount {
                        controllers,
                        mountpoint,
                        own: relative_to(&own, &root),
                    });
                }
                _ => {}
            }
        }
        layout
    }

    /// Which kind of host this is.
    pub fn hierarchy(&self) -> Hierarchy {
        match (self.v1.is_empty(), &self.v2) {
            (true, _) => Hierarchy::Unified,
            (false, None) => Hierarchy::Legacy,
            (false, Some(_)) => Hierarchy::Hybrid,
        }
    }
}

/// The controllers listed in `dir/cgroup.controllers`.
pub(crate) fn read_controllers(dir: &Path) -> Result<Vec<String>> {
    Ok(files::read(dir, "cgroup.controllers")?
        .split_whitespace()
        .map(str::to_string)
        .collect())
}

/// Our cgroup path in the hierarchy whose controller field matches.
fn own_path(proc_cgroup: &str, matches: impl Fn(&str) -> bool) -> String {
    proc_cgroup
        .lines()
        .find_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_, ctrl, path) = (it.next()?, it.next()?, it.next()?);
            matches(ctrl).then(|| path.to_string())
        })
        .unwrap_or_else(|| "/".into())
}

/// `path` seen from a mount whose root is `root`: with a cgroup namespace or
/// a bind-mounted sub-hierarchy, the mount shows only part of the tree.
fn relative_to(path: &str, root: &str) -> String {
    if root == "/" {
        return path.to_string();
    }
    match path.strip_prefix(root) {
        Some("") => "/".into(),
        Some(rest) if rest.starts_with('/') => rest.to_string(),
        _ => path.to_string(),
    }
}

/// Undo mountinfo's octal escapes (\040 for space and friends).
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_CGROUP: &str = "\
9:name=systemd:/user.slice
4:memory:/process_api/abc
2:cpuacct:/
1:cpu:/
0::/
";

    #[test]
    fn parses_a_hybrid_host() {
        let l = Layout::parse(HYBRID_MOUNTINFO, HYBRID_CGROUP);
        assert_eq!(l.hierarchy(), Hierarchy::Hybrid);
        assert_eq!(l.v1.len(), 4);
        assert_eq!(l.v1[0].controllers, vec!["cpu"]);
        assert_eq!(l.v1[2].own, "/process_api/abc");
        assert_eq!(l.v1[3].controllers, vec!["name=systemd"]);
        assert_eq!(l.v1[3].own, "/user.slice");
        let v2 = l.v2.unwrap();
        assert_eq!(v2.mountpoint, Path::new("/sys/fs/cgroup/unified"));
        assert_eq!(v2.own, "/");
    }

    #[test]
    fn a_mount_over_the_cgroup2_mount_point_hides_it() {
        let mi =
            format!("{HYBRID_MOUNTINFO}90 41 0:99 / /sys/fs/cgroup/unified rw - tmpfs hide rw\n");
        let l = Layout::parse(&mi, HYBRID_CGROUP);
        assert_eq!(l.hierarchy(), Hierarchy::Legacy);
        assert!(l.v2.is_none());
        assert_eq!(l.v1.len(), 4);
    }

    #[test]
    fn parses_comounted_controllers_and_unified_hosts() {
        let mi = "25 20 0:22 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpuacct,cpu\n";
        let l = Layout::parse(mi, "3:cpu,cpuacct:/a\n");
        assert_eq!(l.hierarchy(), Hierarchy::Legacy);
        assert_eq!(l.v1[0].controllers, vec!["cpuacct", "cpu"]);
        assert_eq!(l.v1[0].own, "/a");

        let mi = "30 23 0:26 /docker/x /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let l = Layout::parse(mi, "0::/docker/x/inner\n");
        assert_eq!(l.hierarchy(), Hierarchy::Unified);
        assert_eq!(l.v2.unwrap().own, "/inner");
    }

    #[test]
    fn unescapes_mountpoints() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }

    #[test]
    fn detects_this_host() {
        let l = Layout::detect(true).unwrap();
        assert!(l.v2.is_some() || !l.v1.is_empty());
        let without_own = Layout::detect(false).unwrap();
        assert_eq!(l.hierarchy(), without_own.hierarchy());
    }
}
