//! Background duties of the archive that must happen once in the cluster:
//! stable-age events and blob garbage collection. Both run on every node but act
//! only on the leader, and both act through Raft commands whose application is
//! idempotent, so a leader change never fires an event twice or loses one.
//! (In the replicated blob mode every node also collects the orphans of its
//! own store, through the same claims.)

use std::time::Duration;

use tokio::sync::watch;

use super::{now_stamp, Archive, Result};
use crate::index::{Command, CommandResponse};

/// Blobs older than this that no index entry knows are orphans of a crashed
/// ingest (blob written, command never committed) and are collected.
pub const DEFAULT_ORPHAN_GRACE: Duration = Duration::from_secs(3600);

/// What one garbage-collection pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    pub deleted: Vec<String>,
}

impl Archive {
    /// Proposes `MarkStable` for every resource whose last instance is older
    /// than `StableAge`. Returns how many were proposed.
    pub async fn stabilize_due(&self) -> Result<usize> {
        if !self.node.is_leader() {
            return Ok(0);
        }
        let age_ms = self.config.stable_age * 1000;
        let now = now_stamp();
        let due: Vec<(String, u64)> = self
            .node
            .reader()
            .unstable()?
            .into_iter()
            .filter(|(_, ms)| ms.saturating_add(age_ms) <= now.unix_ms)
            .collect();
        // Series before studies before patients, as Orthanc reports them.
        let mut due_with_level = Vec::new();
        for (id, ms) in due {
            if let Some(r) = self.node.reader().resource(&id)? {
                due_with_level.push((std::cmp::Reverse(r.level), r.created_seq, id, ms));
            }
        }
        due_with_level.sort();
        let count = due_with_level.len();
        for (_, _, id, last_instance_ms) in due_with_level {
            self.node
                .write(Command::MarkStable {
                    id,
                    last_instance_ms,
                    stamp: now_stamp(),
                })
                .await?;
        }
        Ok(count)
    }

    /// One garbage-collection pass: claims unreferenced blobs (and orphans older
    /// than `orphan_grace`) through Raft, deletes them, then records that.
    ///
    /// The leader collects the garbage of the index (in the replicated blob
    /// mode, on every member's store). Orphans are found by listing a store:
    /// the shared one by the leader, or in the replicated mode each node's own
    /// by that node, which then claims and deletes them itself.
    pub async fn collect_garbage(&self, orphan_grace: Duration) -> Result<GcReport> {
        let leader = self.node.is_leader();
        if !leader && !self.replicated() {
            return Ok(GcReport::default());
        }
        let reader = self.node.reader();
        let (mut claimed, mut candidates) = if leader {
            // A pass interrupted after its claim finishes first.
            (
                reader.blobs_in_state(b"deleting", 10_000)?,
                reader.blobs_in_state(b"garbage", 10_000)?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let cutoff =
            chrono::Utc::now() - chrono::Duration::from_std(orphan_grace).unwrap_or_default();
        for (hash, modified) in self.blobs.list().await? {
            if modified < cutoff && !self.node.reader().blob_known(&hash)? {
                candidates.push(hash);
            }
        }
        if !candidates.is_empty() {
            if let CommandResponse::Claimed { hashes } = self
                .node
                .write(Command::ClaimBlobs { hashes: candidates })
                .await?
            {
                claimed.extend(hashes);
            }
        }
        if claimed.is_empty() {
            return Ok(GcReport::default());
        }
        for hash in &claimed {
            self.blobs.delete(hash).await?;
        }
        if leader {
            self.delete_everywhere(&claimed).await;
        }
        self.node
            .write(Command::BlobsCollected {
                hashes: claimed.clone(),
            })
            .await?;
        Ok(GcReport { deleted: claimed })
    }

    /// Runs the stable-age and garbage-collection loops until `shutdown` flips.
    /// In the replicated blob mode, the scrub and repair passes run beside
    /// them ([`Archive::run_replication`]).
    pub async fn run_lifecycle(&self, mut shutdown: watch::Receiver<bool>) {
        let replication = {
            let archive = self.clone();
            let stop = shutdown.clone();
            tokio::spawn(async move { archive.run_replication(stop).await })
        };
        let mut stable_tick = tokio::time::interval(Duration::from_millis(500));
        let mut gc_tick = tokio::time::interval(Duration::from_secs(10));
        loop {
            tokio::select! {
                _ = shutdown.changed() => {
                    let _ = replication.await;
                    return;
                }
                _ = stable_tick.tick() => {
                    if let Err(e) = self.stabilize_due().await {
                        tracing::warn!(error = %e, "stable-age pass failed");
                    }
                }
                _ = gc_tick.tick() => {
                    match self.collect_garbage(DEFAULT_ORPHAN_GRACE).await {
                        Ok(report) if !report.deleted.is_empty() => {
                            tracing::info!(blobs = report.deleted.len(), "garbage-collected blobs");
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "garbage collection failed"),
                    }
                }
            }
        }
    }
}
