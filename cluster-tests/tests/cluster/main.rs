//! The multi-node tests in one binary (one link). Each module is one scenario;
//! the harness runs them one cluster at a time.

mod t10_ingest_everywhere;
mod t20_leader_failover;
mod t30_no_quorum;
mod t70_lua_stable_once;
