//! The container service against the real kernel: a busybox image
//! imported through the image service, containers run by berth-shim (with
//! the linked runtime), logs, exec, stop, bad input, and recovery after the
//! engine's process died.
#![allow(clippy::unwrap_used)]

mod common;

use berth_base::testenv::{is_root, require};
use berth_engine::container::{frame, Containers, ListOptions, LogOptions, Options, WaitCondition};
use berth_engine::{Config, Engine};
use common::{import_busybox, shim_binary, Cleanup};
use serde_json::json;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BUSYBOX: &str = "/usr/bin/busybox";

fn prerequisites() -> bool {
    require(is_root(), "needs root")
        && require(Path::new(BUSYBOX).exists(), "needs busybox-static")
        && require(
            shim_binary().is_some(),
            "needs berth-shim built (cargo build -p berth-shim)",
        )
}

/// A tar of a busybox root filesystem.
fn busybox_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let dir = |b: &mut tar::Builder<Vec<u8>>, name: &str| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        b.append_data(&mut h, name, std::io::empty()).unwrap();
    };
    for d in ["bin", "etc", "tmp", "proc", "sys", "dev"] {
        dir(&mut b, d);
    }
    let data = std::fs::read(BUSYBOX).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(data.len() as u64);
    b.append_data(&mut h, "bin/busybox", data.as_slice())
        .unwrap();
    for app in [
        "sh", "echo", "cat", "sleep", "true", "false", "id", "env", "pwd", "ls", "trap",
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, format!("bin/{app}"), "busybox")
            .unwrap();
    }
    for (name, body) in [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        ),
        ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(body.len() as u64);
        b.append_data(&mut h, name, body.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

/// A test's temporary root; what the test left running is killed (before
/// the directory goes) on drop.
struct Env {
    _cleanup: Cleanup,
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("bct-{}-", std::process::id()))
            .tempdir_in("/tmp")
            .unwrap();
        Self {
            _cleanup: Cleanup(dir.path().to_owned()),
            dir,
        }
    }

    /// A fresh root with busybox imported, its engine and container
    /// service; `None` (the test skips) without the prerequisites.
    fn ready() -> Option<(Self, Engine, Containers)> {
        if !prerequisites() {
            return None;
        }
        let env = Self::new();
        let (engine, c) = env.open();
        import_busybox(&engine, &busybox_tar());
        Some((env, engine, c))
    }

    /// Waits (5 s at most) for an engine dropped just before on the same
    /// root to let go of its store: its monitor threads end a moment after
    /// the exits they report.
    fn open_at(root: &Path) -> (Engine, Containers) {
        let t0 = Instant::now();
        let engine = loop {
            match Engine::open(Config {
                data_root: root.join("data"),
                exec_root: root.join("exec"),
            }) {
                Ok(e) => break e,
                Err(e) if t0.elapsed() < Duration::from_secs(5) => {
                    eprintln!("open again: {e}");
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("open the engine: {e}"),
            }
        };
        let c = Containers::open(
            &engine,
            Options {
                shim: shim_binary().unwrap(),
                runtime: None,
            },
        )
        .unwrap();
        (engine, c)
    }

    fn open(&self) -> (Engine, Containers) {
        Self::open_at(self.dir.path())
    }
}

fn logs(c: &Containers, id: &str) -> String {
    let mut out = String::new();
    c.logs(
        id,
        &LogOptions {
            stdout: true,
            stderr: true,
            ..LogOptions::default()
        },
        &mut |l| {
            out.push_str(&String::from_utf8_lossy(&l.text));
            true
        },
    )
    .unwrap();
    out
}

#[test]
fn run_logs_inspect_list_remove() {
    let Some((_env, _engine, c)) = Env::ready() else {
        return;
    };
    let created = c
        .create(
            Some("hello"),
            &json!({"Image": "busybox", "Cmd": ["sh", "-c", "echo hello; echo oops >&2; exit 3"], "Env": ["A=1"]}),
        )
        .unwrap();
    let id = created.id;
    assert_eq!(id.len(), 64);
    let w = c.wait_for(&id, WaitCondition::NextExit).unwrap();
    c.start("hello").unwrap();
    let r = w.wait();
    assert_eq!(r.status_code, 3);
    assert_eq!(logs(&c, &id), "hello\noops\n");
    let i = c.inspect(&id[..12]).unwrap();
    assert_eq!(i["State"]["Status"], "exited");
    assert_eq!(i["State"]["ExitCode"], 3);
    assert_eq!(i["Name"], "/hello");
    assert_eq!(i["Config"]["Env"], json!(["A=1"]));
    assert!(
        i["HostConfig"].is_object() && i["NetworkSettings"].is_object() && i["Mounts"].is_array()
    );
    assert!(c.list(&ListOptions::default()).unwrap().is_empty());
    let all = c
        .list(&ListOptions {
            all: true,
            ..ListOptions::default()
        })
        .unwrap();
    assert_eq!(all.len(), 1);
    assert!(all[0]["Status"].as_str().unwrap().starts_with("Exited (3)"));
    // The name is taken until removal.
    let clash = c
        .create(Some("hello"), &json!({"Image": "busybox"}))
        .unwrap_err();
    assert_eq!(clash.kind(), berth_base::ErrorKind::Conflict);
    c.remove("hello", false, false).unwrap();
    assert_eq!(
        c.inspect(&id).unwrap_err().kind(),
        berth_base::ErrorKind::NotFound
    );
    c.create(Some("hello"), &json!({"Image": "busybox"}))
        .unwrap();
}

#[test]
fn exec_stop_and_bad_input() {
    let Some((_env, _engine, c)) = Env::ready() else {
        return;
    };
    assert_eq!(
        c.create(None, &json!({"Image": "nosuchimage"}))
            .unwrap_err()
            .kind(),
        berth_base::ErrorKind::NotFound
    );
    let bad = c
        .create(
            None,
            &json!({"Image": "busybox", "Cmd": ["/no/such/binary"]}),
        )
        .unwrap();
    let err = c.start(&bad.id).unwrap_err();
    assert_eq!(err.kind(), berth_base::ErrorKind::Invalid, "{err}");
    assert_eq!(c.inspect(&bad.id).unwrap()["State"]["Status"], "created");

    let id = c
        .create(
            Some("sleeper"),
            &json!({"Image": "busybox", "Cmd": ["sleep", "1000"]}),
        )
        .unwrap()
        .id;
    c.start(&id).unwrap();
    assert_eq!(
        c.start(&id).unwrap_err().kind(),
        berth_base::ErrorKind::NotModified
    );
    let x = c
        .exec_create(&id, &json!({"Cmd": ["sh", "-c", "echo in-exec; id -u; exit 4"], "AttachStdout": true, "AttachStderr": true}))
        .unwrap();
    let s = c.exec_start(&x, false).unwrap().unwrap();
    let mut sock = s.sock;
    let mut raw = s.pending;
    sock.read_to_end(&mut raw).unwrap();
    let mut out = Vec::new();
    let mut rest = raw.as_slice();
    while rest.len() >= 8 {
        let (kind, len) = frame::parse_header(rest[..8].try_into().unwrap());
        assert_eq!(kind, frame::STDOUT);
        out.extend_from_slice(&rest[8..8 + len]);
        rest = &rest[8 + len..];
    }
    assert_eq!(out, b"in-exec\n0\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let i = c.exec_inspect(&x).unwrap();
        if !i.running {
            assert_eq!(i.exit_code, Some(4));
            break;
        }
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    // sleep as pid 1 ignores SIGTERM: stop escalates to SIGKILL.
    c.stop(&id, None, Some(1)).unwrap();
    let i = c.inspect(&id).unwrap();
    assert_eq!(
        (
            i["State"]["Status"].as_str(),
            i["State"]["ExitCode"].as_i64()
        ),
        (Some("exited"), Some(137))
    );
    let e = c.exec_create(&id, &json!({"Cmd": ["true"]})).unwrap_err();
    assert_eq!(e.kind(), berth_base::ErrorKind::Conflict);
    assert_eq!(
        c.stop(&id, None, None).unwrap_err().kind(),
        berth_base::ErrorKind::NotModified
    );
    // A running container is not removed without force.
    c.start(&id).unwrap();
    assert_eq!(
        c.remove(&id, false, false).unwrap_err().kind(),
        berth_base::ErrorKind::Conflict
    );
    c.remove(&id, true, false).unwrap();
}

#[test]
fn restart_policy_and_attach() {
    let Some((_env, _engine, c)) = Env::ready() else {
        return;
    };
    let id = c
        .create(
            None,
            &json!({"Image": "busybox", "Cmd": ["sh", "-c", "echo try; exit 2"], "HostConfig": {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}}}),
        )
        .unwrap()
        .id;
    c.start(&id).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let i = c.inspect(&id).unwrap();
        if i["State"]["Status"] == "exited" && i["RestartCount"] == 2 {
            assert_eq!(i["State"]["ExitCode"], 2);
            break;
        }
        assert!(Instant::now() < deadline, "{i}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(logs(&c, &id), "try\ntry\ntry\n");

    // Attach with stdin: cat echoes back, stdin EOF ends it.
    let id = c
        .create(
            None,
            &json!({"Image": "busybox", "Cmd": ["cat"], "OpenStdin": true, "StdinOnce": true}),
        )
        .unwrap()
        .id;
    let w = c.wait_for(&id, WaitCondition::NextExit).unwrap();
    c.start(&id).unwrap();
    let s = c.attach(&id, true, true, true).unwrap().wait().unwrap();
    let mut sock = s.sock;
    sock.write_all(&frame::header(frame::STDIN, 5)).unwrap();
    sock.write_all(b"ping\n").unwrap();
    sock.shutdown(std::net::Shutdown::Write).unwrap();
    let mut raw = s.pending;
    sock.read_to_end(&mut raw).unwrap();
    assert_eq!(&raw[8..], b"ping\n");
    assert_eq!(w.wait().status_code, 0);
}

#[test]
fn attach_before_start_sees_all_output() {
    let Some((_env, _engine, c)) = Env::ready() else {
        return;
    };
    let id = c
        .create(
            None,
            &json!({"Image": "busybox", "Cmd": ["echo", "first words"]}),
        )
        .unwrap()
        .id;
    // As `docker run`: attach, wait, then start.
    let h = c.attach(&id, false, true, true).unwrap();
    let w = c.wait_for(&id, WaitCondition::NextExit).unwrap();
    c.start(&id).unwrap();
    let s = h.wait().unwrap();
    let mut sock = s.sock;
    let mut raw = s.pending;
    sock.read_to_end(&mut raw).unwrap();
    assert_eq!(&raw[8..], b"first words\n");
    assert_eq!(w.wait().status_code, 0);
}

/// Phase one of `containers_survive_the_engine`, run in a child process
/// that exits without any cleanup, like a daemon killed with SIGKILL.
#[test]
fn recovery_phase_one() {
    let Ok(root) = std::env::var("BERTH_TEST_RECOVERY_ROOT") else {
        return;
    };
    let root = PathBuf::from(root);
    let (engine, c) = Env::open_at(&root);
    import_busybox(&engine, &busybox_tar());
    for name in ["alive", "doomed"] {
        c.create(Some(name), &json!({"Image": "busybox", "Cmd": ["sh", "-c", "while true; do echo tick; sleep 0.1; done"]}))
            .unwrap();
        c.start(name).unwrap();
    }
    std::process::exit(0);
}

#[test]
fn containers_survive_the_engine() {
    if !prerequisites() {
        return;
    }
    let env = Env::new();
    let st = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "recovery_phase_one", "--nocapture"])
        .env("BERTH_TEST_RECOVERY_ROOT", env.dir.path())
        .status()
        .unwrap();
    assert!(st.success());
    // While no engine runs: one container is killed from outside.
    let records = env.dir.path().join("data/containers");
    let doomed: serde_json::Value = std::fs::read_dir(&records)
        .unwrap()
        .flatten()
        .map(|e| {
            serde_json::from_slice::<serde_json::Value>(
                &std::fs::read(e.path().join("container.json")).unwrap(),
            )
            .unwrap()
        })
        .find(|r| r["name"] == "doomed")
        .unwrap();
    let pid = doomed["state"]["pid"].as_i64().unwrap();
    assert!(pid > 0);
    Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    let exit_file = records
        .join(doomed["id"].as_str().unwrap())
        .join("exit.json");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !exit_file.exists() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    let (_engine, c) = env.open();
    // Its shim may still be on its way out: the engine then hears the exit
    // from it rather than from the file.
    let d = inspect_until(&c, "doomed", |i| i["State"]["Status"] != "running");
    assert_eq!(
        (
            d["State"]["Status"].as_str(),
            d["State"]["ExitCode"].as_i64()
        ),
        (Some("exited"), Some(137))
    );
    let a = c.inspect("alive").unwrap();
    assert_eq!(a["State"]["Status"], "running");
    // Its log keeps growing (a tick each 0.1 s), and the engine still
    // controls it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while logs(&c, "alive").lines().count() < 2 {
        assert!(
            Instant::now() < deadline,
            "no ticks: {:?}",
            logs(&c, "alive")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    c.kill("alive", None).unwrap();
    let a = c.inspect("alive").unwrap();
    assert_eq!(
        (
            a["State"]["Status"].as_str(),
            a["State"]["ExitCode"].as_i64()
        ),
        (Some("exited"), Some(137))
    );
}

/// A removal is committed by renaming the container's directory; a crash
/// right after (simulated: the rename done with no engine running) leaves
/// the rest to the next start, which must finish it. So too for a create
/// or a start that a crash cut short.
#[test]
fn work_cut_short_by_a_crash_is_finished_at_the_next_start() {
    let Some((env, engine, c)) = Env::ready() else {
        return;
    };
    let id = c
        .create(Some("cut"), &json!({"Image": "busybox", "Cmd": ["true"]}))
        .unwrap()
        .id;
    let w = c.wait_for(&id, WaitCondition::NextExit).unwrap();
    c.start(&id).unwrap();
    assert_eq!(w.wait().status_code, 0);
    drop((c, engine));
    let data = env.dir.path().join("data");
    let upper = data.join("snapshots/overlay/rw").join(&id);
    assert!(upper.is_dir());
    let tomb = data.join("containers").join(format!(".removed-{id}"));
    std::fs::rename(data.join("containers").join(&id), &tomb).unwrap();

    let (_engine, c) = env.open();
    assert_eq!(
        c.inspect(&id).unwrap_err().kind(),
        berth_base::ErrorKind::NotFound
    );
    assert!(!tomb.exists() && !upper.exists());
    // The name is free again, and a plain removal leaves nothing either.
    let again = c
        .create(Some("cut"), &json!({"Image": "busybox"}))
        .unwrap()
        .id;
    c.remove("cut", false, false).unwrap();
    let left: Vec<_> = std::fs::read_dir(data.join("containers"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(!data.join("snapshots/overlay/rw").join(again).exists());

    // A create cut short (its record, written last, missing) and a start
    // cut short (a shim directory, the record still "created") of an
    // `--rm` container: the next start removes both.
    let half = c.create(None, &json!({"Image": "busybox"})).unwrap().id;
    let starting = c
        .create(
            None,
            &json!({"Image": "busybox", "HostConfig": {"AutoRemove": true}}),
        )
        .unwrap()
        .id;
    drop((c, _engine));
    std::fs::remove_file(data.join("containers").join(&half).join("container.json")).unwrap();
    std::fs::create_dir_all(env.dir.path().join("exec/shims").join(&starting)).unwrap();
    let (_engine, c) = env.open();
    for id in [&half, &starting] {
        assert_eq!(
            c.inspect(id).unwrap_err().kind(),
            berth_base::ErrorKind::NotFound
        );
        assert!(!data.join("containers").join(id).exists());
        assert!(!data.join("snapshots/overlay/rw").join(id).exists());
    }

    // A create whose snapshot record had not reached the disk (it does in
    // the background): the container is there, its writable layer made
    // again, and it runs.
    let lost = c
        .create(None, &json!({"Image": "busybox", "Cmd": ["true"]}))
        .unwrap()
        .id;
    drop((c, _engine));
    {
        let t0 = Instant::now();
        let meta = loop {
            match berth_store::meta::Meta::open(&data.join("meta.db")) {
                Ok(m) => break m,
                // The engine's last flush may still hold it.
                Err(e) if t0.elapsed() < Duration::from_secs(5) => {
                    eprintln!("open again: {e}");
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("open the metadata: {e}"),
            }
        };
        let mut tx = meta.write().unwrap();
        tx.delete_snapshot(&lost).unwrap();
        tx.commit().unwrap();
    }
    std::fs::remove_dir_all(data.join("snapshots/overlay/rw").join(&lost)).unwrap();
    let (_engine, c) = env.open();
    let w = c.wait_for(&lost, WaitCondition::NextExit).unwrap();
    c.start(&lost).unwrap();
    assert_eq!(w.wait().status_code, 0);
    c.remove(&lost, false, false).unwrap();
}

/// A start writes the record once the container runs and its attaches
/// are in; a crash before that leaves the record of the last exit next to
/// a live shim. The next start must find the container running. The
/// crash is a process of its own that exits with the container running.
#[test]
fn a_start_cut_short_before_its_record_is_written_is_found_running() {
    const CRASH: &str = "BERTH_TEST_CRASH_ROOT";
    if let Some(root) = std::env::var_os(CRASH) {
        let root = Path::new(&root);
        let (_engine, c) = Env::open_at(root);
        let record = root.join("record");
        let exited = std::fs::read(&record).unwrap();
        let id = String::from_utf8(std::fs::read(root.join("id")).unwrap()).unwrap();
        c.start(&id).unwrap();
        std::fs::write(
            root.join("pid"),
            c.inspect(&id).unwrap()["State"]["Pid"].to_string(),
        )
        .unwrap();
        std::fs::write(
            root.join("data/containers")
                .join(&id)
                .join("container.json"),
            exited,
        )
        .unwrap();
        std::process::exit(0);
    }
    let Some((env, engine, c)) = Env::ready() else {
        return;
    };
    let root = env.dir.path();
    let id = c
        .create(
            Some("restarted"),
            // Exits 3 the first time, sleeps the second.
            &json!({"Image": "busybox", "Cmd": ["sh", "-c",
                "test -f /ran && exec sleep 60; touch /ran; exit 3"]}),
        )
        .unwrap()
        .id;
    let w = c.wait_for(&id, WaitCondition::NextExit).unwrap();
    c.start(&id).unwrap();
    assert_eq!(w.wait().status_code, 3);
    drop((c, engine));
    let record = root
        .join("data/containers")
        .join(&id)
        .join("container.json");
    std::fs::copy(&record, root.join("record")).unwrap();
    std::fs::write(root.join("id"), &id).unwrap();
    let st = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_start_cut_short_before_its_record_is_written_is_found_running",
            "--nocapture",
        ])
        .env(CRASH, root)
        .status()
        .unwrap();
    assert!(st.success());

    let (_engine, c) = env.open();
    let i = c.inspect(&id).unwrap();
    assert_eq!(i["State"]["Status"], "running", "{}", i["State"]);
    assert_eq!(
        i["State"]["Pid"].to_string(),
        std::fs::read_to_string(root.join("pid")).unwrap()
    );
    c.remove(&id, true, false).unwrap();
}

/// Polls `f` on the container's inspect until it holds (10 s at most).
fn inspect_until(
    c: &Containers,
    id: &str,
    f: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let i = c.inspect(id).unwrap();
        if f(&i) {
            return i;
        }
        assert!(Instant::now() < deadline, "timed out: {}", i["State"]);
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn healthchecks_turn_healthy_unhealthy_and_time_out() {
    let Some((_env, _engine, c)) = Env::ready() else {
        return;
    };
    let ms = 1_000_000;
    let run = |name: &str, check: serde_json::Value| {
        c.create(
            Some(name),
            &json!({"Image": "busybox", "Cmd": ["sleep", "60"], "Healthcheck": check}),
        )
        .unwrap();
        c.start(name).unwrap();
    };
    run(
        "fine",
        json!({"Test": ["CMD-SHELL", "echo fine; true"], "Interval": 200 * ms}),
    );
    run(
        "sick",
        json!({"Test": ["CMD", "false"], "Interval": 200 * ms, "Retries": 2}),
    );
    run(
        "slow",
        json!({"Test": ["CMD", "sleep", "5"], "Interval": 200 * ms, "Timeout": 300 * ms, "Retries": 1}),
    );
    let status = |i: &serde_json::Value| i["State"]["Health"]["Status"].clone();
    let i = inspect_until(&c, "fine", |i| status(i) == "healthy");
    let h = &i["State"]["Health"];
    assert_eq!(h["FailingStreak"], 0);
    assert_eq!(h["Log"][0]["ExitCode"], 0);
    assert_eq!(h["Log"][0]["Output"], "fine\n");
    let i = inspect_until(&c, "sick", |i| status(i) == "unhealthy");
    assert!(i["State"]["Health"]["FailingStreak"].as_u64().unwrap() >= 2);
    let i = inspect_until(&c, "slow", |i| status(i) == "unhealthy");
    let r = &i["State"]["Health"]["Log"][0];
    assert_eq!(r["ExitCode"], -1);
    assert_eq!(r["Output"], "Health check exceeded timeout (300ms)");
    // Five results at most.
    let i = inspect_until(&c, "sick", |i| {
        i["State"]["Health"]["Log"].as_array().unwrap().len() == 5
    });
    assert_eq!(i["State"]["Health"]["Log"].as_array().unwrap().len(), 5);
    let filtered = |v: &str| {
        let mut filters = std::collections::BTreeMap::new();
        filters.insert("health".to_owned(), vec![v.to_owned()]);
        c.list(&ListOptions {
            filters,
            ..ListOptions::default()
        })
        .unwrap()
        .iter()
        .map(|x| x["Names"][0].as_str().unwrap().to_owned())
        .collect::<Vec<_>>()
    };
    assert_eq!(filtered("healthy"), ["/fine"]);
    let fine = c.list(&ListOptions::default()).unwrap();
    let fine = fine.iter().find(|x| x["Names"][0] == "/fine").unwrap();
    assert!(
        fine["Status"].as_str().unwrap().ends_with(" (healthy)"),
        "{}",
        fine["Status"]
    );
    // A stopped container's health reads unhealthy, as docker's.
    c.stop("fine", None, Some(0)).unwrap();
    let i = c.inspect("fine").unwrap();
    assert_eq!(status(&i), "unhealthy");
    for n in ["fine", "sick", "slow"] {
        c.remove(n, true, false).unwrap();
    }
}

/// The shim zygotes this process started (children running `berth-shim
/// zygote`).
fn zygotes() -> Vec<i32> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().nth(1));
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            ppid == Some(me.as_str()) && cmd.ends_with(b"zygote\0")
        })
        .collect()
}

/// Shims come from a zygote; one that died is replaced at the next start,
/// and the engine going ends its zygote. Run in a process of its own, so
/// that the other tests' zygotes are not counted.
#[test]
fn shims_come_from_a_zygote_that_is_replaced_when_it_dies() {
    const ALONE: &str = "BERTH_TEST_ZYGOTE_ALONE";
    if std::env::var_os(ALONE).is_none() {
        if !prerequisites() {
            return;
        }
        let st = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "shims_come_from_a_zygote_that_is_replaced_when_it_dies",
                "--nocapture",
            ])
            .env(ALONE, "1")
            .status()
            .unwrap();
        assert!(st.success());
        return;
    }
    let Some((_env, engine, c)) = Env::ready() else {
        return;
    };
    let run = |c: &Containers| {
        let id = c
            .create(
                None,
                &json!({"Image": "busybox", "Cmd": ["sh", "-c", "echo hi"]}),
            )
            .unwrap()
            .id;
        let w = c.wait_for(&id, WaitCondition::NextExit).unwrap();
        c.start(&id).unwrap();
        assert_eq!(w.wait().status_code, 0);
        assert_eq!(logs(c, &id), "hi\n");
    };
    run(&c);
    let first = zygotes();
    assert_eq!(first.len(), 1, "one zygote: {first:?}");
    Command::new("kill")
        .args(["-9", &first[0].to_string()])
        .status()
        .unwrap();
    // Reaped by the replacement's start, or still a zombie until then.
    run(&c);
    let second: Vec<i32> = zygotes()
        .into_iter()
        .filter(|p| !first.contains(p))
        .collect();
    assert_eq!(second.len(), 1, "a new zygote: {second:?}");
    drop((c, engine));
    let t0 = Instant::now();
    while Path::new(&format!("/proc/{}/cmdline", second[0])).exists()
        && std::fs::read(format!("/proc/{}/cmdline", second[0])).is_ok_and(|c| !c.is_empty())
    {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "zygote outlived its engine"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `docker run --rm -v vol:/data …; docker volume rm vol`: when the wait
/// for the removal answers, the container has let go of its volume.
#[test]
fn an_rm_container_lets_go_of_its_volume_before_the_wait_answers() {
    let Some((_env, engine, c)) = Env::ready() else {
        return;
    };
    for round in 0..3 {
        let id = c
            .create(
                None,
                &json!({"Image": "busybox", "Cmd": ["sh", "-c", "echo kept > /data/f"],
                    "HostConfig": {"AutoRemove": true, "Binds": ["kept:/data"]}}),
            )
            .unwrap()
            .id;
        let w = c.wait_for(&id, WaitCondition::Removed).unwrap();
        c.start(&id).unwrap();
        assert_eq!(w.wait().status_code, 0);
        if round < 2 {
            continue;
        }
        engine.volumes().remove("kept", false).unwrap();
    }
}
