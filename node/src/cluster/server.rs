//! The server side of the Raft transport: the tonic `Raft` service. Vote,
//! append-entries and snapshot chunks go to the local `openraft::Raft`; a
//! forwarded write or membership change is run here when this node leads; a
//! probe answers who this node is.

use isengard_proto::raft::raft_server::{Raft as RaftRpc, RaftServer};
use isengard_proto::raft::{RaftReply, RaftRequest};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::{Request, Response, Status};

use super::forward::{self, ForwardReply, WRITE_DEADLINE};
use super::membership::{self, LeaderReply, MembershipRequest};
use super::{bootstrap, Peers};
use crate::index::raft::Raft;
use crate::index::Command;

/// The `Raft` gRPC service of one node.
#[derive(Clone)]
pub struct RaftService {
    raft: Raft,
    /// Channels to the nodes a membership change probes.
    peers: Peers,
}

impl RaftService {
    pub fn new(raft: Raft) -> RaftService {
        RaftService {
            raft,
            peers: Peers::default(),
        }
    }

    /// The tonic service, ready for `Server::add_service`.
    pub fn into_server(self) -> RaftServer<RaftService> {
        RaftServer::new(self)
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX)
    }
}

fn decode<T: DeserializeOwned>(request: Request<RaftRequest>) -> Result<T, Status> {
    serde_json::from_slice(&request.into_inner().payload)
        .map_err(|e| Status::invalid_argument(format!("cannot decode the payload: {e}")))
}

fn encode<T: Serialize>(reply: &T) -> Result<Response<RaftReply>, Status> {
    let payload = serde_json::to_vec(reply).map_err(|e| Status::internal(e.to_string()))?;
    Ok(Response::new(RaftReply { payload }))
}

#[tonic::async_trait]
impl RaftRpc for RaftService {
    async fn vote(&self, request: Request<RaftRequest>) -> Result<Response<RaftReply>, Status> {
        let reply = self.raft.vote(decode(request)?).await;
        encode(&reply)
    }

    async fn append_entries(
        &self,
        request: Request<RaftRequest>,
    ) -> Result<Response<RaftReply>, Status> {
        let reply = self.raft.append_entries(decode(request)?).await;
        encode(&reply)
    }

    async fn install_snapshot(
        &self,
        request: Request<RaftRequest>,
    ) -> Result<Response<RaftReply>, Status> {
        let reply = self.raft.install_snapshot(decode(request)?).await;
        encode(&reply)
    }

    async fn forward(&self, request: Request<RaftRequest>) -> Result<Response<RaftReply>, Status> {
        let command: Command = decode(request)?;
        let reply: ForwardReply =
            forward::propose_local(&self.raft, command, Some(WRITE_DEADLINE)).await;
        encode(&reply)
    }

    async fn change_membership(
        &self,
        request: Request<RaftRequest>,
    ) -> Result<Response<RaftReply>, Status> {
        let request: MembershipRequest = decode(request)?;
        let reply: LeaderReply = membership::lead(&self.raft, &self.peers, &request).await;
        encode(&reply)
    }

    async fn probe(&self, request: Request<RaftRequest>) -> Result<Response<RaftReply>, Status> {
        let request: bootstrap::ProbeRequest = decode(request)?;
        let reply = bootstrap::probe_reply(&self.raft).await;
        tracing::debug!(
            from = request.from,
            initialized = reply.initialized,
            "probed"
        );
        encode(&reply)
    }
}
