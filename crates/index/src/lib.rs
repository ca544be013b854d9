//! The index storage: the Raft log and the state machine on RocksDB.
//!
//! Everything a node knows about its resources lives here: the data model and
//! the [`Command`]s that change it ([`model`]), their application
//! ([`apply::Applier`], one RocksDB write batch per entry), the openraft
//! storage traits ([`log_store::LogStore`], [`state_machine::StateMachine`],
//! [`snapshot`]), the column families ([`store`]), point reads and listings
//! ([`read::Reader`]) and `find` over the secondary tag index ([`find`]: one
//! [`find::TagConstraint`] per tag, matching in [`normalize`]). It does not
//! know that a cluster, a network or a protocol exists: the Raft node above
//! it (`isengard::cluster::Node`) opens an [`IndexDb`], hands its stores to
//! openraft and proposes the commands.

pub mod apply;
mod apply_attachments;
pub mod find;
pub mod log_store;
pub mod model;
pub mod normalize;
pub mod raft;
pub mod read;
pub mod snapshot;
pub mod state_machine;
pub mod store;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;

use rocksdb::DB;

pub use model::*;

/// Errors of the index, mapped to HTTP/DIMSE statuses at the edges.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("cannot open the index database: {0}")]
    Open(#[source] rocksdb::Error),
    #[error("index storage error: {0}")]
    Storage(String),
    #[error("no leader is available to accept writes (no quorum)")]
    NoLeader,
    #[error("the index is shutting down")]
    ShuttingDown,
    #[error("corrupt index record: {0}")]
    Corrupt(String),
}

impl From<rocksdb::Error> for IndexError {
    fn from(e: rocksdb::Error) -> Self {
        IndexError::Storage(e.to_string())
    }
}

impl From<serde_json::Error> for IndexError {
    fn from(e: serde_json::Error) -> Self {
        IndexError::Corrupt(e.to_string())
    }
}

impl From<apply::ApplyError> for IndexError {
    fn from(e: apply::ApplyError) -> Self {
        match e {
            apply::ApplyError::Rocks(e) => e.into(),
            apply::ApplyError::Corrupt(e) => e.into(),
        }
    }
}

/// The local index database (RocksDB: Raft log and state machine). Cheap to
/// clone; every clone is the same database.
#[derive(Clone)]
pub struct IndexDb {
    db: Arc<DB>,
    snapshots: std::path::PathBuf,
}

/// Maps any storage-side failure to [`IndexError::Storage`].
pub fn storage_error(e: impl std::fmt::Display) -> IndexError {
    IndexError::Storage(e.to_string())
}

impl IndexDb {
    /// Opens (creating when missing) the database under `dir`: RocksDB in
    /// `dir/rocksdb`, snapshot files in `dir/snapshots`.
    pub fn open(dir: &Path) -> Result<IndexDb, IndexError> {
        std::fs::create_dir_all(dir).map_err(storage_error)?;
        let db = store::open(&dir.join("rocksdb")).map_err(IndexError::Open)?;
        Ok(IndexDb {
            db,
            snapshots: dir.join("snapshots"),
        })
    }

    /// The Raft log store over this database.
    pub fn log_store(&self) -> log_store::LogStore {
        log_store::LogStore::new(self.db.clone())
    }

    /// The state machine over this database (its snapshot files included).
    pub fn state_machine(&self) -> Result<state_machine::StateMachine, IndexError> {
        state_machine::StateMachine::open(self.db.clone(), self.snapshots.clone())
            .map_err(storage_error)
    }

    /// Reads of the local state machine.
    pub fn reader(&self) -> read::Reader<'_> {
        read::Reader::new(&self.db)
    }

    /// The hook the node runs when the process goes quiet: flushes the
    /// memtables ([`store::flush_idle`]). It holds the database weakly and
    /// answers false once the database is closed (the hook is then dropped).
    pub fn idle_flusher(&self) -> impl Fn() -> bool + Send + Sync + 'static {
        let db = Arc::downgrade(&self.db);
        move || {
            let Some(db) = db.upgrade() else {
                return false;
            };
            if let Err(e) = store::flush_idle(&db) {
                tracing::warn!(error = %e, "cannot flush the index memtables");
            }
            true
        }
    }
}
