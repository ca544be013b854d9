//! Forming a cluster from `Members`, and the `Probe` RPC it relies on.
//!
//! Only the lowest id of `Members` ever initializes a membership, and only on a
//! pristine index. Before it does, it asks the other members over gRPC whether
//! they belong to a cluster already ([`ProbeReply::initialized`]: a log or a
//! vote). If one does, this node lost its data and must not start a second
//! cluster: it waits for the leader to contact it (it is still a member there)
//! or to be re-added. It initializes once a majority of the members (itself
//! included) answered that they are pristine. Every other node, and a node
//! whose id is not in `Members` (a joining node), never initializes: it serves
//! gRPC and waits to be contacted by a leader.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use openraft::BasicNode;
use serde::{Deserialize, Serialize};

use super::network::{Peers, Rpc};
use crate::config::ClusterConfig;
use crate::index::raft::{NodeId, Raft};

/// How long one probe may take.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between two rounds of probes while a majority is not reachable.
const PROBE_PAUSE: Duration = Duration::from_millis(250);

/// Sent with a `Probe`: who asks (for the receiver's log).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeRequest {
    pub from: NodeId,
}

/// A node's answer to `Probe`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeReply {
    /// The Raft id the node runs with.
    pub node_id: NodeId,
    /// Whether it belongs to a cluster (it has a log or has voted).
    pub initialized: bool,
    /// The leader it knows, if any.
    pub leader: Option<NodeId>,
    /// The voters of the membership it knows.
    pub voters: Vec<NodeId>,
}

/// This node's answer to `Probe`.
pub async fn probe_reply(raft: &Raft) -> ProbeReply {
    let initialized = raft.is_initialized().await.unwrap_or(true);
    let m = raft.metrics().borrow().clone();
    ProbeReply {
        node_id: m.id,
        initialized,
        leader: m.current_leader,
        voters: m.membership_config.membership().voter_ids().collect(),
    }
}

/// Asks the node at `addr` who it is.
pub(crate) async fn probe(
    peers: &Peers,
    me: NodeId,
    addr: &str,
) -> Result<ProbeReply, super::TransportError> {
    peers
        .call(addr, Rpc::Probe, &ProbeRequest { from: me }, PROBE_TIMEOUT)
        .await
}

/// Starts, in the background, what a freshly opened cluster member does about
/// bootstrapping (see the module documentation).
pub(crate) fn spawn_bootstrap(raft: Raft, peers: Peers, cluster: &ClusterConfig) {
    let cluster = cluster.clone();
    tokio::spawn(async move { bootstrap(raft, peers, cluster).await });
}

async fn bootstrap(raft: Raft, peers: Peers, cluster: ClusterConfig) {
    let me = cluster.node_id;
    if raft.is_initialized().await.unwrap_or(true) {
        return; // a restart: the index knows its membership
    }
    let lowest = cluster.members.keys().next().copied();
    if cluster.joins() || lowest != Some(me) {
        tracing::info!(
            node = me,
            advertise = %cluster.grpc_advertise,
            "pristine index: waiting for a leader to contact this node (a new node is added with `isengard cluster add {me} {}`)",
            cluster.grpc_advertise
        );
        return;
    }
    let majority = cluster.members.len() / 2 + 1;
    let mut pristine: BTreeSet<NodeId> = BTreeSet::from([me]);
    let mut said_waiting = false;
    loop {
        match raft.is_initialized().await {
            Ok(false) => {}
            // Contacted by a leader meanwhile, or shutting down.
            Ok(true) | Err(_) => return,
        }
        let asked = cluster
            .members
            .iter()
            .filter(|(id, _)| !pristine.contains(id));
        let answers = futures::future::join_all(asked.map(|(id, addr)| {
            let peers = peers.clone();
            async move { (*id, addr.clone(), probe(&peers, me, addr).await) }
        }))
        .await;
        for (id, addr, answer) in answers {
            match answer {
                Ok(reply) if reply.node_id != id => {
                    tracing::warn!(member = id, %addr, answered_as = reply.node_id, "a member answers with another node id");
                }
                Ok(reply) if reply.initialized => {
                    tracing::warn!(
                        member = id,
                        leader = ?reply.leader,
                        voters = ?reply.voters,
                        "a cluster already exists but this node's index is empty (lost data?): not initializing a \
                         second one; waiting for the leader to contact this node (see docs/operations.md, replacing \
                         a node)"
                    );
                    return;
                }
                Ok(_) => {
                    pristine.insert(id);
                }
                Err(e) => {
                    tracing::debug!(member = id, %addr, error = %e, "member not reachable yet")
                }
            }
        }
        if pristine.len() >= majority {
            let members: BTreeMap<NodeId, BasicNode> = cluster
                .members
                .iter()
                .map(|(id, addr)| (*id, BasicNode::new(addr)))
                .collect();
            tracing::info!(node = me, members = ?cluster.members, pristine = ?pristine, "initializing the cluster");
            if let Err(e) = raft.initialize(members).await {
                tracing::info!(error = %e, "not initializing the cluster");
            }
            return;
        }
        if !said_waiting {
            said_waiting = true;
            tracing::info!(
                node = me,
                needed = majority,
                pristine = ?pristine,
                "waiting for a majority of Members to answer before initializing the cluster"
            );
        }
        tokio::time::sleep(PROBE_PAUSE).await;
    }
}
