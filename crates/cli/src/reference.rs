//! Image references as the docker CLI normalizes them before sending:
//! `busybox` → `docker.io/library/busybox` with tag `latest`.

/// A parsed reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Full name with domain (`docker.io/library/busybox`).
    pub name: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

/// docker's message for a reference that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid reference format{0}")]
pub struct RefError(String);

fn component_ok(c: &str) -> bool {
    // [a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*
    let b = c.as_bytes();
    if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let ch = b[i];
        if ch.is_ascii_lowercase() || ch.is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && matches!(b[i], b'.' | b'_' | b'-') {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok || start == i || i == b.len() {
            return false;
        }
        if !(b[i].is_ascii_lowercase() || b[i].is_ascii_digit()) {
            return false;
        }
    }
    true
}

impl Reference {
    pub fn parse(s: &str) -> Result<Self, RefError> {
        let bad = || RefError(String::new());
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                if !d.starts_with("sha256:") || d.len() != 71 {
                    return Err(bad());
                }
                (r, Some(d.to_owned()))
            }
            None => (s, None),
        };
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(rest[i + 1..].to_owned())),
            _ => (rest, None),
        };
        if let Some(t) = &tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
            if !ok {
                return Err(bad());
            }
        }
        if name.is_empty() {
            return Err(bad());
        }
        let (domain, path) = match name.split_once('/') {
            Some((d, p))
                if d.contains('.')
                    || d.contains(':')
                    || d == "localhost"
                    || d.chars().any(|c| c.is_ascii_uppercase()) =>
            {
                (d.to_owned(), p.to_owned())
            }
            _ => ("docker.io".to_owned(), name.to_owned()),
        };
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(RefError(format!(
                ": repository name ({path}) must be lowercase"
            )));
        }
        let path = if domain == "docker.io" && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if !path.split('/').all(component_ok) {
            return Err(bad());
        }
        Ok(Self {
            name: format!("{domain}/{path}"),
            tag,
            digest,
        })
    }

    /// The tag, `latest` when none and no digest was given.
    pub fn tag_or_latest(&self) -> String {
        self.tag.clone().unwrap_or_else(|| "latest".into())
    }
}

/// `docker.io/library/busybox` → `busybox`, as docker shows names.
pub fn familiar(name: &str) -> &str {
    let n = name.strip_prefix("docker.io/").unwrap_or(name);
    n.strip_prefix("library/")
        .filter(|r| !r.contains('/'))
        .unwrap_or(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_docker() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.name, "docker.io/library/busybox");
        assert_eq!(r.tag_or_latest(), "latest");
        let r = Reference::parse("localhost:5000/me/app:1.0").unwrap();
        assert_eq!(r.name, "localhost:5000/me/app");
        assert_eq!(r.tag.as_deref(), Some("1.0"));
        let r = Reference::parse("me/app").unwrap();
        assert_eq!(r.name, "docker.io/me/app");
        assert_eq!(familiar(&r.name), "me/app");
        assert_eq!(familiar("docker.io/library/busybox"), "busybox");
        for bad in [
            "",
            "Busybox",
            "a:",
            "a:-x",
            "a//b",
            "a@sha256:12",
            "-a",
            "a..b",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Reference::parse("Busybox").unwrap_err().to_string(),
            "invalid reference format: repository name (Busybox) must be lowercase"
        );
    }
}
