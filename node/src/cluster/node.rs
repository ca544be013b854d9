//! The Raft node: the index storage driven by openraft, the one handle the
//! use cases write and read through.
//!
//! [`Node::open_single`] makes a one-member cluster that initializes itself;
//! [`Node::open_cluster`] joins or forms a real one (bootstrap in the
//! background, see [`super::bootstrap`]). [`Node::write`] is the proposal to
//! Raft: every write goes through the group-commit queue ([`super::batch`]),
//! and from a follower through the leader ([`super::forward::write`]).

use std::collections::BTreeMap;
use std::path::Path;

use openraft::network::RaftNetworkFactory;
use openraft::{BasicNode, Config as RaftConfig};

use super::batch::Batcher;
use super::network::{GrpcNetwork, NoPeers, Peers};
use super::status::ClusterStatus;
use crate::config::ClusterConfig;
use crate::index::raft::{NodeId, Raft, TypeConfig};
use crate::index::read::Reader;
use crate::index::{storage_error, Command, CommandResponse, IndexDb, IndexError};

/// A handle on this node's replica of the index; cheap to clone.
#[derive(Clone)]
pub struct Node {
    db: IndexDb,
    raft: Raft,
    node_id: NodeId,
    /// Channels to the other nodes; `None` in a one-member cluster.
    peers: Option<Peers>,
    /// The write queue (group commit).
    writes: Batcher,
}

impl Node {
    /// Opens the index under `dir` as a one-member cluster (node 1), initializing
    /// the cluster on first start.
    pub async fn open_single(dir: &Path) -> Result<Node, IndexError> {
        let policy = (
            crate::config::DEFAULT_SNAPSHOT_LOGS,
            crate::config::DEFAULT_SNAPSHOT_KEEP_LOGS,
        );
        let node = Node::open(dir, 1, NoPeers, None, policy).await?;
        if !node.raft.is_initialized().await.map_err(storage_error)? {
            let members = BTreeMap::from([(node.node_id, BasicNode::new("local"))]);
            node.raft.initialize(members).await.map_err(storage_error)?;
        }
        node.wait_for_leader().await?;
        Ok(node)
    }

    /// Opens the index under `dir` as member `cluster.node_id` of a cluster. A
    /// restart (already initialized) just rejoins. On a first start the lowest
    /// id of `cluster.members` initializes the membership once a majority of
    /// the members answer that they belong to no cluster yet, and never when one
    /// of them already does ([`super::bootstrap`], in the background); every
    /// other node waits to be contacted. Does not wait for a leader: the gRPC
    /// server must run first (see [`Node::wait_for_leader`]).
    pub async fn open_cluster(dir: &Path, cluster: &ClusterConfig) -> Result<Node, IndexError> {
        let peers = Peers::default();
        let network = GrpcNetwork::new(peers.clone());
        let policy = (cluster.snapshot_logs, cluster.snapshot_keep_logs);
        let node = Node::open(dir, cluster.node_id, network, Some(peers.clone()), policy).await?;
        super::spawn_bootstrap(node.raft.clone(), peers, cluster);
        Ok(node)
    }

    async fn open<N: RaftNetworkFactory<TypeConfig>>(
        dir: &Path,
        node_id: NodeId,
        network: N,
        peers: Option<Peers>,
        (snapshot_logs, keep_logs): (u64, u64),
    ) -> Result<Node, IndexError> {
        let db = IndexDb::open(dir)?;
        crate::memory::on_idle(db.idle_flusher());
        let config = RaftConfig {
            cluster_name: "isengard".into(),
            heartbeat_interval: 250,
            election_timeout_min: 600,
            election_timeout_max: 1200,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(snapshot_logs),
            max_in_snapshot_log_to_keep: keep_logs,
            ..Default::default()
        };
        let config = std::sync::Arc::new(config.validate().map_err(storage_error)?);
        let raft = Raft::new(
            node_id,
            config,
            network,
            db.log_store(),
            db.state_machine()?,
        )
        .await
        .map_err(storage_error)?;
        let writes = Batcher::spawn(raft.clone(), node_id, peers.clone());
        Ok(Node {
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
    /// on a follower, through the leader ([`super::forward::write`]).
    /// Concurrent writes share Raft entries ([`super::batch`]).
    pub async fn write(&self, command: Command) -> Result<CommandResponse, IndexError> {
        self.writes.write(command).await
    }

    /// This node's view of the cluster (members, leader, health).
    pub fn status(&self) -> ClusterStatus {
        super::status::status(&self.raft)
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

    /// Reads of the local state machine.
    pub fn reader(&self) -> Reader<'_> {
        self.db.reader()
    }

    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
    }
}
