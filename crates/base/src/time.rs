//! Wall-clock times as Docker writes and reads them, without a calendar
//! crate: RFC 3339 in UTC (Go's `RFC3339Nano`, and the fixed-width form of
//! `docker logs -t`), Go durations, and the `since`/`until` forms of the
//! Engine API. Civil dates use Howard Hinnant's day-count algorithms.
//!
//! Times are `i64` nanoseconds since the Unix epoch: that covers years
//! 1678–2262, which is every time a container engine sees.

use std::time::{SystemTime, UNIX_EPOCH};

const NANOS: i64 = 1_000_000_000;

/// The current time in nanoseconds since the epoch.
pub fn now_nanos() -> i64 {
    nanos_of(SystemTime::now())
}

/// A `SystemTime` in nanoseconds since the epoch (saturating).
pub fn nanos_of(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

/// A UTC calendar date and time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl Civil {
    /// The calendar fields of a Unix time in seconds.
    pub fn of_secs(secs: i64) -> Self {
        let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
        let sod = secs.rem_euclid(86_400) as u32;
        Self {
            year,
            month,
            day,
            hour: sod / 3600,
            minute: sod / 60 % 60,
            second: sod % 60,
        }
    }

    /// `2006-01-02T15:04:05`, the part every RFC 3339 form shares.
    fn date_time(&self, sep: char) -> String {
        let Civil {
            year,
            month,
            day,
            hour,
            minute,
            second,
        } = self;
        format!("{year:04}-{month:02}-{day:02}{sep}{hour:02}:{minute:02}:{second:02}")
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// (year, month, day) to days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Go's `time.RFC3339Nano` in UTC: `2006-01-02T15:04:05.999999999Z`, the
/// fraction without trailing zeros (and without the dot when zero).
pub fn format_rfc3339_nano(t: i64) -> String {
    let mut out = Civil::of_secs(t.div_euclid(NANOS)).date_time('T');
    let n = t.rem_euclid(NANOS);
    if n != 0 {
        let frac = format!("{n:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// The fixed-width form `docker logs --timestamps` prints and runc's state
/// holds: `2006-01-02T15:04:05.000000000Z`.
pub fn format_fixed(t: i64) -> String {
    let date_time = Civil::of_secs(t.div_euclid(NANOS)).date_time('T');
    format!("{date_time}.{:09}Z", t.rem_euclid(NANOS))
}

/// Whole seconds: `2006-01-02T15:04:05Z` (a volume's `CreatedAt`).
pub fn format_rfc3339_secs(secs: i64) -> String {
    format!("{}Z", Civil::of_secs(secs).date_time('T'))
}

/// Go's `time.Time.String()` in UTC, `2006-01-02 15:04:05 +0000 UTC`, what
/// the docker CLI shows as `CreatedAt`.
pub fn format_go_string(secs: i64) -> String {
    format!("{} +0000 UTC", Civil::of_secs(secs).date_time(' '))
}

/// Parses RFC 3339 with any fraction and a `Z` or `±hh:mm` offset into
/// nanoseconds since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    parse_date_time(s, false)
}

/// Like [`parse_rfc3339`], and also a date alone or a time without a zone
/// (read as UTC), as the docker CLI accepts for `--since`/`--until`.
fn parse_rfc3339_lenient(s: &str) -> Option<i64> {
    parse_date_time(s, true)
}

fn parse_date_time(s: &str, lenient: bool) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(i64::from(y), mo, d);
    if b.len() == 10 {
        return lenient.then(|| days.checked_mul(86_400 * NANOS))?;
    }
    if b.len() < 19 || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: i64 = 0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..9 {
            nanos *= 10;
        }
    }
    let offset: i64 = match b.get(i) {
        None if lenient => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&c @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let v = i64::from(num(i + 1..i + 3)?) * 3600 + i64::from(num(i + 4..i + 6)?) * 60;
            if c == b'-' {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(sec) - offset;
    secs.checked_mul(NANOS)?.checked_add(nanos)
}

/// A Go duration (`10m`, `1h30m`, `2.5s`, `300ms`) in nanoseconds; a bare
/// number has no unit and is not a duration.
pub fn parse_go_duration(s: &str) -> Option<i64> {
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
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

/// docker's `since`/`until` (its `GetTimestamp`): a Go duration counts back
/// from `now`; otherwise Unix seconds with an optional fraction
/// (`1700000000.5`), or RFC 3339, a date alone or a time without a zone.
pub fn parse_since(s: &str, now: i64) -> Option<i64> {
    let s = s.trim();
    if let Some(d) = parse_go_duration(s) {
        return Some(now.saturating_sub(d));
    }
    let (sec, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |t: &str| t.bytes().all(|c| c.is_ascii_digit());
    if !sec.is_empty() && digits(sec.trim_start_matches('-')) && digits(frac) && frac.len() <= 9 {
        let secs: i64 = sec.parse().ok()?;
        let nanos: i64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<9}").parse().ok()?
        };
        return secs.checked_mul(NANOS)?.checked_add(nanos);
    }
    parse_rfc3339_lenient(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        assert_eq!(format_rfc3339_nano(0), "1970-01-01T00:00:00Z");
        let t = 1_700_000_000_123_400_000;
        assert_eq!(format_rfc3339_nano(t), "2023-11-14T22:13:20.1234Z");
        assert_eq!(format_fixed(t), "2023-11-14T22:13:20.123400000Z");
        assert_eq!(
            format_rfc3339_nano(951_782_400_000_000_001),
            "2000-02-29T00:00:00.000000001Z"
        );
        assert_eq!(
            format_go_string(1_700_000_000),
            "2023-11-14 22:13:20 +0000 UTC"
        );
        for (secs, want) in [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (4_107_542_399, "2100-02-28T23:59:59Z"),
            (4_107_542_400, "2100-03-01T00:00:00Z"),
            (-1, "1969-12-31T23:59:59Z"),
        ] {
            assert_eq!(format_rfc3339_secs(secs), want);
        }
    }

    #[test]
    fn parse_round_trips_and_handles_offsets() {
        for t in [
            0,
            1_700_000_000_123_400_000,
            951_782_400_000_000_001,
            4_102_444_799_999_999_999,
        ] {
            assert_eq!(parse_rfc3339(&format_rfc3339_nano(t)), Some(t));
            assert_eq!(parse_rfc3339(&format_fixed(t)), Some(t));
        }
        assert_eq!(
            parse_rfc3339("2023-11-14T23:13:20+01:00"),
            Some(1_700_000_000_000_000_000)
        );
        for bad in [
            "",
            "2023-11-14",
            "2023-13-14T00:00:00Z",
            "2023-11-14T00:00:00",
            "2023-11-14T00:00:00.Z",
            "2023-11-14T22:13",
            "yesterday",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn since_forms() {
        let now = 1_000 * NANOS;
        assert_eq!(
            parse_since("1700000000.000000001", now),
            Some(1_700_000_000_000_000_001)
        );
        assert_eq!(parse_since("5", now), Some(5 * NANOS));
        assert_eq!(parse_since("10s", now), Some(990 * NANOS));
        assert_eq!(parse_since("2023-11-14", now), Some(1_699_920_000 * NANOS));
        assert_eq!(
            parse_since("2023-11-14T22:13:20", now),
            Some(1_700_000_000 * NANOS)
        );
        assert_eq!(
            parse_since("2023-11-15T00:13:20+02:00", now),
            Some(1_700_000_000 * NANOS)
        );
        for bad in ["", "x", "2023-13-01", "12.x", "2023-11-14T22:13", "5x"] {
            assert_eq!(parse_since(bad, now), None, "{bad}");
        }
        assert_eq!(parse_go_duration("1h30m"), Some(5_400 * NANOS));
        assert_eq!(parse_go_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_go_duration("300ms"), Some(300_000_000));
        assert_eq!(parse_go_duration("1700000000"), None);
    }
}
