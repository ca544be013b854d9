//! The replicated blob mode (`Isengard.Blobs.Mode = "replicated"`): each node
//! keeps blobs in its own store, and the index records which nodes hold each
//! blob (`blob_holders`).
//!
//! - **Ingest** ([`Archive::store_blob`]): the receiving node stores the blob,
//!   then copies it to `Replicas - 1` other members (ranked by
//!   [`placement`]), each of which verifies the hash and fsyncs before it
//!   answers; the holders travel in `StoreInstance`. Fewer reachable members
//!   than copies wanted: the ingest fails ([`ServiceError::NotEnoughCopies`]).
//! - **Reads** ([`Archive::read_blob`]): the local copy, else a holder's
//!   (hash checked); a node that is a recorded holder puts the copy back.
//! - **Scrub** (every node, every `RepairInterval`): a recorded holder whose
//!   copy is gone reports it (`UpdateBlobHolders` removing itself).
//! - **Repair** (the leader, every `RepairInterval`, at each membership
//!   change and when it becomes leader): blobs with fewer than `Replicas` holders among the current
//!   members get new copies; holders that left the cluster, or that answer
//!   that they have no (sound) copy, are forgotten.
//! - **Garbage collection** (`lifecycle`): the leader deletes a collected
//!   blob on every member; each node collects its own orphans.
//!
//! In the shared mode every function here is the plain store's.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use futures::future::join_all;
use tokio::sync::watch;

use super::{Archive, Result, ServiceError};
use crate::blob::placement::{self, NodeId};
use crate::blob::{content_hash, BlobError, StoredBlob};
use crate::config::BlobMode;
use crate::index::Command;

/// Blobs read from the index per page by the scrub and repair passes.
const PAGE: usize = 1000;

/// What one repair pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RepairReport {
    /// Blobs given the copies they lacked (or rid of holders that left).
    pub repaired: usize,
    /// Blobs that could not be repaired in this pass (no source or target answered).
    pub failed: usize,
    /// Blobs of which no member holds a copy any more.
    pub lost: Vec<String>,
}

/// Why a copy could not be read from another node.
#[derive(Debug)]
enum FetchError {
    /// The node answered that it has no sound copy.
    Missing(String),
    /// The node did not answer usefully (down, timeout, refused).
    Failed(String),
}

impl Archive {
    /// Whether blobs are replicated between the nodes' own stores.
    pub fn replicated(&self) -> bool {
        self.config.blobs.mode == BlobMode::Replicated
    }

    /// The current members as a set of ids.
    fn member_ids(members: &BTreeMap<NodeId, String>) -> BTreeSet<NodeId> {
        members.keys().copied().collect()
    }

    /// Stores a new blob durably: in the shared store, or (replicated) here
    /// and on `Replicas - 1` other members. Returns the holders to record
    /// (empty in the shared mode).
    pub(crate) async fn store_blob(&self, bytes: Bytes) -> Result<(StoredBlob, Vec<NodeId>)> {
        let stored = self.blobs.put(bytes.clone()).await?;
        if !self.replicated() {
            return Ok((stored, Vec::new()));
        }
        let me = self.node.node_id();
        let members = self.node.members();
        let wanted = placement::wanted_copies(self.config.blobs.replicas, members.len());
        let mut holders = vec![me];
        let mut reasons = Vec::new();
        let mut candidates =
            placement::ingest_targets(&stored.hash, me, &Self::member_ids(&members)).into_iter();
        while holders.len() < wanted {
            let batch: Vec<NodeId> = candidates.by_ref().take(wanted - holders.len()).collect();
            if batch.is_empty() {
                break;
            }
            let copies = batch
                .iter()
                .map(|id| self.copy_to(*id, &members, &stored.hash, bytes.clone()));
            for (id, result) in batch.iter().zip(join_all(copies).await) {
                match result {
                    Ok(()) => holders.push(*id),
                    Err(e) => {
                        tracing::warn!(node = id, hash = %stored.hash, error = %e, "cannot copy a new blob");
                        reasons.push(format!("node {id}: {e}"));
                    }
                }
            }
        }
        if holders.len() < wanted {
            return Err(ServiceError::NotEnoughCopies {
                hash: stored.hash,
                wanted,
                made: holders.len(),
                reasons: if reasons.is_empty() {
                    "not enough members".into()
                } else {
                    reasons.join("; ")
                },
            });
        }
        holders.sort_unstable();
        Ok((stored, holders))
    }

    /// Copies blob `hash` to member `id` (this node: its own store).
    async fn copy_to(
        &self,
        id: NodeId,
        members: &BTreeMap<NodeId, String>,
        hash: &str,
        bytes: Bytes,
    ) -> std::result::Result<(), String> {
        if id == self.node.node_id() {
            return self
                .blobs
                .put_repairing(bytes)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string());
        }
        let addr = members.get(&id).ok_or_else(|| "not a member".to_owned())?;
        let peers = self
            .node
            .peers()
            .ok_or_else(|| "this node has no cluster".to_owned())?;
        peers
            .put_blob(addr, hash, bytes)
            .await
            .map_err(|e| e.to_string())
    }

    /// Blob `hash` as member `id` holds it, checked against its name.
    async fn fetch_from(
        &self,
        id: NodeId,
        members: &BTreeMap<NodeId, String>,
        hash: &str,
    ) -> std::result::Result<Bytes, FetchError> {
        if id == self.node.node_id() {
            return match self.blobs.get_verified(hash).await {
                Ok(bytes) => Ok(bytes),
                Err(e @ (BlobError::NotFound(_) | BlobError::Corrupt { .. })) => {
                    Err(FetchError::Missing(e.to_string()))
                }
                Err(e) => Err(FetchError::Failed(e.to_string())),
            };
        }
        let addr = members
            .get(&id)
            .ok_or_else(|| FetchError::Failed("not a member".into()))?;
        let peers = self
            .node
            .peers()
            .ok_or_else(|| FetchError::Failed("this node has no cluster".into()))?;
        match peers.get_blob(addr, hash).await {
            Ok(bytes) if content_hash(&bytes) == hash => Ok(bytes),
            Ok(_) => Err(FetchError::Failed(
                "the copy received does not match its hash".into(),
            )),
            Err(e) => match e.missing_blob() {
                Some(reason) => Err(FetchError::Missing(reason.to_owned())),
                None => Err(FetchError::Failed(e.to_string())),
            },
        }
    }

    /// The bytes of blob `hash`, checked against the hash: the local copy, or
    /// in the replicated mode a holder's.
    pub async fn read_blob(&self, hash: &str) -> Result<Bytes> {
        let local = match self.blobs.get_checked(hash).await {
            Ok(bytes) => return Ok(bytes),
            Err(e @ (BlobError::NotFound(_) | BlobError::Corrupt { .. })) if self.replicated() => e,
            Err(e) => return Err(e.into()),
        };
        let me = self.node.node_id();
        let holders = self.node.reader().blob_holders(hash)?.unwrap_or_default();
        let members = self.node.members();
        let mut unreachable = Vec::new();
        for id in placement::ranked(hash, holders.iter().copied().filter(|h| *h != me)) {
            match self.fetch_from(id, &members, hash).await {
                Ok(bytes) => {
                    tracing::info!(hash, from = id, "read a blob from another holder");
                    if holders.contains(&me) {
                        // Read repair: this node is meant to hold a copy.
                        if let Err(e) = self.blobs.put_repairing(bytes.clone()).await {
                            tracing::warn!(hash, error = %e, "cannot restore the local copy of a blob");
                        }
                    }
                    return Ok(bytes);
                }
                Err(FetchError::Missing(reason)) => {
                    tracing::warn!(hash, node = id, %reason, "a holder has no copy")
                }
                Err(FetchError::Failed(reason)) => unreachable.push(format!("node {id}: {reason}")),
            }
        }
        if unreachable.is_empty() {
            // Every holder answered: the blob is gone, as a local read says.
            return Err(local.into());
        }
        Err(ServiceError::BlobUnavailable {
            hash: hash.to_owned(),
            reasons: unreachable.join("; "),
        })
    }

    /// The nodes recorded as holding blob `hash` (empty when none is tracked).
    pub fn blob_holders(&self, hash: &str) -> Result<Vec<NodeId>> {
        Ok(self.node.reader().blob_holders(hash)?.unwrap_or_default())
    }

    /// Every replicated blob the index knows, page by page.
    fn for_each_page(&self) -> impl Iterator<Item = Result<Vec<(String, Vec<NodeId>)>>> + '_ {
        let mut after: Option<String> = None;
        let mut done = false;
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            let page = match self.node.reader().replicated_blobs(after.as_deref(), PAGE) {
                Ok(page) => page,
                Err(e) => {
                    done = true;
                    return Some(Err(e.into()));
                }
            };
            done = page.len() < PAGE;
            after = page.last().map(|(hash, _)| hash.clone());
            Some(Ok(page))
        })
    }

    /// Reports the blobs this node is recorded to hold but whose copy is gone.
    /// Returns how many were reported.
    pub async fn scrub_pass(&self) -> Result<usize> {
        if !self.replicated() {
            return Ok(0);
        }
        let me = self.node.node_id();
        let mut missing = Vec::new();
        for page in self.for_each_page() {
            for (hash, holders) in page? {
                if holders.contains(&me) && !self.blobs.exists(&hash).await? {
                    missing.push(hash);
                }
            }
        }
        for hash in &missing {
            tracing::warn!(
                hash,
                node = me,
                "the local copy of a blob is missing; reporting it"
            );
            let command = Command::UpdateBlobHolders {
                hash: hash.clone(),
                add: vec![],
                remove: vec![me],
            };
            self.node.write(command).await?;
        }
        Ok(missing.len())
    }

    /// On the leader: restores `Replicas` copies among the current members of
    /// every blob that lacks some, and forgets holders that left.
    pub async fn repair_pass(&self) -> Result<RepairReport> {
        let mut report = RepairReport::default();
        if !self.replicated() || !self.node.is_leader() {
            return Ok(report);
        }
        let members = self.node.members();
        if !members.contains_key(&self.node.node_id()) {
            // A leader that removed itself leads only until the change is
            // committed: its successor repairs.
            return Ok(report);
        }
        let ids = Self::member_ids(&members);
        let mut work = Vec::new();
        for page in self.for_each_page() {
            for (hash, holders) in page? {
                if let Some(plan) =
                    placement::plan_repair(&hash, &holders, &ids, self.config.blobs.replicas)
                {
                    work.push((hash, plan));
                }
            }
        }
        for (hash, plan) in work {
            if plan.is_lost() {
                tracing::error!(hash, "no member holds a copy of this blob any more");
                report.lost.push(hash.clone());
                if !plan.remove.is_empty() {
                    let command = Command::UpdateBlobHolders {
                        hash,
                        add: vec![],
                        remove: plan.remove,
                    };
                    self.node.write(command).await?;
                }
                continue;
            }
            let mut remove = plan.remove.clone();
            let mut bytes = None;
            if plan.needed > 0 {
                for source in &plan.sources {
                    match self.fetch_from(*source, &members, &hash).await {
                        Ok(b) => {
                            bytes = Some(b);
                            break;
                        }
                        Err(FetchError::Missing(reason)) => {
                            tracing::warn!(hash, node = source, %reason, "a holder has no sound copy");
                            remove.push(*source);
                        }
                        Err(FetchError::Failed(reason)) => {
                            tracing::debug!(hash, node = source, %reason, "cannot read a copy for repair");
                        }
                    }
                }
            }
            let mut added = Vec::new();
            if let Some(bytes) = bytes {
                // A holder found without a copy counts as a candidate again.
                let needed = plan.needed + remove.len() - plan.remove.len();
                let candidates = plan
                    .candidates
                    .iter()
                    .chain(remove.iter().filter(|r| ids.contains(*r)));
                for target in candidates {
                    if added.len() >= needed {
                        break;
                    }
                    match self.copy_to(*target, &members, &hash, bytes.clone()).await {
                        Ok(()) => added.push(*target),
                        Err(e) => {
                            tracing::debug!(hash, node = target, error = %e, "cannot place a repair copy")
                        }
                    }
                }
                if added.len() < needed {
                    report.failed += 1;
                }
            } else if plan.needed > 0 {
                report.failed += 1;
            }
            remove.retain(|r| !added.contains(r));
            if added.is_empty() && remove.is_empty() {
                continue;
            }
            tracing::info!(hash, ?added, ?remove, "repaired the holders of a blob");
            self.node
                .write(Command::UpdateBlobHolders {
                    hash,
                    add: added,
                    remove,
                })
                .await?;
            report.repaired += 1;
        }
        Ok(report)
    }

    /// Deletes collected blobs from every other member's store (best effort:
    /// a member that does not answer keeps an orphan, which it collects itself).
    pub(crate) async fn delete_everywhere(&self, hashes: &[String]) {
        if !self.replicated() || hashes.is_empty() {
            return;
        }
        let Some(peers) = self.node.peers() else {
            return;
        };
        let me = self.node.node_id();
        let members = self.node.members();
        let calls = members
            .iter()
            .filter(|(id, _)| **id != me)
            .map(
                |(id, addr)| async move { (*id, peers.delete_blobs(addr, hashes.to_vec()).await) },
            );
        for (id, result) in join_all(calls).await {
            if let Err(e) = result {
                tracing::warn!(node = id, blobs = hashes.len(), error = %e, "cannot delete collected blobs on a member");
            }
        }
    }

    /// Runs the scrub and repair passes every `RepairInterval`, and a repair
    /// at each membership change, until `shutdown` flips. Replicated mode only.
    pub async fn run_replication(&self, mut shutdown: watch::Receiver<bool>) {
        if !self.replicated() {
            return;
        }
        let mut tick = tokio::time::interval(self.config.blobs.repair_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let me = self.node.node_id();
        let mut metrics = self.node.raft().metrics();
        let (mut membership, mut leading) = {
            let m = metrics.borrow();
            (
                m.membership_config.log_id().to_owned(),
                m.current_leader == Some(me),
            )
        };
        loop {
            let scrub = tokio::select! {
                _ = shutdown.changed() => return,
                _ = tick.tick() => true,
                changed = metrics.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let (now, leads) = {
                        let m = metrics.borrow();
                        (m.membership_config.log_id().to_owned(), m.current_leader == Some(me))
                    };
                    // A follower sees a membership change before it may lead
                    // (e.g. when the leader removed itself): the new leader
                    // checks the holders as soon as it leads.
                    let became_leader = leads && !leading;
                    leading = leads;
                    if now == membership && !became_leader {
                        continue;
                    }
                    if now != membership {
                        tracing::info!(membership = ?now, "membership changed; checking blob holders");
                    } else {
                        tracing::info!("leading now; checking blob holders");
                    }
                    membership = now;
                    false
                }
            };
            if scrub {
                if let Err(e) = self.scrub_pass().await {
                    tracing::warn!(error = %e, "blob scrub failed");
                }
            }
            let repaired = self.repair_pass().await;
            if let Ok(report) = &repaired {
                self.metrics
                    .blob_copies_pending(report.failed + report.lost.len());
            }
            match repaired {
                Ok(report) if report != RepairReport::default() => {
                    tracing::info!(
                        repaired = report.repaired,
                        failed = report.failed,
                        lost = report.lost.len(),
                        "blob repair pass"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "blob repair failed"),
            }
        }
    }
}
