//! The REST API against the reference Orthanc 1.10.1, through the answers
//! recorded by `scripts/record-orthanc-fixtures.py` on pydicom's test files
//! (`node/tests/fixtures/orthanc/`): every file Orthanc accepted is uploaded
//! with `POST /instances` and every recorded route is compared; every refused
//! file must be refused the same way and leave the archive untouched.
//!
//! Several pydicom files share UIDs (the recorder deleted each instance after
//! recording it), so each file is deleted again before the next one.

use crate::common;
use common::orthanc_fixtures;

use base64::Engine;
use common::TestNode;
use serde_json::{json, Value};

struct Failures(Vec<String>);

impl Failures {
    fn check(&mut self, stem: &str, aspect: &str, ours: &Value, theirs: &Value) {
        let mut out = Vec::new();
        common::json_diff("", ours, theirs, 7, &mut out);
        if !out.is_empty() {
            self.0.push(format!("{stem} [{aspect}] {}", out.join("; ")));
        }
    }

    fn fail(&mut self, stem: &str, aspect: &str, detail: impl std::fmt::Display) {
        self.0.push(format!("{stem} [{aspect}] {detail}"));
    }
}

/// Metadata whose value depends on the moment of the upload.
const VOLATILE_METADATA: &[&str] = &["ReceptionDate"];

async fn check_accepted(node: &TestNode, stem: &str, bytes: Vec<u8>, fx: &Value, f: &mut Failures) {
    let (status, answer) = node.post("/instances", bytes).await;
    if status != 200 {
        f.fail(stem, "post", format!("status {status}: {answer}"));
        return;
    }
    f.check(stem, "post", &answer, &fx["post"]["answer"]);
    let id = answer["ID"].as_str().unwrap_or_default().to_owned();
    let instance = node.get(&format!("/instances/{id}")).await.1;
    f.check(
        stem,
        "instance MainDicomTags",
        &instance["MainDicomTags"],
        &fx["instance"]["MainDicomTags"],
    );
    f.check(
        stem,
        "instance IndexInSeries",
        &instance["IndexInSeries"],
        &fx["instance"]["IndexInSeries"],
    );
    f.check(
        stem,
        "instance FileSize",
        &instance["FileSize"],
        &fx["instance"]["FileSize"],
    );
    f.check(
        stem,
        "instance ParentSeries",
        &instance["ParentSeries"],
        &fx["instance"]["ParentSeries"],
    );
    for (level, collection) in [
        ("series", "series"),
        ("study", "studies"),
        ("patient", "patients"),
    ] {
        let theirs = &fx[level];
        let ours = node
            .get(&format!("/{collection}/{}", theirs["ID"].as_str().unwrap()))
            .await
            .1;
        f.check(
            stem,
            &format!("{level} MainDicomTags"),
            &ours["MainDicomTags"],
            &theirs["MainDicomTags"],
        );
        f.check(
            stem,
            &format!("{level} Type"),
            &ours["Type"],
            &theirs["Type"],
        );
        if level == "study" {
            f.check(
                stem,
                "study PatientMainDicomTags",
                &ours["PatientMainDicomTags"],
                &theirs["PatientMainDicomTags"],
            );
        }
        if level == "series" {
            for key in ["ExpectedNumberOfInstances", "Status", "Instances"] {
                f.check(stem, &format!("series {key}"), &ours[key], &theirs[key]);
            }
        }
    }
    for (route, aspect) in [
        ("tags", "tags"),
        ("simplified-tags", "simplified"),
        ("tags?simplify", "simplified"),
        ("tags?short", "short"),
        ("header", "header"),
        ("header?simplify", "header_simplified"),
        ("header?short", "header_short"),
    ] {
        let (status, ours) = node.get(&format!("/instances/{id}/{route}")).await;
        if status != 200 {
            f.fail(stem, route, format!("status {status}: {ours}"));
        } else {
            f.check(stem, route, &ours, &fx[aspect]);
        }
    }
    let (_, mut metadata) = node.get(&format!("/instances/{id}/metadata?expand")).await;
    let mut theirs = fx["metadata"].clone();
    for key in VOLATILE_METADATA {
        let present = metadata
            .as_object_mut()
            .and_then(|m| m.remove(*key))
            .is_some();
        if !present {
            f.fail(stem, "metadata", format!("no {key}"));
        }
        theirs.as_object_mut().unwrap().remove(*key);
    }
    f.check(stem, "metadata", &metadata, &theirs);
    check_content(node, stem, &id, &fx["content"], f).await;
}

/// The recorded `/content` samples: children lists, raw values, 404s.
async fn check_content(node: &TestNode, stem: &str, id: &str, samples: &Value, f: &mut Failures) {
    for (path, expected) in samples.as_object().expect("content samples") {
        let url = format!(
            "/instances/{id}/content{}",
            if path == "/" { "" } else { path.as_str() }
        );
        let (status, body) = node.get_bytes(&url).await;
        let ok = if let Some(children) = expected.get("children") {
            status == 200 && serde_json::from_slice::<Value>(&body).ok().as_ref() == Some(children)
        } else if let Some(Value::String(b64)) = expected.get("value_b64") {
            status == 200
                && base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap()
                    == body
        } else {
            expected.get("status").and_then(Value::as_u64) == Some(u64::from(status))
        };
        if !ok {
            let text = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
            f.fail(
                stem,
                "content",
                format!(
                    "{path}: ours {status} {text:?} vs orthanc {}",
                    common::brief(Some(expected))
                ),
            );
        }
    }
}

#[tokio::test]
async fn rest_answers_match_orthanc_on_pydicom_files() {
    let data = common::pydicom_test_files();
    let index = orthanc_fixtures::index();
    let node = TestNode::start().await;
    let (_, empty) = node.get("/statistics").await;
    let mut f = Failures(Vec::new());

    let accepted = orthanc_fixtures::accepted(&index, &data);
    for file in &accepted {
        let (stem, fx) = (file.stem.as_str(), &file.fixture);
        check_accepted(&node, stem, file.bytes.clone(), fx, &mut f).await;
        let id = fx["post"]["answer"]["ID"].as_str().unwrap();
        let (status, deleted) = node.delete(&format!("/instances/{id}")).await;
        if status != 200 {
            f.fail(stem, "delete", format!("status {status}: {deleted}"));
        }
        let (_, stats) = node.get("/statistics").await;
        if stats != empty {
            f.fail(stem, "statistics after delete", &stats);
        }
    }

    for (stem, refused) in index["refused"].as_object().unwrap() {
        let src = data
            .join(refused["dir"].as_str().unwrap())
            .join(format!("{stem}.dcm"));
        let bytes = std::fs::read(&src).unwrap();
        let recorded = &refused["answer"];
        let (status, answer) = node.post("/instances", bytes).await;
        // Orthanc answers 404 for a missing UID; Isengard deliberately answers
        // 400 there (the client's file is bad), with the same OrthancStatus.
        if status != 400 {
            f.fail(
                stem,
                "refusal status",
                format!("ours {status} vs orthanc {}: {answer}", refused["status"]),
            );
        }
        let mut expected = recorded.clone();
        expected["HttpStatus"] = json!(400);
        expected["HttpError"] = json!("Bad Request");
        let mut ours = answer.clone();
        if recorded["OrthancStatus"] == 21 {
            // Isengard names the missing tag; Orthanc gives no details.
            if !ours["Details"]
                .as_str()
                .is_some_and(|d| d.contains("DICOM file has no"))
            {
                f.fail(stem, "refusal details", &ours["Details"]);
            }
            ours.as_object_mut().unwrap().remove("Details");
        }
        f.check(stem, "refusal answer", &ours, &expected);
        let (_, stats) = node.get("/statistics").await;
        if stats != empty {
            f.fail(stem, "statistics after refusal", &stats);
        }
    }
    // Every accepted file was deleted after its checks: as in Orthanc, the
    // change-log rows of deleted resources are gone, the sequence is not.
    let (_, changes) = node.get("/changes?limit=10000").await;
    assert_eq!(
        changes["Changes"],
        json!([]),
        "changes of deleted resources remain"
    );
    assert!(
        changes["Last"].as_u64().unwrap() as usize >= accepted.len(),
        "each accepted file logged at least one change, none for refused ones"
    );
    assert!(
        f.0.is_empty(),
        "{} differences with Orthanc:\n{}",
        f.0.len(),
        f.0.join("\n")
    );
}
