//! berthd end to end: a real daemon on a private socket and data root,
//! driven by the real docker CLI and by berth, whose outputs must agree;
//! responses at API 1.41 checked against moby's swagger.

use berth_e2e::daemon::{busybox_tar, ok, Daemon};
use berth_e2e::{bin_dir, have_program, is_root, require};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SWAGGER: &str = "/usr/share/gocode/src/github.com/docker/docker/api/swagger.yaml";

fn ready() -> bool {
    require(
        is_root(),
        "berthd's image store needs root (ownership, device nodes)",
    ) && require(have_program("docker"), "the docker CLI is not installed")
        && require(have_program("curl"), "curl is not installed")
        && require(
            bin_dir().join("berthd").exists() && bin_dir().join("berth").exists(),
            "berthd and berth are not built in BERTH_BIN_DIR (or target/release)",
        )
}

/// A daemon with busybox imported as `busybox:latest` by the docker CLI;
/// the image's id.
fn daemon_with_busybox() -> (Daemon, String) {
    let d = Daemon::start();
    let tar = busybox_tar(d.dir.path());
    let id = ok(
        d.docker(&["import", tar.to_str().expect("utf-8"), "busybox:latest"]),
        "docker import",
    );
    (d, id)
}

/// `o` is a failure whose stderr says `want`.
fn fails_with(o: &Output, want: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains(want),
        "want '{want}' in a failure: {err}"
    );
}

#[test]
fn docker_cli_negotiates_and_reads_system_info() {
    if !ready() {
        return;
    }
    let d = Daemon::start();
    let v = ok(
        d.docker(&[
            "version",
            "--format",
            "{{.Server.APIVersion}} {{.Server.MinAPIVersion}}",
        ]),
        "docker version",
    );
    assert_eq!(v.trim(), "1.47 1.24");
    let v = ok(
        d.berth(&["version", "--format", "{{.Server.ApiVersion}}"]),
        "berth version",
    );
    assert_eq!(v.trim(), "1.47");
    let info = ok(
        d.docker(&[
            "info",
            "--format",
            "{{.Images}} {{.Driver}} {{.OSType}} {{.Swarm.LocalNodeState}}",
        ]),
        "docker info",
    );
    assert_eq!(info.trim(), "0 overlay2 linux inactive");
    let ncpu = ok(d.docker(&["info", "--format", "{{.NCPU}}"]), "docker info");
    assert_eq!(
        ncpu.trim().parse::<usize>().expect("NCPU"),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let o = d.docker(&["node", "ls"]);
    fails_with(&o, "not a swarm manager");
}

#[test]
fn image_commands_agree_between_docker_and_berth() {
    if !ready() {
        return;
    }
    let d = Daemon::start();
    let tar = busybox_tar(d.dir.path());
    let tar = tar.to_str().expect("utf-8 path");
    let id = ok(
        d.docker(&[
            "import",
            "-c",
            "CMD [\"sh\"]",
            "-m",
            "e2e",
            tar,
            "busybox:latest",
        ]),
        "docker import",
    );
    assert!(id.trim().starts_with("sha256:"), "{id}");
    ok(d.docker(&["tag", "busybox", "e2e/one:1"]), "docker tag");
    ok(d.berth(&["tag", "busybox", "e2e/two:2"]), "berth tag");
    for args in [
        &[
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}",
        ][..],
        &["images", "-q", "--no-trunc"],
        &[
            "images",
            "--digests",
            "--format",
            "table {{.Repository}}\\t{{.Tag}}\\t{{.Digest}}",
        ],
        &[
            "image",
            "ls",
            "--filter",
            "reference=e2e/*",
            "--format",
            "json",
        ],
        &["image", "inspect", "busybox"],
        &[
            "image",
            "inspect",
            "-f",
            "{{.Id}} {{json .Config.Cmd}} {{.Comment}}",
            "busybox",
        ],
        &[
            "history",
            "--format",
            "{{.ID}} {{.CreatedBy}} {{.Size}} {{.Comment}}",
            "busybox",
        ],
        &["history", "-q", "busybox"],
    ] {
        let a = ok(d.docker(args), &format!("docker {args:?}"));
        let b = ok(d.berth(args), &format!("berth {args:?}"));
        let strip = |s: &str| {
            // `json` rows carry "x seconds ago", which may tick between runs.
            let mut lines = s
                .lines()
                .map(|l| match serde_json::from_str::<serde_json::Value>(l) {
                    Ok(serde_json::Value::Object(mut m)) => {
                        m.remove("CreatedSince");
                        serde_json::Value::Object(m).to_string()
                    }
                    _ => l.to_owned(),
                })
                .collect::<Vec<_>>();
            // docker orders the rows of one image's tags as Go's map
            // iteration falls (at random); compare them as sets.
            if args[0] != "image" || args[1] != "inspect" {
                lines.sort();
            }
            lines
        };
        assert_eq!(strip(&a), strip(&b), "outputs of {args:?} differ");
    }
    let o = d.docker(&["image", "inspect", "nope"]);
    fails_with(&o, "No such image: nope");
    let o = d.berth(&["rmi", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr).trim(),
        "Error response from daemon: No such image: nope"
    );
    // save with one, load with the other: the same image id comes back.
    let saved = d.dir.path().join("saved.tar");
    ok(
        d.docker(&["save", "-o", saved.to_str().expect("utf-8"), "busybox"]),
        "docker save",
    );
    ok(
        d.berth(&["rmi", "busybox", "e2e/one:1", "e2e/two:2"]),
        "berth rmi",
    );
    let left = ok(d.docker(&["images", "-q"]), "docker images");
    assert_eq!(
        left.trim(),
        "",
        "all tags removed, the image went with them"
    );
    let loaded = ok(
        d.berth(&["load", "-i", saved.to_str().expect("utf-8")]),
        "berth load",
    );
    assert_eq!(loaded.trim(), "Loaded image: busybox:latest");
    let again = ok(d.docker(&["images", "-q", "--no-trunc"]), "docker images");
    assert_eq!(again.trim(), id.trim());
    let df_docker = ok(d.docker(&["system", "df"]), "docker system df");
    let df_berth = ok(d.berth(&["system", "df"]), "berth system df");
    assert_eq!(df_docker, df_berth);
}

#[test]
fn responses_match_the_swagger_at_1_41() {
    if !ready()
        || !require(
            Path::new(SWAGGER).exists(),
            "golang-github-docker-docker-dev is not installed",
        )
        || !require(have_program("python3"), "python3 is not installed")
    {
        return;
    }
    let (d, _) = daemon_with_busybox();
    let checker = berth_e2e::workspace_root().join("tests/swagger/check.py");
    let events = format!("/v1.41/events?since=0&until={}", unix_now() + 1);
    for (path, schema) in [
        ("/v1.41/version", "definitions/SystemVersion"),
        ("/v1.41/info", "definitions/SystemInfo"),
        ("/v1.41/images/json", "paths//images/json/get/200"),
        ("/v1.41/images/busybox/json", "definitions/Image"),
        (
            "/v1.41/images/busybox/history",
            "paths//images/{name}/history/get/200",
        ),
        ("/v1.41/system/df", "paths//system/df/get/200"),
        ("/v1.41/images/nope/json", "definitions/ErrorResponse"),
        ("/v1.41/nope", "definitions/ErrorResponse"),
        (events.as_str(), "paths//events/get/200"),
    ] {
        let mut body = d.get(path);
        if path.contains("/events") {
            // One message per line: check the first (the import).
            body = format!("{}\n", body.lines().next().unwrap_or("{}"));
        }
        let mut child = Command::new("python3")
            .arg(&checker)
            .arg(schema)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run check.py");
        std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), body.as_bytes())
            .expect("feed check.py");
        let out = child.wait_with_output().expect("check.py");
        assert!(
            out.status.success(),
            "{path} against {schema}:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// Runs openssl with `args` in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate.
fn make_certs(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut a = vec!["req", "-x509"];
    a.extend(ec);
    a.extend([
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=berth-e2e-ca",
    ]);
    openssl(dir, &a);
    for (name, cn, ext) in [
        (
            "server",
            "localhost",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        ),
        ("client", "client", "extendedKeyUsage=clientAuth\n"),
    ] {
        let key = format!("{name}-key.pem");
        let csr = format!("{name}.csr");
        let subj = format!("/CN={cn}");
        let mut a = vec!["req"];
        a.extend(ec);
        a.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
        openssl(dir, &a);
        let extfile = format!("{name}.ext");
        std::fs::write(dir.join(&extfile), ext).expect("write ext");
        let cert = format!("{name}-cert.pem");
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca-key.pem",
                "-CAcreateserial",
                "-out",
                &cert,
                "-days",
                "1",
                "-extfile",
                &extfile,
            ],
        );
    }
}

#[test]
fn tcp_needs_mutual_tls() {
    if !ready() || !require(have_program("openssl"), "openssl is not installed") {
        return;
    }
    let certs = tempfile::Builder::new()
        .prefix(&format!("berth-e2e-tls-{}-", std::process::id()))
        .tempdir()
        .expect("tempdir");
    let c = certs.path();
    make_certs(c);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let tcp = format!("tcp://127.0.0.1:{port}");
    let p = |f: &str| c.join(f).display().to_string();
    let d = Daemon::start_with(&[
        "-H".into(),
        tcp.clone(),
        "--tlsverify".into(),
        "--tlscacert".into(),
        p("ca.pem"),
        "--tlscert".into(),
        p("server-cert.pem"),
        "--tlskey".into(),
        p("server-key.pem"),
    ]);
    let tls_args = |prog: &str| {
        let mut cmd = Command::new(prog);
        cmd.args(["--tlsverify", "--tlscacert"])
            .arg(p("ca.pem"))
            .arg("--tlscert")
            .arg(p("client-cert.pem"))
            .arg("--tlskey")
            .arg(p("client-key.pem"))
            .args(["-H", &tcp])
            .env("DOCKER_CONFIG", c.join("docker-config"));
        cmd
    };
    let v = ok(
        tls_args("docker")
            .args(["version", "--format", "{{.Server.APIVersion}}"])
            .output()
            .expect("docker"),
        "docker over TLS",
    );
    assert_eq!(v.trim(), "1.47");
    let v = ok(
        tls_args(bin_dir().join("berth").to_str().expect("utf-8"))
            .args(["info", "--format", "{{.OSType}}"])
            .output()
            .expect("berth"),
        "berth over TLS",
    );
    assert_eq!(v.trim(), "linux");
    // Without a client certificate the handshake fails.
    let o = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(p("ca.pem"))
        .arg(format!("https://127.0.0.1:{port}/_ping"))
        .output()
        .expect("curl");
    assert!(!o.status.success(), "a client without a certificate got in");
    drop(d);
    // And TCP without TLS is refused at startup.
    std::fs::write(c.join("none.json"), "{}").expect("write none.json");
    let data = c.join("data");
    let o = Command::new(bin_dir().join("berthd"))
        .args(["-H", &tcp, "--config-file"])
        .arg(p("none.json"))
        .arg("--data-root")
        .arg(&data)
        .arg("--exec-root")
        .arg(c.join("exec"))
        .output()
        .expect("berthd");
    fails_with(&o, "TCP needs --tlsverify");
}

#[test]
fn events_past_and_live_then_prune() {
    if !ready() {
        return;
    }
    let (d, _) = daemon_with_busybox();
    ok(d.docker(&["tag", "busybox", "e2e/ev:1"]), "docker tag");
    let until = (unix_now() + 1).to_string();
    let past = ok(
        d.docker(&[
            "events",
            "--since",
            "0",
            "--until",
            &until,
            "--filter",
            "type=image",
            "--format",
            "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
        ]),
        "docker events (past)",
    );
    assert_eq!(
        past.lines().collect::<Vec<_>>(),
        ["image import busybox:latest", "image tag e2e/ev:1"],
        "{past}"
    );
    let berth_past = ok(
        d.berth(&[
            "events",
            "--since",
            "0",
            "--until",
            &until,
            "--filter",
            "event=tag",
            "--format",
            "{{.Action}}",
        ]),
        "berth events (past)",
    );
    assert_eq!(berth_past.trim(), "tag");
    // Live: a subscriber sees a tag made after it connected.
    let mut live = Command::new(bin_dir().join("berth"))
        .args([
            "events",
            "--filter",
            "event=untag",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}}",
        ])
        .env("BERTH_HOST", d.host())
        .stdout(Stdio::piped())
        .spawn()
        .expect("berth events");
    let t0 = Instant::now();
    while d.get("/info").contains("\"NEventsListener\":0") {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "events subscriber never connected"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    ok(d.docker(&["rmi", "e2e/ev:1"]), "docker rmi");
    let mut line = String::new();
    let mut out = std::io::BufReader::new(live.stdout.take().expect("stdout"));
    std::io::BufRead::read_line(&mut out, &mut line).expect("read event");
    let _ = live.kill();
    let _ = live.wait();
    assert_eq!(line.trim(), "untag e2e/ev:1");
    // prune -a removes the image no container uses.
    let pruned = ok(
        d.berth(&["image", "prune", "-a", "-f"]),
        "berth image prune",
    );
    assert!(pruned.contains("Deleted Images:"), "{pruned}");
    assert!(pruned.contains("Total reclaimed space:"), "{pruned}");
    assert_eq!(ok(d.docker(&["images", "-q"]), "docker images").trim(), "");
}

/// Seconds since the epoch.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A child process killed (by pid) on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn import_from_a_url() {
    if !ready() || !require(have_program("python3"), "python3 is not installed") {
        return;
    }
    let d = Daemon::start();
    let tar = busybox_tar(d.dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let _server = Killed(
        Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(d.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m http.server"),
    );
    let url = format!(
        "http://127.0.0.1:{port}/{}",
        tar.file_name().and_then(|n| n.to_str()).expect("name")
    );
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "http.server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let id = ok(
        d.docker(&["import", &url, "fromurl:1"]),
        "docker import URL",
    );
    assert!(id.trim().starts_with("sha256:"), "{id}");
    let comment = ok(
        d.berth(&["image", "inspect", "-f", "{{.Comment}}", "fromurl:1"]),
        "inspect",
    );
    assert_eq!(comment.trim(), format!("Imported from {url}"));
    let o = d.docker(&["import", &format!("http://127.0.0.1:{port}/missing.tar")]);
    fails_with(&o, "404");
}

#[test]
fn docker_py_drives_the_image_api() {
    let have_docker_py = Command::new("/usr/bin/python3")
        .args(["-c", "import docker"])
        .status()
        .is_ok_and(|s| s.success());
    if !ready()
        || !require(
            have_docker_py,
            "python3-docker (docker-py) is not installed",
        )
    {
        return;
    }
    let (d, _) = daemon_with_busybox();
    let saved = d.dir.path().join("saved.tar");
    ok(
        d.docker(&["save", "-o", saved.to_str().expect("utf-8"), "busybox"]),
        "docker save",
    );
    ok(d.docker(&["rmi", "busybox"]), "docker rmi");
    // Events from here on are docker-py's.
    let script = berth_e2e::workspace_root().join("tests/clients/docker_py_images.py");
    let out = ok(
        Command::new("/usr/bin/python3")
            .arg(script)
            .arg(d.sock())
            .arg(&saved)
            .output()
            .expect("run docker-py"),
        "docker-py",
    );
    assert_eq!(out.trim(), "docker-py: ok");
}

#[test]
fn restart_after_kill_9_keeps_the_images() {
    if !ready() {
        return;
    }
    let (mut d, id) = daemon_with_busybox();
    d.kill9_and_restart();
    let after = ok(d.berth(&["images", "-q", "--no-trunc"]), "berth images");
    assert_eq!(after.trim(), id.trim());
    assert!(d.sock().exists());
}
