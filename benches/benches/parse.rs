//! Micro-benchmark of the first step of every ingest: parsing a DICOM file
//! (`isengard::dicom::parse`: main tags of the four levels, Orthanc IDs,
//! transfer syntax) and hashing it as the blob store does (SHA-256, MD5).
//! `cargo bench -p isengard-benches --bench parse`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use isengard_test_support::synth::{hospital, Shape};

fn file(size: u16) -> Vec<u8> {
    let shape = Shape {
        patients: 1,
        studies_per_patient: 1,
        series_per_study: 1,
        instances_per_series: 1,
        rows: size,
        columns: size,
        seed: 1,
    };
    hospital(shape).remove(0).to_bytes()
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("dicom");
    for size in [8_u16, 512] {
        let bytes = file(size);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("parse", format!("{size}x{size}")),
            &bytes,
            |b, bytes| b.iter(|| isengard::dicom::parse(bytes).expect("a valid file")),
        );
        group.bench_with_input(
            BenchmarkId::new("sha256", format!("{size}x{size}")),
            &bytes,
            |b, bytes| b.iter(|| isengard::blob::content_hash(bytes)),
        );
    }
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
