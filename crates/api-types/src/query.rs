//! Query-string values as dockerd reads them.

/// A boolean query value: false only for "", "0", "no", "false" and "none"
/// (any case), true for anything else, as moby's `httputils.BoolValue`.
pub fn parse_bool(v: &str) -> bool {
    !matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "" | "0" | "no" | "false" | "none"
    )
}

/// Percent-decodes a query component (`+` is a space).
pub fn decode(s: &str) -> String {
    percent_decode(s, true)
}

/// Percent-decodes a URL path (`+` stays a plus).
pub fn decode_path(s: &str) -> String {
    percent_decode(s, false)
}

fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hexval(b[i + 1]), hexval(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hexval(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Percent-encodes a query component.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Splits a raw query string into decoded `(key, value)` pairs, keeping
/// repeats in order.
pub fn parse_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bools_like_dockerd() {
        for f in ["", "0", "no", "FALSE", "none"] {
            assert!(!parse_bool(f), "{f}");
        }
        for t in ["1", "true", "yes", "anything"] {
            assert!(parse_bool(t), "{t}");
        }
    }

    #[test]
    fn round_trip() {
        let s = r#"{"label":["a=b c"]}/ü%"#;
        assert_eq!(decode(&encode(s)), s);
        assert_eq!(decode("a+b%2"), "a b%2");
        assert_eq!(decode_path("/images/a+b%3Ax"), "/images/a+b:x");
        let p = parse_pairs("t=a&t=b&q&x=%7B%7D");
        assert_eq!(
            p,
            vec![
                ("t".into(), "a".into()),
                ("t".into(), "b".into()),
                ("q".into(), "".into()),
                ("x".into(), "{}".into())
            ]
        );
    }
}
