//! gRPC envelopes between Isengard nodes (Raft traffic, blob transfer).
pub mod raft {
    tonic::include_proto!("isengard.raft");
}

pub mod blobs {
    tonic::include_proto!("isengard.blobs");
}
