//! The cluster: node-to-node gRPC (`proto/raft.proto`) carrying openraft's
//! messages and forwarded client writes.
//!
//! - [`network`]: the client side, a `RaftNetworkFactory` over tonic channels
//!   reused per peer address ([`Peers`]), every RPC with a timeout;
//! - [`server`]: the tonic `Raft` service handing requests to the local
//!   `openraft::Raft`, and running forwarded writes when this node leads;
//! - [`status`]: members, leader, term and per-node health for `GET /cluster`;
//! - [`blobs`]: the `Blobs` service (`proto/blobs.proto`) and its client
//!   calls, which copy blobs between nodes in the replicated blob mode;
//! - [`forward`]: the one helper through which a follower's write reaches the
//!   leader (used by [`crate::index::Index::write`]);
//! - [`bootstrap`]: forming the cluster from `Members` (only the lowest id
//!   initializes, never when another member already belongs to a cluster) and
//!   the `Probe` RPC;
//! - [`membership`]: adding (learner, catch up, voter) and removing members
//!   online, run on the leader.
//!
//! Payloads are serde_json encodings of openraft's own types (and of index
//! commands): openraft is the contract, protobuf only the envelope.

pub mod blobs;
pub mod bootstrap;
pub mod forward;
pub mod membership;
pub mod network;
pub mod server;
pub mod status;

pub use blobs::BlobService;
pub(crate) use bootstrap::spawn_bootstrap;
pub use network::{GrpcNetwork, Peers};
pub use server::RaftService;

/// A transport failure between two nodes.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("invalid peer address {addr}: {reason}")]
    Address { addr: String, reason: String },
    #[error("rpc to {addr} failed: {status}")]
    Rpc { addr: String, status: tonic::Status },
    #[error("cannot encode or decode a payload: {0}")]
    Codec(#[from] serde_json::Error),
}

impl TransportError {
    /// Whether the peer could not be reached at all (so the request was not
    /// processed and may be retried elsewhere).
    pub fn is_unreachable(&self) -> bool {
        match self {
            TransportError::Rpc { status, .. } => status.code() == tonic::Code::Unavailable,
            TransportError::Address { .. } => true,
            TransportError::Codec(_) => false,
        }
    }
}
