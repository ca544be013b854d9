//! `/{level}/{id}/modify` against the reference Orthanc 1.10.1, started by the
//! test (`orthanc_interop::Orthanc`): the same files uploaded to both, the same
//! requests sent to both.
//!
//! - `/instances/{id}/modify` on every pydicom file Orthanc accepts (the
//!   recorded fixtures' list) with several requests: the two modified files'
//!   data sets, rendered as `/tags`, are equal once the regenerated UIDs are
//!   masked (a UID is "kept" or "new" on both sides), and but for non-ASCII
//!   text added under ISO 2022 code extensions (documented);
//! - the refused requests: same HTTP status, `OrthancStatus`, `Message` and
//!   `Details` (but the documented differences);
//! - `/series|studies|patients/{id}/modify`: the same answer (but the random
//!   new IDs), the new instance's tags and metadata, `ModifiedFrom` on the
//!   new parents; the archive holds the same number of resources after.

use crate::common;
use crate::orthanc_interop::Orthanc;
use common::{orthanc_fixtures, pydicom_test_files, TestNode};

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Value};

const SOP_INSTANCE_UID: &str = "0008,0018";
const SERIES_INSTANCE_UID: &str = "0020,000e";
const STUDY_INSTANCE_UID: &str = "0020,000d";

/// Requests applied to every file.
fn instance_requests() -> Vec<Value> {
    vec![
        json!({"Replace": {"PatientName": "Modified^Name", "InstitutionName": "Clinique Léman", "StudyDescription": "desc"},
               "Remove": ["StationName", "0008,0090"], "RemovePrivateTags": true}),
        json!({"Replace": {"PatientID": "NEWPID", "0008,0050": null}, "Force": true}),
        json!({"Keep": ["SOPInstanceUID", "SeriesInstanceUID"], "Force": true,
               "Replace": {"SeriesDescription": "kept UIDs", "Rows": "2", "SliceThickness": "1.5\\2",
                           "ReferencedImageSequence": [{"ReferencedSOPClassUID": "1.2.840.10008.5.1.4.1.1.2",
                                                        "ReferencedSOPInstanceUID": "1.2.3.4"}, {}]}}),
        json!({"Replace": {"StudyInstanceUID": "1.2.3.999", "OperatorsName": "日本^Jérôme"}, "Force": true}),
    ]
}

/// Refused requests (on one instance).
fn refused_requests() -> Vec<Value> {
    vec![
        json!({"Replace": {"PatientID": "X"}}),
        json!({"Remove": ["SOPInstanceUID"]}),
        json!({"Keep": ["SeriesInstanceUID"]}),
        json!({"Replace": {"PatientName": 3}}),
        json!({"Replace": {"PatientName": ["x"]}}),
        json!({"Replace": []}),
        json!({"Remove": "PatientName"}),
        json!({"Remove": [3]}),
        json!({"Force": "yes"}),
        json!({"Replace": {"Rows": "abc"}}),
        json!({"Replace": {"Rows": "70000"}}),
        json!({"Replace": {"ReferencedImageSequence": "abc"}}),
        json!([]),
        json!({"Replace": {"NoSuchTag": "x"}}),
        json!({"Remove": ["patientname"]}),
    ]
}

/// The UIDs' fate relative to the original, then the tags without them;
/// group lengths (`gggg,0000`) only present or not (their values follow the
/// lengths of the regenerated UIDs; `dicom::modify`'s tests check ours).
fn masked(tags: &Value, original: &Value) -> Value {
    let mut tags = tags.clone();
    for (key, value) in tags.as_object_mut().unwrap().iter_mut() {
        if key.ends_with(",0000") {
            value["Value"] = json!("group length");
        }
    }
    for uid in [SOP_INSTANCE_UID, SERIES_INSTANCE_UID, STUDY_INSTANCE_UID] {
        let kept = tags[uid]["Value"] == original[uid]["Value"];
        tags[uid]["Value"] = json!(if kept { "kept" } else { "new" });
    }
    tags
}

fn tags_of(file: &[u8]) -> Result<Value, String> {
    let parsed = isengard::dicom::parse(file).map_err(|e| e.to_string())?;
    Ok(isengard::dicom::json::full(&parsed.object))
}

async fn post_raw(node: &TestNode, path: &str, body: String) -> (u16, Vec<u8>) {
    let r = node
        .client
        .post(node.url(path))
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

/// A Specific Character Set with ISO 2022 code extensions.
fn code_extensions(tags: &Value) -> bool {
    match tags["0008,0005"]["Value"].as_str() {
        Some(v) => v.contains('\\') || v.contains("ISO 2022"),
        None => false,
    }
}

/// Documented difference: under ISO 2022 code extensions, Isengard writes
/// the ASCII characters of a new text value (Orthanc escapes to other
/// character sets). Checks that and takes the values out of the comparison.
fn ascii_replacements(
    ours: &mut Value,
    theirs: &mut Value,
    request: &Value,
    what: &str,
    f: &mut Failures,
) {
    for (name, tag) in [
        ("InstitutionName", "0008,0080"),
        ("OperatorsName", "0008,1070"),
    ] {
        if let Some(text) = request["Replace"][name].as_str().filter(|t| !t.is_ascii()) {
            let ascii: String = text.chars().filter(char::is_ascii).collect();
            if ours[tag]["Value"].as_str() != Some(ascii.as_str()) {
                f.0.push(format!(
                    "{what}: {name} {} instead of {ascii}",
                    ours[tag]["Value"]
                ));
            }
            ours.as_object_mut().unwrap().remove(tag);
            theirs.as_object_mut().unwrap().remove(tag);
        }
    }
}

struct Failures(Vec<String>);

impl Failures {
    fn diff(&mut self, what: &str, ours: &Value, theirs: &Value) {
        let mut out = Vec::new();
        common::json_diff("", ours, theirs, 5, &mut out);
        if !out.is_empty() {
            self.0.push(format!("{what}: {}", out.join("; ")));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modified_instances_match_the_reference_orthanc() {
    let (node, orthanc) = setup().await;
    let mut f = Failures(Vec::new());
    let files = orthanc_fixtures::accepted(&orthanc_fixtures::index(), &pydicom_test_files());
    let mut compared = 0;
    for file in &files {
        let (status, answer) = node.post("/instances", file.bytes.clone()).await;
        assert_eq!(status, 200, "{}: {answer}", file.stem);
        let id = answer["ID"].as_str().unwrap().to_owned();
        assert_eq!(
            orthanc.post("/instances", file.bytes.clone()).await["ID"],
            answer["ID"]
        );
        let original = tags_of(&file.bytes).unwrap();
        for (i, request) in instance_requests().into_iter().enumerate() {
            let path = format!("/instances/{id}/modify");
            let (ours_status, ours) = post_raw(&node, &path, request.to_string()).await;
            let (theirs_status, theirs) = orthanc.post_raw(&path, request.to_string()).await;
            let what = format!("{} request {i}", file.stem);
            if ours_status != theirs_status {
                f.0.push(format!(
                    "{what}: status {ours_status} vs orthanc {theirs_status}: {}",
                    String::from_utf8_lossy(&ours)
                ));
                continue;
            }
            if ours_status != 200 {
                continue;
            }
            match (tags_of(&ours), tags_of(&theirs)) {
                (Ok(mut o), Ok(mut t)) => {
                    if code_extensions(&original) {
                        ascii_replacements(&mut o, &mut t, &request, &what, &mut f);
                    }
                    f.diff(&what, &masked(&o, &original), &masked(&t, &original))
                }
                (o, t) => f.0.push(format!(
                    "{what}: unreadable answer: ours {:?} orthanc {:?}",
                    o.err(),
                    t.err()
                )),
            }
            compared += 1;
        }
        // Several pydicom files share UIDs: one at a time on both sides.
        node.delete(&format!("/instances/{id}")).await;
        orthanc.delete(&format!("/instances/{id}")).await;
    }
    assert!(
        compared >= 3 * files.len(),
        "only {compared} modified files compared"
    );
    assert!(
        f.0.is_empty(),
        "{} differences:\n{}",
        f.0.len(),
        f.0.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_modifications_match_the_reference_orthanc() {
    let (node, orthanc) = setup().await;
    let bytes = std::fs::read(pydicom_test_files().join("test_files/CT_small.dcm")).unwrap();
    let id = node.upload(bytes.clone()).await["ID"]
        .as_str()
        .unwrap()
        .to_owned();
    orthanc.post("/instances", bytes).await;
    let mut f = Failures(Vec::new());
    for level in ["instances", "series"] {
        let target = if level == "instances" {
            id.clone()
        } else {
            node.get(&format!("/instances/{id}")).await.1["ParentSeries"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        for request in refused_requests() {
            let path = format!("/{level}/{target}/modify");
            let (ours_status, ours) = post_raw(&node, &path, request.to_string()).await;
            let (theirs_status, theirs) = orthanc.post_raw(&path, request.to_string()).await;
            let mut ours: Value = serde_json::from_slice(&ours).unwrap_or(Value::Null);
            let theirs: Value = serde_json::from_slice(&theirs).unwrap_or(Value::Null);
            let mut ours_status = ours_status;
            if theirs["OrthancStatus"] == 27 {
                // Documented: an unknown tag is the client's error, 400 (Orthanc: 500).
                assert_eq!(ours_status, 400, "{request}");
                ours_status = 500;
                ours["HttpStatus"] = json!(500);
                ours["HttpError"] = json!("Internal Server Error");
                assert!(
                    ours["Details"]
                        .as_str()
                        .unwrap()
                        .contains("unknown DICOM tag"),
                    "{ours}"
                );
                ours.as_object_mut().unwrap().remove("Details");
            }
            if ours_status != theirs_status {
                f.0.push(format!(
                    "{path} {request}: status {ours_status} vs orthanc {theirs_status}: {ours}"
                ));
                continue;
            }
            f.diff(&format!("{path} {request}"), &ours, &theirs);
        }
    }
    assert_eq!(
        node.get("/instances").await.1.as_array().unwrap().len(),
        1,
        "nothing stored by a refused request"
    );
    assert!(
        f.0.is_empty(),
        "{} differences:\n{}",
        f.0.len(),
        f.0.join("\n")
    );
}

/// What one side shows of the instances below a modified resource, one
/// record per instance (masked tags, metadata, the parents' `ModifiedFrom`),
/// sorted. IDs that are not those of the uploaded files (random new UIDs)
/// read `<new>`.
async fn records(
    get: impl AsyncFn(String) -> Value,
    file: impl AsyncFn(String) -> Vec<u8>,
    path: &str,
    original: &Value,
    known: &HashSet<String>,
) -> Vec<Value> {
    let known_or_new = |v: &Value| match v.as_str() {
        Some(id) if known.contains(id) => v.clone(),
        Some(_) => json!("<new>"),
        None => v.clone(),
    };
    let mut out = Vec::new();
    for instance in get(format!("{path}/instances")).await.as_array().unwrap() {
        let id = instance["ID"].as_str().unwrap();
        let tags = masked(
            &tags_of(&file(format!("/instances/{id}/file")).await).unwrap(),
            original,
        );
        let metadata = get(format!("/instances/{id}/metadata?expand")).await;
        let mut record = json!({"tags": tags});
        for key in [
            "ModifiedFrom",
            "Origin",
            "RemoteIP",
            "HttpUsername",
            "TransferSyntax",
            "SopClassUid",
            "IndexInSeries",
        ] {
            record[key] = known_or_new(&metadata[key]);
        }
        let mut resource = instance.clone();
        for (parent, collection) in [
            ("ParentSeries", "series"),
            ("ParentStudy", "studies"),
            ("ParentPatient", "patients"),
        ] {
            let parent_id = resource[parent].as_str().unwrap().to_owned();
            let metadata = get(format!("/{collection}/{parent_id}/metadata?expand")).await;
            record[format!("{collection} ModifiedFrom")] = known_or_new(&metadata["ModifiedFrom"]);
            resource = get(format!("/{collection}/{parent_id}")).await;
        }
        out.push(record);
    }
    out.sort_by_key(|r| r.to_string());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modified_resources_match_the_reference_orthanc() {
    let (node, orthanc) = setup().await;
    let mut f = Failures(Vec::new());
    let names = ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm"];
    let mut originals = std::collections::HashMap::new();
    let mut known = HashSet::new();
    let mut uploaded = std::collections::HashMap::new();
    for name in names {
        let bytes = std::fs::read(pydicom_test_files().join("test_files").join(name)).unwrap();
        let answer = node.upload(bytes.clone()).await;
        orthanc.post("/instances", bytes.clone()).await;
        for key in ["ID", "ParentSeries", "ParentStudy", "ParentPatient"] {
            known.insert(answer[key].as_str().unwrap().to_owned());
        }
        originals.insert(
            answer["ParentSeries"].as_str().unwrap().to_owned(),
            tags_of(&bytes).unwrap(),
        );
        originals.insert(
            answer["ParentStudy"].as_str().unwrap().to_owned(),
            tags_of(&bytes).unwrap(),
        );
        originals.insert(
            answer["ParentPatient"].as_str().unwrap().to_owned(),
            tags_of(&bytes).unwrap(),
        );
        uploaded.insert(name, answer);
    }
    let ct = &uploaded["CT_small.dcm"];
    let mr_series = uploaded["MR_small.dcm"]["ParentSeries"]
        .as_str()
        .unwrap()
        .to_owned();
    let cases = [
        (
            "series",
            ct["ParentSeries"].as_str().unwrap().to_owned(),
            json!({"Replace": {"SeriesDescription": "modified series"}, "Remove": ["StationName"]}),
        ),
        (
            "studies",
            ct["ParentStudy"].as_str().unwrap().to_owned(),
            json!({"Replace": {"StudyDescription": "modified study", "InstitutionName": "X"}}),
        ),
        (
            "series",
            mr_series,
            json!({"Replace": {"SeriesInstanceUID": "1.2.3.4.5.6", "Manufacturer": "M"}, "Force": true, "RemovePrivateTags": true}),
        ),
        (
            "patients",
            ct["ParentPatient"].as_str().unwrap().to_owned(),
            json!({"Replace": {"PatientID": "NEW-PATIENT", "PatientName": "New^Patient"}, "Force": true}),
        ),
    ];
    for (level, id, request) in cases {
        let path = format!("/{level}/{id}/modify");
        let (status, ours) = node.post(&path, request.to_string()).await;
        assert_eq!(status, 200, "{path}: {ours}");
        let theirs = orthanc.post(&path, request.to_string()).await;
        let mut comparable = ours.clone();
        for key in ["ID", "Path"] {
            comparable[key] = theirs[key].clone();
        }
        if level != "patients" {
            // the same patient on both sides, whose ID is the hash of PatientID
            f.diff(
                &format!("{path} answer"),
                &ours["PatientID"],
                &theirs["PatientID"],
            );
        }
        f.diff(&format!("{path} answer"), &comparable, &theirs);
        if level == "patients" {
            assert_eq!(
                ours["ID"], theirs["ID"],
                "the new patient's ID is the hash of the new PatientID"
            );
        }
        let original = &originals[&id];
        let ours_records = records(
            async |p: String| node.get(&p).await.1,
            async |p: String| node.get_bytes(&p).await.1,
            ours["Path"].as_str().unwrap(),
            original,
            &known,
        )
        .await;
        let theirs_records = records(
            async |p: String| orthanc.get(&p).await,
            async |p: String| orthanc.get_bytes(&p).await,
            theirs["Path"].as_str().unwrap(),
            original,
            &known,
        )
        .await;
        f.diff(
            &format!("{path} new instances"),
            &json!(ours_records),
            &json!(theirs_records),
        );
        // The new resource names its source, as Orthanc shows it.
        let resource = node.get(ours["Path"].as_str().unwrap()).await.1;
        let their_resource = orthanc.get(theirs["Path"].as_str().unwrap()).await;
        assert_eq!(
            resource["ModifiedFrom"], their_resource["ModifiedFrom"],
            "{path}"
        );
        assert_eq!(resource["ModifiedFrom"], json!(id), "{path}");
    }
    // Same number of resources on both sides after (originals kept).
    for collection in ["patients", "studies", "series", "instances"] {
        let ours = node
            .get(&format!("/{collection}"))
            .await
            .1
            .as_array()
            .unwrap()
            .len();
        let theirs = orthanc
            .get(&format!("/{collection}"))
            .await
            .as_array()
            .unwrap()
            .len();
        assert_eq!(ours, theirs, "{collection}");
    }
    // KeepSource false: the original is gone on both sides.
    let series = ct["ParentSeries"].as_str().unwrap();
    let request =
        json!({"Replace": {"SeriesDescription": "moved"}, "KeepSource": false}).to_string();
    let (status, ours) = node
        .post(&format!("/series/{series}/modify"), request.clone())
        .await;
    assert_eq!(status, 200, "{ours}");
    orthanc
        .post(&format!("/series/{series}/modify"), request)
        .await;
    assert_eq!(node.get(&format!("/series/{series}")).await.0, 404);
    assert_eq!(
        node.get("/instances").await.1.as_array().unwrap().len(),
        orthanc.get("/instances").await.as_array().unwrap().len()
    );
    // Jobs: refused clearly.
    let (status, error) = node
        .post(
            &format!("/series/{}/modify", ours["ID"].as_str().unwrap()),
            r#"{"Asynchronous": true}"#,
        )
        .await;
    assert_eq!(status, 400, "{error}");
    assert!(
        error["Details"].as_str().unwrap().contains("jobs"),
        "{error}"
    );
    assert!(
        f.0.is_empty(),
        "{} differences:\n{}",
        f.0.len(),
        f.0.join("\n")
    );
}
