//! kill -9 the leader of a 3-node cluster: writes resume through the other
//! nodes within seconds, nothing acknowledged is lost, and the killed node
//! catches up after a restart.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use isengard_cluster_tests::check::assert_consistent;
use isengard_cluster_tests::ingest::{files, SMALL};
use isengard_cluster_tests::{wait_until, TestCluster};
use isengard_test_support::synth::Shape;
use serde_json::Value;

#[tokio::test]
async fn t20_kill_9_the_leader_writes_resume_and_it_catches_up() {
    let mut cluster = TestCluster::start(3).await;
    let files = files(Shape {
        instances_per_series: 4,
        seed: 20,
        ..SMALL
    });
    let mut acknowledged: BTreeSet<String> = cluster
        .post_round_robin(&files[..12])
        .await
        .into_iter()
        .collect();

    let leader = cluster.wait_for_leader(Duration::from_secs(10)).await;
    cluster.kill9(leader);
    let killed = Instant::now();
    let survivors = cluster.live();

    // Keep writing through a survivor until a write is acknowledged again.
    let mut next = 12;
    let resumed = loop {
        assert!(
            killed.elapsed() < Duration::from_secs(20),
            "writes did not resume after killing leader {leader}"
        );
        let node = survivors[next % survivors.len()];
        if let Some(id) = cluster.try_post(node, files[next].clone()).await {
            acknowledged.insert(id);
            next += 1;
            break killed.elapsed();
        }
    };
    eprintln!("writes resumed {resumed:?} after kill -9 of leader {leader}");
    assert!(
        resumed < Duration::from_secs(10),
        "writes resumed only after {resumed:?}"
    );
    let new_leader = cluster.wait_for_leader(Duration::from_secs(10)).await;
    assert_ne!(new_leader, leader);
    // The new leader reports the killed node unreachable and the other one up.
    let health = |status: &Value, id: u64| {
        status["Members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["Id"] == id)
            .unwrap()["Health"]
            .clone()
    };
    wait_until(
        Duration::from_secs(10),
        "GET /cluster shows the health of each member",
        || async {
            let Some(status) = cluster.get_json(new_leader, "/cluster").await else {
                return false;
            };
            status["Leader"] == new_leader
                && health(&status, leader) == "unreachable"
                && survivors.iter().all(|id| health(&status, *id) == "up")
        },
    )
    .await;

    acknowledged.extend(cluster.post_round_robin(&files[next..24]).await);
    let instances = cluster.wait_consistent(Duration::from_secs(20)).await;
    assert_eq!(
        instances.iter().cloned().collect::<BTreeSet<_>>(),
        acknowledged,
        "survivors lost or invented instances"
    );

    // The killed node restarts on its data, rejoins and catches up.
    let restarted = Instant::now();
    cluster.start_node(leader);
    let instances = cluster.wait_consistent(Duration::from_secs(30)).await;
    eprintln!(
        "node {leader} caught up {:?} after its restart",
        restarted.elapsed()
    );
    assert_eq!(instances.into_iter().collect::<BTreeSet<_>>(), acknowledged);
    for file in &files[24..] {
        acknowledged.insert(cluster.post_ok(leader, file.clone()).await);
    }
    let state = assert_consistent(&cluster, Duration::from_secs(20)).await;
    assert_eq!(state.instances, acknowledged);
}
