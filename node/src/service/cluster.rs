//! The cluster as the use cases see it: this node's status, membership
//! changes (handed to the leader by `cluster::membership`), leadership for
//! the work done once in the cluster, and the replicated cursor of Lua's
//! stable events over the change log.

use super::{Archive, Result};
use crate::cluster::membership::{self, MembershipError, MembershipRequest};
use crate::cluster::status::ClusterStatus;
use crate::index::Command;

impl Archive {
    /// This node's view of the cluster, with its advertised gRPC address.
    pub fn cluster_status(&self) -> ClusterStatus {
        let mut status = self.node.status();
        status.address = self
            .config
            .cluster
            .as_ref()
            .map(|c| c.grpc_advertise.clone());
        status
    }

    /// Adds or removes a member, through the leader wherever it is; the
    /// leader's view of the cluster afterwards.
    pub async fn change_membership(
        &self,
        request: MembershipRequest,
    ) -> std::result::Result<ClusterStatus, MembershipError> {
        membership::change(&self.node, request).await
    }

    /// Whether this node leads, and so runs what happens once in the cluster.
    pub fn is_leader(&self) -> bool {
        self.node.is_leader()
    }

    /// The last change whose Lua stable event was handled; `None` before
    /// Lua's first start.
    pub fn lua_cursor(&self) -> Result<Option<u64>> {
        Ok(self.node.reader().lua_cursor()?)
    }

    /// The sequence number of the newest change.
    pub fn last_change_seq(&self) -> Result<u64> {
        Ok(self.node.reader().last_seq()?)
    }

    /// Moves Lua's cursor to `seq`, through Raft.
    pub async fn save_lua_cursor(&self, seq: u64) -> Result<()> {
        self.node.write(Command::LuaCursor { seq }).await?;
        Ok(())
    }
}
