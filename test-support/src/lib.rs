//! Test and bench helpers shared by the crates' unit tests, the node's
//! integration tests (`node/tests/it`), the multi-node tests (`cluster-tests`)
//! and the benches, written once here. This crate depends on no isengard
//! crate, so every one of them can use it.
//!
//! - [`wait_until`]: poll a condition until it holds, with a deadline (tests
//!   never sleep as synchronization).
//! - [`free_port`], [`free_ports`]: loopback ports nothing listens on.
//! - [`Killed`]: a child process killed when dropped, even when a test fails.
//! - [`storescp`], [`StoreScp`]: dcmtk's `storescp` as a C-STORE / C-MOVE
//!   destination.
//! - [`S3sFs`]: an `s3s-fs` server (S3 protocol over a temp folder) on a port
//!   it chose.
//! - [`synth`]: synthetic, realistic DICOM data sets (tests and benchmarks).

mod dcmtk;
mod process;
mod s3s_fs;
pub mod synth;
mod wait;

pub use dcmtk::{storescp, StoreScp};
pub use process::{free_port, free_ports, Killed};
pub use s3s_fs::{S3sFs, S3_ACCESS_KEY, S3_REGION, S3_SECRET_KEY};
pub use wait::wait_until;
