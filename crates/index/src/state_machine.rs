//! The index state machine on RocksDB (openraft's `RaftStateMachine`).
//!
//! `apply` turns committed commands into RocksDB writes through [`Applier`]; the
//! last applied log id and the membership are written in the same batch as the
//! command's effects, so a crash never leaves half a command applied. A
//! group-commit entry ([`Command::Batch`]) is applied command by command, with
//! its progress recorded in each write.

// openraft's traits return its `StorageError`, a large type we do not choose.
#![allow(clippy::result_large_err)]

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, Snapshot,
    SnapshotMeta, StorageError, StorageIOError, StoredMembership,
};
use rocksdb::{WriteBatch, DB};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncSeekExt;

use super::apply::{Applier, SmCounters, KEY_COUNTERS};
use super::model::{Command, CommandResponse};
use super::raft::{NodeId, TypeConfig};
use super::snapshot;
use super::store::{cf, CF_SM_META};

type StorageResult<T> = Result<T, StorageError<NodeId>>;

const KEY_APPLIED: &[u8] = b"applied";
const KEY_MEMBERSHIP: &[u8] = b"membership";
const KEY_SNAPSHOT: &[u8] = b"snapshot";
/// How far the batch entry being applied got: see [`StateMachine::apply_batch`].
const KEY_BATCH_PROGRESS: &[u8] = b"batch_progress";

/// The current snapshot: its metadata and the file holding it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SnapshotRecord {
    meta: SnapshotMeta<NodeId, BasicNode>,
    file: String,
}

pub struct StateMachine {
    db: Arc<DB>,
    snapshot_dir: PathBuf,
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
    counters: SmCounters,
    incoming: Option<PathBuf>,
    /// Tests: fail a batch entry after this many of its commands, as a crash would.
    #[cfg(test)]
    pub(crate) crash_in_batch_after: Option<usize>,
}

fn read_json<T: for<'de> Deserialize<'de>>(
    bytes: Option<Vec<u8>>,
) -> Result<Option<T>, serde_json::Error> {
    bytes.map(|b| serde_json::from_slice(&b)).transpose()
}

impl StateMachine {
    pub fn open(db: Arc<DB>, snapshot_dir: PathBuf) -> StorageResult<StateMachine> {
        std::fs::create_dir_all(&snapshot_dir)
            .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        // Snapshots being built or received when the node stopped are useless now.
        if let Ok(entries) = std::fs::read_dir(&snapshot_dir) {
            for item in entries.flatten() {
                if item.file_name().to_string_lossy().ends_with(".part") {
                    let _ = std::fs::remove_file(item.path());
                }
            }
        }
        let mut sm = StateMachine {
            db,
            snapshot_dir,
            last_applied: None,
            membership: StoredMembership::default(),
            counters: SmCounters::default(),
            incoming: None,
            #[cfg(test)]
            crash_in_batch_after: None,
        };
        sm.reload()?;
        Ok(sm)
    }

    /// Reloads the cached metadata from the database.
    fn reload(&mut self) -> StorageResult<()> {
        let meta = cf(&self.db, CF_SM_META);
        let get = |key: &[u8]| {
            self.db
                .get_cf(meta, key)
                .map_err(|e| StorageIOError::read_state_machine(&e))
        };
        let err = |e: serde_json::Error| StorageIOError::read_state_machine(&e);
        self.last_applied = read_json(get(KEY_APPLIED)?).map_err(err)?.flatten();
        self.membership = read_json(get(KEY_MEMBERSHIP)?)
            .map_err(err)?
            .unwrap_or_default();
        self.counters = read_json(get(KEY_COUNTERS)?)
            .map_err(err)?
            .unwrap_or_default();
        Ok(())
    }

    fn snapshot_record(&self) -> StorageResult<Option<SnapshotRecord>> {
        let raw = self
            .db
            .get_cf(cf(&self.db, CF_SM_META), KEY_SNAPSHOT)
            .map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        read_json(raw).map_err(|e| StorageIOError::read_snapshot(None, &e).into())
    }
}

/// Records `record` as the current snapshot and removes older snapshot files.
fn set_snapshot_record(db: &DB, dir: &Path, record: &SnapshotRecord) -> StorageResult<()> {
    let bytes = serde_json::to_vec(record).map_err(|e| StorageIOError::write_snapshot(None, &e))?;
    db.put_cf(cf(db, CF_SM_META), KEY_SNAPSHOT, bytes)
        .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for item in entries.flatten() {
            let name = item.file_name().to_string_lossy().into_owned();
            if name.ends_with(".snap") && name != record.file {
                let _ = std::fs::remove_file(item.path());
            }
        }
    }
    Ok(())
}

fn snapshot_error(
    signature: Option<openraft::storage::SnapshotSignature<NodeId>>,
    e: &dyn std::fmt::Display,
) -> StorageIOError<NodeId> {
    StorageIOError::write_snapshot(signature, openraft::AnyError::error(e))
}

fn to_json<T: Serialize>(value: &T, log_id: LogId<NodeId>) -> StorageResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StorageIOError::apply(log_id, &e).into())
}

/// Where a write stands in its log entry (see [`StateMachine::apply_batch`]).
enum Step {
    /// The entry is done: record it as applied.
    Last,
    /// Commands `0..done` of a batch entry are applied, more follow.
    Partial { done: usize },
}

/// How far a batch entry was applied when the node stopped in the middle of it.
#[derive(Debug, Serialize, Deserialize)]
struct BatchProgress {
    log_id: LogId<NodeId>,
    done: usize,
}

impl StateMachine {
    /// Applies one command on a copy of the counters: its writes, the new
    /// counters and its response, nothing written yet.
    fn run(
        &self,
        log_id: LogId<NodeId>,
        command: &Command,
    ) -> StorageResult<(WriteBatch, SmCounters, CommandResponse)> {
        let mut counters = self.counters.clone();
        let mut applier = Applier::new(&self.db, &mut counters);
        let response = applier
            .apply(command)
            .map_err(|e| StorageIOError::apply(log_id, &e))?;
        let batch = std::mem::take(&mut applier.batch);
        Ok((batch, counters, response))
    }

    /// Writes a command's effects with the counters and, at the last step, the
    /// applied log id and membership: atomically, so a crash never leaves half
    /// a command applied.
    async fn commit(
        &mut self,
        log_id: LogId<NodeId>,
        mut batch: WriteBatch,
        counters: SmCounters,
        step: Step,
    ) -> StorageResult<()> {
        let meta = cf(&self.db, CF_SM_META);
        batch.put_cf(meta, KEY_COUNTERS, to_json(&counters, log_id)?);
        match step {
            Step::Last => {
                batch.put_cf(meta, KEY_APPLIED, to_json(&Some(log_id), log_id)?);
                batch.put_cf(meta, KEY_MEMBERSHIP, to_json(&self.membership, log_id)?);
            }
            Step::Partial { done } => {
                batch.put_cf(
                    meta,
                    KEY_BATCH_PROGRESS,
                    to_json(&BatchProgress { log_id, done }, log_id)?,
                );
            }
        }
        // Off the async workers: behind a synced log append, RocksDB may
        // make this write wait for the disk.
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.write(batch))
            .await
            .map_err(|e| StorageIOError::apply(log_id, &e))?
            .map_err(|e| StorageIOError::apply(log_id, &e))?;
        self.counters = counters;
        Ok(())
    }

    /// Applies a group-commit entry command by command, each in its own write
    /// so that every command reads the effects of the ones before it (two new
    /// instances of one new series). Each write but the last records how many
    /// commands are done, in the same atomic write: a node that stops in the
    /// middle (or a snapshot taken in the middle) resumes after them instead of
    /// applying them twice. Their responses are then lost with the clients
    /// that waited for them.
    async fn apply_batch(
        &mut self,
        log_id: LogId<NodeId>,
        commands: &[Command],
    ) -> StorageResult<CommandResponse> {
        let progress = self
            .db
            .get_cf(cf(&self.db, CF_SM_META), KEY_BATCH_PROGRESS)
            .map_err(|e| StorageIOError::read_state_machine(&e))?;
        let progress: Option<BatchProgress> =
            read_json(progress).map_err(|e| StorageIOError::read_state_machine(&e))?;
        let skip = progress
            .filter(|p| p.log_id == log_id)
            .map_or(0, |p| p.done);
        let mut responses = Vec::with_capacity(commands.len());
        for (i, command) in commands.iter().enumerate() {
            if i < skip {
                responses.push(CommandResponse::None);
                continue;
            }
            #[cfg(test)]
            if self.crash_in_batch_after == Some(i) {
                return Err(StorageIOError::apply(
                    log_id,
                    &std::io::Error::other("simulated crash"),
                )
                .into());
            }
            let (mut batch, counters, response) = self.run(log_id, command)?;
            let step = if i + 1 == commands.len() {
                batch.delete_cf(cf(&self.db, CF_SM_META), KEY_BATCH_PROGRESS);
                Step::Last
            } else {
                Step::Partial { done: i + 1 }
            };
            self.commit(log_id, batch, counters, step).await?;
            responses.push(response);
        }
        if commands.is_empty() {
            self.commit(
                log_id,
                WriteBatch::default(),
                self.counters.clone(),
                Step::Last,
            )
            .await?;
        }
        Ok(CommandResponse::Batch(responses))
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> StorageResult<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>)> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> StorageResult<Vec<CommandResponse>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut responses = Vec::new();
        for entry in entries {
            let log_id = entry.log_id;
            let response = match &entry.payload {
                EntryPayload::Blank => {
                    self.commit(
                        log_id,
                        WriteBatch::default(),
                        self.counters.clone(),
                        Step::Last,
                    )
                    .await?;
                    CommandResponse::None
                }
                EntryPayload::Membership(m) => {
                    self.membership = StoredMembership::new(Some(log_id), m.clone());
                    self.commit(
                        log_id,
                        WriteBatch::default(),
                        self.counters.clone(),
                        Step::Last,
                    )
                    .await?;
                    CommandResponse::None
                }
                EntryPayload::Normal(Command::Batch(commands)) => {
                    self.apply_batch(log_id, commands).await?
                }
                EntryPayload::Normal(command) => {
                    let (batch, counters, response) = self.run(log_id, command)?;
                    self.commit(log_id, batch, counters, Step::Last).await?;
                    response
                }
            };
            self.last_applied = Some(log_id);
            responses.push(response);
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            db: self.db.clone(),
            snapshot_dir: self.snapshot_dir.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> StorageResult<Box<tokio::fs::File>> {
        let path = self
            .snapshot_dir
            .join(format!("incoming-{}.part", rand::random::<u64>()));
        let file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .await
            .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        if let Some(old) = self.incoming.replace(path) {
            let _ = tokio::fs::remove_file(old).await;
        }
        Ok(Box::new(file))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        mut snapshot: Box<tokio::fs::File>,
    ) -> StorageResult<()> {
        let sig = Some(meta.signature());
        let werr = |e: &dyn std::fmt::Display| snapshot_error(sig.clone(), e);
        snapshot
            .seek(SeekFrom::Start(0))
            .await
            .map_err(|e| werr(&e))?;
        let file = snapshot.into_std().await;
        let db = self.db.clone();
        let target = self.snapshot_dir.join(format!("{}.snap", meta.snapshot_id));
        let copy_to = target.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let mut file = file;
            snapshot::install(&db, &mut file)?;
            use std::io::Seek;
            file.seek(SeekFrom::Start(0))?;
            let mut out = std::fs::File::create(&copy_to)?;
            std::io::copy(&mut file, &mut out)?;
            out.sync_all()
        })
        .await
        .map_err(|e| werr(&e))?
        .map_err(|e| werr(&e))?;
        if let Some(incoming) = self.incoming.take() {
            let _ = tokio::fs::remove_file(incoming).await;
        }
        // The snapshot carried its own applied id, membership and counters.
        self.reload()?;
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        let file = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        set_snapshot_record(
            &self.db,
            &self.snapshot_dir,
            &SnapshotRecord {
                meta: meta.clone(),
                file,
            },
        )
    }

    async fn get_current_snapshot(&mut self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        let Some(record) = self.snapshot_record()? else {
            return Ok(None);
        };
        let path = self.snapshot_dir.join(&record.file);
        let file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            // A crash during an install can leave the record without its file
            // (the installed families carry the sender's record). openraft
            // reads this at startup: answer "no snapshot", it builds a new one.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!(file = %record.file, "snapshot file missing, ignoring the snapshot record");
                return Ok(None);
            }
            Err(e) => {
                return Err(StorageIOError::read_snapshot(Some(record.meta.signature()), &e).into())
            }
        };
        Ok(Some(Snapshot {
            meta: record.meta,
            snapshot: Box::new(file),
        }))
    }
}

/// Builds snapshots from a RocksDB snapshot, off the apply path.
pub struct SnapshotBuilder {
    db: Arc<DB>,
    snapshot_dir: PathBuf,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> StorageResult<Snapshot<TypeConfig>> {
        let db = self.db.clone();
        let dir = self.snapshot_dir.clone();
        let tmp = dir.join(format!("building-{}.part", rand::random::<u64>()));
        let tmp2 = tmp.clone();
        let werr = |e: &dyn std::fmt::Display| snapshot_error(None, e);
        let (applied, membership) = tokio::task::spawn_blocking(move || {
            snapshot::write(&db, &tmp2, |snap| {
                let meta = cf(&db, CF_SM_META);
                let get = |k: &[u8]| snap.get_cf(meta, k).map_err(std::io::Error::other);
                let applied: Option<LogId<NodeId>> = read_json(get(KEY_APPLIED)?)
                    .map_err(std::io::Error::other)?
                    .flatten();
                let membership: StoredMembership<NodeId, BasicNode> =
                    read_json(get(KEY_MEMBERSHIP)?)
                        .map_err(std::io::Error::other)?
                        .unwrap_or_default();
                Ok((applied, membership))
            })
        })
        .await
        .map_err(|e| werr(&e))?
        .map_err(|e| werr(&e))?;
        let snapshot_id = match applied {
            Some(id) => format!("{}-{}-{}", id.leader_id, id.index, rand::random::<u32>()),
            None => format!("empty-{}", rand::random::<u32>()),
        };
        let meta = SnapshotMeta {
            last_log_id: applied,
            last_membership: membership,
            snapshot_id,
        };
        let file_name = format!("{}.snap", meta.snapshot_id);
        let path = dir.join(&file_name);
        tokio::fs::rename(&tmp, &path).await.map_err(|e| werr(&e))?;
        set_snapshot_record(
            &self.db,
            &dir,
            &SnapshotRecord {
                meta: meta.clone(),
                file: file_name,
            },
        )?;
        let file = tokio::fs::File::open(&path).await.map_err(|e| werr(&e))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(file),
        })
    }
}
