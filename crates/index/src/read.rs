//! Reads from the local state machine: resources, listings, the change log,
//! counters, blobs, modalities, peers and runtime settings. `find` over the secondary tag index, and
//! the index scans it makes, are in `find.rs`.

use rocksdb::{Direction, IteratorMode, DB};

use super::apply::{self, SmCounters, KEY_COUNTERS, KEY_LUA_CURSOR};
use super::model::*;
use super::store::*;
use super::IndexError;

type Result<T> = std::result::Result<T, IndexError>;

pub struct Reader<'a> {
    db: &'a DB,
}

impl<'a> Reader<'a> {
    pub fn new(db: &'a DB) -> Self {
        Reader { db }
    }

    pub(super) fn db(&self) -> &'a DB {
        self.db
    }

    pub fn resource(&self, id: &str) -> Result<Option<Resource>> {
        Ok(apply::get_resource(self.db, id)?)
    }

    /// Resources of a level in creation order, skipping `since`, at most `limit`.
    pub fn list(&self, level: Level, since: usize, limit: Option<usize>) -> Result<Vec<String>> {
        if limit == Some(0) {
            return Ok(Vec::new());
        }
        let prefix = [level.code()];
        let iter = self.db.iterator_cf(
            cf(self.db, CF_BY_LEVEL),
            IteratorMode::From(&prefix, Direction::Forward),
        );
        let mut out = Vec::new();
        for item in iter.skip(since) {
            let (key, _) = item?;
            if key.first() != Some(&level.code()) || limit.is_some_and(|l| out.len() >= l) {
                break;
            }
            out.push(String::from_utf8_lossy(&key[9..]).into_owned());
        }
        Ok(out)
    }

    /// The last change processed by the once-in-the-cluster Lua callbacks;
    /// `None` before the first `LuaCursor` command.
    pub fn lua_cursor(&self) -> Result<Option<u64>> {
        Ok(self
            .db
            .get_cf(cf(self.db, CF_SM_META), KEY_LUA_CURSOR)?
            .and_then(|v| decode_u64(&v)))
    }

    pub fn counters(&self) -> Result<Counters> {
        let raw = self.db.get_cf(cf(self.db, CF_SM_META), KEY_COUNTERS)?;
        let meta: SmCounters = match raw {
            Some(b) => serde_json::from_slice(&b)?,
            None => SmCounters::default(),
        };
        Ok(meta.counters)
    }

    /// Changes with `seq > since`, at most `limit`, and whether the log ends there.
    pub fn changes(&self, since: u64, limit: usize) -> Result<(Vec<Change>, bool)> {
        let from = u64_key(since.saturating_add(1));
        let iter = self.db.iterator_cf(
            cf(self.db, CF_CHANGES),
            IteratorMode::From(&from, Direction::Forward),
        );
        let mut out = Vec::new();
        for item in iter {
            let (_, value) = item?;
            if out.len() >= limit {
                return Ok((out, false));
            }
            out.push(serde_json::from_slice(&value)?);
        }
        Ok((out, true))
    }

    /// The last change, if the log is not empty.
    pub fn last_change(&self) -> Result<Option<Change>> {
        let mut iter = self
            .db
            .iterator_cf(cf(self.db, CF_CHANGES), IteratorMode::End);
        match iter.next() {
            None => Ok(None),
            Some(item) => Ok(Some(serde_json::from_slice(&item?.1)?)),
        }
    }

    /// The seq the next change will get minus one: Orthanc's `Last` for an empty log.
    pub fn last_seq(&self) -> Result<u64> {
        let raw = self.db.get_cf(cf(self.db, CF_SM_META), KEY_COUNTERS)?;
        let meta: SmCounters = match raw {
            Some(b) => serde_json::from_slice(&b)?,
            None => SmCounters::default(),
        };
        Ok(meta.next_change.saturating_sub(1))
    }

    /// Resources waiting to become stable, with the time of their last instance.
    pub fn unstable(&self) -> Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(cf(self.db, CF_UNSTABLE), IteratorMode::Start)
        {
            let (key, value) = item?;
            if let Some(ms) = decode_u64(&value) {
                out.push((String::from_utf8_lossy(&key).into_owned(), ms));
            }
        }
        Ok(out)
    }

    /// Blobs in a given collection state (`garbage` or `deleting`).
    pub fn blobs_in_state(&self, state: &[u8], limit: usize) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(cf(self.db, CF_BLOB_STATE), IteratorMode::Start)
        {
            let (key, value) = item?;
            if &*value == state {
                out.push(String::from_utf8_lossy(&key).into_owned());
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Every modality, by name.
    pub fn modalities(&self) -> Result<Vec<Modality>> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(cf(self.db, CF_MODALITIES), IteratorMode::Start)
        {
            out.push(serde_json::from_slice(&item?.1)?);
        }
        Ok(out)
    }

    pub fn modality(&self, name: &str) -> Result<Option<Modality>> {
        match self.db.get_cf(cf(self.db, CF_MODALITIES), name)? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Every Orthanc peer, by name.
    pub fn peers(&self) -> Result<Vec<Peer>> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(cf(self.db, CF_PEERS), IteratorMode::Start)
        {
            out.push(serde_json::from_slice(&item?.1)?);
        }
        Ok(out)
    }

    pub fn peer(&self, name: &str) -> Result<Option<Peer>> {
        match self.db.get_cf(cf(self.db, CF_PEERS), name)? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    /// A cluster-wide runtime setting (`Command::PutSetting`); `None` until
    /// one was put.
    pub fn setting(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .db
            .get_cf(cf(self.db, CF_SETTINGS), name)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// The nodes recorded as holding blob `hash` (replicated blob mode);
    /// `None` when the index tracks no holders for it.
    pub fn blob_holders(&self, hash: &str) -> Result<Option<Vec<u64>>> {
        match self.db.get_cf(cf(self.db, CF_BLOB_HOLDERS), hash)? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Up to `limit` referenced blobs with their holders, in hash order,
    /// starting after `after`: a page of the replicated blobs for the repair
    /// and scrub passes. Blobs waiting for collection are left out.
    pub fn replicated_blobs(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u64>)>> {
        let family = cf(self.db, CF_BLOB_HOLDERS);
        let mode = match after {
            Some(hash) => IteratorMode::From(hash.as_bytes(), Direction::Forward),
            None => IteratorMode::Start,
        };
        let mut out = Vec::new();
        for item in self.db.iterator_cf(family, mode) {
            let (key, value) = item?;
            let hash = String::from_utf8_lossy(&key).into_owned();
            if after == Some(hash.as_str()) {
                continue;
            }
            if self.db.get_cf(cf(self.db, CF_BLOB_STATE), &key)?.is_some()
                || self.db.get_cf(cf(self.db, CF_BLOB_REFS), &key)?.is_none()
            {
                continue;
            }
            out.push((hash, serde_json::from_slice(&value)?));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Whether any index entry references this blob, or it is being collected.
    pub fn blob_known(&self, hash: &str) -> Result<bool> {
        Ok(self.db.get_cf(cf(self.db, CF_BLOB_REFS), hash)?.is_some()
            || self.db.get_cf(cf(self.db, CF_BLOB_STATE), hash)?.is_some())
    }
}
