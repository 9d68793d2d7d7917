//! A small rtnetlink client: just the messages berth needs to build bridges,
//! veth pairs, addresses and routes. Messages are encoded by hand (the wire
//! format is stable kernel ABI) over a blocking `NETLINK_ROUTE` socket, so an
//! attach costs a handful of syscalls and no async runtime.
//!
//! A socket belongs to the network namespace it was created in, so
//! [`Netlink::open_in`] creates one on a short-lived thread that has entered
//! the target namespace; the socket then configures that namespace from any
//! thread.

use std::fs::File;
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use nix::sys::socket::{
    bind, recv, send, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol,
    SockType,
};

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTM_SETLINK: u16 = 19;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_DUMP: u16 = 0x300;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_MASTER: u16 = 10;
const IFLA_PROTINFO: u16 = 12;
const IFLA_LINKINFO: u16 = 18;
const IFLA_BRPORT_MODE: u16 = 4;
const NLA_F_NESTED: u16 = 0x8000;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_FLAGS: u16 = 8;
const IFA_F_NODAD: u32 = 0x02;

const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;

const IFF_UP: u32 = 0x1;
const AF_INET: u8 = libc_af::INET;
const AF_INET6: u8 = libc_af::INET6;
const AF_UNSPEC: u8 = 0;
const AF_BRIDGE: u8 = 7;

/// Address family numbers (stable Linux ABI), kept local so that this
/// module needs no `libc` dependency.
mod libc_af {
    pub const INET: u8 = 2;
    pub const INET6: u8 = 10;
}

/// A link as the kernel reports it in a dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub index: u32,
    pub name: String,
    /// `IFLA_INFO_KIND` ("bridge", "veth", …), empty for physical links.
    pub kind: String,
    /// Index of the bridge this link is enslaved to, if any.
    pub master: Option<u32>,
    pub up: bool,
}

/// A blocking rtnetlink socket bound to one network namespace.
#[derive(Debug)]
pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

impl Netlink {
    /// A routing socket in the caller's network namespace.
    pub fn open() -> io::Result<Self> {
        Self::open_proto(SockProtocol::NetlinkRoute)
    }

    /// A netfilter socket (conntrack) in the caller's network namespace.
    pub fn open_netfilter() -> io::Result<Self> {
        Self::open_proto(SockProtocol::NetlinkNetFilter)
    }

    fn open_proto(proto: SockProtocol) -> io::Result<Self> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            proto,
        )?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
        Ok(Netlink { fd, seq: 1 })
    }

    /// Deletes the conntrack entries of protocol `proto` (17 for UDP) whose
    /// replies come from `ip`: the flows NATed to a container that is
    /// gone. Without this, a UDP client that keeps sending from the same
    /// port stays bound to the old container until the entry times out,
    /// even after the port was published again elsewhere. Needs a socket
    /// from [`Self::open_netfilter`]; returns how many entries went.
    pub fn delete_conntrack_to(&mut self, ip: IpAddr, proto: u8) -> io::Result<usize> {
        const NFNL_SUBSYS_CTNETLINK: u16 = 1;
        const IPCTNL_MSG_CT_GET: u16 = 1;
        const IPCTNL_MSG_CT_DELETE: u16 = 2;
        const CTA_TUPLE_ORIG: u16 = 1;
        const CTA_TUPLE_REPLY: u16 = 2;
        const CTA_TUPLE_IP: u16 = 1;
        const CTA_TUPLE_PROTO: u16 = 2;
        const CTA_PROTO_NUM: u16 = 1;
        // CTA_IP_V4_SRC and CTA_IP_V6_SRC.
        let (family, want, src_attr) = match ip {
            IpAddr::V4(a) => (AF_INET, a.octets().to_vec(), 1),
            IpAddr::V6(a) => (AF_INET6, a.octets().to_vec(), 3),
        };
        // nfgenmsg: family, version 0, resource id 0.
        let nfgen = vec![family, 0, 0, 0];
        let entries = self.dump((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET, &nfgen)?;
        let mut deleted = 0;
        for e in entries {
            let Some(body) = e.get(4..) else { continue };
            let mut orig = None;
            let mut matches = false;
            for (ty, data) in attrs(body) {
                match ty {
                    CTA_TUPLE_ORIG => orig = Some(data),
                    CTA_TUPLE_REPLY => {
                        let mut src_ok = false;
                        let mut proto_ok = false;
                        for (t, d) in attrs(data) {
                            match t {
                                CTA_TUPLE_IP => {
                                    src_ok = attrs(d).any(|(a, v)| a == src_attr && v == want)
                                }
                                CTA_TUPLE_PROTO => {
                                    proto_ok =
                                        attrs(d).any(|(a, v)| a == CTA_PROTO_NUM && v == [proto])
                                }
                                _ => {}
                            }
                        }
                        matches = src_ok && proto_ok;
                    }
                    _ => {}
                }
            }
            let (true, Some(orig)) = (matches, orig) else {
                continue;
            };
            let mut b = Attrs::new(nfgen.clone());
            b.bytes(CTA_TUPLE_ORIG | NLA_F_NESTED, orig);
            match self.request(
                (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE,
                0,
                &b.buf,
            ) {
                Ok(()) => deleted += 1,
                // Expired between the dump and the delete.
                Err(e) if e.raw_os_error() == Some(nix::libc::ENOENT) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(deleted)
    }

    /// A socket in the network namespace of `ns` (for example
    /// `/proc/<pid>/ns/net` or a bind-mounted namespace file). The calling
    /// thread keeps its namespace: the switch happens on a helper thread
    /// that exits right after creating the socket.
    pub fn open_in(ns: &File) -> io::Result<Self> {
        let ns = ns.try_clone()?;
        std::thread::spawn(move || -> io::Result<Self> {
            nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)?;
            Self::open()
        })
        .join()
        .map_err(|_| io::Error::other("netns helper thread panicked"))?
    }

    /// Sends one request and waits for its acknowledgement.
    fn request(&mut self, ty: u16, flags: u16, body: &[u8]) -> io::Result<()> {
        let seq = self.send_msg(ty, flags | NLM_F_REQUEST | NLM_F_ACK, body)?;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = self.recv(&mut buf)?;
            for msg in Messages::new(&buf[..n]) {
                let (hdr, payload) = msg?;
                if hdr.seq != seq {
                    continue;
                }
                if hdr.ty == NLMSG_ERROR {
                    return errno_of(payload);
                }
            }
        }
    }

    /// Sends a request answered by one message and returns its payload.
    fn get(&mut self, ty: u16, body: &[u8]) -> io::Result<Vec<u8>> {
        let seq = self.send_msg(ty, NLM_F_REQUEST, body)?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = self.recv(&mut buf)?;
            for msg in Messages::new(&buf[..n]) {
                let (hdr, payload) = msg?;
                if hdr.seq != seq {
                    continue;
                }
                if hdr.ty == NLMSG_ERROR {
                    errno_of(payload)?;
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "netlink get without reply",
                    ));
                }
                return Ok(payload.to_vec());
            }
        }
    }

    /// Sends a dump request and collects the payloads of every reply.
    fn dump(&mut self, ty: u16, body: &[u8]) -> io::Result<Vec<Vec<u8>>> {
        let seq = self.send_msg(ty, NLM_F_REQUEST | NLM_F_DUMP, body)?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = self.recv(&mut buf)?;
            for msg in Messages::new(&buf[..n]) {
                let (hdr, payload) = msg?;
                if hdr.seq != seq {
                    continue;
                }
                match hdr.ty {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        errno_of(payload)?;
                        return Ok(out);
                    }
                    _ => out.push(payload.to_vec()),
                }
            }
        }
    }

    /// One datagram; a signal arriving while waiting is not an error.
    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match recv(self.fd.as_raw_fd(), buf, MsgFlags::empty()) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => return Ok(r?),
            }
        }
    }

    fn send_msg(&mut self, ty: u16, flags: u16, body: &[u8]) -> io::Result<u32> {
        self.seq = self.seq.wrapping_add(1);
        let len = u32::try_from(16 + body.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "netlink message too big"))?;
        let mut msg = Vec::with_capacity(len as usize);
        msg.extend_from_slice(&len.to_ne_bytes());
        msg.extend_from_slice(&ty.to_ne_bytes());
        msg.extend_from_slice(&flags.to_ne_bytes());
        msg.extend_from_slice(&self.seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(body);
        send(self.fd.as_raw_fd(), &msg, MsgFlags::empty())?;
        Ok(self.seq)
    }

    /// Every link of the namespace.
    pub fn links(&mut self) -> io::Result<Vec<LinkInfo>> {
        let replies = self.dump(RTM_GETLINK, &ifinfomsg(AF_UNSPEC, 0, 0, 0))?;
        Ok(replies.iter().filter_map(|p| parse_link(p)).collect())
    }

    /// The link called `name`, if it exists (one request, no dump).
    pub fn link_by_name(&mut self, name: &str) -> io::Result<Option<LinkInfo>> {
        let mut b = Attrs::new(ifinfomsg(AF_UNSPEC, 0, 0, 0));
        b.str(IFLA_IFNAME, name);
        match self.get(RTM_GETLINK, &b.buf) {
            Ok(p) => Ok(parse_link(&p)),
            Err(e) if e.raw_os_error() == Some(nix::libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Turns hairpin mode of bridge port `index` on or off: whether the
    /// bridge may send a frame back out of the port it arrived on.
    pub fn set_hairpin(&mut self, index: u32, on: bool) -> io::Result<()> {
        let mut b = Attrs::new(ifinfomsg(AF_BRIDGE, index, 0, 0));
        let p = b.begin(IFLA_PROTINFO | NLA_F_NESTED);
        b.bytes(IFLA_BRPORT_MODE, &[u8::from(on)]);
        b.end(p);
        self.request(RTM_SETLINK, 0, &b.buf)
    }

    /// Creates a bridge called `name` (down, no addresses).
    pub fn create_bridge(&mut self, name: &str, mtu: Option<u32>) -> io::Result<()> {
        let mut b = Attrs::new(ifinfomsg(AF_UNSPEC, 0, 0, 0));
        b.str(IFLA_IFNAME, name);
        if let Some(mtu) = mtu {
            b.u32(IFLA_MTU, mtu);
        }
        let info = b.begin(IFLA_LINKINFO);
        b.str(IFLA_INFO_KIND, "bridge");
        b.end(info);
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &b.buf)
    }

    /// Creates a veth pair in one message: `host` stays here, enslaved to
    /// the bridge with index `master` and up; `peer` is created directly
    /// inside the namespace `peer_ns` under its final name, with `mac` and
    /// `mtu`, so no temporary name or move is needed.
    pub fn create_veth(&mut self, v: &VethSpec<'_>) -> io::Result<()> {
        let mut b = Attrs::new(ifinfomsg(AF_UNSPEC, 0, IFF_UP, IFF_UP));
        b.str(IFLA_IFNAME, v.host);
        if let Some(mtu) = v.mtu {
            b.u32(IFLA_MTU, mtu);
        }
        if let Some(master) = v.master {
            b.u32(IFLA_MASTER, master);
        }
        let info = b.begin(IFLA_LINKINFO);
        b.str(IFLA_INFO_KIND, "veth");
        let data = b.begin(IFLA_INFO_DATA);
        let peer = b.begin(VETH_INFO_PEER);
        b.raw(&ifinfomsg(AF_UNSPEC, 0, 0, 0));
        b.str(IFLA_IFNAME, v.peer);
        if let Some(mtu) = v.mtu {
            b.u32(IFLA_MTU, mtu);
        }
        if let Some(mac) = v.peer_mac {
            b.bytes(IFLA_ADDRESS, &mac);
        }
        if let Some(ns) = v.peer_ns {
            let fd = u32::try_from(ns.as_raw_fd())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad netns fd"))?;
            b.u32(IFLA_NET_NS_FD, fd);
        }
        b.end(peer);
        b.end(data);
        b.end(info);
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &b.buf)
    }

    /// Brings link `index` up or down.
    pub fn set_up(&mut self, index: u32, up: bool) -> io::Result<()> {
        let flags = if up { IFF_UP } else { 0 };
        let b = ifinfomsg(AF_UNSPEC, index, flags, IFF_UP);
        self.request(RTM_NEWLINK, 0, &b)
    }

    /// Changes the MAC address of link `index`.
    pub fn set_mac(&mut self, index: u32, mac: [u8; 6]) -> io::Result<()> {
        let mut b = Attrs::new(ifinfomsg(AF_UNSPEC, index, 0, 0));
        b.bytes(IFLA_ADDRESS, &mac);
        self.request(RTM_NEWLINK, 0, &b.buf)
    }

    /// Deletes link `index` (a veth takes its peer with it).
    pub fn delete_link(&mut self, index: u32) -> io::Result<()> {
        self.request(RTM_DELLINK, 0, &ifinfomsg(AF_UNSPEC, index, 0, 0))
    }

    /// Adds `addr/prefix` to link `index`. IPv6 addresses skip duplicate
    /// address detection: IPAM already made them unique, and DAD would keep
    /// the address unusable for a second or more.
    pub fn add_address(&mut self, index: u32, addr: IpAddr, prefix: u8) -> io::Result<()> {
        let (family, bytes) = ip_bytes(addr);
        let mut hdr = vec![family, prefix, 0, 0];
        hdr.extend_from_slice(&index.to_ne_bytes());
        let mut b = Attrs::new(hdr);
        b.bytes(IFA_LOCAL, &bytes);
        b.bytes(IFA_ADDRESS, &bytes);
        if family == AF_INET6 {
            b.u32(IFA_FLAGS, IFA_F_NODAD);
        }
        self.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &b.buf)
    }

    /// Adds a default route through `gateway` on link `index`.
    pub fn add_default_route(&mut self, index: u32, gateway: IpAddr) -> io::Result<()> {
        self.add_route(index, None, Some(gateway))
    }

    /// Adds a route to `dst` (None: default) on link `index`, through
    /// `gateway` or directly connected.
    pub fn add_route(
        &mut self,
        index: u32,
        dst: Option<(IpAddr, u8)>,
        gateway: Option<IpAddr>,
    ) -> io::Result<()> {
        let family = match (dst, gateway) {
            (Some((a, _)), _) | (None, Some(a)) => ip_bytes(a).0,
            (None, None) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "route needs a destination or a gateway",
                ))
            }
        };
        const RT_TABLE_MAIN: u8 = 254;
        const RTPROT_BOOT: u8 = 3;
        const RT_SCOPE_UNIVERSE: u8 = 0;
        const RT_SCOPE_LINK: u8 = 253;
        const RTN_UNICAST: u8 = 1;
        let scope = if gateway.is_some() {
            RT_SCOPE_UNIVERSE
        } else {
            RT_SCOPE_LINK
        };
        let dst_len = dst.map_or(0, |(_, p)| p);
        let mut hdr = vec![
            family,
            dst_len,
            0,
            0,
            RT_TABLE_MAIN,
            RTPROT_BOOT,
            scope,
            RTN_UNICAST,
        ];
        hdr.extend_from_slice(&0u32.to_ne_bytes());
        let mut b = Attrs::new(hdr);
        if let Some((d, _)) = dst {
            b.bytes(RTA_DST, &ip_bytes(d).1);
        }
        if let Some(g) = gateway {
            b.bytes(RTA_GATEWAY, &ip_bytes(g).1);
        }
        b.u32(RTA_OIF, index);
        self.request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &b.buf)
    }
}

/// What [`Netlink::create_veth`] builds.
#[derive(Debug, Default)]
pub struct VethSpec<'a> {
    /// Name of the end that stays in the caller's namespace.
    pub host: &'a str,
    /// Name of the other end (for a container, "eth0").
    pub peer: &'a str,
    /// Namespace for the peer end; None keeps it here.
    pub peer_ns: Option<&'a File>,
    /// Bridge index to enslave the host end to.
    pub master: Option<u32>,
    pub mtu: Option<u32>,
    pub peer_mac: Option<[u8; 6]>,
}

/// Opens a network namespace file such as `/proc/<pid>/ns/net`.
pub fn open_netns(path: &Path) -> io::Result<File> {
    File::open(path)
}

fn ip_bytes(addr: IpAddr) -> (u8, Vec<u8>) {
    match addr {
        IpAddr::V4(a) => (AF_INET, a.octets().to_vec()),
        IpAddr::V6(a) => (AF_INET6, a.octets().to_vec()),
    }
}

fn ifinfomsg(family: u8, index: u32, flags: u32, change: u32) -> Vec<u8> {
    let mut v = vec![family, 0, 0, 0];
    v.extend_from_slice(&index.to_ne_bytes());
    v.extend_from_slice(&flags.to_ne_bytes());
    v.extend_from_slice(&change.to_ne_bytes());
    v
}

/// The errno carried by an `NLMSG_ERROR` payload (0 is an acknowledgement).
fn errno_of(payload: &[u8]) -> io::Result<()> {
    let code = payload
        .get(..4)
        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "short netlink error"))?;
    if code == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(-code))
    }
}

/// Builds a message body: a fixed header followed by attributes, with
/// nesting by remembering where each container attribute starts.
struct Attrs {
    buf: Vec<u8>,
}

impl Attrs {
    fn new(header: Vec<u8>) -> Self {
        Attrs { buf: header }
    }

    fn pad(&mut self) {
        while self.buf.len() % 4 != 0 {
            self.buf.push(0);
        }
    }

    fn bytes(&mut self, ty: u16, data: &[u8]) {
        let len = (4 + data.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
    }

    fn raw(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        self.pad();
    }

    fn str(&mut self, ty: u16, s: &str) {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.bytes(ty, &v);
    }

    fn u32(&mut self, ty: u16, v: u32) {
        self.bytes(ty, &v.to_ne_bytes());
    }

    fn begin(&mut self, ty: u16) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        at
    }

    fn end(&mut self, at: usize) {
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
    }
}

#[derive(Debug, Clone, Copy)]
struct Header {
    ty: u16,
    seq: u32,
}

/// Iterates over the messages of one datagram.
struct Messages<'a> {
    buf: &'a [u8],
}

impl<'a> Messages<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Messages { buf }
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = io::Result<(Header, &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.len() < 16 {
            return None;
        }
        let b = self.buf;
        let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
        if len < 16 || len > b.len() {
            self.buf = &[];
            return Some(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "truncated netlink message",
            )));
        }
        let hdr = Header {
            ty: u16::from_ne_bytes([b[4], b[5]]),
            seq: u32::from_ne_bytes([b[8], b[9], b[10], b[11]]),
        };
        let payload = &b[16..len];
        let next = (len + 3) & !3;
        self.buf = b.get(next..).unwrap_or(&[]);
        Some(Ok((hdr, payload)))
    }
}

/// Iterates over the attributes in `buf`, yielding (type, payload).
fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let ty = u16::from_ne_bytes([buf[2], buf[3]]) & 0x3fff;
        if len < 4 || len > buf.len() {
            return None;
        }
        let data = &buf[4..len];
        buf = buf.get((len + 3) & !3..).unwrap_or(&[]);
        Some((ty, data))
    })
}

fn parse_link(p: &[u8]) -> Option<LinkInfo> {
    let hdr = p.get(..16)?;
    let index = u32::from_ne_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
    let flags = u32::from_ne_bytes([hdr[8], hdr[9], hdr[10], hdr[11]]);
    let mut link = LinkInfo {
        index,
        name: String::new(),
        kind: String::new(),
        master: None,
        up: flags & IFF_UP != 0,
    };
    for (ty, data) in attrs(&p[16..]) {
        match ty {
            IFLA_IFNAME => link.name = cstr(data),
            IFLA_MASTER if data.len() >= 4 => {
                link.master = Some(u32::from_ne_bytes([data[0], data[1], data[2], data[3]]))
            }
            IFLA_LINKINFO => {
                for (ity, idata) in attrs(data) {
                    if ity == IFLA_INFO_KIND {
                        link.kind = cstr(idata);
                    }
                }
            }
            _ => {}
        }
    }
    Some(link)
}

fn cstr(data: &[u8]) -> String {
    let end = data.iter().position(|&c| c == 0).unwrap_or(data.len());
    String::from_utf8_lossy(&data[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_attributes_have_their_lengths() {
        let mut b = Attrs::new(vec![]);
        let outer = b.begin(IFLA_LINKINFO);
        b.str(IFLA_INFO_KIND, "veth");
        b.end(outer);
        assert_eq!(b.buf.len(), 4 + 12);
        assert_eq!(u16::from_ne_bytes([b.buf[0], b.buf[1]]), 4 + 12);
        let inner: Vec<_> = attrs(&b.buf).collect();
        assert_eq!(inner.len(), 1);
        let kinds: Vec<_> = attrs(inner[0].1).map(|(t, d)| (t, cstr(d))).collect();
        assert_eq!(kinds, vec![(IFLA_INFO_KIND, "veth".to_string())]);
    }

    #[test]
    fn malformed_messages_do_not_panic() {
        for bad in [
            &[0xffu8; 20][..],
            &[16, 0, 0, 0][..],
            &[8, 0, 0, 0, 1, 0][..],
        ] {
            for m in Messages::new(bad) {
                let _ = m;
            }
            let _ = attrs(bad).count();
            let _ = parse_link(bad);
        }
    }
}
