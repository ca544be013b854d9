//! Without a quorum a node refuses writes quickly (REST 503 with Orthanc-style
//! JSON, C-STORE 0xA700 with an error comment) instead of hanging; once a
//! majority is back, writes go through again.

use std::time::{Duration, Instant};

use isengard_cluster_tests::check::assert_consistent;
use isengard_cluster_tests::dicom::{StoreError, StoreScu};
use isengard_cluster_tests::TestCluster;
use isengard_test_support::synth::Spec;

#[tokio::test]
async fn t30_no_quorum_fails_fast_then_recovers() {
    let mut cluster = TestCluster::start(3).await;
    let spec = |n: usize| Spec::simple("P", "1.2.3", "1.2.3.4", &format!("1.2.3.4.{n}"));
    cluster.post_ok(2, spec(1).to_bytes()).await;

    // Keep node 3 only: one of three is no majority.
    cluster.kill9(1);
    cluster.kill9(2);
    let started = Instant::now();
    let (status, body) = cluster.post(3, spec(2).to_bytes()).await;
    let took = started.elapsed();
    eprintln!("write without quorum refused in {took:?}");
    assert_eq!(status, 503);
    assert_eq!(body["OrthancStatus"], 36, "{body}");
    assert!(took < Duration::from_secs(8), "refusing took {took:?}");

    // The same over DICOM: C-STORE answers 0xA700 with the cause as comment.
    let started = Instant::now();
    let mut scu = StoreScu::connect(
        cluster.dicom(3),
        "T30SCU",
        "ORTHANC",
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let outcome = scu.store(&spec(3).to_bytes()).await;
    let took = started.elapsed();
    scu.release().await;
    eprintln!("C-STORE without quorum refused in {took:?}: {outcome:?}");
    match outcome {
        Err(StoreError::Status {
            status: 0xA700,
            comment: Some(c),
        }) => assert!(c.contains("no quorum"), "{c}"),
        other => panic!("C-STORE without quorum: {other:?}"),
    }
    assert!(took < Duration::from_secs(8), "refusing took {took:?}");

    // A majority again: writes are accepted (retried until a leader exists).
    cluster.start_node(2);
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "writes did not resume with a majority back"
        );
        let (status, body) = cluster.post(3, spec(2).to_bytes()).await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "{body}");
    }
    eprintln!(
        "writes resumed {:?} after the restart of node 2",
        started.elapsed()
    );
    let state = assert_consistent(&cluster, Duration::from_secs(20)).await;
    assert_eq!(state.instances.len(), 2);
}
