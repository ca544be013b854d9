//! A 3-node cluster forms from one `Members` list; instances posted to every
//! node are readable at once on the node that took them (read-your-writes)
//! and, shortly after, everywhere with the same change log and statistics.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use isengard_cluster_tests::check::assert_consistent;
use isengard_cluster_tests::ingest::SMALL;
use isengard_cluster_tests::TestCluster;
use isengard_test_support::synth::{dataset, Shape};

#[tokio::test]
async fn t10_ingest_through_every_node_read_from_every_node() {
    let started = Instant::now();
    let cluster = TestCluster::start(3).await;
    eprintln!("3-node cluster formed in {:?}", started.elapsed());
    let status = cluster.get_json(1, "/cluster").await.unwrap();
    assert_eq!(status["Members"].as_array().unwrap().len(), 3, "{status}");

    let specs = dataset(Shape { seed: 10, ..SMALL });
    let mut acknowledged = BTreeSet::new();
    let started = Instant::now();
    for (i, spec) in specs.iter().enumerate() {
        let node = 1 + (i as u64 % 3);
        let id = cluster.post_ok(node, spec.to_bytes()).await;
        // Read-your-writes on the node that took the write, leader or not.
        let r = cluster
            .client
            .get(format!("{}/instances/{id}", cluster.base(node)))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            200,
            "instance {id} not readable right after its POST on node {node}"
        );
        acknowledged.insert(id);
    }
    eprintln!(
        "{} instances through 3 nodes in {:?}",
        specs.len(),
        started.elapsed()
    );

    let instances = cluster.wait_consistent(Duration::from_secs(20)).await;
    assert_eq!(instances.into_iter().collect::<BTreeSet<_>>(), acknowledged);
    // Every node serves every file from the shared blob folder.
    for node in cluster.live() {
        for id in acknowledged.iter().take(4) {
            let r = cluster
                .client
                .get(format!("{}/instances/{id}/file", cluster.base(node)))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
    }
    let state = assert_consistent(&cluster, Duration::from_secs(20)).await;
    assert_eq!(state.instances, acknowledged);
}
