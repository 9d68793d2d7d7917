//! Keeping an uncompressed layer without keeping its bytes twice: while
//! the layer is unpacked, everything in the tar stream that is not the
//! content of a regular file (headers, PAX records, padding, the end
//! blocks) is recorded, with a reference to the unpacked file for the rest.
//! The exact stream, and so the diff id, is reassembled from the record and
//! the layer directory when the layer is saved or pushed (Docker's
//! tar-split does the same). Reassembly checks the diff id at the end.
//!
//! Record format (zstd-compressed): a sequence of `b'R' <u64 len> <bytes>`
//! (raw stream bytes) and `b'F' <u64 size> <u32 path len> <path>` (the
//! content of the unpacked file at `path`), little endian.

use crate::error::{Error, IoContext, Result};
use berth_base::digest::Digest;
use rustix::fs::{Mode, OFlags, ResolveFlags};
use sha2::{Digest as _, Sha256};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::rc::Rc;

/// Media type of a stored tar-split record in the content store.
pub const MEDIA_TYPE: &str = "application/vnd.berth.layer.tar-split.v1+zstd";

enum Seg {
    Raw(Vec<u8>),
    File { path: Vec<u8>, size: u64 },
}

/// Bytes passing through a [`CaptureReader`] while capturing is on.
#[derive(Default)]
pub(crate) struct Capture {
    on: bool,
    buf: Vec<u8>,
}

/// A reader that copies what is read into a shared [`Capture`].
pub(crate) struct CaptureReader<R> {
    inner: R,
    cap: Rc<RefCell<Capture>>,
}

impl<R: Read> CaptureReader<R> {
    pub(crate) fn new(inner: R, cap: Rc<RefCell<Capture>>, on: bool) -> Self {
        cap.borrow_mut().on = on;
        Self { inner, cap }
    }

    pub(crate) fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Reads (and captures) the rest of the stream; returns the inner reader.
    pub(crate) fn finish(mut self) -> io::Result<R> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(self.inner)
    }
}

impl<R: Read> Read for CaptureReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut cap = self.cap.borrow_mut();
        if cap.on {
            cap.buf.extend_from_slice(&buf[..n]);
        }
        Ok(n)
    }
}

/// Builds the record while a layer is applied.
pub(crate) struct Recorder {
    cap: Rc<RefCell<Capture>>,
    segs: Vec<Seg>,
    /// Path → index of its `File` segment, for files of this layer that a
    /// later entry may replace.
    files: HashMap<Vec<u8>, usize>,
}

impl Recorder {
    pub(crate) fn new() -> (Self, Rc<RefCell<Capture>>) {
        let cap = Rc::new(RefCell::new(Capture::default()));
        (
            Self {
                cap: cap.clone(),
                segs: Vec::new(),
                files: HashMap::new(),
            },
            cap,
        )
    }

    fn flush_raw(&mut self) {
        let raw = std::mem::take(&mut self.cap.borrow_mut().buf);
        if !raw.is_empty() {
            self.segs.push(Seg::Raw(raw));
        }
    }

    /// The content of a regular file follows in the stream: stop capturing.
    pub(crate) fn begin_file(&mut self, path: Vec<u8>, size: u64) {
        self.flush_raw();
        self.files.insert(path.clone(), self.segs.len());
        self.segs.push(Seg::File { path, size });
        self.cap.borrow_mut().on = false;
    }

    /// The file's content has been read: capture again.
    pub(crate) fn end_file(&self) {
        self.cap.borrow_mut().on = true;
    }

    /// Paths of recorded files at `path` or beneath it.
    pub(crate) fn recorded_under(&self, path: &[u8]) -> Vec<Vec<u8>> {
        self.files
            .keys()
            .filter(|p| {
                p.as_slice() == path || (p.starts_with(path) && p.get(path.len()) == Some(&b'/'))
            })
            .cloned()
            .collect()
    }

    /// A recorded file is about to be removed: keep its bytes in the record.
    pub(crate) fn inline(&mut self, path: &[u8], data: Vec<u8>) {
        if let Some(i) = self.files.remove(path) {
            self.segs[i] = Seg::Raw(data);
        }
    }

    /// The finished record, compressed.
    pub(crate) fn finish(mut self) -> Result<Vec<u8>> {
        self.flush_raw();
        let mut out = Vec::new();
        for s in &self.segs {
            match s {
                Seg::Raw(b) => {
                    out.push(b'R');
                    out.extend_from_slice(&(b.len() as u64).to_le_bytes());
                    out.extend_from_slice(b);
                }
                Seg::File { path, size } => {
                    out.push(b'F');
                    out.extend_from_slice(&size.to_le_bytes());
                    out.extend_from_slice(&(path.len() as u32).to_le_bytes());
                    out.extend_from_slice(path);
                }
            }
        }
        zstd::encode_all(&out[..], 3).ctx(|| "compress tar-split record")
    }
}

fn decode(data: &[u8]) -> Result<Vec<Seg>> {
    let raw = zstd::decode_all(data).ctx(|| "decompress tar-split record")?;
    let bad = || Error::BadLayer("corrupt tar-split record".into());
    let mut segs = Vec::new();
    let mut p = &raw[..];
    let take = |p: &mut &[u8], n: usize| -> Result<Vec<u8>> {
        if p.len() < n {
            return Err(bad());
        }
        let (a, b) = p.split_at(n);
        *p = b;
        Ok(a.to_vec())
    };
    while let Some((&tag, rest)) = p.split_first() {
        p = rest;
        let len = u64::from_le_bytes(take(&mut p, 8)?.try_into().map_err(|_| bad())?);
        match tag {
            b'R' => segs.push(Seg::Raw(take(&mut p, len as usize)?)),
            b'F' => {
                let plen = u32::from_le_bytes(take(&mut p, 4)?.try_into().map_err(|_| bad())?);
                segs.push(Seg::File {
                    path: take(&mut p, plen as usize)?,
                    size: len,
                });
            }
            _ => return Err(bad()),
        }
    }
    Ok(segs)
}

enum Cur {
    None,
    Raw(io::Cursor<Vec<u8>>),
    File(io::Take<File>, u64),
}

/// Reads the reassembled layer tar; fails at the end if it does not hash
/// to the layer's diff id (the layer directory was changed).
pub struct Reassembler {
    root: rustix::fd::OwnedFd,
    segs: std::vec::IntoIter<Seg>,
    cur: Cur,
    hasher: Sha256,
    diff_id: Digest,
    done: bool,
}

/// Opens the reassembled tar of the layer unpacked at `layer_dir`.
pub fn reassemble(record: &[u8], layer_dir: &Path, diff_id: &Digest) -> Result<Reassembler> {
    let root = rustix::fs::open(
        layer_dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("open {}", layer_dir.display()))?;
    Ok(Reassembler {
        root,
        segs: decode(record)?.into_iter(),
        cur: Cur::None,
        hasher: Sha256::new(),
        diff_id: diff_id.clone(),
        done: false,
    })
}

impl Reassembler {
    fn next_seg(&mut self) -> io::Result<bool> {
        self.cur = match self.segs.next() {
            None => return Ok(false),
            Some(Seg::Raw(b)) => Cur::Raw(io::Cursor::new(b)),
            Some(Seg::File { path, size }) => {
                let fd = rustix::fs::openat2(
                    &self.root,
                    <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&path),
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                    ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
                )
                .map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("layer file {:?}: {e}", String::from_utf8_lossy(&path)),
                    )
                })?;
                Cur::File(File::from(fd).take(size), size)
            }
        };
        Ok(true)
    }
}

impl Read for Reassembler {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = match &mut self.cur {
                Cur::None => 0,
                Cur::Raw(c) => c.read(buf)?,
                Cur::File(f, left) => {
                    let n = f.read(buf)?;
                    if n == 0 && *left > 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "layer file is shorter than when it was unpacked",
                        ));
                    }
                    *left -= n as u64;
                    n
                }
            };
            if n > 0 {
                self.hasher.update(&buf[..n]);
                return Ok(n);
            }
            if !self.next_seg()? {
                if !self.done {
                    self.done = true;
                    let got = Digest::from_hasher(std::mem::take(&mut self.hasher));
                    if got != self.diff_id {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("reassembled layer has diff id {got}, want {}", self.diff_id),
                        ));
                    }
                }
                return Ok(0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::apply::apply_layer_split;
    use berth_base::digest::Digest;
    use std::io::Read;

    fn layer() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut add = |path: &str, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(1_700_000_000);
            b.append_data(&mut h, path, data).unwrap();
        };
        add("a", b"first version of a");
        add("dir/inner", b"inside a directory that goes away");
        add(
            &format!("long/{}", "n".repeat(150)),
            b"a name longer than 100 bytes",
        );
        add("a", b"second version of a");
        add("big", &vec![7u8; 100_000]);
        // "dir" becomes a file: its recorded content must survive.
        add("dir", b"now a file");
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Link);
        h.set_size(0);
        h.set_mode(0o644);
        b.append_link(&mut h, "big-link", "big").unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn reassembly_gives_the_exact_stream_back() {
        let tar = layer();
        let d = tempfile::tempdir().unwrap();
        let (stats, split) = apply_layer_split(&tar[..], d.path()).unwrap();
        assert_eq!(stats.diff_id, Digest::of(&tar));
        let split = split.unwrap();
        assert!(split.len() < 4096, "record is small: {}", split.len());
        let mut out = Vec::new();
        super::reassemble(&split, d.path(), &stats.diff_id)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert!(out == tar, "reassembled stream differs");

        // A changed layer directory is caught.
        std::fs::write(d.path().join("big"), vec![8u8; 100_000]).unwrap();
        let err = super::reassemble(&split, d.path(), &stats.diff_id)
            .unwrap()
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("diff id"), "{err}");
    }

    #[test]
    fn compressed_layers_have_no_record() {
        let tar = layer();
        let gz = zstd::encode_all(&tar[..], 1).unwrap();
        let d = tempfile::tempdir().unwrap();
        let (stats, split) = apply_layer_split(&gz[..], d.path()).unwrap();
        assert_eq!(stats.diff_id, Digest::of(&tar));
        assert!(split.is_none());
    }
}
