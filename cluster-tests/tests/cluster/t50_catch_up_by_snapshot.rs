//! A node down for long: while it is away the leader snapshots and purges its
//! log past what the node has (small `SnapshotLogs` / `SnapshotKeepLogs`), so
//! after its restart the node can only catch up by installing a snapshot; it
//! then has everything and takes writes.

use std::time::{Duration, Instant};

use isengard_cluster_tests::ingest::{files, SMALL};
use isengard_cluster_tests::{wait_until, ClusterOptions, TestCluster};
use isengard_test_support::synth::Shape;
use serde_json::json;

#[tokio::test]
async fn t50_a_node_down_for_long_catches_up_by_snapshot() {
    let mut cluster = TestCluster::start_with(3, ClusterOptions { config: json!({ "Isengard": { "Cluster": { "SnapshotLogs": 20, "SnapshotKeepLogs": 5 } } }), ..Default::default() }).await;
    let files = files(Shape {
        instances_per_series: 10,
        seed: 50,
        ..SMALL
    });
    cluster.post_round_robin(&files[..10]).await;

    let leader = cluster.wait_for_leader(Duration::from_secs(10)).await;
    let away = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    cluster.check_consistent(Duration::from_secs(20)).await;
    let had = cluster.cluster_status(away).await["LastLogIndex"]
        .as_u64()
        .unwrap();
    cluster.kill9(away);
    // Acknowledged by the two of three left.
    cluster.post_round_robin(&files[10..]).await;
    let leader = cluster.wait_for_leader(Duration::from_secs(10)).await;
    wait_until(
        Duration::from_secs(30),
        "the leader purged its log past what the absent node has",
        || async {
            cluster.cluster_status(leader).await["LastPurged"]
                .as_u64()
                .is_some_and(|p| p > had)
        },
    )
    .await;
    let purged = cluster.cluster_status(leader).await["LastPurged"]
        .as_u64()
        .unwrap();
    eprintln!("node {away} had log index {had}; leader {leader} purged up to {purged}");

    let restarted = Instant::now();
    cluster.start_node(away);
    let instances = cluster.check_consistent(Duration::from_secs(60)).await;
    eprintln!("node {away} caught up in {:?}", restarted.elapsed());
    assert_eq!(instances.len(), files.len());
    // The entries after `had` no longer exist as log anywhere: only a snapshot
    // can have brought them, and the node reports one past them.
    let status = cluster.cluster_status(away).await;
    let snapshot = status["LastSnapshot"]
        .as_u64()
        .expect("the node has a snapshot");
    assert!(
        snapshot > had,
        "snapshot {snapshot} not past {had}: {status}"
    );

    // It takes writes again (forwarded if it does not lead).
    let extra =
        isengard_test_support::synth::Spec::simple("P50", "1.2.50", "1.2.50.1", "1.2.50.1.1")
            .to_bytes();
    cluster.post_ok(away, extra).await;
    let instances = cluster.check_consistent(Duration::from_secs(20)).await;
    assert_eq!(instances.len(), files.len() + 1);
}
