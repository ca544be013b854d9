//! Ingest workloads: CT/MR slices (512x512, 16 bits at the small and full
//! scales) sent by dcmtk's `storescu` over 1 and 8 associations, and by
//! `POST /instances` with 1 and 8 HTTP clients. Every run starts a fresh
//! server on empty storage (ingest into an empty archive), checks that it
//! holds every instance afterwards, and records its resident memory: idle
//! right after start, peak after the run. The 3-node cluster runs the
//! concurrent workloads too, clients spread over its nodes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use isengard_test_support::synth::{hospital, Shape};

use crate::dcmtk;
use crate::plan::Plan;
use crate::report::{at_least, at_most, Report, Spec};
use crate::rest;
use crate::servers::{Env, Kind, Server};

pub const SECTION: &str = "Ingest (empty archive, fresh server per run)";
pub const CLUSTER: &str = "3-node cluster against one node (same ingest workloads)";
pub const MEMORY: &str = "Memory (resident set, /proc/PID/status)";

/// The ingest data set: files on disk (for storescu) and in memory (REST).
pub struct IngestData {
    pub files: Vec<PathBuf>,
    pub bodies: Arc<Vec<Bytes>>,
    pub bytes: u64,
}

impl IngestData {
    pub fn generate(plan: &Plan, work: &std::path::Path) -> anyhow::Result<IngestData> {
        let n = plan.ingest_instances;
        let per_series = (n / 8).clamp(1, 25);
        let shape = Shape {
            patients: n.div_ceil(2 * per_series),
            studies_per_patient: 1,
            series_per_study: 2,
            instances_per_series: per_series,
            rows: plan.image_size,
            columns: plan.image_size,
            seed: 5,
        };
        let dir = work.join("ingest");
        std::fs::create_dir_all(&dir)?;
        let (mut files, mut bodies) = (Vec::new(), Vec::new());
        for (i, spec) in hospital(shape).into_iter().take(n as usize).enumerate() {
            let bytes = spec.to_bytes();
            let path = dir.join(format!("{i:06}.dcm"));
            std::fs::write(&path, &bytes)?;
            files.push(path);
            bodies.push(Bytes::from(bytes));
        }
        let bytes = bodies.iter().map(|b| b.len() as u64).sum();
        Ok(IngestData {
            files,
            bodies: Arc::new(bodies),
            bytes,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    Storescu1,
    Storescu8,
    Rest1,
    Rest8,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Storescu1 => "C-STORE, 1 association (storescu)",
            Workload::Storescu8 => "C-STORE, 8 concurrent associations (8 storescu)",
            Workload::Rest1 => "REST POST /instances, 1 client",
            Workload::Rest8 => "REST POST /instances, 8 clients",
        }
    }

    fn spec(self) -> Spec {
        let target = match self {
            Workload::Storescu1 => at_least(20.0),
            Workload::Storescu8 => at_least(10.0),
            Workload::Rest1 | Workload::Rest8 => at_least(3.0),
        };
        Spec::new(SECTION, self.name(), "instances/s").target(target)
    }

    fn concurrent(self) -> bool {
        matches!(self, Workload::Storescu8 | Workload::Rest8)
    }

    /// Sends the data set; the wall time.
    async fn run(
        self,
        server: &Server,
        data: &IngestData,
        clients: usize,
    ) -> anyhow::Result<Duration> {
        match self {
            Workload::Rest1 => rest::upload_all(server, data.bodies.clone(), 1).await,
            Workload::Rest8 => rest::upload_all(server, data.bodies.clone(), clients).await,
            Workload::Storescu1 | Workload::Storescu8 => {
                let associations = if self == Workload::Storescu1 {
                    1
                } else {
                    clients
                };
                let start = Instant::now();
                let mut runs = Vec::new();
                for a in 0..associations {
                    let files: Vec<PathBuf> = data
                        .files
                        .iter()
                        .skip(a)
                        .step_by(associations)
                        .cloned()
                        .collect();
                    let node = &server.nodes[a % server.nodes.len()];
                    runs.push(async move { dcmtk::storescu(node, &files).await });
                }
                for result in futures::future::join_all(runs).await {
                    result?;
                }
                Ok(start.elapsed())
            }
        }
    }
}

const WORKLOADS: [Workload; 4] = [
    Workload::Storescu1,
    Workload::Storescu8,
    Workload::Rest1,
    Workload::Rest8,
];

/// Runs every ingest workload, `plan.rounds` times, alternating the servers.
pub async fn run(
    plan: &Plan,
    env: &Env,
    data: &IngestData,
    report: &mut Report,
) -> anyhow::Result<()> {
    let n = data.files.len();
    for round in 0..plan.rounds {
        for workload in WORKLOADS {
            let mut kinds = if plan.isengard_first(round) {
                vec![Kind::Isengard, Kind::Orthanc]
            } else {
                vec![Kind::Orthanc, Kind::Isengard]
            };
            if plan.wants("cluster") && workload.concurrent() {
                kinds.push(Kind::Cluster);
            }
            for kind in kinds {
                eprintln!(
                    "bench: round {}/{}: {} on {}",
                    round + 1,
                    plan.rounds,
                    workload.name(),
                    kind.label()
                );
                let server = Server::start(kind, env).await?;
                // Let start-up work (RocksDB, SQLite, threads) settle first.
                tokio::time::sleep(Duration::from_millis(500)).await;
                let idle = server.rss()?;
                let elapsed = workload.run(&server, data, plan.clients).await?;
                server.wait_instances(n as u64).await?;
                let peak = server.rss()?;
                let rate = n as f64 / elapsed.as_secs_f64();
                let cluster_row = || {
                    Spec::new(CLUSTER, workload.name(), "instances/s")
                        .pair(Kind::Cluster, Kind::Isengard)
                        .target(at_least(0.7))
                };
                match kind {
                    Kind::Cluster => report.add(cluster_row(), kind, [rate]),
                    Kind::Isengard if workload.concurrent() && plan.wants("cluster") => {
                        report.add(workload.spec(), kind, [rate]);
                        report.add(cluster_row(), kind, [rate]);
                    }
                    _ => report.add(workload.spec(), kind, [rate]),
                }
                let mem = |name: &str| Spec::new(MEMORY, name.to_owned(), "MiB");
                if kind != Kind::Cluster {
                    report.add(
                        mem("Idle, empty archive, after start").target(at_most(1.0)),
                        kind,
                        [mib(idle.current_kib)],
                    );
                    report.add(
                        mem("Peak during ingest (VmHWM)"),
                        kind,
                        [mib(peak.peak_kib)],
                    );
                }
                if matches!(kind, Kind::Cluster | Kind::Isengard)
                    && workload.concurrent()
                    && plan.wants("cluster")
                {
                    let spec = Spec::new(
                        CLUSTER,
                        "Peak resident memory during ingest (VmHWM, largest node)",
                        "MiB",
                    )
                    .pair(Kind::Cluster, Kind::Isengard);
                    report.add(spec, kind, [mib(peak.peak_kib)]);
                }
                server.remove();
            }
        }
    }
    annotate_bandwidth(report, data);
    Ok(())
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Notes on the ingest rows: the bytes per second reached, and their share
/// of the disk bandwidth measured in the same run.
fn annotate_bandwidth(report: &mut Report, data: &IngestData) {
    let per_instance = data.bytes as f64 / data.files.len().max(1) as f64;
    let (seq, durable) = (
        report.bandwidth.disk_sequential,
        report.bandwidth.files_durable,
    );
    for row in report.rows.iter_mut().filter(|r| r.section == SECTION) {
        let Some(rate) = row.median(Kind::Isengard) else {
            continue;
        };
        let mbps = rate * per_instance / 1e6;
        row.note = format!(
            "Isengard {:.1} MB/s = {:.0}% of sequential disk write, {:.0}% of the durable file-by-file copy",
            mbps,
            100.0 * mbps / seq.max(f64::MIN_POSITIVE),
            100.0 * mbps / durable.max(f64::MIN_POSITIVE)
        );
    }
}
