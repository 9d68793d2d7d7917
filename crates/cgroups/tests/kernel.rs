//! Real-kernel tests, as root, on whatever hierarchy the host has (this
//! project's VM is hybrid: v1 controllers plus cgroup2 with hugetlb). Each
//! test uses its own cgroup under a parent named with the pid, removed by a
//! Drop guard even when the test fails.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_base::testenv::{is_root, require};
use berth_cgroups::{FreezerState, Hierarchy, Manager};
use nix::sys::signal::Signal;
use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder,
    LinuxDeviceType, LinuxHugepageLimitBuilder, LinuxMemoryBuilder, LinuxPidsBuilder,
    LinuxResources, LinuxResourcesBuilder, LinuxThrottleDeviceBuilder,
};

/// A test cgroup and the processes the test started in it.
struct Guard {
    m: Manager,
    parents: Vec<PathBuf>,
    children: Vec<Child>,
}

impl Guard {
    fn new(name: &str) -> Guard {
        Guard::with(Manager::new(Some(&test_path(name)), name).expect("manager"))
    }

    fn with(m: Manager) -> Guard {
        let parents = m
            .paths()
            .filter_map(|p| p.parent().map(Path::to_path_buf))
            .collect();
        let g = Guard {
            m,
            parents,
            children: Vec::new(),
        };
        g.m.create().expect("create");
        g
    }

    /// Start `script` under sh in the cgroup. The shell waits for a line on
    /// stdin before running it, so it is in the cgroup before it forks.
    fn spawn(&mut self, script: &str) -> usize {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("read go; {script}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        self.m.apply(child.id() as i32).expect("apply");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"go\n")
            .expect("release the shell");
        self.children.push(child);
        self.children.len() - 1
    }

    /// Run `script` in the cgroup to its end; its stdout.
    fn output(&mut self, script: &str) -> String {
        let i = self.spawn(script);
        self.wait(i).1
    }

    fn wait(&mut self, i: usize) -> (bool, String, String) {
        let out = self.children.remove(i).wait_with_output().expect("wait");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn read(&self, controller: &str, file: &str) -> String {
        let dir = self.m.path(controller).expect("controller");
        std::fs::read_to_string(dir.join(file))
            .unwrap_or_else(|e| panic!("read {}/{file}: {e}", dir.display()))
            .trim()
            .to_string()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Only processes this test started: its shells and their children,
        // all inside the test cgroup.
        let _ = self.m.thaw();
        let _ = self.m.kill_all(Signal::SIGKILL);
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let destroyed = self.m.destroy();
        for p in &self.parents {
            let _ = std::fs::remove_dir(p);
        }
        if !std::thread::panicking() {
            destroyed.expect("destroy");
        }
    }
}

/// Each test has its own parent, so that one test removing its parent
/// cannot race another creating a cgroup below it.
fn test_path(name: &str) -> String {
    format!("/berth-test-{}-{name}/{name}", std::process::id())
}

fn root() -> bool {
    require(is_root(), "cgroup tests need root")
}

/// The test cgroup `name`; `None` (the test skips) when not root.
fn guard(name: &str) -> Option<Guard> {
    root().then(|| Guard::new(name))
}

fn resources(f: impl FnOnce(LinuxResourcesBuilder) -> LinuxResourcesBuilder) -> LinuxResources {
    f(LinuxResourcesBuilder::default())
        .build()
        .expect("resources")
}

/// Poll `cond` until it holds; panics naming `what` after 10 s.
fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A memory limit and a memory+swap limit, in MiB.
fn memory_mib(limit: i64, swap: i64) -> LinuxResources {
    let mib = 1 << 20;
    let memory = LinuxMemoryBuilder::default()
        .limit(limit * mib)
        .swap(swap * mib)
        .build()
        .expect("memory");
    resources(|r| r.memory(memory))
}

/// A device rule (rwm) for `t`; no `major`/`minor` means any.
fn device_rule(
    allow: bool,
    t: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
) -> LinuxDeviceCgroup {
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .typ(t)
        .access("rwm");
    if let Some(m) = major {
        b = b.major(m);
    }
    if let Some(m) = minor {
        b = b.minor(m);
    }
    b.build().expect("device rule")
}

/// Every device denied but /dev/null (c 1:3).
fn only_dev_null() -> LinuxResources {
    resources(|r| {
        r.devices(vec![
            device_rule(false, LinuxDeviceType::A, None, None),
            device_rule(true, LinuxDeviceType::C, Some(1), Some(3)),
        ])
    })
}

#[test]
fn memory_limit_is_written_and_updated() {
    let Some(g) = guard("memory") else {
        return;
    };
    let mib = 1 << 20;
    g.m.set(&resources(|r| {
        r.memory(
            LinuxMemoryBuilder::default()
                .limit(64 * mib)
                .swap(128 * mib)
                .reservation(32 * mib)
                .build()
                .unwrap(),
        )
    }))
    .unwrap();
    let v1 = g.m.hierarchy() != Hierarchy::Unified;
    let (limit_file, swap_file) = if v1 {
        ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes")
    } else {
        ("memory.max", "memory.swap.max")
    };
    assert_eq!(g.read("memory", limit_file), (64 * mib).to_string());
    if v1 {
        assert_eq!(g.read("memory", swap_file), (128 * mib).to_string());
    }
    // Lowering both needs the memory limit written before memory+swap.
    g.m.update(&memory_mib(16, 16)).unwrap();
    assert_eq!(g.read("memory", limit_file), (16 * mib).to_string());
    // Raising both needs the opposite order.
    g.m.update(&memory_mib(256, 512)).unwrap();
    assert_eq!(g.read("memory", limit_file), (256 * mib).to_string());
    let stats = g.m.stats().unwrap();
    assert_eq!(stats.memory.limit, Some(256 * mib as u64));
    if v1 {
        g.m.update(&resources(|r| {
            r.memory(
                LinuxMemoryBuilder::default()
                    .kernel_tcp(8 * mib)
                    .build()
                    .unwrap(),
            )
        }))
        .unwrap();
        assert_eq!(
            g.read("memory", "memory.kmem.tcp.limit_in_bytes"),
            (8 * mib).to_string()
        );
    }
}

#[test]
fn bad_values_name_the_file_and_value() {
    let Some(g) = guard("badvalue") else {
        return;
    };
    let err =
        g.m.set(&resources(|r| {
            r.cpu(LinuxCpuBuilder::default().cpus("4096").build().unwrap())
        }))
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("write 4096 to /"), "{msg}");
    assert!(msg.ends_with("/cpuset.cpus"), "{msg}");
}

#[test]
fn pids_limit_stops_forks() {
    let Some(mut g) = guard("pids") else {
        return;
    };
    g.m.set(&resources(|r| {
        r.pids(LinuxPidsBuilder::default().limit(10).build().unwrap())
    }))
    .unwrap();
    assert_eq!(g.read("pids", "pids.max"), "10");
    let i = g.spawn("for i in $(seq 50); do sleep 5 >/dev/null 2>&1 & done; echo all-forked");
    let (_, out, err) = g.wait(i);
    assert!(!out.contains("all-forked"), "50 forks succeeded: {out}");
    assert!(err.to_lowercase().contains("fork"), "stderr: {err}");
    let stats = g.m.stats().unwrap();
    assert!(stats.pids.current <= 10, "{stats:?}");
    assert_eq!(stats.pids.limit, Some(10));
    // The sleeps that did start are ours and still in the cgroup.
    assert!(!g.m.pids().unwrap().is_empty());
    g.m.kill_all(Signal::SIGKILL).unwrap();
}

fn proc_state(pid: i32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    // The state follows the parenthesised command name.
    let after = &stat[stat.rfind(')').expect("comm in stat") + 2..];
    after.chars().next().expect("state in stat")
}

#[test]
fn freezer_freezes_and_thaws_a_sleep() {
    let Some(mut g) = guard("freezer") else {
        return;
    };
    g.spawn("exec sleep 100");
    let pid = g.children[0].id() as i32;
    until("the shell has become sleep", || {
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap()
            .trim()
            == "sleep"
    });
    assert_eq!(g.m.state().unwrap(), FreezerState::Thawed);
    g.m.freeze().unwrap();
    assert_eq!(g.m.state().unwrap(), FreezerState::Frozen);
    // A frozen task sleeps uninterruptibly in the freezer.
    assert_eq!(proc_state(pid), 'D');
    g.m.thaw().unwrap();
    assert_eq!(g.m.state().unwrap(), FreezerState::Thawed);
    // Thawed, the task is runnable until it is scheduled and back in its
    // sleep: on a busy machine that takes a while.
    until("the thawed sleep sleeps again", || proc_state(pid) == 'S');
    assert_eq!(g.m.pids().unwrap(), vec![pid]);
}

#[test]
fn kill_all_kills_a_frozen_container() {
    let Some(mut g) = guard("killall") else {
        return;
    };
    let i = g.spawn("sleep 100 & sleep 100 & wait");
    until("the shell and its two sleeps", || {
        g.m.pids().unwrap().len() >= 3
    });
    g.m.freeze().unwrap();
    g.m.kill_all(Signal::SIGKILL).unwrap();
    let (ok, _, _) = g.wait(i);
    assert!(!ok);
    until("no process survives", || g.m.pids().unwrap().is_empty());
    assert_eq!(g.m.state().unwrap(), FreezerState::Thawed);
}

#[test]
fn stats_count_cpu_and_memory() {
    let Some(mut g) = guard("stats") else {
        return;
    };
    let i = g.spawn("i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; x=$(head -c 4000000 /dev/zero | tr '\\0' a); echo ${#x}");
    let (ok, out, err) = g.wait(i);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "4000000");
    let s = g.m.stats().unwrap();
    assert!(s.cpu.usage_total > 1_000_000, "{s:?}");
    assert!(s.cpu.usage_user > 0, "{s:?}");
    assert!(s.memory.max_usage.unwrap_or(1) > 0, "{s:?}");
    assert!(!s.memory.stat.is_empty());
    assert_eq!(s.pids.current, 0);
}

#[test]
fn memory_limit_oom_kills() {
    let Some(mut g) = guard("oom") else {
        return;
    };
    g.m.set(&memory_mib(16, 16)).unwrap();
    assert_eq!(g.m.oom_count().unwrap(), 0);
    let i = g.spawn("x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo ${#x}");
    let (ok, out, _) = g.wait(i);
    assert!(!ok || out.trim() != "100000000");
    assert!(g.m.oom_count().unwrap() >= 1);
    assert!(g.m.stats().unwrap().memory.oom_kills >= 1);
}

#[test]
fn cpu_settings_are_written() {
    let Some(g) = guard("cpu") else {
        return;
    };
    g.m.set(&resources(|r| {
        r.cpu(
            LinuxCpuBuilder::default()
                .shares(512u64)
                .quota(50_000i64)
                .period(100_000u64)
                .cpus("0")
                .mems("0")
                .build()
                .unwrap(),
        )
    }))
    .unwrap();
    if g.m.hierarchy() == Hierarchy::Unified {
        assert_eq!(g.read("cpu", "cpu.max"), "50000 100000");
    } else {
        assert_eq!(g.read("cpu", "cpu.shares"), "512");
        assert_eq!(g.read("cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(g.read("cpu", "cpu.cfs_period_us"), "100000");
    }
    assert_eq!(g.read("cpuset", "cpuset.cpus"), "0");
    // A shorter period with a quota that only fits the new one.
    g.m.update(&resources(|r| {
        r.cpu(
            LinuxCpuBuilder::default()
                .quota(2_000i64)
                .period(10_000u64)
                .build()
                .unwrap(),
        )
    }))
    .unwrap();
}

#[test]
fn device_rules_deny_and_allow() {
    let Some(mut g) = guard("devices") else {
        return;
    };
    g.m.set(&only_dev_null()).unwrap();
    let out = g.output("echo x > /dev/null && echo null-ok; head -c1 /dev/zero >/dev/null 2>&1 || echo zero-denied");
    assert!(out.contains("null-ok"), "{out}");
    assert!(out.contains("zero-denied"), "{out}");
}

#[test]
fn destroy_leaves_nothing() {
    let Some(mut g) = guard("destroy") else {
        return;
    };
    let i = g.spawn("exit 0");
    g.wait(i);
    // A sub-cgroup made by the container goes too.
    let sub = g.m.path("memory").unwrap().join("inner");
    std::fs::create_dir(&sub).unwrap();
    g.m.destroy().unwrap();
    for p in g.m.paths() {
        assert!(!p.exists(), "{} is left", p.display());
    }
    // Destroy is idempotent.
    g.m.destroy().unwrap();
}

#[test]
fn reloads_from_serialized_state() {
    let Some(g) = guard("reload") else {
        return;
    };
    let json = serde_json::to_string(&g.m).unwrap();
    let again: Manager = serde_json::from_str(&json).unwrap();
    assert_eq!(again, g.m);
    assert_eq!(again.state().unwrap(), FreezerState::Thawed);
}

/// The cgroup2 mountpoint, whichever kind of host this is.
fn cgroup2_mount() -> Option<PathBuf> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    mi.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        post.starts_with("cgroup2 ")
            .then(|| pre.split(' ').nth(4).map(PathBuf::from))
            .flatten()
    })
}

/// Puts back the controllers of the v2 root's cgroup.subtree_control that a
/// test enabled (on a hybrid host our v2-only tests must leave it as it was).
struct SubtreeRestore(PathBuf, String);

impl SubtreeRestore {
    /// Remember the controllers enabled under the v2 root `mnt` now.
    fn new(mnt: PathBuf) -> Self {
        let before = std::fs::read_to_string(mnt.join("cgroup.subtree_control"))
            .expect("read cgroup.subtree_control");
        Self(mnt, before)
    }
}

impl Drop for SubtreeRestore {
    fn drop(&mut self) {
        let file = self.0.join("cgroup.subtree_control");
        let now = std::fs::read_to_string(&file).unwrap_or_default();
        for c in now.split_whitespace() {
            if !self.1.split_whitespace().any(|o| o == c) {
                // EBUSY while the removed test cgroups are still dying.
                let start = Instant::now();
                while std::fs::write(&file, format!("-{c}")).is_err()
                    && start.elapsed() < Duration::from_secs(5)
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }
}

#[test]
fn v2_device_filter_denies_and_is_replaced() {
    if !root() {
        return;
    }
    let Some(mnt) = cgroup2_mount() else {
        require(false, "needs a cgroup2 mount");
        return;
    };
    let _restore = SubtreeRestore::new(mnt.clone());
    // A v2-only manager over the real cgroup2 mount, also on a hybrid host:
    // the kernel runs cgroup device programs there whatever v1 does.
    let m = Manager::with_root(&mnt, Some(&test_path("bpf")), "bpf").unwrap();
    assert_eq!(m.hierarchy(), Hierarchy::Unified);
    let mut g = Guard::with(m);
    let script = "echo x > /dev/null && echo null-ok; head -c1 /dev/zero >/dev/null 2>&1 && echo zero-ok || echo zero-denied";
    g.m.set(&only_dev_null()).unwrap();
    let out = g.output(script);
    assert!(out.contains("null-ok"), "{out}");
    assert!(out.contains("zero-denied"), "{out}");

    // docker update style replacement: the old program goes away.
    g.m.update(&resources(|r| {
        r.devices(vec![device_rule(true, LinuxDeviceType::A, None, None)])
    }))
    .unwrap();
    let dir = std::fs::File::open(g.m.path("").unwrap()).unwrap();
    use std::os::fd::AsFd;
    assert_eq!(
        berth_sys::cgroup_bpf::device_filters(dir.as_fd())
            .unwrap()
            .len(),
        1
    );
    let out = g.output(script);
    assert!(out.contains("zero-ok"), "{out}");
}

#[test]
fn hugetlb_limit_wherever_the_controller_is() {
    if !root() {
        return;
    }
    let sizes: Vec<String> = std::fs::read_dir("/sys/kernel/mm/hugepages")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let kb: u64 = e
                        .file_name()
                        .to_str()?
                        .strip_prefix("hugepages-")?
                        .strip_suffix("kB")?
                        .parse()
                        .ok()?;
                    Some(match kb {
                        kb if kb >= 1 << 20 => format!("{}GB", kb >> 20),
                        kb if kb >= 1 << 10 => format!("{}MB", kb >> 10),
                        kb => format!("{kb}KB"),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    if !require(!sizes.is_empty(), "needs huge pages in the kernel") {
        return;
    }
    let _restore = cgroup2_mount().map(SubtreeRestore::new);
    let g = Guard::new("hugetlb");
    if !require(
        g.m.path("hugetlb").is_some(),
        "needs the hugetlb controller",
    ) {
        return;
    }
    let size = &sizes[0];
    g.m.set(&resources(|r| {
        r.hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
            .page_size(size.clone())
            .limit(4i64 << 30)
            .build()
            .unwrap()])
    }))
    .unwrap();
    let v2 = std::fs::metadata(g.m.path("hugetlb").unwrap().join("cgroup.controllers")).is_ok();
    let file = if v2 {
        format!("hugetlb.{size}.max")
    } else {
        format!("hugetlb.{size}.limit_in_bytes")
    };
    assert_eq!(g.read("hugetlb", &file), (4u64 << 30).to_string());
}

#[test]
fn blkio_throttle_and_weight() {
    if !root() {
        return;
    }
    // The first real disk (not loop, ram or zram).
    let dev = std::fs::read_dir("/sys/block")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            !n.starts_with("loop") && !n.starts_with("ram") && !n.starts_with("zram")
        })
        .find_map(|e| std::fs::read_to_string(e.path().join("dev")).ok());
    let Some(dev) = dev else {
        require(false, "needs a block device");
        return;
    };
    let (major, minor) = dev.trim().split_once(':').unwrap();
    let (major, minor): (i64, i64) = (major.parse().unwrap(), minor.parse().unwrap());
    let g = Guard::new("blkio");
    let throttle = LinuxThrottleDeviceBuilder::default()
        .major(major)
        .minor(minor)
        .rate(1_048_576u64)
        .build()
        .unwrap();
    g.m.set(&resources(|r| {
        r.block_io(
            LinuxBlockIoBuilder::default()
                .throttle_read_bps_device(vec![throttle])
                .build()
                .unwrap(),
        )
    }))
    .unwrap();
    let (ctrl, file) = if g.m.hierarchy() == Hierarchy::Unified {
        ("io", "io.max")
    } else {
        ("blkio", "blkio.throttle.read_bps_device")
    };
    assert!(
        g.read(ctrl, file).contains(&format!("{major}:{minor}")),
        "{}",
        g.read(ctrl, file)
    );
    // A weight works with BFQ or CFQ weights, and is otherwise refused
    // with an error naming what is missing.
    match g.m.set(&resources(|r| {
        r.block_io(
            LinuxBlockIoBuilder::default()
                .weight(500u16)
                .build()
                .unwrap(),
        )
    })) {
        Ok(()) => {}
        Err(e) => assert_eq!(e.kind(), berth_base::ErrorKind::Unsupported, "{e}"),
    }
}
