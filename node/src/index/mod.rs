//! The replicated index: a Raft state machine on RocksDB.

pub mod model;
