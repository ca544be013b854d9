//! `isengard-benches`: Isengard and the reference Orthanc 1.10.1 side by side
//! on the same synthetic data, on this machine, in one run (`make bench`).
//!
//! The runner generates the data sets with `isengard_test_support::synth`, starts every
//! server itself on free loopback ports (fresh storage for each ingest run),
//! runs each workload on both servers, alternating which goes first, for
//! several rounds, and writes a markdown report: medians per server and the
//! ratio Isengard / Orthanc, with the disk and loopback bandwidth measured in
//! the same run. See docs/benchmarks.md for what each workload does.
//!
//! Modules: [`plan`] (scales, command line), [`servers`] (processes),
//! [`dcmtk`] (the dcmtk tools), [`rest`] (HTTP clients), [`machine`]
//! (description and bandwidths), [`ingest`], [`retrieve`], [`find`] (the
//! workloads), [`report`] (samples, statistics, markdown).

mod dcmtk;
mod find;
mod ingest;
mod machine;
mod plan;
mod report;
mod rest;
mod retrieve;
mod servers;

use std::time::Instant;

use clap::Parser;

use plan::{Cli, Plan};
use report::Report;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let plan = Plan::from_cli(&cli)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()?;
    runtime.block_on(run(plan, command))
}

async fn run(plan: Plan, command: String) -> anyhow::Result<()> {
    let started = Instant::now();
    let work = plan.work_dir()?;
    let env = servers::Env::new(&plan, work.path())?;
    let _scp = dcmtk::Storescp::start(&env).await?;
    let mut report = Report::new(&plan, command);
    eprintln!(
        "bench: scale {}, {} round(s), work dir {}",
        plan.scale_name,
        plan.rounds,
        work.path().display()
    );

    report.machine = machine::describe(work.path());
    let data = ingest::IngestData::generate(&plan, work.path())?;
    eprintln!("bench: measuring disk and loopback bandwidth");
    report.bandwidth = machine::bandwidth(&plan, work.path(), &data.files).await?;

    if plan.wants("ingest") {
        ingest::run(&plan, &env, &data, &mut report).await?;
    }
    if plan.wants("retrieve") {
        retrieve::run(&plan, &env, &mut report).await?;
    }
    if plan.wants("find") {
        find::run(&plan, &env, &mut report).await?;
    }
    report.elapsed = started.elapsed();
    report.orthanc_version = env.orthanc_version.lock().unwrap().clone();
    report.write(&plan.out)?;
    if let Some(json) = &plan.json {
        std::fs::write(json, serde_json::to_vec_pretty(&report.to_json())?)?;
    }
    eprintln!(
        "bench: wrote {} in {:.0} s",
        plan.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
