//! One conformance suite for `BlobStore`, run against every backend: a local
//! folder, a `file://` URL, and S3 through a real S3-protocol server (`s3s-fs`,
//! which `scripts/install-deps.sh` installs) started on a free loopback port.
//!
//! Each backend is a [`Backend`]: it opens stores under a prefix of one shared
//! root (a folder, a bucket) and reads and writes raw objects behind the
//! stores' backs, to check names and to corrupt blobs.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use isengard::blob::{content_hash, BlobError, BlobStore, S3Options};
use isengard_test_support::{S3sFs, S3_ACCESS_KEY, S3_REGION, S3_SECRET_KEY};
use object_store::aws::AmazonS3Builder;
use object_store::ObjectStore;

/// A place where blob stores live, seen through the store and around it.
trait Backend {
    /// A store whose blobs live under `prefix` ("" for the root).
    fn open(&self, prefix: &str) -> BlobStore;
    /// Writes the object `key` (relative to the root) behind the stores' backs.
    async fn write_raw(&self, key: &str, bytes: &[u8]);
    /// Reads the object `key`, `None` if it is missing.
    async fn read_raw(&self, key: &str) -> Option<Bytes>;
}

/// Where a blob of a store under `prefix` must be.
fn key(prefix: &str, hash: &str) -> String {
    let shard = format!("{}/{}/{hash}", &hash[0..2], &hash[2..4]);
    if prefix.is_empty() {
        shard
    } else {
        format!("{prefix}/{shard}")
    }
}

/// Deterministic pseudo-random bytes (xorshift), so big blobs do not compress.
fn noise(len: usize, seed: u64) -> Bytes {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}

async fn listed(store: &BlobStore) -> Vec<String> {
    let mut names: Vec<_> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|(h, _)| h)
        .collect();
    names.sort();
    names
}

/// The conformance suite. Each check works under its own prefix, except the
/// root store of the isolation check, which must not see any of the others.
async fn suite(backend: &impl Backend) {
    round_trip(backend).await;
    same_bytes_are_one_blob(backend).await;
    missing_blobs(backend).await;
    delete_is_idempotent(backend).await;
    list_returns_only_blobs(backend).await;
    prefixes_are_isolated(backend).await;
    corruption_is_detected(backend).await;
    large_blob(backend).await;
    concurrent_puts_of_the_same_bytes(backend).await;
}

async fn round_trip(backend: &impl Backend) {
    let store = backend.open("round-trip");
    let stored = store.put(Bytes::from_static(b"hello")).await.unwrap();
    assert_eq!(stored.hash, content_hash(b"hello"));
    assert_eq!(
        stored.hash,
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    );
    assert_eq!(stored.size, 5);
    assert_eq!(
        store.get(&stored.hash).await.unwrap(),
        Bytes::from_static(b"hello")
    );
    assert_eq!(
        store.get_verified(&stored.hash).await.unwrap(),
        Bytes::from_static(b"hello")
    );
    assert!(store.exists(&stored.hash).await.unwrap());
    // Named by its hash, sharded by its first two bytes.
    let raw = backend.read_raw(&key("round-trip", &stored.hash)).await;
    assert_eq!(
        raw.as_deref(),
        Some(&b"hello"[..]),
        "blob not at round-trip/2c/f2/<sha256>"
    );
    // The empty blob is a blob too.
    let empty = store.put(Bytes::new()).await.unwrap();
    assert_eq!(store.get_verified(&empty.hash).await.unwrap(), Bytes::new());
}

async fn same_bytes_are_one_blob(backend: &impl Backend) {
    let store = backend.open("dedup");
    let a = store.put(Bytes::from_static(b"same bytes")).await.unwrap();
    let b = store.put(Bytes::from_static(b"same bytes")).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(listed(&store).await, vec![a.hash.clone()]);
    // Another store on the same prefix sees the same blob.
    let again = backend.open("dedup");
    assert_eq!(
        again.put(Bytes::from_static(b"same bytes")).await.unwrap(),
        a
    );
    assert_eq!(listed(&again).await, vec![a.hash]);
}

async fn missing_blobs(backend: &impl Backend) {
    let store = backend.open("missing");
    let absent = content_hash(b"never stored");
    assert!(matches!(store.get(&absent).await, Err(BlobError::NotFound(h)) if h == absent));
    assert!(matches!(
        store.get_verified(&absent).await,
        Err(BlobError::NotFound(_))
    ));
    assert!(!store.exists(&absent).await.unwrap());
    store.delete(&absent).await.unwrap();
    // Names that cannot be hashes name nothing (and do not panic or escape).
    for bad in [
        "",
        "ab",
        "../../etc/passwd",
        &absent.to_uppercase(),
        &absent[..63],
    ] {
        assert!(
            matches!(store.get(bad).await, Err(BlobError::NotFound(_))),
            "get({bad:?})"
        );
        assert!(!store.exists(bad).await.unwrap(), "exists({bad:?})");
        store.delete(bad).await.unwrap();
    }
    assert!(listed(&store).await.is_empty());
}

async fn delete_is_idempotent(backend: &impl Backend) {
    let store = backend.open("delete");
    let kept = store.put(Bytes::from_static(b"kept")).await.unwrap();
    let gone = store.put(Bytes::from_static(b"gone")).await.unwrap();
    store.delete(&gone.hash).await.unwrap();
    assert!(!store.exists(&gone.hash).await.unwrap());
    assert!(matches!(
        store.get(&gone.hash).await,
        Err(BlobError::NotFound(_))
    ));
    store.delete(&gone.hash).await.unwrap();
    assert_eq!(listed(&store).await, vec![kept.hash.clone()]);
    // Stored again after a delete, it is back.
    assert_eq!(store.put(Bytes::from_static(b"gone")).await.unwrap(), gone);
    assert_eq!(
        store.get_verified(&gone.hash).await.unwrap(),
        Bytes::from_static(b"gone")
    );
}

async fn list_returns_only_blobs(backend: &impl Backend) {
    let store = backend.open("only-blobs");
    let before = chrono::Utc::now() - chrono::Duration::seconds(5);
    let blob = store.put(Bytes::from_static(b"a blob")).await.unwrap();
    let other = content_hash(b"not a blob of this store");
    let h = &blob.hash;
    // Objects under the prefix that are not where a blob would be.
    for stray in [
        "only-blobs/notes.txt".to_owned(),
        format!("only-blobs/{}/{}/not-a-hash", &h[0..2], &h[2..4]),
        format!("only-blobs/{other}"),
        format!("only-blobs/{}/{other}", &other[0..2]),
        format!("only-blobs/00/00/{other}"),
        format!(
            "only-blobs/{}/{}/{}",
            &other[0..2],
            &other[2..4],
            other.to_uppercase()
        ),
        format!("only-blobs/x/{}", key("", &other)),
    ] {
        backend.write_raw(&stray, b"stray").await;
    }
    let list = store.list().await.unwrap();
    assert_eq!(
        list.iter().map(|(h, _)| h.clone()).collect::<Vec<_>>(),
        vec![blob.hash.clone()]
    );
    let modified = list[0].1;
    assert!(
        modified > before && modified < chrono::Utc::now() + chrono::Duration::seconds(5),
        "{modified}"
    );
}

async fn prefixes_are_isolated(backend: &impl Backend) {
    // "iso" and "iso2" share a string prefix; "iso/nested" lives inside "iso";
    // the root store contains every other prefix of the suite.
    let prefixes = ["", "iso", "iso2", "iso/nested"];
    let stores: Vec<_> = prefixes.iter().map(|p| backend.open(p)).collect();
    let mut hashes = Vec::new();
    for (store, prefix) in stores.iter().zip(prefixes) {
        let bytes = Bytes::from(format!("blob of prefix {prefix:?}"));
        hashes.push(store.put(bytes).await.unwrap().hash);
    }
    for (i, store) in stores.iter().enumerate() {
        assert_eq!(
            listed(store).await,
            vec![hashes[i].clone()],
            "store {:?}",
            prefixes[i]
        );
        for (j, hash) in hashes.iter().enumerate() {
            assert_eq!(
                store.exists(hash).await.unwrap(),
                i == j,
                "{:?} sees {:?}'s blob",
                prefixes[i],
                prefixes[j]
            );
        }
    }
    // The same bytes in two prefixes are two blobs: deleting one keeps the other.
    let shared = Bytes::from_static(b"in two prefixes");
    let hash = stores[1].put(shared.clone()).await.unwrap().hash;
    stores[2].put(shared).await.unwrap();
    stores[1].delete(&hash).await.unwrap();
    assert!(stores[2].exists(&hash).await.unwrap());
}

async fn corruption_is_detected(backend: &impl Backend) {
    let store = backend.open("corrupt");
    let good = Bytes::from_static(b"the original content");
    let blob = store.put(good.clone()).await.unwrap();
    let location = key("corrupt", &blob.hash);

    // Same size, other bytes (bit rot): `get` returns them, `get_verified` refuses.
    let rotten = b"the 0riginal content";
    backend.write_raw(&location, rotten).await;
    assert_eq!(
        store.get(&blob.hash).await.unwrap(),
        Bytes::from_static(rotten)
    );
    match store.get_verified(&blob.hash).await {
        Err(BlobError::Corrupt { hash, actual }) => {
            assert_eq!(hash, blob.hash);
            assert_eq!(actual, content_hash(rotten));
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }

    // A torn write (other size) is repaired by storing the bytes again.
    backend.write_raw(&location, b"the orig").await;
    assert!(matches!(
        store.get_verified(&blob.hash).await,
        Err(BlobError::Corrupt { .. })
    ));
    store.put(good.clone()).await.unwrap();
    assert_eq!(store.get_verified(&blob.hash).await.unwrap(), good);
}

async fn large_blob(backend: &impl Backend) {
    let store = backend.open("large");
    let bytes = noise(20 * 1024 * 1024 + 7, 42);
    let blob = store.put(bytes.clone()).await.unwrap();
    assert_eq!(blob.size, bytes.len() as u64);
    let back = store.get_verified(&blob.hash).await.unwrap();
    assert!(back == bytes, "20 MB blob came back different");
}

async fn concurrent_puts_of_the_same_bytes(backend: &impl Backend) {
    let store = backend.open("concurrent");
    let bytes = noise(1024 * 1024, 7);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, bytes) = (store.clone(), bytes.clone());
            tokio::spawn(async move { store.put(bytes).await })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap().unwrap());
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(listed(&store).await, vec![results[0].hash.clone()]);
    assert_eq!(store.get_verified(&results[0].hash).await.unwrap(), bytes);
}

// ---------------------------------------------------------------- local folder

/// A temp folder; stores under `prefix` are its subfolders, opened with
/// [`BlobStore::local`] or through a `file://` URL.
struct Local {
    root: tempfile::TempDir,
    via_url: bool,
}

impl Local {
    fn new(via_url: bool) -> Local {
        Local {
            root: tempfile::tempdir().unwrap(),
            via_url,
        }
    }
}

impl Backend for Local {
    fn open(&self, prefix: &str) -> BlobStore {
        let dir = self.root.path().join(prefix);
        if self.via_url {
            let unused = self.root.path().join("default-not-used");
            let store =
                BlobStore::from_url(Some(&format!("file://{}", dir.display())), &unused, true)
                    .unwrap();
            assert!(!unused.exists());
            store
        } else {
            BlobStore::local(&dir, true).unwrap()
        }
    }

    async fn write_raw(&self, key: &str, bytes: &[u8]) {
        // Edit the file in place, as a failing disk or a person would.
        let path = self.root.path().join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    async fn read_raw(&self, key: &str) -> Option<Bytes> {
        std::fs::read(self.root.path().join(key))
            .ok()
            .map(Bytes::from)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_folder() {
    suite(&Local::new(false)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_url() {
    suite(&Local::new(true)).await;
}

/// `get_checked` (every retrieval's read) skips the hash of a local file
/// unchanged since a read verified it, and keeps recent blobs in memory; a
/// file changed behind the store's back, even to bytes of the same size, is
/// hashed again and refused, cached or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_reads_notice_a_changed_file() {
    let backend = Local::new(false);
    let store = backend.open("checked");
    let good = Bytes::from_static(b"the original content");
    let rotten = b"the 0riginal content";
    let blob = store.put(good.clone()).await.unwrap();
    let path = backend.root.path().join(key("checked", &blob.hash));
    // Written long ago, as far as its modification time says (a file
    // modified within the last second is always hashed again).
    let age = |path: &Path| {
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(std::time::SystemTime::now() - Duration::from_secs(3600))
            .unwrap();
    };
    age(&path);
    for _ in 0..3 {
        assert_eq!(
            store.get_checked(&blob.hash).await.unwrap(),
            good,
            "verified, then trusted and cached"
        );
    }
    backend.write_raw(&key("checked", &blob.hash), rotten).await;
    for _ in 0..2 {
        assert!(
            matches!(
                store.get_checked(&blob.hash).await,
                Err(BlobError::Corrupt { .. })
            ),
            "the cached copy is not served"
        );
    }
    store.put_repairing(good.clone()).await.unwrap();
    age(&path);
    assert_eq!(store.get_checked(&blob.hash).await.unwrap(), good);
    // Without the cache: the trusted stamp alone.
    store.set_cache_capacity(0);
    assert_eq!(store.get_checked(&blob.hash).await.unwrap(), good);
    backend.write_raw(&key("checked", &blob.hash), rotten).await;
    age(&path);
    assert!(matches!(
        store.get_checked(&blob.hash).await,
        Err(BlobError::Corrupt { .. })
    ));
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(
        store.get_checked(&blob.hash).await,
        Err(BlobError::NotFound(_))
    ));
}

#[test]
fn urls_that_name_no_store_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for url in [
        "file://relative/path",
        "s3://",
        "s3:///prefix",
        "http://host/x",
        "/abs/path",
    ] {
        let result = BlobStore::from_url(Some(url), dir.path(), false);
        assert!(matches!(result, Err(BlobError::BadUrl(_))), "{url}");
    }
}

// --------------------------------------------------------------------- S3

const BUCKET: &str = "isengard-test";

/// Options for a store in the server's bucket, signed with `secret`.
fn options(server: &S3sFs, secret: &str) -> S3Options {
    S3Options {
        endpoint: Some(server.endpoint.clone()),
        region: Some(S3_REGION.into()),
        access_key_id: Some(S3_ACCESS_KEY.into()),
        secret_access_key: Some(secret.into()),
        allow_http: true,
    }
}

/// A bucket of an s3s-fs server, reached by the stores and by a raw client.
struct S3 {
    server: S3sFs,
    raw: Arc<dyn ObjectStore>,
}

impl S3 {
    fn start() -> S3 {
        let server = S3sFs::start(BUCKET);
        let raw = AmazonS3Builder::new()
            .with_endpoint(&server.endpoint)
            .with_allow_http(true)
            .with_region(S3_REGION)
            .with_bucket_name(BUCKET)
            .with_access_key_id(S3_ACCESS_KEY)
            .with_secret_access_key(S3_SECRET_KEY)
            .build()
            .unwrap();
        S3 {
            server,
            raw: Arc::new(raw),
        }
    }
}

impl Backend for S3 {
    fn open(&self, prefix: &str) -> BlobStore {
        BlobStore::s3(BUCKET, prefix, options(&self.server, S3_SECRET_KEY)).unwrap()
    }

    async fn write_raw(&self, key: &str, bytes: &[u8]) {
        let payload = Bytes::copy_from_slice(bytes).into();
        self.raw
            .put(&object_store::path::Path::from(key), payload)
            .await
            .unwrap();
    }

    async fn read_raw(&self, key: &str) -> Option<Bytes> {
        match self.raw.get(&object_store::path::Path::from(key)).await {
            Ok(result) => Some(result.bytes().await.unwrap()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("raw get {key}: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_server() {
    let s3 = S3::start();
    suite(&s3).await;

    // An error that is not "missing" is an error, never "absent": a store with
    // a wrong secret neither reports blobs missing nor writes.
    let hash = s3
        .open("round-trip")
        .put(Bytes::from_static(b"hello"))
        .await
        .unwrap()
        .hash;
    let wrong = BlobStore::s3(BUCKET, "round-trip", options(&s3.server, "not-the-secret")).unwrap();
    assert!(matches!(
        wrong.exists(&hash).await,
        Err(BlobError::Store(_))
    ));
    assert!(matches!(wrong.get(&hash).await, Err(BlobError::Store(_))));
    assert!(matches!(
        wrong.put(Bytes::from_static(b"hello")).await,
        Err(BlobError::Store(_))
    ));
    assert!(wrong.list().await.is_err());
}
