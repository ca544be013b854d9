//! Content-addressed blob storage over `object_store`.
//!
//! A blob is named by the SHA-256 of its bytes (`ab/cd/abcd…` under the store's
//! prefix), so the same file stored twice is one blob. Backends:
//! - a local folder ([`BlobStore::local`], or a `file:///abs` URL), fsynced
//!   before `put` returns, so a blob is durable before the index command that
//!   references it is proposed;
//! - S3 or any S3-protocol server: [`BlobStore::s3`] with explicit
//!   [`S3Options`], or an `s3://bucket/prefix` URL, which takes credentials,
//!   region and endpoint from the standard `AWS_*` variables.
//!
//! Only objects at exactly `<prefix>/ab/cd/<sha256>` are blobs: [`BlobStore::list`]
//! (which the garbage collector deletes from) ignores anything else under the
//! prefix, including the blobs of another store whose prefix is nested in ours.
//! `node/tests/it/blob_store.rs` runs one conformance suite against every backend.
//!
//! [`placement`] decides where the copies of a blob go in the replicated mode;
//! the copies themselves travel over `cluster::blobs`.

pub mod cache;
pub mod placement;
pub mod verified;

use std::collections::HashSet;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use cache::BlobCache;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};
use sha2::{Digest, Sha256};
use verified::{FileStamp, VerifiedSet};

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob {0} is missing from the blob store")]
    NotFound(String),
    #[error("blob store error: {0}")]
    Store(object_store::Error),
    #[error("blob store I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("unsupported blob store URL {0}: use s3://bucket[/prefix] or file:///absolute/path")]
    BadUrl(String),
    #[error("blob {hash} is corrupt: its content hashes to {actual}")]
    Corrupt { hash: String, actual: String },
}

/// A full disk under `object_store` becomes [`BlobError::Io`] with the OS's
/// error code, so the edges can answer "storage full" rather than "internal".
impl From<object_store::Error> for BlobError {
    fn from(e: object_store::Error) -> Self {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(err) = source {
            let io = err.downcast_ref::<std::io::Error>();
            if let Some(io) = io.filter(|io| io.kind() == std::io::ErrorKind::StorageFull) {
                return BlobError::Io(io.raw_os_error().map_or_else(
                    || std::io::Error::new(std::io::ErrorKind::StorageFull, e.to_string()),
                    std::io::Error::from_raw_os_error,
                ));
            }
            source = err.source();
        }
        BlobError::Store(e)
    }
}

/// What was stored: the name of the blob and facts the index records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    pub hash: String,
    pub size: u64,
}

#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    /// Root folder of the local backend, for fsync.
    local_root: Option<PathBuf>,
    fsync: bool,
    /// Shard folders whose own entry is known durable (fsynced since this
    /// store was opened): a new blob in one of them needs only its file and
    /// its folder flushed. Folders are never removed (`LocalFileSystem`'s
    /// automatic cleanup stays off), so an entry never goes stale.
    durable_dirs: Arc<Mutex<HashSet<PathBuf>>>,
    /// Local blob files known to hash to their names (see [`verified`]).
    verified: Arc<VerifiedSet>,
    /// Recently read blobs (see [`cache`]).
    cache: Arc<BlobCache>,
}

fn default_cache() -> Arc<BlobCache> {
    Arc::new(BlobCache::new(
        (cache::DEFAULT_MB * 1024 * 1024) as usize,
        verified::TRUST_FOR,
    ))
}

/// SHA-256 of `bytes`, lowercase hex: the blob's name.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether `name` can name a blob: 64 lowercase hex digits.
fn is_hash(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// How to reach an S3-protocol server, for [`BlobStore::s3`]. A field left at
/// `None` keeps `object_store`'s default (AWS's endpoint, region `us-east-1`;
/// without keys, the instance's role: web identity, container or EC2 metadata).
/// The credentials need Get/Put/DeleteObject and ListBucket: without
/// ListBucket, S3 answers 403 instead of 404 for a missing blob, and `put`
/// fails rather than guessing that a refused HEAD means "absent".
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    /// `http(s)://host:port` of a server other than AWS; buckets are then
    /// addressed path-style (`endpoint/bucket/key`).
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Allow a plain `http://` endpoint (a test server, a private MinIO).
    pub allow_http: bool,
}

impl BlobStore {
    /// A store in a local folder (created if missing).
    pub fn local(root: &FsPath, fsync: bool) -> Result<BlobStore, BlobError> {
        std::fs::create_dir_all(root)?;
        let root = root.canonicalize()?;
        Ok(BlobStore {
            store: Arc::new(LocalFileSystem::new_with_prefix(&root)?),
            prefix: Path::default(),
            local_root: Some(root),
            fsync,
            durable_dirs: Arc::default(),
            verified: Arc::default(),
            cache: default_cache(),
        })
    }

    /// A store in `bucket` under `prefix` ("" for the bucket's root), reached
    /// with `options` only: the process environment is not read, so tests and
    /// tools can open several servers side by side.
    pub fn s3(bucket: &str, prefix: &str, options: S3Options) -> Result<BlobStore, BlobError> {
        let mut builder = AmazonS3Builder::new().with_allow_http(options.allow_http);
        if let Some(endpoint) = options.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(region) = options.region {
            builder = builder.with_region(region);
        }
        if let Some(key) = options.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = options.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        BlobStore::s3_with(builder, bucket, prefix)
    }

    fn s3_with(
        builder: AmazonS3Builder,
        bucket: &str,
        prefix: &str,
    ) -> Result<BlobStore, BlobError> {
        if bucket.is_empty() {
            return Err(BlobError::BadUrl(format!("s3://{bucket}/{prefix}")));
        }
        Ok(BlobStore {
            store: Arc::new(builder.with_bucket_name(bucket).build()?),
            prefix: Path::from(prefix.trim_matches('/')),
            local_root: None,
            fsync: false,
            durable_dirs: Arc::default(),
            verified: Arc::default(),
            cache: default_cache(),
        })
    }

    /// The store named by a URL (`s3://bucket[/prefix]`, `file:///abs`), or the
    /// local default. For S3 every `AWS_*` setting of the environment applies
    /// (keys, session token, region, `AWS_ENDPOINT`; an `http://` endpoint is
    /// allowed as such).
    pub fn from_url(
        url: Option<&str>,
        default_root: &FsPath,
        fsync: bool,
    ) -> Result<BlobStore, BlobError> {
        let Some(url) = url else {
            return BlobStore::local(default_root, fsync);
        };
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(BlobError::BadUrl(url.to_owned()));
            }
            return BlobStore::local(FsPath::new(path), fsync);
        }
        let Some(rest) = url.strip_prefix("s3://") else {
            return Err(BlobError::BadUrl(url.to_owned()));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(BlobError::BadUrl(url.to_owned()));
        }
        let mut builder = AmazonS3Builder::from_env();
        if std::env::var("AWS_ENDPOINT").is_ok_and(|e| e.starts_with("http://")) {
            builder = builder.with_allow_http(true);
        }
        BlobStore::s3_with(builder, bucket, prefix)
    }

    /// Sets the size of the storage cache, in bytes, for every clone of this
    /// store (Orthanc's `MaximumStorageCacheSize`; 0 disables it).
    pub fn set_cache_capacity(&self, bytes: usize) {
        self.cache.set_capacity(bytes);
    }

    /// Where the blob `hash` lives: `<prefix>/ab/cd/<hash>`.
    fn location(&self, hash: &str) -> Path {
        self.prefix
            .child(&hash[0..2])
            .child(&hash[2..4])
            .child(hash)
    }

    /// The blob named by `location`, if it is exactly where a blob of this
    /// store lives.
    fn blob_name(&self, location: &Path) -> Option<String> {
        let parts: Vec<_> = location.prefix_match(&self.prefix)?.collect();
        let [a, b, name] = parts.as_slice() else {
            return None;
        };
        let name = name.as_ref();
        (is_hash(name) && a.as_ref() == &name[0..2] && b.as_ref() == &name[2..4])
            .then(|| name.to_owned())
    }

    /// Stores `bytes` under their content hash; durable when this returns. An
    /// object already there with the same size is kept (same name, same
    /// content, unless corrupt: see [`BlobStore::get_verified`]); one of
    /// another size (a torn write) is replaced.
    pub async fn put(&self, bytes: Bytes) -> Result<StoredBlob, BlobError> {
        // Hashing a 512 KiB image takes a fraction of a millisecond: off the
        // async workers. (No MD5 here: Orthanc's MD5 of an attachment is
        // computed when asked for, see ADR 006.)
        let hash = {
            let bytes = bytes.clone();
            tokio::task::spawn_blocking(move || content_hash(&bytes))
                .await
                .map_err(std::io::Error::other)?
        };
        let size = bytes.len() as u64;
        let location = self.location(&hash);
        let present = match self.store.head(&location).await {
            Ok(meta) => meta.size == size,
            Err(object_store::Error::NotFound { .. }) => false,
            Err(e) => return Err(e.into()),
        };
        if !present {
            self.store
                .put(&location, PutPayload::from_bytes(bytes))
                .await?;
            self.sync(&location).await?;
            // The file holds the bytes just hashed: a read soon after (a
            // viewer opening the study just received) need not hash them again.
            if let Some(file) = self.local_file(&hash) {
                if let Ok(meta) = std::fs::metadata(&file) {
                    self.verified.insert_written(&hash, FileStamp::of(&meta));
                }
            }
        }
        Ok(StoredBlob { hash, size })
    }

    /// [`BlobStore::put`], except that a copy already there is read back and
    /// replaced if its content does not hash to its name: for copies that
    /// repair a lost or damaged one.
    pub async fn put_repairing(&self, bytes: Bytes) -> Result<StoredBlob, BlobError> {
        let hash = content_hash(&bytes);
        self.verified.forget(&hash);
        self.cache.remove(&hash);
        match self.get_verified(&hash).await {
            Ok(_) | Err(BlobError::NotFound(_)) => {}
            Err(BlobError::Corrupt { hash, .. }) => self.delete(&hash).await?,
            Err(e) => return Err(e),
        }
        self.put(bytes).await
    }

    /// For the local backend, flush the file and its folder to disk, and the
    /// folders above it up to the root unless already known durable: `put`
    /// may have just created the shard folders `ab/` and `ab/cd/`, whose
    /// entries must be durable too. The file and the folders are flushed
    /// concurrently (all of them are durable when this returns; on ext4 they
    /// then share one journal commit instead of one each).
    async fn sync(&self, location: &Path) -> Result<(), BlobError> {
        let (Some(root), true) = (&self.local_root, self.fsync) else {
            return Ok(());
        };
        let file = root.join(location.as_ref());
        let Some(parent) = file.parent().map(FsPath::to_owned) else {
            return Ok(());
        };
        let mut dirs = vec![parent];
        {
            let known = self.durable_dirs.lock().unwrap_or_else(|e| e.into_inner());
            while let Some(dir) = dirs
                .last()
                .filter(|d| *d != root && !known.contains(*d))
                .and_then(|d| d.parent())
            {
                if !dir.starts_with(root) {
                    break;
                }
                dirs.push(dir.to_owned());
            }
        }
        let synced_dirs = dirs.clone();
        let file_sync =
            tokio::task::spawn_blocking(move || std::fs::File::open(&file)?.sync_data());
        let dirs_sync = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            for dir in &dirs {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        });
        let (file_result, dirs_result) = tokio::join!(file_sync, dirs_sync);
        file_result.map_err(std::io::Error::other)??;
        dirs_result.map_err(std::io::Error::other)??;
        self.durable_dirs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(synced_dirs);
        Ok(())
    }

    /// The bytes of blob `hash` (as stored: see [`BlobStore::get_verified`]).
    pub async fn get(&self, hash: &str) -> Result<Bytes, BlobError> {
        if !is_hash(hash) {
            return Err(BlobError::NotFound(hash.to_owned()));
        }
        match self.store.get(&self.location(hash)).await {
            Ok(result) => Ok(result.bytes().await?),
            Err(object_store::Error::NotFound { .. }) => Err(BlobError::NotFound(hash.to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    /// The file of blob `hash` in the local backend.
    fn local_file(&self, hash: &str) -> Option<PathBuf> {
        let root = self.local_root.as_ref()?;
        is_hash(hash).then(|| root.join(self.location(hash).as_ref()))
    }

    /// Reads a blob and checks that its bytes still hash to its name: always
    /// hashes them. For repairs and for copies served to other nodes.
    pub async fn get_verified(&self, hash: &str) -> Result<Bytes, BlobError> {
        let bytes = self.get(hash).await?;
        self.check(hash, bytes, None).await
    }

    /// The bytes of blob `hash`, known to hash to its name: hashed again
    /// unless the local file is unchanged since it was last found (or
    /// written) sound, within [`verified::TRUST_FOR`]. The read path of
    /// every retrieval (REST, C-MOVE, C-GET, archives).
    pub async fn get_checked(&self, hash: &str) -> Result<Bytes, BlobError> {
        let file = self.local_file(hash);
        if let Some(bytes) = self.cache.get(hash) {
            // A local copy changed since it was cached must be read again. The
            // file was read recently: its inode is in memory, and this `stat`
            // costs microseconds, no trip to a blocking thread.
            let unchanged = file.as_ref().is_none_or(|file| {
                std::fs::metadata(file)
                    .is_ok_and(|meta| self.verified.trusts(hash, FileStamp::of(&meta)))
            });
            if unchanged {
                return Ok(bytes);
            }
            self.cache.remove(hash);
        }
        let bytes = self.read_checked(hash, file).await?;
        self.cache.insert(hash, bytes.clone());
        Ok(bytes)
    }

    /// [`BlobStore::get_checked`] without the cache.
    async fn read_checked(&self, hash: &str, file: Option<PathBuf>) -> Result<Bytes, BlobError> {
        let Some(file) = file else {
            return self.get_verified(hash).await;
        };
        // Open, stamp and read in one trip to a blocking thread.
        let read = tokio::task::spawn_blocking(move || -> std::io::Result<(Bytes, FileStamp)> {
            use std::io::Read;
            let mut f = std::fs::File::open(&file)?;
            let meta = f.metadata()?;
            let mut bytes = Vec::with_capacity(meta.len() as usize);
            f.read_to_end(&mut bytes)?;
            Ok((Bytes::from(bytes), FileStamp::of(&meta)))
        });
        let (bytes, stamp) = match read.await.map_err(std::io::Error::other)? {
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BlobError::NotFound(hash.to_owned()))
            }
            Err(e) => return Err(e.into()),
        };
        if self.verified.trusts(hash, stamp) {
            return Ok(bytes);
        }
        self.check(hash, bytes, Some(stamp)).await
    }

    /// `bytes` if they hash to `hash` (on a blocking thread: milliseconds for
    /// an image); records or forgets the file state `stamp` accordingly.
    async fn check(
        &self,
        hash: &str,
        bytes: Bytes,
        stamp: Option<FileStamp>,
    ) -> Result<Bytes, BlobError> {
        let hashed = bytes.clone();
        let actual = tokio::task::spawn_blocking(move || content_hash(&hashed))
            .await
            .map_err(std::io::Error::other)?;
        if actual != hash {
            self.verified.forget(hash);
            return Err(BlobError::Corrupt {
                hash: hash.to_owned(),
                actual,
            });
        }
        if let Some(stamp) = stamp {
            self.verified.insert(hash, stamp);
        }
        Ok(bytes)
    }

    pub async fn exists(&self, hash: &str) -> Result<bool, BlobError> {
        if !is_hash(hash) {
            return Ok(false);
        }
        match self.store.head(&self.location(hash)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a blob; deleting a missing blob is not an error.
    pub async fn delete(&self, hash: &str) -> Result<(), BlobError> {
        if !is_hash(hash) {
            return Ok(());
        }
        self.verified.forget(hash);
        self.cache.remove(hash);
        match self.store.delete(&self.location(hash)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every blob of this store with its last modification time; other
    /// objects under the prefix are not blobs and are left out.
    pub async fn list(&self) -> Result<Vec<(String, chrono::DateTime<chrono::Utc>)>, BlobError> {
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        let objects: Vec<_> = self.store.list(prefix).try_collect().await?;
        Ok(objects
            .into_iter()
            .filter_map(|meta| Some((self.blob_name(&meta.location)?, meta.last_modified)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn same_bytes_are_one_blob() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::local(dir.path(), true).unwrap();
        let a = store.put(Bytes::from_static(b"hello")).await.unwrap();
        let b = store.put(Bytes::from_static(b"hello")).await.unwrap();
        assert_eq!(a, b);
        assert_eq!(a.hash, content_hash(b"hello"));
        assert_eq!(store.list().await.unwrap().len(), 1);
        assert_eq!(
            store.get_verified(&a.hash).await.unwrap(),
            Bytes::from_static(b"hello")
        );
        store.delete(&a.hash).await.unwrap();
        assert!(matches!(
            store.get(&a.hash).await,
            Err(BlobError::NotFound(_))
        ));
        store.delete(&a.hash).await.unwrap();
    }

    #[tokio::test]
    async fn put_repairing_replaces_a_damaged_copy() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::local(dir.path(), true).unwrap();
        let a = store.put(Bytes::from_static(b"hello")).await.unwrap();
        let path = dir
            .path()
            .join(&a.hash[0..2])
            .join(&a.hash[2..4])
            .join(&a.hash);
        std::fs::write(&path, b"jello").unwrap();
        store.put(Bytes::from_static(b"hello")).await.unwrap();
        assert!(
            matches!(
                store.get_verified(&a.hash).await,
                Err(BlobError::Corrupt { .. })
            ),
            "put keeps same-size objects"
        );
        assert_eq!(
            store
                .put_repairing(Bytes::from_static(b"hello"))
                .await
                .unwrap(),
            a
        );
        assert_eq!(
            store.get_verified(&a.hash).await.unwrap(),
            Bytes::from_static(b"hello")
        );
    }

    #[test]
    fn a_full_disk_is_an_io_error() {
        let full = object_store::Error::Generic {
            store: "test",
            source: Box::new(std::io::Error::from_raw_os_error(28)),
        };
        assert!(
            matches!(BlobError::from(full), BlobError::Io(io) if io.raw_os_error() == Some(28))
        );
        let other = object_store::Error::Generic {
            store: "test",
            source: Box::new(std::io::Error::other("x")),
        };
        assert!(matches!(BlobError::from(other), BlobError::Store(_)));
    }

    #[test]
    fn bad_urls_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            BlobStore::from_url(Some("ftp://x"), dir.path(), false),
            Err(BlobError::BadUrl(_))
        ));
        assert!(matches!(
            BlobStore::from_url(Some("s3://"), dir.path(), false),
            Err(BlobError::BadUrl(_))
        ));
    }
}
