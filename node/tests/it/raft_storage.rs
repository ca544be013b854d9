//! openraft's storage conformance suite against the RocksDB log store and state
//! machine: every test gets a fresh database in its own temporary directory.

use isengard::index::log_store::LogStore;
use isengard::index::raft::{NodeId, TypeConfig};
use isengard::index::state_machine::StateMachine;
use isengard::index::store;
use openraft::testing::{StoreBuilder, Suite};
use openraft::{StorageError, StorageIOError};
use tempfile::TempDir;

/// Opens a fresh database per test; the `TempDir` guard outlives the stores.
struct RocksBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for RocksBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError<NodeId>> {
        let dir = TempDir::new().map_err(|e| StorageIOError::write(&e))?;
        let db = store::open(&dir.path().join("rocksdb")).map_err(|e| StorageIOError::write(&e))?;
        let log = LogStore::new(db.clone());
        let sm = StateMachine::open(db, dir.path().join("snapshots"))?;
        Ok((dir, log, sm))
    }
}

#[test]
#[allow(clippy::result_large_err)] // openraft's StorageError
fn openraft_storage_suite() -> Result<(), StorageError<NodeId>> {
    Suite::test_all(RocksBuilder)
}

mod beyond_the_suite {
    //! What the suite does not check: the log's metadata survives reopening the
    //! database, and purging past the last entry (after a snapshot install).

    use isengard::index::store::{cf, u64_key, CF_RAFT_LOG};
    use isengard::index::{Command, Stamp};
    use openraft::storage::RaftLogStorage;
    use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, RaftLogReader, Vote};

    use super::*;

    fn entry(index: u64) -> Entry<TypeConfig> {
        let stamp = Stamp {
            unix_ms: index,
            date: "20240101T000000".into(),
        };
        let command = Command::MarkStable {
            id: format!("r{index}"),
            last_instance_ms: index,
            stamp,
        };
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(2, 1), index),
            payload: EntryPayload::Normal(command),
        }
    }

    /// Writes entries the way `append` does (`LogFlushed` is openraft-internal).
    fn put_entries(db: &rocksdb::DB, range: std::ops::RangeInclusive<u64>) {
        for i in range {
            db.put_cf(
                cf(db, CF_RAFT_LOG),
                u64_key(i),
                serde_json::to_vec(&entry(i)).unwrap(),
            )
            .unwrap();
        }
    }

    #[tokio::test]
    async fn metadata_survives_reopening() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("rocksdb");
        let vote = Vote::new_committed(2, 1);
        {
            let db = store::open(&path).unwrap();
            put_entries(&db, 1..=10);
            let mut log = LogStore::new(db);
            log.save_vote(&vote).await.unwrap();
            log.save_committed(Some(entry(8).log_id)).await.unwrap();
            log.purge(entry(3).log_id).await.unwrap();
            log.truncate(entry(9).log_id).await.unwrap();
        }
        let db = store::open(&path).unwrap();
        let mut log = LogStore::new(db);
        assert_eq!(log.read_vote().await.unwrap(), Some(vote));
        assert_eq!(log.read_committed().await.unwrap(), Some(entry(8).log_id));
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(entry(3).log_id));
        assert_eq!(state.last_log_id, Some(entry(8).log_id));
        let entries = log.try_get_log_entries(0..100).await.unwrap();
        assert_eq!(
            entries,
            (4..=8).map(entry).collect::<Vec<_>>(),
            "commands read back intact"
        );
    }

    #[tokio::test]
    async fn purge_past_the_last_entry() {
        let dir = TempDir::new().unwrap();
        let db = store::open(&dir.path().join("rocksdb")).unwrap();
        put_entries(&db, 1..=5);
        let mut log = LogStore::new(db.clone());
        log.purge(entry(20).log_id).await.unwrap();
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(entry(20).log_id));
        assert_eq!(state.last_log_id, Some(entry(20).log_id));
        assert!(log.try_get_log_entries(0..=30).await.unwrap().is_empty());
        put_entries(&db, 21..=22);
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_log_id, Some(entry(22).log_id));
        assert_eq!(log.try_get_log_entries(21..).await.unwrap().len(), 2);
    }
}
