//! Interop with the reference Orthanc 1.10.1 (`/usr/sbin/Orthanc`), started
//! by the test on free loopback ports with a temporary storage folder and
//! killed by a guard even when the test fails. Both directions of every
//! DIMSE service the REST API drives:
//!
//! - Orthanc C-STOREs to Isengard, Isengard C-STOREs to Orthanc;
//! - Isengard C-FINDs Orthanc (`/modalities/orthanc/query`, the deprecated
//!   `find-*` routes) and its answers equal Orthanc's own answers to the same
//!   query; Isengard C-MOVEs from Orthanc to itself (`/queries/{q}/retrieve`,
//!   `/modalities/orthanc/move`);
//! - Orthanc C-MOVEs from Isengard (`/modalities/isengard/move`, and its own
//!   query/retrieve).
//!
//! Data that crossed keeps its Orthanc identifiers on both sides.

use crate::common;

use std::time::Duration;

use common::reference::ReferenceOrthanc;
use common::{free_port, pydicom_test_files, TestNode};
use serde_json::{json, Value};

const ORTHANC_AET: &str = "ORTHANCREF";
const ISENGARD_AET: &str = "ISENGARD";

/// The reference Orthanc, killed when dropped (also used by `modify_oracle`).
pub(crate) struct Orthanc(ReferenceOrthanc);

impl std::ops::Deref for Orthanc {
    type Target = ReferenceOrthanc;
    fn deref(&self) -> &ReferenceOrthanc {
        &self.0
    }
}

impl Orthanc {
    /// Starts Orthanc knowing Isengard (`isengard`) and itself (`self`).
    pub(crate) async fn start(isengard_dicom_port: u16) -> Orthanc {
        let dicom_port = free_port();
        Orthanc(
            ReferenceOrthanc::start_with(json!({
                "DicomPort": dicom_port,
                "DicomAet": ORTHANC_AET,
                "DicomScuTimeout": 10,
                "DicomModalities": {
                    "isengard": [ISENGARD_AET, "127.0.0.1", isengard_dicom_port],
                    "self": [ORTHANC_AET, "127.0.0.1", dicom_port]
                }
            }))
            .await,
        )
    }

    pub(crate) async fn get(&self, path: &str) -> Value {
        let r = self.client.get(self.url(path)).send().await.unwrap();
        assert!(
            r.status().is_success(),
            "Orthanc GET {path}: {}",
            r.status()
        );
        r.json().await.unwrap()
    }

    pub(crate) async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> Value {
        let r = self
            .client
            .post(self.url(path))
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "Orthanc POST {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// The body of a successful GET.
    pub(crate) async fn get_bytes(&self, path: &str) -> Vec<u8> {
        let r = self.client.get(self.url(path)).send().await.unwrap();
        assert!(
            r.status().is_success(),
            "Orthanc GET {path}: {}",
            r.status()
        );
        r.bytes().await.unwrap().to_vec()
    }

    pub(crate) async fn delete(&self, path: &str) {
        let r = self.client.delete(self.url(path)).send().await.unwrap();
        assert!(
            r.status().is_success(),
            "Orthanc DELETE {path}: {}",
            r.status()
        );
    }

    /// A POST whatever its answer: `(status, body)`.
    pub(crate) async fn post_raw(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
    ) -> (u16, Vec<u8>) {
        let r = self
            .client
            .post(self.url(path))
            .body(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
    }
}

fn test_file(name: &str) -> Vec<u8> {
    std::fs::read(pydicom_test_files().join("test_files").join(name)).unwrap()
}

async fn ok(node: &TestNode, path: &str, body: impl Into<reqwest::Body>) -> Value {
    let (status, answer) = node.post(path, body).await;
    assert_eq!(status, 200, "Isengard POST {path}: {answer}");
    answer
}

async fn sorted(v: Value) -> Vec<String> {
    let mut ids: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// Answers of a query kept under `/queries` on either side, sorted by their
/// `StudyInstanceUID`/`SeriesInstanceUID`/`SOPInstanceUID` (simplified form).
fn by_uid(mut answers: Vec<Value>) -> Vec<Value> {
    let key = |a: &Value| {
        [
            "StudyInstanceUID",
            "SeriesInstanceUID",
            "SOPInstanceUID",
            "PatientID",
        ]
        .iter()
        .map(|k| a.get(*k).and_then(Value::as_str).unwrap_or("").to_owned())
        .collect::<Vec<_>>()
    };
    answers.sort_by_key(key);
    answers
}

/// An Isengard node (AE `ISENGARD_AET`) and the reference Orthanc, each
/// knowing the other as a modality.
async fn isengard_and_orthanc() -> (TestNode, Orthanc) {
    let node = TestNode::start_with(|c| c["DicomAet"] = json!(ISENGARD_AET)).await;
    let orthanc = tokio::time::timeout(Duration::from_secs(40), Orthanc::start(node.dicom_port))
        .await
        .expect("Orthanc starts");
    let definition = json!([ORTHANC_AET, "127.0.0.1", orthanc.dicom_port]).to_string();
    let r = node
        .client
        .put(node.url("/modalities/orthanc"))
        .body(definition)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    (node, orthanc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_with_reference_orthanc() {
    let (node, orthanc) = isengard_and_orthanc().await;

    // Both echo each other.
    assert_eq!(ok(&node, "/modalities/orthanc/echo", "{}").await, json!({}));
    assert_eq!(
        orthanc.post("/modalities/isengard/echo", "{}").await,
        json!({})
    );

    // Orthanc C-STOREs to Isengard: same IDs on both sides.
    let ct = orthanc.post("/instances", test_file("CT_small.dcm")).await;
    let answer = orthanc
        .post(
            "/modalities/isengard/store",
            json!([ct["ParentStudy"]]).to_string(),
        )
        .await;
    assert_eq!(answer["InstancesCount"], json!(1));
    assert_eq!(answer["FailedInstancesCount"], json!(0));
    assert_eq!(
        node.get(&format!("/instances/{}", ct["ID"].as_str().unwrap()))
            .await
            .0,
        200
    );

    // Isengard C-STOREs to Orthanc (compressed and big data sets too).
    let mr = node.upload(test_file("MR_small.dcm")).await;
    let jpeg = node.upload(test_file("JPEG2000.dcm")).await;
    let body = json!({"Resources": [mr["ParentPatient"], jpeg["ID"]], "Synchronous": true});
    let answer = ok(&node, "/modalities/orthanc/store", body.to_string()).await;
    assert_eq!(
        answer,
        json!({
            "Description": "REST API", "FailedInstancesCount": 0, "InstancesCount": 2, "LocalAet": ISENGARD_AET,
            "ParentResources": [mr["ParentPatient"], jpeg["ID"]], "RemoteAet": ORTHANC_AET
        })
    );
    let orthanc_instances = sorted(orthanc.get("/instances").await).await;
    let isengard_instances = sorted(node.get("/instances").await.1).await;
    assert_eq!(
        orthanc_instances, isengard_instances,
        "both archives hold the same instances"
    );
    let stored = orthanc
        .get(&format!(
            "/instances/{}/metadata?expand",
            jpeg["ID"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        stored["TransferSyntax"],
        json!("1.2.840.10008.1.2.4.91"),
        "stored unchanged: {stored}"
    );
    assert_eq!(stored["RemoteAET"], json!(ISENGARD_AET));

    // Isengard C-FINDs Orthanc: the answers are those Orthanc gets from itself.
    let plan = orthanc.post("/instances", test_file("rtplan.dcm")).await;
    for (level, query) in [
        ("Study", json!({"PatientName": "*"})),
        ("Patient", json!({"PatientID": "*"})),
        (
            "Series",
            json!({"StudyInstanceUID": "1.3.6.1.4.1.5962.1.2.4.20040826185059.5457", "Modality": ""}),
        ),
        ("Instance", json!({"PatientID": "id00001"})),
        (
            "Study",
            json!({"StudyDate": "20040101-", "ModalitiesInStudy": "", "StudyDescription": ""}),
        ),
    ] {
        let request = json!({"Level": level, "Query": query}).to_string();
        let ours = ok(&node, "/modalities/orthanc/query", request.clone()).await;
        let theirs = orthanc.post("/modalities/self/query", request).await;
        assert_eq!(
            ours["Path"],
            json!(format!("/queries/{}", ours["ID"].as_str().unwrap()))
        );
        let (_, our_answers) = node
            .get(&format!(
                "{}/answers?expand&simplify",
                ours["Path"].as_str().unwrap()
            ))
            .await;
        let their_answers = orthanc
            .get(&format!(
                "{}/answers?expand&simplify",
                theirs["Path"].as_str().unwrap()
            ))
            .await;
        let ours_sorted = by_uid(our_answers.as_array().unwrap().clone());
        assert!(!ours_sorted.is_empty(), "{level} {query}: no answer");
        assert_eq!(
            ours_sorted,
            by_uid(their_answers.as_array().unwrap().clone()),
            "{level} {query}"
        );
        let (_, query_back) = node
            .get(&format!("{}/query", ours["Path"].as_str().unwrap()))
            .await;
        let their_query = orthanc
            .get(&format!("{}/query", theirs["Path"].as_str().unwrap()))
            .await;
        assert_eq!(query_back, their_query);
    }

    // The deprecated routes answer what Orthanc's answer.
    for (route, body) in [
        ("find-patient", json!({"PatientName": "*"})),
        ("find-study", json!({"PatientID": "4MR1"})),
        (
            "find-series",
            json!({"PatientID": "4MR1", "StudyInstanceUID": "1.3.6.1.4.1.5962.1.2.4.20040826185059.5457"}),
        ),
        ("find", json!({"PatientID": "id00001"})),
    ] {
        let ours = ok(
            &node,
            &format!("/modalities/orthanc/{route}"),
            body.to_string(),
        )
        .await;
        let theirs = orthanc
            .post(&format!("/modalities/self/{route}"), body.to_string())
            .await;
        assert_eq!(
            by_uid(ours.as_array().unwrap().clone()),
            by_uid(theirs.as_array().unwrap().clone()),
            "{route} {body}"
        );
    }

    // Isengard C-MOVEs from Orthanc to itself through /queries/{q}/retrieve.
    let request = json!({"Level": "Study", "Query": {"PatientID": "id00001"}}).to_string();
    let q = ok(&node, "/modalities/orthanc/query", request.clone()).await;
    let path = q["Path"].as_str().unwrap().to_owned();
    assert_eq!(
        node.get(&format!("{path}/answers")).await,
        (200, json!(["0"]))
    );
    assert_eq!(
        node.get_bytes(&format!("{path}/level")).await,
        (200, b"Study".to_vec())
    );
    assert_eq!(
        node.get_bytes(&format!("{path}/modality")).await,
        (200, b"orthanc".to_vec())
    );
    let retrieved = ok(&node, &format!("{path}/retrieve"), "").await;
    let theirs = orthanc.post("/modalities/self/query", request).await;
    let their_retrieve = orthanc
        .post(
            &format!("{}/retrieve", theirs["Path"].as_str().unwrap()),
            json!({"TargetAet": ORTHANC_AET}).to_string(),
        )
        .await;
    assert_eq!(retrieved["Query"], their_retrieve["Query"]);
    assert_eq!(retrieved["RemoteAet"], json!(ORTHANC_AET));
    assert_eq!(retrieved["LocalAet"], json!(ISENGARD_AET));
    assert_eq!(
        node.get(&format!("/instances/{}", plan["ID"].as_str().unwrap()))
            .await
            .0,
        200
    );

    // ... and through /modalities/orthanc/move at the series level.
    let dose = orthanc.post("/instances", test_file("rtdose.dcm")).await;
    let dose_tags = orthanc
        .get(&format!(
            "/instances/{}/simplified-tags",
            dose["ID"].as_str().unwrap()
        ))
        .await;
    let body = json!({
        "Level": "Series",
        "Resources": [{"StudyInstanceUID": dose_tags["StudyInstanceUID"], "SeriesInstanceUID": dose_tags["SeriesInstanceUID"]}],
        "TargetAet": ISENGARD_AET
    });
    assert_eq!(
        ok(&node, "/modalities/orthanc/move", body.to_string()).await,
        json!({})
    );
    assert_eq!(
        node.get(&format!("/instances/{}", dose["ID"].as_str().unwrap()))
            .await
            .0,
        200
    );
}

/// Orthanc C-MOVEs from Isengard: its `/modalities/isengard/move`, then its
/// own query/retrieve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orthanc_moves_from_isengard() {
    let (node, orthanc) = isengard_and_orthanc().await;
    node.upload(test_file("MR_small.dcm")).await;
    // Orthanc C-MOVEs from Isengard: its /move, then its query/retrieve.
    let own = node.upload(test_file("rtstruct.dcm")).await;
    let own_tags = node
        .get(&format!(
            "/instances/{}/simplified-tags",
            own["ID"].as_str().unwrap()
        ))
        .await
        .1;
    let body = json!({
        "Level": "Study",
        "Resources": [{"StudyInstanceUID": own_tags["StudyInstanceUID"]}],
        "TargetAet": ORTHANC_AET
    });
    assert_eq!(
        orthanc
            .post("/modalities/isengard/move", body.to_string())
            .await,
        json!({})
    );
    assert_eq!(
        orthanc
            .get(&format!("/instances/{}", own["ID"].as_str().unwrap()))
            .await["ID"],
        own["ID"]
    );

    let q = orthanc
        .post(
            "/modalities/isengard/query",
            json!({"Level": "Study", "Query": {"PatientID": "4MR1"}}).to_string(),
        )
        .await;
    let path = q["Path"].as_str().unwrap();
    assert_eq!(orthanc.get(&format!("{path}/answers")).await, json!(["0"]));
    orthanc
        .post(
            &format!("{path}/retrieve"),
            json!({"TargetAet": ORTHANC_AET}).to_string(),
        )
        .await;
    assert_eq!(
        sorted(orthanc.get("/instances").await).await,
        sorted(node.get("/instances").await.1).await,
        "after the moves both archives hold the same instances"
    );
}
