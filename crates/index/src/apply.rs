//! Applying index commands: the deterministic heart of the state machine.
//!
//! Each command reads the current state from RocksDB and writes its effects into
//! one `WriteBatch` (committed by the caller together with the applied log id), so
//! a command is applied entirely or not at all.

use std::collections::{BTreeMap, HashMap};

use rocksdb::{Direction, IteratorMode, WriteBatch, DB};
use serde::{Deserialize, Serialize};

use super::model::*;
use super::normalize::normalize;
use super::store::*;

/// Counters and sequences kept in `sm_meta` and cached in memory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SmCounters {
    pub counters: Counters,
    /// Seq of the next change (Orthanc's `Seq` starts at 1 and never restarts).
    pub next_change: u64,
    pub next_resource: u64,
}

pub const KEY_COUNTERS: &[u8] = b"counters";
/// `sm_meta` key of the Lua change-log cursor (u64 BE), see [`Command::LuaCursor`].
pub const KEY_LUA_CURSOR: &[u8] = b"lua_cursor";
/// Followed by a name: the value of a [`Command::NextSequence`] counter.
pub const KEY_SEQUENCE_PREFIX: &[u8] = b"sequence/";

/// Read errors while applying: the store is unusable, the node must stop.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    #[error("corrupt record: {0}")]
    Corrupt(#[from] serde_json::Error),
}

type Result<T> = std::result::Result<T, ApplyError>;

pub struct Applier<'a> {
    db: &'a DB,
    pub batch: WriteBatch,
    pub meta: &'a mut SmCounters,
    /// Reference counts changed by this command, not yet in the database.
    refs: HashMap<String, u64>,
}

pub fn get_resource(db: &DB, id: &str) -> Result<Option<Resource>> {
    match db.get_cf(cf(db, CF_RESOURCES), id)? {
        None => Ok(None),
        Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
    }
}

pub fn children_of(db: &DB, id: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    child_ids(&mut db.raw_iterator_cf(cf(db, CF_CHILDREN)), id, &mut out)?;
    Ok(out)
}

/// Appends the ids of the children of `id` (in key order) to `out`, seeking
/// `iter` (over `CF_CHILDREN`) to their prefix: one iterator can serve many
/// parents, cheaper than creating one per parent.
pub fn child_ids(
    iter: &mut rocksdb::DBRawIterator<'_>,
    id: &str,
    out: &mut Vec<String>,
) -> Result<()> {
    let prefix = children_prefix(id);
    iter.seek(&prefix);
    while let Some(key) = iter.key().filter(|k| k.starts_with(&prefix)) {
        out.push(String::from_utf8_lossy(&key[prefix.len()..]).into_owned());
        iter.next();
    }
    Ok(iter.status()?)
}

impl<'a> Applier<'a> {
    pub fn new(db: &'a DB, meta: &'a mut SmCounters) -> Self {
        Applier {
            db,
            batch: WriteBatch::default(),
            meta,
            refs: HashMap::new(),
        }
    }

    pub(crate) fn db_ref(&self) -> &'a DB {
        self.db
    }

    pub fn apply(&mut self, command: &Command) -> Result<CommandResponse> {
        match command {
            Command::StoreInstance {
                instance,
                overwrite,
                stamp,
                holders,
            } => self.store_instance(instance, *overwrite, stamp, holders),
            Command::DeleteResource { id, .. } => self.delete_resource(id),
            Command::MarkStable {
                id,
                last_instance_ms,
                stamp,
            } => self.mark_stable(id, *last_instance_ms, stamp),
            Command::SetMetadata {
                id,
                name,
                value,
                stamp,
            } => self.update_metadata(id, name, Some(value), stamp),
            Command::DeleteMetadata { id, name, stamp } => {
                self.update_metadata(id, name, None, stamp)
            }
            Command::SetAttachment {
                id,
                name,
                attachment,
                expect,
                stamp,
                holders,
            } => self.set_attachment(id, name, attachment, expect, stamp, holders),
            Command::DeleteAttachment {
                id,
                name,
                expect,
                stamp,
            } => self.delete_attachment(id, name, expect, stamp),
            Command::ClearChanges => {
                for name in [CF_CHANGES, CF_RESOURCE_CHANGES] {
                    let family = cf(self.db, name);
                    for item in self.db.iterator_cf(family, IteratorMode::Start) {
                        self.batch.delete_cf(family, item?.0);
                    }
                }
                Ok(CommandResponse::Done)
            }
            Command::ClaimBlobs { hashes } => self.claim_blobs(hashes),
            Command::PutModality { modality } => {
                let bytes = serde_json::to_vec(modality)?;
                self.batch
                    .put_cf(cf(self.db, CF_MODALITIES), &modality.name, bytes);
                Ok(CommandResponse::Done)
            }
            Command::DeleteModality { name } => {
                if self.db.get_cf(cf(self.db, CF_MODALITIES), name)?.is_none() {
                    return Ok(CommandResponse::UnknownResource);
                }
                self.batch.delete_cf(cf(self.db, CF_MODALITIES), name);
                Ok(CommandResponse::Done)
            }
            Command::PutPeer { peer } => {
                let bytes = serde_json::to_vec(peer)?;
                self.batch.put_cf(cf(self.db, CF_PEERS), &peer.name, bytes);
                Ok(CommandResponse::Done)
            }
            Command::DeletePeer { name } => {
                if self.db.get_cf(cf(self.db, CF_PEERS), name)?.is_none() {
                    return Ok(CommandResponse::UnknownResource);
                }
                self.batch.delete_cf(cf(self.db, CF_PEERS), name);
                Ok(CommandResponse::Done)
            }
            Command::PutSetting { name, value } => {
                self.batch.put_cf(cf(self.db, CF_SETTINGS), name, value);
                Ok(CommandResponse::Done)
            }
            Command::BlobsCollected { hashes } => {
                for hash in hashes {
                    self.batch.delete_cf(cf(self.db, CF_BLOB_STATE), hash);
                    self.batch.delete_cf(cf(self.db, CF_BLOB_HOLDERS), hash);
                }
                Ok(CommandResponse::Done)
            }
            Command::UpdateBlobHolders { hash, add, remove } => {
                if self.blob_refs(hash)? == 0 {
                    return Ok(CommandResponse::UnknownResource);
                }
                self.update_holders(hash, add, remove)?;
                Ok(CommandResponse::Done)
            }
            Command::LuaCursor { seq } => {
                let meta = cf(self.db, CF_SM_META);
                let current = self
                    .db
                    .get_cf(meta, KEY_LUA_CURSOR)?
                    .and_then(|v| decode_u64(&v));
                // Idempotent: a stale or repeated proposal never moves it back.
                if current.is_none_or(|c| *seq > c) {
                    self.batch.put_cf(meta, KEY_LUA_CURSOR, u64_key(*seq));
                }
                Ok(CommandResponse::Done)
            }
            Command::NextSequence { name } => {
                let meta = cf(self.db, CF_SM_META);
                let key = [KEY_SEQUENCE_PREFIX, name.as_bytes()].concat();
                let current = self
                    .db
                    .get_cf(meta, &key)?
                    .and_then(|v| decode_u64(&v))
                    .unwrap_or(0);
                self.batch.put_cf(meta, &key, u64_key(current + 1));
                Ok(CommandResponse::Sequence(current + 1))
            }
            Command::ReplaceMainTags {
                instance,
                tags,
                metadata,
            } => self.replace_main_tags(instance, tags, metadata),
            // The state machine applies a batch command by command, each in
            // its own write; one never reaches the applier, nested or not.
            Command::Batch(_) => Ok(CommandResponse::None),
        }
    }

    pub(crate) fn put_resource(&mut self, r: &Resource) -> Result<()> {
        let bytes = serde_json::to_vec(r)?;
        self.batch.put_cf(cf(self.db, CF_RESOURCES), &r.id, bytes);
        Ok(())
    }

    pub(crate) fn add_change(
        &mut self,
        change_type: ChangeType,
        level: Level,
        id: &str,
        date: &str,
    ) -> Result<()> {
        if self.meta.next_change == 0 {
            self.meta.next_change = 1;
        }
        let change = Change {
            seq: self.meta.next_change,
            change_type,
            level,
            id: id.to_owned(),
            date: date.to_owned(),
        };
        self.meta.next_change += 1;
        let bytes = serde_json::to_vec(&change)?;
        self.batch
            .put_cf(cf(self.db, CF_CHANGES), u64_key(change.seq), bytes);
        self.batch.put_cf(
            cf(self.db, CF_RESOURCE_CHANGES),
            resource_change_key(id, change.seq),
            [],
        );
        Ok(())
    }

    /// Removes the change-log entries of a resource that goes away, as Orthanc's
    /// schema does (its `Changes` rows are deleted with the resource).
    fn forget_changes(&mut self, id: &str) -> Result<()> {
        let prefix = children_prefix(id);
        let family = cf(self.db, CF_RESOURCE_CHANGES);
        let iter = self
            .db
            .iterator_cf(family, IteratorMode::From(&prefix, Direction::Forward));
        for item in iter {
            let (key, _) = item?;
            if !key.starts_with(&prefix) {
                break;
            }
            if let Some(seq) = decode_u64(&key[prefix.len()..]) {
                self.batch.delete_cf(cf(self.db, CF_CHANGES), u64_key(seq));
            }
            self.batch.delete_cf(family, &key);
        }
        Ok(())
    }

    fn index_tags(&mut self, r: &Resource, insert: bool) {
        let tags = cf(self.db, CF_TAGS);
        for (name, value) in &r.main_tags {
            let key = tag_key(r.level, name, &normalize(value), &r.id);
            if insert {
                self.batch.put_cf(tags, key, []);
            } else {
                self.batch.delete_cf(tags, key);
            }
        }
    }

    fn blob_refs(&self, hash: &str) -> Result<u64> {
        if let Some(n) = self.refs.get(hash) {
            return Ok(*n);
        }
        Ok(self
            .db
            .get_cf(cf(self.db, CF_BLOB_REFS), hash)?
            .and_then(|v| decode_u64(&v))
            .unwrap_or(0))
    }

    pub(crate) fn blob_state(&self, hash: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get_cf(cf(self.db, CF_BLOB_STATE), hash)?)
    }

    pub(crate) fn add_blob_ref(&mut self, hash: &str, delta: i64) -> Result<()> {
        let count = (self.blob_refs(hash)? as i64 + delta).max(0) as u64;
        self.refs.insert(hash.to_owned(), count);
        if count == 0 {
            self.batch.delete_cf(cf(self.db, CF_BLOB_REFS), hash);
            self.batch
                .put_cf(cf(self.db, CF_BLOB_STATE), hash, b"garbage");
        } else {
            self.batch
                .put_cf(cf(self.db, CF_BLOB_REFS), hash, u64_key(count));
            self.batch.delete_cf(cf(self.db, CF_BLOB_STATE), hash);
        }
        Ok(())
    }

    /// The blob's holders become `(current ∪ add) \ remove`, kept sorted.
    pub(crate) fn update_holders(&mut self, hash: &str, add: &[u64], remove: &[u64]) -> Result<()> {
        let mut holders: Vec<u64> = match self.db.get_cf(cf(self.db, CF_BLOB_HOLDERS), hash)? {
            Some(bytes) => serde_json::from_slice(&bytes)?,
            None => Vec::new(),
        };
        holders.extend_from_slice(add);
        holders.sort_unstable();
        holders.dedup();
        holders.retain(|id| !remove.contains(id));
        self.batch.put_cf(
            cf(self.db, CF_BLOB_HOLDERS),
            hash,
            serde_json::to_vec(&holders)?,
        );
        Ok(())
    }

    fn store_instance(
        &mut self,
        new: &NewInstance,
        overwrite: bool,
        stamp: &Stamp,
        holders: &[u64],
    ) -> Result<CommandResponse> {
        if self.blob_state(&new.attachment.hash)?.as_deref() == Some(b"deleting".as_slice()) {
            return Ok(CommandResponse::BlobBusy);
        }
        if let Some(old) = get_resource(self.db, &new.instance_id)? {
            if !overwrite {
                return Ok(CommandResponse::Stored(StoreOutcome {
                    status: StoreStatus::AlreadyStored,
                }));
            }
            // The new instance replaces the old one; ancestors stay.
            self.forget(&old)?;
        }
        let ancestors = [
            (Level::Patient, &new.patient_id, &new.patient_tags, None),
            (
                Level::Study,
                &new.study_id,
                &new.study_tags,
                Some(&new.patient_id),
            ),
            (
                Level::Series,
                &new.series_id,
                &new.series_tags,
                Some(&new.study_id),
            ),
        ];
        let instance = Resource {
            id: new.instance_id.clone(),
            level: Level::Instance,
            parent: Some(new.series_id.clone()),
            main_tags: new.instance_tags.clone(),
            metadata: new.metadata.clone(),
            attachments: [("dicom".to_owned(), new.attachment.clone())]
                .into_iter()
                .collect(),
            is_stable: false,
            last_update: stamp.date.clone(),
            last_instance_ms: stamp.unix_ms,
            created_seq: 0,
        };
        self.create(instance)?;
        self.add_change(
            ChangeType::NewInstance,
            Level::Instance,
            &new.instance_id,
            &stamp.date,
        )?;
        self.meta.counters.disk_size += new.attachment.size;
        self.meta.counters.uncompressed_size += new.attachment.uncompressed_size;
        self.add_blob_ref(&new.attachment.hash, 1)?;
        if !holders.is_empty() {
            self.update_holders(&new.attachment.hash, holders, &[])?;
        }

        for (level, id, tags, parent) in ancestors.into_iter().rev() {
            match get_resource(self.db, id)? {
                Some(mut existing) => {
                    existing.is_stable = false;
                    existing.last_update = stamp.date.clone();
                    existing.last_instance_ms = stamp.unix_ms;
                    self.put_resource(&existing)?;
                }
                None => {
                    // Orthanc 1.9: a series records the AE title that sent
                    // its first instance.
                    let mut metadata = BTreeMap::new();
                    if level == Level::Series {
                        if let Some(aet) = new.metadata.get("RemoteAET") {
                            metadata.insert("RemoteAET".to_owned(), aet.clone());
                        }
                    }
                    let r = Resource {
                        id: id.clone(),
                        level,
                        parent: parent.cloned(),
                        main_tags: tags.clone(),
                        metadata,
                        attachments: Default::default(),
                        is_stable: false,
                        last_update: stamp.date.clone(),
                        last_instance_ms: stamp.unix_ms,
                        created_seq: 0,
                    };
                    self.create(r)?;
                    let change = match level {
                        Level::Patient => ChangeType::NewPatient,
                        Level::Study => ChangeType::NewStudy,
                        _ => ChangeType::NewSeries,
                    };
                    self.add_change(change, level, id, &stamp.date)?;
                }
            }
            self.batch.put_cf(
                cf(self.db, CF_UNSTABLE),
                id.as_bytes(),
                u64_key(stamp.unix_ms),
            );
        }
        Ok(CommandResponse::Stored(StoreOutcome {
            status: StoreStatus::Success,
        }))
    }

    /// Writes a new resource with its listing, parent link and tag index.
    fn create(&mut self, mut r: Resource) -> Result<()> {
        r.created_seq = self.meta.next_resource;
        self.meta.next_resource += 1;
        self.batch.put_cf(
            cf(self.db, CF_BY_LEVEL),
            by_level_key(r.level, r.created_seq, &r.id),
            [],
        );
        if let Some(parent) = &r.parent {
            self.batch
                .put_cf(cf(self.db, CF_CHILDREN), child_key(parent, &r.id), []);
        }
        self.index_tags(&r, true);
        let c = &mut self.meta.counters;
        match r.level {
            Level::Patient => c.patients += 1,
            Level::Study => c.studies += 1,
            Level::Series => c.series += 1,
            Level::Instance => c.instances += 1,
        }
        self.put_resource(&r)
    }

    /// Removes one resource (not its children) from every family.
    fn forget(&mut self, r: &Resource) -> Result<()> {
        self.batch.delete_cf(cf(self.db, CF_RESOURCES), &r.id);
        self.batch.delete_cf(
            cf(self.db, CF_BY_LEVEL),
            by_level_key(r.level, r.created_seq, &r.id),
        );
        if let Some(parent) = &r.parent {
            self.batch
                .delete_cf(cf(self.db, CF_CHILDREN), child_key(parent, &r.id));
        }
        self.batch.delete_cf(cf(self.db, CF_UNSTABLE), &r.id);
        self.forget_changes(&r.id)?;
        self.index_tags(r, false);
        let c = &mut self.meta.counters;
        match r.level {
            Level::Patient => c.patients -= 1,
            Level::Study => c.studies -= 1,
            Level::Series => c.series -= 1,
            Level::Instance => c.instances -= 1,
        }
        for att in r.attachments.values() {
            c.disk_size = c.disk_size.saturating_sub(att.size);
            c.uncompressed_size = c.uncompressed_size.saturating_sub(att.uncompressed_size);
        }
        let hashes: Vec<String> = r.attachments.values().map(|a| a.hash.clone()).collect();
        for hash in hashes {
            self.add_blob_ref(&hash, -1)?;
        }
        Ok(())
    }

    fn delete_resource(&mut self, id: &str) -> Result<CommandResponse> {
        let Some(root) = get_resource(self.db, id)? else {
            return Ok(CommandResponse::UnknownResource);
        };
        let mut stack = vec![root.clone()];
        while let Some(r) = stack.pop() {
            for child in children_of(self.db, &r.id)? {
                if let Some(c) = get_resource(self.db, &child)? {
                    stack.push(c);
                }
            }
            self.forget(&r)?;
        }
        // Ancestors left without children go too, as in Orthanc.
        let mut removed = root.id.clone();
        let mut parent = root.parent.clone();
        while let Some(pid) = parent {
            let Some(p) = get_resource(self.db, &pid)? else {
                break;
            };
            let others = children_of(self.db, &pid)?
                .into_iter()
                .any(|c| c != removed);
            if others {
                return Ok(CommandResponse::Deleted(DeleteOutcome {
                    remaining_ancestor: Some((p.level, p.id)),
                }));
            }
            self.forget(&p)?;
            removed = p.id.clone();
            parent = p.parent.clone();
        }
        Ok(CommandResponse::Deleted(DeleteOutcome {
            remaining_ancestor: None,
        }))
    }

    fn mark_stable(
        &mut self,
        id: &str,
        last_instance_ms: u64,
        stamp: &Stamp,
    ) -> Result<CommandResponse> {
        let pending = self
            .db
            .get_cf(cf(self.db, CF_UNSTABLE), id)?
            .and_then(|v| decode_u64(&v));
        if pending != Some(last_instance_ms) {
            // Something arrived since the timer was read, or it already fired.
            return Ok(CommandResponse::Done);
        }
        let Some(mut r) = get_resource(self.db, id)? else {
            return Ok(CommandResponse::UnknownResource);
        };
        r.is_stable = true;
        self.put_resource(&r)?;
        self.batch.delete_cf(cf(self.db, CF_UNSTABLE), id);
        let change = match r.level {
            Level::Patient => ChangeType::StablePatient,
            Level::Study => ChangeType::StableStudy,
            _ => ChangeType::StableSeries,
        };
        self.add_change(change, r.level, id, &stamp.date)?;
        Ok(CommandResponse::Done)
    }

    /// Unknown resources make the whole command answer `UnknownResource`.
    fn replace_main_tags(
        &mut self,
        instance: &str,
        tags: &[(String, MainTags)],
        metadata: &BTreeMap<String, String>,
    ) -> Result<CommandResponse> {
        let mut resources = Vec::with_capacity(tags.len());
        for (id, main_tags) in tags {
            let Some(r) = get_resource(self.db, id)? else {
                return Ok(CommandResponse::UnknownResource);
            };
            resources.push((r, main_tags));
        }
        for (mut r, main_tags) in resources {
            self.index_tags(&r, false);
            r.main_tags = main_tags.clone();
            if r.id == instance {
                r.metadata
                    .extend(metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            self.index_tags(&r, true);
            self.put_resource(&r)?;
        }
        Ok(CommandResponse::Done)
    }

    fn update_metadata(
        &mut self,
        id: &str,
        name: &str,
        value: Option<&String>,
        stamp: &Stamp,
    ) -> Result<CommandResponse> {
        let Some(mut r) = get_resource(self.db, id)? else {
            return Ok(CommandResponse::UnknownResource);
        };
        match value {
            Some(v) => r.metadata.insert(name.to_owned(), v.clone()),
            None => r.metadata.remove(name),
        };
        self.put_resource(&r)?;
        self.add_change(ChangeType::UpdatedMetadata, r.level, id, &stamp.date)?;
        Ok(CommandResponse::Done)
    }

    fn claim_blobs(&mut self, hashes: &[String]) -> Result<CommandResponse> {
        let mut claimed = Vec::new();
        for hash in hashes {
            // The batch is not read back: a hash listed twice is claimed once.
            if claimed.contains(hash) {
                continue;
            }
            let state = self.blob_state(hash)?;
            let unreferenced = self.blob_refs(hash)? == 0;
            if unreferenced && state.as_deref() != Some(b"deleting".as_slice()) {
                self.batch
                    .put_cf(cf(self.db, CF_BLOB_STATE), hash, b"deleting");
                claimed.push(hash.clone());
            }
        }
        Ok(CommandResponse::Claimed { hashes: claimed })
    }
}
