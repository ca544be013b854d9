//! The shared blob mode on a real S3-protocol server: three nodes store their
//! blobs in one bucket of an `s3s-fs` server started by the test. Instances
//! posted through every node are read from every node, byte for byte, and
//! each blob sits once in the bucket under its SHA-256.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use isengard_cluster_tests::ingest::{files, SMALL};
use isengard_cluster_tests::{
    blob_path, sha256_hex, BlobSetup, ClusterOptions, S3Server, TestCluster,
};
use isengard_test_support::synth::Shape;

#[tokio::test]
async fn t60_shared_s3_ingest_through_every_node_read_from_every_node() {
    let s3 = S3Server::start();
    let blob_dir = s3.blob_dir();
    let cluster = TestCluster::start_with(
        3,
        ClusterOptions {
            blobs: BlobSetup::SharedS3(s3),
            ..Default::default()
        },
    )
    .await;
    let files = files(Shape {
        studies_per_patient: 1,
        rows: 16,
        columns: 16,
        seed: 60,
        ..SMALL
    });
    let started = Instant::now();
    let ids = cluster.post_round_robin(&files).await;
    eprintln!(
        "{} instances through 3 nodes into S3 in {:?}",
        files.len(),
        started.elapsed()
    );
    // Instance id -> SHA-256 of the bytes posted.
    let posted: BTreeMap<String, String> = ids
        .into_iter()
        .zip(files.iter().map(|f| sha256_hex(f)))
        .collect();

    let instances = cluster.wait_consistent(Duration::from_secs(20)).await;
    assert_eq!(instances, posted.keys().cloned().collect::<Vec<_>>());
    for node in cluster.live() {
        for (id, hash) in &posted {
            let file = cluster
                .instance_file(node, id)
                .await
                .unwrap_or_else(|| panic!("node {node} cannot read {id}"));
            assert_eq!(
                &sha256_hex(&file),
                hash,
                "node {node} served other bytes for {id}"
            );
            let info = cluster
                .get_json(node, &format!("/instances/{id}/attachments/dicom/info"))
                .await
                .unwrap();
            assert_eq!(info["Uuid"], hash.as_str());
            assert!(
                info.get("IsengardHolders").is_none(),
                "holders are tracked only in the replicated mode"
            );
        }
    }
    // The bucket holds each blob once, under its name, intact.
    for hash in posted.values() {
        let stored = std::fs::read(blob_path(&blob_dir, hash))
            .unwrap_or_else(|_| panic!("blob {hash} not in the bucket"));
        assert_eq!(&sha256_hex(&stored), hash);
    }
}
