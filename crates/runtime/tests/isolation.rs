//! The isolation a container gets, checked from inside a real busybox
//! container on the real kernel.

mod common;

use common::{ready, stderr, stdout, Bundle};
use serde_json::json;

#[test]
fn init_is_pid_1_and_sees_no_host_process() {
    if !ready() {
        return;
    }
    let mut b = Bundle::new();
    let o = b.sh("pid", "echo $$; ls /proc | grep -c '^[0-9]'");
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("1"), "{out}");
    // sh, ls and grep at most.
    let n: u32 = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("count");
    assert!(n <= 3, "the container sees {n} processes: {out}");
}

#[test]
fn container_has_its_own_hostname() {
    if !ready() {
        return;
    }
    let mut b = Bundle::new();
    let name = format!("berth-{}", std::process::id());
    b.config["hostname"] = json!(name);
    let o = b.sh("uts", "hostname");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), name);
}

#[test]
fn no_host_network_links() {
    if !ready() {
        return;
    }
    let mut b = Bundle::new();
    let o = b.sh("net", "ls /sys/class/net");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).split_whitespace().collect::<Vec<_>>(), ["lo"]);
}

#[test]
fn memory_limit_oom_kills_a_greedy_process() {
    if !ready() {
        return;
    }
    let mut b = Bundle::new();
    b.config["linux"]["resources"]["memory"] = json!({ "limit": 32 * 1024 * 1024 });
    // dd allocates its 64 MiB block at once.
    let o = b.sh(
        "oom",
        "dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo rc=$?",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "rc=137", "{}", stderr(&o));
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    if !ready() {
        return;
    }
    let mut b = Bundle::new();
    b.config["linux"]["resources"]["pids"] = json!({ "limit": 10 });
    let o = b.sh(
        "pids",
        "i=0; while [ $i -lt 40 ]; do sleep 5 & i=$((i+1)); done; echo done",
    );
    assert!(
        stderr(&o).contains("can't fork"),
        "forks were not refused: {}",
        stderr(&o)
    );
}

#[test]
fn seccomp_rule_returns_eperm() {
    if !ready() {
        return;
    }
    let mut b = Bundle::new();
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1 }]
    });
    let o = b.sh("seccomp", "mkdir /tmp/x; echo rc=$?");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "rc=1");
    assert!(
        stderr(&o).contains("Operation not permitted"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn dropped_capabilities_deny_chown_and_mknod() {
    if !ready() {
        return;
    }
    let mut b = Bundle::new();
    // The default spec keeps only AUDIT_WRITE, KILL and NET_BIND_SERVICE.
    let o = b.sh(
        "caps",
        "chown 1 /tmp; echo chown=$?; mknod /tmp/n c 1 3; echo mknod=$?",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "chown=1\nmknod=1", "{}", stderr(&o));
    // With CAP_CHOWN the same chown works.
    for set in ["bounding", "effective", "permitted"] {
        b.config["process"]["capabilities"][set] = json!(["CAP_CHOWN"]);
    }
    let o = b.sh("caps2", "chown 1 /tmp; echo chown=$?");
    assert_eq!(stdout(&o).trim(), "chown=0", "{}", stderr(&o));
}

#[test]
fn masked_paths_are_masked() {
    if !ready() {
        return;
    }
    let mut b = Bundle::new();
    b.config["linux"]["maskedPaths"] = json!(["/proc/version", "/sys/kernel", "/proc/nope"]);
    let o = b.sh("mask", "wc -c < /proc/version; ls -A /sys/kernel | wc -l");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).split_whitespace().collect::<Vec<_>>(),
        ["0", "0"]
    );
}

#[test]
fn readonly_rootfs_and_paths_refuse_writes() {
    if !ready() {
        return;
    }
    let mut b = Bundle::new();
    b.config["root"]["readonly"] = json!(true);
    b.config["linux"]["readonlyPaths"] = json!(["/proc/sys"]);
    let o = b.sh(
        "ro",
        "touch /x; echo root=$?; echo 1 > /proc/sys/kernel/shmmax; echo sys=$?; touch /dev/shm/ok; echo shm=$?",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "root=1\nsys=1\nshm=0", "{}", stderr(&o));
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn user_namespace_maps_ids_as_configured() {
    let userns = std::process::Command::new("unshare")
        .args(["--user", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !ready() || !berth_base::testenv::require(userns, "needs user namespaces") {
        return;
    }
    let mut b = Bundle::new();
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces")
        .push(json!({ "type": "user" }));
    b.config["linux"]["uidMappings"] =
        json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    b.config["linux"]["gidMappings"] =
        json!([{ "containerID": 0, "hostID": 200000, "size": 65536 }]);
    let o = b.sh(
        "userns",
        "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(
        words,
        ["0", "0", "0", "100000", "65536", "0", "200000", "65536"],
        "{out}"
    );
}

#[test]
fn time_namespace_offsets_the_boot_clock() {
    let timens = std::path::Path::new("/proc/self/ns/time").exists();
    if !ready() || !berth_base::testenv::require(timens, "needs time namespaces") {
        return;
    }
    let mut b = Bundle::new();
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces")
        .push(json!({ "type": "time" }));
    b.config["linux"]["timeOffsets"] = json!({ "boottime": { "secs": 86_400_000 } });
    let o = b.sh("time", "cut -d. -f1 /proc/uptime");
    assert!(o.status.success(), "{}", stderr(&o));
    let up: u64 = stdout(&o).trim().parse().expect("uptime");
    assert!(up >= 86_400_000, "uptime {up} has no offset");
}
