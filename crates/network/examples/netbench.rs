//! TCP throughput into a container: from the host directly to the
//! container's address, through a port published by berth (nft DNAT, on
//! 127.0.0.1 and on the host's address) and through docker's userland
//! proxy (`docker-proxy`, when installed); and from a client namespace
//! behind a plain veth (like another machine) directly and through the
//! published port. Run as root by bench/network/run.sh; everything it
//! creates carries its pid and is removed at the end.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use berth_network::{AttachRequest, Config, NetworkManager, NetworkSpec, PortRequest, Proto};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

struct Proxy(Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Cleanup(NetworkManager);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Err(e) = self.0.destroy_all() {
            eprintln!("netbench: cleanup: {e}");
        }
    }
}

/// A sink inside the namespace: reads each connection to EOF, then
/// answers one byte so the sender knows everything arrived.
fn start_sink(ns_path: &str, port: u16) -> Res<()> {
    let f = std::fs::File::open(ns_path)?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let listener = nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(std::io::Error::from)
            .and_then(|()| TcpListener::bind(("0.0.0.0", port)));
        let listener = match listener {
            Ok(l) => {
                let _ = tx.send(Ok(()));
                l
            }
            Err(e) => {
                let _ = tx.send(Err(e.to_string()));
                return;
            }
        };
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut conn = conn;
                let mut buf = vec![0u8; 1 << 20];
                while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
                let _ = conn.write_all(b"k");
            });
        }
    });
    rx.recv()?.map_err(|e| format!("sink: {e}"))?;
    Ok(())
}

/// Sends `bytes` to `to` and returns MB/s (until the sink acknowledged).
fn send(to: SocketAddr, bytes: u64) -> Res<f64> {
    let buf = vec![0x5au8; 1 << 20];
    let start = Instant::now();
    let mut c = retry_connect(to)?;
    let mut left = bytes;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        c.write_all(&buf[..n])?;
        left -= n as u64;
    }
    c.shutdown(std::net::Shutdown::Write)?;
    let mut ack = [0u8; 1];
    c.read_exact(&mut ack)?;
    Ok(bytes as f64 / 1e6 / start.elapsed().as_secs_f64())
}

fn retry_connect(to: SocketAddr) -> Res<TcpStream> {
    let mut last = None;
    for _ in 0..50 {
        match TcpStream::connect_timeout(&to, Duration::from_secs(2)) {
            Ok(c) => return Ok(c),
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("connect {to}: {last:?}").into())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs `send` on a thread inside the namespace at `ns` (None: here).
fn send_from(ns: Option<&str>, to: SocketAddr, bytes: u64) -> Res<f64> {
    let Some(ns) = ns else {
        return send(to, bytes);
    };
    let f = std::fs::File::open(ns)?;
    std::thread::spawn(move || -> Result<f64, String> {
        nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| e.to_string())?;
        send(to, bytes).map_err(|e| e.to_string())
    })
    .join()
    .map_err(|_| "sender thread panicked")?
    .map_err(Into::into)
}

/// A "remote" client: a namespace joined to the host by a plain veth
/// pair (no bridge), `10.250.N.2/30` inside, `10.250.N.1/30` on the host,
/// default route through the host. Its traffic to a published port meets
/// the DNAT in prerouting, as traffic from another machine would.
fn remote_client(ns: &Netns, pid: u32) -> Res<IpAddr> {
    use berth_network::netlink::{open_netns, Netlink, VethSpec};
    let n = (pid % 250) as u8;
    let host_ip = IpAddr::from([10, 250, n, 1]);
    let f = open_netns(std::path::Path::new(&format!("/run/netns/{}", ns.0)))?;
    let host_end = format!("xo{:x}", pid & 0xfffff);
    let mut nl = Netlink::open()?;
    nl.create_veth(&VethSpec {
        host: &host_end,
        peer: "eth0",
        peer_ns: Some(&f),
        ..Default::default()
    })?;
    let h = nl.link_by_name(&host_end)?.ok_or("host veth missing")?;
    nl.add_address(h.index, host_ip, 30)?;
    nl.set_up(h.index, true)?;
    let mut inside = Netlink::open_in(&f)?;
    for l in inside.links()? {
        if l.name == "lo" || l.name == "eth0" {
            inside.set_up(l.index, true)?;
        }
        if l.name == "eth0" {
            inside.add_address(l.index, IpAddr::from([10, 250, n, 2]), 30)?;
            inside.add_default_route(l.index, host_ip)?;
        }
    }
    Ok(host_ip)
}

fn host_addr() -> Option<IpAddr> {
    let out = Command::new("ip")
        .args(["-4", "-o", "route", "get", "192.0.2.123"])
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut words = s.split_whitespace();
    words.find(|w| *w == "src")?;
    words.next()?.parse().ok()
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let mib: u64 = args.get(1).map_or(Ok(512), |s| s.parse())?;
    let runs: usize = args.get(2).map_or(Ok(5), |s| s.parse())?;
    let bytes = mib << 20;
    let pid = std::process::id();

    let state = std::env::temp_dir().join(format!("berth-netbench-{pid}"));
    let mut cfg = Config::new(&state);
    cfg.prefix = format!("nb{:x}", pid & 0xfffff);
    cfg.nft_table = format!("berth_bench_{pid}");
    cfg.dns_upstreams = Some(vec![]);
    let mgr = Cleanup(NetworkManager::open(cfg)?);
    let ns = Netns(format!("berthbench{pid}"));
    let st = Command::new("ip").args(["netns", "add", &ns.0]).status()?;
    if !st.success() {
        return Err("ip netns add failed".into());
    }
    let ns_path = format!("/run/netns/{}", ns.0);
    mgr.0.create(NetworkSpec {
        name: "bench".into(),
        ..Default::default()
    })?;
    // An attach without ports: only netlink work (veth into the namespace,
    // addresses, routes), detached again right away.
    let plain = Netns(format!("berthbenchp{pid}"));
    Command::new("ip")
        .args(["netns", "add", &plain.0])
        .status()?;
    let plain_path = format!("/run/netns/{}", plain.0);
    let t = Instant::now();
    mgr.0.attach(AttachRequest {
        network: "bench",
        container_id: "plainplainplain",
        name: "plain",
        aliases: vec![],
        netns: std::path::Path::new(&plain_path),
        ifname: None,
        ipv4: None,
        ipv6: None,
        mac: None,
        ports: vec![],
        dns_servers: vec![],
    })?;
    let plain_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    mgr.0.detach("bench", "plainplainplain")?;
    let detach_ms = t.elapsed().as_secs_f64() * 1e3;

    let t = Instant::now();
    let ep = mgr.0.attach(AttachRequest {
        network: "bench",
        container_id: "benchbenchbench",
        name: "sink",
        aliases: vec![],
        netns: std::path::Path::new(&ns_path),
        ifname: None,
        ipv4: None,
        ipv6: None,
        mac: None,
        ports: vec![PortRequest {
            proto: Proto::Tcp,
            host_ip: None,
            host_port: 0,
            host_port_end: 0,
            container_port: 5001,
        }],
        dns_servers: vec![],
    })?;
    let attach_ms = t.elapsed().as_secs_f64() * 1e3;
    start_sink(&ns_path, 5001)?;
    let published = ep.ports[0].host_port;

    // (name, target, namespace to send from, index of the path it is
    // compared with)
    let mut paths: Vec<(String, SocketAddr, Option<String>, usize)> = vec![
        (
            "host: direct container ip".into(),
            SocketAddr::new(ep.ipv4.addr, 5001),
            None,
            0,
        ),
        (
            "host: published 127.0.0.1".into(),
            SocketAddr::new([127, 0, 0, 1].into(), published),
            None,
            0,
        ),
    ];
    if let Some(h) = host_addr() {
        paths.push((
            "host: published host ip".into(),
            SocketAddr::new(h, published),
            None,
            0,
        ));
    }
    let remote = Netns(format!("berthbenchr{pid}"));
    Command::new("ip")
        .args(["netns", "add", &remote.0])
        .status()?;
    let remote_gw = remote_client(&remote, pid)?;
    let remote_path = Some(format!("/run/netns/{}", remote.0));
    let first_remote = paths.len();
    paths.push((
        "remote: direct container ip".into(),
        SocketAddr::new(ep.ipv4.addr, 5001),
        remote_path.clone(),
        first_remote,
    ));
    paths.push((
        "remote: published host ip".into(),
        SocketAddr::new(remote_gw, published),
        remote_path,
        first_remote,
    ));
    let _proxy = if std::path::Path::new("/usr/sbin/docker-proxy").exists() {
        let port = published.wrapping_add(1);
        // docker-proxy reports readiness on fd 3 and closes it; without
        // an fd 3 it would close its own listening socket.
        let child = Command::new("sh")
            .args(["-c", "exec /usr/sbin/docker-proxy \"$@\" 3>/dev/null", "sh"])
            .args([
                "-proto",
                "tcp",
                "-host-ip",
                "127.0.0.1",
                "-host-port",
                &port.to_string(),
            ])
            .args([
                "-container-ip",
                &ep.ipv4.addr.to_string(),
                "-container-port",
                "5001",
            ])
            .spawn()?;
        paths.push((
            "host: docker-proxy 127.0.0.1".into(),
            SocketAddr::new([127, 0, 0, 1].into(), port),
            None,
            0,
        ));
        Some(Proxy(child))
    } else {
        None
    };

    println!("attach without ports (veth, addresses, routes): {plain_ms:.2} ms");
    println!("attach with a published port (+ nft transaction): {attach_ms:.2} ms");
    println!("detach without ports (veth deleted): {detach_ms:.2} ms");
    println!("{} MiB per run, median of {runs} runs", mib);
    for (_, addr, ns, _) in &paths {
        send_from(ns.as_deref(), *addr, 16 << 20)?; // warm up (ARP, conntrack, proxy)
    }
    // Round-robin over the paths, so that load from elsewhere on the
    // machine spreads over all of them alike.
    let mut rates = vec![Vec::new(); paths.len()];
    for _ in 0..runs {
        for (i, (_, addr, ns, _)) in paths.iter().enumerate() {
            rates[i].push(send_from(ns.as_deref(), *addr, bytes)?);
        }
    }
    let medians: Vec<f64> = rates.into_iter().map(median).collect();
    for ((name, _, _, base), m) in paths.iter().zip(&medians) {
        println!(
            "{name:<30} {m:>9.0} MB/s  {:>5.1}% of direct",
            100.0 * m / medians[*base]
        );
    }
    Ok(())
}
