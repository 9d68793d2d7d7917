//! `docker logs`: reads the json-file log (rotated files first), with
//! since/until/tail, and follows it while the container runs.

use super::{Containers, Result};
use berth_shim_proto::jsonlog::{decode_entry, Stream};
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub stdout: bool,
    pub stderr: bool,
    /// Unix nanoseconds; 0 = from the start.
    pub since: i64,
    /// Unix nanoseconds; 0 = no end.
    pub until: i64,
    /// Only the last `n` lines.
    pub tail: Option<usize>,
    pub follow: bool,
}

/// One line of output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub stderr: bool,
    pub time: i64,
    pub text: Vec<u8>,
}

/// Parse docker's `--since`/`--until`: RFC 3339, Unix seconds (with a
/// fraction), or a duration before now (`10m`, `1h30m`, `45s`).
pub fn parse_time(s: &str) -> Option<i64> {
    berth_base::time::parse_since(s, berth_base::time::now_nanos())
}

fn files(path: &Path) -> Vec<PathBuf> {
    let mut rotated = Vec::new();
    for n in 1.. {
        let mut p = path.as_os_str().to_owned();
        p.push(format!(".{n}"));
        let p = PathBuf::from(p);
        if !p.exists() {
            break;
        }
        rotated.push(p);
    }
    rotated.reverse();
    rotated.push(path.to_owned());
    rotated
}

impl LogOptions {
    fn wants(&self, l: &LogLine) -> bool {
        (if l.stderr { self.stderr } else { self.stdout })
            && (self.since == 0 || l.time > self.since)
            && (self.until == 0 || l.time <= self.until)
    }
}

fn decode(line: &[u8]) -> Option<LogLine> {
    let e = decode_entry(line)?;
    Some(LogLine {
        stderr: e.stream == Stream::Stderr,
        time: e.time,
        text: e.log.into_bytes(),
    })
}

impl Containers {
    /// Feed the log lines to `sink` until it returns false, or the end
    /// (with `follow`: until the container stops).
    pub fn logs(
        &self,
        name: &str,
        opts: &LogOptions,
        sink: &mut dyn FnMut(LogLine) -> bool,
    ) -> Result<()> {
        let rec = self.inner.record(name)?;
        let path = rec.log_path.clone();
        let mut lines: Vec<LogLine> = Vec::new();
        let mut offset = 0u64;
        for f in files(&path) {
            let Ok(file) = File::open(&f) else { continue };
            let mut r = BufReader::new(file);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                let n = r
                    .read_until(b'\n', &mut buf)
                    .map_err(|e| super::Error::io(format!("read {}", f.display()), e))?;
                if n == 0 || !buf.ends_with(b"\n") {
                    break;
                }
                if f == path {
                    offset += n as u64;
                }
                if let Some(l) = decode(&buf).filter(|l| opts.wants(l)) {
                    lines.push(l);
                    if opts.tail.is_none() && !opts.follow {
                        // Stream straight through when nothing needs the whole set.
                        let l = lines.pop().expect("just pushed");
                        if !sink(l) {
                            return Ok(());
                        }
                    }
                }
            }
        }
        if let Some(n) = opts.tail {
            let skip = lines.len().saturating_sub(n);
            lines.drain(..skip);
        }
        for l in lines {
            if !sink(l) {
                return Ok(());
            }
        }
        if !opts.follow {
            return Ok(());
        }
        self.follow(&rec.id, &path, offset, opts, sink)
    }

    fn follow(
        &self,
        id: &str,
        path: &Path,
        mut offset: u64,
        opts: &LogOptions,
        sink: &mut dyn FnMut(LogLine) -> bool,
    ) -> Result<()> {
        let mut ino = std::fs::metadata(path)
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .unwrap_or(0);
        let mut buf = Vec::new();
        loop {
            let running = self
                .inner
                .record(id)
                .map(|r| r.state.is_running())
                .unwrap_or(false);
            // A new file under the name: the log rotated, read it from the start.
            if let Ok(m) = std::fs::metadata(path) {
                let now_ino = std::os::unix::fs::MetadataExt::ino(&m);
                if now_ino != ino || m.len() < offset {
                    ino = now_ino;
                    offset = 0;
                }
            }
            if let Ok(mut f) = File::open(path) {
                f.seek(SeekFrom::Start(offset))
                    .map_err(|e| super::Error::io(format!("seek {}", path.display()), e))?;
                let mut r = BufReader::new(f);
                loop {
                    buf.clear();
                    let n = r
                        .read_until(b'\n', &mut buf)
                        .map_err(|e| super::Error::io(format!("read {}", path.display()), e))?;
                    if n == 0 || !buf.ends_with(b"\n") {
                        break;
                    }
                    offset += n as u64;
                    if let Some(l) = decode(&buf) {
                        if opts.until != 0 && l.time > opts.until {
                            return Ok(());
                        }
                        if opts.wants(&l) && !sink(l) {
                            return Ok(());
                        }
                    }
                }
            }
            if !running {
                return Ok(());
            }
            // An empty write tells the caller to check its client is alive.
            if !sink(LogLine {
                stderr: false,
                time: 0,
                text: Vec::new(),
            }) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
