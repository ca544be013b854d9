//! Which local blob files are known to hash to their names, so that a read
//! need not hash the file again (SHA-256 of a 513 KiB image is about 0.3 ms,
//! as long as the whole rest of `GET /instances/{id}/file`): see
//! docs/adr/005-reads-trust-recent-verification.md.
//!
//! A blob is recorded with the [`FileStamp`] of its file when a read last
//! hashed it and found it sound. A read whose file still has that stamp,
//! within [`TRUST_FOR`] of the verification, skips the hash; any change to
//! the file through the file system (a write, a truncation, a replacement:
//! its size, inode, mtime or ctime change) makes the next read hash it again.
//!
//! A file modified less than [`RACY`] before its verification is not
//! recorded (as git does for "racily clean" files): file times have a coarse
//! granularity, and a write in the same tick as the verification would leave
//! the stamp unchanged.
//!
//! Memory is bounded: two generations of at most [`GENERATION`] entries each
//! (about 100 bytes an entry); when the young one is full the old one is
//! dropped, so recently used blobs stay and the others are hashed again on
//! their next read.

use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// How long a verification is trusted without a change to the file: bounds
/// how long a copy damaged below the file system (which changes no stamp)
/// can be served.
pub const TRUST_FOR: Duration = Duration::from_secs(15 * 60);
/// Entries per generation.
pub const GENERATION: usize = 32 * 1024;
/// A file modified this recently is verified again at every read.
pub const RACY: Duration = Duration::from_secs(1);

/// What identifies one state of a file: a write or a replacement changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    ino: u64,
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
}

impl FileStamp {
    pub fn of(meta: &Metadata) -> FileStamp {
        FileStamp {
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: meta
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.mtime_nsec()),
            ctime_ns: meta
                .ctime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.ctime_nsec()),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Verified {
    stamp: FileStamp,
    /// Seconds since the set was created.
    at: u32,
}

type Key = [u8; 32];

/// The verified blobs of one store.
#[derive(Debug)]
pub struct VerifiedSet {
    start: Instant,
    trust_for: Duration,
    capacity: usize,
    racy: Duration,
    inner: Mutex<Generations>,
}

#[derive(Debug, Default)]
struct Generations {
    young: HashMap<Key, Verified>,
    old: HashMap<Key, Verified>,
}

fn key(hash: &str) -> Option<Key> {
    let mut key = [0; 32];
    hex::decode_to_slice(hash, &mut key).ok()?;
    Some(key)
}

impl Default for VerifiedSet {
    fn default() -> Self {
        VerifiedSet::new(TRUST_FOR, GENERATION, RACY)
    }
}

impl VerifiedSet {
    pub fn new(trust_for: Duration, capacity: usize, racy: Duration) -> VerifiedSet {
        VerifiedSet {
            start: Instant::now(),
            trust_for,
            capacity,
            racy,
            inner: Mutex::default(),
        }
    }

    fn now(&self) -> u32 {
        u32::try_from(self.start.elapsed().as_secs()).unwrap_or(u32::MAX)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that blob `hash`, in the file state `stamp`, hashes to its
    /// name (unless the file was modified too recently to tell).
    pub fn insert(&self, hash: &str, stamp: FileStamp) {
        let Some(key) = key(hash) else { return };
        let now_ns = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        if now_ns.saturating_sub(stamp.mtime_ns)
            < i64::try_from(self.racy.as_nanos()).unwrap_or(i64::MAX)
        {
            return;
        }
        self.record(key, stamp);
    }

    /// Records that blob `hash` was just written, from bytes that hash to
    /// its name, into the file now in state `stamp`. No racy-time rule: the
    /// bytes were hashed before they reached the file, so no write can hide
    /// between a read and its stamp; only a change of the same size, in place,
    /// within the file system's time granularity after the write, would keep
    /// the stamp (ADR 005).
    pub fn insert_written(&self, hash: &str, stamp: FileStamp) {
        let Some(key) = key(hash) else { return };
        self.record(key, stamp);
    }

    fn record(&self, key: Key, stamp: FileStamp) {
        let entry = Verified {
            stamp,
            at: self.now(),
        };
        let mut g = self.lock();
        g.old.remove(&key);
        if g.young.len() >= self.capacity && !g.young.contains_key(&key) {
            g.old = std::mem::take(&mut g.young);
        }
        g.young.insert(key, entry);
    }

    /// Whether blob `hash` in the file state `stamp` was verified recently
    /// enough to be trusted.
    pub fn trusts(&self, hash: &str, stamp: FileStamp) -> bool {
        let Some(key) = key(hash) else { return false };
        let now = self.now();
        let mut g = self.lock();
        let entry = match g.young.get(&key) {
            Some(e) => *e,
            None => match g.old.remove(&key) {
                // Used again: back into the young generation.
                Some(e) => {
                    if g.young.len() >= self.capacity {
                        g.old = std::mem::take(&mut g.young);
                    }
                    g.young.insert(key, e);
                    e
                }
                None => return false,
            },
        };
        entry.stamp == stamp
            && Duration::from_secs(u64::from(now.saturating_sub(entry.at))) < self.trust_for
    }

    /// Forgets blob `hash` (deleted, or found damaged).
    pub fn forget(&self, hash: &str) {
        let Some(key) = key(hash) else { return };
        let mut g = self.lock();
        g.young.remove(&key);
        g.old.remove(&key);
    }

    pub fn len(&self) -> usize {
        let g = self.lock();
        g.young.len() + g.old.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(n: i64) -> FileStamp {
        FileStamp {
            ino: 1,
            size: 10,
            mtime_ns: n,
            ctime_ns: n,
        }
    }

    fn hash(n: u8) -> String {
        hex::encode([n; 32])
    }

    #[test]
    fn trusted_only_in_the_state_verified() {
        let set = VerifiedSet::default();
        assert!(!set.trusts(&hash(1), stamp(1)));
        set.insert(&hash(1), stamp(1));
        assert!(set.trusts(&hash(1), stamp(1)));
        assert!(
            !set.trusts(&hash(1), stamp(2)),
            "a changed file is not trusted"
        );
        assert!(!set.trusts(&hash(2), stamp(1)));
        set.forget(&hash(1));
        assert!(!set.trusts(&hash(1), stamp(1)));
        assert!(!set.trusts("not a hash", stamp(1)));
    }

    #[test]
    fn a_file_modified_just_now_is_not_trusted() {
        let set = VerifiedSet::default();
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64;
        set.insert(&hash(1), stamp(now));
        assert!(!set.trusts(&hash(1), stamp(now)));
    }

    #[test]
    fn a_file_just_written_from_hashed_bytes_is_trusted_in_that_state_only() {
        let set = VerifiedSet::default();
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64;
        set.insert_written(&hash(1), stamp(now));
        assert!(set.trusts(&hash(1), stamp(now)));
        assert!(!set.trusts(&hash(1), stamp(now + 1)));
    }

    #[test]
    fn trust_expires() {
        let set = VerifiedSet::new(Duration::ZERO, 8, RACY);
        set.insert(&hash(1), stamp(1));
        assert!(!set.trusts(&hash(1), stamp(1)));
    }

    #[test]
    fn bounded_and_recently_used_entries_survive() {
        let set = VerifiedSet::new(TRUST_FOR, 4, RACY);
        for n in 0..4 {
            set.insert(&hash(n), stamp(1));
        }
        set.insert(&hash(4), stamp(1)); // 0..4 become the old generation
        assert!(
            set.trusts(&hash(0), stamp(1)),
            "found in the old generation, moved back"
        );
        for n in 5..8 {
            set.insert(&hash(n), stamp(1)); // young (4, 0, 5, 6) full: 7 makes it old, 1..3 go
        }
        assert!(set.len() <= 8);
        assert!(set.trusts(&hash(0), stamp(1)));
        assert!(set.trusts(&hash(7), stamp(1)));
        assert!(!set.trusts(&hash(1), stamp(1)), "not used since: dropped");
    }
}
