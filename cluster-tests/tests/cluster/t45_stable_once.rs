//! A stable event fires exactly once across a leader change. With a small
//! `StableAge`, a study is ingested and the leader killed (1) before the study
//! is stable and (2) right after its first `StableSeries`, while the leader is
//! marking the rest; the new leader picks up the pending resources. Every
//! node's change log then has exactly one `StableSeries` per series, one
//! `StableStudy` and one `StablePatient`.

use std::time::{Duration, Instant};

use isengard::dicom::orthanc_ids;
use isengard_cluster_tests::check::{assert_consistent, node_state};
use isengard_cluster_tests::{ClusterOptions, TestCluster};
use isengard_test_support::synth::Spec;
use serde_json::{json, Value};

const STABLE_AGE: u64 = 3;

/// The Orthanc ids of one study: patient, study, its series.
struct Study {
    patient: String,
    study: String,
    series: Vec<String>,
}

/// Ingests a study of two series of three instances through `node`.
async fn ingest_study(cluster: &TestCluster, node: u64, tag: &str) -> Study {
    let (patient_id, study_uid) = (
        format!("T45-{tag}"),
        format!("1.2.826.0.1.3680043.10.45.{tag}"),
    );
    let mut series = Vec::new();
    for s in 0..2 {
        let series_uid = format!("{study_uid}.{s}");
        for i in 0..3 {
            let mut spec = Spec::simple(
                &patient_id,
                &study_uid,
                &series_uid,
                &format!("{series_uid}.{i}"),
            );
            spec.series_number = s + 1;
            spec.instance_number = i + 1;
            cluster.post_ok(node, spec.to_bytes()).await;
        }
        series.push(orthanc_ids(&patient_id, &study_uid, &series_uid, "").series);
    }
    let ids = orthanc_ids(&patient_id, &study_uid, "", "");
    Study {
        patient: ids.patient,
        study: ids.study,
        series,
    }
}

/// Node `id`'s change-log entries of `change_type` about `resource`.
async fn events(cluster: &TestCluster, id: u64, change_type: &str, resource: &str) -> usize {
    node_state(cluster, id)
        .await
        .map(|s| s.count_changes(change_type, resource))
        .unwrap_or(0)
}

/// Waits until every running node has the study's `StableStudy` and returns how long it took.
async fn wait_stable(cluster: &TestCluster, study: &Study, since: Instant) -> Duration {
    loop {
        let mut all = true;
        for id in cluster.live() {
            all &= events(cluster, id, "StableStudy", &study.study).await > 0;
        }
        if all {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < Duration::from_secs(60),
            "the study never became stable after the leader change"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn assert_once(changes: &[Value], study: &Study) {
    let count = |kind: &str, id: &str| {
        changes
            .iter()
            .filter(|c| c["ChangeType"] == kind && c["ID"] == id)
            .count()
    };
    for series in &study.series {
        assert_eq!(count("StableSeries", series), 1, "StableSeries of {series}");
    }
    assert_eq!(
        count("StableStudy", &study.study),
        1,
        "StableStudy of {}",
        study.study
    );
    assert_eq!(
        count("StablePatient", &study.patient),
        1,
        "StablePatient of {}",
        study.patient
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t45_a_stable_event_fires_once_across_a_leader_change() {
    let options = ClusterOptions {
        config: json!({ "StableAge": STABLE_AGE }),
        ..Default::default()
    };
    let mut cluster = TestCluster::start_with(3, options).await;

    // (1) The leader dies before the study is stable.
    let leader = cluster.wait_for_leader(Duration::from_secs(30)).await;
    let follower = cluster.ids().into_iter().find(|id| *id != leader).unwrap();
    let ingest = Instant::now();
    let before = ingest_study(&cluster, follower, "1").await;
    let ingested = ingest.elapsed();
    assert_eq!(
        events(&cluster, leader, "StableSeries", &before.series[0]).await,
        0,
        "stable already: ingest too slow"
    );
    cluster.kill9(leader);
    eprintln!(
        "kill 1: study ingested in {ingested:?}, leader {leader} killed before it was stable"
    );
    let waited = wait_stable(&cluster, &before, ingest).await;
    eprintln!("kill 1: the new leader marked the study stable {waited:?} after its ingest (StableAge {STABLE_AGE} s)");
    cluster.start_node(leader);

    // (2) The leader dies right after its first stable event of the study.
    let leader = cluster.wait_for_leader(Duration::from_secs(30)).await;
    let follower = cluster.ids().into_iter().find(|id| *id != leader).unwrap();
    let ingest = Instant::now();
    let around = ingest_study(&cluster, follower, "2").await;
    loop {
        if events(&cluster, leader, "StableSeries", &around.series[0]).await > 0 {
            break;
        }
        assert!(
            ingest.elapsed() < Duration::from_secs(60),
            "the leader never marked the series stable"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let study_done = events(&cluster, leader, "StableStudy", &around.study).await > 0;
    cluster.kill9(leader);
    eprintln!("kill 2: leader {leader} killed {:?} after ingest, at its first StableSeries (StableStudy already: {study_done})", ingest.elapsed());
    let waited = wait_stable(&cluster, &around, ingest).await;
    eprintln!("kill 2: the study was stable everywhere {waited:?} after its ingest");
    cluster.start_node(leader);

    let state = assert_consistent(&cluster, Duration::from_secs(60)).await;
    assert_once(&state.changes, &before);
    assert_once(&state.changes, &around);
    assert_eq!(state.instances.len(), 12);
}
