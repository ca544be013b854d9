//! The Raft node layer: the index storage driven by openraft ([`Node`]), and
//! everything that knows other nodes exist: node-to-node gRPC
//! (`proto/raft.proto`) carrying openraft's messages and forwarded client
//! writes, bootstrap, membership, status, and the blob copies of the
//! replicated mode.
//!
//! - [`node`]: [`Node`], opening (single or cluster), the proposal to Raft,
//!   reads of the local state machine;
//! - [`batch`]: group commit, concurrent writes sharing one Raft entry;
//! - [`network`]: the client side, a `RaftNetworkFactory` over tonic channels
//!   reused per peer address ([`Peers`]), every RPC with a timeout;
//! - [`server`]: the tonic `Raft` service handing requests to the local
//!   `openraft::Raft`, and running forwarded writes when this node leads;
//! - [`status`]: members, leader, term and per-node health for `GET /cluster`;
//! - [`blobs`]: the `Blobs` service (`proto/blobs.proto`) and its client
//!   calls, which copy blobs between nodes in the replicated blob mode;
//! - [`forward`]: the one helper through which a follower's write reaches the
//!   leader (used by [`Node::write`]);
//! - [`bootstrap`]: forming the cluster from `Members` (only the lowest id
//!   initializes, never when another member already belongs to a cluster) and
//!   the `Probe` RPC;
//! - [`membership`]: adding (learner, catch up, voter) and removing members
//!   online, run on the leader.
//!
//! Payloads are serde_json encodings of openraft's own types (and of index
//! commands): openraft is the contract, protobuf only the envelope.

mod batch;
pub mod blobs;
pub mod bootstrap;
pub mod forward;
pub mod membership;
pub mod network;
pub mod node;
pub mod server;
pub mod status;

pub use blobs::BlobService;
pub(crate) use bootstrap::spawn_bootstrap;
pub use network::{GrpcNetwork, Peers};
pub use node::Node;
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
    /// Why the peer said it has no sound copy of the blob asked for (it is
    /// missing there, or failed its hash), or `None` for any other failure.
    pub fn missing_blob(&self) -> Option<&str> {
        match self {
            TransportError::Rpc { status, .. }
                if matches!(status.code(), tonic::Code::NotFound | tonic::Code::DataLoss) =>
            {
                Some(status.message())
            }
            _ => None,
        }
    }

    /// Whether the peer could not be reached at all (so the request was not
    /// processed and may be retried elsewhere).
    pub fn is_unreachable(&self) -> bool {
        match self {
            TransportError::Rpc { status, .. } => status.code() == tonic::Code::Unavailable,
            TransportError::Address { .. } => true,
            TransportError::Codec(_) => false,
        }
    }

    /// Whether the call failed in the transport rather than with a status
    /// the peer's service sent: unreachable, or a connection refused, reset or
    /// closed under the call (tonic reports those as `Unknown`, `Cancelled` or
    /// `Internal` with the transport error as the status's source; a status
    /// sent by the peer has no source). The request may have been processed,
    /// so this is not [`TransportError::is_unreachable`]; it is what Raft
    /// messages, which are idempotent, treat as "back off before retrying".
    /// A client-side deadline (`Cancelled`, source `TimeoutExpired`) is not a
    /// transport failure: the call already waited.
    pub fn is_transport_failure(&self) -> bool {
        let TransportError::Rpc { status, .. } = self else {
            return self.is_unreachable();
        };
        if status.code() == tonic::Code::Unavailable {
            return true;
        }
        if !matches!(
            status.code(),
            tonic::Code::Unknown | tonic::Code::Cancelled | tonic::Code::Internal
        ) {
            return false;
        }
        let mut source = std::error::Error::source(status);
        while let Some(e) = source {
            if e.is::<tonic::transport::Error>() || e.is::<std::io::Error>() {
                return true;
            }
            source = e.source();
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::TransportError;
    use tonic::{Code, Status};

    fn rpc(status: Status) -> TransportError {
        TransportError::Rpc {
            addr: "127.0.0.1:1".into(),
            status,
        }
    }

    #[test]
    fn a_reset_connection_is_a_transport_failure_but_not_unreachable() {
        let reset = std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection reset by peer",
        );
        let status = Status::from_error(Box::new(reset));
        assert_eq!(status.code(), Code::Unknown);
        let e = rpc(status);
        assert!(e.is_transport_failure());
        assert!(!e.is_unreachable(), "the request may have been processed");
    }

    #[test]
    fn statuses_sent_by_the_peer_are_not_transport_failures() {
        for status in [
            Status::unknown("boom"),
            Status::cancelled("Timeout expired"),
            Status::internal("bug"),
        ] {
            assert!(!rpc(status).is_transport_failure());
        }
        assert!(!rpc(Status::not_found("no such blob")).is_transport_failure());
        // Unavailable (refused connection, or a peer that says so) was and
        // stays both.
        let e = rpc(Status::unavailable("connection refused"));
        assert!(e.is_transport_failure() && e.is_unreachable());
        let codec = TransportError::Codec(serde_json::from_str::<u8>("x").unwrap_err());
        assert!(!codec.is_transport_failure());
    }
}
