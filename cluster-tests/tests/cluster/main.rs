//! The multi-node tests in one binary (one link). Each module is one scenario;
//! the harness runs them one cluster at a time.

mod t10_ingest_everywhere;
mod t20_leader_failover;
mod t25_leader_kills_under_ingest;
mod t30_no_quorum;
mod t35_isolated_node;
mod t40_add_remove_members;
mod t45_stable_once;
mod t50_catch_up_by_snapshot;
mod t55_restart_everything;
mod t60_shared_s3;
mod t62_replicated;
mod t64_replicas_unreachable;
mod t65_modalities_everywhere;
mod t66_replicated_member_removed;
mod t70_lua_stable_once;
