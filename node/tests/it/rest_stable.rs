//! Stable age: with `StableAge` = 1, a series, its study and its patient
//! become stable one second after their last instance, each announced once in
//! `/changes` (StableSeries, StableStudy, StablePatient) and shown with
//! `IsStable: true`; an upload into a series before that postpones it.

use crate::common;

use std::time::{Duration, Instant};

use common::{wait_until, TestNode};
use isengard::dicom::orthanc_ids;
use isengard_test_support::synth::Spec;
use serde_json::{json, Value};

async fn changes(node: &TestNode) -> Vec<Value> {
    let (_, c) = node.get("/changes?limit=10000").await;
    c["Changes"].as_array().unwrap().clone()
}

fn count(changes: &[Value], kind: &str, id: &str) -> usize {
    changes
        .iter()
        .filter(|c| c["ChangeType"] == kind && c["ID"] == id)
        .count()
}

fn seq_of(changes: &[Value], kind: &str, id: &str) -> u64 {
    changes
        .iter()
        .find(|c| c["ChangeType"] == kind && c["ID"] == id)
        .and_then(|c| c["Seq"].as_u64())
        .unwrap()
}

async fn stable_node() -> TestNode {
    TestNode::start_with(|c| c["StableAge"] = json!(1)).await
}

#[tokio::test]
async fn series_study_and_patient_become_stable_once() {
    let node = stable_node().await;
    let ids = orthanc_ids("P1", "1.2.3", "1.2.3.4", "1.2.3.4.5");
    node.upload(Spec::simple("P1", "1.2.3", "1.2.3.4", "1.2.3.4.5").to_bytes())
        .await;
    for (collection, id) in [
        ("series", &ids.series),
        ("studies", &ids.study),
        ("patients", &ids.patient),
    ] {
        assert_eq!(
            node.get(&format!("/{collection}/{id}")).await.1["IsStable"],
            false,
            "{collection} right after the upload"
        );
    }
    wait_until(Duration::from_secs(20), "the patient is stable", || async {
        count(&changes(&node).await, "StablePatient", &ids.patient) > 0
    })
    .await;
    let all = changes(&node).await;
    assert_eq!(count(&all, "StableSeries", &ids.series), 1);
    assert_eq!(count(&all, "StableStudy", &ids.study), 1);
    assert_eq!(count(&all, "StablePatient", &ids.patient), 1);
    assert!(seq_of(&all, "StableSeries", &ids.series) < seq_of(&all, "StableStudy", &ids.study));
    assert!(seq_of(&all, "StableStudy", &ids.study) < seq_of(&all, "StablePatient", &ids.patient));
    let stable = all
        .iter()
        .find(|c| c["ChangeType"] == "StableSeries")
        .unwrap();
    assert_eq!(stable["ResourceType"], "Series");
    assert_eq!(stable["Path"], format!("/series/{}", ids.series));
    for (collection, id) in [
        ("series", &ids.series),
        ("studies", &ids.study),
        ("patients", &ids.patient),
    ] {
        assert_eq!(
            node.get(&format!("/{collection}/{id}")).await.1["IsStable"],
            true,
            "{collection}"
        );
    }
    // Another patient becoming stable later does not announce the first again.
    let other = orthanc_ids("P2", "2.1", "2.1.1", "2.1.1.1");
    node.upload(Spec::simple("P2", "2.1", "2.1.1", "2.1.1.1").to_bytes())
        .await;
    wait_until(
        Duration::from_secs(20),
        "the second patient is stable",
        || async { count(&changes(&node).await, "StablePatient", &other.patient) > 0 },
    )
    .await;
    let all = changes(&node).await;
    for (kind, id) in [
        ("StableSeries", &ids.series),
        ("StableStudy", &ids.study),
        ("StablePatient", &ids.patient),
    ] {
        assert_eq!(count(&all, kind, id), 1, "{kind} still once");
    }
}

#[tokio::test]
async fn an_upload_before_stability_postpones_it() {
    let node = stable_node().await;
    let series = orthanc_ids("P1", "1.2.3", "1.2.3.4", "").series;
    // Uploads into one series every 200 ms for 2.4 s: far more than the
    // stable age in total, never as long between two uploads.
    let mut pace = tokio::time::interval(Duration::from_millis(200));
    let mut last_upload = Instant::now();
    for i in 1..=12u32 {
        pace.tick().await;
        let mut spec = Spec::simple("P1", "1.2.3", "1.2.3.4", &format!("1.2.3.4.{i}"));
        spec.instance_number = i;
        let gap = last_upload.elapsed();
        let all = changes(&node).await;
        // Only meaningful when the previous upload is well within the stable age.
        if i > 1 && gap < Duration::from_millis(800) {
            assert_eq!(
                count(&all, "StableSeries", &series),
                0,
                "stable before upload {i} ({gap:?} after the previous one)"
            );
        }
        node.upload(spec.to_bytes()).await;
        last_upload = Instant::now();
    }
    wait_until(Duration::from_secs(20), "the series is stable", || async {
        count(&changes(&node).await, "StableSeries", &series) > 0
    })
    .await;
    assert!(
        last_upload.elapsed() >= Duration::from_secs(1),
        "stable no sooner than StableAge after the last upload"
    );
    let all = changes(&node).await;
    assert_eq!(count(&all, "StableSeries", &series), 1);
    let last_instance = all
        .iter()
        .filter(|c| c["ChangeType"] == "NewInstance")
        .map(|c| c["Seq"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(
        seq_of(&all, "StableSeries", &series) > last_instance,
        "announced after the last upload"
    );
    let (_, s) = node.get(&format!("/series/{series}")).await;
    assert_eq!(s["IsStable"], true);
    assert_eq!(s["Instances"].as_array().unwrap().len(), 12);
}
