//! The REST core against a node started in-process: upload, resources and their
//! Orthanc shapes, relatives, statistics, the change log, deletion, errors.

use crate::common;

use common::TestNode;
use isengard_test_support::synth::Spec;
use serde_json::json;

#[tokio::test]
async fn upload_read_and_delete_one_instance() {
    let node = TestNode::start().await;
    let bytes = Spec::simple("P1", "1.2.3.1", "1.2.3.1.1", "1.2.3.1.1.1").to_bytes();
    let answer = node.upload(bytes.clone()).await;
    let ids = isengard::dicom::orthanc_ids("P1", "1.2.3.1", "1.2.3.1.1", "1.2.3.1.1.1");
    assert_eq!(answer["ID"], json!(ids.instance));
    assert_eq!(answer["ParentSeries"], json!(ids.series));
    assert_eq!(answer["ParentStudy"], json!(ids.study));
    assert_eq!(answer["ParentPatient"], json!(ids.patient));
    assert_eq!(
        answer["Path"],
        json!(format!("/instances/{}", ids.instance))
    );
    assert_eq!(answer["Status"], "Success");
    assert_eq!(node.upload(bytes.clone()).await["Status"], "AlreadyStored");

    let (status, file) = node
        .get_bytes(&format!("/instances/{}/file", ids.instance))
        .await;
    assert_eq!(status, 200);
    assert_eq!(file, bytes, "the stored file is the uploaded bytes");

    let (_, instance) = node.get(&format!("/instances/{}", ids.instance)).await;
    assert_eq!(instance["Type"], "Instance");
    assert_eq!(instance["IndexInSeries"], 1);
    assert_eq!(instance["FileSize"], bytes.len());
    assert_eq!(instance["MainDicomTags"]["SOPInstanceUID"], "1.2.3.1.1.1");
    let (_, study) = node.get(&format!("/studies/{}", ids.study)).await;
    assert_eq!(study["PatientMainDicomTags"]["PatientID"], "P1");
    assert_eq!(study["Series"], json!([ids.series]));
    assert_eq!(study["IsStable"], false);
    let (_, patient) = node
        .get(&format!("/instances/{}/patient", ids.instance))
        .await;
    assert_eq!(patient["ID"], json!(ids.patient));
    let (_, instances) = node
        .get(&format!("/patients/{}/instances", ids.patient))
        .await;
    assert_eq!(instances[0]["ID"], json!(ids.instance));

    let (_, stats) = node.get("/statistics").await;
    assert_eq!(stats["CountInstances"], 1);
    assert_eq!(stats["CountPatients"], 1);
    assert_eq!(stats["TotalDiskSize"], json!(bytes.len().to_string()));

    let (_, changes) = node.get("/changes").await;
    let kinds: Vec<&str> = changes["Changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["ChangeType"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["NewInstance", "NewSeries", "NewStudy", "NewPatient"]
    );
    assert_eq!(changes["Last"], 4);
    assert_eq!(changes["Done"], true);

    let (status, deleted) = node.delete(&format!("/studies/{}", ids.study)).await;
    assert_eq!(status, 200);
    assert_eq!(deleted["RemainingAncestor"], serde_json::Value::Null);
    let (status, error) = node.get(&format!("/instances/{}", ids.instance)).await;
    assert_eq!(status, 404);
    assert_eq!(error["OrthancStatus"], 17);
    assert_eq!(error["Method"], "GET");
    let (_, stats) = node.get("/statistics").await;
    assert_eq!(stats["CountInstances"], 0);
    assert_eq!(stats["TotalDiskSize"], "0");
}

#[tokio::test]
async fn bad_files_are_refused_and_nothing_is_indexed() {
    let node = TestNode::start().await;
    let (status, error) = node.post("/instances", b"garbage".to_vec()).await;
    assert_eq!(status, 400);
    assert_eq!(error["OrthancError"], "Bad file format");
    assert_eq!(error["Uri"], "/instances");
    let mut no_sop = Spec::simple("P1", "1.2.3", "1.2.3.4", "").to_bytes();
    // Corrupt the file instead of relying on an empty UID: truncate it.
    no_sop.truncate(no_sop.len() / 3);
    let (status, _) = node.post("/instances", no_sop).await;
    assert_eq!(status, 400);
    let (_, stats) = node.get("/statistics").await;
    assert_eq!(stats["CountInstances"], 0);
    let (_, changes) = node.get("/changes").await;
    assert_eq!(changes["Changes"], json!([]));
}

#[tokio::test]
async fn overwrite_instances_replaces_the_file() {
    let node = TestNode::start_with(|c| c["OverwriteInstances"] = json!(true)).await;
    let mut spec = Spec::simple("P1", "1.2.9", "1.2.9.1", "1.2.9.1.1");
    let first = spec.to_bytes();
    spec.study_description = "CT CHEST REREAD".into();
    let second = spec.to_bytes();
    assert_ne!(first, second);
    let id = node.upload(first.clone()).await["ID"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(node.upload(second.clone()).await["Status"], "Success");
    let (_, file) = node.get_bytes(&format!("/instances/{id}/file")).await;
    assert_eq!(file, second, "the newer file replaced the first one");
    let (_, stats) = node.get("/statistics").await;
    assert_eq!(stats["CountInstances"], 1);
    assert_eq!(stats["TotalDiskSize"], json!(second.len().to_string()));

    // Without OverwriteInstances the first file stays.
    let plain = TestNode::start().await;
    plain.upload(first.clone()).await;
    assert_eq!(plain.upload(second).await["Status"], "AlreadyStored");
    let (_, file) = plain.get_bytes(&format!("/instances/{id}/file")).await;
    assert_eq!(file, first);
}

#[tokio::test]
async fn a_restarted_node_has_everything() {
    let node = TestNode::start().await;
    let specs = isengard_test_support::synth::dataset(isengard_test_support::synth::Shape {
        patients: 2,
        studies_per_patient: 1,
        series_per_study: 2,
        instances_per_series: 3,
        rows: 8,
        columns: 8,
        seed: 3,
    });
    for s in &specs {
        node.upload(s.to_bytes()).await;
    }
    let (_, before_changes) = node.get("/changes?limit=1000").await;
    let (_, before_stats) = node.get("/statistics").await;
    let (_, before_patients) = node.get("/patients?expand").await;
    let dir = node.stop().await;

    let node = TestNode::start_in(dir, |_| {}).await;
    assert_eq!(node.get("/changes?limit=1000").await.1, before_changes);
    assert_eq!(node.get("/statistics").await.1, before_stats);
    assert_eq!(node.get("/patients?expand").await.1, before_patients);
    // New changes continue the sequence.
    node.upload(Spec::simple("P9", "1.9", "1.9.1", "1.9.1.1").to_bytes())
        .await;
    let (_, after) = node.get("/changes?limit=1000").await;
    assert_eq!(
        after["Changes"][before_changes["Changes"].as_array().unwrap().len()]["Seq"],
        before_changes["Last"].as_u64().unwrap() + 1
    );
}
