//! berth-shim against the real kernel and runc: a busybox bundle, logs,
//! exit codes, attach, exec, tty, stop, restart policy, and survival of
//! the caller's death.

use berth_base::testenv::{have_program, is_root, require};
use berth_shim_proto::jsonlog::{decode_entry, Stream as LogStream};
use berth_shim_proto::{
    frame, Client, ExitFile, LogConfig, Request, RestartPolicy, RuntimeKind, ShimConfig,
    SpecSummary, Status,
};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNC: &str = "/usr/sbin/runc";
const BUSYBOX: &str = "/usr/bin/busybox";

fn prerequisites() -> bool {
    require(is_root(), "needs root")
        && require(Path::new(RUNC).exists(), "needs runc")
        && require(Path::new(BUSYBOX).exists(), "needs busybox-static")
        && require(have_program("true"), "needs a PATH")
}

/// A container bundle made from busybox, with its shim state, cleaned up
/// (container killed and deleted) on drop.
struct Fixture {
    dir: tempfile::TempDir,
    id: String,
    rt: Rt,
}

/// Which runtime the shim drives: runc, or berth-runtime linked in.
#[derive(Clone, Copy, Debug)]
enum Rt {
    Runc,
    Builtin,
}

/// Each case runs once per runtime.
macro_rules! both {
    ($($case:ident),* $(,)?) => {
        $(mod $case {
            #[test]
            fn runc() {
                super::$case(super::Rt::Runc)
            }
            #[test]
            fn builtin() {
                super::$case(super::Rt::Builtin)
            }
        })*
    };
}

both!(
    logs_and_exit_code_of_a_short_container,
    a_missing_command_is_reported_at_start,
    attach_stdin_exec_and_stop_with_timeout,
    tty_gets_a_terminal_of_the_asked_size,
    on_failure_restarts_up_to_the_limit,
    shim_outlives_its_caller,
    an_awaited_attach_sees_the_first_output,
    a_late_awaited_attach_gets_all_output_of_an_exited_process,
    an_auto_remove_exit_is_answered_before_the_cleanup,
    an_oom_kill_is_recorded,
);

impl Fixture {
    fn new(name: &str, args: &[&str], tty: bool, rt: Rt) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let id = format!("berth-shim-test-{name}-{rt:?}-{}", std::process::id());
        let bundle = dir.path().join("bundle");
        let bin = bundle.join("rootfs/bin");
        std::fs::create_dir_all(&bin).expect("mkdir rootfs");
        std::fs::copy(BUSYBOX, bin.join("busybox")).expect("copy busybox");
        for app in ["sh", "echo", "cat", "sleep", "stty", "true", "seq"] {
            std::os::unix::fs::symlink("busybox", bin.join(app)).expect("symlink");
        }
        let out = Command::new(RUNC)
            .args(["spec", "--bundle"])
            .arg(&bundle)
            .output()
            .expect("runc spec");
        assert!(out.status.success(), "runc spec: {out:?}");
        let path = bundle.join("config.json");
        let mut spec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read spec")).expect("spec json");
        spec["process"]["args"] = json!(args);
        spec["process"]["terminal"] = json!(tty);
        spec["root"]["readonly"] = json!(true);
        std::fs::write(&path, serde_json::to_vec(&spec).expect("json")).expect("write spec");
        std::fs::create_dir(dir.path().join("shim")).expect("mkdir shim");
        Self { dir, id, rt }
    }

    fn config(&self) -> ShimConfig {
        ShimConfig {
            id: self.id.clone(),
            bundle: self.dir.path().join("bundle"),
            runtime: match self.rt {
                Rt::Runc => RuntimeKind::External {
                    path: RUNC.into(),
                    root: self.dir.path().join("runc"),
                },
                Rt::Builtin => RuntimeKind::Builtin {
                    root: self.dir.path().join("runc"),
                },
            },
            rootfs: Vec::new(),
            spec: None,
            tty: false,
            open_stdin: false,
            stdin_once: false,
            log: Some(LogConfig {
                path: self.log_path(),
                max_size: 0,
                max_file: 1,
            }),
            exit_file: self.dir.path().join("exit.json"),
            auto_remove: false,
            restart: RestartPolicy::No,
            restart_count: 0,
            console_size: None,
            await_attach: 0,
        }
    }

    fn shim_dir(&self) -> PathBuf {
        self.dir.path().join("shim")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("ctr-json.log")
    }

    fn client(&self) -> Client {
        Client::new(berth_shim_proto::socket_path(&self.shim_dir()))
    }

    /// Start the shim as the engine does and return its answer line.
    fn start(&self, cfg: &ShimConfig) -> berth_shim_proto::Response {
        std::fs::write(
            self.shim_dir().join(berth_shim_proto::CONFIG_NAME),
            serde_json::to_vec(cfg).expect("json"),
        )
        .expect("write shim config");
        let out = Command::new(env!("CARGO_BIN_EXE_berth-shim"))
            .arg("start")
            .arg(self.shim_dir())
            .stdout(Stdio::piped())
            .output()
            .expect("run berth-shim");
        assert!(out.status.success(), "berth-shim start: {out:?}");
        berth_shim_proto::decode_response_line(&out.stdout).expect("answer line")
    }

    fn exit_file(&self) -> ExitFile {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(d) = std::fs::read(self.dir.path().join("exit.json")) {
                return serde_json::from_slice(&d).expect("exit file json");
            }
            assert!(Instant::now() < deadline, "no exit file");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn logs(&self) -> Vec<(LogStream, String)> {
        std::fs::read(self.log_path())
            .unwrap_or_default()
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| decode_entry(l).expect("log entry"))
            .map(|e| (e.stream, e.log))
            .collect()
    }

    /// Attach to stdout and stderr as `docker run` does; all they carry.
    fn attached_output(&self) -> (Vec<u8>, Vec<u8>) {
        let (_, stream) = self
            .client()
            .stream(&Request::Attach {
                stdin: false,
                stdout: true,
                stderr: true,
            })
            .expect("attach");
        stream.collect().expect("output")
    }

    /// Wait for the shim to exit (its socket disappears).
    fn wait_shim_gone(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.client().path().exists() {
            assert!(Instant::now() < deadline, "shim did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // A failed test may leave its shim and container running: both are
        // ours, found by pid in the shim's state file.
        if let Ok(d) = std::fs::read(self.shim_dir().join(berth_shim_proto::STATE_NAME)) {
            if let Ok(st) = serde_json::from_slice::<berth_shim_proto::ShimState>(&d) {
                for pid in [st.shim_pid, st.pid] {
                    if pid > 0 && self.client().path().exists() {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(pid),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                }
            }
        }
        let root = self.dir.path().join("runc");
        match self.rt {
            Rt::Runc => {
                let _ = Command::new(RUNC)
                    .arg("--root")
                    .arg(&root)
                    .args(["delete", "--force", &self.id])
                    .stderr(Stdio::null())
                    .status();
            }
            Rt::Builtin => {
                let _ = berth_runtime::Runtime::new(&root).delete(&self.id, true);
            }
        }
    }
}

fn logs_and_exit_code_of_a_short_container(rt: Rt) {
    if !prerequisites() {
        return;
    }
    let f = Fixture::new(
        "short",
        &["sh", "-c", "echo hello; echo oops >&2; exit 3"],
        false,
        rt,
    );
    let answer = f.start(&f.config());
    assert!(answer.error.is_none(), "{answer:?}");
    let exit = f.exit_file();
    assert_eq!((exit.exit.code, exit.exit.oom_killed), (3, false));
    f.wait_shim_gone();
    let logs = f.logs();
    assert!(
        logs.contains(&(LogStream::Stdout, "hello\n".into())),
        "{logs:?}"
    );
    assert!(
        logs.contains(&(LogStream::Stderr, "oops\n".into())),
        "{logs:?}"
    );
    // The runtime's container is deleted.
    let st = Command::new(RUNC)
        .arg("--root")
        .arg(f.dir.path().join("runc"))
        .args(["state", &f.id])
        .output()
        .expect("runc state");
    assert!(!st.status.success());
}

fn a_missing_command_is_reported_at_start(rt: Rt) {
    if !prerequisites() {
        return;
    }
    let f = Fixture::new("missing", &["/no/such/cmd"], false, rt);
    let answer = f.start(&f.config());
    let (_, msg) = answer.error.expect("an error");
    assert!(msg.contains("no/such/cmd"), "{msg}");
    assert!(!f.client().path().exists());
    assert!(f.logs().is_empty(), "runtime errors must not reach the log");
}

fn attach_stdin_exec_and_stop_with_timeout(rt: Rt) {
    if !prerequisites() {
        return;
    }
    let f = Fixture::new(
        "attach",
        &["sh", "-c", "read line; echo got $line; exec sleep 1000"],
        false,
        rt,
    );
    let mut cfg = f.config();
    cfg.open_stdin = true;
    let answer = f.start(&cfg);
    assert_eq!(answer.state.expect("state").status, Status::Running);
    let c = f.client();
    let (_, mut stream) = c
        .stream(&Request::Attach {
            stdin: true,
            stdout: true,
            stderr: true,
        })
        .expect("attach");
    stream.write_stdin(b"ping\n").expect("stdin");
    let (kind, data) = stream.read_frame().expect("read").expect("a frame");
    assert_eq!((kind, data.as_slice()), (frame::STDOUT, &b"got ping\n"[..]));

    // exec, attached, with its own stdio and exit code
    let (_, exec) = c
        .stream(&Request::Exec {
            exec_id: "e1".into(),
            process: json!({"args": ["sh", "-c", "echo in-exec; exit 5"], "cwd": "/", "env": ["PATH=/bin"]}),
            attach: true,
            stdin: false,
        })
        .expect("exec");
    let (out, _) = exec.collect().expect("exec output");
    assert_eq!(out, b"in-exec\n");
    let st = c
        .call(&Request::ExecState {
            exec_id: "e1".into(),
        })
        .expect("exec state")
        .exec
        .expect("exec");
    assert_eq!((st.running, st.exit_code), (false, Some(5)));

    // sleep as pid 1 ignores SIGTERM: stop escalates to SIGKILL.
    let r = c
        .call(&Request::Stop {
            signal: 15,
            timeout_secs: Some(1),
        })
        .expect("stop");
    assert_eq!(r.exit.expect("exit").code, 137);
    // The attach stream ends with the container.
    assert!(stream.read_frame().expect("read").is_none());
    f.wait_shim_gone();
    assert_eq!(f.exit_file().exit.code, 137);
}

fn tty_gets_a_terminal_of_the_asked_size(rt: Rt) {
    if !prerequisites() {
        return;
    }
    let f = Fixture::new("tty", &["sh", "-c", "stty size; exit 0"], true, rt);
    let mut cfg = f.config();
    cfg.tty = true;
    cfg.console_size = Some((33, 99));
    let answer = f.start(&cfg);
    assert!(answer.error.is_none(), "{answer:?}");
    assert_eq!(f.exit_file().exit.code, 0);
    f.wait_shim_gone();
    let all: String = f.logs().into_iter().map(|(_, l)| l).collect();
    assert_eq!(all, "33 99\r\n");
}

fn on_failure_restarts_up_to_the_limit(rt: Rt) {
    if !prerequisites() {
        return;
    }
    let f = Fixture::new("restart", &["sh", "-c", "echo run; exit 1"], false, rt);
    let mut cfg = f.config();
    cfg.restart = RestartPolicy::OnFailure { max_retries: 2 };
    assert!(f.start(&cfg).error.is_none());
    f.wait_shim_gone();
    let exit = f.exit_file();
    assert_eq!((exit.exit.code, exit.restart_count), (1, 2));
    assert_eq!(f.logs().len(), 3);
}

fn shim_outlives_its_caller(rt: Rt) {
    if !prerequisites() {
        return;
    }
    let f = Fixture::new(
        "orphan",
        &["sh", "-c", "while true; do echo tick; sleep 0.2; done"],
        false,
        rt,
    );
    let cfg = f.config();
    std::fs::write(
        f.shim_dir().join(berth_shim_proto::CONFIG_NAME),
        serde_json::to_vec(&cfg).expect("json"),
    )
    .expect("config");
    // The caller starts the shim and is then killed with SIGKILL.
    let mut caller = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} start {} >/dev/null; sleep 100",
            env!("CARGO_BIN_EXE_berth-shim"),
            f.shim_dir().display()
        ))
        .spawn()
        .expect("spawn caller");
    let c = f.client();
    let deadline = Instant::now() + Duration::from_secs(10);
    let state = loop {
        if let Ok(r) = c.call(&Request::State) {
            break r.state.expect("state");
        }
        assert!(Instant::now() < deadline, "shim never answered");
        std::thread::sleep(Duration::from_millis(20));
    };
    caller.kill().expect("kill caller");
    caller.wait().expect("reap caller");
    std::thread::sleep(Duration::from_millis(500));
    let after = c
        .call(&Request::State)
        .expect("state after")
        .state
        .expect("state");
    assert_eq!(after.status, Status::Running);
    assert_eq!(after.shim_pid, state.shim_pid);
    // The shim is not in our session: it made its own.
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", state.shim_pid)).expect("stat");
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        fields[3],
        state.shim_pid.to_string(),
        "shim is a session leader"
    );
    let r = c
        .call(&Request::Kill {
            signal: 9,
            all: false,
        })
        .expect("kill");
    assert!(r.error.is_none());
    assert_eq!(f.exit_file().exit.code, 137);
    f.wait_shim_gone();
    assert!(f.logs().iter().filter(|(_, l)| l == "tick\n").count() >= 2);
}

fn an_awaited_attach_sees_the_first_output(rt: Rt) {
    if !prerequisites() {
        return;
    }
    let f = Fixture::new("await", &["echo", "first"], false, rt);
    let mut cfg = f.config();
    cfg.await_attach = 1;
    let answer = f.start(&cfg);
    assert_eq!(answer.state.expect("state").status, Status::Running);
    let (out, _) = f.attached_output();
    assert_eq!(out, b"first\n");
    assert_eq!(f.exit_file().exit.code, 0);
    f.wait_shim_gone();
}

/// The process runs before the awaited attach comes, and exits; its
/// output waits for the attach, however late (past the drain grace too).
fn a_late_awaited_attach_gets_all_output_of_an_exited_process(rt: Rt) {
    if !prerequisites() {
        return;
    }
    // Less than a pipe holds, so the process does not block on it.
    let f = Fixture::new(
        "late",
        &["sh", "-c", "seq 1 2000; echo oops >&2; exit 3"],
        false,
        rt,
    );
    let mut cfg = f.config();
    cfg.await_attach = 1;
    let state = f.start(&cfg).state.expect("state");
    assert_eq!(state.status, Status::Running);
    // The shim reaps its child: the pid goes once the process exited.
    let proc_dir = PathBuf::from(format!("/proc/{}", state.pid));
    let deadline = Instant::now() + Duration::from_secs(10);
    while proc_dir.exists() {
        assert!(Instant::now() < deadline, "the process did not run");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        !f.dir.path().join("exit.json").exists(),
        "the run ended before its output was read"
    );
    let (out, err) = f.attached_output();
    let want: String = (1..=2000).map(|n| format!("{n}\n")).collect();
    assert_eq!(String::from_utf8_lossy(&out), want);
    assert_eq!(err, b"oops\n");
    assert_eq!(f.exit_file().exit.code, 3);
    f.wait_shim_gone();
    assert_eq!(f.logs().len(), 2001);
}

/// An `--rm` container's waiters hear of the exit before the runtime's
/// state is deleted, and so does a client that connected before the exit
/// and asks only after it (the engine's Wait, just then); the delete still
/// works when the engine removes the shim's directory at once, as it does
/// to remove the container.
fn an_auto_remove_exit_is_answered_before_the_cleanup(rt: Rt) {
    use std::io::{BufRead, Write};
    if !prerequisites() {
        return;
    }
    let f = Fixture::new("rm", &["sleep", "1000"], false, rt);
    let mut cfg = f.config();
    cfg.auto_remove = true;
    assert!(f.start(&cfg).error.is_none());
    let state_dir = f.dir.path().join("runc").join(&f.id);
    assert!(state_dir.exists(), "no runtime state at {state_dir:?}");
    let c = f.client();
    let waiter = std::thread::spawn(move || c.call(&Request::Wait).expect("wait"));
    let mut late = berth_shim_proto::connect(f.client().path()).expect("connect");
    std::thread::sleep(Duration::from_millis(200));
    let r = f
        .client()
        .call(&Request::Kill {
            signal: 9,
            all: false,
        })
        .expect("kill");
    assert!(r.error.is_none(), "{r:?}");
    let answer = waiter.join().expect("waiter");
    std::fs::remove_dir_all(f.shim_dir()).expect("remove the shim directory");
    assert_eq!(answer.exit.expect("exit").code, 137);
    assert_eq!(answer.state.expect("state").status, Status::Stopped);
    assert!(
        state_dir.exists(),
        "deleted before a connected client asked"
    );
    late.write_all(&berth_shim_proto::encode_request(&Request::Wait))
        .expect("send wait");
    let mut line = Vec::new();
    std::io::BufReader::new(late)
        .read_until(b'\n', &mut line)
        .expect("read the answer");
    let answer = berth_shim_proto::decode_response_line(&line).expect("answer line");
    assert_eq!(answer.exit.expect("exit").code, 137);
    let deadline = Instant::now() + Duration::from_secs(10);
    while state_dir.exists() {
        assert!(Instant::now() < deadline, "runtime state left behind");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn an_oom_kill_is_recorded(rt: Rt) {
    if !prerequisites() {
        return;
    }
    // dd allocates its 64 MiB block at once, over the 16 MiB limit.
    let f = Fixture::new(
        "oom",
        &["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"],
        false,
        rt,
    );
    let bundle = f.dir.path().join("bundle");
    std::os::unix::fs::symlink("busybox", bundle.join("rootfs/bin/dd")).expect("symlink dd");
    let path = bundle.join("config.json");
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read spec")).expect("spec json");
    // An absolute path, the same for both runtimes (runc's default is
    // relative to its caller's cgroup).
    let cgroups_path = format!("/berth/{}", f.id);
    spec["linux"]["cgroupsPath"] = json!(cgroups_path);
    spec["linux"]["resources"]["memory"] = json!({ "limit": 16 * 1024 * 1024 });
    std::fs::write(&path, serde_json::to_vec(&spec).expect("json")).expect("write spec");
    // The cgroup as the engine tells it (the other cases leave the shim
    // to read config.json).
    let mut cfg = f.config();
    cfg.spec = Some(SpecSummary {
        root: "rootfs".into(),
        cgroups_path: Some(cgroups_path),
    });
    assert!(f.start(&cfg).error.is_none());
    let exit = f.exit_file();
    assert_eq!((exit.exit.code, exit.exit.oom_killed), (137, true));
    f.wait_shim_gone();
}
