//! The embedded DNS server of a user-defined network. It listens on the
//! network's gateway address (UDP and TCP, port 53) in the host's network
//! namespace, answers names of the network's containers (name, aliases,
//! short id; A, AAAA and PTR) and forwards every other query verbatim to
//! the host's resolvers. Because it runs in the host namespace, loopback
//! resolvers of the host (systemd-resolved's 127.0.0.53) work too, which
//! they cannot from inside a container.

pub mod message;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use message::{Query, Rdata};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::os::fd::AsFd;

/// Names of one network (lowercase) and their addresses.
pub type Names = HashMap<String, Vec<IpAddr>>;

/// What a server answers from, changed live by the network manager.
#[derive(Debug, Clone, Default)]
pub struct Zone {
    pub names: Names,
    /// Resolvers for queries from one client address (a container's
    /// `--dns`); other clients use the server's default upstreams.
    pub upstreams: HashMap<IpAddr, Vec<SocketAddr>>,
}

impl Zone {
    /// The upstreams for a query from `client`.
    fn upstreams_for(&self, client: IpAddr, default: &[SocketAddr]) -> Vec<SocketAddr> {
        self.upstreams
            .get(&client)
            .cloned()
            .unwrap_or_else(|| default.to_vec())
    }
}

/// TTL of berth's own answers, as docker's embedded server uses.
const TTL: u32 = 600;
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(3);
/// How often the serving loops look at the stop flag.
const POLL_INTERVAL_MS: u16 = 250;

/// A running server; stops (and joins its threads) on drop.
#[derive(Debug)]
pub struct DnsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl DnsServer {
    /// Binds UDP and TCP on `addr` and serves `zone`, forwarding the rest
    /// to `upstreams` (or the client's own, see [`Zone::upstreams`]).
    pub fn start(
        addr: SocketAddr,
        zone: Arc<RwLock<Zone>>,
        upstreams: Vec<SocketAddr>,
    ) -> io::Result<Self> {
        let udp = UdpSocket::bind(addr)?;
        let addr = udp.local_addr()?;
        let tcp = TcpListener::bind(addr)?;
        udp.set_read_timeout(Some(Duration::from_millis(u64::from(POLL_INTERVAL_MS))))?;
        let stop = Arc::new(AtomicBool::new(false));
        let upstreams = Arc::new(upstreams);
        let mut threads = Vec::new();
        {
            let (stop, zone, upstreams) = (stop.clone(), zone.clone(), upstreams.clone());
            threads.push(std::thread::spawn(move || {
                serve_udp(udp, &stop, &zone, &upstreams)
            }));
        }
        {
            let stop = stop.clone();
            threads.push(std::thread::spawn(move || {
                serve_tcp(tcp, &stop, &zone, &upstreams)
            }));
        }
        Ok(DnsServer {
            addr,
            stop,
            threads,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        // Both loops look at the flag at least every POLL_INTERVAL.
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn serve_udp(sock: UdpSocket, stop: &AtomicBool, zone: &RwLock<Zone>, upstreams: &[SocketAddr]) {
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        let (n, peer) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(_) => continue,
        };
        let packet = buf[..n].to_vec();
        match answer_local(&packet, zone) {
            Answer::Reply(r) => {
                let _ = sock.send_to(&r, peer);
            }
            Answer::Drop => {}
            Answer::Forward => {
                // Forwarding may wait for a slow upstream: off this thread.
                let Ok(reply_sock) = sock.try_clone() else {
                    continue;
                };
                let upstreams = read(zone).upstreams_for(peer.ip(), upstreams);
                std::thread::spawn(move || {
                    let r = forward(&packet, &upstreams).unwrap_or_else(|| servfail(&packet));
                    let _ = reply_sock.send_to(&r, peer);
                });
            }
        }
    }
}

fn serve_tcp(
    listener: TcpListener,
    stop: &AtomicBool,
    zone: &Arc<RwLock<Zone>>,
    upstreams: &Arc<Vec<SocketAddr>>,
) {
    // Waiting in poll, not in accept, so that a stop is seen promptly: a
    // wake-up connection to ourselves can be late under load, and then a
    // blocking accept would hang the drop.
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    while !stop.load(Ordering::SeqCst) {
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(POLL_INTERVAL_MS)) {
            Ok(n) if n > 0 => {}
            _ => continue,
        }
        let Ok((mut conn, _)) = listener.accept() else {
            continue;
        };
        // The connection's thread relies on blocking reads with a timeout;
        // Linux does not pass O_NONBLOCK on from the listener, but be sure.
        if conn.set_nonblocking(false).is_err() {
            continue;
        }
        let Ok(peer) = conn.peer_addr() else { continue };
        let (zone, upstreams) = (zone.clone(), upstreams.clone());
        std::thread::spawn(move || {
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            // One connection may carry several queries, each length-prefixed.
            loop {
                let mut len = [0u8; 2];
                if conn.read_exact(&mut len).is_err() {
                    return;
                }
                let mut packet = vec![0u8; u16::from_be_bytes(len) as usize];
                if conn.read_exact(&mut packet).is_err() {
                    return;
                }
                let reply = match answer_local(&packet, &zone) {
                    Answer::Reply(r) => r,
                    Answer::Drop => return,
                    Answer::Forward => {
                        let ups = read(&zone).upstreams_for(peer.ip(), &upstreams);
                        forward(&packet, &ups).unwrap_or_else(|| servfail(&packet))
                    }
                };
                let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&reply);
                if conn.write_all(&framed).is_err() {
                    return;
                }
            }
        });
    }
}

enum Answer {
    Reply(Vec<u8>),
    Forward,
    Drop,
}

/// Reads the zone; a writer that panicked left a complete map behind (it
/// only ever replaces whole fields).
fn read(zone: &RwLock<Zone>) -> std::sync::RwLockReadGuard<'_, Zone> {
    zone.read().unwrap_or_else(|p| p.into_inner())
}

/// Answers from the network's names when the question is about them.
fn answer_local(packet: &[u8], zone: &RwLock<Zone>) -> Answer {
    let q = match Query::parse(packet) {
        Ok(q) => q,
        Err(_) => {
            return match message::Header::parse(packet) {
                Ok(h) if !h.is_response() => {
                    Answer::Reply(message::error_response(&h, message::RCODE_FORMERR))
                }
                _ => Answer::Drop,
            }
        }
    };
    if q.header.is_response() {
        return Answer::Drop;
    }
    if q.header.opcode() != 0 {
        return Answer::Reply(message::error_response(&q.header, message::RCODE_NOTIMP));
    }
    let zone = read(zone);
    let names = &zone.names;
    let qn = &q.question.name;
    if q.question.qtype == message::TYPE_PTR {
        if let Some(ip) = message::parse_reverse(qn) {
            let owner = names
                .iter()
                .filter(|(_, addrs)| addrs.contains(&ip))
                .map(|(n, _)| n)
                .min_by_key(|n| n.len());
            if let Some(n) = owner {
                let r = message::response(
                    packet,
                    &q,
                    message::RCODE_NOERROR,
                    &[Rdata::Ptr(n.clone())],
                    TTL,
                );
                return Answer::Reply(r);
            }
        }
        return Answer::Forward;
    }
    let Some(addrs) = names.get(qn.as_str()) else {
        return Answer::Forward;
    };
    let want_v4 = q.question.qtype == message::TYPE_A;
    let want_v6 = q.question.qtype == message::TYPE_AAAA;
    let answers: Vec<Rdata> = addrs
        .iter()
        .filter(|a| (a.is_ipv4() && want_v4) || (a.is_ipv6() && want_v6))
        .map(|&a| Rdata::Addr(a))
        .collect();
    // A known name without records of this type is NOERROR with no data.
    Answer::Reply(message::response(
        packet,
        &q,
        message::RCODE_NOERROR,
        &answers,
        TTL,
    ))
}

fn servfail(packet: &[u8]) -> Vec<u8> {
    match message::Header::parse(packet) {
        Ok(h) => message::error_response(&h, message::RCODE_SERVFAIL),
        Err(_) => Vec::new(),
    }
}

/// Sends `packet` to each upstream in turn over UDP; the first reply
/// from that upstream whose id matches wins. A truncated UDP reply is
/// retried over TCP.
fn forward(packet: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    let id = packet.get(..2)?;
    for up in upstreams {
        let bind: SocketAddr = if up.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let Ok(s) = UdpSocket::bind(bind) else {
            continue;
        };
        if s.send_to(packet, up).is_err() {
            continue;
        }
        let Some(mut buf) = await_reply(&s, up, id) else {
            continue;
        };
        let truncated = message::Header::parse(&buf).is_ok_and(|h| h.flags & 0x0200 != 0);
        if truncated {
            if let Some(r) = forward_tcp(packet, up) {
                buf = r;
            }
        }
        return Some(buf);
    }
    None
}

/// Waits up to [`UPSTREAM_TIMEOUT`] for the reply from `up` with `id`,
/// skipping strays and riding out signals: a daemon with signal handlers
/// (tokio's SIGCHLD, for one) makes socket reads with a timeout fail with
/// EINTR, which the kernel never restarts.
fn await_reply(s: &UdpSocket, up: &SocketAddr, id: &[u8]) -> Option<Vec<u8>> {
    let deadline = std::time::Instant::now() + UPSTREAM_TIMEOUT;
    let mut buf = vec![0u8; 65535];
    loop {
        let left = deadline.checked_duration_since(std::time::Instant::now())?;
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        match s.recv_from(&mut buf) {
            Ok((n, from)) if from == *up && buf.get(..2) == Some(id) => {
                buf.truncate(n);
                return Some(buf);
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

fn forward_tcp(packet: &[u8], up: &SocketAddr) -> Option<Vec<u8>> {
    let mut c = TcpStream::connect_timeout(up, UPSTREAM_TIMEOUT).ok()?;
    c.set_read_timeout(Some(UPSTREAM_TIMEOUT)).ok()?;
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(packet);
    c.write_all(&framed).ok()?;
    let mut len = [0u8; 2];
    c.read_exact(&mut len).ok()?;
    let mut reply = vec![0u8; u16::from_be_bytes(len) as usize];
    c.read_exact(&mut reply).ok()?;
    Some(reply)
}

/// The host's resolvers from /etc/resolv.conf, port 53.
pub fn host_upstreams() -> Vec<SocketAddr> {
    std::fs::read_to_string("/etc/resolv.conf")
        .map(|s| {
            crate::files::parse_resolv_conf(&s)
                .nameservers
                .into_iter()
                .map(|ip| SocketAddr::new(ip, 53))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> RwLock<Zone> {
        let mut n = Names::new();
        n.insert(
            "web".into(),
            vec!["172.18.0.2".parse().unwrap(), "fd00::2".parse().unwrap()],
        );
        RwLock::new(Zone {
            names: n,
            upstreams: HashMap::new(),
        })
    }

    fn reply(a: Answer) -> Vec<u8> {
        match a {
            Answer::Reply(r) => r,
            Answer::Forward => panic!("forwarded"),
            Answer::Drop => panic!("dropped"),
        }
    }

    #[test]
    fn answers_known_names_and_forwards_the_rest() {
        let n = names();
        let r = reply(answer_local(&message::query(1, "WEB", message::TYPE_A), &n));
        assert_eq!(
            message::answer_addrs(&r).unwrap(),
            vec!["172.18.0.2".parse::<IpAddr>().unwrap()]
        );
        let r = reply(answer_local(
            &message::query(1, "web.", message::TYPE_AAAA),
            &n,
        ));
        assert_eq!(
            message::answer_addrs(&r).unwrap(),
            vec!["fd00::2".parse::<IpAddr>().unwrap()]
        );
        let r = reply(answer_local(&message::query(1, "web", 15), &n));
        assert!(message::answer_addrs(&r).unwrap().is_empty());
        assert!(matches!(
            answer_local(&message::query(1, "other", message::TYPE_A), &n),
            Answer::Forward
        ));
        let ptr = reply(answer_local(
            &message::query(1, "2.0.18.172.in-addr.arpa", message::TYPE_PTR),
            &n,
        ));
        assert_eq!(message::Header::parse(&ptr).unwrap().ancount, 1);
        let bad = reply(answer_local(
            &[0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0],
            &n,
        ));
        assert_eq!(
            message::Header::parse(&bad).unwrap().rcode(),
            message::RCODE_FORMERR
        );
        assert!(matches!(answer_local(&[1, 2, 3], &n), Answer::Drop));
    }

    fn udp_query(server: SocketAddr, name: &str) -> Vec<u8> {
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.send_to(&message::query(9, name, message::TYPE_A), server)
            .unwrap();
        let mut buf = [0u8; 512];
        loop {
            match c.recv(&mut buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return buf[..r.unwrap()].to_vec(),
            }
        }
    }

    /// A resolver on loopback that answers every query with `answer`.
    fn fake_upstream(answer: &str) -> SocketAddr {
        let up = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = up.local_addr().unwrap();
        let answer: IpAddr = answer.parse().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            loop {
                let (n, peer) = match up.recv_from(&mut buf) {
                    Ok(x) => x,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return,
                };
                let q = Query::parse(&buf[..n]).unwrap();
                let r = message::response(&buf[..n], &q, 0, &[Rdata::Addr(answer)], 1);
                up.send_to(&r, peer).unwrap();
            }
        });
        addr
    }

    #[test]
    fn serves_udp_and_tcp_and_forwards() {
        let up_addr = fake_upstream("192.0.2.7");
        let names = Arc::new(names());
        let srv =
            DnsServer::start("127.0.0.1:0".parse().unwrap(), names.clone(), vec![up_addr]).unwrap();
        let addr = srv.addr();
        let r = udp_query(addr, "web");
        assert_eq!(
            message::answer_addrs(&r).unwrap(),
            vec!["172.18.0.2".parse::<IpAddr>().unwrap()]
        );
        let r = udp_query(addr, "elsewhere.example");
        assert_eq!(
            message::answer_addrs(&r).unwrap(),
            vec!["192.0.2.7".parse::<IpAddr>().unwrap()]
        );

        // Two queries on one TCP connection, length-prefixed.
        let mut c = TcpStream::connect(addr).unwrap();
        for name in ["web", "elsewhere.example"] {
            let q = message::query(3, name, message::TYPE_A);
            let mut framed = (q.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&q);
            c.write_all(&framed).unwrap();
            let mut len = [0u8; 2];
            c.read_exact(&mut len).unwrap();
            let mut r = vec![0u8; u16::from_be_bytes(len) as usize];
            c.read_exact(&mut r).unwrap();
            assert_eq!(message::answer_addrs(&r).unwrap().len(), 1, "{name}");
        }

        // Names change live.
        names
            .write()
            .unwrap()
            .names
            .insert("new".into(), vec!["172.18.0.9".parse().unwrap()]);
        // A client with its own resolvers (`--dns`) is forwarded there.
        let own = fake_upstream("192.0.2.8");
        names
            .write()
            .unwrap()
            .upstreams
            .insert("127.0.0.1".parse().unwrap(), vec![own]);
        let r = udp_query(addr, "elsewhere.example");
        assert_eq!(
            message::answer_addrs(&r).unwrap(),
            vec!["192.0.2.8".parse::<IpAddr>().unwrap()]
        );
        let r = udp_query(addr, "new");
        assert_eq!(
            message::answer_addrs(&r).unwrap(),
            vec!["172.18.0.9".parse::<IpAddr>().unwrap()]
        );
        drop(srv);
        assert!(UdpSocket::bind(addr).is_ok(), "the port is free after drop");
    }

    #[test]
    fn no_upstream_is_servfail() {
        let srv =
            DnsServer::start("127.0.0.1:0".parse().unwrap(), Arc::new(names()), vec![]).unwrap();
        let r = udp_query(srv.addr(), "unknown.example");
        assert_eq!(
            message::Header::parse(&r).unwrap().rcode(),
            message::RCODE_SERVFAIL
        );
    }
}
