//! Content-addressed blob storage over `object_store`.
//!
//! A blob is named by the SHA-256 of its bytes (`ab/cd/abcd…` under the store's
//! root), so the same file stored twice is one blob. The local backend is a
//! folder (fsynced before `put` returns, so a blob is durable before the index
//! command that references it is proposed); an `s3://bucket/prefix` URL selects
//! S3 (credentials and endpoint from the standard `AWS_*` variables).

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use md5::Md5;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob {0} is missing from the blob store")]
    NotFound(String),
    #[error("blob store error: {0}")]
    Store(#[from] object_store::Error),
    #[error("blob store I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("unsupported blob store URL {0}: use s3://bucket[/prefix] or file:///absolute/path")]
    BadUrl(String),
    #[error("blob {hash} is corrupt: its content hashes to {actual}")]
    Corrupt { hash: String, actual: String },
}

/// What was stored: the name of the blob and facts the index records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    pub hash: String,
    pub size: u64,
    pub md5: String,
}

#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    /// Root folder of the local backend, for fsync.
    local_root: Option<PathBuf>,
    fsync: bool,
}

/// SHA-256 of `bytes`, lowercase hex: the blob's name.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
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
        })
    }

    /// The store named by a URL (`s3://…`, `file:///…`), or the local default.
    pub fn from_url(url: Option<&str>, default_root: &FsPath, fsync: bool) -> Result<BlobStore, BlobError> {
        let Some(url) = url else { return BlobStore::local(default_root, fsync) };
        if let Some(path) = url.strip_prefix("file://") {
            return BlobStore::local(FsPath::new(path), fsync);
        }
        let Some(rest) = url.strip_prefix("s3://") else {
            return Err(BlobError::BadUrl(url.to_owned()));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(BlobError::BadUrl(url.to_owned()));
        }
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if std::env::var("AWS_ENDPOINT").is_ok_and(|e| e.starts_with("http://")) {
            builder = builder.with_allow_http(true);
        }
        Ok(BlobStore {
            store: Arc::new(builder.build()?),
            prefix: Path::from(prefix.trim_matches('/')),
            local_root: None,
            fsync,
        })
    }

    fn location(&self, hash: &str) -> Path {
        let shard = format!("{}/{}/{}", &hash[0..2], &hash[2..4], hash);
        if self.prefix.as_ref().is_empty() {
            Path::from(shard)
        } else {
            Path::from(format!("{}/{}", self.prefix, shard))
        }
    }

    /// Stores `bytes` under their content hash; durable when this returns.
    pub async fn put(&self, bytes: Bytes) -> Result<StoredBlob, BlobError> {
        let hash = content_hash(&bytes);
        let md5 = hex::encode(Md5::digest(&bytes));
        let size = bytes.len() as u64;
        let location = self.location(&hash);
        if self.store.head(&location).await.is_err() {
            self.store.put(&location, PutPayload::from_bytes(bytes)).await?;
            self.sync(&location).await?;
        }
        Ok(StoredBlob { hash, size, md5 })
    }

    /// For the local backend, flush the file and its folder to disk.
    async fn sync(&self, location: &Path) -> Result<(), BlobError> {
        let (Some(root), true) = (&self.local_root, self.fsync) else { return Ok(()) };
        let file = root.join(location.as_ref());
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            std::fs::File::open(&file)?.sync_all()?;
            if let Some(dir) = file.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(())
    }

    pub async fn get(&self, hash: &str) -> Result<Bytes, BlobError> {
        match self.store.get(&self.location(hash)).await {
            Ok(result) => Ok(result.bytes().await?),
            Err(object_store::Error::NotFound { .. }) => Err(BlobError::NotFound(hash.to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads a blob and checks that its bytes still hash to its name.
    pub async fn get_verified(&self, hash: &str) -> Result<Bytes, BlobError> {
        let bytes = self.get(hash).await?;
        let actual = content_hash(&bytes);
        if actual != hash {
            return Err(BlobError::Corrupt { hash: hash.to_owned(), actual });
        }
        Ok(bytes)
    }

    pub async fn exists(&self, hash: &str) -> Result<bool, BlobError> {
        match self.store.head(&self.location(hash)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a blob; deleting a missing blob is not an error.
    pub async fn delete(&self, hash: &str) -> Result<(), BlobError> {
        match self.store.delete(&self.location(hash)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every blob with its last modification time.
    pub async fn list(&self) -> Result<Vec<(String, chrono::DateTime<chrono::Utc>)>, BlobError> {
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        let objects: Vec<_> = self.store.list(prefix).try_collect().await?;
        Ok(objects
            .into_iter()
            .filter_map(|meta| {
                let name = meta.location.filename()?.to_owned();
                (name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()))
                    .then_some((name, meta.last_modified))
            })
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
        assert_eq!(store.get_verified(&a.hash).await.unwrap(), Bytes::from_static(b"hello"));
        store.delete(&a.hash).await.unwrap();
        assert!(matches!(store.get(&a.hash).await, Err(BlobError::NotFound(_))));
        store.delete(&a.hash).await.unwrap();
    }

    #[test]
    fn bad_urls_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(BlobStore::from_url(Some("ftp://x"), dir.path(), false), Err(BlobError::BadUrl(_))));
        assert!(matches!(BlobStore::from_url(Some("s3://"), dir.path(), false), Err(BlobError::BadUrl(_))));
    }
}
