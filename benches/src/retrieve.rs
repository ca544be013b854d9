//! Retrieval workloads on one study of CT/MR slices (500 at the full scale),
//! loaded into a fresh server of each kind: `GET /instances/{id}/file` by 1
//! and 8 clients, `GET /studies/{id}/archive`, C-MOVE (dcmtk's `movescu`
//! towards the bench's `storescp`) and C-GET (`getscu`). Every retrieval is
//! checked to return the whole study (the archive: every file of the ZIP
//! read back).

use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use bytes::Bytes;
use isengard_test_support::synth::{hospital, Shape};

use crate::dcmtk;
use crate::ingest::{mib, MEMORY};
use crate::plan::Plan;
use crate::report::{at_least, Report, Spec};
use crate::rest;
use crate::servers::{Env, Kind, Server};

pub const SECTION: &str = "Retrieval of one study";

struct Loaded {
    server: Server,
    study_id: String,
    study_uid: String,
    instance_ids: Vec<String>,
    /// Whether `GET /studies/{id}/archive` exists.
    has_archive: bool,
}

async fn load(
    kind: Kind,
    env: &Env,
    bodies: Arc<Vec<Bytes>>,
    clients: usize,
) -> anyhow::Result<Loaded> {
    let server = Server::start(kind, env).await?;
    rest::upload_all(&server, bodies.clone(), clients).await?;
    server.wait_instances(bodies.len() as u64).await?;
    let studies = server.get_json(0, "/studies").await?;
    let study_id = studies
        .get(0)
        .and_then(|s| s.as_str())
        .context("one study")?
        .to_owned();
    let study = server.get_json(0, &format!("/studies/{study_id}")).await?;
    let study_uid = study["MainDicomTags"]["StudyInstanceUID"]
        .as_str()
        .context("StudyInstanceUID")?
        .to_owned();
    let instances = server.get_json(0, "/instances").await?;
    let instance_ids: Vec<String> = instances
        .as_array()
        .context("/instances")?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let probe = server
        .http
        .get(server.url(0, &format!("/studies/{study_id}/archive")))
        .send()
        .await?;
    let has_archive = match probe.status().as_u16() {
        200 => true,
        404 => false,
        other => bail!(
            "{}: GET /studies/{{id}}/archive answered HTTP {other}",
            kind.label()
        ),
    };
    drop(probe);
    Ok(Loaded {
        server,
        study_id,
        study_uid,
        instance_ids,
        has_archive,
    })
}

/// The number of files in a ZIP archive (each read to its end, so that a
/// damaged archive fails here).
fn zip_files(zip: Bytes) -> anyhow::Result<usize> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip))?;
    for i in 0..archive.len() {
        let mut file = archive.by_index(i)?;
        std::io::copy(&mut file, &mut std::io::sink())?;
    }
    Ok(archive.len())
}

pub async fn run(plan: &Plan, env: &Env, report: &mut Report) -> anyhow::Result<()> {
    let n = plan.retrieve_instances;
    let shape = Shape {
        patients: 1,
        studies_per_patient: 1,
        series_per_study: 2,
        instances_per_series: n.div_ceil(2),
        rows: plan.image_size,
        columns: plan.image_size,
        seed: 7,
    };
    let bodies: Vec<Bytes> = hospital(shape)
        .into_iter()
        .take(n as usize)
        .map(|s| Bytes::from(s.to_bytes()))
        .collect();
    let bodies = Arc::new(bodies);
    eprintln!("bench: loading the {n}-instance study into both servers");
    let mut loaded = Vec::new();
    for kind in [Kind::Isengard, Kind::Orthanc] {
        loaded.push(load(kind, env, bodies.clone(), plan.clients).await?);
    }
    let getscu_dir = env.work.join("getscu");
    // Passes over the study per sample of the file workloads: about 1,000
    // requests, so that a sample lasts long enough (a few hundred ms) not to
    // be decided by one scheduling hiccup.
    let passes = (1000 / n.max(1)).max(1) as usize;
    let study_bytes: u64 = bodies.iter().map(|b| b.len() as u64).sum();
    let spec = |name: &str| {
        Spec::new(SECTION, format!("{name} ({n} instances)"), "instances/s").target(at_least(1.0))
    };
    for round in 0..plan.rounds {
        let order: Vec<&Loaded> = if plan.isengard_first(round) {
            vec![&loaded[0], &loaded[1]]
        } else {
            vec![&loaded[1], &loaded[0]]
        };
        for l in order {
            let kind = l.server.kind;
            eprintln!(
                "bench: round {}/{}: retrieval from {}",
                round + 1,
                plan.rounds,
                kind.label()
            );
            let urls: Vec<String> = (0..passes)
                .flat_map(|_| {
                    l.instance_ids
                        .iter()
                        .map(|id| l.server.url(0, &format!("/instances/{id}/file")))
                })
                .collect();
            let urls = Arc::new(urls);
            for clients in [1, plan.clients] {
                let (bytes, elapsed) = rest::download_all(urls.clone(), clients).await?;
                if bytes != study_bytes * passes as u64 {
                    bail!(
                        "{} served {bytes} bytes for {passes} passes over a study of {study_bytes}",
                        kind.label()
                    );
                }
                let name = format!(
                    "GET /instances/{{id}}/file, {clients} client{}",
                    if clients > 1 { "s" } else { "" }
                );
                let mut spec = spec(&name);
                if passes > 1 {
                    spec.note = format!(
                        "each sample: the study {passes} times ({} requests)",
                        urls.len()
                    );
                }
                report.add(spec, kind, [urls.len() as f64 / elapsed.as_secs_f64()]);
            }
            let archive = spec("GET /studies/{id}/archive (ZIP)");
            if l.has_archive {
                let start = Instant::now();
                let zip = rest::get_body(
                    &l.server.http,
                    &l.server.url(0, &format!("/studies/{}/archive", l.study_id)),
                )
                .await?;
                let elapsed = start.elapsed();
                let files =
                    zip_files(zip).with_context(|| format!("the archive of {}", kind.label()))?;
                if files != n as usize {
                    bail!(
                        "the archive from {} holds {files} of {n} instances",
                        kind.label()
                    );
                }
                report.add(archive, kind, [n as f64 / elapsed.as_secs_f64()]);
            } else {
                report.missing(archive, kind, "route not implemented");
            }
            let node = &l.server.nodes[0];
            let start = Instant::now();
            let moved = dcmtk::movescu(env, node, &l.study_uid).await?;
            let elapsed = start.elapsed();
            if moved != n as usize {
                bail!(
                    "C-MOVE from {} delivered {moved} of {n} instances",
                    kind.label()
                );
            }
            report.add(
                spec("C-MOVE to a storescp (movescu)"),
                kind,
                [n as f64 / elapsed.as_secs_f64()],
            );
            let start = Instant::now();
            let got = dcmtk::getscu(node, &l.study_uid, &getscu_dir).await?;
            let elapsed = start.elapsed();
            if got != n as usize {
                bail!(
                    "C-GET from {} delivered {got} of {n} instances",
                    kind.label()
                );
            }
            report.add(
                spec("C-GET (getscu)"),
                kind,
                [n as f64 / elapsed.as_secs_f64()],
            );
        }
    }
    for l in loaded {
        let rss = l.server.rss()?;
        report.add(
            Spec::new(
                MEMORY,
                "Peak during upload and retrieval of the study (VmHWM)",
                "MiB",
            ),
            l.server.kind,
            [mib(rss.peak_kib)],
        );
        l.server.remove();
    }
    Ok(())
}
