//! berth next to dockerd: iptables' FORWARD policy is DROP and DOCKER-USER
//! exists. The whole "host" of this test is a fresh network namespace
//! entered by one thread, so the drop policy never touches the real host.

mod common;

use std::net::IpAddr;

use berth_base::testenv::{have_program, require};
use berth_network::{AttachRequest, NetworkSpec, PortRequest, Proto, SubnetSpec};
use common::{can_run, run, Fixture, Netns};

fn attach<'a>(
    id: &'a str,
    name: &'a str,
    path: &'a std::path::Path,
    ports: Vec<PortRequest>,
) -> AttachRequest<'a> {
    AttachRequest {
        network: "coexist",
        container_id: id,
        name,
        aliases: vec![],
        netns: path,
        ifname: None,
        ipv4: None,
        ipv6: None,
        mac: None,
        ports,
        dns_servers: vec![],
    }
}

fn berth_rules() -> Vec<String> {
    run("iptables", &["-w", "-S", "DOCKER-USER"])
        .lines()
        .filter(|l| l.contains("berth:"))
        .map(String::from)
        .collect()
}

/// Whether `ns` gets "pong" from the host's bridge address on `port`, in
/// up to `tries` attempts. The connection is DNATed and routed through the
/// FORWARD hook whether or not br_netfilter is loaded, so it is the probe
/// for a drop policy (bridged pings only meet it with br_netfilter).
fn reach(ns: &Netns, gw: &str, port: u16, tries: usize) -> bool {
    let get = format!("busybox nc -w 1 {gw} {port}");
    for _ in 0..tries {
        let out = ns.exec(&["sh", "-c", &get]);
        if String::from_utf8_lossy(&out.stdout).contains("pong") {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}

/// A bridge network `coexist` on `subnet`.
fn create_coexist(fx: &Fixture, subnet: &str) {
    fx.mgr
        .create(NetworkSpec {
            name: "coexist".into(),
            ipv4: SubnetSpec {
                subnet: Some(subnet.parse().expect("subnet")),
                ..Default::default()
            },
            ..Default::default()
        })
        .expect("create");
}

/// Container port 7777/tcp published on an ephemeral host port.
fn publish_7777() -> PortRequest {
    PortRequest {
        proto: Proto::Tcp,
        host_ip: None,
        host_port: 0,
        host_port_end: 0,
        container_port: 7777,
    }
}

/// What dockerd sets up at its start: FORWARD's policy DROP, and a
/// DOCKER-USER chain jumped to from FORWARD.
fn dockerd_firewall() {
    run("iptables", &["-w", "-P", "FORWARD", "DROP"]);
    run("iptables", &["-w", "-N", "DOCKER-USER"]);
    run("iptables", &["-w", "-A", "FORWARD", "-j", "DOCKER-USER"]);
}

fn ping(ns: &Netns, to: &str) -> bool {
    ns.ping(to).status.success()
}

#[test]
fn forwarding_works_under_an_iptables_forward_drop_policy() {
    if !can_run() || !require(have_program("iptables"), "needs iptables") {
        return;
    }
    std::thread::spawn(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare netns");
        // Commands spawned from this thread run in its namespace.
        run("ip", &["link", "set", "lo", "up"]);
        dockerd_firewall();

        let fx = Fixture::new('e', vec![]);
        create_coexist(&fx, "10.237.0.0/24");
        assert_eq!(berth_rules().len(), 2, "{:?}", berth_rules());
        let a = Netns::new("ca");
        let b = Netns::new("cb");
        let (pa, pb) = (a.path(), b.path());
        let eb = fx
            .mgr
            .attach(attach("b1", "bee", &pb, vec![publish_7777()]))
            .expect("attach b");
        fx.mgr
            .attach(attach("a1", "ay", &pa, vec![]))
            .expect("attach a");
        let _srv = b.spawn(&["busybox", "nc", "-ll", "-p", "7777", "-e", "echo", "pong"]);
        let b_ip: IpAddr = eb.ipv4.addr;

        // Bridged (through FORWARD when br_netfilter is loaded) and DNATed
        // via the host address (routed through FORWARD).
        let published = eb.ports[0].host_port;
        assert!(ping(&a, &b_ip.to_string()));
        assert!(
            reach(&a, "10.237.0.1", published, 20),
            "published port through FORWARD DROP"
        );

        // Without berth's accept rules the drop policy wins: proof that the
        // rules are what makes it work. Reconcile puts them back.
        run("iptables", &["-w", "-F", "DOCKER-USER"]);
        assert!(!reach(&a, "10.237.0.1", published, 1));
        fx.mgr.reconcile(&|_| true).expect("reconcile");
        assert_eq!(berth_rules().len(), 2);
        assert!(reach(&a, "10.237.0.1", published, 20));
        // So does a resync, which is idempotent.
        run("iptables", &["-w", "-F", "DOCKER-USER"]);
        fx.mgr.resync_firewall().expect("resync");
        fx.mgr.resync_firewall().expect("resync again");
        assert_eq!(berth_rules().len(), 2);
        assert!(reach(&a, "10.237.0.1", published, 20));
        assert!(ping(&a, &b_ip.to_string()));

        fx.mgr.detach_all("a1").expect("detach a");
        fx.mgr.detach_all("b1").expect("detach b");
        fx.mgr.remove("coexist").expect("remove");
        assert!(berth_rules().is_empty());
        // The policy is never changed by berth.
        assert!(run("iptables", &["-w", "-S", "FORWARD"]).contains("-P FORWARD DROP"));
    })
    .join()
    .expect("test thread");
}

#[test]
fn a_drop_policy_set_later_is_handled_by_a_resync() {
    if !can_run() || !require(have_program("iptables"), "needs iptables") {
        return;
    }
    std::thread::spawn(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare netns");
        run("ip", &["link", "set", "lo", "up"]);
        let fx = Fixture::new('h', vec![]);
        create_coexist(&fx, "10.236.0.0/24");
        let a = Netns::new("la");
        let b = Netns::new("lb");
        let (pa, pb) = (a.path(), b.path());
        fx.mgr
            .attach(attach("a2", "ay", &pa, vec![]))
            .expect("attach a");
        let eb = fx
            .mgr
            .attach(attach("b2", "bee", &pb, vec![publish_7777()]))
            .expect("attach b");
        let _srv = b.spawn(&["busybox", "nc", "-ll", "-p", "7777", "-e", "echo", "pong"]);
        let published = eb.ports[0].host_port;
        assert!(reach(&a, "10.236.0.1", published, 20));
        // dockerd starts now.
        dockerd_firewall();
        assert!(!reach(&a, "10.236.0.1", published, 1));
        fx.mgr.resync_firewall().expect("resync");
        assert!(reach(&a, "10.236.0.1", published, 20));
        assert!(ping(&a, &eb.ipv4.addr.to_string()));
        fx.mgr.detach_all("a2").expect("detach a");
        fx.mgr.detach_all("b2").expect("detach b");
        fx.mgr.remove("coexist").expect("remove");
        assert!(berth_rules().is_empty());
    })
    .join()
    .expect("test thread");
}

#[test]
fn ipv6_forwarding_keeps_router_advertisements() {
    if !can_run() {
        return;
    }
    std::thread::spawn(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare netns");
        let sysctl = |k: &str| {
            std::fs::read_to_string(format!("/proc/sys/net/{k}"))
                .expect("sysctl")
                .trim()
                .to_string()
        };
        assert_eq!(sysctl("ipv6/conf/all/forwarding"), "0");
        assert_eq!(sysctl("ipv6/conf/default/accept_ra"), "1");
        let fx = Fixture::new('i', vec![]);
        fx.mgr
            .create(NetworkSpec {
                name: "six".into(),
                ipv4: SubnetSpec {
                    subnet: Some("10.241.0.0/24".parse().expect("subnet")),
                    ..Default::default()
                },
                ipv6: Some(SubnetSpec {
                    subnet: Some("fd00:241::/64".parse().expect("subnet")),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .expect("create");
        assert_eq!(sysctl("ipv6/conf/all/forwarding"), "1");
        assert_eq!(sysctl("ipv4/ip_forward"), "1");
        // Accepted even while forwarding, as before.
        assert_eq!(sysctl("ipv6/conf/default/accept_ra"), "2");
        assert_eq!(sysctl("ipv6/conf/lo/accept_ra"), "2");
        fx.mgr.remove("six").expect("remove");
    })
    .join()
    .expect("test thread");
}
