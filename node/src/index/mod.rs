//! The replicated index: an openraft state machine on RocksDB.
//!
//! Writes are [`Command`]s proposed through Raft ([`Index::write`]); every node
//! applies the same commands in the same order. Reads ([`query`]) are served from
//! the local state machine. A node without a cluster is a one-member cluster
//! that initializes itself on first start.

pub mod apply;
mod batch;
mod find;
pub mod log_store;
pub mod model;
pub mod normalize;
pub mod query;
pub mod raft;
pub mod snapshot;
pub mod state_machine;
pub mod store;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use openraft::network::RaftNetworkFactory;
use openraft::{BasicNode, Config as RaftConfig};
use rocksdb::DB;

use crate::cluster::{GrpcNetwork, Peers};
use crate::config::ClusterConfig;
pub use model::*;
use raft::{NoPeers, NodeId, Raft, TypeConfig};

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

/// A handle on the local replica of the index; cheap to clone.
#[derive(Clone)]
pub struct Index {
    db: Arc<DB>,
    raft: Raft,
    node_id: NodeId,
    /// Channels to the other nodes; `None` in a one-member cluster.
    peers: Option<Peers>,
    /// The write queue (group commit).
    writes: batch::Batcher,
}

fn storage_error(e: impl std::fmt::Display) -> IndexError {
    IndexError::Storage(e.to_string())
}

impl Index {
    /// Opens the index under `dir` as a one-member cluster (node 1), initializing
    /// the cluster on first start.
    pub async fn open_single(dir: &Path) -> Result<Index, IndexError> {
        let policy = (
            crate::config::DEFAULT_SNAPSHOT_LOGS,
            crate::config::DEFAULT_SNAPSHOT_KEEP_LOGS,
        );
        let index = Index::open(dir, 1, NoPeers, None, policy).await?;
        if !index.raft.is_initialized().await.map_err(storage_error)? {
            let members = BTreeMap::from([(index.node_id, BasicNode::new("local"))]);
            index
                .raft
                .initialize(members)
                .await
                .map_err(storage_error)?;
        }
        index.wait_for_leader().await?;
        Ok(index)
    }

    /// Opens the index under `dir` as member `cluster.node_id` of a cluster. A
    /// restart (already initialized) just rejoins. On a first start the lowest
    /// id of `cluster.members` initializes the membership once a majority of
    /// the members answer that they belong to no cluster yet, and never when one
    /// of them already does ([`crate::cluster::bootstrap`], in the
    /// background); every other node waits to be contacted. Does not wait for a
    /// leader: the gRPC server must run first (see [`Index::wait_for_leader`]).
    pub async fn open_cluster(dir: &Path, cluster: &ClusterConfig) -> Result<Index, IndexError> {
        let peers = Peers::default();
        let network = GrpcNetwork::new(peers.clone());
        let policy = (cluster.snapshot_logs, cluster.snapshot_keep_logs);
        let index = Index::open(dir, cluster.node_id, network, Some(peers.clone()), policy).await?;
        crate::cluster::spawn_bootstrap(index.raft.clone(), peers, cluster);
        Ok(index)
    }

    async fn open<N: RaftNetworkFactory<TypeConfig>>(
        dir: &Path,
        node_id: NodeId,
        network: N,
        peers: Option<Peers>,
        (snapshot_logs, keep_logs): (u64, u64),
    ) -> Result<Index, IndexError> {
        std::fs::create_dir_all(dir).map_err(storage_error)?;
        let db = store::open(&dir.join("rocksdb")).map_err(IndexError::Open)?;
        let idle_db = Arc::downgrade(&db);
        crate::memory::on_idle(move || {
            let Some(db) = idle_db.upgrade() else {
                return false;
            };
            if let Err(e) = store::flush_idle(&db) {
                tracing::warn!(error = %e, "cannot flush the index memtables");
            }
            true
        });
        let log = log_store::LogStore::new(db.clone());
        let sm = state_machine::StateMachine::open(db.clone(), dir.join("snapshots"))
            .map_err(storage_error)?;
        let config = RaftConfig {
            cluster_name: "isengard".into(),
            heartbeat_interval: 250,
            election_timeout_min: 600,
            election_timeout_max: 1200,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(snapshot_logs),
            max_in_snapshot_log_to_keep: keep_logs,
            ..Default::default()
        };
        let config = Arc::new(config.validate().map_err(storage_error)?);
        let raft = Raft::new(node_id, config, network, log, sm)
            .await
            .map_err(storage_error)?;
        let writes = batch::Batcher::spawn(raft.clone(), node_id, peers.clone());
        Ok(Index {
            db,
            raft,
            node_id,
            peers,
            writes,
        })
    }

    /// Waits (up to 30 s) until this node knows a leader.
    pub async fn wait_for_leader(&self) -> Result<(), IndexError> {
        let timeout = std::time::Duration::from_secs(30);
        self.raft
            .wait(Some(timeout))
            .metrics(|m| m.current_leader.is_some(), "a leader is elected")
            .await
            .map_err(|_| IndexError::NoLeader)?;
        Ok(())
    }

    /// Proposes a command and waits until it is committed and applied locally:
    /// on a follower, through the leader ([`crate::cluster::forward`]).
    /// Concurrent writes share Raft entries ([`batch`]).
    pub async fn write(&self, command: Command) -> Result<CommandResponse, IndexError> {
        self.writes.write(command).await
    }

    /// This node's view of the cluster (members, leader, health).
    pub fn cluster_status(&self) -> crate::cluster::status::ClusterStatus {
        crate::cluster::status::status(&self.raft)
    }

    /// The current members (voters and learners) and their gRPC addresses,
    /// as this node's Raft sees them.
    pub fn members(&self) -> BTreeMap<NodeId, String> {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        metrics
            .membership_config
            .membership()
            .nodes()
            .map(|(id, node)| (*id, node.addr.clone()))
            .collect()
    }

    /// The channels to the other nodes; `None` in a one-member cluster.
    pub fn peers(&self) -> Option<&Peers> {
        self.peers.as_ref()
    }

    /// Whether this node belongs to a multi-node cluster configuration.
    pub fn is_clustered(&self) -> bool {
        self.peers.is_some()
    }

    /// This node's Raft id.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// Whether this node currently leads (and so runs cluster-wide timers).
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().current_leader == Some(self.node_id)
    }

    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    pub fn reader(&self) -> query::Reader<'_> {
        query::Reader::new(&self.db)
    }

    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
    }
}
