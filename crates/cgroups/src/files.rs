//! Reading and writing cgroup control files. Every helper opens exactly the
//! file it needs (no directory scans) and turns failures into errors that
//! name the file and the value.

use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::path::Path;

use crate::error::{Error, Result};

/// Write `value` to `dir/file` in a single write(2), as the kernel wants.
pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    // No O_CREAT: cgroupfs files always exist, and a missing one means the
    // kernel lacks the feature. O_TRUNC is harmless on cgroupfs and keeps
    // fake trees in tests honest.
    OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|source| Error::Write {
            path,
            value: value.to_string(),
            source,
        })
}

/// Like [`write`], but a missing file becomes [`Error::Unsupported`] naming
/// `what` the user asked for: the kernel lacks that control.
pub(crate) fn write_requested(dir: &Path, file: &str, value: &str, what: &str) -> Result<()> {
    match write(dir, file, value) {
        Err(Error::Write { path, source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            Err(Error::Unsupported {
                what: what.to_string(),
                reason: format!("{} does not exist on this kernel", path.display()),
            })
        }
        other => other,
    }
}

/// Read a whole file without the fstat that `fs::read_to_string` makes for
/// a size hint: cgroupfs reports size 0 anyway, and this runs on every
/// container start.
fn read_raw(path: &Path) -> io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 4096];
    loop {
        match f.read(&mut chunk)? {
            0 => break,
            n => buf.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Read a whole control file.
pub(crate) fn read(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    read_raw(&path).map_err(|source| Error::Read { path, source })
}

/// Read a control file, or `None` if it does not exist.
pub(crate) fn read_optional(dir: &Path, file: &str) -> Result<Option<String>> {
    let path = dir.join(file);
    match read_raw(&path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read { path, source }),
    }
}

/// Parse a single number; "max" (v2) is `u64::MAX`.
pub(crate) fn parse_u64(dir: &Path, file: &str, text: &str) -> Result<u64> {
    let t = text.trim();
    if t == "max" {
        return Ok(u64::MAX);
    }
    t.parse().map_err(|_| Error::Parse {
        path: dir.join(file),
        content: t.to_string(),
    })
}

/// Read a file holding one number, or `None` if the file does not exist.
pub(crate) fn read_u64(dir: &Path, file: &str) -> Result<Option<u64>> {
    read_optional(dir, file)?
        .map(|s| parse_u64(dir, file, &s))
        .transpose()
}

/// The value of `key` in a flat keyed file ("key value" lines), if present.
pub(crate) fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(key))
            .then(|| it.next())
            .flatten()
            .and_then(|v| v.parse().ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_finds_values() {
        let t = "usage_usec 10\nuser_usec 7\nsystem_usec 3\n";
        assert_eq!(keyed(t, "user_usec"), Some(7));
        assert_eq!(keyed(t, "usage"), None);
    }

    #[test]
    fn write_names_file_and_value() {
        let d = tempfile::tempdir().unwrap();
        let e = write(d.path(), "pids.max", "100").unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("write 100 to "), "{msg}");
        assert!(msg.ends_with("/pids.max"), "{msg}");
        let e = write_requested(d.path(), "cpu.rt_runtime_us", "5", "cpu realtime runtime")
            .unwrap_err();
        assert_eq!(e.kind(), berth_base::ErrorKind::Unsupported);
    }

    #[test]
    fn parse_max() {
        let p = Path::new("/x");
        assert_eq!(parse_u64(p, "f", "max\n").unwrap(), u64::MAX);
        assert_eq!(parse_u64(p, "f", "42\n").unwrap(), 42);
        assert!(parse_u64(p, "f", "x").is_err());
    }
}
