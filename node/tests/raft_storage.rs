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
fn openraft_storage_suite() -> Result<(), StorageError<NodeId>> {
    Suite::test_all(RocksBuilder)
}
