//! The replicated blob mode, 3 nodes and `Replicas: 2`: every blob is on
//! exactly two nodes' own disks, every node reads every file (fetching from a
//! holder when it has no copy), a node's death loses nothing, a lost or
//! damaged copy is restored, and a deleted instance's copies are collected
//! everywhere.

use std::collections::BTreeMap;
use std::time::Duration;

use isengard_cluster_tests::ingest::SMALL;
use isengard_cluster_tests::{
    blob_path, sha256_hex, wait_until, BlobSetup, ClusterOptions, TestCluster,
};
use isengard_test_support::synth::{dataset, Shape, Spec};

/// Posts `spec` on node `node`: (instance id, blob hash).
async fn post(cluster: &TestCluster, node: u64, spec: &Spec) -> (String, String) {
    let bytes = spec.to_bytes();
    let hash = sha256_hex(&bytes);
    (cluster.post_ok(node, bytes).await, hash)
}

/// Every running node reports the same two holders for each instance; each
/// holder's disk has the blob intact and no other node's disk has it.
async fn check_holders(cluster: &TestCluster, posted: &BTreeMap<String, String>) -> bool {
    for (id, hash) in posted {
        let mut seen = None;
        for node in cluster.live() {
            let Some((uuid, holders)) = cluster.holders(node, id).await else {
                return false;
            };
            assert_eq!(&uuid, hash);
            if seen.get_or_insert_with(|| holders.clone()) != &holders {
                return false;
            }
        }
        let holders = seen.unwrap();
        if holders.len() != 2 {
            return false;
        }
        for node in 1..=3 {
            let on_disk = cluster.node_blob(node, hash);
            match (holders.contains(&node), on_disk) {
                (true, Some(bytes)) => {
                    assert_eq!(&sha256_hex(&bytes), hash, "node {node}'s copy is damaged")
                }
                (true, None) => return false,
                (false, Some(_)) => panic!("node {node} has a copy of {hash} but is not a holder"),
                (false, None) => {}
            }
        }
    }
    true
}

async fn every_node_reads_everything(cluster: &TestCluster, posted: &BTreeMap<String, String>) {
    for node in cluster.live() {
        for (id, hash) in posted {
            let file = cluster
                .instance_file(node, id)
                .await
                .unwrap_or_else(|| panic!("node {node} cannot read {id}"));
            assert_eq!(
                &sha256_hex(&file),
                hash,
                "node {node} served other bytes for {id}"
            );
        }
    }
}

#[tokio::test]
async fn t62_replicated_two_copies_survive_death_loss_and_deletion() {
    let mut cluster = TestCluster::start_with(
        3,
        ClusterOptions {
            blobs: BlobSetup::Replicated {
                replicas: 2,
                repair_interval_s: 1,
            },
            ..Default::default()
        },
    )
    .await;
    let specs = dataset(Shape {
        studies_per_patient: 1,
        rows: 16,
        columns: 16,
        seed: 62,
        ..SMALL
    });
    let mut posted = BTreeMap::new();
    let started = std::time::Instant::now();
    for (i, spec) in specs[..9].iter().enumerate() {
        let (id, hash) = post(&cluster, 1 + (i as u64 % 3), spec).await;
        posted.insert(id, hash);
    }
    eprintln!(
        "9 instances with two copies each through 3 nodes in {:?}",
        started.elapsed()
    );
    cluster.wait_consistent(Duration::from_secs(20)).await;
    assert!(
        check_holders(&cluster, &posted).await,
        "every blob has exactly two holders right after ingest"
    );
    every_node_reads_everything(&cluster, &posted).await;

    // Kill a follower: everything stays readable, and with two of three
    // nodes up, two copies can still be made.
    let leader = cluster.wait_for_leader(Duration::from_secs(10)).await;
    let victim = (1..=3).find(|n| *n != leader).unwrap();
    cluster.kill9(victim);
    every_node_reads_everything(&cluster, &posted).await;
    let survivor = cluster.live()[0];
    let (id, hash) = post(&cluster, survivor, &specs[9]).await;
    posted.insert(id, hash);
    cluster.start_node(victim);
    cluster.wait_consistent(Duration::from_secs(30)).await;
    assert!(check_holders(&cluster, &posted).await);

    // A copy lost from a holder's disk: scrub and repair restore two copies.
    let (lost_id, lost_hash) = posted
        .iter()
        .next()
        .map(|(i, h)| (i.clone(), h.clone()))
        .unwrap();
    let (_, holders) = cluster.holders(1, &lost_id).await.unwrap();
    std::fs::remove_file(blob_path(&cluster.node_blob_dir(holders[0]), &lost_hash)).unwrap();
    let lost_at = std::time::Instant::now();
    wait_until(
        Duration::from_secs(30),
        "the lost copy is repaired",
        || async {
            let Some((_, now)) = cluster.holders(1, &lost_id).await else {
                return false;
            };
            now.len() == 2
                && now.iter().all(|n| {
                    cluster
                        .node_blob(*n, &lost_hash)
                        .is_some_and(|b| sha256_hex(&b) == lost_hash)
                })
        },
    )
    .await;
    eprintln!(
        "a lost copy repaired in {:?} (RepairInterval 1 s)",
        lost_at.elapsed()
    );
    wait_until(
        Duration::from_secs(10),
        "every node agrees on the repaired holders",
        || check_holders(&cluster, &posted),
    )
    .await;

    // A damaged copy is detected by a read on its holder, which serves the
    // right bytes from the other holder and restores its own copy.
    let (bad_id, bad_hash) = posted
        .iter()
        .nth(1)
        .map(|(i, h)| (i.clone(), h.clone()))
        .unwrap();
    let (_, holders) = cluster.holders(1, &bad_id).await.unwrap();
    let path = blob_path(&cluster.node_blob_dir(holders[0]), &bad_hash);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let file = cluster
        .instance_file(holders[0], &bad_id)
        .await
        .expect("read through the damage");
    assert_eq!(sha256_hex(&file), bad_hash);
    assert_eq!(
        sha256_hex(&std::fs::read(&path).unwrap()),
        bad_hash,
        "the damaged copy was restored"
    );

    // Deleting an instance collects every copy of its blob.
    let (gone_id, gone_hash) = posted
        .iter()
        .nth(2)
        .map(|(i, h)| (i.clone(), h.clone()))
        .unwrap();
    let r = cluster
        .client
        .delete(format!("{}/instances/{gone_id}", cluster.base(victim)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    posted.remove(&gone_id);
    wait_until(
        Duration::from_secs(40),
        "every copy of the deleted blob is collected",
        || async { (1..=3).all(|n| cluster.node_blob(n, &gone_hash).is_none()) },
    )
    .await;
    cluster.wait_consistent(Duration::from_secs(20)).await;
    assert!(check_holders(&cluster, &posted).await);
    every_node_reads_everything(&cluster, &posted).await;
}
