//! Timestamps as the Engine API writes and reads them: RFC 3339 with
//! nanoseconds (Go's `RFC3339Nano`, trailing zeros trimmed) and the
//! `since`/`until` query forms (`<seconds>[.<nanos>]` or RFC 3339).

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
        let (y, mo, d, h, mi, s) = civil(self.secs);
        let mut out = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
        if self.nanos != 0 {
            let frac = format!("{:09}", self.nanos);
            out.push('.');
            out.push_str(frac.trim_end_matches('0'));
        }
        out.push('Z');
        out
    }

    /// Go's `time.Time.String()` in UTC: `2024-05-01 10:11:12 +0000 UTC`,
    /// what the docker CLI shows as `CreatedAt`.
    pub fn to_go_string(self) -> String {
        let (y, mo, d, h, mi, s) = civil(self.secs);
        format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} +0000 UTC")
    }

    /// Parses RFC 3339 (`2024-05-01T10:11:12.5Z`, `...+02:00`, a date
    /// alone) into a timestamp.
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let p = s.get(r)?;
            p.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| p.parse().ok())?
        };
        if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
            return None;
        }
        let mut secs = days_from_civil(y, mo, d) * 86_400;
        if b.len() == 10 {
            return Some(Self { secs, nanos: 0 });
        }
        if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 19 || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if h > 23 || mi > 59 || se > 60 {
            return None;
        }
        secs += h * 3600 + mi * 60 + se;
        let mut i = 19;
        let mut nanos = 0u32;
        if b.get(i) == Some(&b'.') {
            let start = i + 1;
            let mut end = start;
            while end < b.len() && b[end].is_ascii_digit() {
                end += 1;
            }
            if end == start {
                return None;
            }
            let digits = &s[start..end.min(start + 9)];
            nanos = format!("{digits:0<9}").parse().ok()?;
            i = end;
        }
        match &s[i..] {
            "Z" | "z" | "" => {}
            off if off.len() == 6 && (off.starts_with('+') || off.starts_with('-')) => {
                let oh: i64 = off.get(1..3)?.parse().ok()?;
                let om: i64 = off.get(4..6)?.parse().ok()?;
                let o = oh * 3600 + om * 60;
                secs -= if off.starts_with('+') { o } else { -o };
            }
            _ => return None,
        }
        Some(Self { secs, nanos })
    }

    /// A `since`/`until` query value: `<seconds>[.<nanos>]` as the docker
    /// CLI sends, or RFC 3339.
    pub fn parse_query(s: &str) -> Option<Self> {
        let s = s.trim();
        let (sec, frac) = s.split_once('.').unwrap_or((s, ""));
        if !sec.is_empty()
            && sec
                .trim_start_matches('-')
                .bytes()
                .all(|c| c.is_ascii_digit())
            && frac.bytes().all(|c| c.is_ascii_digit())
            && frac.len() <= 9
        {
            let secs = sec.parse().ok()?;
            let nanos = if frac.is_empty() {
                0
            } else {
                format!("{frac:0<9}").parse().ok()?
            };
            return Some(Self { secs, nanos });
        }
        Self::parse_rfc3339(s)
    }
}

/// A Go duration (`10m`, `1h30m`, `2.5s`) in nanoseconds.
pub fn parse_go_duration_nanos(s: &str) -> Option<i64> {
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n_end = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let n: f64 = rest[..n_end].parse().ok()?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += n * unit;
        rest = &rest[u_end..];
    }
    Some(total as i64)
}

impl Timestamp {
    /// docker's `GetTimestamp`: a Go duration counts back from `now`;
    /// otherwise a `since`/`until` value as [`Timestamp::parse_query`].
    pub fn parse_relative(s: &str, now: Timestamp) -> Option<Self> {
        match parse_go_duration_nanos(s) {
            Some(d) => Some(Self::from_nanos(now.as_nanos().saturating_sub(d))),
            None => Self::parse_query(s),
        }
    }
}

/// (year, month, day, hour, minute, second) of a Unix time, UTC.
fn civil(secs: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days_from_civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        let t = Timestamp {
            secs: 1_700_000_000,
            nanos: 500_000_000,
        };
        assert_eq!(t.to_rfc3339_nanos(), "2023-11-14T22:13:20.5Z");
        assert_eq!(t.to_go_string(), "2023-11-14 22:13:20 +0000 UTC");
        assert_eq!(
            Timestamp::default().to_rfc3339_nanos(),
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn parses_query_forms() {
        let t = Timestamp::parse_query("1700000000.000000001").unwrap();
        assert_eq!((t.secs, t.nanos), (1_700_000_000, 1));
        assert_eq!(
            Timestamp::parse_query("2023-11-14T22:13:20.5Z").unwrap(),
            Timestamp {
                secs: 1_700_000_000,
                nanos: 500_000_000
            }
        );
        assert_eq!(
            Timestamp::parse_query("2023-11-15T00:13:20+02:00")
                .unwrap()
                .secs,
            1_700_000_000
        );
        assert_eq!(
            Timestamp::parse_query("2023-11-14").unwrap().secs,
            1_699_920_000
        );
        for bad in ["", "x", "2023-13-01", "12.x", "2023-11-14T22:13"] {
            assert!(Timestamp::parse_query(bad).is_none(), "{bad}");
        }
        assert_eq!(parse_go_duration_nanos("10m"), Some(600_000_000_000));
        assert_eq!(parse_go_duration_nanos("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_go_duration_nanos("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_go_duration_nanos("1700000000"), None);
        let now = Timestamp {
            secs: 1000,
            nanos: 0,
        };
        assert_eq!(Timestamp::parse_relative("10s", now).unwrap().secs, 990);
        assert_eq!(Timestamp::parse_relative("5", now).unwrap().secs, 5);
        let n = Timestamp::from_nanos(-1);
        assert_eq!((n.secs, n.nanos), (-1, 999_999_999));
        assert_eq!(n.as_nanos(), -1);
    }
}
