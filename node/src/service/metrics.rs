//! What the node measures about itself, for `/tools/metrics-prometheus`:
//! Orthanc's metrics (counts and sizes of the archive, REST activity, the
//! duration of the last store) and Isengard's own (`isengard_*`: Raft term,
//! commit and apply index, leader changes, blob copies still to make, DICOM
//! associations, REST latency histogram).
//!
//! The edges record into [`Metrics`] (lock-free counters); [`Archive::metrics_samples`]
//! reads them with the index's counters and the Raft state into
//! protocol-neutral [`Sample`]s that the HTTP edge writes out.
//! `MetricsEnabled` (and `PUT /tools/metrics`) holds cluster-wide.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use super::{Archive, Result};
use crate::index::Command;

/// Upper bounds (ms) of the REST latency histogram's buckets.
pub const LATENCY_BUCKETS_MS: [u64; 12] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000];

const METRICS_ENABLED: &str = "MetricsEnabled";

/// The node's own counters, shared by every clone of the archive.
#[derive(Default)]
pub struct Metrics {
    rest_active: AtomicI64,
    rest_last_ms: AtomicU64,
    rest_buckets: [AtomicU64; LATENCY_BUCKETS_MS.len()],
    rest_count: AtomicU64,
    rest_sum_ms: AtomicU64,
    store_last_ms: AtomicU64,
    dicom_active: AtomicI64,
    dicom_total: AtomicU64,
    leader_changes: AtomicU64,
    last_leader: AtomicU64,
    blob_copies_pending: AtomicU64,
    seen_leader: AtomicBool,
}

/// One measurement: a Prometheus metric name, and its value or histogram.
#[derive(Debug, Clone, PartialEq)]
pub enum Sample {
    Gauge(&'static str, f64),
    /// Cumulative counts per [`LATENCY_BUCKETS_MS`] bound, then the total
    /// count and the sum of the observations.
    Histogram {
        name: &'static str,
        buckets: Vec<(u64, u64)>,
        count: u64,
        sum: f64,
    },
}

impl Metrics {
    /// A REST request starts; the guard records its duration when dropped.
    pub fn rest_request(&self) -> RestRequest<'_> {
        self.rest_active.fetch_add(1, Ordering::Relaxed);
        RestRequest {
            metrics: self,
            start: std::time::Instant::now(),
        }
    }

    fn rest_done(&self, took: Duration) {
        let ms = took.as_millis() as u64;
        self.rest_active.fetch_sub(1, Ordering::Relaxed);
        self.rest_last_ms.store(ms, Ordering::Relaxed);
        self.rest_count.fetch_add(1, Ordering::Relaxed);
        self.rest_sum_ms.fetch_add(ms, Ordering::Relaxed);
        if let Some(i) = LATENCY_BUCKETS_MS.iter().position(|b| ms <= *b) {
            self.rest_buckets[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A DICOM association starts; ends when the guard is dropped.
    pub fn dicom_association(&self) -> DicomAssociation<'_> {
        self.dicom_active.fetch_add(1, Ordering::Relaxed);
        self.dicom_total.fetch_add(1, Ordering::Relaxed);
        DicomAssociation { metrics: self }
    }

    pub fn stored(&self, took: Duration) {
        self.store_last_ms
            .store(took.as_millis() as u64, Ordering::Relaxed);
    }

    pub fn blob_copies_pending(&self, count: usize) {
        self.blob_copies_pending
            .store(count as u64, Ordering::Relaxed);
    }

    /// The leader this node sees now; counts the changes.
    pub fn leader(&self, leader: Option<u64>) {
        let Some(leader) = leader else { return };
        let before = self.last_leader.swap(leader, Ordering::Relaxed);
        let seen = self.seen_leader.swap(true, Ordering::Relaxed);
        if !seen || before != leader {
            self.leader_changes.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A REST request in progress ([`Metrics::rest_request`]).
pub struct RestRequest<'a> {
    metrics: &'a Metrics,
    start: std::time::Instant,
}

impl Drop for RestRequest<'_> {
    fn drop(&mut self) {
        self.metrics.rest_done(self.start.elapsed());
    }
}

/// A DICOM association in progress ([`Metrics::dicom_association`]).
pub struct DicomAssociation<'a> {
    metrics: &'a Metrics,
}

impl Drop for DicomAssociation<'_> {
    fn drop(&mut self) {
        self.metrics.dicom_active.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Archive {
    /// `MetricsEnabled`, or what `PUT /tools/metrics` set since.
    pub fn metrics_enabled(&self) -> Result<bool> {
        Ok(match self.node.reader().setting(METRICS_ENABLED)? {
            Some(v) => v == "1",
            None => self.config.metrics_enabled,
        })
    }

    pub async fn set_metrics_enabled(&self, enabled: bool) -> Result<()> {
        let command = Command::PutSetting {
            name: METRICS_ENABLED.to_owned(),
            value: if enabled { "1" } else { "0" }.to_owned(),
        };
        self.node.write(command).await?;
        Ok(())
    }

    /// Every metric, Orthanc's first; empty when metrics are disabled.
    pub fn metrics_samples(&self) -> Result<Vec<Sample>> {
        if !self.metrics_enabled()? {
            return Ok(Vec::new());
        }
        let m = &self.metrics;
        let c = self.statistics()?;
        let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
        let raft = self.node.raft().metrics().borrow().clone();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
        let mut cumulative = 0;
        let buckets = LATENCY_BUCKETS_MS
            .iter()
            .zip(&m.rest_buckets)
            .map(|(bound, n)| {
                cumulative += n.load(Ordering::Relaxed);
                (*bound, cumulative)
            })
            .collect();
        Ok(vec![
            Sample::Gauge("orthanc_count_instances", c.instances as f64),
            Sample::Gauge("orthanc_count_patients", c.patients as f64),
            Sample::Gauge("orthanc_count_series", c.series as f64),
            Sample::Gauge("orthanc_count_studies", c.studies as f64),
            Sample::Gauge("orthanc_disk_size_mb", mb(c.disk_size)),
            Sample::Gauge("orthanc_uncompressed_size_mb", mb(c.uncompressed_size)),
            Sample::Gauge(
                "orthanc_rest_api_active_requests",
                m.rest_active.load(Ordering::Relaxed) as f64,
            ),
            Sample::Gauge("orthanc_rest_api_duration_ms", load(&m.rest_last_ms)),
            Sample::Gauge("orthanc_store_dicom_duration_ms", load(&m.store_last_ms)),
            Sample::Gauge("isengard_raft_term", raft.current_term as f64),
            Sample::Gauge(
                "isengard_raft_last_log_index",
                raft.last_log_index.unwrap_or(0) as f64,
            ),
            Sample::Gauge("isengard_raft_commit_index", commit_index(&raft) as f64),
            Sample::Gauge(
                "isengard_raft_apply_index",
                raft.last_applied.map_or(0, |l| l.index) as f64,
            ),
            Sample::Gauge("isengard_raft_leader_changes", load(&m.leader_changes)),
            Sample::Gauge(
                "isengard_raft_is_leader",
                if raft.current_leader == Some(raft.id) { 1.0 } else { 0.0 },
            ),
            Sample::Gauge("isengard_blob_copies_pending", load(&m.blob_copies_pending)),
            Sample::Gauge(
                "isengard_dicom_associations_active",
                m.dicom_active.load(Ordering::Relaxed) as f64,
            ),
            Sample::Gauge("isengard_dicom_associations_total", load(&m.dicom_total)),
            Sample::Histogram {
                name: "isengard_rest_request_duration_ms",
                buckets,
                count: m.rest_count.load(Ordering::Relaxed),
                sum: load(&m.rest_sum_ms),
            },
        ])
    }
}

/// The highest log index a majority of voters hold: known on the leader
/// (from what each follower matched); elsewhere, the applied index (it is
/// committed, and a follower learns no more of the commit than it applied).
fn commit_index(raft: &crate::index::raft::RaftMetrics) -> u64 {
    let applied = raft.last_applied.map_or(0, |l| l.index);
    let Some(replication) = &raft.replication else {
        return applied;
    };
    let membership = raft.membership_config.membership();
    let mut matched: Vec<u64> = membership
        .voter_ids()
        .map(|id| {
            if id == raft.id {
                raft.last_log_index.unwrap_or(0)
            } else {
                replication
                    .get(&id)
                    .cloned()
                    .flatten()
                    .map_or(0, |l| l.index)
            }
        })
        .collect();
    if matched.is_empty() {
        return applied;
    }
    matched.sort_unstable_by(|a, b| b.cmp(a));
    matched[matched.len() / 2].max(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_associations_are_counted_while_they_last() {
        let m = Metrics::default();
        {
            let _r = m.rest_request();
            let _a = m.dicom_association();
            assert_eq!(m.rest_active.load(Ordering::Relaxed), 1);
            assert_eq!(m.dicom_active.load(Ordering::Relaxed), 1);
        }
        assert_eq!(m.rest_active.load(Ordering::Relaxed), 0);
        assert_eq!(m.dicom_active.load(Ordering::Relaxed), 0);
        assert_eq!(m.rest_count.load(Ordering::Relaxed), 1);
        assert_eq!(m.dicom_total.load(Ordering::Relaxed), 1);
        m.leader(Some(1));
        m.leader(Some(1));
        m.leader(None);
        m.leader(Some(2));
        assert_eq!(m.leader_changes.load(Ordering::Relaxed), 2);
    }
}
