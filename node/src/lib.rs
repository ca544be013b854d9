//! Isengard: an Orthanc-compatible DICOM archive whose index is a Raft-replicated
//! state machine on RocksDB and whose files are content-addressed blobs.
//!
//! Layers, data flowing one way:
//! - edges: [`http`] (Orthanc REST API) and, later, `dimse` (DICOM network);
//! - [`service`]: protocol-neutral use cases (ingest, read, find, delete, lifecycle);
//! - [`index`] (Raft log + state machine on RocksDB, secondary indexes, queries)
//!   and [`blob`] (content-addressed store over `object_store`);
//! - [`dicom`]: parsing, Orthanc identifiers, main tags, tag JSON;
//! - [`config`]: the Orthanc-style JSON configuration.
//!
//! [`run`] starts a node from a configuration and listeners handed in by the caller.

pub mod config;
pub mod dicom;
pub mod index;

// Replaced at merge: the `config` branch's placeholder for `Listeners` and `run`.
mod node_stub;
pub use node_stub::{run, Listeners, RunError};
