//! berth's container commands end to end against a real berthd: output,
//! exit codes and streams of `run`, `exec`, `logs`, the lifecycle commands,
//! `ps` and `inspect` next to the docker CLI's on the same daemon, and
//! `-it` driven through a pty (`script`).

use berth_e2e::daemon::{busybox_tar, ok, Daemon};
use berth_e2e::{bin_dir, have_program, is_root, require};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn ready() -> bool {
    require(is_root(), "containers need root (namespaces, mounts)")
        && require(have_program("curl"), "curl is not installed")
        && require(
            bin_dir().join("berthd").exists() && bin_dir().join("berth").exists(),
            "berthd and berth are not built in BERTH_BIN_DIR (or target/release)",
        )
}

/// A daemon with busybox imported as `busybox:latest`.
fn daemon() -> Daemon {
    let d = Daemon::start();
    let tar = busybox_tar(d.dir.path());
    let tar = tar.to_str().expect("utf-8 path");
    ok(d.berth(&["import", tar, "busybox:latest"]), "berth import");
    d
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Runs `cmd` in a pty (util-linux `script`) and returns its output and
/// exit code. Each step waits (20 s at most) until the terminal's output
/// shows its text, then types its keys (a `printf` format): no key is
/// typed before the session is there to read it.
fn in_pty(d: &Daemon, cmd: &str, steps: &[(&str, &str)]) -> (String, i32) {
    static SESSIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SESSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let ts = d.dir.path().join(format!("pty-{n}"));
    // There before the feeder looks at it.
    std::fs::write(&ts, "").expect("create the typescript");
    let ts = ts.display();
    let mut feed = String::new();
    for (shows, keys) in steps {
        feed.push_str(&format!(
            " i=0; until grep -qF -- '{shows}' {ts}; do i=$((i+1)); [ $i -gt 400 ] && exit 1; sleep 0.05; done; printf '{keys}';"
        ));
    }
    // script -f writes the terminal's output to the typescript as it comes.
    let script = format!(
        "({feed}) | script -qfec 'stty rows 30 cols 100; {} {cmd}' {ts}",
        bin_dir().join("berth").display()
    );
    let o = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .env("BERTH_HOST", d.host())
        .output()
        .expect("run script");
    (text(&o.stdout), code(&o))
}

#[test]
fn run_gives_the_output_and_exit_code() {
    if !ready() {
        return;
    }
    let d = daemon();
    let o = d.berth(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(code(&o), 3, "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "out\n");
    assert_eq!(text(&o.stderr), "err\n");
    // --rm removed it.
    assert_eq!(ok(d.berth(&["ps", "-aq"]), "ps -aq"), "");

    // stdin goes through with -i; EOF closes the container's stdin.
    let mut c = Command::new(bin_dir().join("berth"))
        .args(["run", "--rm", "-i", "busybox", "busybox", "wc", "-c"])
        .env("BERTH_HOST", d.host())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("berth run -i");
    {
        use std::io::Write;
        let mut stdin = c.stdin.take().expect("stdin");
        stdin.write_all(b"hello").expect("write stdin");
    }
    let o = c.wait_with_output().expect("wait");
    assert!(o.status.success());
    assert_eq!(text(&o.stdout).trim(), "5");

    // A command that does not exist: 127, as docker's.
    let o = d.berth(&["run", "--rm", "busybox", "/nope"]);
    assert_eq!(code(&o), 127, "{}", text(&o.stderr));
    // An image that does not exist: the pull is tried, then 125.
    let o = d.berth(&["run", "--rm", "nosuchimage"]);
    assert_eq!(code(&o), 125);
    assert!(text(&o.stderr).starts_with("Unable to find image 'nosuchimage:latest' locally\n"));
    // A bad flag value: 125 before anything is created.
    let o = d.berth(&["run", "--restart", "sometimes", "busybox", "true"]);
    assert_eq!(code(&o), 125);
}

#[test]
fn detached_container_lifecycle() {
    if !ready() {
        return;
    }
    let d = daemon();
    let name = format!("life{}", std::process::id());
    let id = ok(
        d.berth(&[
            "run",
            "-d",
            "--name",
            &name,
            "-l",
            "k=v",
            "busybox",
            "sh",
            "-c",
            "echo started; while true; do busybox sleep 1; done",
        ]),
        "run -d",
    );
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id}");

    // logs: the first line arrives.
    let t0 = Instant::now();
    while ok(d.berth(&["logs", &name]), "logs") != "started\n" {
        assert!(t0.elapsed() < Duration::from_secs(10), "no log line");
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = d.berth(&["exec", &name, "sh", "-c", "echo in; exit 7"]);
    assert_eq!(code(&o), 7);
    assert_eq!(text(&o.stdout), "in\n");

    let ps = ok(
        d.berth(&[
            "ps",
            "--format",
            "{{.Names}} {{.Image}} {{.State}} {{.Labels}}",
        ]),
        "ps",
    );
    assert_eq!(ps, format!("{name} busybox running k=v\n"));
    let head = ok(d.berth(&["ps"]), "ps");
    assert!(
        head.starts_with(
            "CONTAINER ID   IMAGE     COMMAND                  CREATED          STATUS"
        ) || head.starts_with("CONTAINER ID   IMAGE     COMMAND")
    );
    assert!(head.contains(&id[..12]));

    assert_eq!(ok(d.berth(&["pause", &name]), "pause"), format!("{name}\n"));
    let st = ok(
        d.berth(&["inspect", "-f", "{{.State.Status}}", &name]),
        "inspect",
    );
    assert_eq!(st, "paused\n");
    ok(d.berth(&["unpause", &name]), "unpause");
    ok(d.berth(&["restart", "-t", "1", &name]), "restart");
    let st = ok(
        d.berth(&[
            "inspect",
            "-f",
            "{{.State.Running}} {{.Config.Image}}",
            &name,
        ]),
        "inspect",
    );
    assert_eq!(st, "true busybox\n");
    assert_eq!(ok(d.berth(&["kill", &name]), "kill"), format!("{name}\n"));
    assert_eq!(ok(d.berth(&["wait", &name]), "wait"), "137\n");
    // docker's inspect shapes: both an image and a container by name.
    let v: serde_json::Value =
        serde_json::from_str(&ok(d.berth(&["inspect", &name, "busybox"]), "inspect"))
            .expect("json");
    assert_eq!(v[0]["State"]["ExitCode"], 137);
    assert!(v[0]["HostConfig"].is_object() && v[0]["NetworkSettings"].is_object());
    assert!(v[1]["RootFS"].is_object());
    let o = d.berth(&["inspect", "nosuch"]);
    assert_eq!(code(&o), 1);
    assert!(text(&o.stderr).contains("No such object: nosuch"));

    assert_eq!(ok(d.berth(&["rm", &name]), "rm"), format!("{name}\n"));
    let o = d.berth(&["rm", &name]);
    assert_eq!(code(&o), 1);
    assert!(text(&o.stderr).starts_with("Error response from daemon: "));
}

#[test]
fn berth_and_docker_agree() {
    if !ready() || !require(have_program("docker"), "the docker CLI is not installed") {
        return;
    }
    let d = daemon();
    for cli in ["docker", "berth"] {
        let run = |args: &[&str]| -> Output {
            if cli == "docker" {
                d.docker(args)
            } else {
                d.berth(args)
            }
        };
        let o = run(&["run", "--rm", "busybox", "sh", "-c", "echo a; exit 4"]);
        assert_eq!((text(&o.stdout).as_str(), code(&o)), ("a\n", 4), "{cli}");
        let name = format!("{cli}{}", std::process::id());
        ok(
            run(&["create", "--name", &name, "busybox", "sh", "-c", "exit 2"]),
            "create",
        );
        ok(run(&["start", &name]), "start");
        assert_eq!(ok(run(&["wait", &name]), "wait"), "2\n", "{cli}");
    }
    let fmt = "{{.Names}}|{{.Image}}|{{.Command}}|{{.State}}|{{.Ports}}";
    let a = ok(d.docker(&["ps", "-a", "--format", fmt]), "docker ps");
    let b = ok(d.berth(&["ps", "-a", "--format", fmt]), "berth ps");
    assert_eq!(a, b);
    let a = ok(d.docker(&["ps", "-a", "--no-trunc", "-q"]), "docker ps -q");
    let b = ok(d.berth(&["ps", "-a", "--no-trunc", "-q"]), "berth ps -q");
    assert_eq!(a, b);
    let f = "{{.State.Status}} {{.State.ExitCode}} {{.Name}} {{.Config.Cmd}}";
    let name = format!("docker{}", std::process::id());
    let a = ok(d.docker(&["inspect", "-f", f, &name]), "docker inspect");
    let b = ok(d.berth(&["inspect", "-f", f, &name]), "berth inspect");
    assert_eq!(a, b);
}

#[test]
fn interactive_tty_resize_exit_code_and_detach() {
    if !ready()
        || !require(
            have_program("script"),
            "script (util-linux) is not installed",
        )
    {
        return;
    }
    let d = daemon();
    let (out, rc) = in_pty(
        &d,
        "run -it --rm busybox sh",
        &[("# ", "busybox stty size; busybox tty; exit 5\\r")],
    );
    assert_eq!(rc, 5, "{out}");
    assert!(out.contains("30 100"), "{out}");
    assert!(out.contains("/dev/pts/"), "{out}");

    let name = format!("tty{}", std::process::id());
    let (out, rc) = in_pty(
        &d,
        &format!("run -it --name {name} busybox sh"),
        // The typed command shows h""i; its output, hi.
        &[("# ", "echo h\"\"i\\r"), ("hi", "\\020\\021")],
    );
    assert_eq!(rc, 0, "{out}");
    let st = ok(
        d.berth(&["inspect", "-f", "{{.State.Status}}", &name]),
        "inspect",
    );
    assert_eq!(st, "running\n", "detached, the container keeps running");

    let (out, rc) = in_pty(&d, &format!("exec -it {name} sh"), &[("# ", "exit 6\\r")]);
    assert_eq!(rc, 6, "{out}");
    ok(d.berth(&["rm", "-f", &name]), "rm -f");
}

#[test]
fn top_stats_diff_and_update_agree_with_docker() {
    if !ready() || !require(have_program("docker"), "the docker CLI is not installed") {
        return;
    }
    let d = daemon();
    let name = format!("obs{}", std::process::id());
    ok(
        d.berth(&[
            "run",
            "-d",
            "--name",
            &name,
            "busybox",
            "sh",
            "-c",
            "busybox touch /made; while true; do busybox sleep 1; done",
        ]),
        "run -d",
    );
    let t0 = Instant::now();
    while !ok(d.berth(&["diff", &name]), "diff").contains("A /made") {
        assert!(t0.elapsed() < Duration::from_secs(10), "no /made in diff");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        ok(d.berth(&["diff", &name]), "berth diff"),
        ok(d.docker(&["diff", &name]), "docker diff")
    );
    // top: same table (the processes may differ by the sleep's pid, so
    // compare the header and the shell's line), but for ps's C column: the
    // CPU use over the process's life, which moves between the two calls.
    let rows = |top: String| -> Vec<Vec<String>> {
        top.lines()
            .take(2)
            .map(|l| {
                let mut cols: Vec<String> = l.split_whitespace().map(String::from).collect();
                if cols.len() > 3 {
                    cols.remove(3);
                }
                cols
            })
            .collect()
    };
    let a = rows(ok(d.docker(&["top", &name]), "docker top"));
    let b = rows(ok(d.berth(&["top", &name]), "berth top"));
    assert_eq!(a, b);
    assert_eq!(a[0][..3], ["UID", "PID", "PPID"]);

    // The shell and its sleep: 2, but for the moment between two sleeps.
    let f = "{{.Name}} {{.PIDs}}";
    let t0 = Instant::now();
    loop {
        let pids = ok(
            d.berth(&["stats", "--no-stream", "--format", f, &name]),
            "berth stats",
        );
        if pids == format!("{name} 2\n") {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "stats: {pids}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let head = ok(d.berth(&["stats", "--no-stream", &name]), "berth stats");
    let cols: Vec<&str> = head
        .lines()
        .next()
        .unwrap_or("")
        .split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    let want = [
        "CONTAINER ID",
        "NAME",
        "CPU %",
        "MEM USAGE / LIMIT",
        "MEM %",
        "NET I/O",
        "BLOCK I/O",
        "PIDS",
    ];
    assert_eq!(cols, want, "{head}");

    assert_eq!(
        ok(
            d.berth(&["update", "--cpus", "1", "-m", "64m", &name]),
            "update"
        ),
        format!("{name}\n")
    );
    assert_eq!(
        ok(
            d.docker(&[
                "inspect",
                "-f",
                "{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}",
                &name
            ]),
            "inspect"
        ),
        "1000000000 67108864\n"
    );
    ok(d.berth(&["rm", "-f", &name]), "rm -f");
}
