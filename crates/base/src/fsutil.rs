//! Crash-safe file writes: write to a temporary name in the same directory,
//! fsync, rename over the target, fsync the directory. A crash at any instant
//! leaves either the old or the new content, never a torn file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Atomically replace `path` with `data`, creating it with `mode`.
pub fn atomic_write(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    write_and_rename(path, data, mode, true)
}

/// As [`atomic_write`] without the fsyncs: a crash of the process at any
/// instant still leaves the old or the new content (the page cache
/// outlives it), but a crash of the host may lose the update. For state
/// that does not outlive a reboot anyway (files under the exec root, the
/// records of `--rm` containers).
pub fn replace_file(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    write_and_rename(path, data, mode, false)
}

fn write_and_rename(path: &Path, data: &[u8], mode: u32, sync: bool) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::sync::atomic::{AtomicU64, Ordering};
    // Unique per call: two threads writing the same file must not share
    // (and tear) one temporary file.
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        if sync {
            f.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        if sync {
            sync_dir(dir)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// fsync a directory so that a rename in it is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_content_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state.json");
        atomic_write(&p, b"one", 0o600).unwrap();
        atomic_write(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn replace_file_replaces_content_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state.json");
        replace_file(&p, b"one", 0o600).unwrap();
        replace_file(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn atomic_write_into_missing_dir_fails_cleanly() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("nope/state.json");
        assert!(atomic_write(&p, b"x", 0o600).is_err());
    }
}
