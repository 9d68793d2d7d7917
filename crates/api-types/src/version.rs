//! API versions (`1.47`) and the range berthd serves.

use std::fmt;
use std::str::FromStr;

/// An Engine API version, `major.minor`, ordered numerically (1.9 < 1.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    pub major: u32,
    pub minor: u32,
}

impl ApiVersion {
    pub const fn new(major: u32, minor: u32) -> Self {
        Self { major, minor }
    }
}

/// The version berthd advertises and serves unversioned paths with: the
/// highest whose request fields berth honours. Never below 1.44, which the
/// docker CLI 29 requires.
pub const MAX_API_VERSION: ApiVersion = ApiVersion::new(1, 47);

/// The oldest version berthd accepts in a `/vX.YY/` path prefix.
pub const MIN_API_VERSION: ApiVersion = ApiVersion::new(1, 24);

/// A string that is not `<major>.<minor>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid API version {0:?}")]
pub struct VersionError(pub String);

impl FromStr for ApiVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || VersionError(s.to_owned());
        let (major, minor) = s.split_once('.').ok_or_else(err)?;
        let num = |p: &str| {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            p.parse::<u32>().map_err(|_| err())
        };
        Ok(Self::new(num(major)?, num(minor)?))
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_order_and_display() {
        let a: ApiVersion = "1.9".parse().unwrap();
        let b: ApiVersion = "1.10".parse().unwrap();
        assert!(a < b);
        assert_eq!(b.to_string(), "1.10");
        assert!(MIN_API_VERSION < MAX_API_VERSION);
        assert!(MAX_API_VERSION >= ApiVersion::new(1, 44));
        for bad in ["", "1", "1.", ".1", "1.x", "1.2.3", "v1.2", "1.-2"] {
            assert!(bad.parse::<ApiVersion>().is_err(), "{bad}");
        }
    }
}
