//! The client side of the Raft transport: tonic channels, reused per peer
//! address, and openraft's `RaftNetworkFactory` / `RaftNetwork` over them.
//!
//! Channels are lazy (they connect on first use and reconnect by themselves);
//! every RPC carries a deadline: openraft's `hard_ttl` for Raft messages, a
//! fixed one for forwarded writes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use isengard_proto::raft::raft_client::RaftClient;
use isengard_proto::raft::RaftRequest;
use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
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
            .map_err(|e| TransportError::Address { addr: addr.to_owned(), reason: e.to_string() })?
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
        let mut message = tonic::Request::new(RaftRequest { payload: serde_json::to_vec(request)? });
        message.set_timeout(timeout);
        let result = match rpc {
            Rpc::Vote => client.vote(message).await,
            Rpc::AppendEntries => client.append_entries(message).await,
            Rpc::InstallSnapshot => client.install_snapshot(message).await,
            Rpc::Forward => client.forward(message).await,
            Rpc::ChangeMembership => client.change_membership(message).await,
            Rpc::Probe => client.probe(message).await,
        };
        let reply = result.map_err(|status| TransportError::Rpc { addr: addr.to_owned(), status })?;
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
        Connection { peers: self.peers.clone(), target, addr: node.addr.clone() }
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
                if e.is_unreachable() {
                    RPCError::Unreachable(Unreachable::new(&e))
                } else {
                    RPCError::Network(NetworkError::new(&e))
                }
            })?;
        reply.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for Connection {
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
