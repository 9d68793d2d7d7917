//! The content store: blobs addressed by their sha256, verified on write.
//!
//! A blob is written under `ingest/` with a random name while it is hashed,
//! fsynced, and renamed to `blobs/sha256/<hex>` only if its digest is the one
//! expected. A blob whose bytes do not match is never visible.

use crate::error::{Error, IoContext, Result};
use crate::hashio::HashWriter;
use berth_base::digest::Digest;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// A store of verified, content-addressed blobs.
pub trait ContentStore: Send + Sync {
    /// Starts a new blob. Nothing is visible until [`ContentStore::commit`].
    fn writer(&self) -> Result<BlobWriter>;
    /// Makes the written blob visible under its digest, if it matches
    /// `expected` (when given). Returns the digest and the size.
    fn commit(&self, w: BlobWriter, expected: Option<&Digest>) -> Result<(Digest, u64)>;
    /// As [`ContentStore::commit`] without the fsync, for batches that the
    /// caller makes durable at once (`Store::sync`) before anything refers
    /// to them.
    fn commit_unsynced(&self, w: BlobWriter, expected: Option<&Digest>) -> Result<(Digest, u64)>;
    /// Opens a blob for reading.
    fn open(&self, d: &Digest) -> Result<File>;
    /// The size of a blob, or `None` if it is absent.
    fn size(&self, d: &Digest) -> Result<Option<u64>>;
    /// Deletes a blob; returns whether it existed.
    fn delete(&self, d: &Digest) -> Result<bool>;
    /// Every blob in the store.
    fn list(&self) -> Result<Vec<Digest>>;

    /// Stores `data` in one call.
    fn put(&self, data: &[u8], expected: Option<&Digest>) -> Result<Digest> {
        let mut w = self.writer()?;
        w.write_all(data).ctx(|| "write blob")?;
        Ok(self.commit(w, expected)?.0)
    }

    /// Reads a whole (small) blob.
    fn read(&self, d: &Digest) -> Result<Vec<u8>> {
        let mut f = self.open(d)?;
        let mut out = Vec::new();
        io::Read::read_to_end(&mut f, &mut out).ctx(|| format!("read blob {d}"))?;
        Ok(out)
    }
}

/// A blob being written; hashes as it goes. Dropping it without committing
/// removes the temporary file.
pub struct BlobWriter {
    tmp: PathBuf,
    out: Option<HashWriter<BufWriter<File>>>,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.out {
            Some(w) => w.write(buf),
            None => Err(io::Error::other("blob writer already finished")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.out {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.out.is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// The content store on the local filesystem, `<root>/blobs/sha256/<hex>`.
#[derive(Debug)]
pub struct LocalContent {
    root: PathBuf,
}

impl LocalContent {
    /// Opens (creating) the store under `root` and removes unfinished writes
    /// left by a crash.
    pub fn open(root: &Path) -> Result<Self> {
        let ingest = root.join("ingest");
        if ingest.exists() {
            fs::remove_dir_all(&ingest).ctx(|| format!("clean {}", ingest.display()))?;
        }
        for d in [root.join("blobs/sha256"), ingest] {
            fs::create_dir_all(&d).ctx(|| format!("create {}", d.display()))?;
        }
        Ok(Self {
            root: root.to_owned(),
        })
    }

    fn finish(
        &self,
        mut w: BlobWriter,
        expected: Option<&Digest>,
        sync: bool,
    ) -> Result<(Digest, u64)> {
        let Some(out) = w.out.take() else {
            return Err(Error::BadLayer("blob writer already finished".into()));
        };
        let tmp = w.tmp.clone();
        let result = (|| {
            let (digest, size, buf) = out.finish();
            let f = buf
                .into_inner()
                .map_err(|e| Error::io(format!("write {}", tmp.display()), e.into_error()))?;
            if let Some(want) = expected {
                if *want != digest {
                    return Err(Error::DigestMismatch {
                        expected: want.to_string(),
                        actual: digest.to_string(),
                    });
                }
            }
            if sync {
                f.sync_all().ctx(|| format!("fsync {}", tmp.display()))?;
            }
            let dest = self.path(&digest);
            fs::rename(&tmp, &dest)
                .ctx(|| format!("rename {} to {}", tmp.display(), dest.display()))?;
            Ok((digest, size))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Where a blob lives.
    pub fn path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(d.hex())
    }
}

impl ContentStore for LocalContent {
    fn writer(&self) -> Result<BlobWriter> {
        let name = berth_base::id::random_id().ctx(|| "random blob name")?;
        let tmp = self.root.join("ingest").join(name);
        let f = File::create_new(&tmp).ctx(|| format!("create {}", tmp.display()))?;
        Ok(BlobWriter {
            tmp,
            out: Some(HashWriter::new(BufWriter::with_capacity(1 << 20, f))),
        })
    }

    fn commit(&self, w: BlobWriter, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        self.finish(w, expected, true)
    }

    fn commit_unsynced(&self, w: BlobWriter, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        self.finish(w, expected, false)
    }

    fn open(&self, d: &Digest) -> Result<File> {
        File::open(self.path(d)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::BlobNotFound(d.to_string()),
            _ => Error::io(format!("open blob {d}"), e),
        })
    }

    fn size(&self, d: &Digest) -> Result<Option<u64>> {
        match fs::metadata(self.path(d)) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("stat blob {d}"), e)),
        }
    }

    fn delete(&self, d: &Digest) -> Result<bool> {
        match fs::remove_file(self.path(d)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(format!("delete blob {d}"), e)),
        }
    }

    fn list(&self) -> Result<Vec<Digest>> {
        let dir = self.root.join("blobs/sha256");
        let mut out = Vec::new();
        for ent in fs::read_dir(&dir).ctx(|| format!("read {}", dir.display()))? {
            let ent = ent.ctx(|| format!("read {}", dir.display()))?;
            if let Ok(d) = format!("sha256:{}", ent.file_name().to_string_lossy()).parse() {
                out.push(d);
            }
        }
        out.sort();
        Ok(out)
    }
}

/// The conformance suite every [`ContentStore`] passes.
pub mod testsuite {
    use super::*;

    /// Runs every check against `store`, which must be empty.
    pub fn run(store: &dyn ContentStore) {
        roundtrip(store);
        mismatch_is_never_stored(store);
        abandoned_write_leaves_nothing(store);
        delete_and_list(store);
    }

    fn roundtrip(store: &dyn ContentStore) {
        let d = store.put(b"hello", None).expect("put");
        assert_eq!(d, Digest::of(b"hello"));
        assert_eq!(store.read(&d).expect("read"), b"hello");
        assert_eq!(store.size(&d).expect("size"), Some(5));
        // Writing the same content again is harmless.
        assert_eq!(store.put(b"hello", Some(&d)).expect("put again"), d);
        let mut w = store.writer().expect("writer");
        w.write_all(b"unsynced").expect("write");
        let (u, n) = store.commit_unsynced(w, None).expect("commit unsynced");
        assert_eq!((u.clone(), n), (Digest::of(b"unsynced"), 8));
        let mut w = store.writer().expect("writer");
        w.write_all(b"unsynced").expect("write");
        assert!(
            store.commit_unsynced(w, Some(&d)).is_err(),
            "digest still checked"
        );
        assert!(store.delete(&u).expect("delete"));
    }

    fn mismatch_is_never_stored(store: &dyn ContentStore) {
        let want = Digest::of(b"expected");
        let err = store
            .put(b"something else", Some(&want))
            .expect_err("mismatch");
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
        assert_eq!(
            store.size(&Digest::of(b"something else")).expect("size"),
            None
        );
        assert_eq!(store.size(&want).expect("size"), None);
    }

    fn abandoned_write_leaves_nothing(store: &dyn ContentStore) {
        let before = store.list().expect("list");
        let mut w = store.writer().expect("writer");
        w.write_all(b"half a blob").expect("write");
        drop(w);
        assert_eq!(store.list().expect("list"), before);
    }

    fn delete_and_list(store: &dyn ContentStore) {
        let d = store.put(b"to delete", None).expect("put");
        assert!(store.list().expect("list").contains(&d));
        assert!(store.delete(&d).expect("delete"));
        assert!(!store.delete(&d).expect("delete again"));
        assert!(matches!(store.open(&d), Err(Error::BlobNotFound(_))));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_content_passes_the_suite() {
        let d = tempfile::tempdir().unwrap();
        let store = LocalContent::open(d.path()).unwrap();
        testsuite::run(&store);
        // No temporary files remain.
        assert_eq!(fs::read_dir(d.path().join("ingest")).unwrap().count(), 0);
    }
}
