//! Anonymization, bulk modification, split, merge and reconstruction, with
//! the reference Orthanc 1.10.1 as oracle (`orthanc_interop::Orthanc`):
//!
//! - `/instances/{id}/anonymize` with each profile and the options: the two
//!   anonymized files' `/tags` are equal once the values both sides made new
//!   (UIDs, PatientID, `AnonymizedN`) are masked, nested sequences included;
//! - `/studies/{id}/anonymize`: one new patient, study, series, the same
//!   references inside sequences mapped to the same new UIDs, `AnonymizedFrom`;
//! - `/tools/bulk-modify|bulk-anonymize`, `/studies/{id}/split|merge`: the
//!   same answer shapes and counts as Orthanc; refused requests alike;
//! - `/instances/{id}/reconstruct`: main tags re-read from the file.

use crate::common;
use crate::orthanc_interop::Orthanc;
use common::{pydicom_test_files, TestNode};

use std::time::Duration;

use serde_json::{json, Value};

fn test_file(name: &str) -> Vec<u8> {
    std::fs::read(pydicom_test_files().join("test_files").join(name)).unwrap()
}

fn tags_of(file: &[u8]) -> Value {
    let parsed = isengard::dicom::parse(file).expect("a DICOM file");
    isengard::dicom::json::full(&parsed.object)
}

/// Masks the values both sides changed (to different values) relative to
/// the original: the generated UIDs, PatientID and PatientName.
fn mask(ours: &mut Value, theirs: &mut Value, original: &Value) {
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, va) in a.iter_mut() {
                if let Some(vb) = b.get_mut(key) {
                    mask(va, vb, original.get(key).unwrap_or(&Value::Null));
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (va, vb)) in a.iter_mut().zip(b.iter_mut()).enumerate() {
                mask(va, vb, original.get(i).unwrap_or(&Value::Null));
            }
        }
        (Value::String(a), Value::String(b)) => {
            let generated = |s: &str| s.starts_with("Anonymized") || Some(s) != original.as_str();
            if a != b && generated(a) && generated(b) {
                *a = "new".into();
                *b = "new".into();
            }
        }
        _ => {}
    }
}

/// Group lengths follow the lengths of the new UIDs: only their presence counts.
fn without_group_lengths(tags: &mut Value) {
    for (key, value) in tags.as_object_mut().unwrap().iter_mut() {
        if key.ends_with(",0000") {
            value["Value"] = json!("group length");
        }
    }
}

async fn setup() -> (TestNode, Orthanc) {
    let node = TestNode::start().await;
    let orthanc = tokio::time::timeout(Duration::from_secs(40), Orthanc::start(node.dicom_port))
        .await
        .expect("Orthanc starts");
    (node, orthanc)
}

async fn ok(node: &TestNode, path: &str, body: impl Into<reqwest::Body>) -> Value {
    let (status, answer) = node.post(path, body).await;
    assert_eq!(status, 200, "Isengard POST {path}: {answer}");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymized_instances_match_the_reference_orthanc() {
    let (node, orthanc) = setup().await;
    let requests = [
        json!({}),
        json!({"DicomVersion": "2017c"}),
        json!({"DicomVersion": "2008"}),
        json!({"Keep": ["StudyDescription", "SeriesDescription"], "KeepPrivateTags": true}),
        json!({"Replace": {"PatientName": "hello", "0010-0020": "world"}, "Force": true,
               "Remove": ["Modality"]}),
        json!({"Replace": {"StudyInstanceUID": "1.2.3", "ReferencedImageSequence[*].ReferencedSOPInstanceUID": "1.2.4"},
               "Force": true}),
    ];
    let mut failures = Vec::new();
    for file in ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "rtstruct.dcm"] {
        let bytes = test_file(file);
        let ours = ok(&node, "/instances", bytes.clone()).await["ID"].clone();
        let theirs = orthanc.post("/instances", bytes.clone()).await["ID"].clone();
        assert_eq!(ours, theirs, "{file}: the same Orthanc ID");
        let id = ours.as_str().unwrap();
        let original = tags_of(&bytes);
        for request in &requests {
            let path = format!("/instances/{id}/anonymize");
            let (status, file_ours) = node_post_raw(&node, &path, request.to_string()).await;
            assert_eq!(status, 200, "{file} {request}");
            let (status, file_theirs) = orthanc.post_raw(&path, request.to_string()).await;
            assert_eq!(status, 200, "Orthanc: {file} {request}");
            let (mut a, mut b) = (tags_of(&file_ours), tags_of(&file_theirs));
            without_group_lengths(&mut a);
            without_group_lengths(&mut b);
            mask(&mut a, &mut b, &original);
            let mut out = Vec::new();
            common::json_diff("", &a, &b, 5, &mut out);
            if !out.is_empty() {
                failures.push(format!("{file} {request}: {}", out.join("; ")));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Refused alike.
    let id = isengard::dicom::parse(&test_file("CT_small.dcm"))
        .unwrap()
        .ids
        .instance;
    for request in [
        json!({"DicomVersion": "1999"}),
        json!({"DicomVersion": 3}),
        json!({"Replace": {"PatientID": "x"}}),
        json!({"Keep": ["Seq.PatientName"]}),
        json!({"KeepPrivateTags": "yes"}),
    ] {
        let path = format!("/instances/{id}/anonymize");
        let (s1, b1) = node_post_raw(&node, &path, request.to_string()).await;
        let (s2, b2) = orthanc.post_raw(&path, request.to_string()).await;
        assert_eq!(s1, s2, "{request}");
        let (e1, e2): (Value, Value) = (
            serde_json::from_slice(&b1).unwrap(),
            serde_json::from_slice(&b2).unwrap(),
        );
        assert_eq!(
            e1["OrthancStatus"], e2["OrthancStatus"],
            "{request}: {e1} {e2}"
        );
    }
}

async fn node_post_raw(node: &TestNode, path: &str, body: String) -> (u16, Vec<u8>) {
    let r = node
        .client
        .post(node.url(path))
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_bulk_split_merge_answer_as_the_reference_orthanc() {
    let (node, orthanc) = setup().await;
    let mut ids = Vec::new();
    for file in ["CT_small.dcm", "MR_small.dcm"] {
        let bytes = test_file(file);
        ids.push(ok(&node, "/instances", bytes.clone()).await);
        orthanc.post("/instances", bytes).await;
    }
    let ct_study = ids[0]["ParentStudy"].as_str().unwrap().to_owned();
    let mr_study = ids[1]["ParentStudy"].as_str().unwrap().to_owned();
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };

    // A study anonymized: a new patient named AnonymizedN, AnonymizedFrom on each level.
    let path = format!("/studies/{ct_study}/anonymize");
    let ours = ok(&node, &path, "{}").await;
    let theirs = orthanc.post(&path, "{}").await;
    assert_eq!(keys(&ours), keys(&theirs));
    assert_eq!(ours["IsAnonymization"], json!(true));
    assert_eq!(ours["InstancesCount"], theirs["InstancesCount"]);
    let (_, study) = node.get(ours["Path"].as_str().unwrap()).await;
    assert_eq!(study["AnonymizedFrom"], json!(ct_study));
    let (_, patient) = node
        .get(&format!(
            "/patients/{}",
            ours["PatientID"].as_str().unwrap()
        ))
        .await;
    assert!(patient["MainDicomTags"]["PatientName"]
        .as_str()
        .unwrap()
        .starts_with("Anonymized"));
    assert_eq!(patient["MainDicomTags"]["PatientBirthDate"], json!(""));

    // Bulk: the same listing shape, four levels.
    let body = json!({"Resources": [mr_study]}).to_string();
    for tool in ["/tools/bulk-modify", "/tools/bulk-anonymize"] {
        let ours = ok(&node, tool, body.clone()).await;
        let theirs = orthanc.post(tool, body.clone()).await;
        assert_eq!(keys(&ours), keys(&theirs), "{tool}");
        let types = |v: &Value| -> Vec<String> {
            v["Resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["Type"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(types(&ours), types(&theirs), "{tool}");
    }

    // Split and merge, synchronously, keeping the sources.
    let series = ids[0]["ParentSeries"].as_str().unwrap();
    let split = json!({"Series": [series], "KeepSource": true}).to_string();
    let path = format!("/studies/{ct_study}/split");
    let ours = ok(&node, &path, split.clone()).await;
    let theirs = orthanc.post(&path, split).await;
    assert_eq!(keys(&ours), keys(&theirs));
    assert_ne!(ours["TargetStudy"], json!(ct_study));
    let merge = json!({"Resources": [mr_study], "KeepSource": true}).to_string();
    let path = format!("/studies/{ct_study}/merge");
    let ours = ok(&node, &path, merge.clone()).await;
    let theirs = orthanc.post(&path, merge).await;
    assert_eq!(ours, theirs);
    let (_, study) = node.get(&format!("/studies/{ct_study}")).await;
    assert_eq!(study["Series"].as_array().unwrap().len(), 2, "{study}");

    // Refused alike.
    for (path, body) in [
        (format!("/studies/{ct_study}/split"), json!({})),
        (
            format!("/studies/{ct_study}/split"),
            json!({"Series": ["nope"]}),
        ),
        (
            format!("/studies/{ct_study}/split"),
            json!({"Series": [series], "Replace": {"Modality": "X"}}),
        ),
        (
            format!("/studies/{ct_study}/merge"),
            json!({"Resources": [ct_study]}),
        ),
        (
            "/tools/bulk-modify".to_owned(),
            json!({"Resources": ["nope"]}),
        ),
    ] {
        let (s1, b1) = node_post_raw(&node, &path, body.to_string()).await;
        let (s2, b2) = orthanc.post_raw(&path, body.to_string()).await;
        let (e1, e2): (Value, Value) = (
            serde_json::from_slice(&b1).unwrap(),
            serde_json::from_slice(&b2).unwrap(),
        );
        assert_eq!(
            (s1, &e1["OrthancStatus"]),
            (s2, &e2["OrthancStatus"]),
            "{path} {body}: {e1} {e2}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconstruct_rereads_the_main_tags_from_the_file() {
    let node = TestNode::start().await;
    let a = ok(&node, "/instances", test_file("CT_small.dcm")).await;
    let study = a["ParentStudy"].as_str().unwrap().to_owned();
    let modified = ok(
        &node,
        &format!("/studies/{study}/modify"),
        json!({"Replace": {"StudyDescription": "hello", "SOPInstanceUID": "1.2.3.4"},
               "Keep": ["StudyInstanceUID", "SeriesInstanceUID"], "Force": true})
        .to_string(),
    )
    .await;
    assert_eq!(modified["ID"], json!(study), "the same study (kept UID)");
    let (_, before) = node.get(&format!("/studies/{study}")).await;
    assert_ne!(before["MainDicomTags"]["StudyDescription"], json!("hello"));
    let (_, instances) = node.get(&format!("/studies/{study}/instances")).await;
    let copy = instances
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["MainDicomTags"]["SOPInstanceUID"] == json!("1.2.3.4"))
        .expect("the modified copy")["ID"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = node
        .post(&format!("/instances/{copy}/reconstruct"), "{}")
        .await;
    assert_eq!(status, 200);
    let (_, after) = node.get(&format!("/studies/{study}")).await;
    assert_eq!(after["MainDicomTags"]["StudyDescription"], json!("hello"));
    let (_, found) = node
        .post(
            "/tools/find",
            json!({"Level": "Study", "Query": {"StudyDescription": "hello"}}).to_string(),
        )
        .await;
    assert_eq!(found, json!([study]), "re-indexed for find");
    let (status, _) = node.post("/tools/reconstruct", "").await;
    assert_eq!(status, 200);
    let (status, _) = node.post("/series/nope/reconstruct", "").await;
    assert_eq!(status, 404);
}
