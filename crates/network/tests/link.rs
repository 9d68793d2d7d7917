//! Bridges and veth pairs on the real kernel, inside namespaces of our own.

mod common;

use std::net::IpAddr;
use std::time::Instant;

use berth_network::link::{self, ContainerLink};
use berth_network::netlink::{open_netns, Netlink};
use common::{can_run, link_exists, run, unique, LinkGuard, Netns};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

#[test]
fn two_namespaces_on_a_bridge_reach_each_other() {
    if !can_run() {
        return;
    }
    let bridge = unique("tb");
    let _bg = LinkGuard(bridge.clone());
    let mut nl = Netlink::open().unwrap();
    let br = link::ensure_bridge(
        &mut nl,
        &bridge,
        &[(ip("10.231.7.1"), 24), (ip("fd00:e7::1"), 64)],
        None,
    )
    .unwrap();
    // Idempotent: a second call keeps the bridge and its addresses.
    assert_eq!(
        link::ensure_bridge(&mut nl, &bridge, &[(ip("10.231.7.1"), 24)], None).unwrap(),
        br
    );

    let a = Netns::new("ta");
    let b = Netns::new("tn");
    for (i, ns) in [&a, &b].into_iter().enumerate() {
        let host = unique("tv");
        let _g = LinkGuard(host.clone());
        let v4 = format!("10.231.7.{}", i + 2);
        let f = open_netns(&ns.path()).unwrap();
        let start = Instant::now();
        link::plug(
            &mut nl,
            &f,
            &ContainerLink {
                bridge: br,
                host_name: &host,
                ifname: "eth0",
                mac: link::mac_for(v4.parse().unwrap()),
                mtu: Some(1400),
                addrs: vec![(ip(&v4), 24), (ip(&format!("fd00:e7::{}", i + 2)), 64)],
                gateways: vec![ip("10.231.7.1")],
            },
        )
        .unwrap();
        eprintln!("plug took {:?}", start.elapsed());
        std::mem::forget(_g);
        let show =
            String::from_utf8_lossy(&ns.exec(&["ip", "-o", "addr", "show", "dev", "eth0"]).stdout)
                .into_owned();
        assert!(show.contains(&format!("{v4}/24")), "{show}");
        let l =
            String::from_utf8_lossy(&ns.exec(&["ip", "-o", "link", "show", "dev", "eth0"]).stdout)
                .into_owned();
        assert!(
            l.contains("mtu 1400")
                && l.contains(&link::format_mac(link::mac_for(v4.parse().unwrap()))),
            "{l}"
        );
        let r = String::from_utf8_lossy(&ns.exec(&["ip", "route"]).stdout).into_owned();
        assert!(r.contains("default via 10.231.7.1 dev eth0"), "{r}");
        assert!(link_exists(&host));
    }
    let ping = a.ping("10.231.7.3");
    assert!(
        ping.status.success(),
        "{}",
        String::from_utf8_lossy(&ping.stdout)
    );
    let ping = b.ping("10.231.7.1");
    assert!(
        ping.status.success(),
        "ping the gateway: {}",
        String::from_utf8_lossy(&ping.stdout)
    );
    let ping6 = a.ping("fd00:e7::3");
    assert!(
        ping6.status.success(),
        "{}",
        String::from_utf8_lossy(&ping6.stdout)
    );

    assert!(link::delete_link(&mut nl, &bridge).unwrap());
    assert!(!link::delete_link(&mut nl, &bridge).unwrap());
    assert!(!link_exists(&bridge));
    drop(a);
    drop(b);
    let links = run("ip", &["-o", "link"]);
    assert!(!links.contains(&bridge), "{links}");
}

#[test]
fn a_failed_plug_leaves_no_veth() {
    if !can_run() {
        return;
    }
    let bridge = unique("tb");
    let _bg = LinkGuard(bridge.clone());
    let mut nl = Netlink::open().unwrap();
    let br = link::ensure_bridge(&mut nl, &bridge, &[], None).unwrap();
    let ns = Netns::new("tf");
    let host = unique("tv");
    let _g = LinkGuard(host.clone());
    let f = open_netns(&ns.path()).unwrap();
    let c = ContainerLink {
        bridge: br,
        host_name: &host,
        ifname: "eth0",
        mac: [2, 0x42, 0, 0, 0, 9],
        mtu: None,
        // The same address twice: the second add fails with EEXIST.
        addrs: vec![(ip("10.231.8.2"), 24), (ip("10.231.8.2"), 24)],
        gateways: vec![],
    };
    let err = link::plug(&mut nl, &f, &c).unwrap_err();
    assert_eq!(err.kind(), berth_base::ErrorKind::Conflict, "{err}");
    assert!(!link_exists(&host));
}

#[test]
fn named_namespaces_made_by_berth() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ns").join(unique("nn"));
    berth_network::netns::create(&path).unwrap();
    struct Remove<'a>(&'a std::path::Path);
    impl Drop for Remove<'_> {
        fn drop(&mut self) {
            let _ = berth_network::netns::remove(self.0);
        }
    }
    let _guard = Remove(&path);
    assert!(berth_network::netns::is_bound(&path));
    assert!(
        berth_network::netns::create(&path).is_err(),
        "exists already"
    );
    // A veth can be plugged in before any process lives in it, and lo is up.
    let bridge = unique("tb");
    let _bg = LinkGuard(bridge.clone());
    let mut nl = Netlink::open().unwrap();
    let br = link::ensure_bridge(&mut nl, &bridge, &[(ip("10.231.9.1"), 24)], None).unwrap();
    let host = unique("tv");
    let _g = LinkGuard(host.clone());
    let f = open_netns(&path).unwrap();
    link::plug(
        &mut nl,
        &f,
        &ContainerLink {
            bridge: br,
            host_name: &host,
            ifname: "eth0",
            mac: [2, 0x42, 10, 231, 9, 2],
            mtu: None,
            addrs: vec![(ip("10.231.9.2"), 24)],
            gateways: vec![],
        },
    )
    .unwrap();
    let mut inside = Netlink::open_in(&f).unwrap();
    let links = inside.links().unwrap();
    assert!(links.iter().any(|l| l.name == "lo" && l.up), "{links:?}");
    assert!(links.iter().any(|l| l.name == "eth0" && l.up), "{links:?}");
    drop(f);
    berth_network::netns::remove(&path).unwrap();
    assert!(!path.exists());
    assert!(!berth_network::netns::is_bound(&path));
    berth_network::netns::remove(&path).unwrap();
    // With the namespace gone its veth end went too, and so did the pair.
    drop(inside);
    for _ in 0..50 {
        if !link_exists(&host) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!link_exists(&host));
}

#[test]
fn pooled_namespaces_are_fresh_and_never_left_behind() {
    if !can_run() {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let ns = dir.path().join("ns");
    // What a killed daemon left: a bound namespace under the pool's name.
    let leftover = ns.join(".pool-1-0");
    berth_network::netns::create(&leftover).unwrap();
    let pool = berth_network::netns::Pool::new(&ns);
    assert!(!leftover.exists(), "a previous run's namespace stays");
    let (a, b) = (ns.join(unique("pa")), ns.join(unique("pb")));
    struct Remove(Vec<std::path::PathBuf>);
    impl Drop for Remove {
        fn drop(&mut self) {
            for p in &self.0 {
                let _ = berth_network::netns::remove(p);
            }
        }
    }
    let _guard = Remove(vec![a.clone(), b.clone()]);
    pool.create(&a).unwrap();
    // The second comes from the pool once the refill is done.
    let pooled = || {
        std::fs::read_dir(&ns)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".pool-"))
            .count()
    };
    let t0 = std::time::Instant::now();
    while pooled() == 0 {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(5),
            "never refilled"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    pool.create(&b).unwrap();
    for p in [&a, &b] {
        assert!(berth_network::netns::is_bound(p));
        let f = open_netns(p).unwrap();
        let links = Netlink::open_in(&f).unwrap().links().unwrap();
        assert!(
            links.iter().any(|l| l.name == "lo" && l.up),
            "lo down in {p:?}"
        );
    }
    let ino = |p: &std::path::Path| std::fs::metadata(p).unwrap().ino();
    assert_ne!(ino(&a), ino(&b), "two containers got one namespace");
    drop(pool);
    // Dropped: no pooled namespace stays mounted (a refill under way ends
    // by removing what it made).
    std::thread::sleep(std::time::Duration::from_millis(50));
    let t0 = std::time::Instant::now();
    while pooled() > 0 {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(5),
            "pool left behind"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
