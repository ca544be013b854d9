//! Find workloads on archives of small images (10,000 and 100,000 instances
//! at the full scale: 20 instances per patient, 2 studies of 2 series of 5).
//! Both servers are loaded the same way (`POST /instances`, 8 clients; the
//! load rate is reported too), grown from one size to the next, and then
//! answer the same queries at study and series level, by `/tools/find`
//! (`Expand: true`, as a viewer asks) and by C-FIND (Isengard's SCU, one
//! association per query, as a workstation does): PatientName wildcard,
//! StudyDate range, Modality (within a year), AccessionNumber. Latencies are
//! per request: median and p99. Every answer count is checked against the
//! data set.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use isengard::dicom::Tag;
use isengard::index::Level;
use isengard_dimse::scu;
use isengard_test_support::synth::{hospital, Shape, Spec as Instance};
use serde_json::{json, Value};

use crate::ingest::{mib, MEMORY};
use crate::plan::Plan;
use crate::report::{at_most, Report, Spec};
use crate::rest;
use crate::servers::{Env, Kind, Process, Server, SCU_AET};

const LOADING: &str = "Bulk load of the find archives (small images, REST, 8 clients)";

const PATIENT_NAME: Tag = Tag(0x0010, 0x0010);
const PATIENT_ID: Tag = Tag(0x0010, 0x0020);
const STUDY_DATE: Tag = Tag(0x0008, 0x0020);
const ACCESSION: Tag = Tag(0x0008, 0x0050);
const STUDY_DESCRIPTION: Tag = Tag(0x0008, 0x1030);
const STUDY_UID: Tag = Tag(0x0020, 0x000d);
const MODALITIES_IN_STUDY: Tag = Tag(0x0008, 0x0061);
const SERIES_UID: Tag = Tag(0x0020, 0x000e);
const MODALITY: Tag = Tag(0x0008, 0x0060);
const SERIES_NUMBER: Tag = Tag(0x0020, 0x0011);
const SERIES_DESCRIPTION: Tag = Tag(0x0008, 0x103e);

/// One query: its label, its constraints, and the answers it must get.
struct Query {
    label: String,
    level: Level,
    /// (main tag name, tag, value); `Modality` stands for `ModalitiesInStudy`
    /// at the study level.
    constraints: Vec<(&'static str, Tag, String)>,
    expected: usize,
}

impl Query {
    fn rest_body(&self) -> Value {
        let mut query = serde_json::Map::new();
        for (name, _, value) in &self.constraints {
            let name = if *name == "Modality" && self.level == Level::Study {
                "ModalitiesInStudy"
            } else {
                name
            };
            query.insert(name.to_owned(), json!(value));
        }
        let level = if self.level == Level::Study {
            "Study"
        } else {
            "Series"
        };
        json!({ "Level": level, "Expand": true, "Query": query })
    }

    fn cfind_keys(&self) -> Vec<(Tag, String)> {
        let returned: &[Tag] = if self.level == Level::Study {
            &[
                PATIENT_NAME,
                PATIENT_ID,
                STUDY_DATE,
                ACCESSION,
                STUDY_DESCRIPTION,
                STUDY_UID,
                MODALITIES_IN_STUDY,
            ]
        } else {
            &[
                STUDY_UID,
                SERIES_UID,
                MODALITY,
                SERIES_NUMBER,
                SERIES_DESCRIPTION,
            ]
        };
        let mut keys: Vec<(Tag, String)> = returned.iter().map(|t| (*t, String::new())).collect();
        for (name, tag, value) in &self.constraints {
            let tag = if *name == "Modality" && self.level == Level::Study {
                MODALITIES_IN_STUDY
            } else {
                *tag
            };
            match keys.iter_mut().find(|(t, _)| *t == tag) {
                Some(key) => key.1 = value.clone(),
                None => keys.push((tag, value.clone())),
            }
        }
        keys
    }
}

/// Matches the instances a query must find.
type Pred = Box<dyn Fn(&Instance) -> bool>;
/// A query's label, constraints and expected matches.
type Case = (String, Vec<(&'static str, Tag, String)>, Pred);

/// The queries of an archive made of `specs`, with their expected counts.
fn queries(specs: &[Instance]) -> Vec<Query> {
    let mid = &specs[specs.len() / 2..];
    let named = mid
        .iter()
        .chain(specs)
        .find(|s| s.patient_name.is_ascii())
        .unwrap_or(&specs[0]);
    let (last, first) = named
        .patient_name
        .split_once('^')
        .unwrap_or((&named.patient_name, ""));
    let pattern = format!("{last}^{}*", first.chars().next().unwrap_or('A'));
    let prefix = pattern.trim_end_matches('*').to_owned();
    let probe = &specs[specs.len() / 2];
    let month = &probe.study_date[..6];
    let year = &probe.study_date[..4];
    let month_range = format!("{month}01-{month}31");
    let year_range = format!("{year}0101-{year}1231");
    let accession = probe.accession.clone();
    let cases: Vec<Case> = vec![
        (
            format!("PatientName `{pattern}`"),
            vec![("PatientName", PATIENT_NAME, pattern.clone())],
            Box::new(move |s: &Instance| s.patient_name.starts_with(&prefix)),
        ),
        (
            format!("StudyDate `{month_range}`"),
            vec![("StudyDate", STUDY_DATE, month_range.clone())],
            {
                let month = month.to_owned();
                Box::new(move |s: &Instance| s.study_date.starts_with(&month))
            },
        ),
        (
            format!("Modality `MR`, StudyDate `{year_range}`"),
            vec![
                ("Modality", MODALITY, "MR".into()),
                ("StudyDate", STUDY_DATE, year_range.clone()),
            ],
            {
                let year = year.to_owned();
                Box::new(move |s: &Instance| s.modality == "MR" && s.study_date.starts_with(&year))
            },
        ),
        (
            format!("AccessionNumber `{accession}`"),
            vec![("AccessionNumber", ACCESSION, accession.clone())],
            {
                let accession = accession.clone();
                Box::new(move |s: &Instance| s.accession == accession)
            },
        ),
    ];
    let mut out = Vec::new();
    for level in [Level::Study, Level::Series] {
        for (label, constraints, pred) in &cases {
            let matching = specs.iter().filter(|s| pred(s));
            let expected = match level {
                Level::Study => matching
                    .map(|s| &s.study_uid)
                    .collect::<BTreeSet<_>>()
                    .len(),
                _ => matching
                    .map(|s| &s.series_uid)
                    .collect::<BTreeSet<_>>()
                    .len(),
            };
            let level_name = if level == Level::Study {
                "Study"
            } else {
                "Series"
            };
            out.push(Query {
                label: format!("{level_name}, {label}"),
                level,
                constraints: constraints.clone(),
                expected,
            });
        }
    }
    out
}

async fn cfind(node: &Process, query: &Query) -> anyhow::Result<usize> {
    let target = scu::Target {
        local_aet: SCU_AET.into(),
        remote_aet: node.aet.clone(),
        host: "127.0.0.1".into(),
        port: node.dicom_port,
        timeout: Duration::from_secs(60),
    };
    Ok(scu::find(&target, query.level, &query.cfind_keys())
        .await?
        .len())
}

pub async fn run(plan: &Plan, env: &Env, report: &mut Report) -> anyhow::Result<()> {
    let largest = *plan.index_sizes.last().expect("at least one size");
    let shape = Shape {
        patients: largest.div_ceil(20),
        studies_per_patient: 2,
        series_per_study: 2,
        instances_per_series: 5,
        rows: 8,
        columns: 8,
        seed: 11,
    };
    let specs: Arc<Vec<Instance>> = Arc::new(hospital(shape));
    let servers = [
        Server::start(Kind::Isengard, env).await?,
        Server::start(Kind::Orthanc, env).await?,
    ];
    let mut loaded = 0_usize;
    for &size in &plan.index_sizes {
        let size = size as usize;
        for server in &servers {
            eprintln!(
                "bench: loading {} instances into {}",
                size - loaded,
                server.kind.label()
            );
            let specs = specs.clone();
            let elapsed = rest::load(server, loaded..size, plan.clients, move |i| {
                specs[i].to_bytes()
            })
            .await?;
            server.wait_instances(size as u64).await?;
            let spec = Spec::new(
                LOADING,
                format!("Instances {loaded} to {size}"),
                "instances/s",
            );
            report.add(
                spec,
                server.kind,
                [(size - loaded) as f64 / elapsed.as_secs_f64()],
            );
        }
        loaded = size;
        tokio::time::sleep(Duration::from_secs(2)).await;
        for server in &servers {
            let rss = server.rss()?;
            let spec = Spec::new(MEMORY, format!("Idle, archive of {size} instances"), "MiB")
                .target(at_most(1.0));
            report.add(spec, server.kind, [mib(rss.current_kib)]);
        }
        run_queries(
            plan,
            &servers,
            &specs[..size],
            size as u32 == largest,
            report,
        )
        .await?;
    }
    for server in servers {
        let spec = Spec::new(MEMORY, "Peak during bulk load and find (VmHWM)", "MiB");
        report.add(spec, server.kind, [mib(server.rss()?.peak_kib)]);
        server.remove();
    }
    Ok(())
}

async fn run_queries(
    plan: &Plan,
    servers: &[Server; 2],
    specs: &[Instance],
    largest: bool,
    report: &mut Report,
) -> anyhow::Result<()> {
    let size = specs.len();
    let studies = specs
        .iter()
        .map(|s| &s.study_uid)
        .collect::<BTreeSet<_>>()
        .len();
    let section = format!("Find on an archive of {size} instances ({studies} studies)");
    let queries = queries(specs);
    for round in 0..plan.rounds {
        let order = if plan.isengard_first(round) {
            [&servers[0], &servers[1]]
        } else {
            [&servers[1], &servers[0]]
        };
        for server in order {
            eprintln!(
                "bench: round {}/{}: find on {size} instances, {}",
                round + 1,
                plan.rounds,
                server.kind.label()
            );
            for query in &queries {
                let body = query.rest_body();
                for protocol in ["REST /tools/find", "C-FIND"] {
                    let mut samples = Vec::with_capacity(plan.query_repeats);
                    let mut answers = 0;
                    for _ in 0..plan.query_repeats {
                        let start = Instant::now();
                        answers = match protocol {
                            "C-FIND" => cfind(&server.nodes[0], query).await?,
                            _ => rest::find(server, &body).await?,
                        };
                        samples.push(start.elapsed().as_secs_f64() * 1000.0);
                    }
                    let target = if largest && query.level == Level::Study {
                        at_most(0.1)
                    } else {
                        None
                    };
                    let name = format!("{}, {protocol} ({} answers)", query.label, query.expected);
                    let spec = Spec::new(section.as_str(), name.clone(), "ms")
                        .latency()
                        .target(target);
                    report.add(spec, server.kind, samples);
                    if answers != query.expected && round == 0 {
                        report.notes.push(format!(
                            "{}: {name} gave {answers} answers, {} expected from the data set",
                            server.kind.label(),
                            query.expected
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}
