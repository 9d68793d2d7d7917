//! Timestamps as the Engine API writes and reads them: RFC 3339 with
//! nanoseconds (Go's `RFC3339Nano`, trailing zeros trimmed) and the
//! `since`/`until` query forms; the calendar work is berth-base's.

use berth_base::time as bt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds and nanoseconds since the epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    pub secs: i64,
    pub nanos: u32,
}

impl Timestamp {
    pub fn now() -> Self {
        Self::from_system(SystemTime::now())
    }

    pub fn from_system(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Self {
                secs: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                nanos: d.subsec_nanos(),
            },
            Err(e) => {
                let d = e.duration();
                let secs = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                if d.subsec_nanos() == 0 {
                    Self { secs, nanos: 0 }
                } else {
                    Self {
                        secs: secs - 1,
                        nanos: 1_000_000_000 - d.subsec_nanos(),
                    }
                }
            }
        }
    }

    pub fn to_system(self) -> SystemTime {
        if self.secs >= 0 {
            UNIX_EPOCH + Duration::new(self.secs.unsigned_abs(), self.nanos)
        } else {
            UNIX_EPOCH - Duration::from_secs(self.secs.unsigned_abs())
                + Duration::from_nanos(u64::from(self.nanos))
        }
    }

    /// Nanoseconds since the epoch (the events' `timeNano`).
    pub fn as_nanos(self) -> i64 {
        self.secs
            .saturating_mul(1_000_000_000)
            .saturating_add(i64::from(self.nanos))
    }

    pub fn from_nanos(n: i64) -> Self {
        Self {
            secs: n.div_euclid(1_000_000_000),
            nanos: u32::try_from(n.rem_euclid(1_000_000_000)).unwrap_or(0),
        }
    }

    /// Go's `RFC3339Nano` in UTC: `2024-05-01T10:11:12.5Z`.
    pub fn to_rfc3339_nanos(self) -> String {
        bt::format_rfc3339_nano(self.as_nanos())
    }

    /// Go's `time.Time.String()` in UTC: `2024-05-01 10:11:12 +0000 UTC`,
    /// what the docker CLI shows as `CreatedAt`.
    pub fn to_go_string(self) -> String {
        bt::format_go_string(self.secs)
    }

    /// A `since`/`until` value, docker's `GetTimestamp`: a Go duration
    /// counts back from `now`; otherwise `<seconds>[.<nanos>]` as the docker
    /// CLI sends, or RFC 3339 (a date alone, or without a zone, is UTC).
    pub fn parse_relative(s: &str, now: Timestamp) -> Option<Self> {
        bt::parse_since(s, now.as_nanos()).map(Self::from_nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_and_formats() {
        let t = Timestamp {
            secs: 1_700_000_000,
            nanos: 500_000_000,
        };
        assert_eq!(t.to_rfc3339_nanos(), "2023-11-14T22:13:20.5Z");
        assert_eq!(t.to_go_string(), "2023-11-14 22:13:20 +0000 UTC");
        assert_eq!(Timestamp::from_nanos(t.as_nanos()), t);
        let n = Timestamp::from_nanos(-1);
        assert_eq!((n.secs, n.nanos), (-1, 999_999_999));
        assert_eq!(n.as_nanos(), -1);
        let now = Timestamp {
            secs: 1000,
            nanos: 0,
        };
        assert_eq!(Timestamp::parse_relative("10s", now).unwrap().secs, 990);
        assert_eq!(Timestamp::parse_relative("5", now).unwrap().secs, 5);
        assert!(Timestamp::parse_relative("x", now).is_none());
    }
}
