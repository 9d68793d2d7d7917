//! Just enough of the DNS wire format (RFC 1035) for the embedded server:
//! parse a query's header and question, build answers with A, AAAA and PTR
//! records. Every read is bounds-checked and returns an error, never
//! panics, so malformed packets from a container cannot take the server
//! down.

use std::net::IpAddr;

pub const TYPE_A: u16 = 1;
pub const TYPE_PTR: u16 = 12;
pub const TYPE_AAAA: u16 = 28;
pub const CLASS_IN: u16 = 1;

pub const RCODE_NOERROR: u8 = 0;
pub const RCODE_FORMERR: u8 = 1;
pub const RCODE_SERVFAIL: u8 = 2;
pub const RCODE_NXDOMAIN: u8 = 3;
pub const RCODE_NOTIMP: u8 = 4;

/// Why a packet could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("dns message truncated")]
    Truncated,
    #[error("dns name malformed")]
    BadName,
}

/// The fixed 12-byte header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub id: u16,
    pub flags: u16,
    pub qdcount: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
}

impl Header {
    pub fn parse(buf: &[u8]) -> Result<Self, ParseError> {
        let w = |i: usize| -> Result<u16, ParseError> {
            buf.get(i..i + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .ok_or(ParseError::Truncated)
        };
        Ok(Header {
            id: w(0)?,
            flags: w(2)?,
            qdcount: w(4)?,
            ancount: w(6)?,
            nscount: w(8)?,
            arcount: w(10)?,
        })
    }

    pub fn is_response(&self) -> bool {
        self.flags & 0x8000 != 0
    }

    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xf) as u8
    }

    pub fn recursion_desired(&self) -> bool {
        self.flags & 0x0100 != 0
    }

    pub fn rcode(&self) -> u8 {
        (self.flags & 0xf) as u8
    }
}

/// One question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// Lowercase, without the final dot ("" is the root).
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
}

/// A parsed query: header and its first question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub header: Header,
    pub question: Question,
    /// Where the question ends, to copy it verbatim into the answer.
    question_end: usize,
}

impl Query {
    pub fn parse(buf: &[u8]) -> Result<Self, ParseError> {
        let header = Header::parse(buf)?;
        if header.qdcount == 0 {
            return Err(ParseError::Truncated);
        }
        let (name, mut at) = read_name(buf, 12)?;
        let qtype = read_u16(buf, at)?;
        let qclass = read_u16(buf, at + 2)?;
        at += 4;
        Ok(Query {
            header,
            question: Question {
                name,
                qtype,
                qclass,
            },
            question_end: at,
        })
    }
}

fn read_u16(buf: &[u8], at: usize) -> Result<u16, ParseError> {
    buf.get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or(ParseError::Truncated)
}

/// Reads a possibly compressed name at `at`; returns it and the offset
/// after it in the original position.
pub fn read_name(buf: &[u8], mut at: usize) -> Result<(String, usize), ParseError> {
    let mut labels: Vec<String> = Vec::new();
    let mut end = None;
    let mut jumps = 0;
    let mut total = 0usize;
    loop {
        let len = *buf.get(at).ok_or(ParseError::Truncated)? as usize;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    let after = at + 1;
                    let name = labels.join(".");
                    return Ok((name, end.unwrap_or(after)));
                }
                let label = buf.get(at + 1..at + 1 + len).ok_or(ParseError::Truncated)?;
                total += len + 1;
                if total > 255 {
                    return Err(ParseError::BadName);
                }
                labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
                at += 1 + len;
            }
            0xc0 => {
                let lo = *buf.get(at + 1).ok_or(ParseError::Truncated)? as usize;
                end.get_or_insert(at + 2);
                jumps += 1;
                // A pointer loop would never end; real names need few jumps.
                if jumps > 32 {
                    return Err(ParseError::BadName);
                }
                at = ((len & 0x3f) << 8) | lo;
            }
            _ => return Err(ParseError::BadName),
        }
    }
}

/// Appends `name` in wire form (uncompressed).
pub fn write_name(out: &mut Vec<u8>, name: &str) {
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        let l = &label.as_bytes()[..label.len().min(63)];
        out.push(l.len() as u8);
        out.extend_from_slice(l);
    }
    out.push(0);
}

/// The data of one answer record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rdata {
    Addr(IpAddr),
    Ptr(String),
}

/// Builds a response to `q` with `rcode` and `answers`, all owned by the
/// question's name (pointer to offset 12).
pub fn response(query_buf: &[u8], q: &Query, rcode: u8, answers: &[Rdata], ttl: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(&q.header.id.to_be_bytes());
    // QR, opcode copied, AA, RD copied, RA.
    let flags: u16 = 0x8000
        | (u16::from(q.header.opcode()) << 11)
        | 0x0400
        | (q.header.flags & 0x0100)
        | 0x0080
        | u16::from(rcode & 0xf);
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&query_buf[12..q.question_end]);
    for a in answers {
        out.extend_from_slice(&[0xc0, 0x0c]);
        let (ty, data) = match a {
            Rdata::Addr(IpAddr::V4(v)) => (TYPE_A, v.octets().to_vec()),
            Rdata::Addr(IpAddr::V6(v)) => (TYPE_AAAA, v.octets().to_vec()),
            Rdata::Ptr(n) => {
                let mut d = Vec::new();
                write_name(&mut d, n);
                (TYPE_PTR, d)
            }
        };
        out.extend_from_slice(&ty.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&ttl.to_be_bytes());
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(&data);
    }
    out
}

/// A bare error response for a packet whose question could not be parsed:
/// only the header, with the id echoed.
pub fn error_response(header: &Header, rcode: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(12);
    out.extend_from_slice(&header.id.to_be_bytes());
    let flags: u16 = 0x8000 | (header.flags & 0x7900) | 0x0080 | u16::from(rcode & 0xf);
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&[0; 8]);
    out
}

/// Builds a query (for tests and the forwarding fallback).
pub fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&0x0100u16.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&[0; 6]);
    write_name(&mut out, name);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out
}

/// The addresses in the answer section of a response (for tests and
/// diagnostics).
pub fn answer_addrs(buf: &[u8]) -> Result<Vec<IpAddr>, ParseError> {
    let h = Header::parse(buf)?;
    let mut at = 12;
    for _ in 0..h.qdcount {
        at = read_name(buf, at)?.1 + 4;
    }
    let mut out = Vec::new();
    for _ in 0..h.ancount {
        at = read_name(buf, at)?.1;
        let ty = read_u16(buf, at)?;
        let len = read_u16(buf, at + 8)? as usize;
        let data = buf
            .get(at + 10..at + 10 + len)
            .ok_or(ParseError::Truncated)?;
        match (ty, data.len()) {
            (TYPE_A, 4) => out.push(IpAddr::from([data[0], data[1], data[2], data[3]])),
            (TYPE_AAAA, 16) => {
                let mut b = [0u8; 16];
                b.copy_from_slice(data);
                out.push(IpAddr::from(b));
            }
            _ => {}
        }
        at += 10 + len;
    }
    Ok(out)
}

/// The address a reverse name ("4.3.2.1.in-addr.arpa", nibbles under
/// "ip6.arpa") stands for.
pub fn parse_reverse(name: &str) -> Option<IpAddr> {
    if let Some(rest) = name.strip_suffix(".in-addr.arpa") {
        let parts: Vec<u8> = rest
            .split('.')
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        if parts.len() != 4 {
            return None;
        }
        return Some(IpAddr::from([parts[3], parts[2], parts[1], parts[0]]));
    }
    let rest = name.strip_suffix(".ip6.arpa")?;
    let nibbles: Vec<u8> = rest
        .split('.')
        .map(|p| {
            (p.len() == 1)
                .then(|| u8::from_str_radix(p, 16).ok())
                .flatten()
        })
        .collect::<Option<_>>()?;
    if nibbles.len() != 32 {
        return None;
    }
    let mut b = [0u8; 16];
    for (i, pair) in nibbles.rchunks(2).enumerate() {
        // Reversed order: the last two nibbles are the first byte.
        b[i] = (pair[1] << 4) | pair[0];
    }
    Some(IpAddr::from(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_round_trip_and_answer() {
        let q = query(0x1234, "Web.Example", TYPE_A);
        let parsed = Query::parse(&q).unwrap();
        assert_eq!(parsed.header.id, 0x1234);
        assert!(parsed.header.recursion_desired());
        assert_eq!(parsed.question.name, "web.example");
        assert_eq!(parsed.question.qtype, TYPE_A);
        let ip: IpAddr = "172.18.0.2".parse().unwrap();
        let v6: IpAddr = "fd00::2".parse().unwrap();
        let r = response(
            &q,
            &parsed,
            RCODE_NOERROR,
            &[Rdata::Addr(ip), Rdata::Addr(v6)],
            600,
        );
        let h = Header::parse(&r).unwrap();
        assert!(h.is_response());
        assert_eq!(h.rcode(), RCODE_NOERROR);
        assert_eq!(answer_addrs(&r).unwrap(), vec![ip, v6]);
        let e = error_response(&parsed.header, RCODE_NXDOMAIN);
        assert_eq!(Header::parse(&e).unwrap().rcode(), RCODE_NXDOMAIN);
    }

    #[test]
    fn compressed_names_and_loops() {
        // "a" at 12, then a pointer back to it at 15.
        let mut buf = vec![0u8; 12];
        buf.extend_from_slice(&[1, b'a', 0, 0xc0, 12]);
        assert_eq!(read_name(&buf, 15).unwrap(), ("a".to_string(), 17));
        let mut lp = vec![0u8; 12];
        lp.extend_from_slice(&[0xc0, 12]);
        assert_eq!(read_name(&lp, 12), Err(ParseError::BadName));
    }

    #[test]
    fn reverse_names() {
        assert_eq!(
            parse_reverse("2.0.18.172.in-addr.arpa"),
            Some("172.18.0.2".parse().unwrap())
        );
        let v6 = "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa";
        assert_eq!(parse_reverse(v6), Some("fd00::2".parse().unwrap()));
        assert_eq!(parse_reverse("x.in-addr.arpa"), None);
        assert_eq!(parse_reverse("example.com"), None);
    }

    #[test]
    fn garbage_never_panics() {
        // A cheap deterministic fuzz: every prefix and many byte patterns.
        let base = query(7, "a.bc.def", TYPE_AAAA);
        let mut seed = 0x9e37_79b9u32;
        for len in 0..base.len() + 8 {
            for _ in 0..200 {
                let mut b: Vec<u8> = base
                    .iter()
                    .copied()
                    .chain([0xc0, 0x0c, 0xff])
                    .take(len)
                    .collect();
                for x in b.iter_mut() {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    if seed % 7 == 0 {
                        *x = (seed >> 8) as u8;
                    }
                }
                if let Ok(q) = Query::parse(&b) {
                    let _ = response(&b, &q, 0, &[Rdata::Ptr("x".into())], 1);
                }
                let _ = answer_addrs(&b);
                let _ = Header::parse(&b);
            }
        }
    }
}
