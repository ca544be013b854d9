//! Modalities are cluster-wide: defined with `PUT /modalities` on node 1, they
//! are what node 2's C-MOVE SCP checks (the calling AE may move) and where it
//! sends (the destination, a dcmtk `storescp` started by the test); deleted on
//! node 3, node 2 no longer knows them.

use std::time::{Duration, Instant};

use isengard_cluster_tests::check::assert_consistent;
use isengard_cluster_tests::dicom::{move_study, StoreScp};
use isengard_cluster_tests::{wait_until, TestCluster};
use isengard_test_support::synth::Spec;
use serde_json::json;

const STUDY: &str = "1.2.826.0.1.3680043.10.65";
const INSTANCES: usize = 5;

/// The files storescp wrote.
fn received(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().filter(|e| e.path().is_file()).count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t65_modalities_put_on_one_node_serve_c_move_on_another() {
    let cluster = TestCluster::start(3).await;
    let inbox = cluster.dir.path().join("storescp");
    std::fs::create_dir_all(&inbox).unwrap();
    let scp = StoreScp::start(&inbox, "T65DEST", Duration::from_secs(10)).await;
    for i in 0..INSTANCES {
        let spec = Spec::simple(
            "T65",
            STUDY,
            &format!("{STUDY}.1"),
            &format!("{STUDY}.1.{i}"),
        );
        cluster.post_ok(3, spec.to_bytes()).await;
    }
    let node2 = cluster.dicom(2);

    // Unknown to the cluster: node 2 refuses the move.
    let refused = move_study(node2, "ORTHANC", "T65MOVER", STUDY, "T65DEST").await;
    assert!(
        refused.is_err(),
        "a C-MOVE from an unknown AE went through: {refused:?}"
    );
    assert_eq!(received(&inbox), 0);

    // Defined on node 1...
    let put = |name: &str, body: serde_json::Value| {
        let request = cluster
            .client
            .put(format!("{}/modalities/{name}", cluster.base(1)))
            .json(&body);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(
        put(
            "dest",
            json!({"AET": "T65DEST", "Host": "127.0.0.1", "Port": scp.addr.port()})
        )
        .await,
        200
    );
    assert_eq!(
        put(
            "mover",
            json!({"AET": "T65MOVER", "Host": "127.0.0.1", "Port": 104, "AllowMove": true})
        )
        .await,
        200
    );
    // ...and, once replicated (node 1's answer does not wait for node 2), listed on node 2.
    let defined = Instant::now();
    wait_until(
        Duration::from_secs(10),
        "node 2 lists the modalities defined on node 1",
        || async {
            let listed = cluster.get_json(2, "/modalities").await.unwrap_or_default();
            listed
                .as_array()
                .is_some_and(|l| l.contains(&json!("dest")) && l.contains(&json!("mover")))
        },
    )
    .await;
    eprintln!(
        "modalities PUT on node 1 listed on node 2 after {:?}",
        defined.elapsed()
    );

    // ...used by node 2's C-MOVE SCP: the requester is allowed, the destination found.
    let started = Instant::now();
    let report = move_study(node2, "ORTHANC", "T65MOVER", STUDY, "T65DEST")
        .await
        .expect("C-MOVE on node 2");
    eprintln!(
        "C-MOVE of {INSTANCES} instances through node 2 in {:?}: {report:?}",
        started.elapsed()
    );
    assert_eq!(
        (report.completed as usize, report.failed, report.warning),
        (INSTANCES, 0, 0)
    );
    assert_eq!(
        received(&inbox),
        INSTANCES,
        "storescp did not receive every instance"
    );

    // Deleted on node 3: node 2 refuses the move again.
    let r = cluster
        .client
        .delete(format!("{}/modalities/dest", cluster.base(3)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    wait_until(
        Duration::from_secs(10),
        "node 2 forgets the deleted modality",
        || async {
            let listed = cluster.get_json(2, "/modalities").await.unwrap_or_default();
            listed
                .as_array()
                .is_some_and(|l| !l.contains(&json!("dest")))
        },
    )
    .await;
    let refused = move_study(node2, "ORTHANC", "T65MOVER", STUDY, "T65DEST").await;
    assert!(
        matches!(&refused, Err(e) if e.contains("A801")),
        "C-MOVE to a deleted destination: {refused:?}"
    );

    let state = assert_consistent(&cluster, Duration::from_secs(30)).await;
    assert_eq!(state.instances.len(), INSTANCES);
}
