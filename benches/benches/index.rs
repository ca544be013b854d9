//! Micro-benchmarks of the index: applying `StoreInstance` (the state
//! machine's work per ingested instance: one RocksDB write batch), and
//! `find` over the secondary tag index on an archive of 10,000 instances
//! (`ISENGARD_BENCH_FIND_PATIENTS=5000` for 100,000: 20 instances a patient).
//! `cargo bench -p isengard-benches --bench index`.

use std::collections::BTreeMap;

use criterion::{criterion_group, criterion_main, Criterion};
use isengard::index::apply::{Applier, SmCounters};
use isengard::index::find::TagConstraint;
use isengard::index::normalize::Constraint;
use isengard::index::read::Reader;
use isengard::index::{store, Attachment, Command, Level, NewInstance, Stamp};
use isengard_test_support::synth::{hospital, Shape};

/// The commands `ingest` would propose for an archive of this shape.
fn commands(shape: Shape) -> Vec<Command> {
    hospital(shape)
        .into_iter()
        .map(|spec| {
            let bytes = spec.to_bytes();
            let parsed = isengard::dicom::parse(&bytes).expect("a valid file");
            let metadata = BTreeMap::from([
                ("Origin".to_owned(), "RestApi".to_owned()),
                ("TransferSyntax".to_owned(), parsed.transfer_syntax.clone()),
                ("SopClassUid".to_owned(), parsed.sop_class_uid.clone()),
            ]);
            let hash = isengard::blob::content_hash(&bytes);
            Command::StoreInstance {
                instance: Box::new(NewInstance {
                    patient_id: parsed.ids.patient.clone(),
                    study_id: parsed.ids.study.clone(),
                    series_id: parsed.ids.series.clone(),
                    instance_id: parsed.ids.instance.clone(),
                    patient_tags: parsed.patient_tags,
                    study_tags: parsed.study_tags,
                    series_tags: parsed.series_tags,
                    instance_tags: parsed.instance_tags,
                    metadata,
                    attachment: Attachment {
                        hash,
                        size: bytes.len() as u64,
                        uncompressed_size: bytes.len() as u64,
                        md5: String::new(),
                        ..Default::default()
                    },
                }),
                overwrite: false,
                holders: vec![],
                stamp: Stamp {
                    unix_ms: 1_700_000_000_000,
                    date: "20231114T221320".into(),
                },
            }
        })
        .collect()
}

fn shape(patients: u32) -> Shape {
    Shape {
        patients,
        studies_per_patient: 2,
        series_per_study: 2,
        instances_per_series: 5,
        rows: 8,
        columns: 8,
        seed: 3,
    }
}

fn apply_all(db: &rocksdb::DB, counters: &mut SmCounters, commands: &[Command]) {
    for command in commands {
        let mut applier = Applier::new(db, counters);
        applier.apply(command).expect("apply");
        let batch = std::mem::take(&mut applier.batch);
        db.write(batch).expect("write");
    }
}

fn apply(c: &mut Criterion) {
    let commands = commands(shape(500));
    c.bench_function(
        "index/apply StoreInstance (new instance, one write batch)",
        |b| {
            b.iter_custom(|iters| {
                let dir = tempfile::tempdir().expect("temp dir");
                let db = store::open(&dir.path().join("db")).expect("open");
                let mut counters = SmCounters::default();
                // Each iteration stores a new instance; past the data set, the
                // time of one pass is scaled to the iterations asked for.
                let n = (iters as usize).clamp(1, commands.len());
                let start = std::time::Instant::now();
                apply_all(&db, &mut counters, &commands[..n]);
                start.elapsed().mul_f64(iters as f64 / n as f64)
            })
        },
    );
}

fn find(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = store::open(&dir.path().join("db")).expect("open");
    let mut counters = SmCounters::default();
    let patients: u32 = std::env::var("ISENGARD_BENCH_FIND_PATIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    apply_all(&db, &mut counters, &commands(shape(patients)));
    let reader = Reader::new(&db);
    let query = |tag: &str, value: &str, level: Level| TagConstraint {
        level,
        tag: tag.into(),
        constraint: Constraint::parse(value, true),
        case_sensitive: false,
    };
    let mut group = c.benchmark_group(format!("index/find, {} instances", patients * 20));
    let cases = [
        (
            "study by PatientName wildcard",
            Level::Study,
            query("PatientName", "SMITH^J*", Level::Patient),
        ),
        (
            "study by StudyDate range",
            Level::Study,
            query("StudyDate", "20200101-20200131", Level::Study),
        ),
        (
            "study by AccessionNumber",
            Level::Study,
            query("AccessionNumber", "A00020001", Level::Study),
        ),
        (
            "series by Modality",
            Level::Series,
            query("Modality", "MR", Level::Series),
        ),
    ];
    for (name, level, q) in cases {
        group.bench_function(name, |b| {
            b.iter(|| reader.find(level, std::slice::from_ref(&q)).expect("find"))
        });
    }
    // Many answers: a year of MR studies (the bench's slowest study query).
    let mr_year = [
        query("StudyDate", "20220101-20221231", Level::Study),
        query("Modality", "MR", Level::Series),
    ];
    group.bench_function("study by Modality and a year of StudyDate", |b| {
        b.iter(|| reader.find(Level::Study, &mr_year).expect("find"))
    });
    group.finish();
}

criterion_group!(benches, apply, find);
criterion_main!(benches);
