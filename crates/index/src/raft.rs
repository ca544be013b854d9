//! openraft's type configuration: index commands in, command responses out.
//! The networks that carry them live with the Raft node (`isengard::cluster`).

use openraft::BasicNode;

use super::model::{Command, CommandResponse};

pub type NodeId = u64;

openraft::declare_raft_types!(
    /// Isengard's Raft types: index commands in, command responses out.
    pub TypeConfig:
        D = Command,
        R = CommandResponse,
        NodeId = NodeId,
        Node = BasicNode,
        SnapshotData = tokio::fs::File,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type RaftMetrics = openraft::RaftMetrics<NodeId, BasicNode>;
