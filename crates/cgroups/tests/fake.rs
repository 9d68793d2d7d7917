//! The v2 (and v1) code paths against directory trees that mimic cgroupfs:
//! this VM is a hybrid host, so a pure v2 host can only be tested this way.
//! The files hold what the kernel would show; we check what gets written.

use std::fs;
use std::path::{Path, PathBuf};

use berth_base::ErrorKind;
use berth_cgroups::{FreezerState, Hierarchy, Manager};
use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType,
    LinuxHugepageLimitBuilder, LinuxInterfacePriorityBuilder, LinuxMemoryBuilder,
    LinuxNetworkBuilder, LinuxPidsBuilder, LinuxRdmaBuilder, LinuxResources, LinuxResourcesBuilder,
    LinuxThrottleDeviceBuilder, LinuxWeightDeviceBuilder,
};

const V2_FILES: &[(&str, &str)] = &[
    (
        "cgroup.controllers",
        "cpuset cpu io memory hugetlb pids rdma",
    ),
    ("cgroup.subtree_control", ""),
    ("cgroup.procs", ""),
    ("cgroup.freeze", "0"),
    ("cgroup.events", "populated 0\nfrozen 0\n"),
    ("memory.max", "max"),
    ("memory.swap.max", "max"),
    ("memory.low", "0"),
    ("memory.current", "0"),
    ("memory.stat", ""),
    ("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"),
    ("cpu.weight", "100"),
    ("cpu.max", "max 100000"),
    ("cpu.max.burst", "0"),
    ("cpu.stat", "usage_usec 0\nuser_usec 0\nsystem_usec 0\n"),
    ("cpuset.cpus", ""),
    ("cpuset.mems", ""),
    ("pids.max", "max"),
    ("pids.current", "0"),
    ("io.weight", "default 100"),
    ("io.max", ""),
    ("io.stat", ""),
    ("hugetlb.2MB.max", "max"),
    ("hugetlb.2MB.rsvd.max", "max"),
];

fn populate(dir: &Path, files: &[(&str, &str)]) {
    fs::create_dir_all(dir).expect("mkdir fake cgroup");
    for (f, v) in files {
        fs::write(dir.join(f), v).expect("write fake file");
    }
}

fn read(dir: &Path, file: &str) -> String {
    fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{}/{file}: {e}", dir.display()))
}

/// A fake v2 mount with the cgroup /berth/c1 in it.
fn v2_tree() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().expect("tempdir");
    populate(t.path(), V2_FILES);
    populate(&t.path().join("berth"), V2_FILES);
    let leaf = t.path().join("berth/c1");
    populate(&leaf, V2_FILES);
    (t, leaf)
}

fn kv(k: &str, v: &str) -> std::collections::HashMap<String, String> {
    [(k.to_string(), v.to_string())].into_iter().collect()
}

fn res(f: impl FnOnce(LinuxResourcesBuilder) -> LinuxResourcesBuilder) -> LinuxResources {
    f(LinuxResourcesBuilder::default())
        .build()
        .expect("resources")
}

#[test]
fn v2_create_enables_controllers_down_to_the_container() {
    let (t, leaf) = v2_tree();
    let m = Manager::with_root(t.path(), None, "c1").unwrap();
    assert_eq!(m.hierarchy(), Hierarchy::Unified);
    assert_eq!(m.path(""), Some(leaf.as_path()));
    assert_eq!(m.path("memory"), Some(leaf.as_path()));
    m.create().unwrap();
    let all = "+cpuset +cpu +io +memory +hugetlb +pids +rdma";
    assert_eq!(read(t.path(), "cgroup.subtree_control"), all);
    assert_eq!(read(&t.path().join("berth"), "cgroup.subtree_control"), all);
    m.apply(4242).unwrap();
    assert_eq!(read(&leaf, "cgroup.procs"), "4242");
}

#[test]
fn v2_memory() {
    let (t, leaf) = v2_tree();
    let m = Manager::with_root(t.path(), Some("/berth/c1"), "c1").unwrap();
    m.set(&res(|r| {
        r.memory(
            LinuxMemoryBuilder::default()
                .limit(100i64)
                .swap(300i64)
                .reservation(50i64)
                .build()
                .unwrap(),
        )
    }))
    .unwrap();
    assert_eq!(read(&leaf, "memory.max"), "100");
    assert_eq!(read(&leaf, "memory.swap.max"), "200");
    assert_eq!(read(&leaf, "memory.low"), "50");

    m.update(&res(|r| {
        r.memory(LinuxMemoryBuilder::default().limit(-1i64).build().unwrap())
    }))
    .unwrap();
    assert_eq!(read(&leaf, "memory.max"), "max");
    assert_eq!(read(&leaf, "memory.swap.max"), "max");

    for bad in [
        LinuxMemoryBuilder::default()
            .swappiness(10u64)
            .build()
            .unwrap(),
        LinuxMemoryBuilder::default()
            .disable_oom_killer(true)
            .build()
            .unwrap(),
    ] {
        let e = m.set(&res(|r| r.memory(bad))).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    }
    let e = m
        .set(&res(|r| {
            r.memory(
                LinuxMemoryBuilder::default()
                    .limit(300i64)
                    .swap(100i64)
                    .build()
                    .unwrap(),
            )
        }))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
}

#[test]
fn v2_cpu_and_pids() {
    let (t, leaf) = v2_tree();
    let m = Manager::with_root(t.path(), None, "c1").unwrap();
    m.set(&res(|r| {
        r.cpu(
            LinuxCpuBuilder::default()
                .shares(1024u64)
                .quota(50_000i64)
                .period(100_000u64)
                .burst(1000u64)
                .cpus("0-1")
                .mems("0")
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(100).build().unwrap())
    }))
    .unwrap();
    assert_eq!(read(&leaf, "cpu.weight"), "39");
    assert_eq!(read(&leaf, "cpu.max"), "50000 100000");
    assert_eq!(read(&leaf, "cpu.max.burst"), "1000");
    assert_eq!(read(&leaf, "cpuset.cpus"), "0-1");
    assert_eq!(read(&leaf, "cpuset.mems"), "0");
    assert_eq!(read(&leaf, "pids.max"), "100");

    m.update(&res(|r| {
        r.cpu(LinuxCpuBuilder::default().quota(-1i64).build().unwrap())
            .pids(LinuxPidsBuilder::default().limit(0).build().unwrap())
    }))
    .unwrap();
    assert_eq!(read(&leaf, "cpu.max"), "max");
    assert_eq!(read(&leaf, "pids.max"), "max");

    let e = m
        .set(&res(|r| {
            r.cpu(
                LinuxCpuBuilder::default()
                    .realtime_runtime(1000i64)
                    .build()
                    .unwrap(),
            )
        }))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("realtime"), "{e}");
}

#[test]
fn v2_io_weights_and_throttles() {
    let (t, leaf) = v2_tree();
    let m = Manager::with_root(t.path(), None, "c1").unwrap();
    let blkio = LinuxBlockIoBuilder::default()
        .weight(500u16)
        .weight_device(vec![LinuxWeightDeviceBuilder::default()
            .major(8)
            .minor(0)
            .weight(1000u16)
            .build()
            .unwrap()])
        .throttle_read_bps_device(vec![LinuxThrottleDeviceBuilder::default()
            .major(8)
            .minor(0)
            .rate(1_048_576u64)
            .build()
            .unwrap()])
        .build()
        .unwrap();
    m.set(&res(|r| r.block_io(blkio.clone()))).unwrap();
    // The last write wins in a fake file; the device weight came last.
    assert_eq!(read(&leaf, "io.weight"), "8:0 10000");
    assert_eq!(read(&leaf, "io.max"), "8:0 rbps=1048576");

    // With BFQ, its own file takes blkio's range as it is.
    fs::write(leaf.join("io.bfq.weight"), "default 100").unwrap();
    m.set(&res(|r| {
        r.block_io(
            LinuxBlockIoBuilder::default()
                .weight(500u16)
                .build()
                .unwrap(),
        )
    }))
    .unwrap();
    assert_eq!(read(&leaf, "io.bfq.weight"), "default 500");

    // A kernel without io.max: an error only because throttling was asked.
    fs::remove_file(leaf.join("io.max")).unwrap();
    let e = m.set(&res(|r| r.block_io(blkio))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("io.max"), "{e}");
}

#[test]
fn v2_hugetlb_and_unified() {
    let (t, leaf) = v2_tree();
    let m = Manager::with_root(t.path(), None, "c1").unwrap();
    m.set(&res(|r| {
        r.hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
            .page_size("2MB")
            .limit(4_194_304i64)
            .build()
            .unwrap()])
    }))
    .unwrap();
    assert_eq!(read(&leaf, "hugetlb.2MB.max"), "4194304");
    assert_eq!(read(&leaf, "hugetlb.2MB.rsvd.max"), "4194304");

    fs::write(leaf.join("memory.high"), "max").unwrap();
    m.set(&res(|r| r.unified(kv("memory.high", "1000000"))))
        .unwrap();
    assert_eq!(read(&leaf, "memory.high"), "1000000");

    for key in ["../x.y", "nodot", "memory.nothere"] {
        let e = m.set(&res(|r| r.unified(kv(key, "1")))).unwrap_err();
        assert_ne!(e.kind(), ErrorKind::Internal, "{key}: {e}");
    }
    let e = m
        .set(&res(|r| {
            r.hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
                .page_size("64KB")
                .limit(1i64)
                .build()
                .unwrap()])
        }))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
}

#[test]
fn v2_freezer() {
    let (t, leaf) = v2_tree();
    let m = Manager::with_root(t.path(), None, "c1").unwrap();
    assert_eq!(m.state().unwrap(), FreezerState::Thawed);
    // The kernel would report frozen once every task stopped.
    fs::write(leaf.join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
    m.freeze().unwrap();
    assert_eq!(read(&leaf, "cgroup.freeze"), "1");
    assert_eq!(m.state().unwrap(), FreezerState::Frozen);
    fs::write(leaf.join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
    assert_eq!(m.state().unwrap(), FreezerState::Freezing);
    m.thaw().unwrap();
    assert_eq!(read(&leaf, "cgroup.freeze"), "0");
    assert_eq!(m.state().unwrap(), FreezerState::Thawed);
}

#[test]
fn v2_stats_and_pids() {
    let (t, leaf) = v2_tree();
    let m = Manager::with_root(t.path(), None, "c1").unwrap();
    fs::write(leaf.join("memory.current"), "1048576\n").unwrap();
    fs::write(leaf.join("memory.max"), "2097152\n").unwrap();
    fs::write(
        leaf.join("memory.stat"),
        "anon 100\nfile 4096\ninactive_file 10\n",
    )
    .unwrap();
    fs::write(
        leaf.join("memory.events"),
        "low 0\nhigh 0\nmax 7\noom 2\noom_kill 1\n",
    )
    .unwrap();
    fs::write(
        leaf.join("cpu.stat"),
        "usage_usec 30\nuser_usec 20\nsystem_usec 10\nnr_periods 5\nnr_throttled 2\nthrottled_usec 4\n",
    )
    .unwrap();
    fs::write(leaf.join("pids.current"), "3\n").unwrap();
    fs::write(leaf.join("pids.max"), "max\n").unwrap();
    fs::write(
        leaf.join("io.stat"),
        "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=1 wbytes=2 rios=3 wios=4\n",
    )
    .unwrap();
    let s = m.stats().unwrap();
    assert_eq!(s.memory.usage, 1_048_576);
    assert_eq!(s.memory.limit, Some(2_097_152));
    assert_eq!(s.memory.cache, 4096);
    assert_eq!(s.memory.stat.get("inactive_file"), Some(&10));
    assert_eq!(s.memory.failcnt, 7);
    assert_eq!(s.memory.oom_kills, 1);
    assert_eq!(m.oom_count().unwrap(), 1);
    assert_eq!(s.cpu.usage_total, 30_000);
    assert_eq!(s.cpu.usage_user, 20_000);
    assert_eq!(s.cpu.usage_system, 10_000);
    assert_eq!(s.cpu.throttled_periods, 2);
    assert_eq!(s.cpu.throttled_time, 4000);
    assert_eq!(s.pids.current, 3);
    assert_eq!(s.pids.limit, None);
    assert_eq!(s.blkio.read_bytes, 101);
    assert_eq!(s.blkio.write_bytes, 202);
    assert_eq!(s.blkio.write_ops, 6);

    fs::write(leaf.join("cgroup.procs"), "10\n11\n").unwrap();
    populate(&leaf.join("sub"), &[("cgroup.procs", "12\n")]);
    let mut pids = m.pids().unwrap();
    pids.sort_unstable();
    assert_eq!(pids, vec![10, 11, 12]);
}

#[test]
fn v2_missing_controller_is_unsupported_only_when_asked() {
    let t = tempfile::tempdir().unwrap();
    let files: Vec<(&str, &str)> = V2_FILES
        .iter()
        .map(|&(f, v)| {
            if f == "cgroup.controllers" {
                (f, "cpu memory")
            } else {
                (f, v)
            }
        })
        .collect();
    populate(t.path(), &files);
    populate(&t.path().join("berth/c1"), &files);
    let m = Manager::with_root(t.path(), None, "c1").unwrap();
    m.set(&res(|r| r)).unwrap();
    let e = m
        .set(&res(|r| {
            r.pids(LinuxPidsBuilder::default().limit(5).build().unwrap())
        }))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("pids"), "{e}");
}

/// A fake hybrid host: v1 hierarchies plus a v2 mount that has hugetlb.
fn hybrid_tree() -> tempfile::TempDir {
    let t = tempfile::tempdir().expect("tempdir");
    let v1: &[(&str, &[(&str, &str)])] = &[
        (
            "cpu,cpuacct",
            &[
                ("cgroup.procs", ""),
                ("cpu.shares", "1024"),
                ("cpu.cfs_quota_us", "-1"),
                ("cpu.cfs_period_us", "100000"),
                ("cpuacct.usage", "0"),
            ],
        ),
        (
            "cpuset",
            &[
                ("cgroup.procs", ""),
                ("cpuset.cpus", ""),
                ("cpuset.mems", ""),
            ],
        ),
        (
            "memory",
            &[
                ("cgroup.procs", ""),
                ("memory.limit_in_bytes", "9223372036854771712"),
                ("memory.memsw.limit_in_bytes", "9223372036854771712"),
                ("memory.soft_limit_in_bytes", "9223372036854771712"),
                ("memory.swappiness", "60"),
                (
                    "memory.oom_control",
                    "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
                ),
            ],
        ),
        ("pids", &[("cgroup.procs", ""), ("pids.max", "max")]),
        (
            "freezer",
            &[("cgroup.procs", ""), ("freezer.state", "THAWED")],
        ),
        (
            "devices",
            &[
                ("cgroup.procs", ""),
                ("devices.allow", ""),
                ("devices.deny", ""),
            ],
        ),
        ("name=systemd", &[("cgroup.procs", "")]),
    ];
    for (name, files) in v1 {
        for sub in ["", "berth", "berth/c1"] {
            populate(&t.path().join(name).join(sub), files);
        }
    }
    let v2: &[(&str, &str)] = &[
        ("cgroup.controllers", "hugetlb"),
        ("cgroup.subtree_control", ""),
        ("cgroup.procs", ""),
        ("hugetlb.2MB.max", "max"),
    ];
    for dir in ["unified", "unified/berth", "unified/berth/c1"] {
        populate(&t.path().join(dir), v2);
    }
    t
}

#[test]
fn hybrid_drives_each_controller_where_it_lives() {
    let t = hybrid_tree();
    let root = t.path();
    let m = Manager::with_root(root, None, "c1").unwrap();
    assert_eq!(m.hierarchy(), Hierarchy::Hybrid);
    assert_eq!(
        m.path("cpuacct"),
        Some(root.join("cpu,cpuacct/berth/c1").as_path())
    );
    assert_eq!(
        m.path("hugetlb"),
        Some(root.join("unified/berth/c1").as_path())
    );
    assert_eq!(m.paths().count(), 8);
    // Existing directories: create neither fails nor rewrites cpusets.
    m.create().unwrap();
    assert_eq!(read(&root.join("unified"), "cgroup.subtree_control"), "");
    m.apply(77).unwrap();
    for p in m.paths() {
        assert_eq!(read(p, "cgroup.procs"), "77");
    }
    m.set(&res(|r| {
        r.memory(
            LinuxMemoryBuilder::default()
                .limit(1000i64)
                .swap(2000i64)
                .swappiness(0u64)
                .disable_oom_killer(true)
                .build()
                .unwrap(),
        )
        .cpu(LinuxCpuBuilder::default().shares(512u64).build().unwrap())
        .hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
            .page_size("2MB")
            .limit(2_097_152i64)
            .build()
            .unwrap()])
    }))
    .unwrap();
    let mem = root.join("memory/berth/c1");
    assert_eq!(read(&mem, "memory.limit_in_bytes"), "1000");
    assert_eq!(read(&mem, "memory.memsw.limit_in_bytes"), "2000");
    assert_eq!(read(&mem, "memory.swappiness"), "0");
    assert_eq!(read(&mem, "memory.oom_control"), "1");
    assert_eq!(
        read(&root.join("cpu,cpuacct/berth/c1"), "cpu.shares"),
        "512"
    );
    // hugetlb is in v2 here: enabled on demand down the tree, then written.
    assert_eq!(
        read(&root.join("unified"), "cgroup.subtree_control"),
        "+hugetlb"
    );
    assert_eq!(
        read(&root.join("unified/berth"), "cgroup.subtree_control"),
        "+hugetlb"
    );
    assert_eq!(
        read(&root.join("unified/berth/c1"), "hugetlb.2MB.max"),
        "2097152"
    );
    // Unified keys for a controller that is on v1 here cannot be honoured.
    let e = m
        .set(&res(|r| r.unified(kv("memory.high", "1"))))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    // The v1 freezer wins over cgroup.freeze.
    assert_eq!(m.state().unwrap(), FreezerState::Thawed);
}

#[test]
fn v1_oom_count_reads_memory_oom_control() {
    let t = hybrid_tree();
    let m = Manager::with_root(t.path(), None, "c1").unwrap();
    assert_eq!(m.oom_count().unwrap(), 0);
    fs::write(
        t.path().join("memory/berth/c1/memory.oom_control"),
        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
    )
    .unwrap();
    assert_eq!(m.oom_count().unwrap(), 2);
    assert_eq!(m.stats().unwrap().memory.oom_kills, 2);
    // Kernels before 4.13 have no oom_kill line: no kill seen.
    fs::write(
        t.path().join("memory/berth/c1/memory.oom_control"),
        "oom_kill_disable 0\nunder_oom 0\n",
    )
    .unwrap();
    assert_eq!(m.oom_count().unwrap(), 0);
}

#[test]
fn create_rolls_back_when_it_fails() {
    let t = tempfile::tempdir().unwrap();
    let files: &[(&str, &str)] = &[
        ("cgroup.procs", ""),
        ("cpuset.cpus", "0-3"),
        ("cpuset.mems", "0"),
    ];
    populate(&t.path().join("cpuset"), files);
    // A plain directory made by create lacks the cpuset files the kernel
    // would add, so initialising the new cpuset fails: the error names the
    // file, and what create made is removed again.
    let m = Manager::with_root(t.path(), Some("/a/b"), "x").unwrap();
    assert_eq!(m.hierarchy(), Hierarchy::Legacy);
    let e = m.create().unwrap_err();
    assert!(e.to_string().contains("a/cpuset.cpus"), "{e}");
    assert!(!t.path().join("cpuset/a").exists());
}

#[test]
fn paths_follow_runc() {
    let (t, leaf) = v2_tree();
    let m = Manager::with_root(t.path(), Some("/berth/c1"), "ignored").unwrap();
    assert_eq!(m.path(""), Some(leaf.as_path()));
    // Relative paths start at our own cgroup: the root in a fake tree.
    let m = Manager::with_root(t.path(), Some("berth/c1"), "ignored").unwrap();
    assert_eq!(m.path(""), Some(leaf.as_path()));
    for bad in ["/", "/a/../../etc", "a/.."] {
        let e = Manager::with_root(t.path(), Some(bad), "x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Invalid, "{bad}");
    }
    assert!(Manager::with_root(t.path(), None, "a/b").is_err());
}

#[test]
fn v2_kill_all_uses_cgroup_kill() {
    let (t, leaf) = v2_tree();
    fs::write(leaf.join("cgroup.kill"), "").unwrap();
    let m = Manager::with_root(t.path(), None, "c1").unwrap();
    m.kill_all(nix::sys::signal::Signal::SIGKILL).unwrap();
    assert_eq!(read(&leaf, "cgroup.kill"), "1");
}

#[test]
fn rdma_limits() {
    let (t, leaf) = v2_tree();
    fs::write(leaf.join("rdma.max"), "").unwrap();
    let m = Manager::with_root(t.path(), None, "c1").unwrap();
    let limit = LinuxRdmaBuilder::default()
        .hca_handles(10u32)
        .hca_objects(100u32)
        .build()
        .unwrap();
    m.set(&res(|r| {
        r.rdma(
            [("mlx5_0".to_string(), limit)]
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        )
    }))
    .unwrap();
    assert_eq!(
        read(&leaf, "rdma.max"),
        "mlx5_0 hca_handle=10 hca_object=100"
    );
}

#[test]
fn v1_network_blkio_and_device_rules() {
    let t = tempfile::tempdir().unwrap();
    let dirs: &[(&str, &[(&str, &str)])] = &[
        (
            "net_cls,net_prio",
            &[("net_cls.classid", "0"), ("net_prio.ifpriomap", "")],
        ),
        (
            "blkio",
            // No CFQ: only BFQ's weight files, as on this VM.
            &[
                ("blkio.bfq.weight", "100"),
                ("blkio.throttle.write_iops_device", ""),
            ],
        ),
        ("devices", &[("devices.allow", ""), ("devices.deny", "")]),
    ];
    for (name, files) in dirs {
        populate(&t.path().join(name).join("berth/c1"), files);
    }
    let m = Manager::with_root(t.path(), None, "c1").unwrap();
    assert_eq!(m.hierarchy(), Hierarchy::Legacy);
    m.set(&res(|r| {
        r.network(
            LinuxNetworkBuilder::default()
                .class_id(0x100001u32)
                .priorities(vec![LinuxInterfacePriorityBuilder::default()
                    .name("eth0")
                    .priority(5u32)
                    .build()
                    .unwrap()])
                .build()
                .unwrap(),
        )
        .block_io(
            LinuxBlockIoBuilder::default()
                .weight(300u16)
                .throttle_write_iops_device(vec![LinuxThrottleDeviceBuilder::default()
                    .major(254)
                    .minor(0)
                    .rate(50u64)
                    .build()
                    .unwrap()])
                .build()
                .unwrap(),
        )
        .devices(vec![LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .major(5)
            .access("rw")
            .build()
            .unwrap()])
    }))
    .unwrap();
    let dir = |n: &str| t.path().join(n).join("berth/c1");
    assert_eq!(read(&dir("net_cls,net_prio"), "net_cls.classid"), "1048577");
    assert_eq!(
        read(&dir("net_cls,net_prio"), "net_prio.ifpriomap"),
        "eth0 5"
    );
    assert_eq!(read(&dir("blkio"), "blkio.bfq.weight"), "300");
    assert_eq!(
        read(&dir("blkio"), "blkio.throttle.write_iops_device"),
        "254:0 50"
    );
    assert_eq!(read(&dir("devices"), "devices.allow"), "c 5:* rw");
    // Leaf weights need CFQ, which this kernel lacks: a clear error.
    let e = m
        .set(&res(|r| {
            r.block_io(
                LinuxBlockIoBuilder::default()
                    .leaf_weight(10u16)
                    .build()
                    .unwrap(),
            )
        }))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("blkio.leaf_weight"), "{e}");
    // dockerd sends weight 0 and leaf weight 0 for "not set": nothing is
    // written and nothing is refused.
    m.set(&res(|r| {
        r.block_io(
            LinuxBlockIoBuilder::default()
                .weight(0u16)
                .leaf_weight(0u16)
                .build()
                .unwrap(),
        )
    }))
    .unwrap();
    assert_eq!(read(&dir("blkio"), "blkio.bfq.weight"), "300");
    // No hugetlb hierarchy at all.
    let e = m
        .set(&res(|r| {
            r.hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
                .page_size("2MB")
                .limit(1i64)
                .build()
                .unwrap()])
        }))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("hugetlb"), "{e}");
}
