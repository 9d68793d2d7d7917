//! Readers and writers that hash and count what passes through them, so a
//! stream is verified in the same pass that stores or unpacks it.

use berth_base::digest::Digest;
use sha2::{Digest as _, Sha256};
use std::io::{self, Read, Write};

/// A reader that hashes and counts every byte read through it.
pub struct HashReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Reads the rest of the stream, then returns its digest and length.
    pub fn finish(mut self) -> io::Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((Digest::from_hasher(self.hasher), self.count))
    }
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A reader that hashes every byte read through it on a second thread, so
/// hashing overlaps with whatever the reader's caller does with the bytes
/// (unpacking them). Same interface as [`HashReader`].
pub struct ThreadedHashReader<R> {
    inner: R,
    pending: Vec<u8>,
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    worker: Option<std::thread::JoinHandle<Sha256>>,
    count: u64,
}

/// Bytes handed to the hashing thread at a time.
const HASH_CHUNK: usize = 1 << 20;

impl<R: Read> ThreadedHashReader<R> {
    /// Wraps `inner` and starts the hashing thread.
    pub fn new(inner: R) -> io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
        let worker = std::thread::Builder::new()
            .name("berth-hash".into())
            .spawn(move || {
                let mut h = Sha256::new();
                for chunk in rx {
                    h.update(&chunk);
                }
                h
            })?;
        Ok(Self {
            inner,
            pending: Vec::with_capacity(HASH_CHUNK),
            tx: Some(tx),
            worker: Some(worker),
            count: 0,
        })
    }

    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    fn send(&mut self) -> io::Result<()> {
        let chunk = std::mem::replace(&mut self.pending, Vec::with_capacity(HASH_CHUNK));
        match &self.tx {
            Some(tx) => tx
                .send(chunk)
                .map_err(|_| io::Error::other("hashing thread stopped")),
            None => Err(io::Error::other("hash reader already finished")),
        }
    }

    /// Reads the rest of the stream, then returns its digest and length.
    pub fn finish(mut self) -> io::Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        self.send()?;
        drop(self.tx.take());
        let h = self
            .worker
            .take()
            .ok_or_else(|| io::Error::other("hash reader already finished"))?
            .join()
            .map_err(|_| io::Error::other("hashing thread panicked"))?;
        Ok((Digest::from_hasher(h), self.count))
    }
}

impl<R: Read> Read for ThreadedHashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pending.extend_from_slice(&buf[..n]);
        self.count += n as u64;
        if self.pending.len() >= HASH_CHUNK {
            self.send()?;
        }
        Ok(n)
    }
}

impl<R> Drop for ThreadedHashReader<R> {
    fn drop(&mut self) {
        // Closing the channel ends the thread; wait so none outlives us.
        drop(self.tx.take());
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// A writer that hashes and counts every byte written through it.
pub struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// The digest and length of what was written, and the inner writer.
    pub fn finish(self) -> (Digest, u64, W) {
        (Digest::from_hasher(self.hasher), self.count, self.inner)
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that copies everything read through it into a writer (a blob
/// being stored while the same bytes are unpacked).
pub struct TeeReader<R, W> {
    inner: R,
    out: W,
}

impl<R: Read, W: Write> TeeReader<R, W> {
    /// Wraps `inner`, copying into `out`.
    pub fn new(inner: R, out: W) -> Self {
        Self { inner, out }
    }

    /// Reads the rest of the stream (copying it too) and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(self.out)
    }
}

impl<R: Read, W: Write> Read for TeeReader<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Compression of a layer or archive, detected from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar stream.
    None,
    /// gzip (RFC 1952).
    Gzip,
    /// zstd frames.
    Zstd,
}

impl Compression {
    /// Detects the compression from the magic bytes at the start of a stream.
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// The OCI media type of a layer with this compression.
    pub fn oci_layer_media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// A reader that replays peeked bytes before the rest of the stream.
pub type Peeked<R> = io::Chain<io::Cursor<Vec<u8>>, R>;

/// Reads up to `n` bytes from `r` without losing them: returns them and a
/// reader that yields them again followed by the rest of `r`.
pub fn peek<R: Read>(mut r: R, n: usize) -> io::Result<(Vec<u8>, Peeked<R>)> {
    let mut head = vec![0u8; n];
    let mut got = 0;
    while got < n {
        match r.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(got);
    Ok((head.clone(), io::Cursor::new(head).chain(r)))
}

/// Detects the compression of `r` and returns a reader of the decompressed
/// bytes. gzip streams of several members are read whole.
pub fn decompress<'a, R: Read + 'a>(r: R) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let (head, r) = peek(r, 4)?;
    let c = Compression::detect(&head);
    let out: Box<dyn Read + 'a> = match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(
            io::BufReader::with_capacity(256 << 10, r),
        )),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(
            io::BufReader::with_capacity(256 << 10, r),
        )?),
    };
    Ok((c, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_reader_matches_digest_of() {
        let data = b"hello berth".repeat(1000);
        let r = HashReader::new(&data[..]);
        let (d, n) = r.finish().unwrap();
        assert_eq!(d, Digest::of(&data));
        assert_eq!(n, data.len() as u64);
    }

    #[test]
    fn threaded_hash_reader_matches_digest_of() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut r = ThreadedHashReader::new(&data[..]).unwrap();
        let mut first = vec![0u8; 1000];
        r.read_exact(&mut first).unwrap();
        assert_eq!(r.count(), 1000);
        let (d, n) = r.finish().unwrap();
        assert_eq!(d, Digest::of(&data));
        assert_eq!(n, data.len() as u64);
        // Dropped unfinished: the thread ends too.
        drop(ThreadedHashReader::new(&data[..]).unwrap());
    }

    #[test]
    fn decompress_detects_formats() {
        let data = b"payload".repeat(100);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        let zs = zstd::encode_all(&data[..], 1).unwrap();
        for (input, want) in [
            (data.clone(), Compression::None),
            (gz, Compression::Gzip),
            (zs, Compression::Zstd),
        ] {
            let (c, mut r) = decompress(&input[..]).unwrap();
            assert_eq!(c, want);
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            assert_eq!(out, data);
        }
    }
}
