//! Wall-clock times as the shim writes them into logs and exit files and the
//! engine reads them back: nanoseconds since the epoch, formatted as Go's
//! `RFC3339Nano` or the fixed-width form of `docker logs -t` (berth-base).

pub use berth_base::time::{format_fixed, format_rfc3339_nano, now_nanos as now, parse_rfc3339};

/// Nanoseconds since the Unix epoch (UTC).
pub type UnixNanos = i64;
