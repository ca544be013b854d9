//! Online membership changes: add a node (learner, catch up, voter) and remove
//! one. They run on the leader ([`lead`]); a follower hands them over with the
//! `ChangeMembership` RPC ([`change`] finds the leader, like
//! [`super::forward::write`] does for index writes).
//!
//! Adding node `id` at `address`:
//! 1. the leader probes `address` over gRPC: the node must answer, with `id`;
//! 2. it adds the node as a learner (a membership log entry) and waits until
//!    the learner has replicated that entry, i.e. everything before it, by log
//!    or by snapshot when the log was purged;
//! 3. it promotes the learner to voter (joint consensus, two log entries).
//!
//! Removing node `id` drops it from the voters (or learners) and from the
//! membership; the last voter cannot be removed. Without a quorum the
//! membership entries cannot commit and the change fails with
//! [`MembershipError::NoLeader`] after a few seconds.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use openraft::error::{ChangeMembershipError, ClientWriteError, Fatal, RaftError};
use openraft::{BasicNode, ChangeMembers};
use serde::{Deserialize, Serialize};

use super::bootstrap::probe;
use super::forward::WRITE_DEADLINE;
use super::network::{Peers, Rpc};
use super::status::{status, ClusterStatus};
use super::Node;
use crate::config::is_host_port;
use crate::index::raft::{NodeId, Raft};

/// How long a new node may take to catch up, unless the request says otherwise.
pub const DEFAULT_CATCH_UP: Duration = Duration::from_secs(600);

/// How long one membership change (joint then uniform config) may take to commit.
const COMMIT_DEADLINE: Duration = Duration::from_secs(10);

/// One membership change, as `POST /cluster/members` and `DELETE
/// /cluster/members/{id}` ask for it (and as forwarded to the leader).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum MembershipRequest {
    /// Add node `node_id`, reached at `address` (gRPC `host:port`), as a voter
    /// once it has caught up within `catch_up_secs`.
    Add {
        node_id: NodeId,
        address: String,
        catch_up_secs: u64,
    },
    /// Remove node `node_id` from the membership.
    Remove { node_id: NodeId },
}

impl MembershipRequest {
    /// An addition with the default catch-up time.
    pub fn add(node_id: NodeId, address: impl Into<String>) -> Self {
        MembershipRequest::Add {
            node_id,
            address: address.into(),
            catch_up_secs: DEFAULT_CATCH_UP.as_secs(),
        }
    }

    fn validate(&self) -> Result<(), MembershipError> {
        let (MembershipRequest::Add { node_id, .. } | MembershipRequest::Remove { node_id }) = self;
        if *node_id == 0 {
            return Err(MembershipError::BadNodeId);
        }
        if let MembershipRequest::Add { address, .. } = self {
            if !is_host_port(address) {
                return Err(MembershipError::BadAddress(address.clone()));
            }
        }
        Ok(())
    }

    /// How long the leader may work on it.
    fn budget(&self) -> Duration {
        match self {
            MembershipRequest::Add { catch_up_secs, .. } => {
                Duration::from_secs(*catch_up_secs) + 2 * COMMIT_DEADLINE + Duration::from_secs(5)
            }
            MembershipRequest::Remove { .. } => COMMIT_DEADLINE + Duration::from_secs(5),
        }
    }
}

/// Why a membership change was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum MembershipError {
    #[error("this node runs without a cluster (no Isengard.Cluster section): members cannot be added or removed")]
    NotClustered,
    #[error("a node id is a positive integer")]
    BadNodeId,
    #[error("invalid node address {0:?}: expected the host:port of its gRPC port")]
    BadAddress(String),
    #[error("node {0} is not a member of the cluster")]
    UnknownNode(NodeId),
    #[error("node {0} is the last voter of the cluster and cannot be removed")]
    LastVoter(NodeId),
    #[error("node {id} is already a member, at {address}: remove it first to change its address")]
    AddressConflict { id: NodeId, address: String },
    #[error("cannot reach node {id} at {address} over gRPC ({reason}): start it first")]
    Unreachable {
        id: NodeId,
        address: String,
        reason: String,
    },
    #[error("the node at {address} is node {found}, not node {id}")]
    WrongNode {
        id: NodeId,
        address: String,
        found: NodeId,
    },
    #[error("node {id} did not catch up within {seconds} s; it stays a learner (add it again to finish, or remove it)")]
    NotCaughtUp { id: NodeId, seconds: u64 },
    #[error("another membership change is in progress; retry")]
    Busy,
    #[error("the membership change is not allowed: {0}")]
    Refused(String),
    #[error("no leader is available to change the membership (no quorum)")]
    NoLeader,
    #[error("the node is shutting down")]
    ShuttingDown,
    #[error("the membership change failed: {0}")]
    Failed(String),
}

/// The leader's answer to a membership change.
#[derive(Debug, Serialize, Deserialize)]
pub enum LeaderReply {
    /// Done; the membership entry is at `log_index`; `status` is the leader's view.
    Done {
        status: ClusterStatus,
        log_index: u64,
    },
    /// The receiver does not lead (any more).
    NotLeader { leader: Option<NodeId> },
    /// Refused or failed.
    Error(MembershipError),
}

/// Membership changes are run one at a time on a node.
static CHANGES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs `request` on this node, which should lead. `peers` reaches the node
/// to add.
pub(crate) async fn lead(raft: &Raft, peers: &Peers, request: &MembershipRequest) -> LeaderReply {
    if let Err(e) = request.validate() {
        return LeaderReply::Error(e);
    }
    let _one_at_a_time = CHANGES.lock().await;
    let result = match request {
        MembershipRequest::Add {
            node_id,
            address,
            catch_up_secs,
        } => {
            add(
                raft,
                peers,
                *node_id,
                address,
                Duration::from_secs(*catch_up_secs),
            )
            .await
        }
        MembershipRequest::Remove { node_id } => remove(raft, *node_id).await,
    };
    match result {
        Ok(log_index) => LeaderReply::Done {
            status: status(raft),
            log_index,
        },
        Err(Step::NotLeader(leader)) => LeaderReply::NotLeader { leader },
        Err(Step::Failed(e)) => LeaderReply::Error(e),
    }
}

/// Why a step on the leader stopped.
enum Step {
    NotLeader(Option<NodeId>),
    Failed(MembershipError),
}

impl From<MembershipError> for Step {
    fn from(e: MembershipError) -> Self {
        Step::Failed(e)
    }
}

/// This node's leader as its metrics say, checked to be itself.
fn ensure_leader(raft: &Raft) -> Result<(), Step> {
    let m = raft.metrics().borrow().clone();
    if m.current_leader == Some(m.id) {
        Ok(())
    } else {
        Err(Step::NotLeader(m.current_leader))
    }
}

/// Commits one membership change within [`COMMIT_DEADLINE`]; its log index.
async fn commit(
    raft: &Raft,
    changes: ChangeMembers<NodeId, BasicNode>,
    learner: bool,
) -> Result<u64, Step> {
    let write = async {
        match changes {
            ChangeMembers::AddNodes(nodes) if learner => {
                let (id, node) = nodes.into_iter().next().expect("one node");
                raft.add_learner(id, node, false).await
            }
            changes => raft.change_membership(changes, false).await,
        }
    };
    match tokio::time::timeout(COMMIT_DEADLINE, write).await {
        Err(_) => Err(Step::Failed(MembershipError::NoLeader)),
        Ok(Ok(response)) => Ok(response.log_id.index),
        Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
            Err(Step::NotLeader(f.leader_id))
        }
        Ok(Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e)))) => {
            Err(Step::Failed(match e {
                ChangeMembershipError::InProgress(_) => MembershipError::Busy,
                other => MembershipError::Refused(other.to_string()),
            }))
        }
        Ok(Err(RaftError::Fatal(Fatal::Stopped))) => {
            Err(Step::Failed(MembershipError::ShuttingDown))
        }
        Ok(Err(e)) => Err(Step::Failed(MembershipError::Failed(e.to_string()))),
    }
}

async fn add(
    raft: &Raft,
    peers: &Peers,
    id: NodeId,
    address: &str,
    catch_up: Duration,
) -> Result<u64, Step> {
    ensure_leader(raft)?;
    let m = raft.metrics().borrow().clone();
    let membership = m.membership_config.membership();
    match membership.get_node(&id) {
        Some(node) if node.addr != address => {
            return Err(MembershipError::AddressConflict {
                id,
                address: node.addr.clone(),
            }
            .into())
        }
        Some(_) if membership.voter_ids().any(|v| v == id) => {
            // Already a voter at this address: nothing to do.
            return Ok(m.membership_config.log_id().map(|l| l.index).unwrap_or(0));
        }
        // A learner (an earlier addition that did not finish): finish it.
        Some(_) => {}
        None => {
            let reply =
                probe(peers, m.id, address)
                    .await
                    .map_err(|e| MembershipError::Unreachable {
                        id,
                        address: address.to_owned(),
                        reason: e.to_string(),
                    })?;
            if reply.node_id != id {
                return Err(MembershipError::WrongNode {
                    id,
                    address: address.to_owned(),
                    found: reply.node_id,
                }
                .into());
            }
        }
    }
    tracing::info!(node = id, %address, "adding a learner");
    let added = commit(
        raft,
        ChangeMembers::AddNodes([(id, BasicNode::new(address))].into()),
        true,
    )
    .await?;

    // Caught up: the learner holds the entry that added it, so everything before.
    let started = Instant::now();
    let waited = raft
        .wait(Some(catch_up))
        .metrics(
            |m| {
                m.current_leader != Some(m.id)
                    || m.replication
                        .as_ref()
                        .and_then(|r| r.get(&id).cloned().flatten())
                        .is_some_and(|l| l.index >= added)
            },
            "the new learner catches up",
        )
        .await;
    match waited {
        Err(openraft::metrics::WaitError::ShuttingDown) => {
            return Err(MembershipError::ShuttingDown.into())
        }
        Err(openraft::metrics::WaitError::Timeout(..)) => {
            return Err(MembershipError::NotCaughtUp {
                id,
                seconds: catch_up.as_secs(),
            }
            .into())
        }
        Ok(_) => ensure_leader(raft)?,
    }
    tracing::info!(node = id, caught_up_in = ?started.elapsed(), "the learner caught up, promoting it to voter");
    commit(
        raft,
        ChangeMembers::AddVoterIds(BTreeSet::from([id])),
        false,
    )
    .await
}

async fn remove(raft: &Raft, id: NodeId) -> Result<u64, Step> {
    ensure_leader(raft)?;
    let m = raft.metrics().borrow().clone();
    let membership = m.membership_config.membership();
    if membership.get_node(&id).is_none() {
        return Err(MembershipError::UnknownNode(id).into());
    }
    let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
    let changes = if voters.contains(&id) {
        if voters.len() == 1 {
            return Err(MembershipError::LastVoter(id).into());
        }
        ChangeMembers::RemoveVoters(BTreeSet::from([id]))
    } else {
        ChangeMembers::RemoveNodes(BTreeSet::from([id]))
    };
    tracing::info!(node = id, voter = voters.contains(&id), "removing a member");
    commit(raft, changes, false).await
}

/// Runs `request` through the leader, wherever it is, and answers the
/// leader's view of the cluster afterwards. On a follower, also waits (briefly)
/// until this node has applied the change, so its own `GET /cluster` shows it.
pub async fn change(
    node: &Node,
    request: MembershipRequest,
) -> Result<ClusterStatus, MembershipError> {
    let Some(peers) = node.peers() else {
        return Err(MembershipError::NotClustered);
    };
    request.validate()?;
    let raft = node.raft();
    let me = node.node_id();
    let deadline = Instant::now() + WRITE_DEADLINE;
    loop {
        let metrics = raft.metrics().borrow().clone();
        let leader = metrics.current_leader;
        let reply = match leader {
            Some(id) if id == me => Some(lead(raft, peers, &request).await),
            Some(id) => match metrics.membership_config.membership().get_node(&id) {
                None => None,
                Some(node) => match peers
                    .call(
                        &node.addr,
                        Rpc::ChangeMembership,
                        &request,
                        request.budget(),
                    )
                    .await
                {
                    Ok(reply) => Some(reply),
                    Err(e) if e.is_unreachable() => {
                        tracing::debug!(leader = id, error = %e, "leader unreachable, retrying");
                        None
                    }
                    // The connection broke under the call (the leader died
                    // with it): the change may or may not have been made, as
                    // for a forwarded write (`forward::write`), so the answer
                    // is the retryable "no leader", not an internal error.
                    Err(e) if e.is_transport_failure() => {
                        tracing::warn!(leader = id, error = %e, "membership change to the leader failed");
                        return Err(MembershipError::NoLeader);
                    }
                    Err(e) => return Err(MembershipError::Failed(e.to_string())),
                },
            },
            None => None,
        };
        match reply {
            Some(LeaderReply::Done { status, log_index }) => {
                if leader != Some(me) {
                    let _ = raft
                        .wait(Some(WRITE_DEADLINE))
                        .applied_index_at_least(
                            Some(log_index),
                            "the membership change is applied locally",
                        )
                        .await;
                }
                return Ok(status);
            }
            Some(LeaderReply::Error(e)) => return Err(e),
            Some(LeaderReply::NotLeader { .. }) | None => {
                let remaining = deadline.saturating_duration_since(Instant::now());
                if remaining.is_zero() {
                    return Err(MembershipError::NoLeader);
                }
                let pause = remaining.min(Duration::from_millis(100));
                let _ = raft
                    .wait(Some(pause))
                    .metrics(
                        |m| m.current_leader.is_some() && m.current_leader != leader,
                        "a new leader",
                    )
                    .await;
            }
        }
    }
}
