//! The storage cache: the bytes of recently read blobs, as Orthanc 1.10 keeps
//! them (`MaximumStorageCacheSize`, in MB, 128 by default, 0 to disable).
//! Reading a 513 KiB file from the page cache costs as much as the rest of a
//! `GET /instances/{id}/file`; a hit costs a reference count.
//!
//! Only verified bytes enter the cache, and a hit is only served while the
//! blob's verification is trusted (see [`super::verified`]): for the local
//! backend, the caller checks that the file is unchanged first.
//! Least recently used entries leave first.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;

/// Orthanc's default `MaximumStorageCacheSize`, in MB.
pub const DEFAULT_MB: u64 = 128;

#[derive(Debug)]
struct Entry {
    bytes: Bytes,
    /// When the bytes were verified.
    at: Instant,
    /// Position in the use order.
    used: u64,
}

#[derive(Debug, Default)]
struct Inner {
    capacity: usize,
    size: usize,
    entries: HashMap<String, Entry>,
    /// `used` -> hash, oldest first.
    order: BTreeMap<u64, String>,
    next: u64,
}

impl Inner {
    fn remove(&mut self, hash: &str) {
        if let Some(e) = self.entries.remove(hash) {
            self.order.remove(&e.used);
            self.size -= e.bytes.len();
        }
    }

    fn evict_to(&mut self, capacity: usize) {
        while self.size > capacity {
            let Some((_, hash)) = self.order.pop_first() else {
                break;
            };
            if let Some(e) = self.entries.remove(&hash) {
                self.size -= e.bytes.len();
            }
        }
    }
}

/// A byte-bounded cache of verified blobs, shared by the clones of a store.
#[derive(Debug)]
pub struct BlobCache {
    trust_for: Duration,
    inner: Mutex<Inner>,
}

impl BlobCache {
    pub fn new(capacity: usize, trust_for: Duration) -> BlobCache {
        BlobCache {
            trust_for,
            inner: Mutex::new(Inner {
                capacity,
                ..Inner::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the capacity, in bytes (0 disables the cache).
    pub fn set_capacity(&self, capacity: usize) {
        let mut inner = self.lock();
        inner.capacity = capacity;
        inner.evict_to(capacity);
    }

    /// The cached bytes of `hash`, if verified within the trust period.
    pub fn get(&self, hash: &str) -> Option<Bytes> {
        let mut inner = self.lock();
        let next = inner.next;
        let entry = inner.entries.get_mut(hash)?;
        if entry.at.elapsed() >= self.trust_for {
            inner.remove(hash);
            return None;
        }
        let (old, bytes) = (
            std::mem::replace(&mut entry.used, next),
            entry.bytes.clone(),
        );
        inner.next += 1;
        inner.order.remove(&old);
        inner.order.insert(next, hash.to_owned());
        Some(bytes)
    }

    /// Keeps `bytes`, just verified to hash to `hash` (unless larger than
    /// the whole cache).
    pub fn insert(&self, hash: &str, bytes: Bytes) {
        let mut inner = self.lock();
        inner.remove(hash);
        if bytes.len() > inner.capacity {
            return;
        }
        let capacity = inner.capacity - bytes.len();
        inner.evict_to(capacity);
        let used = inner.next;
        inner.next += 1;
        inner.size += bytes.len();
        inner.order.insert(used, hash.to_owned());
        inner.entries.insert(
            hash.to_owned(),
            Entry {
                bytes,
                at: Instant::now(),
                used,
            },
        );
    }

    pub fn remove(&self, hash: &str) {
        self.lock().remove(hash);
    }

    /// Bytes held.
    pub fn size(&self) -> usize {
        self.lock().size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(n: usize) -> Bytes {
        Bytes::from(vec![0u8; n])
    }

    #[test]
    fn least_recently_used_leave_first() {
        let cache = BlobCache::new(100, Duration::from_secs(60));
        cache.insert("a", blob(40));
        cache.insert("b", blob(40));
        assert!(cache.get("a").is_some());
        cache.insert("c", blob(40)); // evicts b, the least recently used
        assert!(cache.get("b").is_none());
        assert!(cache.get("a").is_some() && cache.get("c").is_some());
        assert_eq!(cache.size(), 80);
        cache.insert("huge", blob(101));
        assert!(cache.get("huge").is_none(), "larger than the cache");
        cache.remove("a");
        assert_eq!(cache.size(), 40);
        cache.set_capacity(0);
        assert_eq!(cache.size(), 0);
        cache.insert("d", blob(1));
        assert!(cache.get("d").is_none(), "disabled");
    }

    #[test]
    fn entries_expire_with_their_verification() {
        let cache = BlobCache::new(100, Duration::ZERO);
        cache.insert("a", blob(1));
        assert!(cache.get("a").is_none());
        assert_eq!(cache.size(), 0);
    }
}
