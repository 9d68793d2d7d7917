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
    let ping = a.exec(&["busybox", "ping", "-c", "1", "-W", "2", "10.231.7.3"]);
    assert!(
        ping.status.success(),
        "{}",
        String::from_utf8_lossy(&ping.stdout)
    );
    let ping = b.exec(&["busybox", "ping", "-c", "1", "-W", "2", "10.231.7.1"]);
    assert!(
        ping.status.success(),
        "ping the gateway: {}",
        String::from_utf8_lossy(&ping.stdout)
    );
    let ping6 = a.exec(&["busybox", "ping", "-6", "-c", "1", "-W", "2", "fd00:e7::3"]);
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
