//! Restart the whole cluster (kill -9 every node, start them again): all the
//! data is there, with the same change log. Then the lowest id loses its data
//! directory: it must not initialize a second cluster but be refilled by the
//! leader. Last, a backup (a stopped node's data directory) restored on that
//! node while the others start empty brings the whole cluster back.

use std::time::Duration;

use isengard_cluster_tests::ingest::{files, SMALL};
use isengard_cluster_tests::TestCluster;
use isengard_test_support::synth::Shape;

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test]
async fn t55_restart_the_whole_cluster_lose_a_data_dir_restore_a_backup() {
    let mut cluster = TestCluster::start(3).await;
    let files = files(Shape { seed: 55, ..SMALL });
    cluster.post_round_robin(&files).await;
    let instances = cluster.check_consistent(Duration::from_secs(20)).await;
    assert_eq!(instances.len(), files.len());
    let before = cluster.snapshot(1).await.unwrap();

    // 1. Everything down at once, everything up again.
    for id in 1..=3 {
        cluster.kill9(id);
    }
    for id in 1..=3 {
        cluster.start_node(id);
    }
    cluster.wait_for_leader(Duration::from_secs(30)).await;
    cluster.check_consistent(Duration::from_secs(30)).await;
    assert_eq!(
        cluster.snapshot(2).await.unwrap(),
        before,
        "the restarted cluster differs"
    );

    // 2. Node 1 (the lowest id, the one that initializes) loses its data.
    cluster.kill9(1);
    std::fs::remove_dir_all(cluster.data_dir(1)).unwrap();
    cluster.start_node(1);
    cluster.check_consistent(Duration::from_secs(30)).await;
    assert_eq!(
        cluster.snapshot(1).await.unwrap(),
        before,
        "node 1 was not refilled"
    );
    assert!(
        cluster.log_text(1).contains("a cluster already exists"),
        "node 1 did not ask the other members first"
    );
    let log = cluster.log_text(1);
    assert_eq!(
        log.matches("bootstrap: initializing the cluster").count(),
        1,
        "node 1 initialized twice:\n{log}"
    );

    // 3. A backup: node 2's data directory, copied while node 2 is stopped.
    let backup = cluster.dir.path().join("backup");
    cluster.stop_node(2).await;
    copy_dir(&cluster.data_dir(2), &backup);
    cluster.start_node(2);
    // Disaster: every data directory is lost. Restore the backup on the node
    // it was taken from, start nodes 1 (the lowest id) and 3 empty.
    for id in 1..=3 {
        cluster.kill9(id);
        std::fs::remove_dir_all(cluster.data_dir(id)).unwrap();
    }
    copy_dir(&backup, &cluster.data_dir(2));
    for id in 1..=3 {
        cluster.start_node(id);
    }
    cluster.wait_for_leader(Duration::from_secs(30)).await;
    cluster.check_consistent(Duration::from_secs(30)).await;
    assert_eq!(
        cluster.snapshot(1).await.unwrap(),
        before,
        "the restored cluster differs"
    );
    let extra =
        isengard_test_support::synth::Spec::simple("P55", "1.2.55", "1.2.55.1", "1.2.55.1.1")
            .to_bytes();
    cluster.post_ok(1, extra).await;
    let instances = cluster.check_consistent(Duration::from_secs(20)).await;
    assert_eq!(instances.len(), files.len() + 1);
}
