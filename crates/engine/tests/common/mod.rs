//! Helpers shared by the engine's integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use berth_engine::image::ImportOptions;
use berth_engine::{Config, Engine};
use std::path::{Path, PathBuf};
use std::process::Command;

/// An engine over a fresh temporary data root, removed on drop.
pub struct TestEngine {
    pub engine: Engine,
    pub dir: tempfile::TempDir,
}

pub fn engine() -> TestEngine {
    let dir = tempfile::Builder::new()
        .prefix(&format!("berth-engine-test-{}-", std::process::id()))
        .tempdir()
        .unwrap();
    let engine = Engine::open(Config {
        data_root: dir.path().join("data"),
        exec_root: dir.path().join("exec"),
    })
    .unwrap();
    TestEngine { engine, dir }
}

/// berth-shim built beside the test binary (target/<profile>/berth-shim).
pub fn shim_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let p = exe.parent()?.parent()?.join("berth-shim");
    p.exists().then_some(p)
}

/// On drop, kills the shims and containers left under a test root (found
/// through `exec/shims/*/state.json`), so a failed test leaves no process;
/// then what an engine that was never dropped (a thread still held it
/// when the test ended) leaves in the kernel: mounts under the root (bound
/// network namespaces) and the root's bridges and nft table.
pub struct Cleanup(pub PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.kill_shims();
        let root = format!("{}/", self.0.display());
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut points: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|p| p.starts_with(&root))
            .collect();
        points.sort_unstable_by(|a, b| b.cmp(a));
        for p in points {
            let _ = Command::new("umount").args(["-l", p]).status();
        }
        let (prefix, table) = berth_engine::network::kernel_names(&self.0.join("exec"));
        let links = std::fs::read_dir("/sys/class/net")
            .into_iter()
            .flatten()
            .flatten();
        for l in links {
            let name = l.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) {
                let _ = Command::new("ip").args(["link", "del", &name]).status();
            }
        }
        let _ = Command::new("nft")
            .args(["delete", "table", "inet", &table])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

impl Cleanup {
    fn kill_shims(&self) {
        let shims = self.0.join("exec/shims");
        for ent in std::fs::read_dir(&shims).into_iter().flatten().flatten() {
            let Ok(d) = std::fs::read(ent.path().join("state.json")) else {
                continue;
            };
            let Ok(st) = serde_json::from_slice::<serde_json::Value>(&d) else {
                continue;
            };
            for k in ["pid", "shim_pid"] {
                if let Some(pid) = st[k].as_i64().filter(|p| *p > 0) {
                    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                }
            }
        }
    }
}

/// Import the root filesystem tarball `rootfs` as `busybox:latest`,
/// running `sh`.
pub fn import_busybox(engine: &Engine, rootfs: &[u8]) {
    engine
        .images()
        .import(
            &mut &rootfs[..],
            &ImportOptions {
                reference: Some("busybox:latest".into()),
                changes: vec!["CMD [\"sh\"]".into()],
                message: String::new(),
                source: "-".into(),
            },
        )
        .unwrap();
}

/// One raw tar entry, written byte for byte (so tests can write names the
/// tar crate would refuse).
pub struct Raw<'a> {
    pub name: &'a str,
    pub kind: tar::EntryType,
    pub link: &'a str,
    pub data: &'a [u8],
    pub mode: u32,
}

pub fn file<'a>(name: &'a str, data: &'a [u8]) -> Raw<'a> {
    Raw {
        name,
        kind: tar::EntryType::Regular,
        link: "",
        data,
        mode: 0o644,
    }
}

pub fn dir(name: &str) -> Raw<'_> {
    Raw {
        name,
        kind: tar::EntryType::Directory,
        link: "",
        data: b"",
        mode: 0o755,
    }
}

pub fn symlink<'a>(name: &'a str, target: &'a str) -> Raw<'a> {
    Raw {
        name,
        kind: tar::EntryType::Symlink,
        link: target,
        data: b"",
        mode: 0o777,
    }
}

pub fn hardlink<'a>(name: &'a str, target: &'a str) -> Raw<'a> {
    Raw {
        name,
        kind: tar::EntryType::Link,
        link: target,
        data: b"",
        mode: 0o644,
    }
}

/// A tar of `entries`, with the end-of-archive blocks.
pub fn tar_of(entries: &[Raw<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let mut h = tar::Header::new_ustar();
        {
            let old = h.as_old_mut();
            old.name[..e.name.len()].copy_from_slice(e.name.as_bytes());
            old.linkname[..e.link.len()].copy_from_slice(e.link.as_bytes());
        }
        h.set_entry_type(e.kind);
        h.set_size(e.data.len() as u64);
        h.set_mode(e.mode);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(e.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// A busybox root filesystem tarball made from the host's static busybox:
/// /bin/busybox, links for sh, echo, cat, ls, id, and /etc/passwd, /etc/group.
pub fn busybox_rootfs() -> Vec<u8> {
    let bb =
        std::fs::read("/usr/bin/busybox").expect("busybox-static is installed at /usr/bin/busybox");
    let passwd = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1000:1000:app:/home/app:/bin/sh\n";
    let group = b"root:x:0:\nnogroup:x:65534:\napp:x:1000:\nextra:x:2000:app\n";
    let mut entries = vec![
        dir("bin/"),
        dir("etc/"),
        dir("tmp/"),
        dir("root/"),
        file("bin/busybox", &bb),
        file("etc/passwd", passwd),
        file("etc/group", group),
    ];
    entries[4].mode = 0o755;
    for app in ["sh", "echo", "cat", "ls", "id", "true"] {
        entries.push(Raw {
            name: Box::leak(format!("bin/{app}").into_boxed_str()),
            kind: tar::EntryType::Link,
            link: "bin/busybox",
            data: b"",
            mode: 0o755,
        });
    }
    tar_of(&entries)
}

/// Every path under `root` with its type and size, sorted: what "the store
/// is unchanged" compares.
pub fn listing(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for ent in rd.flatten() {
        let p = ent.path();
        let rel = p.strip_prefix(root).unwrap().display().to_string();
        let md = std::fs::symlink_metadata(&p).unwrap();
        if rel == "meta.db" {
            // redb may rewrite its file on open; its content is checked
            // through the API instead.
            out.push(rel);
            continue;
        }
        if md.is_dir() {
            out.push(format!("{rel}/"));
            walk(root, &p, out);
        } else {
            out.push(format!("{rel} {}", md.len()));
        }
    }
}

/// A docker-archive (old layout) with one image made of `layers` (tar
/// bytes as they go in the archive; diff ids are computed from
/// `diff_sources`, normally the same bytes).
pub fn docker_archive(layers: &[Vec<u8>], tag: &str) -> Vec<u8> {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| berth_base::digest::Digest::of(l).to_string())
        .collect();
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    })
    .to_string();
    let id = berth_base::digest::Digest::of(config.as_bytes());
    let names: Vec<String> = (0..layers.len())
        .map(|i| format!("l{i}/layer.tar"))
        .collect();
    let manifest = serde_json::json!([{
        "Config": format!("{}.json", id.hex()),
        "RepoTags": [tag],
        "Layers": names,
    }])
    .to_string();
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    for (n, l) in names.iter().zip(layers) {
        entries.push((n.clone(), l.clone()));
    }
    entries.push((format!("{}.json", id.hex()), config.into_bytes()));
    entries.push(("manifest.json".into(), manifest.into_bytes()));
    let raws: Vec<Raw<'_>> = entries.iter().map(|(n, d)| file(n, d)).collect();
    tar_of(&raws)
}
