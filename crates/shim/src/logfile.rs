//! The container's json-file log: lines assembled per stream, written in
//! Docker's format, rotated by size into `<log>.1` … `<log>.<max_file-1>`.

use berth_shim_proto::jsonlog::{encode_entry, Stream};
use berth_shim_proto::time;
use berth_shim_proto::LogConfig;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Docker splits lines longer than this into partial entries.
const MAX_LINE: usize = 16 * 1024;

pub(crate) struct LogFile {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    max_file: u32,
    partial: [Vec<u8>; 2],
    scratch: Vec<u8>,
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl LogFile {
    pub(crate) fn open(cfg: &LogConfig) -> io::Result<Self> {
        let file = open_append(&cfg.path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path: cfg.path.clone(),
            file,
            size,
            max_size: cfg.max_size,
            max_file: cfg.max_file.max(1),
            partial: [Vec::new(), Vec::new()],
            scratch: Vec::new(),
        })
    }

    fn slot(stream: Stream) -> usize {
        match stream {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }

    /// Take output bytes of `stream`; complete lines are written now, the
    /// rest waits for its newline (or for the line to grow too long).
    pub(crate) fn feed(&mut self, stream: Stream, mut data: &[u8]) -> io::Result<()> {
        let t = time::now();
        let i = Self::slot(stream);
        while let Some(nl) = data.iter().position(|&b| b == b'\n') {
            let (line, rest) = data.split_at(nl + 1);
            if self.partial[i].is_empty() {
                self.entry(line, stream, t)?;
            } else {
                let mut whole = std::mem::take(&mut self.partial[i]);
                whole.extend_from_slice(line);
                self.entry(&whole, stream, t)?;
            }
            data = rest;
        }
        self.partial[i].extend_from_slice(data);
        while self.partial[i].len() >= MAX_LINE {
            let rest = self.partial[i].split_off(MAX_LINE);
            let chunk = std::mem::replace(&mut self.partial[i], rest);
            self.entry(&chunk, stream, t)?;
        }
        Ok(())
    }

    /// Write out what is left of a stream that ended without a newline.
    pub(crate) fn flush_stream(&mut self, stream: Stream) -> io::Result<()> {
        let i = Self::slot(stream);
        if !self.partial[i].is_empty() {
            let last = std::mem::take(&mut self.partial[i]);
            self.entry(&last, stream, time::now())?;
        }
        Ok(())
    }

    fn entry(&mut self, line: &[u8], stream: Stream, t: time::UnixNanos) -> io::Result<()> {
        self.scratch.clear();
        encode_entry(&mut self.scratch, line, stream, t);
        let len = self.scratch.len() as u64;
        if self.max_size > 0 && self.size > 0 && self.size + len > self.max_size {
            self.rotate()?;
        }
        self.file.write_all(&self.scratch)?;
        self.size += len;
        Ok(())
    }

    fn numbered(&self, n: u32) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.max_file > 1 {
            for n in (1..self.max_file - 1).rev() {
                match fs::rename(self.numbered(n), self.numbered(n + 1)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            fs::rename(&self.path, self.numbered(1))?;
            self.file = open_append(&self.path)?;
        } else {
            self.file.set_len(0)?;
        }
        self.size = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_shim_proto::jsonlog::decode_entry;

    fn lines(p: &Path) -> Vec<String> {
        fs::read(p)
            .unwrap_or_default()
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| decode_entry(l).unwrap().log)
            .collect()
    }

    #[test]
    fn assembles_lines_per_stream_and_flushes_partials() {
        let d = tempfile::tempdir().unwrap();
        let cfg = LogConfig {
            path: d.path().join("c-json.log"),
            max_size: 0,
            max_file: 1,
        };
        let mut l = LogFile::open(&cfg).unwrap();
        l.feed(Stream::Stdout, b"hel").unwrap();
        l.feed(Stream::Stderr, b"oops\n").unwrap();
        l.feed(Stream::Stdout, b"lo\nwor").unwrap();
        l.flush_stream(Stream::Stdout).unwrap();
        assert_eq!(lines(&cfg.path), ["oops\n", "hello\n", "wor"]);
    }

    #[test]
    fn long_lines_are_split_and_files_rotate() {
        let d = tempfile::tempdir().unwrap();
        let cfg = LogConfig {
            path: d.path().join("c-json.log"),
            max_size: 300,
            max_file: 3,
        };
        let mut l = LogFile::open(&cfg).unwrap();
        for i in 0..20 {
            l.feed(Stream::Stdout, format!("line {i}\n").as_bytes())
                .unwrap();
        }
        let cur = lines(&cfg.path);
        assert_eq!(cur.last().map(String::as_str), Some("line 19\n"));
        assert!(d.path().join("c-json.log.1").exists());
        assert!(d.path().join("c-json.log.2").exists());
        assert!(!d.path().join("c-json.log.3").exists());
        assert!(fs::metadata(&cfg.path).unwrap().len() <= 300);

        let big = vec![b'x'; MAX_LINE + 10];
        let mut l = LogFile::open(&LogConfig {
            path: d.path().join("big.log"),
            max_size: 0,
            max_file: 1,
        })
        .unwrap();
        l.feed(Stream::Stdout, &big).unwrap();
        l.feed(Stream::Stdout, b"\n").unwrap();
        let got = lines(&d.path().join("big.log"));
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].len(), MAX_LINE);
        assert_eq!(got[1], "xxxxxxxxxx\n");
    }
}
