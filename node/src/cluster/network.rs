//! The client side of the Raft transport: tonic channels, reused per peer
//! address, and openraft's `RaftNetworkFactory` / `RaftNetwork` over them.
//!
//! Channels are lazy (they connect on first use and reconnect by themselves);
//! every RPC carries a deadline: openraft's `hard_ttl` for Raft messages, a
//! fixed one for forwarded writes. A Raft message that fails in the transport
//! (refused, reset or closed connection) is reported to openraft as
//! `Unreachable`, so that it retries after a growing pause instead of at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use isengard_proto::raft::raft_client::RaftClient;
use isengard_proto::raft::RaftRequest;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::transport::{Channel, Endpoint};

use super::TransportError;
use crate::index::raft::{NodeId, TypeConfig};

const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// A pool of channels to peers, keyed by address; cheap to clone.
#[derive(Clone, Default)]
pub struct Peers {
    channels: Arc<Mutex<HashMap<String, Channel>>>,
}

/// Which RPC of the `Raft` service to call.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rpc {
    Vote,
    AppendEntries,
    InstallSnapshot,
    Forward,
    ChangeMembership,
    Probe,
}

impl Peers {
    pub(crate) fn channel(&self, addr: &str) -> Result<Channel, TransportError> {
        let mut channels = self.channels.lock().expect("peer pool lock");
        if let Some(channel) = channels.get(addr) {
            return Ok(channel.clone());
        }
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| TransportError::Address {
                addr: addr.to_owned(),
                reason: e.to_string(),
            })?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true);
        let channel = endpoint.connect_lazy();
        channels.insert(addr.to_owned(), channel.clone());
        Ok(channel)
    }

    /// Sends `request` (serde_json) to `addr` and decodes the reply as `Reply`.
    pub(crate) async fn call<Req: Serialize, Reply: DeserializeOwned>(
        &self,
        addr: &str,
        rpc: Rpc,
        request: &Req,
        timeout: Duration,
    ) -> Result<Reply, TransportError> {
        let mut client = RaftClient::new(self.channel(addr)?)
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX);
        let mut message = tonic::Request::new(RaftRequest {
            payload: serde_json::to_vec(request)?,
        });
        message.set_timeout(timeout);
        let result = match rpc {
            Rpc::Vote => client.vote(message).await,
            Rpc::AppendEntries => client.append_entries(message).await,
            Rpc::InstallSnapshot => client.install_snapshot(message).await,
            Rpc::Forward => client.forward(message).await,
            Rpc::ChangeMembership => client.change_membership(message).await,
            Rpc::Probe => client.probe(message).await,
        };
        let reply = result.map_err(|status| TransportError::Rpc {
            addr: addr.to_owned(),
            status,
        })?;
        Ok(serde_json::from_slice(&reply.into_inner().payload)?)
    }
}

/// openraft's network factory for a real cluster: one [`Connection`] per
/// target, all sharing the [`Peers`] pool.
#[derive(Clone, Default)]
pub struct GrpcNetwork {
    peers: Peers,
}

impl GrpcNetwork {
    pub fn new(peers: Peers) -> GrpcNetwork {
        GrpcNetwork { peers }
    }
}

impl RaftNetworkFactory<TypeConfig> for GrpcNetwork {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Connection {
        Connection {
            peers: self.peers.clone(),
            target,
            addr: node.addr.clone(),
        }
    }
}

/// The link to one peer.
pub struct Connection {
    peers: Peers,
    target: NodeId,
    addr: String,
}

impl Connection {
    /// Calls the peer; the reply payload is the remote `Result` itself.
    async fn send<Req, Resp, E>(
        &self,
        rpc: Rpc,
        request: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, BasicNode, E>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let reply: Result<Resp, E> = self
            .peers
            .call(&self.addr, rpc, request, option.hard_ttl())
            .await
            .map_err(|e| {
                tracing::debug!(peer = self.target, addr = %self.addr, ?rpc, error = %e, "raft rpc failed");
                // A refused, reset or closed connection: openraft backs off
                // (see `backoff`) instead of retrying at once.
                if e.is_transport_failure() {
                    RPCError::Unreachable(Unreachable::new(&e))
                } else {
                    RPCError::Network(NetworkError::new(&e))
                }
            })?;
        reply.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

/// The pauses before retrying a peer found unreachable: from 50 ms, doubling,
/// at most [`MAX_BACKOFF`]. A blip costs little; an isolated peer gets about
/// one attempt a second per link. openraft drops it at the first success.
fn unreachable_backoff() -> impl Iterator<Item = Duration> + Send + 'static {
    std::iter::successors(Some(Duration::from_millis(50)), |d| {
        Some((*d * 2).min(MAX_BACKOFF))
    })
}

/// The longest pause between two attempts to reach an unreachable peer.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

impl RaftNetwork<TypeConfig> for Connection {
    fn backoff(&self) -> Backoff {
        Backoff::new(unreachable_backoff())
    }

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.send(Rpc::AppendEntries, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.send(Rpc::InstallSnapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.send(Rpc::Vote, &rpc, &option).await
    }
}

/// The network of a one-member cluster: there is no other node to reach.
#[derive(Clone, Default)]
pub struct NoPeers;

#[derive(Debug, thiserror::Error)]
#[error("node {0} is not reachable: this node runs without a cluster")]
struct NoSuchPeer(NodeId);

impl RaftNetworkFactory<TypeConfig> for NoPeers {
    type Network = NoPeerConnection;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> Self::Network {
        NoPeerConnection { target }
    }
}

pub struct NoPeerConnection {
    target: NodeId,
}

impl NoPeerConnection {
    fn unreachable<E: std::error::Error>(&self) -> RPCError<NodeId, BasicNode, E> {
        RPCError::Unreachable(Unreachable::new(&NoSuchPeer(self.target)))
    }
}

impl RaftNetwork<TypeConfig> for NoPeerConnection {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        Err(self.unreachable())
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        Err(self.unreachable())
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        Err(self.unreachable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_a_second() {
        let pauses: Vec<u64> = unreachable_backoff()
            .take(7)
            .map(|d| d.as_millis() as u64)
            .collect();
        assert_eq!(pauses, vec![50, 100, 200, 400, 800, 1000, 1000]);
    }
}
