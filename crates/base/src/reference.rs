//! Image references with Docker's normalisation: `busybox` is
//! `docker.io/library/busybox:latest`, `me/app:1` is `docker.io/me/app:1`,
//! a first component with a `.` or `:` (or `localhost`) is a registry.
//! The CLI checks names with it before sending, the engine when storing.

use std::fmt;

/// A reference that does not parse. The message starts as docker's
/// (`invalid reference format`) and says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid reference format: {0}")]
pub struct RefError(String);

/// The registry of names without one.
pub const DEFAULT_DOMAIN: &str = "docker.io";

/// A normalised reference: `domain/path[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    /// Registry host (and port).
    pub domain: String,
    /// Repository path within the registry.
    pub path: String,
    /// Tag, if any.
    pub tag: Option<String>,
    /// Manifest digest, if any.
    pub digest: Option<String>,
}

fn valid_component(c: &str) -> bool {
    // [a-z0-9]+ separated by one of "." "_" "__" or any run of "-".
    let b = c.as_bytes();
    if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'a'..=b'z' | b'0'..=b'9' => i += 1,
            b'.' => {
                if !b[i + 1].is_ascii_alphanumeric() {
                    return false;
                }
                i += 1;
            }
            b'_' => {
                let n = if b.get(i + 1) == Some(&b'_') { 2 } else { 1 };
                if !b[i + n].is_ascii_alphanumeric() {
                    return false;
                }
                i += n;
            }
            b'-' => {
                while b[i] == b'-' {
                    i += 1;
                }
                if !b[i].is_ascii_alphanumeric() {
                    return false;
                }
            }
            _ => return false,
        }
    }
    true
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c))
}

fn valid_domain(d: &str) -> bool {
    !d.is_empty()
        && d.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b".-:[]".contains(&c))
}

impl Reference {
    /// Parses and normalises `s`. No tag is added; see [`Reference::with_default_tag`].
    pub fn parse(s: &str) -> Result<Self, RefError> {
        let bad = |why: &str| RefError(format!("{why} in {s:?}"));
        if s.is_empty() {
            return Err(bad("empty reference"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                d.parse::<crate::digest::Digest>()
                    .map_err(|_| bad("invalid digest"))?;
                (r, Some(d.to_owned()))
            }
            None => (s, None),
        };
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(rest[i + 1..].to_owned())),
            _ => (rest, None),
        };
        if let Some(t) = &tag {
            if !valid_tag(t) {
                return Err(bad("invalid tag"));
            }
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, remainder))
                if first.contains('.')
                    || first.contains(':')
                    || first == "localhost"
                    || first.bytes().any(|c| c.is_ascii_uppercase()) =>
            {
                (first.to_owned(), remainder.to_owned())
            }
            _ => (DEFAULT_DOMAIN.to_owned(), name.to_owned()),
        };
        let domain = if domain == "index.docker.io" {
            DEFAULT_DOMAIN.to_owned()
        } else {
            domain
        };
        if !valid_domain(&domain) {
            return Err(bad("invalid registry"));
        }
        if path.bytes().any(|c| c.is_ascii_uppercase()) {
            return Err(RefError(format!(
                "repository name ({path}) must be lowercase"
            )));
        }
        if !path.split('/').all(valid_component) {
            return Err(bad("invalid repository name"));
        }
        let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if domain.len() + path.len() + 1 > 255 {
            return Err(bad("repository name too long"));
        }
        Ok(Self {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// Adds the `latest` tag when the reference has neither tag nor digest.
    pub fn with_default_tag(mut self) -> Self {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some("latest".into());
        }
        self
    }

    /// The tag, `latest` when there is none.
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or("latest")
    }

    /// `domain/path`, the repository name.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The repository name as Docker shows it (`busybox`, `me/app`,
    /// `localhost:5000/app`).
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix("library/") {
                Some(p) if !p.contains('/') => p.to_owned(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }

    /// The whole reference as Docker shows it (`busybox:latest`).
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// The familiar form of a stored full reference string.
pub fn familiar(full: &str) -> String {
    Reference::parse(full).map_or_else(|_| full.to_owned(), |r| r.familiar())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_docker() {
        let cases = [
            (
                "busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            ("me/app:1.0", "docker.io/me/app:1.0", "me/app:1.0"),
            (
                "localhost:5000/app",
                "localhost:5000/app:latest",
                "localhost:5000/app:latest",
            ),
            ("quay.io/a/b/c:x", "quay.io/a/b/c:x", "quay.io/a/b/c:x"),
            (
                "index.docker.io/library/alpine:3",
                "docker.io/library/alpine:3",
                "alpine:3",
            ),
            (
                "docker.io/library/a/b",
                "docker.io/library/a/b:latest",
                "library/a/b:latest",
            ),
            (
                "a__b-c.d--e",
                "docker.io/library/a__b-c.d--e:latest",
                "a__b-c.d--e:latest",
            ),
        ];
        for (input, full, fam) in cases {
            let r = Reference::parse(input).unwrap().with_default_tag();
            assert_eq!(r.to_string(), full, "{input}");
            assert_eq!(r.familiar(), fam, "{input}");
        }
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("busybox@{d}"))
            .unwrap()
            .with_default_tag();
        assert_eq!(r.tag, None);
        assert_eq!(r.familiar(), format!("busybox@{d}"));
    }

    #[test]
    fn refuses_bad_names() {
        for bad in [
            "",
            "Busybox",
            "a//b",
            "-a",
            "a:",
            "a:-x",
            "a@sha256:00",
            "a b",
            "a/.b",
            "a..b",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Reference::parse("Busybox").unwrap_err().to_string(),
            "invalid reference format: repository name (Busybox) must be lowercase"
        );
        assert_eq!(
            Reference::parse("a:-x").unwrap_err().to_string(),
            "invalid reference format: invalid tag in \"a:-x\""
        );
    }
}
