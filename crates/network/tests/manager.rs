//! NetworkManager on the real kernel: containers are named network
//! namespaces of our own, the manager uses a private state dir, link
//! prefix and nft table, and everything is checked gone at the end.

mod common;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Instant;

use berth_network::dns::message;
use berth_network::{AttachRequest, NetworkSpec, PortRequest, Proto, SubnetSpec};
use common::{can_run, http_get, nft_table_exists, run, Fixture, Netns};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn spec(name: &str, subnet: &str) -> NetworkSpec {
    NetworkSpec {
        name: name.into(),
        ipv4: SubnetSpec {
            subnet: Some(subnet.parse().expect("test subnet")),
            ..Default::default()
        },
        dns: true,
        ..Default::default()
    }
}

fn attach<'a>(
    net: &'a str,
    id: &'a str,
    name: &'a str,
    ns: &'a Netns,
    path: &'a std::path::Path,
) -> AttachRequest<'a> {
    let _ = ns;
    AttachRequest {
        network: net,
        container_id: id,
        name,
        aliases: vec![format!("{name}-alias")],
        netns: path,
        ifname: None,
        ipv4: None,
        ipv6: None,
        mac: None,
        ports: vec![],
        dns_servers: vec![],
    }
}

/// A fake upstream resolver on loopback that answers every A query with
/// 192.0.2.99; stops when the test ends (the thread is detached and the
/// socket times out).
fn fake_upstream() -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind fake upstream");
    let addr = sock.local_addr().expect("addr");
    sock.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .ok();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        loop {
            // The test harness's signals interrupt reads with a timeout.
            let (n, peer) = match sock.recv_from(&mut buf) {
                Ok(x) => x,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            if let Ok(q) = message::Query::parse(&buf[..n]) {
                let r = message::response(
                    &buf[..n],
                    &q,
                    message::RCODE_NOERROR,
                    &[message::Rdata::Addr(ip("192.0.2.99"))],
                    5,
                );
                let _ = sock.send_to(&r, peer);
            }
        }
    });
    addr
}

#[test]
fn containers_reach_each_other_by_name() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new('a', vec![fake_upstream()]);
    let net = fx.mgr.create(spec("front", "10.232.0.0/24")).unwrap();
    assert_eq!(net.ipv4.gateway, ip("10.232.0.1"));
    let a = Netns::new("ma");
    let b = Netns::new("mb");
    let (pa, pb) = (a.path(), b.path());
    let id_a = "aaaaaaaaaaaa1111111111111111111111111111111111111111111111111111";
    let id_b = "bbbbbbbbbbbb2222222222222222222222222222222222222222222222222222";
    // alpha publishes port 53 on every host address: the embedded DNS on
    // the gateway must keep answering all the same.
    let mut req_a = attach("front", id_a, "alpha", &a, &pa);
    req_a.ports = [Proto::Udp, Proto::Tcp]
        .map(|proto| PortRequest {
            proto,
            host_ip: None,
            host_port: 53,
            host_port_end: 0,
            container_port: 5353,
        })
        .to_vec();
    let t = Instant::now();
    let ea = fx.mgr.attach(req_a).unwrap();
    eprintln!("attach took {:?}", t.elapsed());
    let t = Instant::now();
    let eb = fx
        .mgr
        .attach(attach("front", id_b, "beta", &b, &pb))
        .unwrap();
    eprintln!("attach took {:?}", t.elapsed());
    assert_eq!(ea.ipv4.addr, ip("10.232.0.2"));
    assert_eq!(eb.ipv4.addr, ip("10.232.0.3"));
    assert_eq!(ea.mac, "02:42:0a:e8:00:02");

    let ping = a.ping("10.232.0.3");
    assert!(
        ping.status.success(),
        "{}",
        String::from_utf8_lossy(&ping.stdout)
    );
    for name in ["beta", "beta-alias", "bbbbbbbbbbbb"] {
        let out = a.exec(&["busybox", "nslookup", name, "10.232.0.1"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("10.232.0.3"),
            "{name}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Names of other networks are not known here: forwarded upstream.
    if std::env::var("DEBUG_LOOP").is_ok() {
        for i in 0..30 {
            let t = Instant::now();
            let out = a.exec(&["busybox", "nslookup", "example.test", "10.232.0.1"]);
            let ok = String::from_utf8_lossy(&out.stdout).contains("192.0.2.99");
            eprintln!("try {i}: {ok} {:?}", t.elapsed());
            if !ok {
                eprintln!("{}", String::from_utf8_lossy(&out.stdout));
            }
        }
    }
    let out = a.exec(&["busybox", "nslookup", "example.test", "10.232.0.1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("192.0.2.99"), "forwarded: {text}");

    // Addresses survive a reload of the state; a duplicate attach conflicts.
    let again = fx
        .mgr
        .attach(attach("front", id_a, "alpha", &a, &pa))
        .unwrap_err();
    assert_eq!(again.kind(), berth_base::ErrorKind::Conflict);

    fx.mgr.detach("front", id_a).unwrap();
    fx.mgr.detach("front", id_b).unwrap();
    let out = a.exec(&["ip", "-o", "link"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("eth0"));
    fx.mgr.remove("front").unwrap();
    assert!(fx.our_links().is_empty(), "{:?}", fx.our_links());
    assert!(!nft_table_exists(&fx.table));
    assert!(!run("ip", &["-o", "addr"]).contains("10.232.0.1"));
}

#[test]
fn published_ports_reach_the_container() {
    if !can_run()
        || !berth_base::testenv::require(berth_base::testenv::have_program("nft"), "needs nft")
    {
        return;
    }
    let fx = Fixture::new('b', vec![]);
    fx.mgr.create(spec("pub", "10.233.0.0/24")).unwrap();
    let srv = Netns::new("ms");
    let cli = Netns::new("mc");
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("index.html"), "hello from berth\n").unwrap();
    let _httpd = srv.spawn(&[
        "busybox",
        "httpd",
        "-f",
        "-p",
        "8080",
        "-h",
        www.path().to_str().unwrap(),
    ]);
    let (ps, pc) = (srv.path(), cli.path());
    let mut req = attach("pub", "cccccccccccc", "web", &srv, &ps);
    req.ports = vec![PortRequest {
        proto: Proto::Tcp,
        host_ip: None,
        host_port: 0,
        host_port_end: 0,
        container_port: 8080,
    }];
    let t = Instant::now();
    let ep = fx.mgr.attach(req).unwrap();
    eprintln!("attach with a published port took {:?}", t.elapsed());
    fx.mgr
        .attach(attach("pub", "dddddddddddd", "client", &cli, &pc))
        .unwrap();
    let port = ep.ports[0].host_port;
    assert!(port >= 49153);

    // Directly, from the host on loopback, on the bridge address and on
    // the host's own addresses.
    let mut targets = vec![
        SocketAddr::new(ep.ipv4.addr, 8080),
        SocketAddr::new(ip("127.0.0.1"), port),
        SocketAddr::new(ip("10.233.0.1"), port),
    ];
    targets.extend(host_addrs().into_iter().map(|a| SocketAddr::new(a, port)));
    for addr in targets {
        let body = http_get(addr).unwrap();
        assert!(body.contains("hello from berth"), "{addr}: {body}");
    }
    // From another container and from the container itself through the
    // host address (hairpin).
    // (busybox wget crashes under `ip netns exec` here; nc does the job.)
    let get = format!(
        "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 10.233.0.1 {port}"
    );
    for ns in [&cli, &srv] {
        let out = ns.exec(&["sh", "-c", &get]);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("hello from berth"),
            "{}: {}",
            ns.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A second binding of the same host port conflicts.
    let mut dup = attach("pub", "eeeeeeeeeeee", "dup", &cli, &pc);
    dup.ports = vec![PortRequest {
        proto: Proto::Tcp,
        host_ip: None,
        host_port: port,
        host_port_end: 0,
        container_port: 80,
    }];
    assert_eq!(
        fx.mgr.attach(dup).unwrap_err().kind(),
        berth_base::ErrorKind::Conflict
    );

    fx.mgr.detach("pub", "cccccccccccc").unwrap();
    let listing = run("nft", &["list", "table", "inet", &fx.table]);
    assert!(!listing.contains("dnat ip to"), "{listing}");
    assert!(http_get(SocketAddr::new(ip("127.0.0.1"), port)).is_err());
    fx.mgr.detach_all("dddddddddddd").unwrap();
    fx.mgr.remove("pub").unwrap();
    assert!(!nft_table_exists(&fx.table));
    assert!(fx.our_links().is_empty(), "{:?}", fx.our_links());
}

/// The host's global IPv4 addresses outside the test subnets.
fn host_addrs() -> Vec<IpAddr> {
    run("ip", &["-4", "-o", "addr", "show", "scope", "global"])
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3)?.split('/').next()?.parse().ok())
        .filter(|a: &IpAddr| !a.to_string().starts_with("10.23"))
        .collect()
}

/// A UDP echo server inside `ns`, on a thread that entered the namespace.
fn udp_echo(ns: &Netns, port: u16) {
    let f = std::fs::File::open(ns.path()).expect("open netns");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        // Dual-stack: IPv4 arrives as mapped addresses.
        let s = UdpSocket::bind(("::", port)).expect("bind echo");
        s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .ok();
        tx.send(()).expect("ready");
        let mut buf = [0u8; 64];
        loop {
            let (n, peer) = match s.recv_from(&mut buf) {
                Ok(x) => x,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            let mut reply = b"echo:".to_vec();
            reply.extend_from_slice(&buf[..n]);
            let _ = s.send_to(&reply, peer);
        }
    });
    rx.recv().expect("echo server ready");
}

/// `recv` that rides out the test harness's signals.
fn recv_retry(s: &UdpSocket, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match s.recv(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

fn udp_ask(to: SocketAddr) -> Option<String> {
    let s = UdpSocket::bind(if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .ok()?;
    for _ in 0..5 {
        s.send_to(b"hi", to).ok()?;
        let mut buf = [0u8; 64];
        if let Ok(n) = s.recv(&mut buf) {
            return Some(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    None
}

#[test]
fn udp_port_ranges_and_host_ip() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new('f', vec![]);
    fx.mgr.create(spec("udp", "10.238.0.0/24")).unwrap();
    let ns = Netns::new("mu");
    let p = ns.path();
    udp_echo(&ns, 5300);
    let mut req = attach("udp", "121212121212", "u", &ns, &p);
    req.ports = vec![
        PortRequest {
            proto: Proto::Udp,
            host_ip: None,
            host_port: 0,
            host_port_end: 0,
            container_port: 5300,
        },
        PortRequest {
            proto: Proto::Udp,
            host_ip: Some(ip("127.0.0.1")),
            host_port: 40100,
            host_port_end: 40110,
            container_port: 5300,
        },
    ];
    let ep = fx.mgr.attach(req).unwrap();
    let (any, lo) = (ep.ports[0].host_port, ep.ports[1].host_port);
    assert!((40100..=40110).contains(&lo), "{lo}");
    assert_eq!(
        udp_ask(SocketAddr::new(ip("127.0.0.1"), any)).as_deref(),
        Some("echo:hi")
    );
    assert_eq!(
        udp_ask(SocketAddr::new(ip("10.238.0.1"), any)).as_deref(),
        Some("echo:hi")
    );
    assert_eq!(
        udp_ask(SocketAddr::new(ip("127.0.0.1"), lo)).as_deref(),
        Some("echo:hi")
    );
    // Bound to 127.0.0.1 only: not published on the bridge address.
    assert_eq!(udp_ask(SocketAddr::new(ip("10.238.0.1"), lo)), None);
    // A client that keeps its source port follows the port to a new
    // container: the old flow's conntrack entry went with the old one.
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .unwrap();
    let to = SocketAddr::new(ip("127.0.0.1"), any);
    client.send_to(b"1", to).unwrap();
    let mut buf = [0u8; 64];
    let n = recv_retry(&client, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"echo:1");
    fx.mgr.detach("udp", "121212121212").unwrap();
    assert_eq!(udp_ask(to), None);
    let ns2 = Netns::new("mv");
    let p2 = ns2.path();
    udp_echo(&ns2, 5300);
    let mut req = attach("udp", "343434343434", "v", &ns2, &p2);
    // Another address: the old flow could not reach it by chance.
    req.ipv4 = Some(ip("10.238.0.50"));
    req.ports = vec![PortRequest {
        proto: Proto::Udp,
        host_ip: None,
        host_port: any,
        host_port_end: 0,
        container_port: 5300,
    }];
    let ep2 = fx.mgr.attach(req).unwrap();
    assert_ne!(ep2.ipv4.addr, ep.ipv4.addr);
    client.send_to(b"2", to).unwrap();
    let n = recv_retry(&client, &mut buf).expect("the same client flow reaches the new container");
    assert_eq!(&buf[..n], b"echo:2");
}

#[test]
fn reconcile_after_a_crash_removes_leftovers() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new('c', vec![]);
    fx.mgr.create(spec("crash", "10.234.0.0/24")).unwrap();
    let ns = Netns::new("mr");
    let p = ns.path();
    let ep = fx
        .mgr
        .attach(attach("crash", "ffffffffffff", "gone", &ns, &p))
        .unwrap();
    let stray = format!("{}zz", fx.prefix);
    run("ip", &["link", "add", &stray, "type", "bridge"]);
    // "Crash": a second manager over the same state, as after a restart.
    let dir = fx.crash();
    let fx = Fixture::open_in(dir, 'c', vec![]);
    let removed = fx.mgr.reconcile(&|_| false).unwrap();
    assert!(removed.contains(&stray), "{removed:?}");
    let net = fx.mgr.inspect("crash").unwrap();
    assert!(net.endpoints.is_empty());
    assert!(!net.ipv4.allocated.contains(&ep.ipv4.addr));
    assert!(!common::link_exists(&ep.host_veth));
    assert!(!common::link_exists(&stray));
    // The address is free again.
    let again = fx
        .mgr
        .attach(attach("crash", "ffffffffffff", "back", &ns, &p))
        .unwrap();
    assert_eq!(again.ipv4.addr, ep.ipv4.addr);
}

#[test]
fn internal_networks_and_ipam_errors() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new('d', vec![]);
    let mut s = spec("inner", "10.235.0.0/24");
    s.internal = true;
    s.ipv6 = Some(SubnetSpec {
        subnet: Some("fd00:235::/64".parse().unwrap()),
        ..Default::default()
    });
    s.ipv4.ip_range = Some("10.235.0.128/25".parse().unwrap());
    fx.mgr.create(s).unwrap();
    assert_eq!(
        fx.mgr
            .create(spec("inner", "10.236.0.0/24"))
            .unwrap_err()
            .kind(),
        berth_base::ErrorKind::Conflict
    );
    assert_eq!(
        fx.mgr
            .create(spec("other", "10.235.0.0/16"))
            .unwrap_err()
            .kind(),
        berth_base::ErrorKind::Conflict
    );
    let ns = Netns::new("mi");
    let p = ns.path();
    let mut req = attach("inner", "999999999999", "i", &ns, &p);
    req.ipv4 = Some(ip("10.235.0.7"));
    udp_echo(&ns, 5400);
    req.ports = vec![PortRequest {
        proto: Proto::Udp,
        host_ip: None,
        host_port: 0,
        host_port_end: 0,
        container_port: 5400,
    }];
    let ep = fx.mgr.attach(req).unwrap();
    assert_eq!(ep.ipv4.addr, ip("10.235.0.7"));
    assert_eq!(ep.ipv6.map(|c| c.addr), Some(ip("fd00:235::2")));
    // No default route on an internal network, but the bridge is reachable.
    let routes = String::from_utf8_lossy(&ns.exec(&["ip", "route"]).stdout).into_owned();
    assert!(!routes.contains("default"), "{routes}");
    // Published on both families: through the bridge's v4 and v6 addresses.
    let port = ep.ports[0].host_port;
    assert_eq!(
        udp_ask(SocketAddr::new(ip("10.235.0.1"), port)).as_deref(),
        Some("echo:hi")
    );
    assert_eq!(
        udp_ask(SocketAddr::new(ip("fd00:235::1"), port)).as_deref(),
        Some("echo:hi")
    );
    let ping = ns.ping("10.235.0.1");
    assert!(ping.status.success());
    let ping6 = ns.ping("fd00:235::1");
    assert!(
        ping6.status.success(),
        "{}",
        String::from_utf8_lossy(&ping6.stdout)
    );
    assert_eq!(
        fx.mgr.remove("inner").unwrap_err().kind(),
        berth_base::ErrorKind::Conflict
    );
    fx.mgr.detach("inner", "999999999999").unwrap();
    fx.mgr.remove("inner").unwrap();
    assert!(fx.our_links().is_empty());
}

#[test]
fn default_bridge_and_a_second_network() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new('g', vec![]);
    let def = fx.mgr.ensure_default().unwrap();
    assert_eq!(def.name, "bridge");
    assert_eq!(def.bridge, format!("{}0", fx.prefix));
    assert!(!def.dns);
    // Docker's subnet unless the host already routes it (a daemon running
    // beside the test); then one from the pool.
    let s = def.ipv4.subnet.to_string();
    assert!(
        s == "172.17.0.0/16" || s.starts_with("172.") || s.starts_with("192.168."),
        "{s}"
    );
    assert_eq!(fx.mgr.ensure_default().unwrap().id, def.id, "idempotent");
    fx.mgr.create(spec("second", "10.239.0.0/24")).unwrap();

    let ns = Netns::new("md");
    let p = ns.path();
    let id = "131313131313";
    let first = fx
        .mgr
        .attach(attach("bridge", id, "multi", &ns, &p))
        .unwrap();
    let mut req = attach("second", id, "multi", &ns, &p);
    req.ifname = Some("eth1");
    let second = fx.mgr.attach(req).unwrap();
    let routes = String::from_utf8_lossy(&ns.exec(&["ip", "route"]).stdout).into_owned();
    assert!(
        routes.contains(&format!("default via {} dev eth0", first.gateway4)),
        "{routes}"
    );
    assert!(routes.contains("10.239.0.0/24 dev eth1"), "{routes}");
    for gw in [first.gateway4, second.gateway4] {
        let ping = ns.ping(&gw.to_string());
        assert!(ping.status.success(), "ping {gw}");
    }
    fx.mgr.detach_all(id).unwrap();
    assert!(fx.mgr.list().iter().all(|n| n.endpoints.is_empty()));
    fx.mgr.remove("second").unwrap();
    fx.mgr.remove("bridge").unwrap();
    assert!(fx.our_links().is_empty(), "{:?}", fx.our_links());
}

#[test]
fn a_failed_create_leaves_nothing() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new('j', vec![]);
    // An interface of another kind holds the bridge name.
    let taken = format!("{}x", fx.prefix);
    let peer = format!("{}y", fx.prefix);
    let _guard = common::LinkGuard(taken.clone());
    run(
        "ip",
        &["link", "add", &taken, "type", "veth", "peer", "name", &peer],
    );
    let mut s = spec("clash", "10.242.0.0/24");
    s.bridge = Some(taken.clone());
    let err = fx.mgr.create(s).unwrap_err();
    assert_eq!(err.kind(), berth_base::ErrorKind::Conflict, "{err}");
    assert!(fx.mgr.list().is_empty());
    let files: Vec<_> = std::fs::read_dir(fx.state_dir().join("networks"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(files.is_empty(), "{files:?}");
    assert!(!run("ip", &["-o", "addr"]).contains("10.242.0.1"));
}

#[test]
fn release_leaves_the_veth_to_the_kernel() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new('k', vec![]);
    fx.mgr.create(spec("rel", "10.243.0.0/24")).unwrap();
    let ns = Netns::new("mk");
    let p = ns.path();
    let ep = fx
        .mgr
        .attach(attach("rel", "565656565656", "r", &ns, &p))
        .unwrap();
    drop(ns);
    let t = Instant::now();
    fx.mgr.release_all("565656565656").unwrap();
    eprintln!("release took {:?}", t.elapsed());
    assert!(fx.mgr.inspect("rel").unwrap().endpoints.is_empty());
    // The namespace is gone, so the kernel takes the pair down soon.
    for _ in 0..100 {
        if !common::link_exists(&ep.host_veth) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!common::link_exists(&ep.host_veth));
    let ns2 = Netns::new("mk");
    let p2 = ns2.path();
    let again = fx
        .mgr
        .attach(attach("rel", "787878787878", "s", &ns2, &p2))
        .unwrap();
    assert_eq!(again.ipv4.addr, ep.ipv4.addr, "the address was freed");
}
