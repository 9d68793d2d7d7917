//! The per-container /etc/hosts, /etc/hostname and /etc/resolv.conf, in
//! the shape docker writes them. The engine writes the returned text to
//! the container's directory and bind-mounts it.

use std::fmt::Write as _;
use std::net::IpAddr;

/// The parts of a resolv.conf berth cares about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvConf {
    pub nameservers: Vec<IpAddr>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

/// Reads nameserver, search/domain and options lines; everything else
/// (comments, sortlist) is ignored.
pub fn parse_resolv_conf(s: &str) -> ResolvConf {
    let mut rc = ResolvConf::default();
    for line in s.lines() {
        let line = line.split(['#', ';']).next().unwrap_or("");
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                // A zone suffix (fe80::1%eth0) cannot be carried into a container.
                if let Some(ip) = words.next().and_then(|w| w.split('%').next()?.parse().ok()) {
                    rc.nameservers.push(ip);
                }
            }
            // The last search or domain line wins, as in the resolver.
            Some("search") | Some("domain") => rc.search = words.map(String::from).collect(),
            Some("options") => rc.options.extend(words.map(String::from)),
            _ => {}
        }
    }
    rc
}

/// `--dns`, `--dns-search`, `--dns-option`: each replaces the host's
/// value when not empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsOverrides {
    pub servers: Vec<IpAddr>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

/// A container's resolv.conf. With `embedded` (user-defined networks) the
/// only nameserver is berth's DNS server, which forwards to the host's
/// resolvers, or to the container's `--dns` servers given to
/// [`crate::AttachRequest::dns_servers`] (so `o.servers` is not listed). Otherwise the host's nameservers are used without loopback
/// ones (unreachable from a container's namespace); with none left, docker's
/// fallback of Google's public resolvers applies.
pub fn resolv_conf(host: &ResolvConf, embedded: Option<IpAddr>, o: &DnsOverrides) -> String {
    let servers: Vec<IpAddr> = match embedded {
        Some(e) => vec![e],
        None if !o.servers.is_empty() => o.servers.clone(),
        None => {
            let usable: Vec<IpAddr> = host
                .nameservers
                .iter()
                .copied()
                .filter(|ip| !ip.is_loopback())
                .collect();
            if usable.is_empty() {
                ["8.8.8.8", "8.8.4.4"]
                    .iter()
                    .filter_map(|s| s.parse().ok())
                    .collect()
            } else {
                usable
            }
        }
    };
    let search = if o.search.is_empty() {
        &host.search
    } else {
        &o.search
    };
    let mut options = if o.options.is_empty() {
        host.options.clone()
    } else {
        o.options.clone()
    };
    if embedded.is_some() && !options.iter().any(|x| x.starts_with("ndots:")) {
        options.push("ndots:0".into());
    }
    let mut s = String::new();
    for ns in servers {
        let _ = writeln!(s, "nameserver {ns}");
    }
    if !search.is_empty() {
        let _ = writeln!(s, "search {}", search.join(" "));
    }
    if !options.is_empty() {
        let _ = writeln!(s, "options {}", options.join(" "));
    }
    s
}

/// A container's /etc/hosts: the localhost lines, `--add-host` entries,
/// then each of its addresses with its hostname (and aliases).
pub fn hosts(
    hostname: &str,
    names: &[String],
    addrs: &[IpAddr],
    extra: &[(String, IpAddr)],
) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n\
         ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for (host, ip) in extra {
        let _ = writeln!(s, "{ip}\t{host}");
    }
    for ip in addrs {
        let mut all = vec![hostname.to_string()];
        all.extend(names.iter().filter(|n| n.as_str() != hostname).cloned());
        let _ = writeln!(s, "{ip}\t{}", all.join(" "));
    }
    s
}

/// A container's /etc/hostname.
pub fn hostname(name: &str) -> String {
    format!("{name}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_filters_the_host_resolv_conf() {
        let host = parse_resolv_conf(
            "# generated\nnameserver 127.0.0.53\nnameserver 10.0.0.2 # lan\nnameserver fe80::1%eth0\n\
             domain corp\nsearch a.example b.example\noptions edns0 trust-ad\n",
        );
        assert_eq!(host.nameservers.len(), 3);
        assert_eq!(host.search, vec!["a.example", "b.example"]);
        let rc = resolv_conf(&host, None, &DnsOverrides::default());
        assert_eq!(
            rc,
            "nameserver 10.0.0.2\nnameserver fe80::1\nsearch a.example b.example\noptions edns0 trust-ad\n"
        );
        let only_lo = parse_resolv_conf("nameserver 127.0.0.53\n");
        assert!(
            resolv_conf(&only_lo, None, &DnsOverrides::default()).contains("nameserver 8.8.8.8")
        );
    }

    #[test]
    fn embedded_dns_and_overrides() {
        let host = parse_resolv_conf("nameserver 10.0.0.2\nsearch corp\n");
        let o = DnsOverrides {
            servers: vec!["1.1.1.1".parse().unwrap()],
            search: vec!["x.example".into()],
            options: vec!["ndots:2".into()],
        };
        assert_eq!(
            resolv_conf(&host, Some("172.18.0.1".parse().unwrap()), &o),
            "nameserver 172.18.0.1\nsearch x.example\noptions ndots:2\n"
        );
        assert_eq!(
            resolv_conf(&host, None, &o),
            "nameserver 1.1.1.1\nsearch x.example\noptions ndots:2\n"
        );
        assert!(resolv_conf(
            &host,
            Some("172.18.0.1".parse().unwrap()),
            &DnsOverrides::default()
        )
        .contains("options ndots:0"));
    }

    #[test]
    fn hosts_file_like_docker() {
        let h = hosts(
            "abc123",
            &["web".to_string()],
            &["172.17.0.2".parse().unwrap()],
            &[("db.local".to_string(), "10.1.1.1".parse().unwrap())],
        );
        assert!(h.starts_with("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"));
        assert!(h.contains("10.1.1.1\tdb.local\n"));
        assert!(h.ends_with("172.17.0.2\tabc123 web\n"));
        assert_eq!(hostname("abc123"), "abc123\n");
    }
}
