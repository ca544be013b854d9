//! The cluster as this node sees it (openraft metrics), for `GET /cluster`.

use serde::{Deserialize, Serialize};

use crate::index::raft::{NodeId, Raft};

/// How far behind the leader's log a member may be and still count as healthy.
const HEALTHY_LAG: u64 = 1_000;

/// This node's view of the cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClusterStatus {
    pub node_id: NodeId,
    /// The gRPC `host:port` this node is reached at: `GrpcAdvertise` (set by
    /// the HTTP edge), else its address in the membership.
    pub address: Option<String>,
    /// `Leader`, `Follower`, `Candidate`, `Learner` or `Shutdown`.
    pub state: String,
    pub leader: Option<NodeId>,
    pub term: u64,
    pub last_log_index: Option<u64>,
    pub last_applied: Option<u64>,
    /// The last log index included in this node's latest snapshot (built or
    /// received from the leader).
    pub last_snapshot: Option<u64>,
    /// The last log index this node purged from its log: a member that lags
    /// behind it can only catch up from a snapshot.
    pub last_purged: Option<u64>,
    pub members: Vec<MemberStatus>,
}

/// One member, with what this node knows of its health.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MemberStatus {
    pub id: NodeId,
    pub address: String,
    pub voter: bool,
    /// The last log index known replicated to the member (leader only).
    pub matched: Option<u64>,
    /// `up` (this node, or replicating within reach of the leader), `lagging`,
    /// `unreachable` (nothing matched), or `unknown` (seen from a follower).
    pub health: String,
}

/// Reads this node's Raft metrics.
pub fn status(raft: &Raft) -> ClusterStatus {
    let m = raft.metrics().borrow().clone();
    let membership = m.membership_config.membership();
    let voters: Vec<NodeId> = membership.voter_ids().collect();
    let last = m.last_log_index.unwrap_or(0);
    let members = membership
        .nodes()
        .map(|(id, node)| {
            let matched = m
                .replication
                .as_ref()
                .and_then(|r| r.get(id).cloned().flatten())
                .map(|l| l.index);
            let health = if *id == m.id {
                if m.running_state.is_ok() {
                    "up"
                } else {
                    "unreachable"
                }
            } else if m.replication.is_none() {
                "unknown"
            } else {
                match matched {
                    None => "unreachable",
                    Some(index) if last.saturating_sub(index) <= HEALTHY_LAG => "up",
                    Some(_) => "lagging",
                }
            };
            MemberStatus {
                id: *id,
                address: node.addr.clone(),
                voter: voters.contains(id),
                matched,
                health: health.into(),
            }
        })
        .collect();
    ClusterStatus {
        node_id: m.id,
        address: membership.get_node(&m.id).map(|n| n.addr.clone()),
        state: format!("{:?}", m.state),
        leader: m.current_leader,
        term: m.current_term,
        last_log_index: m.last_log_index,
        last_applied: m.last_applied.map(|l| l.index),
        last_snapshot: m.snapshot.map(|l| l.index),
        last_purged: m.purged.map(|l| l.index),
        members,
    }
}
