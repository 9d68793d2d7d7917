//! Compiled seccomp filters on the real kernel. A filter cannot be taken off
//! again, so each case runs in a fresh process: the test binary re-executes
//! itself with `BERTH_SECCOMP_PROBE=<case>`, the `probe` test in that child
//! loads a filter, makes the syscalls and reports through its exit code.
//! No root needed: no_new_privs lets an unprivileged process load a filter.

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};

use berth_runtime::seccomp::{compile, filter_flags, send_to_agent, uses_notify};
use berth_sys::seccomp::{load, load_with_listener, notif_recv, notif_respond, Notification};
use oci_spec::runtime::{ContainerProcessState, LinuxSeccomp, State};

const PROBE_ENV: &str = "BERTH_SECCOMP_PROBE";

/// Where the `notify` probe finds its seccomp agent.
const AGENT_ENV: &str = "BERTH_SECCOMP_AGENT";

/// Runs `case` in a child process and returns how it ended.
fn run_case(case: &str) -> ExitStatus {
    run_case_with(case, &[])
}

fn run_case_with(case: &str, env: &[(&str, &std::path::Path)]) -> ExitStatus {
    let exe = std::env::current_exe().expect("test binary path");
    let out = Command::new(exe)
        .args(["--exact", "probe", "--nocapture", "--test-threads=1"])
        .env(PROBE_ENV, case)
        .envs(env.iter().map(|(k, v)| (*k, *v)))
        .output()
        .expect("spawn the probe");
    if !out.status.success() {
        eprintln!(
            "probe {case}: {:?}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.status
}

fn assert_passes(case: &str) {
    let status = run_case(case);
    assert_eq!(status.code(), Some(0), "probe {case} failed: {status:?}");
}

fn install(json: &str) {
    let spec: LinuxSeccomp = serde_json::from_str(json).expect("probe profile parses");
    let filter = compile(&spec).expect("probe profile compiles");
    nix::sys::prctl::set_no_new_privs().expect("prctl(PR_SET_NO_NEW_PRIVS)");
    load(&filter, filter_flags(&spec)).expect("load the probe filter");
}

/// The errno of a failed `io::Result`, or 0 on success.
fn errno<T>(r: std::io::Result<T>) -> i32 {
    r.err().and_then(|e| e.raw_os_error()).unwrap_or(0)
}

fn scratch_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("berth-seccomp-probe-{}", std::process::id()))
}

/// Exits 0 when every check holds, else with the number of the first check
/// that failed (so the parent's message points at it).
fn finish(checks: &[bool]) -> ! {
    let code = checks
        .iter()
        .position(|ok| !ok)
        .map_or(0, |i| i32::try_from(i + 1).unwrap_or(99));
    std::process::exit(code)
}

/// The child side: does nothing unless run by `run_case`.
#[test]
fn probe() {
    let Ok(case) = std::env::var(PROBE_ENV) else {
        return;
    };
    let dir = scratch_dir();
    match case.as_str() {
        "errno" => {
            install(
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"},
                {"names":["getcwd"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}"#,
            );
            let mkdir = errno(std::fs::create_dir(&dir));
            let cwd = errno(std::env::current_dir());
            let pid = nix::unistd::getpid().as_raw();
            finish(&[mkdir == libc::EPERM, cwd == libc::ENOSYS, pid > 0])
        }
        "args" => {
            use nix::sys::personality::{self, Persona};
            // Only the query form personality(0xffffffff) stays allowed.
            install(
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["personality"],"action":"SCMP_ACT_ERRNO",
                 "args":[{"index":0,"value":4294967295,"op":"SCMP_CMP_NE"}]}]}"#,
            );
            let query = personality::get();
            let set = personality::set(Persona::ADDR_NO_RANDOMIZE);
            finish(&[query.is_ok(), set == Err(nix::errno::Errno::EPERM)])
        }
        "default" => {
            // A deny-by-default filter that keeps just what exiting needs.
            install(
                r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":95,
                "architectures":["SCMP_ARCH_X86","SCMP_ARCH_X32"],"syscalls":[
                {"names":["exit","exit_group","write","brk","mmap","munmap","madvise",
                  "futex","rt_sigprocmask","sigaltstack","close","getpid"],"action":"SCMP_ACT_ALLOW"}]}"#,
            );
            let mkdir = errno(std::fs::create_dir(&dir));
            let pid = nix::unistd::getpid().as_raw();
            finish(&[mkdir == libc::EOPNOTSUPP, pid > 0])
        }
        "kill" => {
            install(
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["getppid"],"action":"SCMP_ACT_KILL_PROCESS"}]}"#,
            );
            let _ = nix::unistd::getppid();
            // Not reached: the kernel kills the process with SIGSYS.
            finish(&[false])
        }
        "flags" => {
            // A thread that exists before the load: TSYNC must cover it too.
            let (go, wait) = std::sync::mpsc::channel::<()>();
            let other = std::thread::spawn(move || {
                wait.recv().expect("wait for the filter");
                errno(std::fs::create_dir(scratch_dir()))
            });
            install(
                r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_TSYNC",
                "SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW"],"syscalls":[
                {"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#,
            );
            go.send(()).expect("wake the thread");
            let other = other.join().unwrap_or(0);
            finish(&[other == libc::EACCES])
        }
        "docker" => {
            use nix::sched::{unshare, CloneFlags};
            use nix::sys::personality::{self, Persona};
            use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
            let caps = berth_oci::default_capabilities();
            let spec = berth_oci::default_seccomp(&caps);
            let filter = compile(&spec).expect("Docker's profile compiles");
            nix::sys::prctl::set_no_new_privs().expect("prctl(PR_SET_NO_NEW_PRIVS)");
            load(&filter, filter_flags(&spec)).expect("load Docker's profile");
            let eperm = Err(nix::errno::Errno::EPERM);
            let user_ns = unshare(CloneFlags::CLONE_NEWUSER);
            let mount = nix::mount::mount(
                Some("none"),
                "/",
                Some("tmpfs"),
                nix::mount::MsFlags::empty(),
                None::<&str>,
            );
            let hostname = nix::unistd::sethostname("probe");
            let vsock = socket(
                AddressFamily::Vsock,
                SockType::Stream,
                SockFlag::empty(),
                None,
            );
            let unix = socket(
                AddressFamily::Unix,
                SockType::Stream,
                SockFlag::empty(),
                None,
            );
            let set_persona = personality::set(Persona::ADDR_NO_RANDOMIZE);
            // Spawning works: clone3 gets ENOSYS and libc falls back to clone.
            let child = Command::new("/bin/true").status().map(|s| s.success());
            let made = std::fs::create_dir(&dir).is_ok();
            let _ = std::fs::remove_dir(&dir);
            finish(&[
                user_ns == eperm,
                mount == eperm,
                hostname == eperm,
                vsock.map(drop) == eperm,
                unix.is_ok(),
                set_persona.map(drop) == eperm,
                personality::get().is_ok(),
                child.ok() == Some(true),
                made,
            ])
        }
        "notify" => {
            use std::os::fd::AsFd;
            let agent = std::env::var(AGENT_ENV).expect("agent socket path");
            let spec: LinuxSeccomp = serde_json::from_str(&format!(
                r#"{{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"{agent}",
                "listenerMetadata":"probe-metadata","syscalls":[
                {{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_NOTIFY"}}]}}"#
            ))
            .expect("notify profile parses");
            assert!(uses_notify(&spec));
            let filter = compile(&spec).expect("notify profile compiles");
            nix::sys::prctl::set_no_new_privs().expect("prctl(PR_SET_NO_NEW_PRIVS)");
            let listener =
                load_with_listener(&filter, filter_flags(&spec)).expect("load with a listener");
            let pid = nix::unistd::getpid().as_raw();
            let mut state = State::default();
            state.set_id("probe".to_string());
            state.set_pid(Some(pid));
            send_to_agent(&spec, listener.as_fd(), pid, &state).expect("send to the agent");
            drop(listener);
            // The agent answers mkdir with EXDEV.
            let mkdir = errno(std::fs::create_dir(&dir));
            finish(&[mkdir == libc::EXDEV])
        }
        other => panic!("unknown probe case {other}"),
    }
}

#[test]
fn errno_rules_deny_with_their_errno() {
    assert_passes("errno");
}

#[test]
fn argument_conditions_select_calls() {
    assert_passes("args");
}

#[test]
fn default_action_applies_to_unlisted_syscalls() {
    assert_passes("default");
}

#[test]
fn kill_process_kills_with_sigsys() {
    let status = run_case("kill");
    assert_eq!(status.signal(), Some(libc::SIGSYS), "{status:?}");
}

#[test]
fn filter_flags_are_accepted_and_tsync_covers_threads() {
    assert_passes("flags");
}

#[test]
fn docker_default_profile_confines_a_process() {
    assert_passes("docker");
}

/// The agent side of SCMP_ACT_NOTIFY: accepts the runtime's message, takes
/// the listener from it, and answers the first notification with EXDEV.
fn agent(
    listener: std::os::unix::net::UnixListener,
) -> Result<(ContainerProcessState, Notification), String> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    use std::io::{IoSliceMut, Read};
    use std::mem::MaybeUninit;
    use std::os::fd::AsFd;

    let (mut conn, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut ancillary = RecvAncillaryBuffer::new(&mut space);
    let got = rustix::net::recvmsg(
        &conn,
        &mut [IoSliceMut::new(&mut buf)],
        &mut ancillary,
        RecvFlags::CMSG_CLOEXEC,
    )
    .map_err(|e| format!("recvmsg: {e}"))?;
    let fd = ancillary
        .drain()
        .find_map(|m| match m {
            RecvAncillaryMessage::ScmRights(mut fds) => fds.next(),
            _ => None,
        })
        .ok_or("no fd in the message")?;
    let mut json = buf[..got.bytes].to_vec();
    conn.read_to_end(&mut json)
        .map_err(|e| format!("read the rest: {e}"))?;
    let state: ContainerProcessState =
        serde_json::from_slice(&json).map_err(|e| format!("process state: {e}"))?;
    let n = notif_recv(fd.as_fd()).map_err(|e| e.to_string())?;
    notif_respond(fd.as_fd(), n.id, 0, libc::EXDEV, 0).map_err(|e| e.to_string())?;
    Ok((state, n))
}

#[test]
fn notify_hands_the_listener_to_the_agent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sock = dir.path().join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind the agent");
    let agent = std::thread::spawn(move || agent(listener));
    let status = run_case_with("notify", &[(AGENT_ENV, &sock)]);
    if !agent.is_finished() {
        // The probe never connected: wake the agent so it can fail.
        let _ = std::os::unix::net::UnixStream::connect(&sock);
    }
    let (state, notification) = agent.join().expect("agent thread").expect("agent");
    assert_eq!(status.code(), Some(0), "probe notify: {status:?}");
    assert_eq!(state.fds(), &["seccompFd".to_string()]);
    assert_eq!(state.metadata().as_deref(), Some("probe-metadata"));
    assert_eq!(state.state().id(), "probe");
    // The notification names the calling thread, the state its process.
    assert!(*state.pid() > 0 && notification.pid > 0, "{notification:?}");
    let mkdirs = [libc::SYS_mkdir, libc::SYS_mkdirat].map(|n| i32::try_from(n).unwrap_or(-1));
    assert!(mkdirs.contains(&notification.nr), "{notification:?}");
}
