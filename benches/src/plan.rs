//! The command line and what a run does: data set sizes, rounds, repeats,
//! which workload groups, where the report goes.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scale {
    /// Seconds: a handful of small images; checks that the harness works.
    Tiny,
    /// Minutes: 200 CT/MR slices, archives of 2,000 and 10,000 instances.
    Small,
    /// The reference run: 1,000 slices, a 500-instance study, archives of
    /// 10,000 and 100,000 instances.
    Full,
}

#[derive(Debug, Parser)]
#[command(about = "Isengard and the reference Orthanc 1.10.1, side by side")]
pub struct Cli {
    /// Data set sizes and number of rounds.
    #[arg(long, value_enum, default_value = "full")]
    pub scale: Scale,
    /// Where the markdown report goes. An existing file keeps what lies
    /// outside its `<!-- bench:begin -->` / `<!-- bench:end -->` markers.
    #[arg(long, default_value = "docs/benchmarks.md")]
    pub out: PathBuf,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Rounds per workload (default: 1 tiny, 3 otherwise).
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Number of 16-bit CT/MR slices of the ingest workloads.
    #[arg(long)]
    pub ingest_instances: Option<u32>,
    /// Instances of the study that is retrieved.
    #[arg(long)]
    pub retrieve_instances: Option<u32>,
    /// Archive sizes of the find workloads, comma-separated (e.g. 10000,100000).
    #[arg(long, value_delimiter = ',')]
    pub index_sizes: Option<Vec<u32>>,
    /// Times each query is repeated per round.
    #[arg(long)]
    pub query_repeats: Option<usize>,
    /// Workload groups to run, comma-separated: ingest, cluster, retrieve, find.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ingest,cluster,retrieve,find"
    )]
    pub only: Vec<String>,
    /// Work directory (data sets, server storage); default a temporary
    /// directory, removed at the end.
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// The isengard binary (default: `isengard` next to this program).
    #[arg(long)]
    pub isengard: Option<PathBuf>,
    /// The reference Orthanc.
    #[arg(long, default_value = "/usr/sbin/Orthanc")]
    pub orthanc: PathBuf,
}

/// What one run does.
#[derive(Debug, Clone)]
pub struct Plan {
    pub scale_name: &'static str,
    pub rounds: usize,
    /// Slices of the ingest workloads and their size (rows = columns).
    pub ingest_instances: u32,
    pub image_size: u16,
    pub retrieve_instances: u32,
    pub index_sizes: Vec<u32>,
    pub query_repeats: usize,
    /// Concurrency of the "many clients" workloads and of bulk loading.
    pub clients: usize,
    /// Bytes written by the sequential disk and loopback measurements.
    pub bandwidth_bytes: u64,
    pub groups: Vec<String>,
    pub out: PathBuf,
    pub json: Option<PathBuf>,
    pub work_dir: Option<PathBuf>,
    pub isengard: PathBuf,
    pub orthanc: PathBuf,
}

const GROUPS: &[&str] = &["ingest", "cluster", "retrieve", "find"];

impl Plan {
    pub fn from_cli(cli: &Cli) -> anyhow::Result<Plan> {
        let (name, rounds, ingest, image, retrieve, sizes, repeats, bandwidth) = match cli.scale {
            Scale::Tiny => ("tiny", 1, 16, 128, 10, vec![100, 200], 5, 64 << 20),
            Scale::Small => (
                "small",
                3,
                200,
                512,
                100,
                vec![2_000, 10_000],
                20,
                512 << 20,
            ),
            Scale::Full => (
                "full",
                3,
                1_000,
                512,
                500,
                vec![10_000, 100_000],
                30,
                1 << 30,
            ),
        };
        for group in &cli.only {
            if !GROUPS.contains(&group.as_str()) {
                bail!(
                    "unknown workload group {group:?}: use {}",
                    GROUPS.join(", ")
                );
            }
        }
        let mut index_sizes = cli.index_sizes.clone().unwrap_or(sizes);
        index_sizes.sort_unstable();
        index_sizes.dedup();
        if index_sizes.iter().any(|n| *n < 20) {
            bail!("--index-sizes: each archive needs at least 20 instances");
        }
        let isengard = match &cli.isengard {
            Some(path) => path.clone(),
            None => std::env::current_exe()?
                .parent()
                .context("the program's folder")?
                .join("isengard"),
        };
        if !isengard.exists() {
            bail!(
                "{} is missing: `cargo build --release --bin isengard`, or pass --isengard",
                isengard.display()
            );
        }
        if !cli.orthanc.exists() {
            bail!(
                "the reference Orthanc is not at {}: pass --orthanc",
                cli.orthanc.display()
            );
        }
        Ok(Plan {
            scale_name: name,
            rounds: cli.rounds.unwrap_or(rounds).max(1),
            ingest_instances: cli.ingest_instances.unwrap_or(ingest).max(8),
            image_size: image,
            retrieve_instances: cli.retrieve_instances.unwrap_or(retrieve).max(1),
            index_sizes,
            query_repeats: cli.query_repeats.unwrap_or(repeats).max(1),
            clients: 8,
            bandwidth_bytes: bandwidth,
            groups: cli.only.clone(),
            out: cli.out.clone(),
            json: cli.json.clone(),
            work_dir: cli.work_dir.clone(),
            isengard,
            orthanc: cli.orthanc.clone(),
        })
    }

    pub fn wants(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// The work directory: the given one (kept), or a temporary one.
    pub fn work_dir(&self) -> anyhow::Result<tempfile::TempDir> {
        match &self.work_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                Ok(tempfile::Builder::new().prefix("bench-").tempdir_in(dir)?)
            }
            None => Ok(tempfile::Builder::new()
                .prefix("isengard-bench-")
                .tempdir()?),
        }
    }

    /// Which of the servers runs first in `round`: they alternate.
    pub fn isengard_first(&self, round: usize) -> bool {
        round.is_multiple_of(2)
    }
}
