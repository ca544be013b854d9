//! `Replicas: 3` on three nodes with one down: an instance cannot get its
//! three copies, so it is refused (REST 503, C-STORE A700) rather than
//! acknowledged with fewer; with the node back, it is accepted.

use std::time::{Duration, Instant};

use isengard_cluster_tests::{BlobSetup, ClusterOptions, TestCluster};
use isengard_test_support::synth::Spec;

#[tokio::test]
async fn t64_too_few_reachable_nodes_refuse_the_instance() {
    let mut cluster = TestCluster::start_with(
        3,
        ClusterOptions {
            blobs: BlobSetup::Replicated {
                replicas: 3,
                repair_interval_s: 1,
            },
            ..Default::default()
        },
    )
    .await;
    let spec = |n: usize| Spec::simple("P", "1.2.3", "1.2.3.4", &format!("1.2.3.4.{n}"));
    let leader = cluster.wait_for_leader(Duration::from_secs(10)).await;
    let victim = (1..=3).find(|n| *n != leader).unwrap();
    cluster.post_ok(victim, spec(1).to_bytes()).await;

    cluster.kill9(victim);
    let started = Instant::now();
    let (status, body) = cluster.post(leader, spec(2).to_bytes()).await;
    eprintln!("refused in {:?}", started.elapsed());
    assert_eq!(status, 503);
    let details = body["Details"].as_str().unwrap_or_default();
    assert!(details.contains("only 2 of the 3 copies"), "{body}");
    let instances = cluster.get_json(leader, "/instances").await.unwrap();
    assert_eq!(
        instances.as_array().unwrap().len(),
        1,
        "nothing acknowledged, nothing indexed"
    );

    // C-STORE gets 0xA700 (out of resources) with the reason.
    let dicom_port = cluster.dicom(leader).port();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("i.dcm");
    std::fs::write(&file, spec(3).to_bytes()).unwrap();
    let out = std::process::Command::new("/usr/bin/storescu")
        .args([
            "-v",
            "-aec",
            "ORTHANC",
            "127.0.0.1",
            &dicom_port.to_string(),
        ])
        .arg(&file)
        .output()
        .expect("storescu (dcmtk) is installed");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let log = log.to_lowercase();
    assert!(
        log.contains("a700") || log.contains("refused: outofresources"),
        "storescu did not report 0xA700: {log}"
    );

    cluster.start_node(victim);
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "writes did not resume with the node back"
        );
        let (status, body) = cluster.post(leader, spec(2).to_bytes()).await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let id = cluster
        .get_json(leader, "/instances")
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .len();
    assert_eq!(id, 2);
}
