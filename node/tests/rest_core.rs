//! The REST core against a node started in-process: upload, resources and their
//! Orthanc shapes, relatives, statistics, the change log, deletion, errors.

mod common;

use common::TestNode;
use isengard::synth::Spec;
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
    assert_eq!(answer["Path"], json!(format!("/instances/{}", ids.instance)));
    assert_eq!(answer["Status"], "Success");
    assert_eq!(node.upload(bytes.clone()).await["Status"], "AlreadyStored");

    let (status, file) = node.get_bytes(&format!("/instances/{}/file", ids.instance)).await;
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
    let (_, patient) = node.get(&format!("/instances/{}/patient", ids.instance)).await;
    assert_eq!(patient["ID"], json!(ids.patient));
    let (_, instances) = node.get(&format!("/patients/{}/instances", ids.patient)).await;
    assert_eq!(instances[0]["ID"], json!(ids.instance));

    let (_, stats) = node.get("/statistics").await;
    assert_eq!(stats["CountInstances"], 1);
    assert_eq!(stats["CountPatients"], 1);
    assert_eq!(stats["TotalDiskSize"], json!(bytes.len().to_string()));

    let (_, changes) = node.get("/changes").await;
    let kinds: Vec<&str> = changes["Changes"].as_array().unwrap().iter().map(|c| c["ChangeType"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["NewInstance", "NewSeries", "NewStudy", "NewPatient"]);
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
