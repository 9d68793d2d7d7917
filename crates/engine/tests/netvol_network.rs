//! The engine's network service on the real kernel: a user-defined
//! network with two containers that resolve and reach each other, a
//! published port reached from the host on 127.0.0.1 and on the host's
//! own address, `none` and `container:` modes, and nothing left behind.
//! The "containers" are network namespaces made by the service with
//! busybox run inside them through nsenter.

use berth_base::testenv::{have_program, is_root, require};
use berth_engine::network::CreateRequest;
use berth_engine::{Config, Engine};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Fixture {
    engine: Engine,
    ids: Vec<String>,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = self.engine.networks().container_remove(id);
        }
        let _ = self.engine.networks().destroy_all();
    }
}

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn can_run() -> bool {
    require(is_root(), "network tests need root")
        && require(have_program("busybox"), "network tests need busybox")
        && require(have_program("nsenter"), "network tests need nsenter")
}

fn fixture() -> Fixture {
    let data = tempfile::tempdir().expect("tempdir");
    let exec = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(Config {
        data_root: data.path().to_owned(),
        exec_root: exec.path().to_owned(),
    })
    .expect("open engine");
    Fixture {
        engine,
        ids: Vec::new(),
        _dirs: (data, exec),
    }
}

fn cid(n: u8) -> String {
    format!("{:02x}{:054x}{:08x}", n, 0, std::process::id())
}

fn in_ns(ns: &Path, args: &[&str]) -> std::process::Output {
    let net = format!("--net={}", ns.display());
    Command::new("nsenter")
        .arg(&net)
        .arg("busybox")
        .args(args)
        .output()
        .expect("nsenter")
}

fn create(f: &mut Fixture, n: u8, name: &str, hc: Value, nc: Value) -> String {
    let id = cid(n);
    f.ids.push(id.clone());
    let nets = f.engine.networks().clone();
    f.engine
        .networks()
        .container_create(
            &id,
            name,
            &json!({"ExposedPorts": {"80/tcp": {}}}),
            &hc,
            &nc,
            &|x| nets.resolve_container(x).ok(),
        )
        .expect("container create");
    id
}

fn http_get(addr: &str) -> String {
    for _ in 0..50 {
        if let Ok(mut c) = std::net::TcpStream::connect(addr) {
            c.set_read_timeout(Some(Duration::from_secs(3))).ok();
            if c.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").is_ok() {
                let mut s = String::new();
                let _ = c.read_to_string(&mut s);
                if s.contains("200") {
                    return s;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no answer from {addr}");
}

fn host_address() -> Option<String> {
    let out = Command::new("ip")
        .args(["-4", "-o", "route", "get", "1.1.1.1"])
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut w = s.split_whitespace();
    while let Some(x) = w.next() {
        if x == "src" {
            return w.next().map(str::to_owned);
        }
    }
    None
}

#[test]
fn user_network_names_ports_and_cleanup() {
    if !can_run() {
        return;
    }
    let mut f = fixture();
    let net = format!("nv{}", std::process::id());
    let nid = f
        .engine
        .networks()
        .create(CreateRequest {
            name: net.clone(),
            labels: [("t".to_string(), "1".to_string())].into(),
            ..Default::default()
        })
        .expect("network create");
    let a = create(&mut f, 1, "alpha", json!({"NetworkMode": net}), json!({}));
    let b = create(
        &mut f,
        2,
        "beta",
        json!({"NetworkMode": net}),
        json!({"EndpointsConfig": {net.clone(): {"Aliases": ["bee"]}}}),
    );
    let na = f.engine.networks().container_start(&a).expect("start a");
    let nb = f.engine.networks().container_start(&b).expect("start b");
    let (pa, pb) = (na.netns.expect("netns a"), nb.netns.expect("netns b"));

    let sb = f.engine.networks().container_settings(&b).unwrap();
    let ipb = sb["Networks"][&net]["IPAddress"]
        .as_str()
        .unwrap()
        .to_owned();
    let gw = sb["Networks"][&net]["Gateway"].as_str().unwrap().to_owned();
    assert_eq!(sb["Networks"][&net]["NetworkID"], nid);
    assert_eq!(sb["Networks"][&net]["Aliases"], json!(["bee"]));
    assert!(sb["SandboxKey"].as_str().unwrap().ends_with(&b));

    // The files point at the embedded DNS, which knows names and aliases.
    let rc = std::fs::read_to_string(&na.resolv_conf).unwrap();
    assert!(rc.contains(&format!("nameserver {gw}")), "{rc}");
    let hosts = std::fs::read_to_string(&nb.hosts).unwrap();
    assert!(hosts.contains(&ipb), "{hosts}");
    for name in ["beta", "bee", &b[..12]] {
        let out = in_ns(&pa, &["nslookup", name, &gw]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(&ipb), "nslookup {name}: {text}");
    }
    // A few tries: a new link's first packets can be lost while it comes up.
    let answered = (0..10).any(|_| {
        in_ns(&pa, &["ping", "-c", "1", "-W", "2", &ipb])
            .status
            .success()
    });
    assert!(answered, "no answer to 10 pings of {ipb}");

    // `network inspect` lists both; rm is refused while they are attached.
    let r = f.engine.networks().inspect(&net).unwrap();
    assert_eq!(r.containers.len(), 2);
    assert_eq!(r.containers[&a].name, "alpha");
    let err = f.engine.networks().remove(&net).unwrap_err();
    assert_eq!(err.kind(), berth_base::ErrorKind::Conflict);

    // A published port on the default bridge, reached from the host.
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("index.html"), "hello from berth\n").unwrap();
    let c = create(
        &mut f,
        3,
        "web",
        json!({"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": ""}]}}),
        json!({}),
    );
    let nc = f.engine.networks().container_start(&c).expect("start c");
    let pc = nc.netns.expect("netns c");
    let _httpd = Kill(
        Command::new("nsenter")
            .arg(format!("--net={}", pc.display()))
            .args(["busybox", "httpd", "-f", "-p", "80", "-h"])
            .arg(www.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("httpd"),
    );
    let sc = f.engine.networks().container_settings(&c).unwrap();
    let port = sc["Ports"]["80/tcp"][0]["HostPort"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(sc["Networks"]["bridge"]["IPAddress"], sc["IPAddress"]);
    assert!(http_get(&format!("127.0.0.1:{port}")).contains("hello from berth"));
    if let Some(host) = host_address() {
        assert!(http_get(&format!("{host}:{port}")).contains("hello from berth"));
    }

    // Stop (the container's processes are gone first, as at a real stop):
    // links go, the network can be removed, nothing of ours stays but the
    // default bridge.
    drop(_httpd);
    for id in [&a, &b, &c] {
        f.engine.networks().container_stop(id).expect("stop");
    }
    assert!(!pa.exists() && !pb.exists());
    f.engine.networks().remove(&net).expect("network rm");
    let prefix = berth_engine::network::kernel_names(f._dirs.1.path()).0;
    let ours = || -> Vec<String> {
        let links = Command::new("ip").args(["-o", "link"]).output().unwrap();
        String::from_utf8_lossy(&links.stdout)
            .lines()
            .filter_map(|l| l.split(':').nth(1))
            .map(|n| n.trim().split('@').next().unwrap_or("").to_owned())
            .filter(|n| n.starts_with(&prefix))
            .collect()
    };
    // The kernel drops a veth with its namespace, in the background.
    for _ in 0..100 {
        if ours().len() == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(ours(), vec![format!("{prefix}0")]);
}

#[test]
fn none_host_and_container_modes() {
    if !can_run() {
        return;
    }
    let mut f = fixture();
    let a = create(
        &mut f,
        4,
        "lonely",
        json!({"NetworkMode": "none"}),
        json!({}),
    );
    let na = f.engine.networks().container_start(&a).expect("start none");
    let pa = na.netns.expect("none has a namespace");
    let links = in_ns(&pa, &["ip", "-o", "link"]);
    let text = String::from_utf8_lossy(&links.stdout);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("lo:") && text.contains("UP"), "{text}");
    let s = f.engine.networks().container_settings(&a).unwrap();
    assert!(s["Networks"]["none"].is_object());

    let h = create(
        &mut f,
        5,
        "hosty",
        json!({"NetworkMode": "host"}),
        json!({}),
    );
    assert_eq!(f.engine.networks().container_start(&h).unwrap().netns, None);
    let hn = f.engine.networks().inspect("host").unwrap();
    assert!(hn.containers.contains_key(&h));

    let c = create(
        &mut f,
        6,
        "joiner",
        json!({"NetworkMode": "container:lonely"}),
        json!({}),
    );
    let nc = f
        .engine
        .networks()
        .container_start(&c)
        .expect("start joiner");
    assert_eq!(nc.netns.as_deref(), Some(pa.as_path()));

    // An unknown network is refused at create, an alias on the default
    // bridge too.
    let nets = f.engine.networks().clone();
    let bad = nets.container_create(
        &cid(7),
        "x",
        &json!({}),
        &json!({"NetworkMode": "nope"}),
        &json!({}),
        &|_| None,
    );
    assert_eq!(bad.unwrap_err().kind(), berth_base::ErrorKind::NotFound);
    let bad = nets.container_create(
        &cid(7),
        "x",
        &json!({}),
        &json!({}),
        &json!({"EndpointsConfig": {"bridge": {"Aliases": ["y"]}}}),
        &|_| None,
    );
    assert_eq!(bad.unwrap_err().kind(), berth_base::ErrorKind::Invalid);
}
