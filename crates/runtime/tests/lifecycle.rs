//! The lifecycle (create → start → stopped → delete) and bad input: clear
//! errors, non-zero exits and nothing left behind.

mod common;

use common::{ready, stderr, stdout, Bundle};
use serde_json::{json, Value};

/// `run --detach` of the bundle's config as it stands; returns the id.
fn run_detached(b: &mut Bundle, name: &str) -> String {
    b.write_config();
    let id = b.id(name);
    let bundle = b.path();
    let o = b.runtime(&[
        "run",
        "--detach",
        "--bundle",
        bundle.to_str().expect("utf8"),
        &id,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    id
}

fn state(b: &Bundle, id: &str) -> Value {
    let o = b.runtime(&["state", id]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).expect("state json")
}

#[test]
fn create_start_state_delete() {
    if !ready() {
        return;
    }
    let mut b = Bundle::new();
    b.config["process"]["args"] = json!(["/bin/sleep", "30"]);
    b.config["annotations"] = json!({ "org.example.k": "v" });
    b.write_config();
    let id = b.id("life");
    let bundle = b.path();
    let o = b.runtime(&["create", "--bundle", bundle.to_str().expect("utf8"), &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    let st = state(&b, &id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["annotations"]["org.example.k"], "v");
    assert!(st["pid"].as_i64().unwrap_or(0) > 0);
    let o = b.runtime(&["start", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(state(&b, &id)["status"], "running");
    // A second start is refused.
    assert!(!b.runtime(&["start", &id]).status.success());
    let o = b.runtime(&["delete", &id]);
    assert!(
        !o.status.success(),
        "deleting a running container needs --force"
    );
    let o = b.runtime(&["kill", &id, "KILL"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for _ in 0..100 {
        if state(&b, &id)["status"] == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(state(&b, &id)["status"], "stopped");
    let o = b.runtime(&["delete", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read_dir(b.state.path())
        .expect("state root")
        .next()
        .is_none());
    assert!(!std::path::Path::new(&format!("/sys/fs/cgroup/pids/berth/{id}")).exists());
}

#[test]
fn run_returns_the_exit_code() {
    if !ready() {
        return;
    }
    let mut b = Bundle::new();
    let o = b.sh("exit", "exit 7");
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
}

#[test]
fn unknown_id_is_an_error() {
    if !ready() {
        return;
    }
    let b = Bundle::new();
    for args in [
        &["state", "nope"][..],
        &["start", "nope"],
        &["kill", "nope"],
        &["delete", "nope"],
    ] {
        let o = b.runtime(args);
        assert!(!o.status.success());
        assert!(
            stderr(&o).contains("container nope does not exist"),
            "{}",
            stderr(&o)
        );
    }
}

fn create_fails(b: &mut Bundle, name: &str, expect: &str) {
    let id = b.id(name);
    let bundle = b.path();
    let o = b.runtime(&["create", "--bundle", bundle.to_str().expect("utf8"), &id]);
    assert!(!o.status.success(), "create {name} succeeded");
    assert!(stderr(&o).contains(expect), "{name}: {}", stderr(&o));
    assert!(
        !b.state.path().join(&id).exists(),
        "{name}: state left behind"
    );
    assert!(!std::path::Path::new(&format!("/sys/fs/cgroup/pids/berth/{id}")).exists());
}

#[test]
fn bad_input_is_refused_and_leaves_nothing() {
    if !ready() {
        return;
    }
    let mut b = Bundle::new();
    std::fs::write(b.dir.path().join("config.json"), "{ not json").expect("write");
    create_fails(&mut b, "json", "invalid configuration");

    let good = b.config.clone();
    b.config["root"]["path"] = json!("missing-rootfs");
    b.write_config();
    create_fails(&mut b, "rootfs", "missing-rootfs");

    b.config = good.clone();
    b.config["process"]["args"] = json!(["/bin/does-not-exist"]);
    b.write_config();
    create_fails(&mut b, "exe", "does-not-exist");

    b.config = good.clone();
    b.config["linux"]["namespaces"] = json!([{ "type": "pid" }, { "type": "pid" }]);
    b.write_config();
    create_fails(&mut b, "dupns", "listed twice");

    b.config = good.clone();
    b.config["linux"]["uidMappings"] = json!([{ "containerID": 0, "hostID": 1000, "size": 1 }]);
    b.write_config();
    create_fails(&mut b, "maps", "user namespace");

    b.config = good.clone();
    b.config["process"]["capabilities"]["bounding"] = json!(["CAP_TEST"]);
    b.write_config();
    create_fails(&mut b, "cap", "invalid configuration");

    create_fails(&mut b, "bad/id", "invalid container id");
}

#[test]
fn second_create_with_the_same_id_fails() {
    if !ready() {
        return;
    }
    let mut b = Bundle::new();
    b.config["process"]["args"] = json!(["/bin/sleep", "30"]);
    b.write_config();
    let id = b.id("dup");
    let bundle = b.path();
    let bundle = bundle.to_str().expect("utf8");
    let o = b.runtime(&["create", "--bundle", bundle, &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = b.runtime(&["create", "--bundle", bundle, &id]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    // The first one is untouched.
    assert_eq!(state(&b, &id)["status"], "created");
    let o = b.runtime(&["delete", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn exec_runs_in_the_container() {
    if !ready() {
        return;
    }
    let mut b = Bundle::new();
    b.config["process"]["args"] = json!(["/bin/sleep", "30"]);
    b.config["hostname"] = json!("exec-host");
    let id = run_detached(&mut b, "exec");
    let o = b.runtime(&["exec", &id, "/bin/sh", "-c", "hostname; echo $$; exit 3"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "exec-host");
    assert_ne!(lines[1], "1");
    let o = b.runtime(&["ps", "--format", "json", &id]);
    let pids: Vec<i32> = serde_json::from_slice(&o.stdout).expect("ps json");
    assert_eq!(pids.len(), 1, "{pids:?}");
    let res = b.dir.path().join("resources.json");
    std::fs::write(&res, r#"{"pids":{"limit":77}}"#).expect("write resources");
    let o = b.runtime(&["update", "--resources", res.to_str().expect("utf8"), &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = b.runtime(&["exec", &id, "/bin/cat", "/sys/fs/cgroup/pids/pids.max"]);
    assert_eq!(stdout(&o).trim(), "77", "{}", stderr(&o));
    let o = b.runtime(&["pause", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(state(&b, &id)["status"], "paused");
    let o = b.runtime(&["resume", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(state(&b, &id)["status"], "running");
    let o = b.runtime(&["delete", "--force", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Every line of /proc/<pid>/cgroup names the container's cgroup.
fn assert_in_cgroup(pid: &str, id: &str) {
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read cgroup");
    let want = format!("/berth/{id}");
    for line in own.lines() {
        assert!(line.ends_with(&want), "pid {pid} is not in {want}: {own}");
    }
}

#[test]
fn init_and_exec_join_every_cgroup_hierarchy() {
    if !ready() {
        return;
    }
    // The init moves itself into the v1 hierarchies (a `tasks` file) and is
    // cloned straight into the v2 one: both must leave no hierarchy out.
    let mut b = Bundle::new();
    b.config["process"]["args"] = json!(["/bin/sleep", "30"]);
    // Without a cgroup namespace, the exec'd process sees the same paths as
    // the host does.
    let ns = b.config["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces");
    ns.retain(|n| n["type"] != "cgroup");
    let id = run_detached(&mut b, "cgjoin");
    let pid = state(&b, &id)["pid"].to_string();
    assert_in_cgroup(&pid, &id);
    let o = b.runtime(&["exec", &id, "/bin/cat", "/proc/self/cgroup"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let init = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read cgroup");
    assert_eq!(stdout(&o), init, "exec'd process and init differ");
    let o = b.runtime(&["delete", "--force", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn hooks_get_the_state_at_each_stage() {
    if !ready() {
        return;
    }
    let mut b = Bundle::new();
    let out = b.dir.path().join("hooks.log");
    let hook = |name: &str| {
        json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("read s; echo \"{name} $s\" >> {}", out.display())],
            "timeout": 10
        })
    };
    b.config["hooks"] = json!({
        "prestart": [hook("prestart")],
        "createRuntime": [hook("createRuntime")],
        "poststart": [hook("poststart")],
        "poststop": [hook("poststop")],
    });
    let o = b.sh("hooks", "true");
    assert!(o.status.success(), "{}", stderr(&o));
    let log = std::fs::read_to_string(&out).expect("hooks ran");
    let stages: Vec<(&str, Value)> = log
        .lines()
        .map(|l| {
            let (name, st) = l.split_once(' ').expect("name and state");
            (name, serde_json::from_str(st).expect("state json"))
        })
        .collect();
    let names: Vec<&str> = stages.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        ["prestart", "createRuntime", "poststart", "poststop"]
    );
    assert_eq!(stages[0].1["status"], "created");
    assert!(stages[0].1["pid"].as_i64().unwrap_or(0) > 0);
    assert_eq!(stages[2].1["status"], "running");
    assert_eq!(stages[3].1["status"], "stopped");
}

#[test]
fn failing_prestart_hook_fails_create_and_leaves_nothing() {
    if !ready() {
        return;
    }
    let mut b = Bundle::new();
    b.config["hooks"] = json!({ "prestart": [{ "path": "/bin/false" }] });
    b.write_config();
    create_fails(&mut b, "hookfail", "prestart hook /bin/false");
}

#[test]
fn run_reports_a_failure_after_the_start_and_leaves_nothing() {
    if !ready() {
        return;
    }
    // `run` starts the init over its channel, and still listens while the
    // init runs its startContainer hooks.
    let mut b = Bundle::new();
    b.config["hooks"] = json!({ "startContainer": [{ "path": "/bin/false" }] });
    let o = b.sh("startfail", "echo never");
    assert!(!o.status.success());
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("startContainer hook /bin/false"),
        "{}",
        stderr(&o)
    );
    assert!(std::fs::read_dir(b.state.path())
        .expect("state root")
        .next()
        .is_none());
    let id = format!("t{}-startfail", std::process::id());
    assert!(!std::path::Path::new(&format!("/sys/fs/cgroup/pids/berth/{id}")).exists());
}

#[test]
fn terminal_goes_to_the_console_socket() {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    if !ready() {
        return;
    }
    let mut b = Bundle::new();
    b.config["process"]["terminal"] = json!(true);
    b.config["process"]["args"] = json!(["/bin/sh", "-c", "tty; echo hello-tty"]);
    b.write_config();
    let sock = b.dir.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
    let id = b.id("tty");
    let bundle = b.path();
    let runtime = std::thread::spawn({
        let args = [
            "run".to_string(),
            "--bundle".into(),
            bundle.to_str().expect("utf8").into(),
            "--console-socket".into(),
            sock.to_str().expect("utf8").into(),
            "--detach".into(),
            id.clone(),
        ];
        let state = b.state.path().to_path_buf();
        move || {
            std::process::Command::new(common::bin())
                .arg("--root")
                .arg(state)
                .args(args)
                .status()
                .expect("run")
        }
    });
    let (conn, _) = listener.accept().expect("accept");
    let mut buf = [0u8; 64];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let msg = nix::sys::socket::recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        nix::sys::socket::MsgFlags::empty(),
    )
    .expect("recvmsg");
    let mut master = None;
    for c in msg.cmsgs().expect("cmsgs") {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
            master = fds
                .first()
                .map(|fd| std::fs::File::from(berth_sys::process::own_received_fd(*fd)));
        }
    }
    assert!(runtime.join().expect("join").success());
    let mut master = master.expect("a pty master was sent");
    let mut out = Vec::new();
    let mut chunk = [0u8; 256];
    // The pty reports EIO once the container's side is closed.
    while let Ok(n) = master.read(&mut chunk) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("/dev/pts/0"), "{text}");
    assert!(text.contains("hello-tty"), "{text}");
}

#[test]
fn run_forwards_signals_to_the_container() {
    if !ready() {
        return;
    }
    let mut b = Bundle::new();
    b.config["process"]["args"] = json!([
        "/bin/sh",
        "-c",
        "trap 'exit 3' TERM; echo ready; while :; do sleep 0.1; done"
    ]);
    b.write_config();
    let id = b.id("sig");
    let out = b.dir.path().join("sig.out");
    let mut child = std::process::Command::new(common::bin())
        .arg("--root")
        .arg(b.state.path())
        .args(["run", "--bundle", b.path().to_str().expect("utf8"), &id])
        .stdout(std::fs::File::create(&out).expect("create"))
        .spawn()
        .expect("spawn run");
    for _ in 0..200 {
        if std::fs::read_to_string(&out).is_ok_and(|s| s.contains("ready")) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("signal run");
    let status = child.wait().expect("wait run");
    assert_eq!(status.code(), Some(3));
    assert!(
        !b.state.path().join(&id).exists(),
        "run deletes the container"
    );
}
