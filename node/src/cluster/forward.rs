//! Write forwarding: the one helper through which every index write goes.
//!
//! On the leader a write is proposed locally. On a follower it is sent to the
//! leader (`Forward` RPC), which proposes it and answers the response with the
//! entry's log index; the follower then waits until its own state machine has
//! applied that index, so a read on this node right after sees the write
//! (read-your-writes). A leader change is retried until [`WRITE_DEADLINE`];
//! without a reachable leader (no quorum) the write fails with
//! [`IndexError::NoLeader`] instead of hanging.

use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, Fatal, RaftError};
use serde::{Deserialize, Serialize};

use super::network::{Peers, Rpc};
use crate::index::raft::{NodeId, Raft};
use crate::index::{Command, CommandResponse, IndexError};

/// How long a write may look for a leader and wait for it before failing.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(5);

/// The leader's answer to a forwarded write.
#[derive(Debug, Serialize, Deserialize)]
pub enum ForwardReply {
    /// Committed and applied on the leader at `log_index`.
    Applied {
        response: CommandResponse,
        log_index: u64,
    },
    /// The receiver does not lead (any more); `leader` is who it believes does.
    NotLeader { leader: Option<NodeId> },
    /// The leader could not commit in time (no quorum).
    NoQuorum,
    /// The leader failed to apply the command.
    Failed { message: String },
    /// The node is shutting down.
    Stopped,
}

/// Proposes `command` on this node, which must lead; `timeout` bounds the wait
/// for a quorum (`None`: a one-member cluster, no bound).
pub(crate) async fn propose_local(
    raft: &Raft,
    command: Command,
    timeout: Option<Duration>,
) -> ForwardReply {
    let write = raft.client_write(command);
    let result = match timeout {
        None => write.await,
        Some(t) => match tokio::time::timeout(t, write).await {
            Ok(result) => result,
            Err(_) => return ForwardReply::NoQuorum,
        },
    };
    match result {
        Ok(r) => ForwardReply::Applied {
            response: r.data,
            log_index: r.log_id.index,
        },
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => ForwardReply::NotLeader {
            leader: f.leader_id,
        },
        Err(RaftError::Fatal(Fatal::Stopped)) => ForwardReply::Stopped,
        Err(e) => ForwardReply::Failed {
            message: e.to_string(),
        },
    }
}

/// Writes `command` through the leader, wherever it is. `peers` is `None` in a
/// one-member cluster.
pub(crate) async fn write(
    raft: &Raft,
    me: NodeId,
    peers: Option<&Peers>,
    command: Command,
) -> Result<CommandResponse, IndexError> {
    let Some(peers) = peers else {
        return match propose_local(raft, command, None).await {
            ForwardReply::Applied { response, .. } => Ok(response),
            ForwardReply::Stopped => Err(IndexError::ShuttingDown),
            ForwardReply::Failed { message } => Err(IndexError::Storage(message)),
            ForwardReply::NotLeader { .. } | ForwardReply::NoQuorum => Err(IndexError::NoLeader),
        };
    };
    let deadline = Instant::now() + WRITE_DEADLINE;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(IndexError::NoLeader);
        }
        let metrics = raft.metrics().borrow().clone();
        let leader = metrics.current_leader;
        let reply = match leader {
            Some(id) if id == me => {
                Some(propose_local(raft, command.clone(), Some(remaining)).await)
            }
            Some(id) => match metrics.membership_config.membership().get_node(&id) {
                None => None,
                Some(node) => {
                    match peers
                        .call(&node.addr, Rpc::Forward, &command, remaining)
                        .await
                    {
                        Ok(reply) => Some(reply),
                        Err(e) if e.is_unreachable() => {
                            tracing::debug!(leader = id, error = %e, "leader unreachable, retrying");
                            None
                        }
                        Err(e) => {
                            tracing::warn!(leader = id, error = %e, "forwarded write failed");
                            return Err(IndexError::NoLeader);
                        }
                    }
                }
            },
            None => None,
        };
        match reply {
            Some(ForwardReply::Applied {
                response,
                log_index,
            }) => {
                if leader != Some(me) {
                    wait_applied(raft, log_index, deadline).await?;
                }
                return Ok(response);
            }
            Some(ForwardReply::NoQuorum) => return Err(IndexError::NoLeader),
            Some(ForwardReply::Failed { message }) => return Err(IndexError::Storage(message)),
            Some(ForwardReply::Stopped) if leader == Some(me) => {
                return Err(IndexError::ShuttingDown)
            }
            Some(ForwardReply::NotLeader { .. }) | Some(ForwardReply::Stopped) | None => {
                // Wait (briefly) for the leadership to change before retrying.
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

/// Waits until the local state machine has applied `log_index`.
async fn wait_applied(raft: &Raft, log_index: u64, deadline: Instant) -> Result<(), IndexError> {
    let remaining = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_secs(1));
    raft.wait(Some(remaining))
        .applied_index_at_least(Some(log_index), "a forwarded write is applied locally")
        .await
        .map(|_| ())
        .map_err(|e| match e {
            openraft::metrics::WaitError::ShuttingDown => IndexError::ShuttingDown,
            openraft::metrics::WaitError::Timeout(..) => IndexError::NoLeader,
        })
}
