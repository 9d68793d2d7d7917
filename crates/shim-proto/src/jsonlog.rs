//! Docker's `json-file` log format: one JSON object per line,
//! `{"log":"hi\n","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"}`.
//! The shim writes it; the engine reads it for `logs`. Escaping follows
//! Docker's writer (HTML-safe `<`, `>`, `&`, invalid UTF-8 as U+FFFD) so
//! the files are byte-for-byte what dockerd would write.

use crate::time::{self, UnixNanos};
use serde::Deserialize;

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Append one encoded entry (with its final newline) to `out`.
pub fn encode_entry(out: &mut Vec<u8>, log: &[u8], stream: Stream, t: UnixNanos) {
    out.extend_from_slice(b"{\"log\":\"");
    escape_into(out, log);
    out.extend_from_slice(b"\",\"stream\":\"");
    out.extend_from_slice(stream.as_str().as_bytes());
    out.extend_from_slice(b"\",\"time\":\"");
    out.extend_from_slice(time::format_rfc3339_nano(t).as_bytes());
    out.extend_from_slice(b"\"}\n");
}

fn escape_into(out: &mut Vec<u8>, mut s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    loop {
        match std::str::from_utf8(s) {
            Ok(valid) => {
                escape_str(out, valid, HEX);
                return;
            }
            Err(e) => {
                let (good, rest) = s.split_at(e.valid_up_to());
                escape_str(out, std::str::from_utf8(good).unwrap_or_default(), HEX);
                out.extend_from_slice(b"\\ufffd");
                let skip = e.error_len().unwrap_or(rest.len());
                s = &rest[skip..];
            }
        }
    }
}

fn escape_str(out: &mut Vec<u8>, s: &str, hex: &[u8; 16]) {
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\0'..='\u{1f}' => {
                let v = c as u32;
                out.extend_from_slice(b"\\u");
                for shift in [12, 8, 4, 0] {
                    out.push(hex[((v >> shift) & 0xf) as usize]);
                }
            }
            _ => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

/// One decoded line of a json-file log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub log: String,
    pub stream: Stream,
    pub time: UnixNanos,
}

#[derive(Deserialize)]
struct RawEntry {
    log: String,
    stream: String,
    time: String,
}

/// Decode one line; `None` for a line that is not a json-file entry (a torn
/// last line after a crash, for example).
pub fn decode_entry(line: &[u8]) -> Option<Entry> {
    let raw: RawEntry = serde_json::from_slice(line).ok()?;
    let stream = match raw.stream.as_str() {
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        _ => return None,
    };
    Some(Entry {
        log: raw.log,
        stream,
        time: time::parse_rfc3339(&raw.time)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_docker() {
        let mut out = Vec::new();
        encode_entry(
            &mut out,
            b"a<b>&\"\\\t\x01\xff\n",
            Stream::Stderr,
            1_700_000_000_000_000_001,
        );
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "{\"log\":\"a\\u003cb\\u003e\\u0026\\\"\\\\\\t\\u0001\\ufffd\\n\",\"stream\":\"stderr\",\"time\":\"2023-11-14T22:13:20.000000001Z\"}\n"
        );
        let e = decode_entry(out.trim_ascii_end()).unwrap();
        assert_eq!(e.log, "a<b>&\"\\\t\u{1}\u{fffd}\n");
        assert_eq!(e.stream, Stream::Stderr);
        assert_eq!(e.time, 1_700_000_000_000_000_001);
    }

    #[test]
    fn torn_lines_are_skipped() {
        assert!(decode_entry(b"{\"log\":\"x").is_none());
    }
}
